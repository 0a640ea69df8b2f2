"""The run directory: one writer (the driver's) and one reader (eval, render, plot).

Layout of ``--out DIR`` for a population of H points × S seeds::

    checkpoint.json, checkpoints/<U>/   the state (``jaxpg.checkpoint``)
    metrics.csv                         one row per (point,) seed and update:
                                        ``seed,update,...`` for a train run,
                                        ``point,<swept fields>,seed,update,...`` for a sweep
    evals.csv                           with --eval-every: the evaluations during training, one row
                                        per (point,) seed and evaluation, sampled and greedy
    summary.json                        a train run: settings, timings, evaluation per seed
    sweep.json                          a sweep: the same per point, and which points diverged

Every file is written atomically by process 0 (``jaxpg.fileio.atomic_write``), at each
checkpoint and at the end, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from jaxpg import checkpoint
from jaxpg.evaluate import summarize
from jaxpg.fileio import atomic_write, atomic_write_json
from jaxpg.types import Metrics

__all__ = ["prepare", "Writer", "RunDirError", "holds_a_run", "metrics_csv", "evals_csv", "read_evals",
           "RESULT_FILES"]

RESULT_FILES = ("checkpoint.json", "summary.json", "sweep.json", "metrics.csv", "evals.csv")
CSV_FIELDS = ("env_steps", "mean_return", "loss", "mean_length", "entropy", "grad_norm")


class RunDirError(ValueError):
    """The output directory cannot be used (one line)."""


def holds_a_run(out: Path) -> bool:
    """Whether ``out`` already holds a run's files."""
    return any((out / f).exists() for f in RESULT_FILES) or (out / "checkpoints").exists()


def prepare(out: Path, overwrite: bool = False, lead: bool = True, create: bool = True) -> None:
    """Checks ``out`` before anything is compiled: creatable, writable, and not another run's;
    then creates it (``create``; the driver creates it only once the run is known to fit).

    Raises:
      RunDirError: ``out`` is empty-named, not a directory, not writable, holds another run
        (without ``overwrite``), or its ``checkpoints`` is a symlink (pruning would reach
        outside ``out``).
    """
    if str(out) == "":
        raise RunDirError("--out must name a directory, got ''")
    try:
        os.fsencode(str(out))
        str(out).encode("utf-8")
    except UnicodeError:
        raise RunDirError(f"--out {str(out)!r} is not a valid UTF-8 path") from None
    if out.exists() and not out.is_dir():
        raise RunDirError(f"cannot write to --out {str(out)!r}: it exists and is not a directory")
    if out.is_dir() and holds_a_run(out) and not overwrite:
        raise RunDirError(f"--out {str(out)!r} already holds a run: continue it with --resume "
                          f"{str(out)!r}, replace it with --overwrite, or choose another --out")
    check_no_symlinks(out)
    if not lead:
        return
    if not create:
        parent = next((p for p in [out, *out.absolute().parents] if p.exists()), None)
        if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise RunDirError(f"cannot write to --out {str(out)!r}: "
                              f"{'permission denied' if parent is not None else 'no such directory'}")
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as e:
        raise RunDirError(f"cannot write to --out {str(out)!r}: {e.strerror or e}") from None


def check_no_symlinks(out: Path) -> None:
    """Refuses a run directory whose ``checkpoints`` folder is a symlink."""
    steps = out / "checkpoints"
    if steps.is_symlink():
        raise RunDirError(f"{steps} is a symlink; jaxpg keeps checkpoints only inside the run directory "
                          "(make it a real directory)")


def metrics_csv(metrics: Metrics, points: list[dict], axes: list[str], kind: str) -> str:
    """``metrics.csv`` text of ``Metrics`` with leaves ``[H, S, U]``."""
    buf = io.StringIO()
    w = csv.writer(buf)
    sweep = kind == "sweep"
    w.writerow([*(["point", *axes] if sweep else []), "seed", "update", *CSV_FIELDS])
    cum = np.cumsum(np.asarray(metrics.env_steps, np.int64), axis=2)
    vals = {f: np.asarray(getattr(metrics, f)) for f in CSV_FIELDS[1:]}
    H, S, U = cum.shape
    for h in range(H):
        lead = [h, *(f"{points[h].get(a, float('nan')):g}" for a in axes)] if sweep else []
        for s in range(S):
            for u in range(U):
                w.writerow([*lead, s, u + 1, int(cum[h, s, u]),
                            *(f"{vals[f][h, s, u]:.6g}" for f in CSV_FIELDS[1:])])
    return buf.getvalue()


