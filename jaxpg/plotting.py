"""Plots of ``jaxpg train`` / ``jaxpg sweep`` output directories.

* ``learning_curves``: IQM over seeds of the training return against environment steps (or
  updates), with a 95 % stratified-bootstrap band (Agarwal et al. 2021; see ``jaxpg.stats``).
* ``final_scores``: the distribution over seeds of the final evaluation score of every run or
  sweep point (dots and a box plot).
* ``performance_profiles``: the fraction of seeds whose final score exceeds each threshold, with
  a 95 % stratified-bootstrap band (Agarwal et al. 2021's performance profiles).

The run directories are read by ``jaxpg.rundir`` (``read_run``, re-exported here, and
``read_results``). Figures are ``matplotlib.figure.Figure`` objects on their own Agg canvas (no
display needed; pyplot, its global state and the caller's backend are left alone), sized, styled
and written atomically, nothing clipped, by ``jaxpg.figures`` (``FigureStyle``, ``save_figure``).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter
from numpy.typing import ArrayLike

from jaxpg import rundir
from jaxpg.figures import FigureStyle, _check_format, _draw_hlines, _figure, _hlines, _save, eng_format, save_figure
from jaxpg.results import _as_dirs, _chosen, _labels, final_score_data
from jaxpg.rundir import read_run
from jaxpg.stats import _scores_matrix, curve_iqm_ci, iqm, performance_profile_ci

__all__ = ["read_run", "align_curves", "learning_curve_data", "learning_curves", "learning_curve_figure",
           "final_scores", "final_score_data", "performance_profiles", "performance_profiles_from_scores",
           "FigureStyle", "save_figure", "eng_format"]

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


def align_curves(x: ArrayLike, y: ArrayLike, points: int = 200,
                 extend: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Puts every seed's curve on one shared x grid by linear interpolation (``np.interp``).

    Each seed has its own cumulative env-step counts, so its returns are interpolated onto
    ``points`` evenly spaced x values covering the range every seed has data for: from the
    largest first x to the smallest last x (no extrapolation). If the seeds' ranges do not
    overlap (e.g. a single update each, with different step counts), the result is the one grid
    point ``median(last x)`` with every seed's last value.

    With ``extend``, the grid goes on to the largest last x (``points`` evenly spaced values from
    the largest first x, plus every seed's last x), and a seed's values past its own last x are
    NaN: the seeds present at a grid point are the finite entries of its column.

    Args:
      x: [S, U] non-decreasing x of each seed (e.g. cumulative env steps).
      y: [S, U] values at those x.
      points: grid size (>= 1).
      extend: go on to the last x of any seed (see above).

    Returns:
      ``(grid [G], values [S, G])`` with ``G = points`` (or 1, see above; more with ``extend``).

    Raises:
      ValueError: mismatched or non-2-D shapes, an empty curve, or ``points < 1``.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or x.shape != y.shape or x.shape[1] == 0 or x.shape[0] == 0:
        raise ValueError(f"x and y must both be [seeds, updates] and non-empty, got {x.shape} and {y.shape}")
    if points < 1:
        raise ValueError(f"points must be >= 1, got {points}")
    lo, hi, end = x[:, 0].max(), x[:, -1].min(), x[:, -1].max()
    if hi < lo:
        return np.array([np.median(x[:, -1])]), y[:, -1:].copy()
    if extend and end > hi:
        grid = np.union1d(np.linspace(lo, end, points), x[:, -1][x[:, -1] >= lo])
        return grid, np.stack([np.where(grid <= xs[-1], np.interp(grid, xs, ys), np.nan)
                               for xs, ys in zip(x, y, strict=True)])
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
      labels: one legend label per directory (default: the directory's name, with its parent's
        when two share a name); a sweep's curves are labelled ``"<label>: <point>"``.
      x: ``"env_steps"`` (seeds interpolated onto a common grid, see ``align_curves``; an
        ``evals.csv`` curve goes on to the last evaluation of any seed, ``extend``) or
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
      ``n`` [G] (the seeds present at each x: S, except past the end of a seed's evaluations),
      ``env`` (str or None), ``metric`` (the column drawn), ``axis`` (``x``) and ``smoothing``.
      The IQM and band at each x are over the seeds present there.

    Raises:
      ValueError: no directories, a bad ``x`` or ``labels``, or any ``read_run`` error.
    """
    dirs = _as_dirs(run_dirs)
    if x not in _X_LABELS:
        raise ValueError(f"x must be one of {', '.join(map(repr, _X_LABELS))}, got {x!r}")
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise ValueError(f"points must be a positive integer, got {points!r}")
    names = _labels(labels, len(dirs)) or _dir_labels(dirs)
    smooth(np.zeros(1), smoothing)  # checks the window before reading anything
    curves = []
    for i, d in enumerate(dirs):
        run = read_run(d)
        table, column = _resolve_metric(metric, run.meta)
        if table == "evals":
            run = dataclasses.replace(read_run(d, "evals"), label=run.label, meta=run.meta, env=run.env)
        if column not in run:
            raise ValueError(f"{run.dir}: no {column!r} column in {table}.csv")
        name = names[i]
        sweep = run.layout == "sweep"
        for p, plabel in _chosen(run.point_labels, point, run.dir, sweep):
            steps = run.curve("env_steps", p)
            ret = smooth(run.curve(column, p), smoothing)
            if x == "env_steps":
                bad = not np.all(np.isfinite(ret))
                xs, ys = align_curves(steps, ret, points, extend=table == "evals")
            else:
                n = ret.shape[1]
                keep = np.unique(np.linspace(0, n - 1, min(points, n)).round()).astype(int)
                xs, ys = run.updates[keep].astype(np.float64), ret[:, keep]
                bad = not np.all(np.isfinite(ys))
            if bad:
                raise ValueError(f"{run.dir / (table + '.csv')}: {column} has nan/inf values"
                                 + (f" at point {p} ({plabel})" if sweep else ""))
            mid, lo, hi = _iqm_ci_of_present(ys, reps, confidence)
            curves.append({"label": f"{name}: {plabel}" if sweep else name, "x": xs, "iqm": mid, "lo": lo,
                           "hi": hi, "seeds": ys.shape[0], "n": np.isfinite(ys).sum(axis=0), "env": run.env,
                           "metric": column, "axis": x, "smoothing": smoothing})
    return curves


