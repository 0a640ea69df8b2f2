"""Hyperparameter search on the run layer: random search, successive halving and PBT in one program.

``tune`` draws trials from ranges of the traced hyperparameters (``runner.space``), runs P of
them at a time as the slots of one compiled, sharded program (``runner.parts.search.Search``:
new values never recompile), ranks them by a chosen metric and writes ``tune.json``::

    from jaxpg.runner.space import Space
    search = TuneSpec([Space.parse("learning_rate", "1e-3..1e-1")], trials=32, population=8, scheduler="halving")
    result = tune(Config(env="CartPole-v1", num_updates=40), search, seeds=2, out="runs/tune")
    result.record["best"], result.record["trials"][result.record["best"]]["hparams"]

Metrics (training returns of a trial, averaged over its seeds): ``final`` (the mean of the last
tenth of its updates), ``auc`` (the mean over all its updates: rewards learning fast), and
``steps-to:T`` (its valid env steps until the mean return over 10 updates first reaches T; fewer
is better, never reaching it ranks last). A winner's score on the seeds that chose it is biased
upward: ``confirm_seeds`` retrains it from scratch on fresh seeds and reports that score.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxpg import checkpoint, rundir
from jaxpg.fileio import atomic_write_json
from jaxpg.runner import Evaluation, RunError, RunResult, RunSpec, Schedule, resume, run
from jaxpg.runner.parts.search import SCHEDULERS, Search
from jaxpg.runner.space import Space, draw
from jaxpg.scores import TRAINING_METRICS as METRICS
from jaxpg.scores import check_metric, score
from jaxpg.types import Config, HParams

__all__ = ["TuneSpec", "TuneResult", "tune", "tune_resume", "score", "METRICS"]



@dataclasses.dataclass(frozen=True)
class TuneSpec:
    """What a search is: the spaces, ``trials`` in all, ``population`` slots at once, the scheduler
    (``none``, ``halving``, ``pbt``) and its settings, and the ranking ``metric``."""

    spaces: tuple[Space, ...]
    trials: int = 16
    population: int = 8
    scheduler: str = "none"
    eta: int = 3
    min_updates: int | None = None
    interval: int | None = None
    fraction: float = 0.25
    metric: str = "final"

    def __post_init__(self):
        object.__setattr__(self, "spaces", tuple(self.spaces))
        if not self.spaces:
            raise RunError("a search needs at least one searched field (a range LOW..HIGH or choices A,B)")
        if self.scheduler not in SCHEDULERS:
            raise RunError(f"`scheduler` must be one of {', '.join(SCHEDULERS)}, got {self.scheduler!r}")
        for name in ("trials", "population", "eta"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (2 if name == "eta" else 1):
                raise RunError(f"`{name}` must be an integer of at least {2 if name == 'eta' else 1}, got {v!r}")
        for name in ("min_updates", "interval"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise RunError(f"`{name}` must be a positive integer, got {v!r}")
        if not 0 < self.fraction <= 0.5:
            raise RunError(f"`fraction` must be in (0, 0.5], got {self.fraction!r}")
        if self.population > self.trials:
            raise RunError(f"`population` {self.population} is more than the {self.trials} `trials`")
        if self.scheduler == "pbt" and self.trials != self.population:
            raise RunError("pbt trains one population: give `trials` equal to `population`")
        try:
            check_metric(self.metric, training_only=True)
        except ValueError as e:
            raise RunError(str(e)) from None

    def updates(self, budget: int) -> int:
        """The updates the loop drives: one budget per round of P trials (halving stops early)."""
        return budget if self.scheduler == "pbt" else math.ceil(self.trials / self.population) * budget

    def record(self) -> dict:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "spaces"},
                "spaces": [s.record() for s in self.spaces]}

    @classmethod
    def from_record(cls, d: dict) -> TuneSpec:
        return cls(**{**d, "spaces": tuple(Space.from_record(s) for s in d["spaces"])})


class TuneResult(NamedTuple):
    """``record``: what ``tune.json`` holds; ``run``: the search's ``RunResult``; ``confirm``: the
    winner retrained on fresh seeds (``RunResult``), or None."""

    record: dict
    run: RunResult | None
    confirm: RunResult | None = None


def tune(config: Config, search: TuneSpec, *, hparams: HParams | None = None, seeds: int = 2, seed: int = 0,
         out: str | Path | None = None, schedule: Schedule | None = None, confirm_seeds: int = 0,
         log: Callable[[str], None] | None = None, handle_signals: bool = True, parts: Sequence = ()) -> TuneResult:
    """Runs the search (see the module doc) and writes ``out/tune.json`` with the run's files;
    ``parts``: more parts for the loop, after the search's."""
    hparams = HParams() if hparams is None else hparams
    points = [draw(search.spaces, seed, t) for t in range(search.population)]
    spec = RunSpec(config, hparams, points, tuple(s.field for s in search.spaces), seeds, seed,
                   Evaluation(episodes=0))
    part = _part(search)
    r = run(spec, out, schedule=schedule, parts=[part, *parts], log=log, handle_signals=handle_signals,
            updates=search.updates(config.num_updates))
    return _finish(r, part, search, config, hparams, seeds, seed, out, confirm_seeds, log)


