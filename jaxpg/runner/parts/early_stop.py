"""Early stop: once every live run's training return has reached ``target``, no further chunk is
dispatched (the one already queued is still read back and saved)."""

from __future__ import annotations

import math

import numpy as np

from jaxpg.runner.loop import Board, Chunk, Part
from jaxpg.runner.spec import RunError

__all__ = ["EarlyStop"]


class EarlyStop(Part):
    def __init__(self, target: float):
        try:
            self.target = float(target)
        except (TypeError, ValueError):
            self.target = float("nan")
        if isinstance(target, bool) or not math.isfinite(self.target):
            raise RunError(f"`target` must be a finite number, got {target!r}")
        self.fingerprint = f"target={self.target!r}"

    def after_chunk(self, board: Board, chunk: Chunk) -> None:
        pop = board.pop
        if chunk.last or not board.alive.any():
            return
        last_ret = pop.to_points(chunk.metrics.mean_return[:, -1])
        if np.all(last_ret[pop.to_points(board.alive)] >= self.target):
            board.request_stop("target")
            board.say(f"every run reached `target` {self.target:g}: stopping early")
