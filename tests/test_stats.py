"""IQM and stratified-bootstrap CIs (Agarwal et al. 2021): hand-computed cases, scipy parity,
reproducibility and the properties a percentile bootstrap must have."""

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxpg.stats import bootstrap_replicates, curve_iqm_ci, iqm, stratified_bootstrap_ci

# --------------------------------------------------------------------------------------------
# IQM


@pytest.mark.parametrize("scores, expected", [
    # n = 8: int(0.25 * 8) = 2 cut from each end -> mean(3, 4, 5, 6) = 18 / 4 = 4.5
    ([1, 2, 3, 4, 5, 6, 7, 8], 4.5),
    # the same, unsorted: IQM is order-free
    ([8, 3, 6, 1, 5, 2, 7, 4], 4.5),
    # n = 6: int(0.25 * 6) = int(1.5) = 1 cut from each end -> mean(1, 2, 3, 10) = 16 / 4 = 4.0.
    # Not the fractional trim (1.5 from each end: (0.5*1 + 2 + 3 + 0.5*10) / 3 = 10.5 / 3 = 3.5).
    ([0, 1, 2, 3, 10, 20], 4.0),
    # n = 5: int(1.25) = 1 cut -> mean(2, 3, 4) = 3 (the outlier 100 is cut)
    ([1, 2, 3, 4, 100], 3.0),
    # n = 4: int(1.0) = 1 cut -> mean(2, 3) = 2.5
    ([4, 1, 3, 2], 2.5),
    # n = 3: int(0.75) = 0, nothing is cut -> mean(1, 2, 9) = 12 / 3 = 4
    ([1, 2, 9], 4.0),
    # n = 1: the value itself
    ([7.5], 7.5),
    # n = 9: int(2.25) = 2 cut -> mean(-1, 0, 1, 2, 3) = 5 / 5 = 1 (outliers at both ends cut)
    ([-1000, -2, -1, 0, 1, 2, 3, 4, 1000], 1.0),
])
def test_iqm_hand_computed(scores, expected):
    assert iqm(scores) == pytest.approx(expected, abs=1e-12)
    assert isinstance(iqm(scores), float)


def test_iqm_axis():
    x = np.array([[1, 2, 3, 4, 5, 6, 7, 8], [0, 1, 2, 3, 10, 20, 30, 40]], dtype=float)
    # row 1: cut 2 each end -> mean(2, 3, 10, 20) = 35 / 4 = 8.75
    np.testing.assert_allclose(iqm(x, axis=1), [4.5, 8.75])
    np.testing.assert_allclose(iqm(x.T, axis=0), [4.5, 8.75])
    np.testing.assert_allclose(iqm(x, axis=-1), [4.5, 8.75])
    # axis=None flattens all 16: cut 4 each end -> mean of the sorted middle 8
    flat = np.sort(x.ravel())[4:12]
    assert iqm(x) == pytest.approx(flat.mean())


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 41),
                  elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)))
def test_iqm_equals_scipy_trim_mean(x):
    expected = scipy.stats.trim_mean(x, proportiontocut=0.25)
    np.testing.assert_allclose(iqm(x), expected, rtol=1e-9, atol=1e-9 * (1 + np.abs(x).max()))


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=9),
                  elements=st.floats(-1e3, 1e3, allow_nan=False)),
       st.integers(0, 2))
def test_iqm_axis_equals_scipy_trim_mean(x, axis):
    axis = axis % x.ndim
    expected = scipy.stats.trim_mean(x, proportiontocut=0.25, axis=axis)
    np.testing.assert_allclose(iqm(x, axis=axis), expected, rtol=1e-9, atol=1e-8)


@pytest.mark.parametrize("x, axis, match", [
    ([], None, "scores is empty"),
    (np.zeros((0, 3)), 0, "scores is empty"),
    ([1.0, np.nan, 2.0], None, "1 non-finite value"),
    ([1.0, np.inf, -np.inf], None, "2 non-finite value"),
    ([1.0, 2.0], 1, "axis 1 is out of range"),
    (["a", "b"], None, "must be numeric"),
])
def test_iqm_rejects_bad_input(x, axis, match):
    with pytest.raises(ValueError, match=match):
        iqm(x, axis=axis)


# --------------------------------------------------------------------------------------------
# Stratified bootstrap


