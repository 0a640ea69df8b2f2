"""Checkpoints: every ``save_every`` updates, at the end, and at a stop (the last chunk read back);
then the run's results file. A run that saved no checkpoint writes no results either."""

from __future__ import annotations

from jaxpg.runner.loop import Board, Chunk, Part

__all__ = ["Checkpointing"]


class Checkpointing(Part):
    def __init__(self, save_every: int | None = None):
        self.save_every = save_every
        self.saved_at: int | None = None
        self.board: Board | None = None

    def start(self, board: Board) -> None:
        self.board = board
        self.saved_at = board.base if board.ckpt is not None else None

    def _save(self, board: Board, label: str) -> None:
        if board.writer is None or self.saved_at == board.updates_done:
            return
        state, alive = board.finished
        board.writer.checkpoint(board.pop.gather_state(state), board.collected, board.pop.gather(alive),
                                board.updates_done, board.diverged, board.extra)
        self.saved_at = board.updates_done
        board.say(f"  saved checkpoint at update {board.updates_done}{label}")

    def after_chunk(self, board: Board, chunk: Chunk) -> None:
        if self.save_every and not chunk.last and chunk.updates_done % self.save_every == 0 \
                and not board.signals():
            self._save(board, "")

    def finish(self, board: Board) -> None:
        stopped = board.signals.received
        if board.updates_done > board.base:
            self._save(board, " (final)" if not stopped else f" ({stopped})")

    def close(self, result) -> None:
        board = self.board
        if result is not None and board is not None and board.writer is not None and self.saved_at is not None:
            board.writer.results(result)
