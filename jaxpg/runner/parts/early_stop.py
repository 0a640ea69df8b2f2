"""Early stop: once every live run's training return has reached ``target``, no further chunk is
dispatched (the one already queued is still read back and saved)."""

from __future__ import annotations

import numpy as np

from jaxpg.runner.loop import Board, Chunk, Part

__all__ = ["EarlyStop"]


class EarlyStop(Part):
    def __init__(self, target: float):
        self.target = float(target)
        self.fingerprint = f"target={self.target!r}"

    def after_chunk(self, board: Board, chunk: Chunk) -> None:
        pop = board.pop
        if chunk.last or not board.alive.any():
            return
        last_ret = pop.to_points(chunk.metrics.mean_return[:, -1])
        if np.all(last_ret[pop.to_points(board.alive)] >= self.target):
            board.request_stop("target")
            board.say(f"every run reached `target` {self.target:g}: stopping early")
