"""The run directory: one writer (the driver's) and one reader (eval, render, plot, compare).

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

Reading: :func:`read_run` parses ``metrics.csv`` or ``evals.csv`` (with the JSON beside it)
into a :class:`RunData`; :func:`read_results` gives ``sweep.json`` or ``summary.json``;
:func:`read_evals` gives a resumed run the evaluations it keeps. Every reading error is a
one-line ``ValueError`` naming the file.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import io
import json
import math
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxpg import checkpoint
from jaxpg.evaluate import summarize
from jaxpg.fileio import atomic_write, atomic_write_json
from jaxpg.types import Metrics, point_label

__all__ = ["prepare", "locked", "Writer", "RunDirError", "holds_a_run", "metrics_csv", "evals_csv", "read_evals",
           "RESULT_FILES", "RunData", "read_run", "read_results", "read_json", "run_path", "run_name"]

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
        raise RunDirError("`out` must name a directory, got ''")
    try:
        os.fsencode(str(out))
        str(out).encode("utf-8")
    except UnicodeError:
        raise RunDirError(f"`out` {str(out)!r} is not a valid UTF-8 path") from None
    if out.exists() and not out.is_dir():
        raise RunDirError(f"cannot write to `out` {str(out)!r}: it exists and is not a directory")
    if out.is_dir() and holds_a_run(out) and not overwrite:
        raise RunDirError(f"`out` {str(out)!r} already holds a run: continue it with `resume` "
                          f"{str(out)!r}, replace it with `overwrite`, or choose another `out`")
    check_no_symlinks(out)
    if not lead:
        return
    if not create:
        parent = next((p for p in [out, *out.absolute().parents] if p.exists()), None)
        if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise RunDirError(f"cannot write to `out` {str(out)!r}: "
                              f"{'permission denied' if parent is not None else 'no such directory'}")
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as e:
        raise RunDirError(f"cannot write to `out` {str(out)!r}: {e.strerror or e}") from None


@contextlib.contextmanager
def locked(out: Path, lead: bool = True) -> Iterator[None]:
    """Holds an exclusive lock on the directory ``out`` (created if missing) while the block runs.

    One writer per run directory: ``jaxpg train``, ``sweep``, ``--resume`` and ``export`` take it, and
    a second writer is refused at once (``RunDirError``, one line). It is an OS lock (``flock``) on
    the directory itself, released when the process ends however it ends, so a killed run leaves
    no stale lock. A directory the block created and left empty is removed. Only the lead process
    of a multi-process run writes, so only it locks.
    """
    if not lead:
        yield
        return
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise RunDirError(f"cannot write to `out` {str(out)!r}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunDirError(f"`out` {str(out)!r} is being written by another jaxpg process (train, sweep, resume or "
                          "export): wait for it to finish, or choose another `out`") from None
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if still empty


def check_no_symlinks(out: Path) -> None:
    """Refuses a run directory whose ``checkpoints`` folder is a symlink."""
    steps = out / "checkpoints"
    if steps.is_symlink():
        raise RunDirError(f"{steps} is a symlink; jaxpg keeps checkpoints only inside the run directory "
                          "(make it a real directory)")


def metrics_csv(metrics: Metrics, points: list[dict], axes: list[str] | None) -> str:
    """``metrics.csv`` text of ``Metrics`` with leaves ``[H, S, U]``; ``axes``: the swept fields (a
    sweep's rows start with ``point`` and their values), ``None`` for a train run."""
    buf = io.StringIO()
    w = csv.writer(buf)
    sweep = axes is not None
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


def evals_csv(curve: list[dict], points: list[dict], axes: list[str] | None) -> str:
    """``evals.csv`` text of the evaluations during training (``RunResult.eval_curve`` rows):
    one row per point, seed and evaluation, both modes; score = mean - std. ``axes`` as in
    ``metrics_csv``."""
    buf = io.StringIO()
    w = csv.writer(buf)
    sweep = axes is not None
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
    evaluations after its checkpoint are redone), in ``RunResult.eval_curve`` row form.

    Raises:
      RunDirError: the file is truncated or damaged (a row unreadable, or a point or seed missing).
    """
    path = None if out is None else Path(out) / "evals.csv"
    if path is None or not path.is_file():
        return []
    by_update: dict[int, dict] = {}
    H, S = pop.num_points, pop.seeds
    seen: dict[int, set] = {}
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
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
            seen.setdefault(u, set()).add((h, s))
    except (OSError, ValueError, KeyError, TypeError, IndexError, csv.Error) as e:
        raise RunDirError(f"{path} is damaged ({type(e).__name__}: {e}); remove it to resume "
                          "(the evaluations after the checkpoint are redone; those before it are lost)") from None
    short = [u for u in by_update if len(seen[u]) != H * S]
    if short:
        raise RunDirError(f"{path} is truncated: the evaluation at update {short[0]} has {len(seen[short[0]])} of "
                          f"{H * S} rows; remove it to resume (the evaluations before the checkpoint are lost)")
    return [by_update[u] for u in sorted(by_update)]


# --------------------------------------------------------------------------------------------
# Reading (plots, compare): one-line ValueErrors that name the file

StrPath = str | os.PathLike
_INT_COLUMNS = ("point", "seed", "update", "env_steps")
_REQUIRED = ("seed", "update", "env_steps", "mean_return")


def run_path(run_dir: StrPath) -> Path:
    """``run_dir`` as a Path, after checking it is an existing directory (ValueError otherwise)."""
    path = Path(run_dir)
    if not path.exists():
        raise ValueError(f"{path}: no such directory")
    if not path.is_dir():
        raise ValueError(f"{path}: not a directory")
    return path


def run_name(path: Path) -> str:
    """The directory's own name (as labels show it), resolved so that ``.`` has one."""
    return path.resolve().name or str(path)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when there is no such file."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read it as JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_results(run_dir: StrPath) -> tuple[Path, dict[str, Any]] | None:
    """``(path, contents)`` of a run's end-of-run JSON: ``sweep.json``, else ``summary.json``;
    None when it has neither. Both are parsed, so either one being unreadable raises."""
    path = run_path(run_dir)
    sweep, summary = read_json(path / "sweep.json"), read_json(path / "summary.json")
    if sweep is not None:
        return path / "sweep.json", sweep
    if summary is not None:
        return path / "summary.json", summary
    return None


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: cannot read it as CSV ({e})") from None
    if not rows:
        raise ValueError(f"{path}: empty file (expected a header and one row per seed per update)")
    header, body = rows[0], rows[1:]
    required = _REQUIRED if path.name != "evals.csv" else ("seed", "update", "env_steps")
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"{path}: header lacks column(s) {', '.join(missing)}; got {','.join(header)!r}")
    if len(set(header)) != len(header):
        raise ValueError(f"{path}: repeated column names in the header {','.join(header)!r}")
    if not body:
        raise ValueError(f"{path}: no data rows (the run stopped before its first update?)")
    for i, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path} line {i}: {len(row)} fields, the header has {len(header)}")
    return header, body


