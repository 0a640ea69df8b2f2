"""Policies as ``(init, apply)`` pairs of pure functions, and the categorical head.

A policy maps a batch of observations to the logits of a categorical
distribution over actions::

    policy = mlp_policy((64, 64), num_actions=2)
    params = policy.init(key, obs)          # obs: [*batch, *obs_shape]
    logits = policy.apply(params, obs)      # [*batch, num_actions]

``sample``, ``log_prob`` and ``entropy`` act on logits, so they work with any
network that produces them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Policy", "mlp_policy", "sample", "greedy", "log_prob", "entropy"]

_ACTIVATIONS: dict[str, Callable] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
}


class Policy(NamedTuple):
    """A pair of pure functions, like an optax ``GradientTransformation``.

    Attributes:
      init: ``init(key, obs) -> params``.
      apply: ``apply(params, obs) -> logits`` with ``obs: [*batch, *obs_shape]``
        and ``logits: [*batch, num_actions]``.
    """

    init: Callable[[jax.Array, jax.Array], Any]
    apply: Callable[[Any, jax.Array], jax.Array]


class _MLP(nn.Module):
    hidden: Sequence[int]
    num_outputs: int
    activation: str
    obs_ndim: int
    obs_scale: float

    @nn.compact
    def __call__(self, x):
        act = _ACTIVATIONS[self.activation]
        if self.obs_scale != 1.0:
            x = x * jnp.float32(self.obs_scale)
        if self.obs_ndim != 1:  # flatten image-like observations: [*batch, *obs_shape]
            x = x.reshape(*x.shape[: x.ndim - self.obs_ndim], -1)
        for width in self.hidden:
            x = act(nn.Dense(width, kernel_init=nn.initializers.orthogonal(np.sqrt(2.0)))(x))
        # A small last layer starts the policy close to uniform (the usual PG init).
        return nn.Dense(self.num_outputs, kernel_init=nn.initializers.orthogonal(0.01))(x)


def mlp_policy(
    hidden: Sequence[int],
    num_actions: int,
    activation: str = "tanh",
    obs_ndim: int = 1,
    obs_scale: float = 1.0,
) -> Policy:
    """A multilayer-perceptron categorical policy.

    ``logits = W_L · act(... act(W_1 · obs + b_1) ...) + b_L``; hidden layers are
    orthogonally initialised with gain √2, the output layer with gain 0.01 so the
    initial policy is nearly uniform.

    Args:
      hidden: hidden layer widths, e.g. ``(64, 64)``; ``()`` gives a linear policy.
      num_actions: number of discrete actions (> 0).
      activation: ``"tanh"``, ``"relu"``, ``"gelu"`` or ``"silu"``.
      obs_ndim: number of axes of one observation (1 for a vector; 3 for a
        ``[H, W, C]`` image, which is flattened).
      obs_scale: observations are multiplied by it before the first layer
        (part of the policy, so evaluation and replays see the same inputs);
        e.g. 1/24 brings Pixelcopter's pixel units to O(1).

    Returns:
      A ``Policy``. ``init(key, obs)`` takes one observation ``[*obs_shape]`` or a
      batch; ``apply(params, obs)`` maps ``[*batch, *obs_shape]`` to
      ``[*batch, num_actions]``.

    Example:
      >>> policy = mlp_policy((16,), 2)
      >>> params = policy.init(jax.random.key(0), jnp.zeros(4))
      >>> policy.apply(params, jnp.zeros((8, 4))).shape
      (8, 2)
    """
    if int(num_actions) <= 0:
        raise ValueError(f"num_actions must be a positive integer, got {num_actions!r}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(_ACTIVATIONS)}; got {activation!r}")
    module = _MLP(
        tuple(int(h) for h in hidden), int(num_actions), activation, int(obs_ndim), float(obs_scale)
    )

    def init(key: jax.Array, obs: jax.Array):
        return module.init(key, jnp.asarray(obs, jnp.float32))

    def apply(params, obs: jax.Array) -> jax.Array:
        return module.apply(params, obs.astype(jnp.float32))

    return Policy(init, apply)


def sample(key: jax.Array, logits: jax.Array) -> jax.Array:
    """Draws one action per row: ``a ~ Categorical(softmax(logits))``.

    Args:
      key: a PRNG key.
      logits: [*batch, A].

    Returns:
      [*batch] int32 actions.
    """
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


def greedy(logits: jax.Array) -> jax.Array:
    """The most likely action per row (``argmax``), [*batch] int32."""
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def log_prob(logits: jax.Array, actions: jax.Array) -> jax.Array:
    """``log π(a) = logits[a] - logsumexp(logits)``.

    Args:
      logits: [*batch, A].
      actions: [*batch] integer actions.

    Returns:
      [*batch] float log-probabilities.
    """
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logp, actions[..., None].astype(jnp.int32), axis=-1)[..., 0]


def entropy(logits: jax.Array) -> jax.Array:
    """``H = -Σ_a π(a) log π(a)`` per row, [*batch]."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)
