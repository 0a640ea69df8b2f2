"""Keep the best: at each evaluation during training (``eval_every``), every run whose evaluation
mean (in the mode the run reports: greedy with ``Evaluation.greedy``, sampled otherwise) beats its
best so far keeps its policy of that moment (Stable-Baselines3's ``EvalCallback`` best model).

The run directory gets::

    OUT/best/best.json            the run id, the mode, and per run (point, seed) the update,
                                  evaluation mean and env steps of its best evaluation (``null``:
                                  none yet), the state file's name and its SHA-256
    OUT/best/state-<hex>.npz      every run's policy variables at its best evaluation (``params``,
                                  the observation-normalisation statistics included), leading
                                  ``[R]`` axis: run r is point r // S, seed r % S

Each write goes to a new state file, then ``best.json`` naming it replaces the old one (both
atomically), then the old state file goes: a crash at any moment leaves a loadable best. The
records also travel in ``checkpoint.json`` (``keep_best``), so a resumed run goes on improving on
the saved best instead of starting afresh. Only a run still training whose params changed since
its last evaluation can improve (a frozen run re-evaluated on fresh keys keeps its record), and
the device params are copied to the host only when a run improved.

``jaxpg.load(DIR, seed_index=i, best=True)`` and ``jaxpg eval|render DIR --best`` read it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from pathlib import Path

import jax
import numpy as np

from jaxpg.checkpoint import CheckpointError
from jaxpg.fileio import atomic_write, atomic_write_json
from jaxpg.runner.loop import Board, Chunk, Part
from jaxpg.runner.spec import RunError
from jaxpg.safetensors_io import sha256_file

__all__ = ["KeepBest", "read", "for_point", "BEST_DIR", "BEST_JSON"]

BEST_DIR = "best"
BEST_JSON = "best.json"
FORMAT = 1
_STATE = re.compile(r"state-[0-9a-f]{8}\.npz")


def _flat(params) -> dict[str, np.ndarray]:
    """``{"params['params']['Dense_0']...": [R, ...]}``: the leaves by their path, as checkpoints name them."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(params)
    return {f"params{jax.tree_util.keystr(p)}": np.asarray(v) for p, v in leaves}


def _runs(update, mean, steps, pop) -> list[dict]:
    """The per-run records (JSON-ready): ``update``/``eval_mean``/``env_steps`` ``None`` where no best yet."""
    out = []
    for r in range(len(update)):
        has = update[r] >= 0
        out.append({"point": int(pop.run_point[r]), "seed": int(pop.run_seed[r]),
                    "update": int(update[r]) if has else None, "eval_mean": float(mean[r]) if has else None,
                    "env_steps": int(steps[r]) if has else None})
    return out


def write(out: Path, params, record: dict) -> Path:
    """Writes ``OUT/best`` (see the module doc): the host ``params`` ``[R, ...]`` and ``record``
    (``best.json`` less the state file's name and hash). Returns the state file."""
    d = Path(out) / BEST_DIR
    if d.is_symlink():
        raise RunError(f"{d} is a symlink; jaxpg keeps the best policy only inside the run directory")
    d.mkdir(exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **_flat(params))
    data = buf.getvalue()
    name = f"state-{uuid.uuid4().hex[:8]}.npz"
    atomic_write(d / name, data)
    atomic_write_json(d / BEST_JSON, {"format": FORMAT, **record, "state": name,
                                      "state_sha256": hashlib.sha256(data).hexdigest()})
    for old in d.iterdir():  # the state files best.json no longer names (never anything else)
        if old.name != name and _STATE.fullmatch(old.name) and old.is_file() and not old.is_symlink():
            old.unlink(missing_ok=True)
    return d / name