def _column(path: Path, header: list[str], body: list[list[str]], name: str) -> np.ndarray:
    j = header.index(name)
    values = [row[j] for row in body]
    dtype = np.int64 if name in _INT_COLUMNS else np.float64
    try:
        return np.array(values, dtype=dtype)
    except ValueError:
        kind = "an integer" if dtype is np.int64 else "a number"
        for i, v in enumerate(values, start=2):
            try:
                dtype(v)
            except ValueError:
                raise ValueError(f"{path} line {i}: column {name!r} needs {kind}, got {v!r}") from None
        raise  # pragma: no cover (numpy rejected a list every element of which it accepts)


@dataclasses.dataclass(frozen=True, eq=False)
class RunData(Mapping):
    """One table (``metrics.csv`` or ``evals.csv``) of a run directory, from :func:`read_run`.

    Attributes:
      dir: the directory; layout: ``"train"`` or ``"sweep"``.
      axes: the swept hyperparameter names (``[]`` for a train run).
      columns: one array per column after ``update`` (``env_steps`` int64, the seed's cumulative
        valid env steps; the others float64), [S, U] for a train run and [P, S, U] for a sweep.
      seeds: [S] seed indices; updates: [U] update numbers (1-based).
      points: one ``{axis: value}`` dict per sweep point (``[{}]`` for a train run);
        point_labels: ``jaxpg.types.point_label`` of each.
      meta: the parsed ``summary.json`` / ``sweep.json``, or None; env: its env (or None).
      label: ``"<env> (<dir name>)"``, or the dir name without a summary/sweep JSON.

    It is also a read-only mapping with the keys of the dict ``read_run`` has always returned:
    ``dir``, ``layout``, ``axes``, every column, ``seeds``, ``updates``, ``points``,
    ``point_labels``, ``meta``, ``env`` and ``label``.
    """

    dir: Path
    layout: str
    axes: list[str]
    columns: dict[str, np.ndarray]
    seeds: np.ndarray
    updates: np.ndarray
    points: list[dict[str, float]]
    point_labels: list[str]
    meta: dict[str, Any] | None
    env: str | None
    label: str

    def curve(self, column: str, point: int = 0) -> np.ndarray:
        """[S, U] values of ``column`` at one point (a train run has the one point 0)."""
        values = self.columns[column]
        return values[point] if self.layout == "sweep" else values

    def _items(self) -> dict[str, Any]:
        return {"dir": self.dir, "layout": self.layout, "axes": self.axes, **self.columns,
                "seeds": self.seeds, "updates": self.updates, "points": self.points,
                "point_labels": self.point_labels, "meta": self.meta, "env": self.env, "label": self.label}

    def __getitem__(self, key: str) -> Any:
        return self._items()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())


