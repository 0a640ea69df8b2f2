"""What a run is: a typed, frozen, hashed ``RunSpec`` (and ``Schedule``: how it is driven).

A run is H hyperparameter points × S seeds of one static ``Config``. The spec holds everything
that defines its numbers and that its run directory records (``checkpoint.json``): the
``Config``, the base ``HParams``, the points, the seeds and root seed, and the evaluation
settings. ``Schedule`` holds what only changes how the run is driven (the chunk length,
periodic saves, a memory budget), never a number it computes; it is not recorded.

Errors name the fields in the library's words, between backticks (``RunError``); the command
line translates them into its flags.

Example::

    spec = RunSpec(Config(env="CartPole-v1"), seeds=8).with_eval_limit(500)
    spec.is_sweep, spec.num_runs                                          # (False, 8)
    RunSpec.from_record(spec.record(), spec.config, spec.hparams) == spec  # True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxpg.types import Config, HParams

__all__ = ["RunSpec", "Evaluation", "Schedule", "RunError", "HPARAM_FIELDS", "MAX_UPDATES", "stack_points",
           "chunk_length"]

HPARAM_FIELDS = tuple(HParams.__dataclass_fields__)
MAX_UPDATES = 2**31 - 1  # TrainState.update is int32


class RunError(ValueError):
    """Bad input to a run, or a run that cannot go on (one line; the CLI exits 2)."""


def _is_int(x) -> bool:
    return not isinstance(x, bool) and isinstance(x, int | np.integer)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The evaluation of every run: ``episodes`` sampled and as many greedy episodes per run at the
    end (0: none), reported by ``greedy`` or sampled actions, each cut at ``max_steps`` (None: the
    env's own limit), and also every ``every`` updates during training (None: only at the end)."""

    episodes: int = 32
    greedy: bool = False
    max_steps: int | None = None
    every: int | None = None

    def __post_init__(self):
        if not _is_int(self.episodes) or self.episodes < 0:
            raise RunError(f"`eval_episodes` must be a non-negative integer, got {self.episodes!r}")
        if self.max_steps is not None and (not _is_int(self.max_steps) or self.max_steps <= 0):
            raise RunError(f"`eval_max_steps` must be a positive integer, got {self.max_steps!r}")
        if self.every is not None:
            if not _is_int(self.every) or self.every <= 0:
                raise RunError(f"`eval_every` must be a positive integer, got {self.every!r}")
            if not self.episodes:
                raise RunError("`eval_every` needs evaluation episodes (`eval_episodes` > 0)")
        object.__setattr__(self, "greedy", bool(self.greedy))

    def replace(self, **changes) -> Evaluation:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How a run is driven (not recorded; changes no number).

    ``chunk``: updates per progress line, and the most updates one compiled chunk runs (default:
    about a tenth of the run); ``save_every``: also checkpoint every K updates (needs a run
    directory); ``max_memory``: the memory budget in bytes (default: what the device has free; a
    population that does not fit runs in waves); ``chunk_seconds``: about how long one chunk may
    train (default 30 s): a chunk read back is what a stop saves, so a SIGTERM or SIGHUP at any
    moment loses at most about this much training (``None``: chunks as long as the boundaries allow).
    """

    chunk: int | None = None
    save_every: int | None = None
    max_memory: float | None = None
    chunk_seconds: float | None = 30.0

    def __post_init__(self):
        if self.chunk_seconds is not None:
            object.__setattr__(self, "chunk_seconds", _positive(self.chunk_seconds, "chunk_seconds", "seconds"))
        for name in ("chunk", "save_every"):
            v = getattr(self, name)
            if v is not None and (not _is_int(v) or v <= 0):
                raise RunError(f"`{name}` must be a positive integer, got {v!r}")
        if self.max_memory is not None:
            object.__setattr__(self, "max_memory", int(_positive(self.max_memory, "max_memory", "bytes")))


def _positive(value, name: str, unit: str) -> float:
    """``value`` as a finite float above 0, or a ``RunError`` naming ``name``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if isinstance(value, bool) or not math.isfinite(x) or x <= 0:
        raise RunError(f"`{name}` must be a positive number of {unit}, got {value!r}")
    return x


def _point(p: Mapping[str, Any]) -> dict[str, float]:
    unknown = set(p) - set(HPARAM_FIELDS)
    if unknown:
        raise RunError(f"unknown hyperparameter {sorted(unknown)[0]!r}; sweepable: {', '.join(HPARAM_FIELDS)}")
    return dict(p)