def _scores(runs, tasks=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(loc=np.arange(tasks) * 10.0, scale=5.0, size=(runs, tasks))


def test_ci_contains_point_estimate_and_is_ordered():
    for runs, tasks, seed in [(5, 1, 0), (10, 3, 1), (20, 5, 2), (7, 2, 3)]:
        x = _scores(runs, tasks, seed)
        lo, hi = stratified_bootstrap_ci(x)
        assert lo < iqm(x) < hi, (runs, tasks, lo, iqm(x), hi)


def test_ci_shrinks_with_more_runs():
    widths = []
    for runs in (5, 20, 80):
        lo, hi = stratified_bootstrap_ci(_scores(runs, tasks=2, seed=runs), reps=1000)
        widths.append(hi - lo)
    # CI width ~ 1/sqrt(runs): 16x the runs should roughly quarter it
    assert widths[0] > widths[1] > widths[2], widths
    assert widths[2] < 0.5 * widths[0], widths


def test_ci_is_reproducible_with_the_same_seed():
    x = _scores(10, 4)
    a = stratified_bootstrap_ci(x, reps=500, seed=7)
    assert stratified_bootstrap_ci(x, reps=500, seed=7) == a  # exactly, bit for bit
    np.testing.assert_array_equal(bootstrap_replicates(x, reps=500, seed=7),
                                  bootstrap_replicates(x, reps=500, seed=7))
    assert stratified_bootstrap_ci(x, reps=500, seed=8) != a  # the seed matters


def test_ci_is_the_percentile_interval_of_the_replicates():
    x = _scores(9, 2)
    reps = bootstrap_replicates(x, reps=400, seed=3)
    assert reps.shape == (400,)
    lo, hi = stratified_bootstrap_ci(x, reps=400, seed=3)
    # (1 - 0.95) / 2 is 0.025 only up to rounding: equal to ~1e-12, not bit for bit
    assert (lo, hi) == pytest.approx(tuple(np.percentile(reps, [2.5, 97.5])), rel=1e-12)
    lo90, hi90 = stratified_bootstrap_ci(x, reps=400, confidence=0.9, seed=3)
    assert (lo90, hi90) == pytest.approx(tuple(np.percentile(reps, [5.0, 95.0])), rel=1e-12)
    assert lo <= lo90 <= hi90 <= hi


def test_degenerate_all_equal_scores():
    assert stratified_bootstrap_ci(np.full((6, 3), 7.0)) == (7.0, 7.0)
    lo, hi = stratified_bootstrap_ci(np.full(5, 0.1))
    assert lo == pytest.approx(0.1, abs=1e-15) and hi == pytest.approx(0.1, abs=1e-15)


def test_two_runs_one_task_by_hand():
    # Each replicate draws 2 of {a, b} with replacement: {a,a} p=1/4 -> IQM a (n=2: nothing cut),
    # {a,b} or {b,a} p=1/2 -> (a+b)/2, {b,b} p=1/4 -> b. So every replicate is one of these three
    # values, and with ~25 % of the mass at each end the 2.5 / 97.5 percentiles are a and b.
    a, b = 3.0, 11.0
    reps = bootstrap_replicates([a, b], reps=4000, seed=0)
    values, counts = np.unique(reps, return_counts=True)
    np.testing.assert_array_equal(values, [a, (a + b) / 2, b])
    np.testing.assert_allclose(counts / 4000, [0.25, 0.5, 0.25], atol=0.03)
    assert stratified_bootstrap_ci([a, b], reps=4000) == (a, b)


def test_resampling_is_stratified_by_task():
    # Task 0 scores are all 0, task 1 all 10. A stratified replicate always holds 3 zeros and
    # 3 tens, so its mean is exactly 5 and the CI collapses; pooling the runs across tasks would
    # give replicates anywhere in [0, 10].
    x = np.array([[0.0, 10.0]] * 3)
    reps = bootstrap_replicates(x, statistic=np.mean, reps=500)
    np.testing.assert_array_equal(reps, 5.0)
    # and the IQM of each replicate is over all 6 resampled scores: cut 1 each end -> (0+0+10+10)/4
    assert stratified_bootstrap_ci(x) == (5.0, 5.0)


def test_tasks_are_resampled_independently():
    # Rows (0, 1) and (1, 0): resampling whole rows (the same run indices for every task) would
    # make every replicate's mean exactly 0.5. Independently per task, each task's resampled mean
    # is 0, 0.5 or 1 with p = 1/4, 1/2, 1/4 (variance 1/8), and the replicate is their average:
    # variance (1/8 + 1/8) / 4 = 1/16.
    x = np.array([[0.0, 1.0], [1.0, 0.0]])
    reps = bootstrap_replicates(x, statistic=np.mean, reps=4000, seed=0)
    assert set(np.unique(reps)) == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert np.var(reps) == pytest.approx(1 / 16, rel=0.1)


def test_one_task_vector_equals_column():
    x = _scores(8, 1)
    assert stratified_bootstrap_ci(x[:, 0], seed=4) == stratified_bootstrap_ci(x, seed=4)


def test_other_statistics_and_large_inputs_in_chunks():
    x = _scores(300, 40, seed=5)  # 12,000 scores x 2,000 reps: computed in blocks of replicates
    lo, hi = stratified_bootstrap_ci(x, statistic=np.mean)
    assert lo < x.mean() < hi
    assert hi - lo < 0.5  # std of the mean ~ 5 / sqrt(12,000) ~ 0.046: width ~ 0.18


def test_percentile_ci_of_the_mean_has_roughly_nominal_coverage():
    # 300 data sets of 40 draws from N(0, 1): the 95 % percentile-bootstrap CI of the mean should
    # contain 0 in ~93-95 % of them (it slightly under-covers at small n).
    rng = np.random.default_rng(123)
    hits = sum(
        lo <= 0.0 <= hi
        for lo, hi in (stratified_bootstrap_ci(rng.normal(size=40), np.mean, reps=500, seed=i)
                       for i in range(300))
    )
    assert 0.88 <= hits / 300 <= 0.99, hits


@pytest.mark.parametrize("kwargs, match", [
    ({"scores": []}, "scores is empty"),
    ({"scores": [1.0, np.nan]}, "non-finite"),
    ({"scores": np.zeros((2, 2, 2))}, r"\[runs\] or \[runs, tasks\]"),
    ({"scores": [1.0, 2.0], "confidence": 0.0}, "confidence must be in"),
    ({"scores": [1.0, 2.0], "confidence": 1.0}, "confidence must be in"),
    ({"scores": [1.0, 2.0], "confidence": 95}, "confidence must be in"),
    ({"scores": [1.0, 2.0], "reps": 0}, "reps must be a positive integer"),
    ({"scores": [1.0, 2.0], "reps": 2.5}, "reps must be a positive integer"),
    ({"scores": [1.0, 2.0], "statistic": lambda x, axis: x}, r"must return shape"),
])
def test_bootstrap_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        stratified_bootstrap_ci(**kwargs)


# --------------------------------------------------------------------------------------------
# Curves


def test_curve_iqm_ci_matches_pointwise():
    rng = np.random.default_rng(0)
    curves = rng.normal(size=(7, 30)).cumsum(axis=1)
    mid, lo, hi = curve_iqm_ci(curves, reps=300, seed=2)
    assert mid.shape == lo.shape == hi.shape == (30,)
    np.testing.assert_allclose(mid, [iqm(curves[:, j]) for j in range(30)])
    pointwise = np.array([stratified_bootstrap_ci(curves[:, j], reps=300, seed=2) for j in range(30)])
    np.testing.assert_allclose(lo, pointwise[:, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hi, pointwise[:, 1], rtol=1e-12, atol=1e-12)
    assert np.all(lo <= mid) and np.all(mid <= hi)


def test_curve_iqm_ci_in_chunks_of_points():
    curves = np.random.default_rng(1).normal(size=(64, 100))  # 2,000 x 64 x 100 > one chunk
    mid, lo, hi = curve_iqm_ci(curves)
    j = 57
    assert (lo[j], hi[j]) == pytest.approx(stratified_bootstrap_ci(curves[:, j]), abs=1e-12)


def test_curve_iqm_ci_single_seed_and_bad_input():
    mid, lo, hi = curve_iqm_ci([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(mid, [1, 2, 3])
    np.testing.assert_array_equal(lo, mid)
    np.testing.assert_array_equal(hi, mid)
    with pytest.raises(ValueError, match=r"\[seeds, points\]"):
        curve_iqm_ci([1.0, 2.0])
    with pytest.raises(ValueError, match="non-finite"):
        curve_iqm_ci([[1.0, np.nan]])
    with pytest.raises(ValueError, match="confidence"):
        curve_iqm_ci([[1.0, 2.0]], confidence=1.5)