EVAL_FIELDS = ("sampled_mean", "sampled_std", "sampled_score", "greedy_mean", "greedy_std", "greedy_score")


def evals_csv(curve: list[dict], points: list[dict], axes: list[str], kind: str) -> str:
    """``evals.csv`` text of the evaluations during training (``RunResult.eval_curve`` rows):
    one row per point, seed and evaluation, both modes; score = mean - std."""
    buf = io.StringIO()
    w = csv.writer(buf)
    sweep = kind == "sweep"
    w.writerow([*(["point", *axes] if sweep else []), "seed", "update", "env_steps", *EVAL_FIELDS])
    if not curve:
        return buf.getvalue()
    H, S = np.asarray(curve[0]["env_steps"]).shape
    for h in range(H):
        lead = [h, *(f"{points[h].get(a, float('nan')):g}" for a in axes)] if sweep else []
        for s in range(S):
            for c in curve:
                vals = []
                for mode in ("sampled", "greedy"):
                    m, sd = float(c[f"{mode}_mean"][h, s]), float(c[f"{mode}_std"][h, s])
                    vals += [f"{m:.6g}", f"{sd:.6g}", f"{m - sd:.6g}"]
                w.writerow([*lead, s, c["update"], int(c["env_steps"][h, s]), *vals])
    return buf.getvalue()


