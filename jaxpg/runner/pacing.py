"""Pacing: how many updates the next chunk runs.

One compiled chunk program runs any number of updates up to its ``capacity`` (a traced trip
count: a new length never recompiles, and a resumed run whose remaining length changed compiles
nothing new). The pacer cuts the run so that a chunk ends

- at every boundary: a progress line (every ``period`` updates from the first), a save or an
  evaluation (multiples of ``save_every``/``eval_every``), and the end of the run;
- after about ``seconds`` of training, measured: the first two chunks run one update each (the
  second is queued before the first is read back), then each chunk runs as many updates as fit
  in ``seconds`` at the last measured rate, and at most twice as many as the chunk before it. An
  update's cost grows as episodes lengthen (a Pixelcopter policy that learns to survive plays
  1,000 times longer episodes than a new one), so the length follows the measured rate up
  gradually instead of jumping to what the first, cheap updates suggest.

A chunk read back is what a stop can save, so a SIGTERM at any moment loses at most the chunk
that was running: about ``seconds`` of training, however long the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

__all__ = ["Pacer", "Pending", "DEFAULT_CHUNK_SECONDS"]

DEFAULT_CHUNK_SECONDS = 30.0


class Pending(NamedTuple):
    """A dispatched chunk: its outputs (device arrays, not yet ready), update count, dispatch time."""

    state: Any
    alive: Any
    metrics: Any
    applied: Any
    count: int
    dispatched_at: float


class Pacer:
    """Chooses each chunk's length and dispatches it (see the module doc).

    Args:
      base: updates done before this process started; total: the update count the run goes to.
      period: updates per progress line; capacity: the chunk program's most updates per call.
      seconds: about how long a chunk may train (``None``: no time bound).
      every: more boundary periods (``save_every``, ``eval_every``; ``None`` entries ignored).
    """

    def __init__(self, base: int, total: int, period: int, capacity: int, seconds: float | None,
                 every: Sequence[int | None] = ()):
        self.base, self.total, self.period, self.capacity, self.seconds = base, total, period, capacity, seconds
        self.every = [int(p) for p in every if p]
        self.sync: list[int] = []  # periods at which no chunk is queued ahead (a part edits the state there)
        self.dispatched = base
        self.per_update: float | None = None  # seconds per update, last measured
        self._last_done: float | None = None
        self._last_count = 1  # the length of the chunk dispatched last
        self.limit: int | None = None  # the most updates the next chunks may run (a part sets it: StepBudget)

    def boundary(self, u: int) -> int:
        """The first boundary after update ``u``."""
        nexts = [self.total, self.base + ((u - self.base) // self.period + 1) * self.period]
        return min(nexts + [(u // p + 1) * p for p in self.every])

    def add_sync(self, period: int) -> None:
        """Every ``period`` updates the loop queues nothing ahead, so that the parts can change the
        state and hyperparameters the next chunk starts from (``Board.edit``)."""
        self.sync.append(int(period))
        self.every.append(int(period))

    def is_sync(self, u: int) -> bool:
        return any(u % p == 0 for p in self.sync)

    def is_line(self, u: int) -> bool:
        """Whether update ``u`` ends a progress period (or the run)."""
        return u == self.total or (u - self.base) % self.period == 0

    def done(self) -> bool:
        return self.dispatched >= self.total

    def next_count(self) -> int:
        n = min(self.capacity, self.boundary(self.dispatched) - self.dispatched)
        if self.seconds is not None:
            n = min(n, 1 if self.per_update is None else int(self.seconds / max(self.per_update, 1e-9)),
                    2 * self._last_count)
        if self.limit is not None:
            n = min(n, self.limit)
        return max(1, n)

    def dispatch(self, program: Callable, state, alive, hp) -> Pending:
        n = self.next_count()
        out = program(state, alive, hp, n)
        self.dispatched += n
        self._last_count = n
        return Pending(*out, count=n, dispatched_at=time.perf_counter())

    def observe(self, chunk: Pending, done_at: float) -> None:
        """A chunk was read back at ``done_at``: its time per update (from when it could start)."""
        start = chunk.dispatched_at if self._last_done is None else max(chunk.dispatched_at, self._last_done)
        self._last_done = done_at
        self.per_update = max(done_at - start, 1e-6) / chunk.count
