"""The chunk loop, and the one small interface its parts plug into.

The loop dispatches chunk i+1 before it waits for chunk i, reads chunk i back, and hands it to
its parts in order. It knows nothing of checkpoints, evaluation, progress lines, trackers,
divergence or early stopping: each is a ``Part``. A part sees the run through the ``Board``
and changes its course only through it: ``board.request_stop(reason)`` (dispatch no further
chunk; the one already queued is still read back), ``board.freeze(runs)`` (those runs stop
training from the queued chunk on) and, at a synchronisation point it asked for
(``board.pacer.add_sync(period)``: nothing is queued ahead there), ``board.edit(fn)`` (a new state,
``alive`` flags and hyperparameters for the next chunk: a search copies and replaces runs so).

A part (all hooks optional)::

    class Part:
        def start(self, board): ...            # once, before the first chunk is dispatched
        def after_chunk(self, board, chunk): ...   # each chunk read back, in the parts' order
        def finish(self, board): ...           # once, after the last chunk (final save, final eval)
        def close(self, result): ...           # once, with the RunResult (None if the run failed)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxpg.runner.pacing import Pacer, Pending
from jaxpg.runner.population import Population
from jaxpg.runner.signals import Signals, wait
from jaxpg.runner.spec import RunSpec
from jaxpg.types import Metrics

__all__ = ["Part", "Board", "Chunk", "drive"]

_INTS = ("env_steps", "sim_steps", "nonfinite_obs")


class Part:
    """A capability the loop calls between chunks (see the module doc). Subclass and override."""

    def start(self, board: Board) -> None:
        pass

    def after_chunk(self, board: Board, chunk: Chunk) -> None:
        pass

    def finish(self, board: Board) -> None:
        pass

    def close(self, result) -> None:
        pass


@dataclasses.dataclass
class Chunk:
    """One chunk read back (host numpy, ``[R, n]`` for its n updates; the padding dropped).

    ``raw``: the metrics as computed; ``metrics``: with the updates a run did not apply masked
    (NaN, 0 env steps); ``applied``: ``[R, n]`` bool; ``last``: no chunk was queued after it;
    ``evaluation``/``progress``: what the evaluation and progress parts made of it.
    """

    updates_done: int
    raw: Metrics
    metrics: Metrics
    applied: np.ndarray
    last: bool
    evaluation: dict | None = None
    progress: Any = None

    @property
    def first_update(self) -> int:
        return self.updates_done - int(self.applied.shape[1])


@dataclasses.dataclass
class Board:
    """What the loop and its parts share while one run runs (host side, this process)."""

    pop: Population
    spec: RunSpec
    kind: Any  # runner.kinds.Train or Sweep
    out: Path | None
    total: int  # the update count the run goes to
    base: int  # updates done before this process started (a resume)
    pacer: Pacer  # the chunks' lengths: boundaries (progress, saves, evaluations) and time
    signals: Signals
    say: Callable[[str], None]
    lead: bool
    alive: np.ndarray  # [R] runs still training
    diverged: dict[int, str]  # point -> message
    collected: list[Metrics]  # per chunk, masked, [R, chunk]
    ckpt: Any = None  # the checkpoint resumed from, or None
    writer: Any = None  # the run directory's writer (``rundir.Writer``), or None
    hp: Any = None  # the per-run HParams (device, leaves [padded_runs]) the next chunk trains with
    extra: dict = dataclasses.field(default_factory=dict)  # parts' own state, saved in checkpoint.json
    updates_done: int = 0
    steps_done: int = 0  # valid env steps trained by this process
    finished: tuple | None = None  # (state, alive) on device: the last chunk read back
    stop_reasons: set = dataclasses.field(default_factory=set)  # why parts asked the loop to stop
    dropped: bool = False  # an urgent stop dropped the chunk that was running
    eval_returns: dict | None = None  # the final evaluation, [H, S, K] per mode
    eval_curve: list[dict] = dataclasses.field(default_factory=list)
    timings: dict = dataclasses.field(default_factory=dict)
    t_train: float = 0.0
    _freeze: np.ndarray | None = None
    _queued: bool = False

    def stopping(self) -> bool:
        """Whether no further chunk may be dispatched (a signal, or a part asked)."""
        return self.signals() or bool(self.stop_reasons)

    def request_stop(self, reason: str) -> None:
        """Dispatch no further chunk (the one already queued is still read back)."""
        self.stop_reasons.add(reason)

    def freeze(self, runs: np.ndarray) -> None:
        """Stops ``runs`` (bool ``[R]``) training from the queued chunk on."""
        runs = np.asarray(runs, bool)
        self.alive &= ~runs
        self._freeze = runs if self._freeze is None else self._freeze | runs

    def edit(self, fn: Callable) -> None:
        """At a synchronisation point (no chunk queued), ``fn(state, alive, hp) -> (state, alive, hp)``
        gives the state the next chunk starts from (and what a save now writes)."""
        if self._queued:
            raise RuntimeError("Board.edit needs a synchronisation point (Pacer.add_sync): a chunk is queued")
        state, alive = self.finished
        state, alive, self.hp = fn(state, alive, self.hp)
        self.finished = (state, alive)

    def read_back(self, done: Pending, last: bool) -> Chunk:
        """Gathers a finished chunk (its first ``count`` updates), masks what was not applied, counts it."""
        self.pacer.observe(done, time.perf_counter())
        n = done.count
        raw = jax.tree.map(lambda x: x[:, :n], self.pop.gather(done.metrics))
        applied = self.pop.gather(done.applied)[:, :n]
        masked = _mask(raw, applied)
        self.collected.append(masked)
        self.updates_done += n
        self.steps_done += int(np.asarray(masked.env_steps, np.int64).sum())
        return Chunk(self.updates_done, raw, masked, applied, last)

    def metrics(self) -> Metrics:
        """Every update so far, leaves ``[R, U]`` (U = 0 before the first chunk)."""
        if not self.collected:
            return Metrics(*(np.zeros((self.pop.num_runs, 0), np.int32 if f in _INTS else np.float32)
                             for f in Metrics._fields))
        return Metrics(*(np.concatenate([getattr(c, f) for c in self.collected], axis=1) for f in Metrics._fields))

    def _next(self, queued: Pending | None, program: Callable) -> Pending | None:
        """The chunk to wait for next: the one queued (with any runs frozen since), or, at a
        synchronisation point, one dispatched now from the (possibly edited) finished state."""
        runs, self._freeze = self._freeze, None
        if queued is not None:
            if runs is None or not self.alive.any():
                return queued
            return queued._replace(alive=self.pop.freeze(queued.alive, runs))
        if self.pacer.done() or self.stopping():
            return None
        state, alive = self.pop.copy(self.finished)  # the finished state stays (a stop saves it)
        if runs is not None:
            alive = self.pop.freeze(alive, runs)
        return self.pacer.dispatch(program, state, alive, self.hp)


def drive(board: Board, program: Callable, state, alive, parts: Sequence[Part]) -> None:
    """Runs the board's remaining updates of ``program`` from ``(state, alive)`` with ``board.hp``,
    calling the parts.

    Chunk i+1 is queued before chunk i is read back (the device never waits for the host), except
    at a synchronisation point. A signal stops the run: a graceful one (SIGINT) after the chunk
    running, the one queued behind it dropped; an urgent one (SIGTERM, SIGHUP) at once, keeping
    the last chunk read back.
    """
    board.finished = board.pop.copy((state, alive))
    for part in parts:
        part.start(board)
    board.t_train = time.perf_counter()
    pending = None if board.stopping() or board.pacer.done() else \
        board.pacer.dispatch(program, state, alive, board.hp)
    while pending is not None:
        pacer = board.pacer
        if pacer.done() or board.stopping() or pacer.is_sync(pacer.dispatched):
            ahead, queued = (pending.state, pending.alive), None
        else:  # dispatch ahead: chunk i+1 is queued before chunk i is read back
            ahead = board.pop.copy((pending.state, pending.alive))
            queued = pacer.dispatch(program, pending.state, pending.alive, board.hp)
        if not wait((pending.metrics, pending.applied, ahead), board.signals):
            board.dropped = True
            break
        board.finished, board._queued = ahead, queued is not None
        chunk = board.read_back(pending, last=queued is None and (pacer.done() or board.stopping()))
        for part in parts:
            part.after_chunk(board, chunk)
        pending = board._next(queued, program)
        if pending is None or board.signals():  # a signal: the chunk queued is dropped
            break
        if not board.alive.any():  # every run is frozen: the chunk already running changes nothing
            if wait(pending, board.signals):
                board.finished = (pending.state, pending.alive)
            break
    board.timings["train_s"] = time.perf_counter() - board.t_train
    if board.dropped:
        board.say(f"  {board.signals.received}: the chunk that was running is dropped; "
                  f"keeping update {board.updates_done}")
    for part in parts:
        part.finish(board)


def _mask(m: Metrics, applied: np.ndarray) -> Metrics:
    """Metrics of updates a run did not apply (it had diverged): NaN, and 0 env steps."""
    if applied.all():
        return m
    out = {}
    for f in Metrics._fields:
        v = np.asarray(getattr(m, f))
        if f in _INTS:
            out[f] = np.where(applied, v, 0).astype(v.dtype)
        else:
            out[f] = np.where(applied, v, np.nan).astype(v.dtype)
    return Metrics(**out)
