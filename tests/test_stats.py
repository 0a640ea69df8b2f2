"""IQM, stratified-bootstrap CIs, probability of improvement, IQM differences and performance
profiles (Agarwal et al. 2021): hand-computed cases, scipy parity, plain-loop references,
reproducibility and the properties a percentile bootstrap must have."""

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxpg.stats import (
    Comparison,
    bootstrap_replicates,
    compare,
    curve_iqm_ci,
    iqm,
    iqm_difference,
    performance_profile,
    performance_profile_ci,
    probability_of_improvement,
    stratified_bootstrap_ci,
)

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


# --------------------------------------------------------------------------------------------
# Comparing two algorithms: probability of improvement, IQM difference, `compare`

def _poi_reference(x, y) -> float:
    """P(X > Y) by the definition: a double loop over the pairs of every task, ties count 1/2."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    x, y = (x[:, None], y[:, None]) if x.ndim == 1 else (x, y)
    per_task = []
    for t in range(x.shape[1]):
        total = 0.0
        for xi in x[:, t]:
            for yj in y[:, t]:
                total += 1.0 if xi > yj else 0.5 if xi == yj else 0.0
        per_task.append(total / (x.shape[0] * y.shape[0]))
    return sum(per_task) / len(per_task)


@pytest.mark.parametrize("x, y, expected", [
    # pairs (1,2): 0, (2,2): tie 0.5, (3,2): 1 -> (0 + 0.5 + 1) / 3 = 0.5
    ([[1], [2], [3]], [[2], [2], [2]], 0.5),
    # x=3 beats 1, 2, not 5 (2 wins); x=4 likewise (2 wins) -> 4 / (2 * 3) = 2/3
    ([[3], [4]], [[1], [2], [5]], 2 / 3),
    # every pair a tie -> 0.5 each -> 0.5
    ([[1], [1]], [[1], [1]], 0.5),
    # 2 vs (1, 2, 3): 1 + 0.5 + 0 = 1.5 over 3 pairs -> 0.5
    ([[2]], [[1], [2], [3]], 0.5),
    # (2, 2) vs (1, 2): each x gives 1 + 0.5 -> 3 / 4 = 0.75
    ([[2], [2]], [[1], [2]], 0.75),
    # every x above every y -> 1; and the reverse -> 0
    ([[5], [6]], [[1], [2], [3]], 1.0),
    ([[1], [2], [3]], [[5], [6]], 0.0),
    # two tasks, averaged (not pooled): task 0 x=(1,2) y=(0,3): 1>0, 1<3, 2>0, 2<3 -> 2/4 = 0.5;
    # task 1 x=(10,20) y=(30,40): all lose -> 0; mean (0.5 + 0) / 2 = 0.25. (Pooling all 4 x
    # against all 4 y would give 1+1+2+2 = 6/16 = 0.375.)
    ([[1, 10], [2, 20]], [[0, 30], [3, 40]], 0.25),
    # a 1-D input is one task: same as the first case
    ([1, 2, 3], [2, 2, 2], 0.5),
])
def test_probability_of_improvement_hand_computed(x, y, expected):
    assert probability_of_improvement(x, y) == pytest.approx(expected, abs=1e-12)
    assert isinstance(probability_of_improvement(x, y), float)


def test_probability_of_improvement_is_antisymmetric_and_half_on_itself():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 4, size=(7, 3)), rng.integers(0, 4, size=(5, 3))  # many ties
    assert probability_of_improvement(x, y) + probability_of_improvement(y, x) == pytest.approx(1.0)
    assert probability_of_improvement(x, x) == pytest.approx(0.5)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 3).flatmap(lambda tasks: st.tuples(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 8), st.just(tasks)), elements=st.integers(-3, 3).map(float)),
    hnp.arrays(np.float64, st.tuples(st.integers(1, 8), st.just(tasks)),
               elements=st.floats(-3, 3, allow_nan=False).map(lambda v: round(v * 2) / 2)))))
def test_probability_of_improvement_equals_double_loop_and_mann_whitney(xy):
    x, y = xy  # small integer / half-integer grids: plenty of ties
    assert probability_of_improvement(x, y) == pytest.approx(_poi_reference(x, y), abs=1e-12)
    # rliable computes it with scipy's Mann-Whitney U ("greater") over n * m, per task
    u = [scipy.stats.mannwhitneyu(x[:, t], y[:, t], alternative="greater").statistic / (len(x) * len(y))
         for t in range(x.shape[1])]
    assert probability_of_improvement(x, y) == pytest.approx(np.mean(u), abs=1e-12)


def test_iqm_difference_hand_computed():
    # IQM(1..8) = mean(3, 4, 5, 6) = 4.5; IQM(0, 1, 2, 3, 10, 20) = mean(1, 2, 3, 10) = 4.0 -> +0.5
    assert iqm_difference([1, 2, 3, 4, 5, 6, 7, 8], [0, 1, 2, 3, 10, 20]) == pytest.approx(0.5)
    assert iqm_difference([0, 1, 2, 3, 10, 20], [1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(-0.5)
    # a matrix: the IQM over all runs and tasks together. x = [[1, 5], [2, 6], [3, 7], [4, 8]]
    # holds 1..8 -> 4.5; y all 1 -> 1; difference 3.5
    x = np.array([[1, 5], [2, 6], [3, 7], [4, 8]], dtype=float)
    assert iqm_difference(x, np.ones((3, 2))) == pytest.approx(3.5)


@pytest.mark.parametrize("fn", [probability_of_improvement, iqm_difference, compare])
@pytest.mark.parametrize("x, y, match", [
    (np.zeros((3, 2)), np.zeros((3, 3)), "same tasks"),
    ([], [1.0], "x is empty"),
    ([1.0], [np.nan], "y has 1 non-finite"),
    (np.zeros((2, 2, 2)), [1.0], r"x must be \[runs\] or \[runs, tasks\]"),
])
def test_comparisons_reject_bad_input(fn, x, y, match):
    with pytest.raises(ValueError, match=match):
        fn(x, y)


def test_compare_rejects_bad_bootstrap_arguments():
    with pytest.raises(ValueError, match="reps must be"):
        compare([1.0, 2.0], [1.0], reps=0)
    with pytest.raises(ValueError, match="confidence must be"):
        compare([1.0, 2.0], [1.0], confidence=1.0)


def test_compare_point_estimates_and_fields():
    x = np.array([[1.0], [2.0], [3.0]])
    y = np.array([[2.0], [2.0], [2.0]])
    c = compare(x, y, reps=200)
    assert isinstance(c, Comparison)
    # IQM of 3 runs cuts int(0.75) = 0: mean(1, 2, 3) = 2; IQM(2, 2, 2) = 2; difference 0; P = 0.5
    assert (c.iqm_x, c.iqm_y, c.iqm_diff, c.prob_improvement) == pytest.approx((2.0, 2.0, 0.0, 0.5))
    assert (c.runs_x, c.runs_y, c.tasks) == (3, 3, 1)
    # y never varies: its interval is the point (2, 2); x resamples 3 of {1, 2, 3}, IQM in [1, 3]
    assert c.iqm_y_ci == (2.0, 2.0)
    assert 1.0 <= c.iqm_x_ci[0] < 2.0 < c.iqm_x_ci[1] <= 3.0
    assert c.iqm_diff_ci == pytest.approx((c.iqm_x_ci[0] - 2.0, c.iqm_x_ci[1] - 2.0))  # y is constant


def test_compare_separated_algorithms_give_a_certain_improvement():
    # every run of x above every run of y, on both tasks: every replicate has P = 1 exactly
    x = np.array([[10.0, 20.0], [11.0, 21.0], [12.0, 22.0]])
    y = np.array([[1.0, 2.0], [2.0, 3.0]])
    c = compare(x, y, reps=300)
    assert c.prob_improvement == 1.0 and c.prob_improvement_ci == (1.0, 1.0)
    reverse = compare(y, x, reps=300)
    assert reverse.prob_improvement == 0.0 and reverse.prob_improvement_ci == (0.0, 0.0)
    assert c.iqm_diff_ci[0] > 0 and reverse.iqm_diff_ci[1] < 0


def test_compare_intervals_contain_the_point_estimates_and_shrink_with_more_runs():
    widths = []
    for runs in (5, 20, 80):
        rng = np.random.default_rng(runs)
        x = rng.normal(1.0, 2.0, size=(runs, 2))
        y = rng.normal(0.0, 2.0, size=(runs, 2))
        c = compare(x, y, reps=1000)
        assert c.iqm_diff_ci[0] < c.iqm_diff < c.iqm_diff_ci[1], c
        assert c.prob_improvement_ci[0] < c.prob_improvement < c.prob_improvement_ci[1], c
        assert c.iqm_x_ci[0] < c.iqm_x < c.iqm_x_ci[1] and c.iqm_y_ci[0] < c.iqm_y < c.iqm_y_ci[1], c
        widths.append((c.iqm_diff_ci[1] - c.iqm_diff_ci[0], c.prob_improvement_ci[1] - c.prob_improvement_ci[0]))
    diff_w, poi_w = zip(*widths, strict=True)
    # width ~ 1/sqrt(runs): 16x the runs should roughly quarter it
    assert diff_w[0] > diff_w[1] > diff_w[2] and diff_w[2] < 0.5 * diff_w[0], diff_w
    assert poi_w[0] > poi_w[1] > poi_w[2] and poi_w[2] < 0.5 * poi_w[0], poi_w


def test_compare_is_reproducible_and_its_x_interval_is_the_stratified_bootstrap():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(9, 3)), rng.normal(size=(6, 3))
    assert compare(x, y, reps=400, seed=5) == compare(x, y, reps=400, seed=5)  # bit for bit
    assert compare(x, y, reps=400, seed=5) != compare(x, y, reps=400, seed=6)
    # X's resamples are drawn first from the same generator as bootstrap_replicates'
    c = compare(x, y, reps=400, seed=5)
    assert c.iqm_x_ci == pytest.approx(stratified_bootstrap_ci(x, reps=400, seed=5), rel=1e-12)


def _compare_reference(x, y, reps, seed, confidence=0.95):
    """The independent stratified bootstrap of `compare`, one replicate and one pair at a time."""
    rng = np.random.default_rng(seed)
    (n, tasks), m = x.shape, y.shape[0]
    ix = rng.integers(0, n, size=(reps, n, tasks))  # X's draws first, then Y's (as documented)
    iy = rng.integers(0, m, size=(reps, m, tasks))
    diffs, pois = [], []
    for r in range(reps):
        xs = np.array([[x[ix[r, i, t], t] for t in range(tasks)] for i in range(n)])
        ys = np.array([[y[iy[r, j, t], t] for t in range(tasks)] for j in range(m)])
        diffs.append(scipy.stats.trim_mean(xs.ravel(), 0.25) - scipy.stats.trim_mean(ys.ravel(), 0.25))
        pois.append(_poi_reference(xs, ys))
    tail = 100 * (1 - confidence) / 2
    return np.percentile(diffs, [tail, 100 - tail]), np.percentile(pois, [tail, 100 - tail])


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3).flatmap(lambda tasks: st.tuples(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.just(tasks)), elements=st.integers(0, 4).map(float)),
    hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.just(tasks)),
               elements=st.floats(-10, 10, allow_nan=False)))),
       st.integers(0, 2**32 - 1))
def test_compare_intervals_equal_a_plain_bootstrap_loop(xy, seed):
    x, y = xy
    c = compare(x, y, reps=60, seed=seed)
    diff_ci, poi_ci = _compare_reference(x, y, reps=60, seed=seed)
    np.testing.assert_allclose(c.iqm_diff_ci, diff_ci, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(c.prob_improvement_ci, poi_ci, rtol=1e-12, atol=1e-12)
    assert c.iqm_diff == pytest.approx(scipy.stats.trim_mean(x.ravel(), 0.25) - scipy.stats.trim_mean(y.ravel(), 0.25))
    assert c.prob_improvement == pytest.approx(_poi_reference(x, y), abs=1e-12)


# --------------------------------------------------------------------------------------------
# Performance profiles


def test_performance_profile_hand_computed():
    scores = np.array([[1, 10], [2, 20], [3, 30], [4, 40]], dtype=float)
    taus = [0, 2, 2.5, 25, 40]
    # task 0 (1, 2, 3, 4): > 0: 4/4; > 2: {3, 4} 2/4; > 2.5: 2/4; > 25: 0; > 40: 0
    # task 1 (10, 20, 30, 40): > 0, 2, 2.5: 4/4; > 25: {30, 40} 2/4; > 40: 0 (strictly above)
    # mean over tasks: [(1+1)/2, (0.5+1)/2, (0.5+1)/2, (0+0.5)/2, 0] = [1, 0.75, 0.75, 0.25, 0]
    np.testing.assert_allclose(performance_profile(scores, taus), [1, 0.75, 0.75, 0.25, 0])
    # one task, a scalar tau: (1, 2, 3, 4) > 2 -> 2/4
    np.testing.assert_allclose(performance_profile([1, 2, 3, 4], 2), [0.5])
    # order of taus is kept
    np.testing.assert_allclose(performance_profile(scores, [40, 0]), [0, 1])


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 7), st.integers(1, 3)), elements=st.integers(-3, 3).map(float)),
       st.lists(st.floats(-4, 4, allow_nan=False).map(lambda v: round(v * 2) / 2), min_size=1, max_size=6))
def test_performance_profile_equals_double_loop(scores, taus):
    runs, tasks = scores.shape
    expected = [sum(sum(scores[i, t] > tau for i in range(runs)) / runs for t in range(tasks)) / tasks for tau in taus]
    np.testing.assert_allclose(performance_profile(scores, taus), expected, atol=1e-12)


def test_performance_profile_ci_band():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(10, 2))
    taus = np.linspace(-3, 3, 13)
    mid, lo, hi = performance_profile_ci(scores, taus, reps=500)
    assert mid.shape == lo.shape == hi.shape == (13,)
    np.testing.assert_allclose(mid, performance_profile(scores, taus))
    assert np.all(lo <= mid) and np.all(mid <= hi)
    # below every score every replicate is 1, above every score 0: the band collapses there
    mid, lo, hi = performance_profile_ci(scores, [-100.0, 100.0], reps=200)
    np.testing.assert_array_equal(np.stack([mid, lo, hi]), [[1, 0], [1, 0], [1, 0]])
    # reproducible, and the seed matters
    a = performance_profile_ci(scores, taus, reps=300, seed=4)
    np.testing.assert_array_equal(a[1], performance_profile_ci(scores, taus, reps=300, seed=4)[1])
    assert not np.array_equal(a[1], performance_profile_ci(scores, taus, reps=300, seed=5)[1])
    with pytest.raises(ValueError, match="taus"):
        performance_profile(scores, [[0.0]])
    with pytest.raises(ValueError, match="taus has 1 non-finite"):
        performance_profile(scores, [np.nan])
    with pytest.raises(ValueError, match="confidence"):
        performance_profile_ci(scores, taus, confidence=0)


def test_performance_profile_band_shrinks_with_more_runs():
    widths = []
    for runs in (5, 20, 80):
        scores = np.random.default_rng(runs).normal(size=(runs, 2))
        _, lo, hi = performance_profile_ci(scores, [0.0], reps=1000)
        widths.append(float(hi[0] - lo[0]))
    assert widths[0] > widths[1] > widths[2] and widths[2] < 0.5 * widths[0], widths


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 3)), elements=st.integers(0, 5).map(float)),
       st.integers(0, 2**32 - 1))
def test_performance_profile_ci_equals_a_plain_bootstrap_loop(scores, seed):
    runs, tasks = scores.shape
    taus = [-1.0, 0.5, 2.0, 3.5, 5.0]
    idx = np.random.default_rng(seed).integers(0, runs, size=(50, runs, tasks))  # bootstrap_replicates' draws
    reps = [[sum(scores[idx[r, i, t], t] > tau for i in range(runs) for t in range(tasks)) / (runs * tasks)
             for tau in taus] for r in range(50)]
    _, lo, hi = performance_profile_ci(scores, taus, reps=50, seed=seed)
    np.testing.assert_allclose(lo, np.percentile(reps, 2.5, axis=0), atol=1e-12)
    np.testing.assert_allclose(hi, np.percentile(reps, 97.5, axis=0), atol=1e-12)


# --------------------------------------------------------------------------------------------
# Against the paper


def test_formulas_match_the_definitions_of_agarwal_et_al_2021():
    """Agarwal et al. 2021 ("Deep RL at the Edge of the Statistical Precipice"), with M tasks and
    N (X) and K (Y) runs per task, written out literally:

    * IQM (Sec. 4.1): "the mean score of the middle 50% of the runs combined across all tasks",
      i.e. sort the N*M scores, drop the lowest and the highest 25 %, average the rest;
    * probability of improvement (Sec. 4.3, Eq. in "Probability of improvement"):
      P(X > Y) = 1/M sum_m P(X_m > Y_m), P(X_m > Y_m) = 1/(NK) sum_i sum_j S(x_m,i, y_m,j),
      S(x, y) = 1 if y < x, 1/2 if y = x, 0 if y > x;
    * performance profile / run-score distribution (Sec. 4.2):
      F_X(tau) = 1/M sum_m 1/N sum_n 1[x_m,n > tau].
    """
    # N = 4 runs of X, K = 4 runs of Y, M = 2 tasks (8 scores each: 25 % is exactly 2 scores)
    x = np.array([[3.0, 0.5], [7.0, 0.9], [5.0, 0.9], [1.0, 0.2]])
    y = np.array([[4.0, 0.9], [2.0, 0.1], [6.0, 0.5], [2.0, 0.3]])
    N, K, M = 4, 4, 2

    def paper_iqm(s):
        flat = sorted(s.ravel().tolist())
        q = len(flat) // 4
        middle = flat[q:len(flat) - q]
        return sum(middle) / len(middle)

    def S(a, b):
        return 1.0 if b < a else 0.5 if b == a else 0.0

    poi = sum(sum(S(x[i, m], y[j, m]) for i in range(N) for j in range(K)) / (N * K) for m in range(M)) / M
    # By hand: task 0, x = (3, 7, 5, 1), y = (4, 2, 6, 2): 3 beats 2, 2 -> 2; 7 beats all 4; 5 beats
    # 4, 2, 2 -> 3; 1 beats none: 9/16. Task 1, x = (.5, .9, .9, .2), y = (.9, .1, .5, .3): .5 beats
    # .1, .3 and ties .5 -> 2.5; each .9 beats .1, .5, .3 and ties .9 -> 3.5 + 3.5; .2 beats .1 -> 1:
    # 10.5/16. P = (9/16 + 10.5/16) / 2 = 19.5/32 = 0.609375.
    assert poi == pytest.approx(19.5 / 32)
    assert probability_of_improvement(x, y) == pytest.approx(poi, abs=1e-12)

    # IQM(x): sorted (0.2, 0.5, 0.9, 0.9, 1, 3, 5, 7) -> middle (0.9, 0.9, 1, 3) -> 5.8 / 4 = 1.45.
    # IQM(y): sorted (0.1, 0.3, 0.5, 0.9, 2, 2, 4, 6) -> middle (0.5, 0.9, 2, 2) -> 5.4 / 4 = 1.35.
    assert paper_iqm(x) == pytest.approx(1.45) and paper_iqm(y) == pytest.approx(1.35)
    assert iqm(x) == pytest.approx(paper_iqm(x)) and iqm(y) == pytest.approx(paper_iqm(y))
    assert iqm_difference(x, y) == pytest.approx(paper_iqm(x) - paper_iqm(y))  # 0.1

    taus = [0.0, 0.5, 2.5, 6.0, 7.0]
    paper_profile = [sum(sum(1.0 for n in range(N) if x[n, m] > tau) / N for m in range(M)) / M for tau in taus]
    # tau = 2.5: task 0 has 3, 7, 5 above (3/4), task 1 none (0) -> 3/8
    assert paper_profile[2] == pytest.approx(3 / 8)
    np.testing.assert_allclose(performance_profile(x, taus), paper_profile)
    c = compare(x, y, reps=500)
    assert (c.iqm_diff, c.prob_improvement) == pytest.approx((paper_iqm(x) - paper_iqm(y), poi))
