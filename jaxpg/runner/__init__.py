"""The run layer: the one place that runs populations of training runs.

A population is H hyperparameter points × S seeds = R independent runs of one static
``Config``, described by a ``RunSpec``. ``jaxpg train`` is a population of one point,
``jaxpg sweep`` a grid; ``jaxpg bench``, the experiments and your own code all come through
``run``/``resume``. One topic a module:

- ``spec``: ``RunSpec`` (typed, frozen, hashed: what a run directory records), ``Evaluation``,
  ``Schedule`` (how a run is driven), ``RunError``;
- ``population``: layout, padding, keys, sharding, the compiled programs;
- ``memory``: what a population needs and the machine has; the waves plan (changes nothing);
- ``signals``: graceful and urgent stops;
- ``loop``: the chunk loop, the ``Board`` its parts share and the ``Part`` interface;
- ``kinds``: what differs between a train run and a sweep;
- ``parts``: divergence, evaluation during and after training, progress, checkpoints, early stop,
  keeping the best evaluation's policy;
- ``api``: ``run``, ``resume``, ``RunResult``.

Example::

    from jaxpg import Config
    from jaxpg.runner import RunSpec, run
    result = run(RunSpec(Config(env="CartPole-v1"), seeds=8), out="runs/cp")
    result.metrics.mean_return.shape   # (1, 8, 150): [points, seeds, updates]
"""

from jaxpg.runner.api import RunResult, resume, run
from jaxpg.runner.loop import Board, Chunk, Part
from jaxpg.runner.parts import EarlyStop, KeepBest, Progress
from jaxpg.runner.population import Population, runs_mesh
from jaxpg.runner.spec import (
    HPARAM_FIELDS,
    MAX_UPDATES,
    Evaluation,
    RunError,
    RunSpec,
    Schedule,
    chunk_length,
    stack_points,
)

__all__ = ["run", "resume", "RunResult", "RunSpec", "Evaluation", "Schedule", "RunError", "Population",
           "runs_mesh", "stack_points", "chunk_length", "HPARAM_FIELDS", "MAX_UPDATES", "Part", "Board", "Chunk",
           "EarlyStop", "KeepBest", "Progress"]