def _dir_labels(dirs: Sequence[StrPath]) -> list[str]:
    """Each directory's name; ``parent/name`` for names that two of them share."""
    paths = [Path(d).resolve() for d in dirs]
    names = [p.name or str(p) for p in paths]
    return [f"{p.parent.name}/{n}" if names.count(n) > 1 and p.parent.name else n
            for p, n in zip(paths, names, strict=True)]


def _iqm_ci_of_present(ys: np.ndarray, reps: int, confidence: float) -> tuple[np.ndarray, ...]:
    """``curve_iqm_ci`` over the seeds present (finite) at each point of ``ys`` [S, G]: one call per
    run of points with the same seeds present (one call when every seed is everywhere)."""
    present = np.isfinite(ys)
    cuts = [0, *(np.flatnonzero(np.any(present[:, 1:] != present[:, :-1], axis=0)) + 1), ys.shape[1]]
    mid, lo, hi = (np.empty(ys.shape[1]) for _ in range(3))
    for a, b in itertools.pairwise(cuts):
        rows = present[:, a]
        mid[a:b], lo[a:b], hi[a:b] = curve_iqm_ci(ys[rows, a:b], reps=reps, confidence=confidence, seed=0)
    return mid, lo, hi


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
    shared grid of ``points`` x values (see ``align_curves``). The figure is
    ``learning_curve_figure``'s (one panel per environment); for another size, font size or y
    range, draw that with a ``FigureStyle`` and write it with ``save_figure``.

    Args:
      run_dirs: one or more ``--out`` directories of ``jaxpg train`` / ``jaxpg sweep``.
      out_path: the image to write (format from the suffix: .png, .pdf, .svg, ...); its parent
        directory is created. Written to a temporary file beside it, then renamed over it.
      labels: one legend label per directory (default: the directory's name).
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
    _hlines(hlines)
    curves = learning_curve_data(run_dirs, labels, x, reps, points, point=point, metric=metric,
                                 smoothing=smoothing)
    return _save(learning_curve_figure(curves, hlines, title, log_x), out)


def learning_curve_figure(
    curves: Sequence[Mapping[str, Any]],
    hlines: Mapping[str, float] | None = None,
    title: str | None = None,
    log_x: bool = False,
    style: FigureStyle | None = None,
) -> Figure:
    """The figure of ``learning_curve_data``'s curves (what ``learning_curves`` writes).

    Runs of one environment share one panel; runs of several get one panel each (up to three
    in a row), each with its own y axis and the environment as its title. Legend entries are
    ``"<label> (n=<seeds>)"``; a curve that goes on past the last x of some seeds (evaluations
    against env steps, see ``align_curves``) turns dashed there and reads
    ``"<label> (n=8 → 5 after 1.2M)"``: 8 seeds up to x = 1.2M, 5 at its end. Counts on the axes
    read ``250k``, ``1M`` (``eng_format``).

    Args:
      curves: ``learning_curve_data``'s list (at least one).
      hlines: ``{label: y}`` reference lines, drawn dashed in every panel.
      title: figure title (default: none; each panel is titled with its env, the y axis says what
        is drawn).
      log_x: a logarithmic x axis.
      style: size (default 7 × 4.5 in for one panel), font size and y limits (``FigureStyle``).

    Returns:
      A ``matplotlib.figure.Figure`` on its own Agg canvas; ``save_figure`` writes it.
    """
    refs, style = _hlines(hlines), style or FigureStyle()
    if not curves:
        raise ValueError("no curves to draw")
    panels: dict[str | None, list[Mapping[str, Any]]] = {}
    for c in curves:
        panels.setdefault(c["env"], []).append(c)
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    seeds = {c["seeds"] for c in curves}
    over = f"{seeds.pop()} seeds" if len(seeds) == 1 else "seeds"
    what = _METRIC_LABELS.get(curves[0]["metric"], curves[0]["metric"])
    window = curves[0].get("smoothing", 1)
    sm = f", smoothed over {window}" if window > 1 else ""
    axis = curves[0].get("axis", "env_steps")
    with style.figure((7.0, 4.5) if len(panels) == 1 else (4.6 * cols, 3.8 * rows + 0.4)) as fig:
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax in axes[len(panels):]:
            ax.remove()
        for i, (ax, (env, group)) in enumerate(zip(axes, panels.items(), strict=False)):
            for c in group:
                _draw_curve(ax, c)
            _draw_hlines(ax, refs)
            if i + cols >= len(panels):  # the lowest panel of its column
                ax.set_xlabel(_X_LABELS[axis])
            if i % cols == 0:
                ax.set_ylabel(f"{what}\n(IQM over {over}, 95% CI{sm})")
            if axis == "update":
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if log_x:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            else:
                ax.set_xlim(left=0)
            style.axes(ax)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small", loc="best")
            if len(panels) > 1 or title is None:
                ax.set_title(env or ("environment unknown" if len(panels) > 1 else ""))
        if title is not None:
            (axes[0].set_title if len(panels) == 1 else fig.suptitle)(title)
    return fig


def _draw_curve(ax, c: Mapping[str, Any]) -> None:
    """One curve and its band: solid while every seed is present, dashed (the band paler) after."""
    xs = c["x"]
    n = c.get("n", np.full(len(xs), c["seeds"]))
    k = int(np.argmax(n < n[0])) or len(xs)  # the first point with fewer seeds (n[0]: all of them)
    fewer = k < len(xs)
    label = f"{c['label']} (n={n[0]}" + (f" → {n[-1]} after {eng_format(xs[k - 1], digits=3)})" if fewer else ")")
    (line,) = ax.plot(xs[:k], c["iqm"][:k], marker="o" if len(xs) == 1 else None, lw=1.8, label=label)
    ax.fill_between(xs[:k], c["lo"][:k], c["hi"][:k], color=line.get_color(), alpha=0.2, lw=0)
    if fewer:
        ax.plot(xs[k - 1:], c["iqm"][k - 1:], ls="--", lw=1.4, color=line.get_color())
        ax.fill_between(xs[k - 1:], c["lo"][k - 1:], c["hi"][k - 1:], color=line.get_color(), alpha=0.1, lw=0)


# --------------------------------------------------------------------------------------------
# Final scores


def final_scores(
    sweep_or_run_dirs: StrPath | Sequence[StrPath],
    out_path: StrPath,
    labels: Sequence[str] | None = None,
    hlines: Mapping[str, float] | None = None,
    title: str | None = None,
    point: int | None = None,
    style: FigureStyle | None = None,
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
      point: draw only this point of each sweep directory (default: every point).
      style: size, font size and y limits (``FigureStyle``).

    Returns:
      ``out_path`` as a Path.

    Raises:
      ValueError: bad arguments, an unsupported image format, or any ``final_score_data`` error.
    """
    out = _check_format(out_path)
    refs, style = _hlines(hlines), style or FigureStyle()
    columns = final_score_data(sweep_or_run_dirs, labels, point=point)
    with style.figure((max(4.5, 1.6 * len(columns) + 1.5), 5.0)) as fig:
        _draw_final_scores(fig.add_subplot(), columns, refs, title, style)
    return _save(fig, out)


def _draw_final_scores(ax, columns: list[dict[str, Any]], refs, title: str | None, style: FigureStyle) -> None:
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
    style.axes(ax, count_x=False)
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
