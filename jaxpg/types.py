"""The data types every module shares.

- ``Trajectory``, ``TrainState``, ``Metrics``: NamedTuples (pytrees).
- ``Config``: frozen, hashable, static. Everything that fixes a shape or a
  Python branch. Changing it recompiles.
- ``HParams``: frozen dataclass registered as a pytree whose leaves are the
  traced numeric knobs. New values never recompile; a batch of values (leading
  axis) is what ``jax.vmap`` sweeps over.

Both validate themselves in Python on construction (a ``ValueError`` naming the
value and what is allowed), before anything is traced. ``HParams`` skips the
checks for traced values (they were checked when the concrete values were
built) and checks every element of a concrete array.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import numpy as np

__all__ = ["Trajectory", "TrainState", "Metrics", "Config", "HParams", "ADVANTAGES", "check_gaussian_options",
           "point_label"]

ADVANTAGES = ("none", "normalize", "mean", "value")
ACTIVATIONS = ("tanh", "relu", "gelu", "silu")
LR_SCHEDULES = ("constant", "linear")
ENTROPY_SCHEDULES = ("constant", "linear")
LOG_STD_MODES = ("param", "state")
SQUASHES = ("clip", "tanh")
POLICIES = ("mlp", "cnn", "gru", "cnn-gru")
CONTINUOUS_ONLY = ("log_std", "log_std_init", "log_std_bounds", "squash")


class GaussianOptions(NamedTuple):
    """A Gaussian head's options (continuous actions; see ``policies.mlp_policy``): the log-std mode
    (``"param"`` or ``"state"``), its initial value and ``(lo, hi)`` bounds, and the squash
    (``"clip"`` or ``"tanh"``)."""

    log_std: str = "param"
    log_std_init: float = 0.0
    log_std_bounds: tuple[float, float] = (-5.0, 2.0)
    squash: str = "clip"


def check_gaussian_options(log_std, log_std_init, log_std_bounds, squash) -> None:
    """Raises ``ValueError`` for a bad Gaussian-head option (in Python, before tracing)."""
    if log_std not in LOG_STD_MODES:
        raise ValueError(f"log_std must be one of {', '.join(LOG_STD_MODES)}; got {log_std!r}")
    if squash not in SQUASHES:
        raise ValueError(f"squash must be one of {', '.join(SQUASHES)}; got {squash!r}")
    try:
        lo, hi = (float(b) for b in log_std_bounds)
    except (TypeError, ValueError):
        raise ValueError(f"log_std_bounds must be two numbers (lo, hi), got {log_std_bounds!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo >= hi:
        raise ValueError(f"log_std_bounds must be finite with lo < hi, got ({lo}, {hi}) (inverted or empty)")
    if not (isinstance(log_std_init, int | float) and lo <= float(log_std_init) <= hi):
        raise ValueError(f"log_std_init must lie within log_std_bounds ({lo}, {hi}), got {log_std_init!r}")


class Trajectory(NamedTuple):
    """N episodes, time-major, padded to a static length T and masked.

    Attributes:
      obs: [T, N, *obs_shape] observation the action was chosen from.
      actions: [T, N] int32 (discrete), or [T, N, D] float32 (continuous: the
        Gaussian sample before it is clipped or squashed for the env).
      rewards: [T, N] float32 (0 on invalid steps).
      terminated: [T, N] bool, the episode reached a terminal state at t.
      truncated: [T, N] bool, the episode was cut by the step limit at t
        (and did not terminate there).
      valid: [T, N] bool, t is at or before the step that ended the episode.
      carry: a recurrent policy's state before step t, ``[T, N, H]`` (what the action at t
        was computed from; 0 on invalid steps); ``None`` for a feed-forward policy.
    """

    obs: jax.Array
    actions: jax.Array
    rewards: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    valid: jax.Array
    carry: Any = None


class TrainState(NamedTuple):
    """Everything ``train`` carries from one update to the next.

    Attributes:
      params: the policy's variables (``{"params": ...}``, plus ``"obs_norm"``
        running statistics when ``Config.obs_norm``).
      opt_state: the policy optimizer's state (of ``params["params"]``).
      key: PRNG key.
      update: int32 scalar, updates done so far.
      value_params: the value network's ``{"params": ...}`` (``advantage="value"``),
        else an empty dict.
      value_opt_state: its own optimizer's state, else an empty dict.
      return_stats: ``{"mean", "var", "count"}`` running statistics of the value
        targets (the value network predicts standardised returns), else empty.
      env_steps: int32 scalar, valid env steps trained so far, for a run sized by
        ``Config.total_steps`` (its schedules and its stop read it); else ``None``.
    """

    params: Any
    opt_state: Any
    key: jax.Array
    update: jax.Array
    value_params: Any = None
    value_opt_state: Any = None
    return_stats: Any = None
    env_steps: Any = None


class Metrics(NamedTuple):
    """Per-update scalars (stacked to [num_updates] by ``train``).

    Attributes:
      loss: the minimised loss (policy-gradient term minus entropy bonus).
      mean_return: mean undiscounted return of the update's N episodes.
      mean_length: mean length of those episodes (valid steps per episode).
      env_steps: valid (unmasked) environment steps of the update.
      sim_steps: steps simulated, masked ones included (N x loop iterations).
      entropy: mean policy entropy over valid steps (a Gaussian head's is a
        differential entropy and may be negative).
      grad_norm: global norm of the gradient before clipping.
      value_loss: mean squared error of the value baseline on the update's
        standardised targets, before its step (0 without ``advantage="value"``).
      nonfinite_obs: valid steps whose observation had a NaN or infinite entry
        (drivers stop on it: an env that produces them is broken).
    """

    loss: jax.Array
    mean_return: jax.Array
    mean_length: jax.Array
    env_steps: jax.Array
    sim_steps: jax.Array
    entropy: jax.Array
    grad_norm: jax.Array
    value_loss: jax.Array
    nonfinite_obs: jax.Array


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


MAX_TOTAL_STEPS = 2**30  # TrainState.env_steps is int32: a budget plus one update's steps stays below 2**31


@dataclasses.dataclass(frozen=True)
class Config:
    """Static settings: changing one recompiles.

    Attributes:
      env: environment name (see ``jaxpg.envs.names()``).
      num_envs: N, parallel episodes per update (one full episode each).
      max_steps: T, the step limit of an episode and the length of the
        trajectory buffers; ``None`` uses the env's own limit (500 for
        CartPole-v1). Episodes still running at T are truncated; the env's own
        limit still applies when it is smaller.
      hidden: hidden layer sizes of the policy MLP.
      num_updates: gradient updates in one call of ``train``.
      advantage: ``"none"`` (plain G_t), ``"normalize"`` (G_t standardised over
        the valid steps of the batch) or ``"mean"`` (G_t minus the mean of G_t
        over the episodes still running at t).
      activation: hidden activation, one of ``tanh, relu, gelu, silu``.
      lr_schedule: ``"constant"``, or ``"linear"`` (decays the learning rate
        linearly to 0 over ``num_updates``; it settles the policy at the end).
      entropy_schedule: ``"constant"``, or ``"linear"``: the entropy bonus at
        update u (counted from 0) is ``entropy_coef * (1 - u / num_updates)``, so
        the bonus explores early and lets the policy sharpen before it is
        evaluated with sampled actions.
      obs_scale: observations are multiplied by it inside the policy (static;
        a fixed normalisation, e.g. 1/24 for Pixelcopter's pixel units).
      rollout_chunk: steps simulated between two "has every episode ended?"
        checks of the early-exit rollout loop (a speed knob; results do not
        depend on it).
      loss_chunk: steps per iteration of the return and gradient loops, which
        run over the simulated prefix of the buffers only (a speed knob: results
        differ only in float summation order). ``None`` (default): on CPU, about
        2**19 hidden activations per seed (4,096 rows for 64-64: ``2**19 //
        (sum(hidden) · num_envs)`` steps, 1 to 512), where XLA's CPU matmuls stay
        in cache; on other backends 512 steps (``train.resolve_loss_chunk``).
      obs_norm: standardise observations with running mean/variance kept in the
        policy's variables (``"obs_norm"`` collection; updated from every batch's
        valid observations after its gradient step; inputs clipped to ±10).
      value_hidden: hidden sizes of the value network (``advantage="value"``);
        ``None``: the same as ``hidden``.
      value_steps: gradient steps of the value network per update, each on the
        whole batch (``advantage="value"``).
      bootstrap_truncated: with ``advantage="value"``, a truncated episode's
        return ends with ``γ·V(s_{k+1})`` instead of 0 (its future is not 0; see
        ``returns.bootstrap_rewards``). Terminated episodes never bootstrap.
      log_std: continuous actions only: ``"param"`` (state-independent, the
        default) or ``"state"`` (a head on the last hidden layer).
      log_std_init: continuous only: initial log standard deviation (default 0).
      log_std_bounds: continuous only: ``(lo, hi)`` the log-std is clipped into
        (default ``(-5, 2)``).
      squash: continuous only: how the Gaussian sample reaches the env's bounds,
        ``"clip"`` (default) or ``"tanh"`` (see ``policies.Gaussian``).
      frame_stack: K, the observations the policy (and value network) sees at once:
        with K > 1 the env is ``jaxpg.envs.FrameStack(env, K)``, whose observation is
        the last K observations ``[K, *obs_shape]`` (oldest first; the reset
        observation fills every slot), and ``obs_norm`` keeps statistics per base
        feature shared by the K slots. For envs whose observation hides part of the
        state (Pixelcopter's unseen second terrain piece). Default 1: the env as is.
      policy: the torso of the policy and value networks: ``"mlp"`` (the observation
        flattened into the ``hidden`` layers) or ``"cnn"`` (image observations ``[H, W, C]``,
        e.g. MinAtar's: ``policies.CNN_LAYERS`` convolutions, then the ``hidden`` layers);
        ``"gru"`` / ``"cnn-gru"``: the same followed by a GRU as wide as the last hidden
        layer, a recurrent policy (and value network) whose state starts at zeros with each
        episode; the loss backpropagates through each whole episode.
      schedule_start: the update at which the linear schedules (``lr_schedule``,
        ``entropy_schedule``) start: from there they decay from the full value to 0 at
        ``num_updates`` (before it, nothing is decayed). 0 by default; extending a finished
        run (``runner.resume(out, extend=N)``, ``--extend N``) sets it to the updates done,
        so the N new updates get a fresh decay instead of a learning rate of 0.
      total_steps: a budget of valid env steps per run, the alternative to sizing a run in
        updates (Stable-Baselines3's ``total_timesteps``). Each run stops after the update
        that reaches it (its later updates are not applied: state unchanged, metrics NaN and
        0 env steps), the runner ends the run when every run has, and the linear schedules
        decay over the budget: ``1 - steps / total_steps``. ``num_updates`` then becomes the
        most updates the budget can take, ``ceil(total_steps / num_envs)`` (every episode has
        at least one step), and ``schedule_start`` must be 0. At most 2**30.

    The four continuous-only options default to ``None`` (their defaults apply
    on a continuous env); setting one on a discrete env is a ``ValueError``.
    """

    env: str = "CartPole-v1"
    num_envs: int = 16
    max_steps: int | None = None
    hidden: tuple[int, ...] = (64, 64)
    num_updates: int = 150
    advantage: str = "mean"
    activation: str = "tanh"
    lr_schedule: str = "linear"
    entropy_schedule: str = "constant"
    obs_scale: float = 1.0
    rollout_chunk: int = 16
    loss_chunk: int | None = None
    obs_norm: bool = False
    value_hidden: tuple[int, ...] | None = None
    value_steps: int = 1
    bootstrap_truncated: bool = True
    log_std: str | None = None
    log_std_init: float | None = None
    log_std_bounds: tuple[float, float] | None = None
    squash: str | None = None
    frame_stack: int = 1
    policy: str = "mlp"
    schedule_start: int = 0
    total_steps: int | None = None

    def __post_init__(self):
        # Checks that need the environment (is the name known, does a continuous-only option
        # meet a discrete env) live in ``jaxpg.train.check_config``, where the env is built.
        if not isinstance(self.env, str) or not self.env:
            raise ValueError(f"env must be a non-empty environment name, got {self.env!r}")
        _positive_int("num_envs", self.num_envs)
        if self.max_steps is not None:
            _positive_int("max_steps", self.max_steps)
        _positive_int("num_updates", self.num_updates)
        if not (isinstance(self.obs_scale, int | float) and 0 < self.obs_scale < float("inf")):
            raise ValueError(f"obs_scale must be a positive finite number, got {self.obs_scale!r}")
        _positive_int("rollout_chunk", self.rollout_chunk)
        if self.loss_chunk is not None:
            _positive_int("loss_chunk", self.loss_chunk)
        hidden = tuple(self.hidden)
        for h in hidden:
            _positive_int("every hidden size", h)
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        if self.advantage not in ADVANTAGES:
            raise ValueError(f"advantage must be one of {', '.join(ADVANTAGES)}; got {self.advantage!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}; got {self.lr_schedule!r}"
            )
        if self.entropy_schedule not in ENTROPY_SCHEDULES:
            raise ValueError(
                f"entropy_schedule must be one of {', '.join(ENTROPY_SCHEDULES)}; "
                f"got {self.entropy_schedule!r}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {self.activation!r}")
        for name in ("obs_norm", "bootstrap_truncated"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        _positive_int("value_steps", self.value_steps)
        object.__setattr__(self, "frame_stack", _positive_int("frame_stack", self.frame_stack))
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}; got {self.policy!r}")
        if not (isinstance(self.schedule_start, int | np.integer) and 0 <= self.schedule_start < self.num_updates):
            raise ValueError(f"schedule_start must be an integer in 0..num_updates-1 ({self.num_updates - 1}), "
                             f"got {self.schedule_start!r}")
        object.__setattr__(self, "schedule_start", int(self.schedule_start))
        if self.total_steps is not None:
            if isinstance(self.total_steps, bool) or not isinstance(self.total_steps, int | np.integer) \
                    or not 1 <= self.total_steps <= MAX_TOTAL_STEPS:
                raise ValueError(f"total_steps must be an integer in 1..2**30, got {self.total_steps!r}")
            if self.schedule_start:
                raise ValueError("schedule_start applies to runs sized in updates, not by total_steps")
            object.__setattr__(self, "total_steps", int(self.total_steps))
            object.__setattr__(self, "num_updates", -(-self.total_steps // self.num_envs))
        if self.value_hidden is not None:
            vh = tuple(self.value_hidden)
            for h in vh:
                _positive_int("every value_hidden size", h)
            object.__setattr__(self, "value_hidden", tuple(int(h) for h in vh))
        if self.log_std_bounds is not None:
            try:
                object.__setattr__(self, "log_std_bounds", tuple(float(b) for b in self.log_std_bounds))
            except (TypeError, ValueError):
                raise ValueError(
                    f"log_std_bounds must be two numbers (lo, hi), got {self.log_std_bounds!r}"
                ) from None
        if any(getattr(self, k) is not None for k in CONTINUOUS_ONLY):
            check_gaussian_options(*self.gaussian_options())

    def gaussian_options(self) -> GaussianOptions:
        """``GaussianOptions(log_std, log_std_init, log_std_bounds, squash)``, the defaults filled in."""
        return GaussianOptions(
            "param" if self.log_std is None else self.log_std,
            0.0 if self.log_std_init is None else self.log_std_init,
            (-5.0, 2.0) if self.log_std_bounds is None else self.log_std_bounds,
            "clip" if self.squash is None else self.squash,
        )

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)


def _concrete(value: Any) -> np.ndarray | None:
    """The value as a numpy array, or None when it is traced (or not numeric)."""
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        return None  # a multi-process global array: validated where it was built
    if isinstance(value, bool | int | float | np.ndarray | np.number | jax.Array):
        try:
            return np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return None
    return None


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class HParams:
    """Traced numeric knobs: new values never recompile.

    Every field may be a Python float or an array (a leading axis of values is
    what a sweep vmaps over).

    Attributes:
      learning_rate: Adam step size, > 0.
      gamma: discount, in (0, 1] (1 is allowed: undiscounted episodic returns).
      entropy_coef: weight of the entropy bonus, >= 0.
      max_grad_norm: global-norm gradient clip, > 0 (``inf`` disables it).
      value_learning_rate: Adam step size of the value network's own optimizer
        (``advantage="value"``), > 0. The value network does not share the
        policy's optimizer, clip or schedule: its regression loss never mixes
        into the policy gradient.
      gae_lambda: λ of the generalised advantage estimate with
        ``advantage="value"``, in [0, 1]. 1 (the default) is Monte-Carlo
        REINFORCE with a learned baseline, ``G_t − V(s_t)``; below 1 each step is
        credited mostly with the next ~``1/(1 − γλ)`` steps and ``V`` stands in
        for the rest (less variance, some bias; the value targets become
        λ-returns). Ignored by the other advantages.
    """

    learning_rate: Any = 1e-2
    gamma: Any = 0.99
    entropy_coef: Any = 0.0
    max_grad_norm: Any = 1.0
    value_learning_rate: Any = 1e-3
    gae_lambda: Any = 1.0

    def __post_init__(self):
        checks = {
            "learning_rate": (lambda v: v > 0, "must be > 0"),
            "gamma": (lambda v: (v > 0) & (v <= 1), "must be in (0, 1]"),
            "entropy_coef": (lambda v: v >= 0, "must be >= 0"),
            "max_grad_norm": (lambda v: v > 0, "must be > 0 (inf disables clipping)"),
            "value_learning_rate": (lambda v: v > 0, "must be > 0"),
            "gae_lambda": (lambda v: (v >= 0) & (v <= 1), "must be in [0, 1]"),
        }
        for name, (ok, rule) in checks.items():
            value = _concrete(getattr(self, name))
            if value is None:
                continue
            if not np.all(ok(value)) or (name != "max_grad_norm" and not np.all(np.isfinite(value))):
                bad = value[~(ok(value) & np.isfinite(value))] if value.ndim else value
                shown = float(np.ravel(bad)[0]) if np.size(bad) else float(np.ravel(value)[0])
                raise ValueError(f"{name} {rule}, got {shown!r}")

    def replace(self, **changes) -> HParams:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            v = np.asarray(getattr(self, f.name))
            out[f.name] = v.item() if v.ndim == 0 else v.tolist()
        return out




def point_label(point: dict[str, Any], sep: str = " ") -> str:
    """A hyperparameter point as text: ``"learning_rate=0.001 gamma=0.99"`` (``"(base)"`` if empty)."""
    return sep.join(f"{k}={v:g}" for k, v in point.items()) or "(base)"
