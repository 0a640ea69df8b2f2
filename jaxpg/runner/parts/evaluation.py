"""Evaluation: every ``eval_every`` updates during training (``evals.csv``, ``RunResult.eval_curve``),
and once at the end (``RunResult.eval_returns``), sampled and greedy episodes of every run."""

from __future__ import annotations

import time

import numpy as np

from jaxpg import rundir
from jaxpg.runner.loop import Board, Chunk, Part

__all__ = ["EvaluateDuring", "FinalEvaluation"]


class EvaluateDuring(Part):
    """Evaluates every run's policy each ``spec.evaluation.every`` updates (fresh keys each time)."""

    def start(self, board: Board) -> None:
        if board.spec.evaluation.every and board.ckpt is not None and board.out is not None:
            board.eval_curve = rundir.read_evals(board.out, board.pop, board.base)

    def after_chunk(self, board: Board, chunk: Chunk) -> None:
        ev, pop = board.spec.evaluation, board.pop
        if not ev.every or chunk.updates_done % ev.every or not board.alive.any():
            return
        returns = pop.evaluate(board.finished[0], ev.episodes, max_steps=ev.max_steps, at=chunk.updates_done)
        steps = np.concatenate([np.asarray(c.env_steps, np.int64) for c in board.collected], axis=1).sum(1)
        board.eval_curve.append({"update": chunk.updates_done, "env_steps": pop.to_points(steps),
                                 **{f"{k}_{f}": pop.to_points(getattr(v, f)(axis=1)) for k, v in returns.items()
                                    for f in ("mean", "std")}})
        if board.writer is not None:
            board.writer.evals(board.eval_curve)
        chunk.evaluation = board.eval_curve[-1]


class FinalEvaluation(Part):
    """``spec.evaluation.episodes`` sampled and greedy episodes of every run after training (not
    after a signal, and not when the kind says a diverged run is not evaluated)."""

    def finish(self, board: Board) -> None:
        ev = board.spec.evaluation
        board.timings["eval_s"] = 0.0
        if board.signals() or not ev.episodes or board.updates_done <= 0 or \
                not board.kind.evaluates(board.diverged):
            return
        t0 = time.perf_counter()
        returns = board.pop.evaluate(board.finished[0], ev.episodes, max_steps=ev.max_steps)
        board.eval_returns = {k: board.pop.to_points(v) for k, v in returns.items()}
        board.timings["eval_s"] = time.perf_counter() - t0
