"""Checkpoints of a whole ``jaxpg train`` run, with orbax.

A run directory holds::

    DIR/checkpoint.json          what the run is: env, Config, HParams, root seed, seeds,
                                 updates done, the latest checkpoint's step
    DIR/checkpoints/<U>/         orbax checkpoint after U updates: the TrainState of every
                                 seed (params, optimizer state, key, update count) and
                                 the per-update metrics so far

Orbax writes each step directory to a temporary name and renames it when complete,
and ``checkpoint.json`` is replaced atomically after that, so a crash at any moment
leaves the previous checkpoint loadable. Only the newest ``keep`` steps are kept.

PRNG keys are stored as their raw ``key_data`` (uint32) and wrapped again on load.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from jaxpg.types import Config, HParams, Metrics, TrainState

__all__ = ["Checkpoint", "save", "load", "exists", "metrics_dict", "CheckpointError", "FORMAT"]

FORMAT = 1
_META = "checkpoint.json"
_STEPS = "checkpoints"


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupted or does not fit the run."""


class Checkpoint(NamedTuple):
    """A loaded run: ``state`` and ``metrics`` have a leading seeds axis ``[S]``;
    ``metrics`` fields are numpy ``[S, updates_done]``."""

    state: TrainState
    metrics: dict[str, np.ndarray]
    config: Config
    hparams: HParams
    root_seed: int
    seeds: int
    updates_done: int


def exists(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` has a ``checkpoint.json``."""
    return (Path(run_dir) / _META).is_file()


def _config_from_dict(d: dict) -> Config:
    d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return Config(**d)


def save(run_dir: str | os.PathLike, state: TrainState, metrics: dict[str, np.ndarray], config: Config,
         hparams: HParams, root_seed: int, keep: int = 2) -> Path:
    """Saves the run's state after ``int(state.update[0])`` updates.

    Args:
      run_dir: the run directory (created if needed).
      state: ``TrainState`` with a leading seeds axis (fully addressable arrays).
      metrics: per-update metrics so far, ``{field: [S, U]}`` (``Metrics`` fields).
      config, hparams: the run's settings.
      root_seed: the ``--seed`` the seeds' keys were split from.
      keep: how many newest step directories to keep (>= 1).

    Returns:
      The step directory written.
    """
    import orbax.checkpoint as ocp

    run_dir = Path(run_dir).absolute()
    updates_done = int(np.asarray(state.update).reshape(-1)[0])
    seeds = int(np.asarray(state.update).reshape(-1).shape[0])
    tree = {"state": state._replace(key=jax.random.key_data(state.key)),
            "metrics": {k: np.asarray(v) for k, v in metrics.items()}}
    steps = run_dir / _STEPS
    steps.mkdir(parents=True, exist_ok=True)
    target = steps / str(updates_done)
    if target.exists():  # same step saved again (e.g. Ctrl-C right after a periodic save)
        shutil.rmtree(target)
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(target, tree)
        ckptr.wait_until_finished()
    meta = {
        "format": FORMAT, "env": config.env, "updates_done": updates_done, "seeds": seeds,
        "root_seed": int(root_seed), "step_dir": f"{_STEPS}/{updates_done}",
        "metric_fields": sorted(tree["metrics"]), "config": dataclasses.asdict(config),
        "hparams": hparams.to_dict(), "jax_version": jax.__version__,
    }
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=f".{_META}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(meta, f, indent=2)
        os.replace(tmp, run_dir / _META)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    old = sorted((int(p.name) for p in steps.iterdir() if p.name.isdigit()), reverse=True)
    for u in old[max(1, keep):]:
        shutil.rmtree(steps / str(u), ignore_errors=True)
    return target


def load(run_dir: str | os.PathLike) -> Checkpoint:
    """Loads the newest checkpoint of ``run_dir``.

    Raises:
      CheckpointError: one line saying what is wrong: no checkpoint, an unreadable
        ``checkpoint.json``, a missing step directory, or arrays that orbax cannot read
        or that do not match the recorded settings (truncated or corrupted files).
    """
    import orbax.checkpoint as ocp

    from jaxpg.train import make_trainer

    run_dir = Path(run_dir).absolute()
    meta_path = run_dir / _META
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} is not a directory")
    if not meta_path.is_file():
        raise CheckpointError(f"no checkpoint in {run_dir} ({_META} is missing)")
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{meta_path}: unknown checkpoint format {meta.get('format')!r}")
        config = _config_from_dict(meta["config"])
        hparams = HParams(**meta["hparams"])
        seeds, updates_done = int(meta["seeds"]), int(meta["updates_done"])
        fields = list(meta["metric_fields"])
        step_dir = run_dir / meta["step_dir"]
    except CheckpointError:
        raise
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{meta_path} is corrupted: {type(e).__name__}: {e}") from None
    if not step_dir.is_dir():
        raise CheckpointError(f"checkpoint {step_dir} is missing (truncated run directory)")
    trainer = make_trainer(config)
    one = jax.eval_shape(trainer.init, jax.random.key(0), hparams)
    abstract_state = jax.tree.map(lambda s: jax.ShapeDtypeStruct((seeds, *s.shape), s.dtype),
                                  one._replace(key=jax.eval_shape(jax.random.key_data, one.key)))
    ints = ("env_steps", "sim_steps", "nonfinite_obs")
    dtypes = {f: (np.int32 if f in ints else np.float32) for f in fields}
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
    return Checkpoint(state, metrics, config, hparams, int(meta["root_seed"]), seeds, updates_done)


def metrics_dict(collected: list[Metrics]) -> dict[str, np.ndarray]:
    """Concatenates per-chunk ``Metrics`` (numpy, ``[S, chunk]``) into ``{field: [S, U]}``."""
    return {f: np.concatenate([np.asarray(getattr(m, f)) for m in collected], axis=1)
            for f in Metrics._fields}