def read(run_dir: str | Path, like, run_id: str | None = None) -> tuple[dict, dict]:
    """``(params, best.json)`` of ``run_dir/best``: ``params`` the tree of ``like`` (leaves ``[n, ...]``)
    with the saved leaves ``[R, ...]``, the state file's hash checked.

    Raises:
      CheckpointError: one line: no ``best/`` (the run was not trained with ``keep_best``), an
        unreadable ``best.json``, another run's best (``run_id`` differs), a state file missing,
        damaged or of another policy shape.
    """
    d = Path(run_dir) / BEST_DIR
    path = d / BEST_JSON
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no best policy ({BEST_DIR}/{BEST_JSON} is missing): train with "
                              "`keep_best` and `eval_every` to keep one")
    try:
        meta = json.loads(path.read_text())
        state = d / meta["state"]
        if not isinstance(meta["runs"], list) or not _STATE.fullmatch(meta["state"]):
            raise ValueError("no runs, or a bad state file name")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} is corrupted: {type(e).__name__}: {e}") from None
    if run_id is not None and meta.get("run_id") != run_id:
        raise CheckpointError(f"{d} belongs to another run (run id {meta.get('run_id')}; the checkpoint's is "
                              f"{run_id}): a replaced run's best, before the new run kept one")
    if not state.is_file() or sha256_file(state) != meta.get("state_sha256"):
        raise CheckpointError(f"{state} is missing or does not match the SHA-256 recorded in {path} "
                              "(corrupted or replaced)")
    try:
        with np.load(state, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - zipfile/numpy raise many types for bad files
        raise CheckpointError(f"{state} is unreadable: {type(e).__name__}: {e}") from None
    runs = len(meta["runs"])
    paths, treedef = jax.tree_util.tree_flatten_with_path(like)
    leaves = []
    for p, x in paths:
        name = f"params{jax.tree_util.keystr(p)}"
        arr, want = data.get(name), (runs, *np.shape(x)[1:])
        if arr is None or arr.shape != want or arr.dtype != x.dtype:
            got = "missing" if arr is None else f"{arr.dtype}{list(arr.shape)}"
            raise CheckpointError(f"{state} does not fit the run's policy: {name} is {got}, expected "
                                  f"{x.dtype}{list(want)}")
        leaves.append(arr)
    return jax.tree_util.tree_unflatten(treedef, leaves), meta


def for_point(run_dir: str | Path, ck, point: int | None = None) -> tuple[dict, list[dict]]:
    """``(params, records)`` of one point's seeds: ``ck`` a checkpoint of that point
    (``checkpoint.load(run_dir, point)``, leaves ``[S]``); ``params`` leaves ``[S, ...]`` (a seed with
    no best keeps its checkpoint's params: its record's ``update`` is ``None``)."""
    params, meta = read(run_dir, ck.state.params, ck.meta.get("run_id"))
    s, h = ck.seeds, int(point or 0)
    if len(meta["runs"]) != s * len(ck.meta.get("points") or [{}]):
        raise CheckpointError(f"{Path(run_dir) / BEST_DIR / BEST_JSON} holds {len(meta['runs'])} runs; the "
                              "checkpoint has another number")
    records = meta["runs"][h * s:(h + 1) * s]
    has = np.array([isinstance(r, dict) and r.get("update") is not None for r in records])
    mine = jax.tree.map(lambda b, c: np.where(has.reshape(-1, *[1] * (c.ndim - 1)), b[h * s:(h + 1) * s], c),
                        params, jax.tree.map(np.asarray, ck.state.params))
    return mine, [r if isinstance(r, dict) else {} for r in records]


class KeepBest(Part):
    """Keeps every run's policy at its best evaluation during training in ``OUT/best`` (see the
    module doc). Needs ``eval_every`` and ``out``."""

    fingerprint = "keep_best"

    def __init__(self):
        self.mode = "sampled"
        self.update = self.mean = self.steps = self.seen = None
        self.params = None  # host [R, ...] once a run improved

    def start(self, board: Board) -> None:
        ev, n = board.spec.evaluation, board.pop.num_runs
        if not ev.every:
            raise RunError("`keep_best` needs `eval_every` (it keeps each run's best evaluation during training)")
        if board.out is None:
            raise RunError("`keep_best` needs `out` (the best policies go to OUT/best)")
        self.mode = "greedy" if ev.greedy else "sampled"
        self.update, self.steps = np.full(n, -1, np.int64), np.zeros(n, np.int64)
        self.mean, self.seen = np.full(n, -np.inf), np.full(n, -1, np.int64)
        if board.ckpt is not None:
            self._resume(board)
        board.extra["keep_best"] = self._record(board)

    def _resume(self, board: Board) -> None:
        """Goes on from the saved best (``OUT/best``), when it is this run's and in this mode."""
        saved = board.ckpt.meta.get("keep_best") or {}
        had = any(r.get("update") is not None for r in saved.get("runs") or [] if isinstance(r, dict))
        try:  # the device params give the leaves' names, shapes and dtypes (nothing is copied)
            params, meta = read(board.out, board.finished[0].params, board.ckpt.meta.get("run_id"))
        except CheckpointError as e:
            if had:
                board.say(f"  note: {e}; the best is kept afresh from here")
            return
        if meta.get("mode") != self.mode or len(meta["runs"]) != len(self.update):
            board.say(f"  note: {board.out / BEST_DIR} holds the best {meta.get('mode')} evaluations; this run "
                      f"reports {self.mode} ones: the best is kept afresh from here")
            return
        for r, rec in enumerate(meta["runs"]):
            if isinstance(rec, dict) and rec.get("update") is not None:
                self.update[r], self.mean[r], self.steps[r] = rec["update"], rec["eval_mean"], rec["env_steps"]
        self.params = params

    def _record(self, board: Board) -> dict:
        return {"run_id": board.writer.record.get("run_id") if board.writer is not None else None,
                "mode": self.mode, "runs": _runs(self.update, self.mean, self.steps, board.pop)}

    def after_chunk(self, board: Board, chunk: Chunk) -> None:
        ev = chunk.evaluation
        if ev is None:
            return
        mean = np.asarray(ev[f"{self.mode}_mean"], np.float64).reshape(-1)
        steps = np.asarray(ev["env_steps"], np.int64).reshape(-1)
        better = board.alive & (steps != self.seen) & np.isfinite(mean) & (mean > self.mean)
        self.seen = steps
        if not better.any():
            return
        host = board.pop.gather(board.finished[0].params)  # every process: the runs may span several
        if self.params is None:
            self.params = jax.tree.map(np.array, host)
        else:
            for b, h in zip(jax.tree.leaves(self.params), jax.tree.leaves(host), strict=True):
                b[better] = h[better]
        self.update[better], self.mean[better], self.steps[better] = ev["update"], mean[better], steps[better]
        record = self._record(board)
        board.extra["keep_best"] = record
        if board.lead:
            write(board.out, self.params, {**record, "updates_done": int(ev["update"])})
        board.say(f"  update {ev['update']}: a new best {self.mode} evaluation for {int(better.sum())} of "
                  f"{len(better)} runs, kept in {board.out / BEST_DIR}")
