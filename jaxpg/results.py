"""Per-seed scores read from run directories: what ``compare`` compares and ``plot --final-scores`` draws.

One column per ``jaxpg train`` run, ``sweep`` point or ``tune`` trial; a seed's score by the chosen
metric of ``jaxpg.scores`` (``eval`` from ``summary.json``/``sweep.json``, the training metrics
from ``metrics.csv``; a search's trial from its slot's rows, from the update it started at).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxpg import rundir, scores
from jaxpg.rundir import read_run
from jaxpg.types import point_label

__all__ = ["final_score_data"]

StrPath = rundir.StrPath


def _scores_of(source: Path, entry: Mapping[str, Any], what: str) -> np.ndarray:
    score = entry.get("eval_score")
    if score is None:
        mean, std = entry.get("eval_mean"), entry.get("eval_std")
        if mean is None or std is None:
            raise ValueError(f"{source}: {what} has no evaluation scores (interrupted or unfinished run)")
        try:
            score = np.asarray(mean, dtype=np.float64) - np.asarray(std, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: {what} has non-numeric eval_mean/eval_std") from None
    try:
        a = np.asarray(score, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: {what} has a non-numeric eval_score") from None
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError(f"{source}: {what} has empty or non-finite evaluation scores")
    return a


def final_score_data(
    sweep_or_run_dirs: StrPath | Sequence[StrPath],
    labels: Sequence[str] | None = None,
    point: int | Sequence[int] | None = None,
    metric: str = "eval",
) -> list[dict[str, Any]]:
    """What ``final_scores`` draws and ``compare`` compares: one column per train run, sweep point
    or search trial.

    Args:
      sweep_or_run_dirs: ``--out`` directories of ``jaxpg train``, ``sweep`` or ``tune``.
      labels: one label per directory (default: the dir name, and the env for a train run); a
        sweep's columns add each point's swept hyperparameters, a search's each trial's.
      point: only this point (or these points, in this order) of each sweep, or trials of a search.
      metric: what a seed's score is (``jaxpg.scores``): ``eval`` (mean − std of that seed's
        evaluation returns), or ``final``, ``auc``, ``steps-to:T`` of its training curve in
        ``metrics.csv`` (−inf for a seed that never reaches T).

    Returns:
      A list of dicts with ``label``, ``scores`` (one float per seed), ``never`` (seeds that never
      reached a ``steps-to`` threshold), ``ran`` (each seed's valid env steps, or None for
      ``eval``), and ``episodes`` (evaluation episodes per seed, or None).

    Raises:
      ValueError: no directories, a directory with no results, a run without evaluation scores
        (interrupted, a sweep still running, or a search) for ``eval``, an unknown metric.
    """
    scores.check_metric(metric)
    dirs = _as_dirs(sweep_or_run_dirs)
    names = _labels(labels, len(dirs))
    columns = []
    for i, d in enumerate(dirs):
        path = rundir.run_path(d)
        name = names[i] if names else rundir.run_name(path)
        many = len(dirs) > 1 or bool(names)
        if (path / "tune.json").is_file():
            columns += _trial_columns(path, name, many, point, metric)
            continue
        results = rundir.read_results(path)
        if results is None:
            raise ValueError(f"{path}: no sweep.json or summary.json "
                             "(expected the `out` directory of jaxpg train, sweep or tune)")
        source, meta = results
        curves = read_run(path) if metric != "eval" else None
        if source.name == "sweep.json":
            points = meta.get("points")
            if not isinstance(points, list) or not points:
                raise ValueError(f"{source}: no 'points' list")
            axes = list(meta.get("axes") or {})
            for p, entry in _chosen(points, point, path, True):
                if not isinstance(entry, dict):
                    raise ValueError(f"{source}: point {p} is not an object")
                hp = entry.get("hparams") or {}
                label = entry.get("label") or point_label({a: hp[a] for a in axes if a in hp}, sep="\n")
                columns.append({"label": f"{name}\n{label}" if many else label,
                                **_seed_scores(source, entry, f"point {p} ({label})", metric, curves, p),
                                "episodes": meta.get("eval_episodes"), "greedy": meta.get("eval_greedy")})
        else:
            env = meta.get("env")
            label = name if names or not env else f"{name}\n{env}"
            columns.append({"label": label, **_seed_scores(source, meta, "the run", metric, curves, 0),
                            "episodes": meta.get("eval_episodes"), "greedy": meta.get("eval_greedy")})
    return columns


def _seed_scores(source: Path, entry: Mapping[str, Any], what: str, metric: str, curves, p: int) -> dict:
    if metric == "eval":
        return {"scores": _scores_of(source, entry, what), "never": 0, "ran": None}
    returns, steps = curves.curve("mean_return", p), curves.curve("env_steps", p)
    return _checked(returns, steps, source, what, metric)


def _checked(returns, steps, source, what: str, metric: str) -> dict:
    values, never = scores.seed_scores(returns, steps, metric)
    bad = np.isnan(values) | (values == np.inf) | ((values == -np.inf) & (scores.metric_threshold(metric) is None))
    if values.size == 0 or bad.any():
        raise ValueError(f"{source}: {what} has no finite {metric} score on every seed (a diverged run?)")
    return {"scores": values, "never": never, "ran": np.asarray(steps)[:, -1].astype(np.float64)}


def _trial_columns(path: Path, name: str, many: bool, point, metric: str) -> list[dict[str, Any]]:
    """A search's trials (``tune.json``) as columns: each trial's rows of ``metrics.csv`` (its slot,
    from the update it started at), scored per seed."""
    source = path / "tune.json"
    if metric == "eval":
        raise ValueError(f"{path} is a search (jaxpg tune): it has no evaluation scores; choose `metric` "
                         f"{', '.join(scores.TRAINING_METRICS)}")
    rec = rundir.read_json(source)
    trials = rec.get("trials") if isinstance(rec, dict) else None
    if not isinstance(trials, list) or not trials:
        raise ValueError(f"{source}: no 'trials' list")
    curves = read_run(path)
    returns, steps = curves.columns["mean_return"], curves.columns["env_steps"]  # [slots, S, U]
    columns = []
    for t, trial in _chosen(trials, point, path, True):
        try:
            slot, start, n = int(trial["slot"]), int(trial["started_at"]), int(trial["updates"])
            hp = {k: float(v) for k, v in trial["hparams"].items()}
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{source}: trial {t} lacks slot, started_at, updates or hparams") from None
        if not (0 <= slot < returns.shape[0] and 0 <= start and start + n <= returns.shape[-1] and n > 0):
            raise ValueError(f"{source}: trial {t} (slot {slot}, updates {start}..{start + n}) is not in "
                             f"metrics.csv ({returns.shape[0]} slots x {returns.shape[-1]} updates)")
        before = steps[slot, :, start - 1] if start else 0
        label = f"trial {t}\n{point_label(hp, sep=chr(10))}"
        columns.append({"label": f"{name}\n{label}" if many else label,
                        **_checked(returns[slot, :, start:start + n],
                                   steps[slot, :, start:start + n] - np.asarray(before)[..., None], source,
                                   f"trial {t}", metric),
                        "episodes": None, "greedy": None})
    return columns


def _chosen(items: Sequence, point: int | Sequence[int] | None, where, sweep: bool) -> list[tuple[int, Any]]:
    """``(index, item)`` of every point, or of the chosen ``point`` (an index or a list) only."""
    pairs = list(enumerate(items))
    if point is None or not sweep:
        return pairs
    chosen = [point] if isinstance(point, int | np.integer) else list(point)
    bad = [p for p in chosen if not 0 <= p < len(pairs)]
    if bad or not chosen:
        raise ValueError(f"{where}: `point` {bad[0] if bad else chosen} is out of range (points 0..{len(pairs) - 1})")
    return [pairs[p] for p in chosen]


def _as_dirs(dirs: StrPath | Sequence[StrPath]) -> list[StrPath]:
    items = [dirs] if isinstance(dirs, str | os.PathLike) else list(dirs)
    if not items:
        raise ValueError("no run directories given")
    return items


def _labels(labels: Sequence[str] | None, n: int) -> list[str] | None:
    if labels is None:
        return None
    if isinstance(labels, str) or len(labels) != n:
        raise ValueError(f"labels must be a list with one label per directory ({n}), got {labels!r}")
    return [str(s) for s in labels]
