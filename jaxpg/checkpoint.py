"""Checkpoints of a population of training runs (``jaxpg train``, ``jaxpg sweep``, ``jaxpg.run``).

A run directory holds::

    DIR/checkpoint.json          what the population is: env, Config, base HParams, the
                                 hyperparameter points, seeds, root seed, updates done,
                                 the newest step directory and the SHA-256 of its files
    DIR/checkpoints/<U>/state.npz
                                 after U updates: the TrainState of every run (leading
                                 axis R = points x seeds; run r is point r // S, seed r % S),
                                 the per-update metrics so far [R, U], and which runs are
                                 still training (``alive``; a run that diverged is frozen
                                 at its last finite state)

The step directory is written under a temporary name, flushed and renamed, and
``checkpoint.json`` is replaced atomically after it, so a crash at any moment leaves
the previous checkpoint loadable. Only the newest ``keep`` step directories that this
run wrote are kept; pruning never follows a symlink and never leaves ``DIR``.
On load every file's hash is checked: a flipped bit is an error naming the file.

PRNG keys are stored as their raw ``key_data`` (uint32) and wrapped again on load.
Format 1 (orbax, ``jaxpg train`` before the driver) is still read when orbax-checkpoint is
installed (``pip install orbax-checkpoint``; it is no longer a dependency of jaxpg).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxpg.fileio import atomic_write_json, umask_mode
from jaxpg.types import Config, HParams, Metrics, TrainState

__all__ = ["Checkpoint", "save", "load", "exists", "metrics_dict", "CheckpointError", "FORMAT",
           "config_from_dict", "hparams_of_point"]

FORMAT = 2
_META = "checkpoint.json"
_STEPS = "checkpoints"
_ARRAYS = "state.npz"
_INTS = ("env_steps", "sim_steps", "nonfinite_obs")
_EMBEDDED = "meta.json"  # in state.npz: the checkpoint.json settings it was saved with
STEP_NAME = re.compile(r"\d+(\.[0-9a-f]{8})?")  # a step directory: "<updates>" or "<updates>.<8 hex>"


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True, default=str)


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupted or does not fit the run."""


class Checkpoint(NamedTuple):
    """A loaded population, or one point of it.

    Attributes:
      state: ``TrainState`` with a leading runs axis: ``[R]`` (R = H·S) for the whole
        population, ``[S]`` after choosing a point.
      metrics: ``{field: [R or S, updates_done]}`` numpy arrays (``Metrics`` fields).
      config: the static ``Config``.
      hparams: the base ``HParams`` of the population, or the chosen point's full ``HParams``.
      root_seed: the root seed; seed ``i`` used ``split(key(root_seed), S)[i]``.
      seeds: S, seeds per point.
      updates_done: updates every run has been driven through.
      points: the hyperparameter points (``[{}]`` for a ``jaxpg train`` run).
      alive: ``[R or S]`` bool, False for runs that diverged (frozen at their last finite state).
      meta: the whole ``checkpoint.json``.
    """

    state: TrainState
    metrics: dict[str, np.ndarray]
    config: Config
    hparams: HParams
    root_seed: int
    seeds: int
    updates_done: int
    points: list[dict[str, float]]
    alive: np.ndarray
    meta: dict[str, Any]

    @property
    def num_points(self) -> int:
        return len(self.points)


