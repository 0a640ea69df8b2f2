"""Robust aggregate statistics of RL runs: the interquartile mean and stratified-bootstrap CIs.

Follows Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the Statistical
Precipice" (NeurIPS 2021; the ``rliable`` library):

* the **interquartile mean** (IQM) is the mean of the middle 50 % of the scores, computed as
  ``scipy.stats.trim_mean(x, 0.25)``: ``int(0.25 * n)`` scores are cut from each end (no fractional
  weighting), so for ``n = 6`` one score is cut from each end and the middle four are averaged;
* the **stratified bootstrap** resamples the runs of each task (stratum) with replacement,
  independently per task, recomputes the aggregate over all resampled scores, and reports the
  percentile interval of those replicates;
* the **probability of improvement** ``P(X > Y)`` (the Mann-Whitney U statistic over ``n * m``,
  averaged over tasks), the **IQM difference** and their intervals by the stratified bootstrap of
  both algorithms independently (``compare``);
* **performance profiles** (run-score distributions): the fraction of runs scoring above each
  threshold ``tau``, with stratified-bootstrap bands.

Score matrices are ``[runs, tasks]``: column ``t`` holds every run (seed) of task ``t`` (e.g. one
environment); a 1-D array is one task.

Numpy only: importing this module does not import scipy or jax.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["iqm", "bootstrap_replicates", "stratified_bootstrap_ci", "curve_iqm_ci", "probability_of_improvement",
           "iqm_difference", "Comparison", "compare", "performance_profile", "performance_profile_ci"]

#: Elements materialised at once while computing replicates (bounds memory for big inputs).
_CHUNK_ELEMENTS = 1 << 22


def _as_finite_array(x: ArrayLike, name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got {type(x).__name__}") from None
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} has {bad} non-finite value(s) (nan or inf)")
    return a


def _trim_mean(a: np.ndarray, axis: int) -> np.ndarray:
    """``scipy.stats.trim_mean(a, 0.25, axis)`` for a validated, non-empty axis."""
    n = a.shape[axis]
    cut = int(0.25 * n)
    part = np.partition(a, (cut, n - cut - 1), axis=axis)
    return np.mean(np.take(part, np.arange(cut, n - cut), axis=axis), axis=axis)


def iqm(x: ArrayLike, axis: int | None = None) -> float | np.ndarray:
    """Interquartile mean: the mean of the scores left after cutting 25 % from each end.

    Exactly ``scipy.stats.trim_mean(x, proportiontocut=0.25, axis=axis)``, the IQM of
    Agarwal et al. 2021 (rliable's ``aggregate_iqm``): with ``n`` scores along ``axis``,
    ``k = int(0.25 * n)`` of the smallest and ``k`` of the largest are dropped (``k`` rounds
    down; no fractional weights) and the remaining ``n - 2k`` are averaged. For example
    ``iqm([1, ..., 8]) = mean(3, 4, 5, 6) = 4.5`` and, with ``n = 6``, ``k = 1``:
    ``iqm([1, 2, 3, 4, 5, 100]) = mean(2, 3, 4, 5) = 3.5``. For ``n < 4`` nothing is cut.

    Args:
      x: scores (array-like of finite numbers).
      axis: the axis to reduce; ``None`` (default) reduces the flattened array.

    Returns:
      A Python float for ``axis=None``, else an array with ``axis`` removed.

    Raises:
      ValueError: ``x`` (or its ``axis``) is empty, has a nan/inf, or ``axis`` is out of range.
    """
    a = _as_finite_array(x, "scores")
    if axis is None:
        return float(_trim_mean(a.ravel(), 0))
    if not isinstance(axis, int | np.integer) or not -a.ndim <= axis < a.ndim:
        raise ValueError(f"axis {axis!r} is out of range for an array of {a.ndim} dimension(s)")
    if a.shape[axis] == 0:
        raise ValueError(f"scores are empty along axis {axis} (shape {a.shape})")
    return _trim_mean(a, int(axis))


def _check_bootstrap_args(reps: int, confidence: float) -> None:
    if isinstance(reps, bool) or not isinstance(reps, int | np.integer) or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps!r}")
    if not isinstance(confidence, int | float | np.floating) or not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95, got {confidence!r}")


def _scores_matrix(scores: ArrayLike, name: str = "scores") -> np.ndarray:
    a = _as_finite_array(scores, name)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be [runs] or [runs, tasks], got shape {a.shape}")
    return a


def _resample_indices(rng: np.random.Generator, reps: int, runs: int, tasks: int) -> np.ndarray:
    """[reps, runs, tasks] run indices drawn with replacement, independently per task (stratum)."""
    return rng.integers(0, runs, size=(reps, runs, tasks))


def bootstrap_replicates(
    scores: ArrayLike,
    statistic: Callable[..., np.ndarray] = iqm,
    reps: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """The ``reps`` stratified-bootstrap replicates of an aggregate statistic.

    Replicate ``r`` (Agarwal et al. 2021, rliable's ``StratifiedBootstrap``): for every task
    independently, draw ``runs`` of that task's runs with replacement; then apply ``statistic``
    to all ``runs * tasks`` resampled scores together (for the IQM: the IQM of the flattened
    array, as rliable's aggregate IQM).

    Args:
      scores: [runs, tasks] scores (or [runs] for one task); finite.
      statistic: called as ``statistic(x, axis=1)`` on a [k, runs * tasks] block of replicates,
        it must return [k] values (``iqm``, ``np.mean`` and ``np.median`` all do).
      reps: number of bootstrap replicates.
      seed: seed of the ``numpy.random.Generator`` that draws the resamples.

    Returns:
      [reps] float64 replicates; identical for identical arguments.

    Raises:
      ValueError: empty or non-finite scores, a bad shape, ``reps < 1``, or a statistic that
        does not return one value per replicate.
    """
    a = _scores_matrix(scores)
    _check_bootstrap_args(reps, 0.5)
    runs, tasks = a.shape
    idx = _resample_indices(np.random.default_rng(seed), int(reps), runs, tasks)
    cols = np.arange(tasks)
    out = np.empty(int(reps), dtype=np.float64)
    block = max(1, _CHUNK_ELEMENTS // (runs * tasks))
    for start in range(0, int(reps), block):
        sample = a[idx[start:start + block], cols].reshape(-1, runs * tasks)  # [k, runs * tasks]
        values = np.asarray(statistic(sample, axis=1), dtype=np.float64)
        if values.shape != (sample.shape[0],):
            raise ValueError(f"statistic(x, axis=1) must return shape ({sample.shape[0]},) for x of "
                             f"shape {sample.shape}, got {values.shape}")
        out[start:start + block] = values
    return out


def _percentile_interval(values: np.ndarray, confidence: float) -> np.ndarray:
    tail = 100.0 * (1.0 - confidence) / 2.0
    return np.percentile(values, [tail, 100.0 - tail], axis=0)


def stratified_bootstrap_ci(
    scores: ArrayLike,
    statistic: Callable[..., np.ndarray] = iqm,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile confidence interval of an aggregate by the stratified bootstrap.

    The interval of Agarwal et al. 2021 (rliable's ``get_interval_estimates`` with
    ``method="percentile"``): the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    percentiles (2.5 % and 97.5 % for 0.95; numpy's linear interpolation) of the replicates of
    ``bootstrap_replicates``. Tasks are strata: every replicate holds exactly ``runs``
    resampled scores of each task, never one task's runs in place of another's.

    Args:
      scores: [runs, tasks] scores (or [runs] for one task); finite.
      statistic: the aggregate; see ``bootstrap_replicates``. Default: the IQM.
      reps: number of bootstrap replicates.
      confidence: coverage of the interval, in (0, 1).
      seed: seed of the ``numpy.random.Generator``; the same seed gives the same interval.

    Returns:
      ``(lo, hi)`` as Python floats, ``lo <= hi``.

    Raises:
      ValueError: empty or non-finite scores, a bad shape, ``reps < 1`` or ``confidence``
        outside (0, 1).
    """
    _check_bootstrap_args(reps, confidence)
    values = bootstrap_replicates(scores, statistic, reps, seed)
    lo, hi = _percentile_interval(values, float(confidence))
    return float(lo), float(hi)


def curve_iqm_ci(
    curves: ArrayLike,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM over seeds of a learning curve at every point, with a stratified-bootstrap CI band.

    At each point ``j`` this is ``iqm(curves[:, j])`` and
    ``stratified_bootstrap_ci(curves[:, j], iqm, reps, confidence, seed)`` (one task, the seeds
    as runs; rliable's IQM sample-efficiency curves). All points share one draw of resampled seed
    indices (common random numbers), so the band is smooth and each point's interval equals the
    one ``stratified_bootstrap_ci`` gives for that column alone with the same seed.

    Args:
      curves: [seeds, points] finite values (e.g. returns of each seed on a common x grid).
      reps: number of bootstrap replicates.
      confidence: coverage of the band, in (0, 1).
      seed: seed of the ``numpy.random.Generator``.

    Returns:
      ``(iqm, lo, hi)``, each a [points] float64 array.

    Raises:
      ValueError: ``curves`` is not 2-D, is empty or non-finite, ``reps < 1`` or ``confidence``
        outside (0, 1).
    """
    a = _as_finite_array(curves, "curves")
    if a.ndim != 2:
        raise ValueError(f"curves must be [seeds, points], got shape {a.shape}")
    _check_bootstrap_args(reps, confidence)
    seeds, points = a.shape
    idx = _resample_indices(np.random.default_rng(seed), int(reps), seeds, 1)[..., 0]  # [reps, seeds]
    lo, hi = np.empty(points), np.empty(points)
    block = max(1, _CHUNK_ELEMENTS // (int(reps) * seeds))
    for start in range(0, points, block):
        cols = a[:, start:start + block]  # [seeds, k]
        values = _trim_mean(cols[idx], axis=1)  # [reps, seeds, k] -> [reps, k]
        lo[start:start + block], hi[start:start + block] = _percentile_interval(values, float(confidence))
    return _trim_mean(a, axis=0), lo, hi


# --------------------------------------------------------------------------------------------
# Comparing two algorithms


def _pair(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a, b = _scores_matrix(x, "x"), _scores_matrix(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same tasks (columns), got {a.shape[1]} and {b.shape[1]}")
    return a, b


def _wins(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[n, m, tasks] pairwise ``1[a_i > b_j] + 0.5 * 1[a_i == b_j]`` of each task."""
    x, y = a[:, None, :], b[None, :, :]
    return (x > y) + 0.5 * (x == y)


def probability_of_improvement(x: ArrayLike, y: ArrayLike) -> float:
    """Probability of improvement ``P(X > Y)`` of algorithm X over Y (Agarwal et al. 2021).

    For each task ``t`` with runs ``x_1..x_n`` of X and ``y_1..y_m`` of Y, the Mann-Whitney U
    statistic over the number of pairs (rliable's ``probability_of_improvement``)::

        P_t(X > Y) = 1 / (n m) * sum_i sum_j S(x_it, y_jt),  S(a, b) = 1 if a > b, 1/2 if a == b, 0 else

    i.e. the chance that a random run of X beats a random run of Y on that task, ties counted as
    half; the result is the average over tasks, ``1/T * sum_t P_t``. It is 0.5 when X and Y are
    interchangeable, and ``P(X > Y) + P(Y > X) = 1`` always. For example ``x = [1, 2, 3]``,
    ``y = [2, 2, 2]``: ``(0 + 0.5 + 1) / 3 = 0.5``.

    Args:
      x: [n, tasks] scores of X (or [n] for one task); finite.
      y: [m, tasks] scores of Y (same tasks, same column order; ``m`` may differ from ``n``).

    Returns:
      A Python float in [0, 1].

    Raises:
      ValueError: empty or non-finite scores, a bad shape, or different numbers of tasks.
    """
    a, b = _pair(x, y)
    return float(np.mean(np.mean(_wins(a, b), axis=(0, 1))))


def iqm_difference(x: ArrayLike, y: ArrayLike) -> float:
    """``IQM(X) - IQM(Y)``: each IQM over all runs and tasks together (``iqm`` of the matrix).

    Args:
      x: [n, tasks] scores of X (or [n]); finite.
      y: [m, tasks] scores of Y with the same tasks.

    Returns:
      A Python float (positive when X has the larger IQM).

    Raises:
      ValueError: empty or non-finite scores, a bad shape, or different numbers of tasks.
    """
    a, b = _pair(x, y)
    return iqm(a) - iqm(b)


class Comparison(NamedTuple):
    """What ``compare`` returns: point estimates and ``(lo, hi)`` percentile intervals."""

    iqm_x: float
    iqm_x_ci: tuple[float, float]
    iqm_y: float
    iqm_y_ci: tuple[float, float]
    iqm_diff: float  # iqm_x - iqm_y
    iqm_diff_ci: tuple[float, float]
    prob_improvement: float  # P(X > Y)
    prob_improvement_ci: tuple[float, float]
    runs_x: int
    runs_y: int
    tasks: int


def _counts(idx: np.ndarray, runs: int) -> np.ndarray:
    """[k, runs, tasks] run indices -> [k, runs, tasks] times each run was drawn, per task."""
    k, _, tasks = idx.shape
    cell = (np.arange(k)[:, None, None] * tasks + np.arange(tasks)[None, None, :]) * runs + idx
    return np.bincount(cell.ravel(), minlength=k * tasks * runs).reshape(k, tasks, runs).transpose(0, 2, 1)


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    lo, hi = _percentile_interval(values, confidence)
    return float(lo), float(hi)


def compare(
    x: ArrayLike,
    y: ArrayLike,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """IQMs, IQM difference and probability of improvement of X over Y, with bootstrap intervals.

    The point estimates are ``iqm(x)``, ``iqm(y)``, ``iqm_difference(x, y)`` and
    ``probability_of_improvement(x, y)``. Their intervals come from the stratified bootstrap of
    both algorithms *independently* (rliable's ``StratifiedIndependentBootstrap``): replicate
    ``r`` draws, for every task, ``n`` of X's runs with replacement and, independently, ``m`` of
    Y's runs with replacement, and recomputes all four statistics on the resampled pair; each
    interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of its
    replicates. X's resamples are drawn first from ``numpy.random.default_rng(seed)`` and are those
    of ``bootstrap_replicates(x, reps=reps, seed=seed)``, so ``iqm_x_ci`` equals
    ``stratified_bootstrap_ci(x, iqm, reps, confidence, seed)``.

    Args:
      x: [n, tasks] scores of X (or [n] for one task); finite.
      y: [m, tasks] scores of Y with the same tasks in the same column order.
      reps: bootstrap replicates.
      confidence: coverage of the intervals, in (0, 1).
      seed: seed of the ``numpy.random.Generator``; the same arguments give the same result.

    Returns:
      A ``Comparison`` (floats; intervals as ``(lo, hi)`` tuples; ``runs_x``, ``runs_y``, ``tasks``).

    Raises:
      ValueError: empty or non-finite scores, a bad shape, different numbers of tasks,
        ``reps < 1`` or ``confidence`` outside (0, 1).
    """
    a, b = _pair(x, y)
    _check_bootstrap_args(reps, confidence)
    reps, confidence = int(reps), float(confidence)
    (n, tasks), m = a.shape, b.shape[0]
    rng = np.random.default_rng(seed)
    idx_x = _resample_indices(rng, reps, n, tasks)
    idx_y = _resample_indices(rng, reps, m, tasks)
    wins = _wins(a, b)  # [n, m, tasks]
    cols = np.arange(tasks)
    iqm_x, iqm_y, poi = np.empty(reps), np.empty(reps), np.empty(reps)
    block = max(1, _CHUNK_ELEMENTS // ((n + m) * tasks + n * m))
    for start in range(0, reps, block):
        sl = slice(start, start + block)
        iqm_x[sl] = _trim_mean(a[idx_x[sl], cols].reshape(-1, n * tasks), axis=1)
        iqm_y[sl] = _trim_mean(b[idx_y[sl], cols].reshape(-1, m * tasks), axis=1)
        # P_t of a resampled pair = sum_ij cx_i cy_j S_ij / (n m), with cx_i, cy_j the number of
        # times run i of X and run j of Y were drawn (integers: the sums are exact).
        cx, cy = _counts(idx_x[sl], n), _counts(idx_y[sl], m)  # [k, n, tasks], [k, m, tasks]
        per_task = np.stack([np.sum((cx[:, :, t] @ wins[:, :, t]) * cy[:, :, t], axis=1) for t in range(tasks)],
                            axis=1)  # [k, tasks]
        poi[sl] = np.mean(per_task / (n * m), axis=1)
    diff = iqm_x - iqm_y
    return Comparison(
        iqm_x=iqm(a), iqm_x_ci=_interval(iqm_x, confidence),
        iqm_y=iqm(b), iqm_y_ci=_interval(iqm_y, confidence),
        iqm_diff=iqm_difference(a, b), iqm_diff_ci=_interval(diff, confidence),
        prob_improvement=probability_of_improvement(a, b), prob_improvement_ci=_interval(poi, confidence),
        runs_x=n, runs_y=m, tasks=tasks,
    )


# --------------------------------------------------------------------------------------------
# Performance profiles


def _taus(taus: ArrayLike) -> np.ndarray:
    t = _as_finite_array(taus, "taus")
    if t.ndim > 1:
        raise ValueError(f"taus must be a number or a 1-D list of thresholds, got shape {t.shape}")
    return np.atleast_1d(t)


def _above(a: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """[runs, tasks, K] indicators ``a[i, t] > taus[k]``."""
    return a[:, :, None] > taus[None, None, :]


def performance_profile(scores: ArrayLike, taus: ArrayLike) -> np.ndarray:
    """Performance profile (run-score distribution) at each threshold ``tau`` (Agarwal et al. 2021).

    ``F(tau) = 1/T * sum_t (1/n) * #{i : x_it > tau}``: for each task the fraction of its ``n`` runs
    scoring strictly above ``tau``, averaged over the ``T`` tasks (rliable's
    ``create_performance_profile`` with the default run-score distribution, ``mean(scores > tau)``).
    It is non-increasing in ``tau``, 1 below every score and 0 at and above the largest. For
    example ``[1, 2, 3, 4]`` at ``tau = 2`` gives ``2 / 4 = 0.5`` (3 and 4 are above; 2 is not).

    Args:
      scores: [runs, tasks] scores (or [runs]); finite.
      taus: the thresholds, a number or a 1-D list (any order); finite.

    Returns:
      [K] float64 fractions, one per threshold, in ``taus``' order.

    Raises:
      ValueError: empty or non-finite scores or taus, or a bad shape.
    """
    a = _scores_matrix(scores)
    return np.mean(_above(a, _taus(taus)), axis=(0, 1))


def performance_profile_ci(
    scores: ArrayLike,
    taus: ArrayLike,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A performance profile with a pointwise stratified-bootstrap band.

    Replicate ``r`` resamples the runs of every task with replacement (the draws of
    ``bootstrap_replicates(scores, reps=reps, seed=seed)``) and recomputes ``F(tau)`` at every
    threshold; the band is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of
    the replicates at each ``tau`` (rliable's performance-profile intervals).

    Args:
      scores: [runs, tasks] scores (or [runs]); finite.
      taus: the thresholds, a number or a 1-D list; finite.
      reps: bootstrap replicates.
      confidence: coverage of the band, in (0, 1).
      seed: seed of the ``numpy.random.Generator``.

    Returns:
      ``(profile, lo, hi)``, each a [K] float64 array; ``lo <= profile`` and ``profile <= hi``
      need not hold exactly, but ``lo <= hi`` does.

    Raises:
      ValueError: empty or non-finite scores or taus, a bad shape, ``reps < 1`` or
        ``confidence`` outside (0, 1).
    """
    a = _scores_matrix(scores)
    t = _taus(taus)
    _check_bootstrap_args(reps, confidence)
    reps = int(reps)
    runs, tasks = a.shape
    idx = _resample_indices(np.random.default_rng(seed), reps, runs, tasks)
    above = _above(a, t).reshape(runs * tasks, t.size).astype(np.float64)  # [runs * tasks, K]
    values = np.empty((reps, t.size))
    block = max(1, _CHUNK_ELEMENTS // (runs * tasks + t.size))
    for start in range(0, reps, block):
        counts = _counts(idx[start:start + block], runs).reshape(-1, runs * tasks)  # [k, runs * tasks]
        values[start:start + block] = counts @ above / (runs * tasks)
    lo, hi = _percentile_interval(values, float(confidence))
    return performance_profile(a, t), lo, hi