def read_evals(out: Path | None, pop, up_to: int) -> list[dict]:
    """The rows of ``out/evals.csv`` at or before update ``up_to`` (what a resumed run keeps:
    evaluations after its checkpoint are redone), in ``RunResult.eval_curve`` row form."""
    if out is None or not (Path(out) / "evals.csv").is_file():
        return []
    with open(Path(out) / "evals.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_update: dict[int, dict] = {}
    H, S = pop.num_points, pop.seeds
    for r in rows:
        u = int(r["update"])
        if u > up_to:
            continue
        c = by_update.setdefault(u, {"update": u, "env_steps": np.zeros((H, S), np.int64),
                                     **{f"{m}_{f}": np.zeros((H, S)) for m in ("sampled", "greedy")
                                        for f in ("mean", "std")}})
        h, s = int(r.get("point", 0) or 0), int(r["seed"])
        c["env_steps"][h, s] = int(r["env_steps"])
        for m in ("sampled", "greedy"):
            for f in ("mean", "std"):
                c[f"{m}_{f}"][h, s] = float(r[f"{m}_{f}"])
    return [by_update[u] for u in sorted(by_update)]


def _machine() -> dict:
    import jax

    return {"backend": jax.default_backend(), "devices": jax.device_count(),
            "processes": jax.process_count(), "jax_version": jax.__version__,
            "python": platform.python_version()}


class Writer:
    """Writes a population's run directory (only on the lead process)."""

    def __init__(self, out: Path, pop, settings: dict, lead: bool):
        self.out, self.pop, self.settings, self.lead = Path(out), pop, settings, lead
        self._cleaned = not settings.get("overwrite")
        if lead:
            prepare(self.out, overwrite=True, lead=True)  # creates it (checked before compiling)

    def _meta(self, updates_done: int, diverged: dict) -> dict:
        s = self.settings
        return {**{k: s[k] for k in ("kind", "run_id", "env", "seeds", "root_seed", "points", "axes",
                                      "config", "hparams", "eval_episodes", "eval_greedy", "eval_max_steps")},
                "eval_every": s.get("eval_every"),
                "updates_done": int(updates_done), "diverged": {str(h): m for h, m in diverged.items()}}

    def checkpoint(self, host_state, collected: list[Metrics], alive: np.ndarray, updates_done: int,
                   diverged: dict) -> None:
        """Saves the state and rewrites ``metrics.csv`` (both describe ``updates_done`` updates)."""
        if not self.lead:
            return
        metrics = checkpoint.metrics_dict(collected) if collected else \
            {f: np.zeros((self.pop.num_runs, 0), np.float32) for f in Metrics._fields}
        checkpoint.save(self.out, host_state, metrics, np.asarray(alive, bool),
                        self._meta(updates_done, diverged))
        if not self._cleaned:  # --overwrite: the old run goes once the new one has a checkpoint
            self._remove_old()
            self._cleaned = True
        m = Metrics(**{f: self.pop.to_points(metrics[f]) for f in Metrics._fields})
        atomic_write(self.out / "metrics.csv",
                     metrics_csv(m, self.pop.points, self.settings["axes"], self.settings["kind"]))

    def evals(self, curve: list[dict]) -> None:
        """Rewrites ``evals.csv`` with every evaluation during training so far."""
        if self.lead:
            atomic_write(self.out / "evals.csv",
                         evals_csv(curve, self.pop.points, self.settings["axes"], self.settings["kind"]))

    def _remove_old(self) -> None:
        other = "sweep.json" if self.settings["kind"] == "train" else "summary.json"
        (self.out / other).unlink(missing_ok=True)
        if not self.settings.get("eval_every"):
            (self.out / "evals.csv").unlink(missing_ok=True)
        meta = json.loads((self.out / "checkpoint.json").read_text())
        mine = {str(u) for u in meta.get("steps_written", [])}
        steps = self.out / "checkpoints"
        for d in steps.iterdir():
            if d.name in mine or d.is_symlink() or not d.is_dir():
                continue
            if d.name.isdigit():
                shutil.rmtree(d, ignore_errors=True)

    def results(self, result) -> None:
        """Writes ``summary.json`` (train) or ``sweep.json`` (sweep) at the end."""
        if not self.lead:
            return
        s, pop, t = self.settings, self.pop, result.timings
        greedy = bool(s["eval_greedy"])
        ev = result.eval_returns
        mode, other = ("greedy", "sampled") if greedy else ("sampled", "greedy")
        common = {
            "env": s["env"], "seeds": pop.seeds, "root_seed": pop.root_seed,
            "eval_episodes": s["eval_episodes"], "eval_max_steps": s["eval_max_steps"], "eval_greedy": greedy,
            "wall_seconds": t["wall_s"], "compile_seconds": t["compile_s"], "train_seconds": t["train_s"],
            "eval_seconds": t["eval_s"], "env_steps": int(np.asarray(result.metrics.env_steps, np.int64).sum()),
            "env_steps_this_process": result.env_steps, "updates_done": result.updates_done,
            "interrupted": result.interrupted is not None, "signal": result.interrupted,
            "finished": result.interrupted is None and (s["kind"] == "sweep" or not result.diverged),
            "config": s["config"], **_machine(),
        }
        rows = []
        for h in range(pop.num_points):
            row: dict[str, Any] = {"hparams": pop.base.replace(**pop.points[h]).to_dict(),
                                   "env_steps": int(np.asarray(result.metrics.env_steps[h], np.int64).sum()),
                                   "diverged": result.diverged.get(h)}
            if ev is not None:
                sums = [summarize(r) for r in ev[mode][h]]
                row.update(eval_mean=[x.mean for x in sums], eval_std=[x.std for x in sums],
                           eval_score=[x.score for x in sums],
                           eval_mean_other_mode=[float(np.mean(r)) for r in ev[other][h]])
            rows.append(row)
        if s["kind"] == "train":
            row = rows[0]
            summary = {**common, "hparams": row["hparams"], "diverged": row["diverged"],
                       **{k: row.get(k) for k in ("eval_mean", "eval_std", "eval_score",
                                                  "eval_mean_other_mode")}}
            atomic_write_json(self.out / "summary.json", summary)
        else:
            sweep = {**common, "axes": {a: list(dict.fromkeys(p.get(a) for p in pop.points)) for a in s["axes"]},
                     "points": rows, "runs": pop.num_runs, "padded_runs": pop.padded_runs,
                     "stopped_early": result.stopped_early}
            atomic_write_json(self.out / "sweep.json", sweep)
