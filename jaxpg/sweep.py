"""Seed × hyperparameter grids, on top of the driver.

A sweep is H hyperparameter points × S seeds = R independent training runs of one
``Config``; ``jaxpg.driver`` lays them out as one flat, sharded runs axis (run ``r``
is point ``r // S``, seed ``r % S``) and trains, checkpoints and evaluates them::

    points = grid(learning_rate=[1e-3, 3e-3, 1e-2], gamma=[0.99, 1.0])
    result = jaxpg.run(Config(env="CartPole-v1"), points, seeds=32, out="runs/sweep")
    result.metrics.mean_return.shape      # (6, 32, num_updates)

Seed ``i`` of every point uses ``jax.random.split(jax.random.key(seed), S)[i]``,
exactly the key ``jaxpg train --seed seed`` gives its seed ``i``, so a sweep point
reproduces the same point trained alone (to float tolerance: a batch of runs may sum
in another order on some backends). ``Sweep`` is the driver's ``Population`` with a
``run`` that returns arrays and writes nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxpg.distributed import initialize_distributed
from jaxpg.driver import HPARAM_FIELDS, Population, runs_mesh, stack_points
from jaxpg.driver import run as _run
from jaxpg.types import HParams, Metrics, point_label  # noqa: F401 (re-exported)

__all__ = [
    "HPARAM_FIELDS",
    "grid",
    "stack_points",
    "Sweep",
    "SweepResult",
    "runs_mesh",
    "point_label",
    "initialize_distributed",
]


def grid(**axes: Sequence[float]) -> list[dict[str, float]]:
    """Every combination of the given values, last keyword varying fastest.

    Args:
      **axes: ``HParams`` field name -> non-empty sequence of values.

    Returns:
      A list of ``{field: value}`` points, e.g.
      ``grid(learning_rate=[1, 2], gamma=[.9, 1])`` gives
      ``[{lr 1, γ .9}, {lr 1, γ 1}, {lr 2, γ .9}, {lr 2, γ 1}]``.

    Raises:
      ValueError: an unknown field, an empty list, or a value ``HParams`` rejects.
    """
    for name, values in axes.items():
        if name not in HPARAM_FIELDS:
            raise ValueError(f"unknown hyperparameter {name!r}; sweepable: {', '.join(HPARAM_FIELDS)}")
        if isinstance(values, str) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"{name} needs a non-empty list of values, got {values!r}")
        for v in values:
            HParams(**{name: v})  # range check, one field at a time
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


class SweepResult(NamedTuple):
    """Host-side (numpy) results with leading ``[H, S]`` axes.

    Attributes:
      metrics: ``Metrics`` with leaves ``[H, S, updates_done]``.
      eval_returns: ``[H, S, K]`` evaluation returns (``None`` if not evaluated).
      updates_done: updates every run completed.
    """

    metrics: Metrics
    eval_returns: np.ndarray | None
    updates_done: int


class Sweep(Population):
    """H points × S seeds trained as one sharded, compiled program (``driver.Population``).

    Args:
      config: the static ``Config`` shared by every run.
      points: hyperparameter points (dicts of ``HParams`` fields, e.g. from :func:`grid`).
      seeds: S, seeds per point.
      base: values of the fields the points do not name (default ``HParams()``).
      seed: root seed; seed ``i`` uses ``split(key(seed), S)[i]``.
      mesh: a one-axis ``"runs"`` mesh (default :func:`runs_mesh`: all devices).
    """

    def __init__(self, config, points: Sequence[Mapping[str, Any]], seeds: int, base: HParams | None = None,
                 seed: int = 0, mesh=None):
        super().__init__(config, points, seeds, base, seed, mesh)

    def run(self, chunk: int | None = None, episodes: int = 0, greedy: bool = False) -> SweepResult:
        """Trains every run for ``config.num_updates`` updates through ``jaxpg.driver.run``
        (and evaluates ``episodes`` per run if > 0); writes nothing.

        ``chunk`` updates per compiled call (default: all at once; it must divide ``num_updates``).
        """
        n = self.config.num_updates
        chunk = n if chunk is None else int(chunk)
        if chunk <= 0 or n % chunk:
            raise ValueError(f"chunk {chunk} must be a positive divisor of num_updates {n}")
        r = _run(self.config, self.points, seeds=self.seeds, hparams=self.base, seed=self.root_seed,
                 chunk=chunk, eval_episodes=int(episodes), mesh=self.mesh, handle_signals=False)
        ret = None if r.eval_returns is None else r.eval_returns["greedy" if greedy else "sampled"]
        return SweepResult(r.metrics, ret, r.updates_done)
