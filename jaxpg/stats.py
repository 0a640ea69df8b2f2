"""Robust aggregate statistics of RL runs: the interquartile mean and stratified-bootstrap CIs.

Follows Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the Statistical
Precipice" (NeurIPS 2021; the ``rliable`` library):

* the **interquartile mean** (IQM) is the mean of the middle 50 % of the scores, computed as
  ``scipy.stats.trim_mean(x, 0.25)``: ``int(0.25 * n)`` scores are cut from each end (no fractional
  weighting), so for ``n = 6`` one score is cut from each end and the middle four are averaged;
* the **stratified bootstrap** resamples the runs of each task (stratum) with replacement,
  independently per task, recomputes the aggregate over all resampled scores, and reports the
  percentile interval of those replicates.

Numpy only: importing this module does not import scipy or jax.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["iqm", "bootstrap_replicates", "stratified_bootstrap_ci", "curve_iqm_ci"]

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


def _scores_matrix(scores: ArrayLike) -> np.ndarray:
    a = _as_finite_array(scores, "scores")
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"scores must be [runs] or [runs, tasks], got shape {a.shape}")
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