def read_run(run_dir: StrPath, table: str = "metrics") -> RunData:
    """Reads the ``metrics.csv`` (or ``evals.csv``) of a ``jaxpg train`` or ``sweep`` directory.

    Args:
      run_dir: the ``--out`` directory.
      table: ``"metrics"`` (every update's training metrics: ``mean_return``, ``loss``,
        ``mean_length``, ``entropy``, ``grad_norm``) or ``"evals"`` (the evaluations during
        training of ``--eval-every``: ``sampled_mean`` ... ``greedy_score``).

    Returns:
      A :class:`RunData` (also a mapping with the keys of the dict this returned before).

    Raises:
      ValueError: (one line) the directory is missing or has no ``metrics.csv``; the CSV is
        malformed (unknown layout, ragged or non-numeric rows, a missing or repeated
        (point, seed, update), env_steps that decrease), or the JSON beside it is unreadable.
    """
    path = run_path(run_dir)
    if table not in ("metrics", "evals"):
        raise ValueError(f"table must be 'metrics' or 'evals', got {table!r}")
    csv_path = path / f"{table}.csv"
    if not csv_path.is_file():
        if table == "evals":
            raise ValueError(f"{path}: no evals.csv (train with `eval_every` K to evaluate during training)")
        raise ValueError(f"{path}: no metrics.csv (expected the `out` directory of jaxpg train or sweep)")
    header, body = _read_csv(csv_path)
    if header[0] == "point":
        layout = "sweep"
        axes = header[1:header.index("seed")]
        keys = ["point", "seed", "update"]
    elif header[0] == "seed":
        layout, axes, keys = "train", [], ["seed", "update"]
    else:
        raise ValueError(f"{csv_path}: unrecognised header {','.join(header)!r} "
                         "(expected 'seed,update,...' or 'point,<axes>,seed,update,...')")
    metric_names = header[header.index("update") + 1:]
    cols = {name: _column(csv_path, header, body, name) for name in [*keys, *axes, *metric_names]}

    # Rows -> a dense [P?, S, U] grid; every (point?, seed, update) exactly once.
    ids = [np.unique(cols[k]) for k in keys]
    shape = tuple(len(u) for u in ids)
    flat = np.ravel_multi_index(tuple(np.searchsorted(u, cols[k]) for u, k in zip(ids, keys, strict=True)),
                                shape)
    if len(body) != math.prod(shape) or np.unique(flat).size != len(body):
        raise ValueError(f"{csv_path}: expected one row per {', '.join(keys)} "
                         f"({' x '.join(map(str, shape))} = {math.prod(shape)} rows), got {len(body)} rows")
    if "env_steps" not in metric_names:
        raise ValueError(f"{csv_path}: no env_steps column")
    columns = {}
    for name in metric_names:
        grid = np.empty(math.prod(shape), dtype=cols[name].dtype)
        grid[flat] = cols[name]
        columns[name] = grid.reshape(shape)
    if np.any(np.diff(columns["env_steps"], axis=-1) < 0):
        raise ValueError(f"{csv_path}: env_steps decreases from one update to the next "
                         "(expected each seed's cumulative count)")

    if layout == "sweep":
        _, first = np.unique(cols["point"], return_index=True)  # each point's first row
        points = [{a: float(cols[a][r]) for a in axes} for r in first]
    else:
        points = [{}]
    meta = read_json(path / ("sweep.json" if layout == "sweep" else "summary.json"))
    env = meta.get("env") if meta else None
    return RunData(dir=path, layout=layout, axes=axes, columns=columns, seeds=ids[-2], updates=ids[-1],
                   points=points, point_labels=[point_label(p) for p in points], meta=meta, env=env,
                   label=f"{env} ({run_name(path)})" if env else run_name(path))


