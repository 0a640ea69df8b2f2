"""Action heads: what a policy's output means, and how actions are drawn and scored.

``Categorical`` acts on logits ``[*batch, A]``; ``Gaussian`` on ``[*batch, 2D]`` (mean, then
log standard deviation). ``jaxpg.policies`` re-exports everything here.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Categorical", "Gaussian", "CATEGORICAL", "gaussian_dist", "sample", "greedy", "log_prob", "entropy"]

_LOG_2PI = float(np.log(2.0 * np.pi))


class Categorical(NamedTuple):
    """The categorical head over ``num_actions`` discrete actions; acts on logits ``[*batch, A]``."""

    num_actions: int = 2

    @property
    def discrete(self) -> bool:
        return True

    def sample(self, key: jax.Array, out: jax.Array) -> jax.Array:
        return sample(key, out)

    def mode(self, out: jax.Array) -> jax.Array:
        return greedy(out)

    def log_prob(self, out: jax.Array, actions: jax.Array) -> jax.Array:
        return log_prob(out, actions)

    def entropy(self, out: jax.Array) -> jax.Array:
        return entropy(out)

    def to_env(self, actions: jax.Array) -> jax.Array:
        return actions


CATEGORICAL = Categorical()


class Gaussian(NamedTuple):
    """A diagonal Gaussian head over ``D``-dimensional actions in ``[low, high]``.

    ``out = [mean (D), log_std (D)]`` along the last axis; ``log_std`` already lies
    within the policy's bounds. The trajectory stores the Gaussian sample ``u``;
    the environment gets ``to_env(u)``:

    - ``squash="clip"``: ``clip(u, low, high)``. The loss scores ``log N(u; μ, σ)``
      of the unclipped sample. Clipping is then part of the environment's
      dynamics (as in most PPO/REINFORCE code, e.g. Stable-Baselines3), and the
      REINFORCE estimator ``∇ log N(u) · A`` is unbiased for the policy that was
      actually run. ``entropy`` is the Gaussian's closed form.
    - ``squash="tanh"``: ``low + (tanh(u) + 1)/2 · (high − low)``, a bijection onto
      the open box. ``log_prob`` is the density of the squashed action,
      ``log N(u) − Σ log(½(high − low)(1 − tanh²u))``; the Jacobian term does
      not depend on the policy's parameters, so its gradient equals that of
      ``log N(u)``. The squashed density has no closed-form entropy, so
      ``entropy`` (the bonus and the reported metric) is that of the
      pre-squash Gaussian.

    ``mode`` (what ``greedy`` evaluation plays) is the mean ``μ``.

    Attributes:
      action_dim: D.
      low, high: the env's bounds, tuples of D floats.
      squash: ``"clip"`` or ``"tanh"``.
    """

    action_dim: int
    low: tuple[float, ...]
    high: tuple[float, ...]
    squash: str = "clip"

    @property
    def discrete(self) -> bool:
        return False

    def _split(self, out):
        return out[..., : self.action_dim], out[..., self.action_dim :]

    def sample(self, key: jax.Array, out: jax.Array) -> jax.Array:
        mean, log_std = self._split(out)
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)

    def mode(self, out: jax.Array) -> jax.Array:
        return self._split(out)[0]

    def log_prob(self, out: jax.Array, actions: jax.Array) -> jax.Array:
        mean, log_std = self._split(out)
        z = (actions - mean) * jnp.exp(-log_std)
        logp = jnp.sum(-0.5 * jnp.square(z) - log_std - 0.5 * _LOG_2PI, axis=-1)
        if self.squash == "tanh":
            half = 0.5 * (jnp.asarray(self.high, jnp.float32) - jnp.asarray(self.low, jnp.float32))
            # log(1 − tanh²u) = 2 (log 2 − u − softplus(−2u)), stable for large |u|
            log_dtanh = 2.0 * (jnp.log(2.0) - actions - jax.nn.softplus(-2.0 * actions))
            logp = logp - jnp.sum(jnp.log(jnp.broadcast_to(half, actions.shape)) + log_dtanh, axis=-1)
        return logp

    def entropy(self, out: jax.Array) -> jax.Array:
        _, log_std = self._split(out)
        return jnp.sum(log_std + 0.5 * (_LOG_2PI + 1.0), axis=-1)

    def to_env(self, actions: jax.Array) -> jax.Array:
        low = jnp.broadcast_to(jnp.asarray(self.low, jnp.float32), actions.shape)
        high = jnp.broadcast_to(jnp.asarray(self.high, jnp.float32), actions.shape)
        if self.squash == "tanh":
            return low + 0.5 * (jnp.tanh(actions) + 1.0) * (high - low)
        return jnp.clip(actions, low, high)


def gaussian_dist(space, squash: str) -> Gaussian:
    shape = tuple(space.shape)
    if len(shape) != 1:
        raise ValueError(f"a Gaussian head needs a 1-D Box action space, got shape {shape}")
    dim = shape[0]
    low = np.broadcast_to(np.asarray(space.low, np.float64), (dim,))
    high = np.broadcast_to(np.asarray(space.high, np.float64), (dim,))
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
        raise ValueError(f"the action space needs finite bounds low < high, got {low} and {high}")
    return Gaussian(dim, tuple(float(v) for v in low), tuple(float(v) for v in high), squash)


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