@dataclasses.dataclass(frozen=True, eq=False)
class RunSpec:
    """H points × S seeds of one ``Config``: everything that defines a run's numbers.

    Attributes:
      config: the static ``Config`` shared by every run (``num_updates`` updates each).
      hparams: the base ``HParams``; each point's fields go on top of it.
      points: hyperparameter points (dicts of ``HParams`` fields), in report order; ``None``: a
        train run (one point, ``hparams`` itself; written as ``summary.json``), else a sweep
        (``sweep.json``).
      axes: the swept field names in column order (default: the fields the points name).
      seeds: S, seeds per point.
      seed: the root seed: seed ``i`` of every point starts from ``split(key(seed), S)[i]``.
      evaluation: the ``Evaluation`` settings.
    """

    config: Config
    hparams: HParams = dataclasses.field(default_factory=HParams)
    points: tuple[Mapping[str, float], ...] | None = None
    axes: tuple[str, ...] | None = None
    seeds: int = 8
    seed: int = 0
    evaluation: Evaluation = dataclasses.field(default_factory=Evaluation)

    def __post_init__(self):
        if not isinstance(self.config, Config):
            raise RunError(f"`config` must be a jaxpg.Config, got {type(self.config).__name__}")
        if self.config.num_updates > MAX_UPDATES:
            raise RunError(f"`num_updates` must be at most {MAX_UPDATES:,}, got {self.config.num_updates:,}")
        if not isinstance(self.hparams, HParams):
            raise RunError(f"`hparams` must be a jaxpg.HParams, got {type(self.hparams).__name__}")
        if not _is_int(self.seeds) or self.seeds <= 0:
            raise RunError(f"`seeds` must be a positive integer, got {self.seeds!r}")
        if not _is_int(self.seed):
            raise RunError(f"`seed` must be an integer, got {self.seed!r}")
        if not -(2**63) <= int(self.seed) < 2**64:
            raise RunError(f"`seed` must fit in 64 bits, got {self.seed}")
        if not isinstance(self.evaluation, Evaluation):
            raise RunError(f"`evaluation` must be a jaxpg Evaluation, got {type(self.evaluation).__name__}")
        points = None if self.points is None else tuple(_point(p) for p in self.points)
        if points is not None and not points:
            raise RunError("a sweep needs at least one hyperparameter point")
        axes = self.axes if self.axes is not None else dict.fromkeys(k for p in (points or ()) for k in p)
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "axes", tuple(axes))
        object.__setattr__(self, "seeds", int(self.seeds))
        object.__setattr__(self, "seed", int(self.seed))
        stack_points(self.hparams, self.point_list)  # every point is a valid HParams

    # ------------------------------------------------------------------ derived
    @property
    def is_sweep(self) -> bool:
        return self.points is not None

    @property
    def point_list(self) -> list[dict[str, float]]:
        """The points as dicts (``[{}]`` for a train run)."""
        return [{}] if self.points is None else [dict(p) for p in self.points]

    @property
    def num_points(self) -> int:
        return len(self.point_list)

    @property
    def num_runs(self) -> int:
        return self.num_points * self.seeds

    def hparams_points(self) -> HParams:
        """``HParams`` with leaves ``[H]``, one entry per point."""
        return stack_points(self.hparams, self.point_list)

    def replace(self, **changes) -> RunSpec:
        return dataclasses.replace(self, **changes)

    def with_eval_limit(self, env_limit: int) -> RunSpec:
        """The spec with the evaluation's step limit resolved (``None`` -> the env's own)."""
        return self.replace(evaluation=self.evaluation.replace(max_steps=self.evaluation.max_steps or env_limit))

    # ------------------------------------------------------------------ record
    def record(self) -> dict[str, Any]:
        """What the run directory records of the spec (JSON-ready; ``checkpoint.json`` keys)."""
        ev = self.evaluation
        return {"kind": "sweep" if self.is_sweep else "train", "env": self.config.env, "seeds": self.seeds,
                "root_seed": self.seed, "points": self.point_list, "axes": list(self.axes),
                "config": dataclasses.asdict(self.config), "hparams": self.hparams.to_dict(),
                "eval_episodes": ev.episodes, "eval_greedy": ev.greedy, "eval_max_steps": ev.max_steps,
                "eval_every": ev.every}

    def digest(self) -> str:
        """SHA-256 of the record: equal specs, equal digests, on every machine."""
        return hashlib.sha256(json.dumps(self.record(), sort_keys=True, default=str).encode()).hexdigest()

    def __eq__(self, other) -> bool:
        return isinstance(other, RunSpec) and self.record() == other.record()

    def __hash__(self) -> int:
        return hash(self.digest())

    @classmethod
    def from_record(cls, meta: Mapping[str, Any], config: Config, hparams: HParams) -> RunSpec:
        """The spec a run directory recorded (``config``/``hparams`` already parsed by the checkpoint)."""
        kind = meta.get("kind", "train")
        ev = Evaluation(episodes=int(meta.get("eval_episodes", 32)), greedy=bool(meta.get("eval_greedy", False)),
                        max_steps=meta.get("eval_max_steps") or None, every=meta.get("eval_every"))
        return cls(config, hparams, None if kind == "train" else tuple(meta.get("points") or [{}]),
                   tuple(meta.get("axes") or ()), int(meta["seeds"]), int(meta["root_seed"]), ev)


def stack_points(base: HParams, points: Sequence[Mapping[str, Any]]) -> HParams:
    """``HParams`` whose leaves have a leading ``[H]`` axis, one entry per point.

    Fields a point does not name take ``base``'s value; every point is validated as a
    whole ``HParams`` first.
    """
    if len(points) == 0:
        raise RunError("a sweep needs at least one hyperparameter point")
    full = [base.replace(**_point(p)) for p in points]
    return HParams(**{
        name: np.asarray([float(getattr(h, name)) for h in full], np.float32) for name in HPARAM_FIELDS
    })


def chunk_length(updates: int, requested: int | None = None, periods: Sequence[int | None] = ()) -> int:
    """Updates per progress period: ``requested``, or the divisor of ``updates`` (and of every
    period given: ``save_every``, ``eval_every``) nearest to a tenth of the run."""
    if requested is not None:
        return int(requested)
    if updates <= 0:
        return 1
    target = max(1, updates // 10)
    g = math.gcd(updates, *(int(p) for p in periods if p))
    divisors = set()
    for d in range(1, math.isqrt(g) + 1):
        if g % d == 0:
            divisors.update((d, g // d))
    return min(divisors, key=lambda d: (abs(d - target), d))
