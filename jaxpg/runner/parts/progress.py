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
    ``RunResult.eval_curve`` row: ``env_steps``, ``sampled_mean``, ... ``[H, S]``), else None.
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


def _eta_bar(done: int, total: int, eta_s: float) -> str:
    width = 20
    filled = round(width * done / max(total, 1))
    m, s = divmod(int(round(eta_s)), 60)
    return f"[{'#' * filled}{'-' * (width - filled)}] eta {f'{m}m{s:02d}s' if m else f'{s}s'}"


class ProgressReport(Part):
    """Logs a line at each progress period's end (through the board's ``say``) and calls
    ``callback(Progress)`` after every chunk."""

    def __init__(self, callback: Callable[[Progress], None] | None = None):
        self.callback = callback

    def after_chunk(self, board: Board, chunk: Chunk) -> None:
        pop, m = board.pop, chunk.metrics
        done, total = chunk.updates_done - board.base, board.total - board.base
        elapsed = time.perf_counter() - board.t_train
        last_ret = pop.to_points(m.mean_return[:, -1])
        eta = elapsed / done * (total - done)
        rate = board.steps_done / max(elapsed, 1e-9)
        live = last_ret[pop.to_points(board.alive)] if board.alive.any() else last_ret.reshape(-1)
        live = live[np.isfinite(live)]
        note = ""
        if chunk.evaluation is not None:
            mode = "greedy" if board.spec.evaluation.greedy else "sampled"
            note = f"  eval {float(np.mean(chunk.evaluation[mode + '_mean'])):8.2f}"
        if board.pacer.is_line(chunk.updates_done) or chunk.evaluation is not None:
            board.say(f"  update {chunk.updates_done:>5}/{board.total}  return "
                      + (f"{live.mean():8.2f}" if live.size else "     nan")
                      + (f" (min {live.min():.2f})" if live.size > 1 else "")
                      + note
                      + f"  env steps {board.steps_done:>11,}  {rate:,.0f} steps/s  {_eta_bar(done, total, eta)}")
        chunk.progress = Progress(chunk.updates_done, board.total, last_ret, board.steps_done, rate, elapsed, eta,
                                  Metrics(*(pop.to_points(getattr(m, f)) for f in Metrics._fields)),
                                  chunk.evaluation)
        if self.callback is not None:
            self.callback(chunk.progress)