def _part(search: TuneSpec) -> Search:
    return Search(list(search.spaces), search.trials, search.scheduler, eta=search.eta,
                  min_updates=search.min_updates, interval=search.interval, fraction=search.fraction,
                  record=search.record())


def tune_resume(out: str | Path, *, schedule: Schedule | None = None, confirm_seeds: int = 0,
                log: Callable[[str], None] | None = None, handle_signals: bool = True) -> TuneResult | None:
    """Continues the search saved in ``out`` (bit for bit where the uninterrupted search goes)."""
    out = Path(out)
    meta = rundir.read_json(out / "checkpoint.json")
    if not isinstance(meta, dict) or not isinstance(meta.get("search"), dict) or "tune" not in meta["search"]:
        raise RunError(f"{out} holds no search (jaxpg tune) to resume")
    search = TuneSpec.from_record(meta["search"]["tune"])
    config = checkpoint.config_from_dict(meta["config"])
    part = _part(search)
    r = resume(out, updates=search.updates(config.num_updates), schedule=schedule, parts=[part], log=log,
               handle_signals=handle_signals)
    if r is None:
        return None
    return _finish(r, part, search, config, r.spec.hparams, r.spec.seeds, r.spec.seed, out, confirm_seeds, log)


def _finish(r: RunResult, part: Search, search: TuneSpec, config: Config, hparams: HParams, seeds: int, seed: int,
            out, confirm_seeds: int, log) -> TuneResult:
    st = part.state
    trials = []
    for i, t in enumerate(st["trials"]):
        trials.append({"index": i, "hparams": t["hparams"], "status": t["status"], "updates": t["updates"],
                       "env_steps": t["env_steps"], "history": t["history"], "slot": t.get("slot", i),
                       "score": score(t["returns"], np.cumsum(t["steps"]) / seeds, search.metric),
                       "started_at": t.get("started_at", 0)})
    ranked = sorted((x for x in trials if x["status"] != "diverged" and x["updates"] > 0),
                    key=lambda x: (-x["updates"], -x["score"], x["index"]))
    record = {"metric": search.metric, "scheduler": search.record(), "root_seed": seed, "seeds": seeds,
              "budget": config.num_updates, "env_steps": int(sum(x["env_steps"] for x in trials)),
              "best": ranked[0]["index"] if ranked else None, "ranking": [x["index"] for x in ranked],
              "trials": trials, "interrupted": r.interrupted}
    confirm = None
    if confirm_seeds and record["best"] is not None and r.interrupted is None:
        best = trials[record["best"]]["hparams"]
        confirm = run(RunSpec(config, hparams.replace(**best), seeds=confirm_seeds, seed=seed + 1_000_003,
                              evaluation=Evaluation(episodes=32)), log=log, handle_signals=False)
        ret = np.nanmean(confirm.metrics.mean_return[0], axis=0)
        steps = np.cumsum(np.asarray(confirm.metrics.env_steps[0], np.int64), axis=1).mean(0)
        ev = confirm.eval_returns["sampled"][0]
        record["confirm"] = {"seeds": confirm_seeds, "root_seed": seed + 1_000_003, "hparams": best,
                             "score": score(ret, steps, search.metric),
                             "eval_score_per_seed": [float(x.mean() - x.std()) for x in ev],
                             "env_steps": int(np.asarray(confirm.metrics.env_steps, np.int64).sum())}
    if out is not None:
        atomic_write_json(Path(out) / "tune.json", record)
    return TuneResult(record, r, confirm)

