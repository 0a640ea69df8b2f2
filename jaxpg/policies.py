"""Policies as ``(init, apply)`` pairs of pure functions, and their action heads.

A policy maps a batch of observations to the parameters of a distribution over
actions, and carries that distribution (``policy.dist``)::

    policy = mlp_policy((64, 64), num_actions=2)
    params = policy.init(key, obs)          # obs: [*batch, *obs_shape]
    logits = policy.apply(params, obs)      # [*batch, num_actions]
    a = policy.dist.sample(key, logits)     # [*batch] int32

Two heads:

- ``Categorical`` (discrete actions): ``apply`` returns logits ``[*batch, A]``.
  The module-level ``sample``, ``greedy``, ``log_prob`` and ``entropy`` act on
  logits, so they work with any network that produces them.
- ``Gaussian`` (continuous ``Box`` actions of ``D`` dimensions): ``apply``
  returns ``[*batch, 2D]``, the mean then the log standard deviation of a
  diagonal Gaussian over the *pre-squash* action ``u``. ``u`` is what the
  trajectory stores and what the loss scores; the environment receives
  ``dist.to_env(u)``: ``clip(u, low, high)`` (``squash="clip"``) or
  ``low + (tanh(u) + 1)/2 · (high − low)`` (``squash="tanh"``). See
  ``Gaussian`` for why the log-probabilities are the right ones in both cases.

Observation normalisation (``mlp_policy(..., obs_norm=True)``) keeps a running
mean and variance of the observations in the ``"obs_norm"`` collection of the
policy's variables, beside ``"params"``; the policy standardises its input with
them, so a saved policy is self-contained. The optimizer only sees
``variables["params"]``; ``update_obs_norm`` folds a batch into the statistics.
With a frame stack (``frame_stack=K``: observations ``[K, *obs_shape]``, the last K
of the env's observations, as ``jaxpg.envs.FrameStack`` gives them) the statistics are
those of one frame, kept per base feature and shared by the K slots: every slot of a
feature is standardised the same way, so the network sees differences between frames
on one scale, and ``update_obs_norm`` counts each observation once (its newest slot),
not K times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxpg.heads import (  # noqa: F401 (re-exported: the heads and their functions)
    CATEGORICAL,
    Categorical,
    Gaussian,
    entropy,
    greedy,
    log_prob,
    sample,
)
from jaxpg.heads import gaussian_dist as _gaussian_dist
from jaxpg.types import (  # noqa: F401 (LOG_STD_MODES, SQUASHES, GaussianOptions re-exported)
    LOG_STD_MODES,
    SQUASHES,
    GaussianOptions,
    check_gaussian_options,
)

__all__ = [
    "orthogonal",
    "Policy",
    "Categorical",
    "Gaussian",
    "CATEGORICAL",
    "TORSOS",
    "CNN_LAYERS",
    "RECURRENT",
    "mlp_policy",
    "value_network",
    "update_obs_norm",
    "sample",
    "greedy",
    "log_prob",
    "entropy",
    "LOG_STD_MODES",
    "SQUASHES",
    "GaussianOptions",
]

OBS_NORM_CLIP = 10.0
TORSOS = ("mlp", "cnn", "gru", "cnn-gru")
# The GRU's update gate z starts biased towards keeping the state (h' = (1 - z) n + z h; with the
# bias, z ≈ σ(1) = 0.73 at first), as LSTMs start with a forget-gate bias of 1 (Jozefowicz et al.
# 2015): MemoryChain-30's seeds that learn to remember went from 5 to 7 of 8 (docs/results.md).
Z_BIAS = 1.0
RECURRENT = ("gru", "cnn-gru")  # torsos with a GRU after the hidden layers: a state carried over steps
# The cnn torso: MinAtar's network (Young & Tian 2019): one 3x3 convolution of 16 filters, stride 1,
# before the hidden layers (their 128 units: `hidden`).
CNN_LAYERS: tuple[tuple[int, int, int], ...] = ((16, 3, 1),)

_ACTIVATIONS: dict[str, Callable] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
}


def orthogonal(scale: float = 1.0) -> Callable:
    """``flax.linen.initializers.orthogonal(scale)`` without LAPACK: the same normal draw,
    orthonormalised by Gram-Schmidt (twice, for float32 accuracy) in plain XLA ops.

    The result is the Q of A = QR with R's diagonal positive, as flax's is (equal up to
    rounding). Why: under ``jax.vmap`` (many seeds) flax's ``jnp.linalg.qr`` becomes a
    batched LAPACK call whose kernel (``ParallelBatchMap`` in jaxlib 0.10.2) waits for
    tasks on XLA CPU's intra-op thread pool from inside that pool. When every pool thread
    is in such a wait, nothing runs them: a vmapped ``init`` deadlocked this way on a
    2-core machine (native stacks in README, *Known hang (XLA CPU)*).
    """

    def init(key, shape, dtype=jnp.float32):
        if len(shape) < 2:
            raise ValueError(f"orthogonal initializer needs at least 2 dimensions, got shape {shape}")
        cols = shape[-1]
        rows = int(np.prod(shape)) // cols
        m, n = (cols, rows) if rows < cols else (rows, cols)
        a = jax.random.normal(key, (m, n), dtype)

        def column(j, q):
            v = a[:, j]
            for _ in range(2):  # classical Gram-Schmidt, re-orthogonalised once (CGS2)
                v = v - q @ (q.T @ v)  # q's columns >= j are still zero
            return q.at[:, j].set(v / jnp.linalg.norm(v))

        q = jax.lax.fori_loop(0, n, column, jnp.zeros((m, n), dtype))
        if rows < cols:
            q = q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init


class Policy(NamedTuple):
    """A pair of pure functions, like an optax ``GradientTransformation``, and its head.

    Attributes:
      init: ``init(key, obs) -> variables`` (``{"params": ...}``, plus
        ``"obs_norm"`` statistics when the policy normalises observations).
      apply: ``apply(variables, obs) -> out`` with ``obs: [*batch, *obs_shape]``:
        logits ``[*batch, num_actions]`` for a categorical head, ``[*batch, 2D]``
        (mean, log-std) for a Gaussian one.
      dist: the head (``Categorical`` or ``Gaussian``): ``sample``, ``mode``,
        ``log_prob``, ``entropy`` and ``to_env`` act on ``apply``'s output.
      initial_state: recurrent policies only (``None`` otherwise):
        ``initial_state(batch_shape) -> state [*batch, H]`` (zeros), the state an episode
        starts from.
      step: recurrent only: ``step(variables, state, obs[*batch, ...]) -> (state', out)``, one
        step of ``N`` streams (what a rollout, evaluation or ``jaxpg.load``'s agent plays).
      unroll: recurrent only: ``unroll(variables, state, obs[T, *batch, ...], resets=None)
        -> (state_T, out[T, *batch, ...])``, time-major; ``resets[t]`` (bool ``[T, *batch]``)
        puts a stream back to the initial state before step ``t`` (an episode starts there).
        For a recurrent policy ``apply(variables, obs[T, *batch, ...])`` is
        ``unroll`` from the initial state: a whole episode, time first.
    """

    init: Callable[[jax.Array, jax.Array], Any]
    apply: Callable[[Any, jax.Array], jax.Array]
    dist: Any = CATEGORICAL
    initial_state: Callable[..., jax.Array] | None = None
    step: Callable[..., tuple[jax.Array, jax.Array]] | None = None
    unroll: Callable[..., tuple[jax.Array, jax.Array]] | None = None

    @property
    def recurrent(self) -> bool:
        """True when the policy carries a state from step to step (``gru``, ``cnn-gru``)."""
        return self.initial_state is not None


class _MLP(nn.Module):
    hidden: Sequence[int]
    num_outputs: int
    activation: str
    obs_ndim: int
    obs_scale: float
    obs_norm: bool = False
    out_gain: float = 0.01
    stack: int = 1
    gaussian: bool = False
    log_std: str = "param"
    log_std_init: float = 0.0
    log_std_bounds: tuple[float, float] = (-5.0, 2.0)
    conv: tuple[tuple[int, int, int], ...] = ()  # (features, kernel, stride) per conv layer: the cnn torso
    gru: int = 0  # > 0: a GRU of this width after the hidden layers; __call__(x[T, B, ...], carry[B, H], resets[T, B])

    @nn.compact
    def __call__(self, x, carry=None, resets=None):
        act = _ACTIVATIONS[self.activation]
        if self.gru:  # [T, B, *obs] -> [T·B, *obs]: the torso sees every step as one batch
            steps, streams = x.shape[:2]
            x = x.reshape(steps * streams, *x.shape[2:])
        image = x.shape[x.ndim - self.obs_ndim:]  # [*frame_shape] or [K, *frame_shape]
        if self.obs_scale != 1.0:
            x = x * jnp.float32(self.obs_scale)
        lead = x.shape[: x.ndim - self.obs_ndim]
        if self.stack > 1:  # [*batch, K, *frame_shape] -> [*batch, K, F]: statistics per frame feature
            x = x.reshape(*lead, self.stack, -1)
        elif self.obs_ndim != 1:  # flatten image-like observations: [*batch, *obs_shape]
            x = x.reshape(*lead, -1)
        if self.obs_norm:
            size = x.shape[-1]
            mean = self.variable("obs_norm", "mean", lambda: jnp.zeros(size, jnp.float32)).value
            var = self.variable("obs_norm", "var", lambda: jnp.ones(size, jnp.float32)).value
            self.variable("obs_norm", "count", lambda: jnp.zeros((), jnp.float32))
            mean, var = jax.lax.stop_gradient(mean), jax.lax.stop_gradient(var)
            mean, var = jnp.broadcast_to(mean, x.shape), jnp.broadcast_to(var, x.shape)
            x = jnp.clip((x - mean) * jax.lax.rsqrt(var + 1e-8), -OBS_NORM_CLIP, OBS_NORM_CLIP)
        if self.conv:  # back to an image, a frame stack's K frames as channels: [*lead, H, W, K*C]
            h, w, c = image[-3:]
            x = x.reshape(*lead, self.stack, h, w, c) if self.stack > 1 else x.reshape(*lead, h, w, c)
            if self.stack > 1:
                x = jnp.moveaxis(x, -4, -2).reshape(*lead, h, w, self.stack * c)
            for features, kernel, stride in self.conv:
                x = act(nn.Conv(features, (kernel, kernel), (stride, stride), padding="SAME",
                                kernel_init=orthogonal(np.sqrt(2.0)))(x))
        x = x.reshape(*lead, -1)
        features = x
        for width in self.hidden:
            features = act(nn.Dense(width, kernel_init=orthogonal(np.sqrt(2.0)))(features))
        if self.gru:
            carry, features = _gru(self, features.reshape(steps, streams, -1), carry, resets)
        # A small last layer starts the policy close to uniform (the usual PG init).
        out = nn.Dense(self.num_outputs, kernel_init=orthogonal(self.out_gain))(features)
        if not self.gaussian:
            return out if not self.gru else (carry, out)
        lo, hi = self.log_std_bounds
        if self.log_std == "param":
            raw = self.param("log_std", lambda _: jnp.full(self.num_outputs, self.log_std_init, jnp.float32))
            raw = jnp.broadcast_to(raw, out.shape)
        else:
            raw = self.log_std_init + nn.Dense(
                self.num_outputs, kernel_init=orthogonal(0.01), name="log_std_head"
            )(features)
        out = jnp.concatenate([out, jnp.clip(raw, lo, hi)], axis=-1)
        return out if not self.gru else (carry, out)


def _gru(module: nn.Module, x: jax.Array, h: jax.Array, resets: jax.Array | None):
    """A GRU (Cho et al. 2014, as ``flax.linen.GRUCell``) over ``x [T, B, F]`` from ``h [B, H]``.

    ``r = σ(W_ir x + b_ir + W_hr h)``, ``z = σ(W_iz x + b_iz + W_hz h)``,
    ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``, ``h' = (1 − z) ⊙ n + z ⊙ h``; ``b_iz``
    starts at ``Z_BIAS`` (flax's cell starts every bias at 0), the other biases at 0; where
    ``resets[t]`` the state is zeroed before step t. The input projections of all T steps are
    one matrix product; only ``W_h h`` runs step by step. Returns ``(h_T, [T, B, H])``.
    """
    size = module.gru
    def remember(key, shape, dtype=jnp.float32):  # update gate z biased to 1: keep the state at first
        return jnp.zeros(shape, dtype).at[size:2 * size].set(Z_BIAS)

    gates_in = nn.Dense(3 * size, name="gru_input", bias_init=remember)(x)  # [T, B, 3H]; lecun-normal kernel

    def three_orthogonal(key, shape, dtype=jnp.float32):
        return jnp.concatenate([orthogonal()(k, (size, size), dtype) for k in jax.random.split(key, 3)], axis=1)

    w_h = module.param("gru_hidden_kernel", three_orthogonal, (size, 3 * size))
    b_hn = module.param("gru_hidden_bias", nn.initializers.zeros_init(), (size,))
    if resets is None:
        resets = jnp.zeros(x.shape[:2], bool)

    def cell(h, inputs):
        g, reset = inputs
        h = jnp.where(reset[:, None], 0.0, h)
        gh = h @ w_h
        r = jax.nn.sigmoid(g[:, :size] + gh[:, :size])
        z = jax.nn.sigmoid(g[:, size:2 * size] + gh[:, size:2 * size])
        n = jnp.tanh(g[:, 2 * size:] + r * (gh[:, 2 * size:] + b_hn[None]))
        h = (1.0 - z) * n + z * h
        return h, h

    return jax.lax.scan(cell, h.astype(jnp.float32), (gates_in, resets))


def mlp_policy(
    hidden: Sequence[int],
    num_actions: int | None = None,
    activation: str = "tanh",
    obs_ndim: int = 1,
    obs_scale: float = 1.0,
    *,
    obs_norm: bool = False,
    action_space=None,
    gaussian: GaussianOptions | None = None,
    frame_stack: int = 1,
    torso: str = "mlp",
) -> Policy:
    """A multilayer-perceptron policy with a categorical or a Gaussian head.

    ``out = W_L · act(... act(W_1 · obs + b_1) ...) + b_L``; hidden layers are
    orthogonally initialised with gain √2, the output layer with gain 0.01 so the
    initial policy is nearly uniform (categorical) or has mean ≈ 0 (Gaussian).

    Args:
      hidden: hidden layer widths, e.g. ``(64, 64)``; ``()`` gives a linear policy.
      num_actions: number of discrete actions (> 0); leave ``None`` when
        ``action_space`` is a ``Box``.
      activation: ``"tanh"``, ``"relu"``, ``"gelu"`` or ``"silu"``.
      obs_ndim: number of axes of one observation (1 for a vector; 3 for a
        ``[H, W, C]`` image, which is flattened).
      obs_scale: observations are multiplied by it before the first layer
        (part of the policy, so evaluation and replays see the same inputs);
        e.g. 1/24 brings Pixelcopter's pixel units to O(1).
      obs_norm: standardise (scaled) observations with running statistics kept
        in the ``"obs_norm"`` collection, clipped to ±10 (see ``update_obs_norm``).
      action_space: a gymnax ``Discrete`` (same as ``num_actions=n``) or ``Box``
        space (a Gaussian head over its shape, bounded by its low/high).
      gaussian: Gaussian head only: ``GaussianOptions(log_std, log_std_init, log_std_bounds,
        squash)`` (default: ``GaussianOptions()``): ``log_std`` ``"param"`` (a
        state-independent learned vector) or ``"state"`` (a second linear head on the last
        hidden layer); the initial log standard deviation; ``(lo, hi)``, ``lo < hi``, the
        log-std is clipped into (the gradient stops outside); ``squash`` ``"clip"`` or
        ``"tanh"`` (see ``Gaussian``).
      frame_stack: K >= 1; with K > 1 an observation is ``[K, *frame_shape]`` (the last
        K frames; ``obs_ndim`` counts the K axis) and ``obs_norm`` keeps one mean and
        variance per frame feature, shared by the K slots.
      torso: ``"mlp"`` (the observation flattened into the hidden layers) or ``"cnn"``
        (``[H, W, C]`` images, e.g. MinAtar's 10×10×C: ``CNN_LAYERS`` convolutions with
        ``activation``, then the hidden layers; a frame stack's K frames become K·C channels);
        ``"gru"`` / ``"cnn-gru"``: the same, then a GRU as wide as the last hidden layer
        (a recurrent policy: ``initial_state``, ``step``, ``unroll``; see ``Policy``).

    Returns:
      A ``Policy``. ``init(key, obs)`` takes one observation ``[*obs_shape]`` or a
      batch; ``apply(variables, obs)`` maps ``[*batch, *obs_shape]`` to the head's
      output.

    Raises:
      ValueError: for a bad size, activation, log-std mode, inverted bounds or
        squash, or both/neither of ``num_actions`` and ``action_space``.

    Example:
      >>> policy = mlp_policy((16,), 2)
      >>> params = policy.init(jax.random.key(0), jnp.zeros(4))
      >>> policy.apply(params, jnp.zeros((8, 4))).shape
      (8, 2)
    """
    dist: Any
    log_std, log_std_init, log_std_bounds, squash = GaussianOptions() if gaussian is None else gaussian
    if action_space is not None:
        if num_actions is not None:
            raise ValueError("give num_actions or action_space, not both")
        if hasattr(action_space, "n"):
            num_actions = int(action_space.n)
        else:
            dist = _gaussian_dist(action_space, squash)
    if action_space is None or hasattr(action_space, "n"):
        if num_actions is None or int(num_actions) <= 0:
            raise ValueError(f"num_actions must be a positive integer, got {num_actions!r}")
        dist = Categorical(int(num_actions))
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(_ACTIVATIONS)}; got {activation!r}")
    _check_stack(frame_stack, obs_ndim)
    conv = _torso(torso, obs_ndim, frame_stack)
    gru = _gru_width(torso, hidden)
    gaussian = isinstance(dist, Gaussian)
    if gaussian:
        check_gaussian_options(log_std, log_std_init, log_std_bounds, squash)
    module = _MLP(
        tuple(int(h) for h in hidden),
        dist.action_dim if gaussian else dist.num_actions,
        activation,
        int(obs_ndim),
        float(obs_scale),
        obs_norm=bool(obs_norm),
        gaussian=gaussian,
        log_std=log_std,
        log_std_init=float(log_std_init),
        log_std_bounds=(float(log_std_bounds[0]), float(log_std_bounds[1])),
        stack=int(frame_stack),
        conv=conv,
        gru=gru,
    )
    if gru:
        return _recurrent(module, int(obs_ndim), dist)

    def init(key: jax.Array, obs: jax.Array):
        return module.init(key, jnp.asarray(obs, jnp.float32))

    def apply(params, obs: jax.Array) -> jax.Array:
        return _apply_flat(module, params, obs, int(obs_ndim))

    return Policy(init, apply, dist)


def _gru_width(torso: str, hidden: Sequence[int]) -> int:
    if torso not in RECURRENT:
        return 0
    if not hidden:
        raise ValueError(f"a {torso} policy needs at least one hidden layer (the GRU is as wide as the last)")
    return int(hidden[-1])


def _recurrent(module: nn.Module, obs_ndim: int, dist) -> Policy:
    """The ``Policy`` of a module with a GRU: ``init``/``apply`` plus ``initial_state``/``step``/``unroll``."""
    size = module.gru

    def initial_state(batch_shape=()) -> jax.Array:
        return jnp.zeros((*tuple(batch_shape), size), jnp.float32)

    def unroll(variables, state: jax.Array, obs: jax.Array, resets: jax.Array | None = None):
        obs = jnp.asarray(obs, jnp.float32)
        steps, batch = obs.shape[0], obs.shape[1: obs.ndim - obs_ndim]
        width = int(np.prod(batch))  # 1 for an unbatched stream
        flat = obs.reshape(steps, width, *obs.shape[obs.ndim - obs_ndim:])
        if resets is not None:
            resets = jnp.broadcast_to(resets, (steps, *batch)).reshape(steps, width)
        h, out = module.apply(variables, flat, jnp.broadcast_to(state, (*batch, size)).reshape(width, size), resets)
        return h.reshape(*batch, size), out.reshape(steps, *batch, out.shape[-1])

    def step(variables, state: jax.Array, obs: jax.Array):
        h, out = unroll(variables, state, jnp.asarray(obs)[None])
        return h, out[0]

    def apply(variables, obs: jax.Array) -> jax.Array:
        obs = jnp.asarray(obs)
        return unroll(variables, initial_state(obs.shape[1: obs.ndim - obs_ndim]), obs)[1]

    def init(key: jax.Array, obs: jax.Array):
        obs = jnp.asarray(obs, jnp.float32)
        one = obs.reshape(1, -1, *obs.shape[obs.ndim - obs_ndim:])[:, :1]  # [T=1, B=1, *obs_shape]
        return module.init(key, one, jnp.zeros((1, size), jnp.float32))

    return Policy(init, apply, dist, initial_state, step, unroll)


def _torso(torso: str, obs_ndim: int, frame_stack: int) -> tuple[tuple[int, int, int], ...]:
    """The conv layers of ``torso`` (none for ``mlp``); a cnn needs ``[H, W, C]`` frames."""
    if torso not in TORSOS:
        raise ValueError(f"policy torso must be one of {', '.join(TORSOS)}; got {torso!r}")
    if torso in ("mlp", "gru"):
        return ()
    frame_ndim = int(obs_ndim) - (1 if frame_stack > 1 else 0)
    if frame_ndim != 3:
        raise ValueError(f"a {torso} policy needs image observations [H, W, C]; this env's frame has {frame_ndim} "
                         "axes (use the mlp or gru policy)")
    return CNN_LAYERS


def _apply_flat(module: nn.Module, params, obs: jax.Array, obs_ndim: int) -> jax.Array:
    """``module.apply`` with every batch axis flattened into one, then restored.

    A ``[T, N, D]`` batch (the loss's time-major chunks) otherwise makes every layer a
    dot with two free dimensions, and the weight gradient one that contracts over two;
    XLA's CPU backend runs those ~1.7x slower than the same rows as one ``[T·N, D]``
    matrix (``experiments/perf_ablations.py``, "flat batch"). Same values per row.
    """
    obs = obs.astype(jnp.float32)
    batch = obs.shape[: obs.ndim - obs_ndim]
    if len(batch) <= 1:
        return module.apply(params, obs)
    out = module.apply(params, obs.reshape(-1, *obs.shape[len(batch):]))
    return out.reshape(*batch, *out.shape[1:])


def _check_stack(frame_stack: int, obs_ndim: int) -> None:
    if isinstance(frame_stack, bool) or not isinstance(frame_stack, int | np.integer) or frame_stack < 1:
        raise ValueError(f"frame_stack must be a positive integer, got {frame_stack!r}")
    if frame_stack > 1 and int(obs_ndim) < 2:
        raise ValueError(f"a frame-stacked observation [K, *frame_shape] has obs_ndim >= 2, got {obs_ndim}")


def value_network(hidden: Sequence[int], activation: str = "tanh", obs_ndim: int = 1,
                  obs_scale: float = 1.0, obs_norm: bool = False, frame_stack: int = 1,
                  torso: str = "mlp") -> Policy:
    """A state-value MLP ``V(s)``: ``apply(variables, obs[*batch, ...]) -> [*batch]``.

    Same body as ``mlp_policy`` (the same ``torso``, recurrent for ``gru``/``cnn-gru``: then
    ``apply`` takes a whole episode ``[T, *batch, ...]`` and ``step``/``unroll`` carry the state;
    and the same ``"obs_norm"``
    collection, per frame feature with ``frame_stack`` K > 1, when ``obs_norm``), with one
    output initialised at gain 1.
    """
    _check_stack(frame_stack, obs_ndim)
    module = _MLP(tuple(int(h) for h in hidden), 1, activation, int(obs_ndim), float(obs_scale),
                  obs_norm=bool(obs_norm), out_gain=1.0, stack=int(frame_stack),
                  conv=_torso(torso, obs_ndim, frame_stack), gru=_gru_width(torso, hidden))
    if module.gru:
        rec = _recurrent(module, int(obs_ndim), None)

        def unroll(variables, state, obs, resets=None):
            h, out = rec.unroll(variables, state, obs, resets)
            return h, out[..., 0]

        def step(variables, state, obs):
            h, out = rec.step(variables, state, obs)
            return h, out[..., 0]

        return Policy(rec.init, lambda v, o: rec.apply(v, o)[..., 0], None, rec.initial_state, step, unroll)

    def init(key: jax.Array, obs: jax.Array):
        return module.init(key, jnp.asarray(obs, jnp.float32))

    def apply(params, obs: jax.Array) -> jax.Array:
        return _apply_flat(module, params, obs, int(obs_ndim))[..., 0]

    return Policy(init, apply, None)


def update_obs_norm(stats: dict, obs: jax.Array, valid: jax.Array, obs_scale: float = 1.0,
                    obs_ndim: int = 1, frame_stack: int = 1) -> dict:
    """Folds the valid observations of a batch into running ``{mean, var, count}``.

    Chan et al.'s parallel update: with batch count ``n_b``, mean ``m_b`` and
    (population) variance ``v_b``, ``count' = n + n_b``,
    ``mean' = mean + (m_b − mean)·n_b/count'``,
    ``var' = (n·var + n_b·v_b + (m_b − mean)²·n·n_b/count') / count'``.
    The first batch replaces the initial (0, 1) statistics. Pure and vmappable.

    Args:
      stats: ``{"mean": [F], "var": [F], "count": []}`` (the ``"obs_norm"`` collection).
      obs: [T, N, *obs_shape] raw observations.
      valid: [T, N] bool; only valid rows count.
      obs_scale: the policy's ``obs_scale`` (statistics are of the scaled inputs).
      obs_ndim: axes of one observation.
      frame_stack: K; with K > 1 an observation is ``[K, *frame_shape]`` and only its
        newest frame (slot K − 1) counts, so the statistics are those of the env's
        observation stream, ``[F]`` per frame feature (each step counted once; the
        reset frame that fills the older slots is not counted K times).

    Returns:
      The new statistics (unchanged when no row is valid).
    """
    if frame_stack > 1:
        obs = obs[(slice(None),) * (obs.ndim - obs_ndim) + (-1,)]
        obs_ndim -= 1
    x = obs.astype(jnp.float32) * jnp.float32(obs_scale)
    x = x.reshape(-1, int(np.prod(x.shape[x.ndim - obs_ndim:])))
    w = valid.reshape(-1).astype(jnp.float32)
    n_b = w.sum()
    safe = jnp.maximum(n_b, 1.0)
    m_b = (x * w[:, None]).sum(0) / safe
    v_b = (jnp.square(x - m_b[None, :]) * w[:, None]).sum(0) / safe
    n, mean, var = stats["count"], stats["mean"], stats["var"]
    total = n + n_b
    safe_total = jnp.maximum(total, 1.0)
    delta = m_b - mean
    new_mean = mean + delta * n_b / safe_total
    new_var = (n * var + n_b * v_b + jnp.square(delta) * n * n_b / safe_total) / safe_total
    keep = n_b == 0
    return {
        "mean": jnp.where(keep, mean, new_mean),
        "var": jnp.where(keep, var, new_var),
        "count": jnp.where(keep, n, total),
    }
