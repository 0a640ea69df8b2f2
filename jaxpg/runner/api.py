"""``run`` and ``resume``: a ``RunSpec`` through the chunk loop, with the parts every run has.

Example::

    import jaxpg
    from jaxpg.runner import RunSpec
    result = jaxpg.run(RunSpec(jaxpg.Config(env="CartPole-v1"), seeds=8), out="runs/cp")
    result.metrics.mean_return.shape   # (1, 8, 150): [points, seeds, updates]
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from jaxpg import checkpoint, compile_cache, rundir
from jaxpg.runner import memory
from jaxpg.runner.kinds import kind_of
from jaxpg.runner.loop import Board, Part, drive
from jaxpg.runner.pacing import Pacer
from jaxpg.runner.parts import (
    Checkpointing,
    Divergence,
    EvaluateDuring,
    FinalEvaluation,
    Progress,
    ProgressReport,
    StepBudget,
    budget_spent,
    steps_per_run,
)
from jaxpg.runner.population import Population
from jaxpg.runner.signals import Signals
from jaxpg.runner.spec import MAX_UPDATES, RunError, RunSpec, Schedule, chunk_length
from jaxpg.text import count
from jaxpg.train import make_trainer
from jaxpg.types import Config, Metrics

__all__ = ["run", "resume", "RunResult"]


class RunResult(NamedTuple):
    """What ``run``/``resume`` return (host numpy arrays, leading ``[H, S]``).

    Attributes:
      metrics: ``Metrics`` with leaves ``[H, S, updates_done]`` (updates a run did not apply
        after it diverged are NaN, env_steps 0).
      eval_returns: ``{"sampled": [H, S, K], "greedy": [H, S, K]}``, or None (not evaluated).
      state: the final ``TrainState`` (device arrays, leading ``[padded_runs]``).
      population: the ``Population``.
      updates_done: updates every run was driven through.
      diverged: ``{point: message}`` of the points with a seed that went non-finite.
      interrupted: the signal name that stopped the run early (``"SIGINT"``...), or None.
      stopped_early: every run reached the ``EarlyStop`` target.
      timings: ``compile_s``, ``train_s``, ``eval_s``, ``wall_s``.
      env_steps: valid env steps trained by this process (not counting a resumed past).
      out: the run directory, or None.
      spec: the ``RunSpec`` (its evaluation step limit resolved).
      eval_curve: with ``eval_every``, the evaluations during training: ``{"update": [E],
        "env_steps", "sampled_mean", "sampled_std", "greedy_mean", "greedy_std": [H, S, E]}``
        (``env_steps``: each run's valid training steps so far); else None.
      trained_updates: updates this process trained (0: stopped before the first chunk finished).
    """

    metrics: Metrics
    eval_returns: dict[str, np.ndarray] | None
    state: Any
    population: Population
    updates_done: int
    diverged: dict[int, str]
    interrupted: str | None
    stopped_early: bool
    timings: dict[str, float]
    env_steps: int
    out: Path | None
    spec: RunSpec
    eval_curve: dict[str, np.ndarray] | None = None
    trained_updates: int = 0

    @property
    def kind(self) -> str:
        """``"train"`` or ``"sweep"``."""
        return kind_of(self.spec).name

    @property
    def exit_code(self) -> int:
        """What a command line exits with: 128+signal when interrupted, else 0."""
        if self.interrupted:
            return 128 + int(getattr(signal, self.interrupted, signal.SIGINT))
        return 0


class _Launch(NamedTuple):
    """One run about to start: its population, what the run directory records, where it resumes."""

    pop: Population
    record: dict
    ckpt: Any  # checkpoint.Checkpoint or None
    total: int
    out: Path | None
    overwrite: bool


def run(spec: RunSpec, out: str | Path | None = None, *, schedule: Schedule | None = None,
        parts: Sequence[Part] = (), progress: Callable[[Progress], None] | None = None,
        log: Callable[[str], None] | None = None, mesh: Mesh | None = None, overwrite: bool = False,
        handle_signals: bool = True, updates: int | None = None) -> RunResult:
    """Trains the population of ``spec``, evaluates it and writes ``out``.

    Args:
      spec: the ``RunSpec`` (``config``, ``hparams``, ``points``, ``seeds``, ``seed``, ``evaluation``).
      out: the run directory (``None``: write nothing). It must be empty or new unless
        ``overwrite`` (the old run is removed once the new one has written its first checkpoint);
        continue a run with ``resume``.
      schedule: how the run is driven (``Schedule``: chunk length, periodic saves, memory budget).
      parts: more parts for the loop (``EarlyStop(target)``, trackers...), after the standard ones.
      progress: called with a ``Progress`` after every chunk. log: called with each human-readable
        line (start, compile time, a progress line per chunk, notes).
      mesh: the ``"runs"`` mesh (default: every device). handle_signals: SIGINT/SIGTERM/SIGHUP stop
        the run and save what it finished (``jaxpg.runner.signals``).
      updates: the updates the loop drives (default ``config.num_updates``; a search whose slots
        train one trial after another drives more than one trial's budget).

    Raises:
      RunError: bad arguments (one line, before anything is compiled).
    """
    t_start = time.perf_counter()
    if not isinstance(spec, RunSpec):
        raise RunError(f"`spec` must be a jaxpg RunSpec, got {type(spec).__name__}")
    trainer = _trainer(spec)
    spec = spec.with_eval_limit(int(trainer.env_params.max_steps_in_episode))
    schedule = schedule or Schedule()
    pop = Population(spec, mesh, trainer, chunk=schedule.chunk)
    out = None if out is None else Path(out)
    with _writing(out):
        if out is not None:
            _rundir(rundir.prepare, out, overwrite=overwrite, lead=jax.process_index() == 0, create=False)
        record = {**spec.record(), "run_id": uuid.uuid4().hex, "spec_sha256": spec.digest()}
        if updates is not None and spec.config.total_steps is not None:
            raise RunError("`updates` and `total_steps` size a run two ways: give one")
        total = spec.config.num_updates if updates is None else int(updates)
        if not 1 <= total <= MAX_UPDATES:
            raise RunError(f"`updates` must be in 1..{MAX_UPDATES:,}, got {total}")
        return _execute(_Launch(pop, record, None, total, out, bool(overwrite)), schedule,
                        _parts(spec.config, schedule, progress, parts), log, handle_signals, t_start)


def resume(out: str | Path, *, updates: int | None = None, extend: int | None = None,
           schedule: Schedule | None = None,
           evaluation: dict | None = None, parts: Sequence[Part] = (),
           progress: Callable[[Progress], None] | None = None, log: Callable[[str], None] | None = None,
           mesh: Mesh | None = None, handle_signals: bool = True) -> RunResult | None:
    """Continues the run saved in ``out`` to ``updates`` total updates (default: its own), or
    extends a finished run by ``extend`` more updates.

    Past the run's own ``num_updates``, a linear learning-rate schedule is at 0: ``updates``
    beyond it are refused for such a run. ``extend=N`` is the real extension: the config's
    ``num_updates`` becomes the updates done + N and its ``schedule_start`` the updates done, so
    the linear schedules (learning rate, entropy) decay afresh from their full values to 0 over
    the N new updates; a constant schedule simply continues. The extended settings are saved with
    the run (a later ``resume`` continues them).

    ``evaluation``: changes to the saved evaluation settings (``Evaluation`` fields: ``episodes``,
    ``greedy``, ``max_steps``, ``every``; ``None`` values keep the saved ones). Returns ``None``
    (and changes nothing) when the run has already done its updates and written its results; a run
    whose results were not written (a stop during its final save) gets its final evaluation and
    results file.

    Raises:
      RunError: no loadable checkpoint, ``updates`` below the updates already done or past a
        linear schedule's end, or ``extend`` on a run that has not finished its updates.
    """
    t_start = time.perf_counter()
    out = Path(out)
    with _writing(out):
        return _resume(out, updates, extend, schedule, evaluation, parts, progress, log, mesh, handle_signals,
                       t_start)


def _extended(ck, updates, extend) -> tuple[Config, int]:
    """``(config, total)`` of a resume: the saved config, or the extended one (see ``resume``)."""
    config, done = ck.config, ck.updates_done
    if config.total_steps is not None and (updates is not None or extend is not None):
        raise RunError(f"this run is sized by `total_steps` ({config.total_steps:,} env steps per seed): it "
                       "resumes to that budget; neither `updates` nor `extend` applies")
    if extend is None:
        total = config.num_updates if updates is None else int(updates)
        if total < done:
            raise RunError(f"`updates` {total} is below the {done} updates already done")
        # a search drives its slots past num_updates by design: each trial runs its own schedule
        if total > config.num_updates and config.lr_schedule == "linear" and "search" not in ck.meta:
            raise RunError(f"this run's linear learning-rate schedule reaches 0 at update {config.num_updates}: "
                           f"updates past it would not learn. Extend the run instead: `extend` "
                           f"{total - done} (a fresh linear decay over the new updates)")
        return config, total
    if updates is not None:
        raise RunError("give `updates` (resume to that total) or `extend` (updates to add), not both")
    if isinstance(extend, bool) or not isinstance(extend, int | np.integer) or extend < 1:
        raise RunError(f"`extend` must be a positive number of updates, got {extend!r}")
    if done < config.num_updates:
        raise RunError(f"the run has done {done} of its {config.num_updates} updates: resume it to its end "
                       "first (no `extend`); `extend` adds updates to a finished run")
    total = done + int(extend)
    linear = "linear" in (config.lr_schedule, config.entropy_schedule)
    return config.replace(num_updates=total, schedule_start=done if linear else config.schedule_start), total


def _resume(out: Path, updates, extend, schedule, evaluation, parts, progress, log, mesh, handle_signals,
            t_start):
    _rundir(rundir.check_no_symlinks, out)
    ck = _rundir(checkpoint.load, out, whole=True)
    config, total = _extended(ck, updates, extend)
    if total > MAX_UPDATES:
        raise RunError(f"`updates` must be at most {MAX_UPDATES:,}, got {total:,}")
    spec = RunSpec.from_record(ck.meta, config, ck.hparams)
    finished = total == ck.updates_done or (config.total_steps is not None and budget_spent(
        steps_per_run(Metrics(**{f: ck.metrics[f] for f in Metrics._fields})), ck.alive, config.total_steps))
    if finished and _results_complete(out, kind_of(spec), ck.updates_done):
        return None
    spec = spec.replace(evaluation=spec.evaluation.replace(**(evaluation or {})))
    trainer = _trainer(spec)
    spec = spec.with_eval_limit(int(trainer.env_params.max_steps_in_episode))
    schedule = schedule or Schedule()
    pop = Population(spec, mesh, trainer, chunk=schedule.chunk)
    record = {**spec.record(), "run_id": ck.meta.get("run_id") or uuid.uuid4().hex, "spec_sha256": spec.digest()}
    if extend is not None and log is not None and config.schedule_start != ck.config.schedule_start:
        log(f"extending to update {total}: the linear schedules restart, decaying from their full values at "
            f"update {config.schedule_start} to 0 at update {total}")
    return _execute(_Launch(pop, record, ck, total, out, False), schedule,
                    _parts(spec.config, schedule, progress, parts), log,
                    handle_signals, t_start)


def _results_complete(out: Path, kind, updates_done: int) -> bool:
    """Whether ``out`` holds the results of its run at ``updates_done``, written after a finished save."""
    try:
        res = json.loads((out / kind.results_file).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(res, dict) and res.get("updates_done") == updates_done and res.get("interrupted") is False


@contextlib.contextmanager
def _writing(out: Path | None):
    """This process is the run directory's one writer while the block runs (``rundir.locked``)."""
    if out is None:
        yield
        return
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(rundir.locked(out, jax.process_index() == 0))
        except rundir.RunDirError as e:
            raise RunError(str(e)) from None
        yield


def _parts(config: Config, schedule: Schedule, progress, extra: Sequence[Part]) -> list[Part]:
    """The parts every run has, in the order the loop calls them, with the caller's before the last
    (and a ``StepBudget`` after ``Divergence`` for a run sized by ``total_steps``)."""
    budget = [] if config.total_steps is None else [StepBudget(config.total_steps)]
    return [Divergence(), *budget, EvaluateDuring(), ProgressReport(progress), Checkpointing(schedule.save_every),
            *extra, FinalEvaluation()]


def _trainer(spec: RunSpec):
    compile_cache.enable()  # the persistent compilation cache (JAXPG_COMPILE_CACHE=0: off)
    try:
        return make_trainer(spec.config, seed_axis="runs_local")  # builds and checks the env, once
    except RunError:
        raise
    except ValueError as e:
        raise RunError(str(e)) from None


def _rundir(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (checkpoint.CheckpointError, rundir.RunDirError) as e:
        raise RunError(str(e)) from None


def _execute(launch: _Launch, schedule: Schedule, parts: list[Part], log, handle_signals: bool,
             t_start: float) -> RunResult:
    pop, ck, out, total = launch.pop, launch.ckpt, launch.out, launch.total
    spec, kind, lead = pop.spec, kind_of(pop.spec), jax.process_index() == 0
    say = (lambda text: None) if (log is None or not lead) else log
    base = 0 if ck is None else ck.updates_done
    ev = spec.evaluation
    period = chunk_length(total - base, schedule.chunk, (schedule.save_every, ev.every))
    if schedule.save_every is not None and out is None:
        raise RunError("`save_every` needs `out` (the directory the checkpoints go to)")
    pacer = Pacer(base, total, period, pop.capacity, schedule.chunk_seconds, (schedule.save_every, ev.every))
    _same_everywhere(spec, total, period, schedule, parts)
    signals = Signals(lead, handle_signals)
    try:
        with signals, memory.oom_as_error():  # from here a signal stops the run and keeps what it finished
            n_dev = pop.n_dev
            verb = f"resuming {out} at update {base}: " if ck is not None else ""
            size = count(total, "update") if spec.config.total_steps is None else \
                f"{spec.config.total_steps:,} valid env steps per seed (at most {total:,} updates)"
            say(f"jaxpg {kind.name}: {verb}{spec.config.env}, {kind.describe(pop)} x "
                f"{count(spec.config.num_envs, 'env')}, "
                f"{size}, {count(n_dev, jax.default_backend() + ' device')} in "
                f"{count(jax.process_count(), 'process', 'processes')}")
            if pop.padded_runs != pop.num_runs:
                say(f"  {pop.num_runs} runs do not divide over {n_dev} devices: padded to {pop.padded_runs} "
                    "(the padding repeats the last run and is dropped from the results)")
            t0 = time.perf_counter()
            pop.compiled_chunk()  # from abstract inputs: nothing is allocated before the memory plan
            plan = memory.plan(pop, ev.episodes, ev.max_steps, schedule.max_memory)
            if plan.wave_runs is not None:
                say(f"  {plan.text}")
                pop = pop.with_waves(plan.wave_runs)
            program = pop.compile()
            if ck is None:
                (state, alive), collected, alive_host = pop.init(), [], np.ones(pop.num_runs, bool)
            else:
                state, alive = pop.place(ck.state, ck.alive)
                collected = [Metrics(**{f: ck.metrics[f] for f in Metrics._fields})]
                alive_host = np.asarray(ck.alive, bool).copy()
            compile_s = time.perf_counter() - t0
            say(f"compiled in {compile_s:.1f} s")
            board = Board(pop, spec, kind, out, total, base, pacer, signals, say, lead, alive_host, {}, collected,
                          ckpt=ck, updates_done=base, timings={"compile_s": compile_s}, hp=pop.hparams())
            if out is not None:
                board.writer = rundir.Writer(out, pop, kind, launch.record, lead, launch.overwrite)
            drive(board, program, state, alive, parts)
            result = _result(board, t_start)
    except BaseException as e:
        for part in parts:
            part.close(None)
        if isinstance(e, OSError):  # a full disk, a directory gone: one line; the last checkpoint stands
            raise RunError(f"cannot write the run directory: {e.strerror or e}"
                           + (f" ({e.filename})" if e.filename else "")) from None
        raise
    for part in parts:
        part.close(result)
    return result


def _result(board: Board, t_start: float) -> RunResult:
    pop = board.pop
    curve, eval_curve = board.eval_curve, None
    if curve:
        eval_curve = {"update": np.array([c["update"] for c in curve])}
        for k in curve[0]:
            if k != "update":
                eval_curve[k] = np.stack([c[k] for c in curve], axis=-1)
    metrics = board.metrics()
    return RunResult(Metrics(*(pop.to_points(getattr(metrics, f)) for f in Metrics._fields)), board.eval_returns,
                     board.finished[0], pop, board.updates_done, board.diverged, board.signals.received,
                     "target" in board.stop_reasons, {**board.timings, "wall_s": time.perf_counter() - t_start},
                     board.steps_done, board.out, board.spec, eval_curve, board.updates_done - board.base)


def _same_everywhere(spec: RunSpec, total: int, period: int, schedule: Schedule, parts: Sequence[Part]) -> None:
    """In a multi-process run, every process must run the same population: compares a hash of the
    spec and the schedule across processes and refuses (one line) a mismatch, before compiling."""
    if jax.process_count() == 1:
        return
    extra = [total, period, schedule.save_every, [getattr(p, "fingerprint", "") for p in parts]]
    digest = hashlib.sha256(json.dumps([spec.digest(), extra], sort_keys=True, default=str).encode()).digest()
    every = np.asarray(multihost_utils.process_allgather(np.frombuffer(digest[:8], np.uint32)))
    differ = [i for i in range(every.shape[0]) if not np.array_equal(every[i], every[0])]
    if differ:
        raise RunError(f"the processes disagree on the run's settings (process {differ[0]} differs from "
                       "process 0): start every process with the same settings")
