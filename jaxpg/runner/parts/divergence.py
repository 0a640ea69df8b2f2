"""Divergence: a run whose update went non-finite was frozen by the compiled guard at its last
finite state; this part names the point, seed and update, and lets the run's kind decide
(a train run stops; a sweep drops the point and finishes the others)."""

from __future__ import annotations

import numpy as np

from jaxpg.runner.loop import Board, Chunk, Part
from jaxpg.train import DIVERGED_HINT, first_nonfinite
from jaxpg.types import Metrics

__all__ = ["Divergence", "diverged_points"]


def diverged_points(chunk: Chunk, board: Board) -> dict[int, str]:
    """Points with a run (still alive before this chunk) that stopped applying updates in it:
    ``{point: message}``, the earliest update of the point's runs."""
    found: dict[int, tuple[int, str]] = {}
    pop, m, applied = board.pop, chunk.raw, chunk.applied
    for r in np.nonzero(board.alive & ~applied.all(axis=1))[0]:
        u = int(np.argmin(applied[r]))
        h, s = int(pop.run_point[r]), int(pop.run_seed[r])
        raw = Metrics(*(np.asarray(getattr(m, f))[r:r + 1, u:u + 1] for f in Metrics._fields))
        what = first_nonfinite(raw)
        text = "the parameters became non-finite" if what is None else what[2]
        msg = f"{text} at update {chunk.first_update + u + 1} of seed {s}; {DIVERGED_HINT}"
        if h not in found or chunk.first_update + u < found[h][0]:
            found[h] = (chunk.first_update + u, msg)
    return {h: v[1] for h, v in found.items()}


class Divergence(Part):
    """Reports each newly diverged point once and hands it to the run's kind."""

    def start(self, board: Board) -> None:
        if board.ckpt is not None:
            saved = board.ckpt.meta.get("diverged") or {}
            for h in np.unique(np.nonzero(~board.alive)[0] // board.pop.seeds):
                board.diverged[int(h)] = saved.get(str(h), "diverged before the resume")

    def after_chunk(self, board: Board, chunk: Chunk) -> None:
        for h, msg in diverged_points(chunk, board).items():
            board.diverged[h] = msg
            board.kind.diverged(board, h, msg)
