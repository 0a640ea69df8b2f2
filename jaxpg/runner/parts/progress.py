"""Progress: one line per progress period (return, evaluation, env steps, rate, a bar with the time
left), and a ``Progress`` record for a callback (trackers, notebooks) after every chunk."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from jaxpg.runner.loop import Board, Chunk, Part
from jaxpg.types import Metrics

__all__ = ["Progress", "ProgressReport"]


class Progress(NamedTuple):
    """What a run reports after each chunk.

    ``update``/``total``: updates done / to do; ``mean_return``: ``[H, S]`` training return of
    the chunk's last update; ``env_steps``: valid env steps of this process's training so far;
    ``steps_per_s``: over this process's own training time; ``elapsed_s``; ``eta_s``;
    ``metrics``: the chunk's ``Metrics``, leaves ``[H, S, chunk]`` (update ``update - chunk + 1``
    first); ``evaluation``: with ``eval_every``, the evaluation at ``update`` (a
    ``RunResult.eval_curve`` row: ``env_steps``, ``sampled_mean``, ... ``[H, S]``), else None;
    ``run_env_steps``: ``[H, S]`` int64, each run's valid env steps through ``update``, counting
    the updates before a resume (the progress line shows their sum).
    """

    update: int
    total: int
    mean_return: np.ndarray
    env_steps: int
    steps_per_s: float
    elapsed_s: float
    eta_s: float
    metrics: Metrics
    evaluation: dict | None = None
    run_env_steps: np.ndarray | None = None


def _eta_bar(done: int, total: int, eta_s: float) -> str:
    width = 20
    filled = round(width * done / max(total, 1))
    m, s = divmod(int(round(eta_s)), 60)
    return f"[{'#' * filled}{'-' * (width - filled)}] eta {f'{m}m{s:02d}s' if m else f'{s}s'}"


def _last_trained(ret: np.ndarray) -> np.ndarray:
    """``[R]`` each run's return at its last update in the chunk that was trained (finite), else NaN
    (a diverged run, or a run whose step budget was spent before the chunk)."""
    ok = np.isfinite(ret)
    last = ret.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
    return np.where(ok.any(axis=1), ret[np.arange(ret.shape[0]), last], np.nan)


class ProgressReport(Part):
    """Logs a line at each progress period's end (through the board's ``say``) and calls
    ``callback(Progress)`` after every chunk.

    The line's env steps are the run's own, a resumed past included (the checkpoint's metrics,
    in ``board.collected`` when the loop starts); its rate is this process's.
    """

    def __init__(self, callback: Callable[[Progress], None] | None = None):
        self.callback = callback
        self.run_steps: np.ndarray | None = None  # [R] valid env steps per run, a resumed past included

    def start(self, board: Board) -> None:
        self.run_steps = np.zeros(board.pop.num_runs, np.int64)
        for c in board.collected:  # a resume: the updates before it
            self.run_steps += np.asarray(c.env_steps, np.int64).sum(1)
        self.budget = board.spec.config.total_steps
        self.tenths = self.f0 = self._fraction(board) if self.budget else 0.0

    def _fraction(self, board: Board) -> float:
        """A budget run's progress: the slowest live run's share of its budget (the run ends with it)."""
        live = board.alive if board.alive.any() else np.ones_like(board.alive)
        return float(np.min(np.minimum(self.run_steps[live], self.budget))) / self.budget

    def after_chunk(self, board: Board, chunk: Chunk) -> None:
        pop, m = board.pop, chunk.metrics
        self.run_steps += np.asarray(m.env_steps, np.int64).sum(1)
        done, total = chunk.updates_done - board.base, board.total - board.base
        elapsed = time.perf_counter() - board.t_train
        last_ret = pop.to_points(_last_trained(np.asarray(m.mean_return)))
        eta = elapsed / done * (total - done)
        line = board.pacer.is_line(chunk.updates_done)
        if self.budget:  # sized in env steps: the bar and the lines follow the slowest run's budget
            f = self._fraction(board)
            eta = elapsed / max(f - self.f0, 1e-9) * (1.0 - f)
            line = int(10 * f) > int(10 * self.tenths) or (chunk.last and self.tenths < 1.0)
            self.tenths = max(self.tenths, f) if line else self.tenths
            done, total = round(1000 * f), 1000
        rate = board.steps_done / max(elapsed, 1e-9)
        live = last_ret[pop.to_points(board.alive)] if board.alive.any() else last_ret.reshape(-1)
        live = live[np.isfinite(live)]
        note = ""
        if chunk.evaluation is not None:
            mode = "greedy" if board.spec.evaluation.greedy else "sampled"
            note = f"  eval {float(np.mean(chunk.evaluation[mode + '_mean'])):8.2f}"
        if line or chunk.evaluation is not None:
            of = f"/{board.total}" if not self.budget else ""
            board.say(f"  update {chunk.updates_done:>5}{of}  return "
                      + (f"{live.mean():8.2f}" if live.size else "     nan")
                      + (f" (min {live.min():.2f})" if live.size > 1 else "")
                      + note
                      + f"  env steps {int(self.run_steps.sum()):>11,}"
                      + (f" (slowest seed {done / 10:.0f}% of {self.budget:,})" if self.budget else "")
                      + f"  {rate:,.0f} steps/s  "
                      + _eta_bar(done, total, eta))
        chunk.progress = Progress(chunk.updates_done, board.total, last_ret, board.steps_done, rate, elapsed, eta,
                                  Metrics(*(pop.to_points(getattr(m, f)) for f in Metrics._fields)),
                                  chunk.evaluation, pop.to_points(self.run_steps.copy()))
        if self.callback is not None:
            self.callback(chunk.progress)
