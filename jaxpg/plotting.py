"""Plots of ``jaxpg train`` / ``jaxpg sweep`` output directories.

* ``learning_curves``: IQM over seeds of the training return against environment steps (or
  updates), with a 95 % stratified-bootstrap band (Agarwal et al. 2021; see ``jaxpg.stats``).
* ``final_scores``: the distribution over seeds of the final evaluation score of every run or
  sweep point (dots and a box plot).
* ``performance_profiles``: the fraction of seeds whose final score exceeds each threshold, with
  a 95 % stratified-bootstrap band (Agarwal et al. 2021's performance profiles).

matplotlib is imported inside the functions, so ``import jaxpg.plotting`` stays cheap and works
without it; figures are rendered by the Agg canvas (no display needed, and the caller's pyplot
backend is left alone) and written atomically.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from jaxpg.fileio import atomic_write
from jaxpg.stats import _scores_matrix, curve_iqm_ci, iqm, performance_profile_ci
from jaxpg.types import point_label

__all__ = ["read_run", "align_curves", "learning_curve_data", "learning_curves", "final_scores",
           "final_score_data", "performance_profiles", "performance_profiles_from_scores"]

StrPath = str | os.PathLike
_INT_COLUMNS = ("point", "seed", "update", "env_steps")
_REQUIRED = ("seed", "update", "env_steps", "mean_return")
_X_LABELS = {"env_steps": "environment steps per seed (valid)", "update": "update (gradient steps)"}
TRAIN_METRICS = ("mean_return", "loss", "entropy", "grad_norm", "mean_length")
EVAL_METRICS = ("sampled_mean", "sampled_std", "sampled_score", "greedy_mean", "greedy_std", "greedy_score")
_METRIC_LABELS = {"mean_return": "training return", "loss": "loss", "entropy": "policy entropy",
                  "grad_norm": "gradient norm", "mean_length": "training episode length",
                  "sampled_mean": "evaluation return (sampled)", "greedy_mean": "evaluation return (greedy)",
                  "sampled_score": "evaluation score (sampled, mean - std)",
                  "greedy_score": "evaluation score (greedy, mean - std)",
                  "sampled_std": "evaluation return std (sampled)", "greedy_std": "evaluation return std (greedy)"}


# --------------------------------------------------------------------------------------------
# Reading


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read it as JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _run_dir(run_dir: StrPath) -> Path:
    path = Path(run_dir)
    if not path.exists():
        raise ValueError(f"{path}: no such directory")
    if not path.is_dir():
        raise ValueError(f"{path}: not a directory")
    return path


def _dir_name(path: Path) -> str:
    return path.resolve().name or str(path)


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


_point_label = point_label


def read_run(run_dir: StrPath, table: str = "metrics") -> dict[str, Any]:
    """Reads the ``metrics.csv`` (or ``evals.csv``) of a ``jaxpg train`` or ``sweep`` directory.

    Args:
      run_dir: the ``--out`` directory.
      table: ``"metrics"`` (every update's training metrics) or ``"evals"`` (the evaluations
        during training of ``--eval-every``: ``sampled_mean`` ... ``greedy_score``).

    Returns:
      A dict with

      * ``"dir"`` (Path), ``"layout"`` (``"train"`` or ``"sweep"``), ``"env"`` (str or None),
        ``"label"`` (``"<env> (<dir name>)"``, or the dir name without a summary/sweep JSON),
        ``"meta"`` (the parsed ``summary.json`` / ``sweep.json``, or None);
      * ``"seeds"`` [S] seed indices and ``"updates"`` [U] update numbers (1-based);
      * one float64 array per metric column (``"env_steps"`` int64, cumulative valid env steps of
        the seed; ``"mean_return"``, ``"loss"``, ``"mean_length"``, ``"entropy"``,
        ``"grad_norm"``), shaped [S, U] for a train run and [P, S, U] for a sweep;
      * ``"axes"`` (the swept hyperparameter names; ``[]`` for a train run), ``"points"``
        (one ``{axis: value}`` dict per sweep point; ``[{}]`` for a train run) and
        ``"point_labels"``.

    Raises:
      ValueError: (one line) the directory is missing or has no ``metrics.csv``; the CSV is
        malformed (unknown layout, ragged or non-numeric rows, a missing or repeated
        (point, seed, update), env_steps that decrease), or the JSON beside it is unreadable.
    """
    path = _run_dir(run_dir)
    if table not in ("metrics", "evals"):
        raise ValueError(f"table must be 'metrics' or 'evals', got {table!r}")
    csv_path = path / f"{table}.csv"
    if not csv_path.is_file():
        if table == "evals":
            raise ValueError(f"{path}: no evals.csv (train with --eval-every K to evaluate during training)")
        raise ValueError(f"{path}: no metrics.csv (expected the --out directory of jaxpg train or sweep)")
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
    out: dict[str, Any] = {"dir": path, "layout": layout, "axes": axes}
    if "env_steps" not in metric_names:
        raise ValueError(f"{csv_path}: no env_steps column")
    for name in metric_names:
        grid = np.empty(math.prod(shape), dtype=cols[name].dtype)
        grid[flat] = cols[name]
        out[name] = grid.reshape(shape)
    if np.any(np.diff(out["env_steps"], axis=-1) < 0):
        raise ValueError(f"{csv_path}: env_steps decreases from one update to the next "
                         "(expected each seed's cumulative count)")
    out["seeds"], out["updates"] = ids[-2], ids[-1]

    if layout == "sweep":
        _, first = np.unique(cols["point"], return_index=True)  # each point's first row
        points = [{a: float(cols[a][r]) for a in axes} for r in first]
    else:
        points = [{}]
    out["points"], out["point_labels"] = points, [_point_label(p) for p in points]

    meta = _read_json(path / ("sweep.json" if layout == "sweep" else "summary.json"))
    env = meta.get("env") if meta else None
    out["meta"], out["env"] = meta, env
    out["label"] = f"{env} ({_dir_name(path)})" if env else _dir_name(path)
    return out


# --------------------------------------------------------------------------------------------
# Learning curves


def align_curves(x: ArrayLike, y: ArrayLike, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Puts every seed's curve on one shared x grid by linear interpolation (``np.interp``).

    Each seed has its own cumulative env-step counts, so its returns are interpolated onto
    ``points`` evenly spaced x values covering the range every seed has data for: from the
    largest first x to the smallest last x (no extrapolation). If the seeds' ranges do not
    overlap (e.g. a single update each, with different step counts), the result is the one grid
    point ``median(last x)`` with every seed's last value.

    Args:
      x: [S, U] non-decreasing x of each seed (e.g. cumulative env steps).
      y: [S, U] values at those x.
      points: grid size (>= 1).

    Returns:
      ``(grid [G], values [S, G])`` with ``G = points`` (or 1, see above).

    Raises:
      ValueError: mismatched or non-2-D shapes, an empty curve, or ``points < 1``.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or x.shape != y.shape or x.shape[1] == 0 or x.shape[0] == 0:
        raise ValueError(f"x and y must both be [seeds, updates] and non-empty, got {x.shape} and {y.shape}")
    if points < 1:
        raise ValueError(f"points must be >= 1, got {points}")
    lo, hi = x[:, 0].max(), x[:, -1].min()
    if hi < lo:
        return np.array([np.median(x[:, -1])]), y[:, -1:].copy()
    grid = np.linspace(lo, hi, points) if hi > lo else np.array([hi])
    return grid, np.stack([np.interp(grid, xs, ys) for xs, ys in zip(x, y, strict=True)])


def smooth(y: ArrayLike, window: int) -> np.ndarray:
    """Trailing moving average over the last ``window`` values of each row (``[..., U]``): value
    u is the mean of values ``max(0, u - window + 1) .. u`` (the first ones average fewer)."""
    y = np.asarray(y, dtype=np.float64)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"the smoothing window must be a positive integer, got {window!r}")
    if window == 1:
        return y
    c = np.cumsum(y, axis=-1)
    out = c.copy()
    out[..., window:] = c[..., window:] - c[..., :-window]
    n = np.minimum(np.arange(1, y.shape[-1] + 1), window)
    return out / n


def _resolve_metric(metric: str, run_meta: Mapping[str, Any] | None) -> tuple[str, str]:
    """``(table, column)`` of a ``--metric``: a metrics.csv column, an evals.csv column, or
    ``eval`` (the evaluation mode the run reported: ``sampled_mean`` or ``greedy_mean``)."""
    if metric == "eval":
        greedy = bool((run_meta or {}).get("eval_greedy"))
        return "evals", "greedy_mean" if greedy else "sampled_mean"
    if metric in TRAIN_METRICS:
        return "metrics", metric
    if metric in EVAL_METRICS:
        return "evals", metric
    raise ValueError(f"unknown metric {metric!r}; choose from eval, {', '.join(TRAIN_METRICS + EVAL_METRICS)}")


def learning_curve_data(
    run_dirs: StrPath | Sequence[StrPath],
    labels: Sequence[str] | None = None,
    x: str = "env_steps",
    reps: int = 2000,
    points: int = 200,
    confidence: float = 0.95,
    point: int | None = None,
    metric: str = "mean_return",
    smoothing: int = 1,
) -> list[dict[str, Any]]:
    """What ``learning_curves`` draws: one curve per train run (one per point of a sweep).

    Args:
      run_dirs: ``--out`` directories of ``jaxpg train`` or ``jaxpg sweep``.
      labels: one legend label per directory (default: ``read_run``'s label); a sweep's curves
        are labelled ``"<label>: <point>"``.
      x: ``"env_steps"`` (seeds interpolated onto a common grid, see ``align_curves``) or
        ``"update"`` (at most ``points`` evenly spaced updates).
      reps: bootstrap replicates of the band.
      points: points per curve.
      confidence: coverage of the band.
      metric: the column drawn: ``mean_return`` (default) or another ``metrics.csv`` column
        (``loss``, ``entropy``, ``grad_norm``, ``mean_length``), ``eval`` (the evaluations during
        training, in the mode the run reported) or an ``evals.csv`` column (``greedy_score``...).
      smoothing: trailing moving average over this many updates (evaluations), per seed,
        before the IQM.

    Returns:
      A list of dicts with ``label``, ``x`` [G], ``iqm``, ``lo``, ``hi`` [G], ``seeds`` (S),
      ``env`` (str or None) and ``metric`` (the column drawn).

    Raises:
      ValueError: no directories, a bad ``x`` or ``labels``, or any ``read_run`` error.
    """
    dirs = _as_dirs(run_dirs)
    if x not in _X_LABELS:
        raise ValueError(f"x must be one of {', '.join(map(repr, _X_LABELS))}, got {x!r}")
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise ValueError(f"points must be a positive integer, got {points!r}")
    names = _labels(labels, len(dirs))
    smooth(np.zeros(1), smoothing)  # checks the window before reading anything
    curves = []
    for i, d in enumerate(dirs):
        run = read_run(d)
        table, column = _resolve_metric(metric, run["meta"])
        if table == "evals":
            run = {**read_run(d, "evals"), "label": run["label"], "meta": run["meta"], "env": run["env"]}
        if column not in run:
            raise ValueError(f"{run['dir']}: no {column!r} column in {table}.csv")
        name = names[i] if names else run["label"]
        sweep = run["layout"] == "sweep"
        for p, plabel in _chosen(run["point_labels"], point, run["dir"], sweep):
            steps = run["env_steps"][p] if sweep else run["env_steps"]
            ret = smooth(run[column][p] if sweep else run[column], smoothing)
            if x == "env_steps":
                xs, ys = align_curves(steps, ret, points)
            else:
                n = ret.shape[1]
                keep = np.unique(np.linspace(0, n - 1, min(points, n)).round()).astype(int)
                xs, ys = run["updates"][keep].astype(np.float64), ret[:, keep]
            if not np.all(np.isfinite(ys)):
                raise ValueError(f"{run['dir'] / (table + '.csv')}: {column} has nan/inf values"
                                 + (f" at point {p} ({plabel})" if sweep else ""))
            mid, lo, hi = curve_iqm_ci(ys, reps=reps, confidence=confidence, seed=0)
            curves.append({"label": f"{name}: {plabel}" if sweep else name, "x": xs, "iqm": mid,
                           "lo": lo, "hi": hi, "seeds": ys.shape[0], "env": run["env"], "metric": column})
    return curves


def learning_curves(
    run_dirs: StrPath | Sequence[StrPath],
    out_path: StrPath,
    labels: Sequence[str] | None = None,
    x: str = "env_steps",
    reps: int = 2000,
    hlines: Mapping[str, float] | None = None,
    title: str | None = None,
    points: int = 200,
    point: int | None = None,
    metric: str = "mean_return",
    smoothing: int = 1,
    log_x: bool = False,
) -> Path:
    """Plots IQM learning curves with 95 % stratified-bootstrap bands (Agarwal et al. 2021).

    One line per train run (per point of a sweep): at each x, the interquartile mean over seeds
    of the training return (``mean_return``: the mean undiscounted return of the update's
    episodes), shaded between the 2.5 and 97.5 percentiles of 2,000 (``reps``) bootstrap
    replicates of that IQM. Against env steps, every seed's curve is first interpolated onto a
    shared grid of ``points`` x values (see ``align_curves``).

    Args:
      run_dirs: one or more ``--out`` directories of ``jaxpg train`` / ``jaxpg sweep``.
      out_path: the image to write (format from the suffix: .png, .pdf, .svg, ...); its parent
        directory is created. Written to a temporary file beside it, then renamed over it.
      labels: one legend label per directory (default: ``"<env> (<dir name>)"``).
      x: ``"env_steps"`` (default) or ``"update"``.
      reps: bootstrap replicates.
      hlines: ``{label: y}`` reference lines, drawn dashed, e.g. ``{"course pass (350)": 350}``.
      title: figure title (default: the env name(s)).
      points: points per curve.
      metric, smoothing: see ``learning_curve_data``.
      log_x: a logarithmic x axis.

    Returns:
      ``out_path`` as a Path.

    Raises:
      ValueError: bad arguments, an unsupported image format, or any ``read_run`` error.
    """
    out = _check_format(out_path)
    refs = _hlines(hlines)
    curves = learning_curve_data(run_dirs, labels, x, reps, points, point=point, metric=metric,
                                 smoothing=smoothing)
    fig = _figure((7.0, 4.5))
    ax = fig.add_subplot()
    for c in curves:
        marker = "o" if len(c["x"]) == 1 else None
        (line,) = ax.plot(c["x"], c["iqm"], marker=marker, lw=1.8, label=f"{c['label']} (n={c['seeds']})")
        ax.fill_between(c["x"], c["lo"], c["hi"], color=line.get_color(), alpha=0.2, lw=0)
    _draw_hlines(ax, refs)
    seeds = {c["seeds"] for c in curves}
    over = f"{seeds.pop()} seeds" if len(seeds) == 1 else "seeds"
    ax.set_xlabel(_X_LABELS[x])
    if x == "update":
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    what = _METRIC_LABELS.get(curves[0]["metric"], curves[0]["metric"]) if curves else "episode return"
    sm = f", smoothed over {smoothing}" if smoothing > 1 else ""
    ax.set_ylabel(f"{what} (IQM over {over}, 95% CI{sm})")
    if log_x:
        ax.set_xscale("log")
    else:
        ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    envs = sorted({c["env"] for c in curves if c["env"]})
    ax.set_title(title if title is not None else
                 f"{', '.join(envs) + ': ' if envs else ''}{what}, IQM and 95% bootstrap CI")
    ax.legend(fontsize="small", loc="best")
    return _save(fig, out)


# --------------------------------------------------------------------------------------------
# Final scores


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
    point: int | None = None,
) -> list[dict[str, Any]]:
    """What ``final_scores`` draws: one column per train run or sweep point.

    Args:
      sweep_or_run_dirs: ``--out`` directories holding ``sweep.json`` or ``summary.json``.
      labels: one label per directory (default: the dir name, and the env for a train run); a
        sweep's columns add each point's swept hyperparameters.

    Returns:
      A list of dicts with ``label`` and ``scores`` (one float per seed: ``eval_score``, i.e.
      mean − std of that seed's evaluation returns; ``eval_mean − eval_std`` where a file has no
      ``eval_score``), and ``episodes`` (evaluation episodes per seed, or None).

    Raises:
      ValueError: no directories, a directory with neither JSON, or a run without evaluation
        scores (interrupted, or a sweep still running).
    """
    dirs = _as_dirs(sweep_or_run_dirs)
    names = _labels(labels, len(dirs))
    columns = []
    for i, d in enumerate(dirs):
        path = _run_dir(d)
        name = names[i] if names else _dir_name(path)
        sweep, summary = _read_json(path / "sweep.json"), _read_json(path / "summary.json")
        if sweep is not None:
            source, meta = path / "sweep.json", sweep
            points = sweep.get("points")
            if not isinstance(points, list) or not points:
                raise ValueError(f"{source}: no 'points' list")
            axes = list(sweep.get("axes") or {})
            for p, entry in _chosen(points, point, path, True):
                if not isinstance(entry, dict):
                    raise ValueError(f"{source}: point {p} is not an object")
                hp = entry.get("hparams") or {}
                label = entry.get("label") or _point_label({a: hp[a] for a in axes if a in hp}, sep="\n")
                columns.append({"label": f"{name}\n{label}" if len(dirs) > 1 or names else label,
                                "scores": _scores_of(source, entry, f"point {p} ({label})"),
                                "episodes": meta.get("eval_episodes"), "greedy": meta.get("eval_greedy")})
        elif summary is not None:
            source = path / "summary.json"
            env = summary.get("env")
            label = name if names or not env else f"{name}\n{env}"
            columns.append({"label": label, "scores": _scores_of(source, summary, "the run"),
                            "episodes": summary.get("eval_episodes"), "greedy": summary.get("eval_greedy")})
        else:
            raise ValueError(f"{path}: no sweep.json or summary.json "
                             "(expected the --out directory of jaxpg train or sweep)")
    return columns


def final_scores(
    sweep_or_run_dirs: StrPath | Sequence[StrPath],
    out_path: StrPath,
    labels: Sequence[str] | None = None,
    hlines: Mapping[str, float] | None = None,
    title: str | None = None,
    point: int | None = None,
) -> Path:
    """Plots the distribution over seeds of each run's (or sweep point's) final evaluation score.

    One column per train run or sweep point: every seed's score (``eval_score`` = mean − std of
    its evaluation returns, the Hugging Face course's score) as a jittered dot, over a box plot
    (median, quartiles, whiskers at 1.5 IQR), and the IQM over seeds as a diamond.

    Args:
      sweep_or_run_dirs: one or more ``--out`` directories of ``jaxpg sweep`` / ``jaxpg train``.
      out_path: the image to write (format from the suffix); written atomically.
      labels: one label per directory (see ``final_score_data``).
      hlines: ``{label: y}`` reference lines, drawn dashed, e.g. ``{"course pass (350)": 350}``.
      title: figure title.

    Returns:
      ``out_path`` as a Path.

    Raises:
      ValueError: bad arguments, an unsupported image format, or any ``final_score_data`` error.
    """
    out = _check_format(out_path)
    refs = _hlines(hlines)
    columns = final_score_data(sweep_or_run_dirs, labels, point=point)
    fig = _figure((max(4.5, 1.6 * len(columns) + 1.5), 5.0))
    ax = fig.add_subplot()
    pos = np.arange(1, len(columns) + 1)
    ax.boxplot([c["scores"] for c in columns], positions=pos, widths=0.5, showfliers=False,
               medianprops={"color": "black"}, boxprops={"color": "0.4"}, whiskerprops={"color": "0.4"},
               capprops={"color": "0.4"})
    rng = np.random.default_rng(0)  # deterministic jitter: the same inputs give the same image
    for i, c in enumerate(columns):
        jitter = rng.uniform(-0.15, 0.15, size=c["scores"].size)
        ax.scatter(pos[i] + jitter, c["scores"], s=16, alpha=0.7, color="C0", zorder=3,
                   label="seed" if i == 0 else None)
        ax.scatter([pos[i]], [iqm(c["scores"])], marker="D", s=40, color="C3", zorder=4,
                   label="IQM over seeds" if i == 0 else None)
    _draw_hlines(ax, refs)
    ax.set_xticks(pos, [c["label"] for c in columns], rotation=30 if len(columns) > 4 else 0,
                  ha="right" if len(columns) > 4 else "center", fontsize="small")
    episodes = {c["episodes"] for c in columns}
    greedy = {c["greedy"] for c in columns}
    how = f" over {episodes.pop()} episodes" if len(episodes) == 1 and None not in episodes else ""
    mode = {True: "greedy ", False: "sampled "}.get(greedy.pop(), "") if len(greedy) == 1 else ""
    ax.set_ylabel(f"final score per seed\n(mean − std of {mode}eval return{how})")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title if title is not None else "Final evaluation score per seed")
    ax.legend(fontsize="small", loc="best")
    return _save(fig, out)


def _profile_taus(scores: Sequence[np.ndarray]) -> np.ndarray:
    """Every distinct score, plus one threshold below the lowest and one above the highest.

    The profile is constant between consecutive scores, so a step curve through these thresholds
    (``where="post"``) is exact.
    """
    values = np.unique(np.concatenate([np.ravel(a) for a in scores]))
    margin = 0.05 * (values[-1] - values[0]) or 0.05 * max(abs(values[0]), 1.0)
    return np.concatenate([[values[0] - margin], values, [values[-1] + margin]])


def performance_profiles_from_scores(
    curves: Sequence[tuple[str, ArrayLike]],
    out_path: StrPath,
    taus: ArrayLike | None = None,
    reps: int = 2000,
    title: str | None = None,
) -> Path:
    """Draws ``performance_profiles`` from score matrices: one step curve and band per entry.

    Args:
      curves: ``(label, scores)`` pairs; ``scores`` is [seeds] or [seeds, tasks] (see
        ``jaxpg.stats.performance_profile``: with several tasks, the fraction is averaged over them).
      out_path: the image to write (format from the suffix); written atomically.
      taus: the thresholds (default: every distinct score, and one beyond each end, which draws
        the step curves exactly).
      reps: bootstrap replicates of the bands.
      title: figure title.

    Returns:
      ``out_path`` as a Path.

    Raises:
      ValueError: no curves, bad scores or taus, or an unsupported image format.
    """
    out = _check_format(out_path)
    if not curves:
        raise ValueError("no score sets to draw")
    mats = [(str(label), _scores_matrix(scores)) for label, scores in curves]
    grid = _profile_taus([m for _, m in mats]) if taus is None else np.asarray(taus, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
        raise ValueError(f"taus must be a non-empty 1-D list of finite numbers, got {taus!r}")
    grid = np.sort(grid)
    fig = _figure((7.0, 4.5))
    ax = fig.add_subplot()
    for label, m in mats:
        mid, lo, hi = performance_profile_ci(m, grid, reps=reps, seed=0)
        (line,) = ax.step(grid, mid, where="post", lw=1.8, label=f"{label} (n={m.shape[0]})")
        ax.fill_between(grid, lo, hi, step="post", color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel("final score (mean - std of the evaluation returns)")
    tasks = max(m.shape[1] for _, m in mats)
    ax.set_ylabel(r"fraction of seeds with score > $\tau$" + ("\n(mean over environments)" if tasks > 1 else ""))
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title if title is not None else "Performance profiles of the final score (95% bootstrap CI)")
    ax.legend(fontsize="small", loc="best")
    return _save(fig, out)


def performance_profiles(
    dirs: StrPath | Sequence[StrPath],
    out_path: StrPath,
    labels: Sequence[str] | None = None,
    point: int | None = None,
    taus: ArrayLike | None = None,
    reps: int = 2000,
    title: str | None = None,
) -> Path:
    """Plots performance profiles of the final scores, with 95 % stratified-bootstrap bands.

    One step curve per train run or sweep point (the columns of ``final_score_data``): at each
    threshold ``tau``, the fraction of its seeds whose final score (``eval_score`` = mean − std of
    the evaluation returns) is strictly above ``tau`` (``jaxpg.stats.performance_profile``; one
    task, the seeds as runs), shaded between the 2.5 and 97.5 percentiles of ``reps`` bootstrap
    replicates (``jaxpg.stats.performance_profile_ci``). A curve that lies above another at every
    ``tau`` is stochastically dominant (Agarwal et al. 2021).

    Args:
      dirs: one or more ``--out`` directories of ``jaxpg train`` / ``jaxpg sweep``.
      out_path: the image to write (format from the suffix); written atomically.
      labels: one label per directory (see ``final_score_data``).
      point: draw only this point of each sweep directory (default: every point).
      taus: the thresholds (default: every distinct score, and one beyond each end).
      reps: bootstrap replicates of the bands.
      title: figure title.

    Returns:
      ``out_path`` as a Path.

    Raises:
      ValueError: bad arguments, an unsupported image format, or any ``final_score_data`` error.
    """
    _check_format(out_path)
    columns = final_score_data(dirs, labels, point=point)
    curves = [(c["label"].replace("\n", " "), c["scores"]) for c in columns]
    return performance_profiles_from_scores(curves, out_path, taus=taus, reps=reps, title=title)


# --------------------------------------------------------------------------------------------
# Helpers


def _chosen(items: Sequence, point: int | None, where, sweep: bool) -> list[tuple[int, Any]]:
    """``(index, item)`` of every point, or of point ``point`` only (a sweep directory)."""
    pairs = list(enumerate(items))
    if point is None or not sweep:
        return pairs
    if not 0 <= point < len(pairs):
        raise ValueError(f"{where}: --point {point} is out of range (points 0..{len(pairs) - 1})")
    return [pairs[point]]


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


def _hlines(hlines: Mapping[str, float] | None) -> list[tuple[str, float]]:
    if hlines is None:
        return []
    if not isinstance(hlines, Mapping):
        raise ValueError(f"hlines must be a dict of label -> y value, got {type(hlines).__name__}")
    out = []
    for label, y in hlines.items():
        try:
            value = float(y)
        except (TypeError, ValueError):
            raise ValueError(f"hlines[{label!r}] must be a number, got {y!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"hlines[{label!r}] must be finite, got {y!r}")
        out.append((str(label), value))
    return out


def _draw_hlines(ax, refs: list[tuple[str, float]]) -> None:
    for i, (label, y) in enumerate(refs):
        ax.axhline(y, ls="--", lw=1.2, color=("0.25", "C3", "C2", "C4")[i % 4], label=label, zorder=1)


def _check_format(out_path: StrPath) -> Path:
    """``out_path`` as a Path, after checking matplotlib can write its format."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = Path(out_path)
    supported = FigureCanvasAgg.get_supported_filetypes()
    if out.suffix[1:].lower() not in supported:
        raise ValueError(f"{out}: unsupported image format {out.suffix or '(no suffix)'!r}; use one of "
                         f"{', '.join('.' + f for f in sorted(supported))}")
    return out


def _figure(size: tuple[float, float]):
    """A Figure on its own Agg canvas (pyplot's global state and backend are not touched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out: Path) -> Path:
    """Renders ``fig`` and writes it to ``out`` atomically (``jaxpg.fileio.atomic_write``)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=out.suffix[1:].lower())
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, buf.getvalue())
    except OSError as e:
        raise ValueError(f"cannot write {out}: {e.strerror or e}") from None
    return out
