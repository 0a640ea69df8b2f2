"""A step budget (``Config.total_steps``): the run ends once every live run has spent it.

The compiled chunk already stops each run after the update that reaches its budget (its later
updates are not trained: ``jaxpg.train.within_budget``), so the budget is exact per run; this
part only ends the loop when no run is left training, and keeps the chunks near the end short:
it caps the next chunk at the updates the slowest run still needs at its last measured steps
per update (and at a tenth of the run's estimated length, so progress lines keep coming), instead
of running a ``--chunk-seconds`` chunk whose updates would all be skipped.
"""

from __future__ import annotations

import math

import numpy as np

from jaxpg.runner.loop import Board, Chunk, Part

__all__ = ["StepBudget", "steps_per_run", "budget_spent"]


def steps_per_run(metrics) -> np.ndarray:
    """``[R]`` valid env steps trained per run in ``metrics`` (``Metrics``-like, env_steps ``[R, U]``)."""
    return np.asarray(metrics.env_steps, np.int64).reshape(np.shape(metrics.env_steps)[0], -1).sum(1)


def budget_spent(steps: np.ndarray, alive: np.ndarray, total_steps: int) -> bool:
    """Whether no live run is left below the budget (diverged runs train no further anyway)."""
    return not bool(np.any((np.asarray(steps) < total_steps) & np.asarray(alive, bool)))


class StepBudget(Part):
    def __init__(self, total_steps: int):
        self.total = int(total_steps)
        self.steps: np.ndarray | None = None  # [R] valid env steps per run, a resumed past included
        self.fingerprint = f"total_steps={self.total}"

    def start(self, board: Board) -> None:
        self.steps = np.zeros(board.pop.num_runs, np.int64)
        for c in board.collected:  # a resume: the updates before it
            self.steps += steps_per_run(c)
        if budget_spent(self.steps, board.alive, self.total):
            board.request_stop("budget")

    def after_chunk(self, board: Board, chunk: Chunk) -> None:
        m = chunk.metrics
        self.steps += steps_per_run(m)
        if budget_spent(self.steps, board.alive, self.total):
            if not chunk.last:
                board.request_stop("budget")
            return
        trained = np.asarray(m.env_steps) > 0  # [R, n]: updates trained (not skipped, not diverged)
        rate = np.asarray(m.env_steps, np.float64).sum(1) / np.maximum(trained.sum(1), 1)  # steps per update
        going = (self.steps < self.total) & board.alive
        rate = np.where(rate > 0, rate, board.spec.config.num_envs)  # a run with no trained update: the least
        needed = int(np.ceil(np.max((self.total - self.steps[going]) / rate[going])))
        estimate = chunk.updates_done + needed  # the run's likely length, at the slowest run's pace
        board.pacer.limit = max(1, min(needed, math.ceil(estimate / 10)))