def exists(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` has a ``checkpoint.json``."""
    return (Path(run_dir) / _META).is_file()


def config_from_dict(d: Mapping[str, Any]) -> Config:
    """A ``Config`` from its ``dataclasses.asdict`` form read back from JSON (lists -> tuples)."""
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return Config(**d)


def hparams_of_point(base: HParams, point: Mapping[str, float]) -> HParams:
    """The full ``HParams`` of one point: ``base`` with the point's fields replaced."""
    return base.replace(**dict(point))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _flat(tree) -> dict[str, np.ndarray]:
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves}


def save(run_dir: str | os.PathLike, state: TrainState, metrics: Mapping[str, np.ndarray],
         alive: np.ndarray, meta: Mapping[str, Any], keep: int = 2) -> Path:
    """Saves a population's state after ``meta["updates_done"]`` updates.

    Args:
      run_dir: the run directory (must exist).
      state: host (numpy) ``TrainState`` with a leading ``[R]`` runs axis.
      metrics: per-update metrics so far, ``{field: [R, U]}``.
      alive: ``[R]`` bool.
      meta: what ``checkpoint.json`` records besides the files (config, points, seeds, ...);
        must hold ``updates_done``.
      keep: how many newest step directories (of this run) to keep, >= 1.

    Returns:
      The step directory written.
    """
    run_dir = Path(run_dir).absolute()
    updates_done = int(meta["updates_done"])
    steps = run_dir / _STEPS
    if steps.is_symlink():
        raise CheckpointError(f"{steps} is a symlink; jaxpg writes checkpoints only inside the run directory")
    steps.mkdir(exist_ok=True)
    arrays = {f"state{k}": v for k, v in _flat(state._replace(key=_key_data(state.key))).items()}
    arrays.update({f"metrics/{k}": np.asarray(v) for k, v in metrics.items()})
    arrays["alive"] = np.asarray(alive, bool)
    # the settings travel inside the hashed file: an edit of checkpoint.json is caught on load
    arrays[_EMBEDDED] = np.frombuffer(_canonical(meta).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    tmp = Path(tempfile.mkdtemp(dir=steps, prefix=f".{updates_done}.", suffix=".tmp"))
    try:
        with open(tmp / _ARRAYS, "wb") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp / _ARRAYS, umask_mode())
        os.chmod(tmp, umask_mode(0o777))
        # never replace a step directory: the checkpoint.json on disk (this run's, or the run an
        # --overwrite replaces) may point to it until the new checkpoint.json is in place
        name = str(updates_done)
        if os.path.lexists(steps / name):
            name = f"{updates_done}.{uuid.uuid4().hex[:8]}"
        target = steps / name
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prev = _read_meta(run_dir) if exists(run_dir) else {}
    written = [str(u) for u in prev.get("steps_written", [])] if prev.get("run_id") == meta.get("run_id") else []
    written.append(name)
    full = {"format": FORMAT, **meta, "step_dir": f"{_STEPS}/{name}",
            "files": {_ARRAYS: _sha256(target / _ARRAYS)}, "metric_fields": sorted(metrics),
            "steps_written": written, "jax_version": jax.__version__}
    atomic_write_json(run_dir / _META, full)
    for u in written[:-max(1, keep)]:  # only steps this run wrote; never through a symlink
        d = steps / str(u)
        if d.is_symlink() or not d.is_dir() or d.resolve().parent != steps.resolve():
            continue
        shutil.rmtree(d, ignore_errors=True)
    kept = [u for u in written if (steps / str(u)).is_dir()]
    if kept != written:
        atomic_write_json(run_dir / _META, {**full, "steps_written": kept})
    return target


def _key_data(key):
    return jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key


def _read_meta(run_dir: Path) -> dict:
    meta_path = run_dir / _META
    try:
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
        return meta
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{meta_path} is corrupted: {type(e).__name__}: {e}") from None


def load(run_dir: str | os.PathLike, point: int | None = None, *, whole: bool = False) -> Checkpoint:
    """Loads the newest checkpoint of ``run_dir``.

    Args:
      run_dir: a run directory (``jaxpg train`` or ``jaxpg sweep`` ``--out``).
      point: which hyperparameter point of a sweep (``None``: the only one; a sweep of
        several points then needs one).
      whole: return every run of the population (leading ``[R]``), ignoring ``point``.

    Raises:
      CheckpointError: one line saying what is wrong: no checkpoint, an unreadable
        ``checkpoint.json``, a missing step directory, a file whose hash differs from the
        one recorded, arrays that do not match the recorded settings, or a bad ``point``.
    """
    run_dir = Path(run_dir).absolute()
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} is not a directory")
    if not (run_dir / _META).is_file():
        raise CheckpointError(f"no checkpoint in {run_dir} ({_META} is missing)")
    meta = _read_meta(run_dir)
    if meta.get("format") == 1:
        ck = _load_v1(run_dir, meta)
    elif meta.get("format") == FORMAT:
        ck = _load_v2(run_dir, meta)
    else:
        raise CheckpointError(f"{run_dir / _META}: unknown checkpoint format {meta.get('format')!r}")
    if whole:
        return ck
    return select_point(ck, point, run_dir)


def select_point(ck: Checkpoint, point: int | None, run_dir: Path | str = "the run") -> Checkpoint:
    """One point of a population checkpoint (leading axes become ``[S]``)."""
    h = len(ck.points)
    if point is None:
        if h != 1:
            raise CheckpointError(f"{run_dir} is a sweep of {h} points: choose one with `point` 0..{h - 1}")
        point = 0
    if isinstance(point, bool) or not isinstance(point, int | np.integer) or not 0 <= point < h:
        raise CheckpointError(f"`point` {point} is out of range: {run_dir} has points 0..{h - 1}")
    s = ck.seeds
    sl = slice(int(point) * s, (int(point) + 1) * s)
    return ck._replace(
        state=jax.tree.map(lambda x: x[sl], ck.state),
        metrics={k: v[sl] for k, v in ck.metrics.items()},
        hparams=hparams_of_point(ck.hparams, ck.points[point]),
        points=[ck.points[point]], alive=ck.alive[sl],
    )


def _settings(meta: dict, meta_path: Path):
    if not isinstance(meta.get("step_dir"), str):
        raise CheckpointError(f"{meta_path} is corrupted: no step_dir")
    try:
        config = config_from_dict(meta["config"])
        hparams = HParams(**meta["hparams"])
        seeds, updates_done = int(meta["seeds"]), int(meta["updates_done"])
        fields = list(meta["metric_fields"])
        step_dir = Path(meta_path.parent) / meta["step_dir"]
        points = [dict(p) for p in meta.get("points", [{}])]
        for p in points:
            hparams_of_point(hparams, p)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{meta_path} is corrupted: {type(e).__name__}: {e}") from None
    if not step_dir.is_dir():
        raise CheckpointError(f"checkpoint {step_dir} is missing (truncated run directory)")
    return config, hparams, seeds, updates_done, fields, step_dir, points


def _abstract_state(config: Config, hparams: HParams, runs: int):
    # start-up order: train imports gymnax, which starts a JAX backend; checkpoint is imported (through
    # rundir and plotting) when the jaxpg command loads, before `sweep --coordinator` joins jax.distributed.
    from jaxpg.train import make_trainer

    try:
        trainer = make_trainer(config)
    except ValueError as e:
        raise CheckpointError(f"the checkpoint's settings are invalid here: {e}") from None
    one = jax.eval_shape(trainer.init, jax.random.key(0), hparams)
    one = one._replace(key=jax.eval_shape(jax.random.key_data, one.key))
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct((runs, *s.shape), s.dtype), one)


def _state_file(run_dir: Path, meta: dict) -> tuple[Path, dict]:
    """The step's ``state.npz``, its hash checked, read whole."""
    step = meta.get("step_dir")
    if not isinstance(step, str) or not STEP_NAME.fullmatch(Path(step).name) or Path(step).parent != Path(_STEPS):
        raise CheckpointError(f"{run_dir / _META} is corrupted: step_dir {step!r} is not a step directory")
    path = run_dir / step / _ARRAYS
    if not path.is_file():
        raise CheckpointError(f"checkpoint {run_dir / step} is missing (truncated run directory)")
    files = meta.get("files")
    want = files.get(_ARRAYS) if isinstance(files, dict) else None
    if want is None or _sha256(path) != want:
        raise CheckpointError(f"checkpoint file {path} does not match the SHA-256 recorded in {_META} "
                              "(corrupted or replaced)")
    try:
        with np.load(path, allow_pickle=False) as z:
            return path, {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - zipfile/numpy raise many types for bad files
        raise CheckpointError(f"checkpoint file {path} is unreadable: {type(e).__name__}: {e}") from None


def _check_embedded(meta: dict, data: dict, meta_path: Path, path: Path) -> None:
    """Refuses a ``checkpoint.json`` whose settings differ from those saved inside ``state.npz``."""
    if _EMBEDDED not in data:  # saved before the settings were embedded
        return
    try:
        saved = json.loads(bytes(data[_EMBEDDED]).decode())
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"checkpoint file {path} is unreadable: {e}") from None
    for k, v in saved.items():
        if _canonical(meta.get(k)) != _canonical(v):
            raise CheckpointError(f"{meta_path} was edited: its {k!r} differs from the settings saved with "
                                  f"{path.parent.name}/{_ARRAYS} (restore the file, or start a new run)")


def _load_v2(run_dir: Path, meta: dict) -> Checkpoint:
    meta_path = run_dir / _META
    path, data = _state_file(run_dir, meta)
    _check_embedded(meta, data, meta_path, path)
    config, hparams, seeds, updates_done, fields, step_dir, points = _settings(meta, meta_path)
    runs = seeds * len(points)
    abstract = _abstract_state(config, hparams, runs)
    paths, treedef = jax.tree_util.tree_flatten_with_path(abstract)
    leaves = []
    for p, spec in paths:
        name = f"state{jax.tree_util.keystr(p)}"
        arr = data.get(name)
        if arr is None or arr.shape != spec.shape or arr.dtype != spec.dtype:
            got = "missing" if arr is None else f"{arr.dtype}{list(arr.shape)}"
            raise CheckpointError(f"checkpoint {step_dir} does not fit {_META} (another env or policy "
                                  f"shape): {name} is {got}, expected {spec.dtype}{list(spec.shape)}")
        leaves.append(arr)
    state = jax.tree_util.tree_unflatten(treedef, leaves)
    state = state._replace(key=jax.random.wrap_key_data(state.key))
    metrics = {}
    for f in fields:
        m = data.get(f"metrics/{f}")
        if m is None or m.shape != (runs, updates_done):
            raise CheckpointError(f"checkpoint {step_dir} does not fit {_META}: metrics/{f} has shape "
                                  f"{None if m is None else m.shape}, expected {(runs, updates_done)}")
        metrics[f] = m
    alive = data.get("alive")
    if alive is None or alive.shape != (runs,):
        raise CheckpointError(f"checkpoint {step_dir} does not fit {_META}: 'alive' is missing or misshapen")
    return Checkpoint(state, metrics, config, hparams, int(meta["root_seed"]), seeds, updates_done,
                      points, alive.astype(bool), meta)


def _load_v1(run_dir: Path, meta: dict) -> Checkpoint:
    """Format 1: one ``jaxpg train`` run saved with orbax (before the driver); needs orbax-checkpoint."""
    try:
        import orbax.checkpoint as ocp  # optional dependency: orbax (only format 1 needs it)
    except ImportError:
        raise CheckpointError(f"{run_dir} was saved in the pre-release layout (format 1, orbax): "
                              "pip install orbax-checkpoint reads it") from None

    config, hparams, seeds, updates_done, fields, step_dir, points = _settings(meta, run_dir / _META)
    abstract_state = _abstract_state(config, hparams, seeds)
    dtypes = {f: (np.int32 if f in _INTS else np.float32) for f in fields}
    abstract = {"state": abstract_state,
                "metrics": {f: jax.ShapeDtypeStruct((seeds, updates_done), dtypes[f]) for f in fields}}
    try:
        with ocp.StandardCheckpointer() as ckptr:
            tree = ckptr.restore(step_dir, abstract)
    except Exception as e:  # noqa: BLE001 - orbax/tensorstore raise many types for bad files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {step_dir} is corrupted or truncated, or does not fit "
                              f"{_META} (another env or policy shape): {first[:200]}") from None
    state = tree["state"]
    state = state._replace(key=jax.random.wrap_key_data(state.key))
    if int(np.asarray(state.update).reshape(-1)[0]) != updates_done:
        raise CheckpointError(f"checkpoint {step_dir} does not match {_META} (update count differs)")
    metrics = {f: np.asarray(v) for f, v in tree["metrics"].items()}
    meta = {**meta, "points": [{}], "kind": "train"}
    return Checkpoint(state, metrics, config, hparams, int(meta["root_seed"]), seeds, updates_done,
                      [{}], np.ones(seeds, bool), meta)


def metrics_dict(collected: Sequence[Metrics]) -> dict[str, np.ndarray]:
    """Concatenates per-chunk ``Metrics`` (numpy, ``[R, chunk]``) into ``{field: [R, U]}``."""
    return {f: np.concatenate([np.asarray(getattr(m, f)) for m in collected], axis=1)
            for f in Metrics._fields}


def settings_dict(config: Config) -> dict:
    """``dataclasses.asdict(config)`` (JSON-ready)."""
    return dataclasses.asdict(config)
