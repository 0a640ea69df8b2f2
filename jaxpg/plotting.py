"""Plots of ``jaxpg train`` / ``jaxpg sweep`` output directories.

* ``learning_curves``: IQM over seeds of the training return against environment steps (or
  updates), with a 95 % stratified-bootstrap band (Agarwal et al. 2021; see ``jaxpg.stats``).
* ``final_scores``: the distribution over seeds of the final evaluation score of every run or
  sweep point (dots and a box plot).
* ``performance_profiles``: the fraction of seeds whose final score exceeds each threshold, with
  a 95 % stratified-bootstrap band (Agarwal et al. 2021's performance profiles).

The run directories are read by ``jaxpg.rundir`` (``read_run``, re-exported here, and
``read_results``). Figures are ``matplotlib.figure.Figure`` objects on their own Agg canvas (no
display needed; pyplot, its global state and the caller's backend are left alone) and are
written atomically.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from numpy.typing import ArrayLike

from jaxpg import rundir
from jaxpg.fileio import atomic_write
from jaxpg.results import _as_dirs, _chosen, _labels, final_score_data
from jaxpg.rundir import read_run
from jaxpg.stats import _scores_matrix, curve_iqm_ci, iqm, performance_profile_ci

__all__ = ["read_run", "align_curves", "learning_curve_data", "learning_curves", "final_scores",
           "final_score_data", "performance_profiles", "performance_profiles_from_scores"]

StrPath = rundir.StrPath
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
        table, column = _resolve_metric(metric, run.meta)
        if table == "evals":
            run = dataclasses.replace(read_run(d, "evals"), label=run.label, meta=run.meta, env=run.env)
        if column not in run:
            raise ValueError(f"{run.dir}: no {column!r} column in {table}.csv")
        name = names[i] if names else run.label
        sweep = run.layout == "sweep"
        for p, plabel in _chosen(run.point_labels, point, run.dir, sweep):
            steps = run.curve("env_steps", p)
            ret = smooth(run.curve(column, p), smoothing)
            if x == "env_steps":
                xs, ys = align_curves(steps, ret, points)
            else:
                n = ret.shape[1]
                keep = np.unique(np.linspace(0, n - 1, min(points, n)).round()).astype(int)
                xs, ys = run.updates[keep].astype(np.float64), ret[:, keep]
            if not np.all(np.isfinite(ys)):
                raise ValueError(f"{run.dir / (table + '.csv')}: {column} has nan/inf values"
                                 + (f" at point {p} ({plabel})" if sweep else ""))
            mid, lo, hi = curve_iqm_ci(ys, reps=reps, confidence=confidence, seed=0)
            curves.append({"label": f"{name}: {plabel}" if sweep else name, "x": xs, "iqm": mid,
                           "lo": lo, "hi": hi, "seeds": ys.shape[0], "env": run.env, "metric": column})
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
    out = Path(out_path)
    supported = FigureCanvasAgg.get_supported_filetypes()
    if out.suffix[1:].lower() not in supported:
        raise ValueError(f"{out}: unsupported image format {out.suffix or '(no suffix)'!r}; use one of "
                         f"{', '.join('.' + f for f in sorted(supported))}")
    return out


def _figure(size: tuple[float, float]) -> Figure:
    """A Figure on its own Agg canvas (pyplot's global state and backend are not touched)."""
    fig = Figure(figsize=size, dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, out: Path) -> Path:
    """Renders ``fig`` and writes it to ``out`` atomically (``jaxpg.fileio.atomic_write``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=out.suffix[1:].lower())
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, buf.getvalue())
    except OSError as e:
        raise ValueError(f"cannot write {out}: {e.strerror or e}") from None
    return out