def _machine(devices: int) -> dict:
    """Where the run ran; ``devices``: the devices its runs were sharded over."""
    return {"backend": jax.default_backend(), "devices": devices,
            "processes": jax.process_count(), "jax_version": jax.__version__,
            "python": platform.python_version()}


class Writer:
    """Writes a population's run directory (only on the lead process).

    Args:
      out: the run directory (checked by ``prepare`` before anything compiled; created here).
      pop: the ``Population`` (points, seeds, ``to_points``).
      kind: the run's kind (``jaxpg.runner.kinds``: results file, rows, CSV columns).
      record: what ``checkpoint.json`` records of the run (the spec's record, its digest, the run id).
      lead: whether this process writes. overwrite: the directory held another run (removed once
        this one has saved its first checkpoint).
    """

    def __init__(self, out: Path, pop, kind, record: dict, lead: bool, overwrite: bool = False):
        self.out, self.pop, self.kind, self.record, self.lead = Path(out), pop, kind, dict(record), lead
        self.axes = kind.csv_axes(record["axes"])
        self._cleaned = not overwrite
        if lead:
            prepare(self.out, overwrite=True, lead=True)  # creates it (checked before compiling)

    def _meta(self, updates_done: int, diverged: dict, extra: dict | None = None) -> dict:
        return {**self.record, **(extra or {}), "updates_done": int(updates_done),
                "diverged": {str(h): m for h, m in diverged.items()}}

    def checkpoint(self, host_state, collected: list[Metrics], alive: np.ndarray, updates_done: int,
                   diverged: dict, extra: dict | None = None) -> None:
        """Saves the state and rewrites ``metrics.csv`` (both describe ``updates_done`` updates);
        ``extra``: the parts' own state (JSON-ready), recorded in ``checkpoint.json``."""
        if not self.lead:
            return
        metrics = checkpoint.metrics_dict(collected) if collected else \
            {f: np.zeros((self.pop.num_runs, 0), np.float32) for f in Metrics._fields}
        checkpoint.save(self.out, host_state, metrics, np.asarray(alive, bool),
                        self._meta(updates_done, diverged, extra))
        if not self._cleaned:  # --overwrite: the old run goes once the new one has a checkpoint
            self._remove_old()
            self._cleaned = True
        m = Metrics(**{f: self.pop.to_points(metrics[f]) for f in Metrics._fields})
        atomic_write(self.out / "metrics.csv", metrics_csv(m, self.pop.points, self.axes))

    def evals(self, curve: list[dict]) -> None:
        """Rewrites ``evals.csv`` with every evaluation during training so far."""
        if self.lead:
            atomic_write(self.out / "evals.csv", evals_csv(curve, self.pop.points, self.axes))

    def _remove_old(self) -> None:
        for name in ("summary.json", "sweep.json"):  # the old run's results (this run writes its own)
            (self.out / name).unlink(missing_ok=True)
        if not self.record.get("eval_every"):
            (self.out / "evals.csv").unlink(missing_ok=True)
        meta = json.loads((self.out / "checkpoint.json").read_text())
        mine = {str(u) for u in meta.get("steps_written", [])}
        steps = self.out / "checkpoints"
        for d in steps.iterdir():
            if d.name in mine or d.is_symlink() or not d.is_dir():
                continue
            if checkpoint.STEP_NAME.fullmatch(d.name):  # the old run's steps, never anything else
                shutil.rmtree(d, ignore_errors=True)

    def results(self, result) -> None:
        """Writes ``summary.json`` (train) or ``sweep.json`` (sweep) at the end."""
        if not self.lead:
            return
        s, pop, t = self.record, self.pop, result.timings
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
            "finished": self.kind.finished(result),
            "config": s["config"], **_machine(pop.n_dev),
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
        atomic_write_json(self.out / self.kind.results_file, self.kind.results(common, rows, result))
