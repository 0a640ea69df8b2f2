"""Seed × hyperparameter grids, on top of the run layer.

A sweep is H hyperparameter points × S seeds = R independent training runs of one
``Config``; ``jaxpg.runner`` lays them out as one flat, sharded runs axis (run ``r``
is point ``r // S``, seed ``r % S``) and trains, checkpoints and evaluates them::

    points = grid(learning_rate=[1e-3, 3e-3, 1e-2], gamma=[0.99, 1.0])
    result = jaxpg.run(RunSpec(Config(env="CartPole-v1"), points=points, seeds=32), out="runs/sweep")
    result.metrics.mean_return.shape      # (6, 32, num_updates)

Seed ``i`` of every point uses ``jax.random.split(jax.random.key(seed), S)[i]``,
exactly the key ``jaxpg train --seed seed`` gives its seed ``i``, so a sweep point
reproduces the same point trained alone (to float tolerance: a batch of runs may sum
in another order on some backends).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from jaxpg.distributed import initialize_distributed
from jaxpg.runner.population import runs_mesh
from jaxpg.runner.spec import HPARAM_FIELDS, stack_points
from jaxpg.types import HParams, point_label

__all__ = [
    "HPARAM_FIELDS",
    "grid",
    "stack_points",
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
