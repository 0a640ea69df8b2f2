import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jaxpg
from jaxpg import returns as R
from tests import reference as ref


def test_hand_computed_single_stream():
    # r=[1,0,2], γ=.5, episode ends at t=2 → d=[.5,.5,0]
    # G2 = 2, G1 = 0 + .5·2 = 1, G0 = 1 + .5·1 = 1.5
    g = jaxpg.discounted_returns(jnp.array([1.0, 0.0, 2.0]), jnp.array([0.5, 0.5, 0.0]))
    np.testing.assert_allclose(g, [1.5, 1.0, 2.0])


def test_hand_computed_batch_with_episode_end_inside():
    # env 0: r=[1,1,1], γ=1, ends at t=2 → G = [3, 2, 1]
    # env 1: r=[1,1,0], ends at t=1 (d1=0), t=2 is padding (r=0) → G = [2, 1, 0]
    rewards = jnp.array([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    discounts = jnp.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(jaxpg.discounted_returns(rewards, discounts), [[3, 2], [2, 1], [1, 0]])


def test_episode_discounts_rule():
    # γ=.9; t=1 terminated, t=2 truncated → d = [.9, 0, 0, .9]
    term = jnp.array([False, True, False, False])
    trunc = jnp.array([False, False, True, False])
    np.testing.assert_allclose(jaxpg.episode_discounts(0.9, term, trunc), [0.9, 0, 0, 0.9], rtol=1e-6)


def test_gamma_zero_gives_rewards():
    r = jnp.array([[1.0, -2.0], [3.0, 4.0], [0.5, 7.0]])
    g = jaxpg.discounted_returns(r, jnp.zeros_like(r))
    np.testing.assert_allclose(g, r)


def test_shape_mismatch_is_caught_at_trace_time():
    with pytest.raises(AssertionError):
        jaxpg.discounted_returns(jnp.zeros((3, 2)), jnp.zeros((3, 1)))


streams = st.integers(1, 12).flatmap(
    lambda t: st.tuples(
        hnp.arrays(np.float32, (t, 3), elements=st.floats(-10, 10, width=32)),
        hnp.arrays(np.float32, (t, 3), elements=st.sampled_from([0.0, 0.5, 0.9, 1.0])),
    )
)


@settings(max_examples=20, deadline=None)
@given(streams)
def test_matches_numpy_loop_jit_and_vmap(data):
    rewards, discounts = data
    expected = ref.discounted_returns(rewards, discounts)
    np.testing.assert_allclose(R.discounted_returns(rewards, discounts), expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(
        jax.jit(R.discounted_returns)(rewards, discounts), expected, rtol=1e-4, atol=1e-3
    )
    # vmap over the N axis of [T] streams equals the batched call
    per_stream = jax.vmap(R.discounted_returns, in_axes=1, out_axes=1)(rewards, discounts)
    np.testing.assert_allclose(per_stream, expected, rtol=1e-4, atol=1e-3)


@settings(max_examples=20, deadline=None)
@given(streams, st.integers(0, 11), st.floats(-5, 5))
def test_rewards_after_episode_end_never_change_earlier_returns(data, end, bump):
    rewards, discounts = data
    end = end % rewards.shape[0]
    discounts = discounts.copy()
    discounts[end] = 0.0  # the episode ends at `end`
    g1 = R.discounted_returns(rewards, discounts)
    changed = rewards.copy()
    changed[end + 1 :] += bump
    g2 = R.discounted_returns(changed, discounts)
    np.testing.assert_allclose(g1[: end + 1], g2[: end + 1], rtol=1e-6)


@settings(max_examples=15, deadline=None)
@given(streams, st.floats(-3, 3))
def test_linear_in_rewards(data, scale):
    rewards, discounts = data
    g = np.asarray(R.discounted_returns(rewards, discounts))
    g2 = np.asarray(R.discounted_returns(rewards * np.float32(scale), discounts))
    g3 = np.asarray(R.discounted_returns(rewards + rewards, discounts))
    np.testing.assert_allclose(g2, scale * g, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(g3, 2 * g, rtol=1e-5, atol=1e-4)


def _valid_prefix_mask(lengths, t):
    return np.arange(t)[:, None] < np.asarray(lengths)[None, :]


def test_normalize_hand_computed():
    # valid G = {1, 2, 3} → mean 2, std sqrt(2/3) = 0.8165 → A = [-1.2247, 0, 1.2247]; invalid → 0
    g = jnp.array([[1.0, 3.0], [2.0, 99.0]])
    valid = jnp.array([[True, True], [True, False]])
    a = R.normalize(g, valid)
    s = np.sqrt(2 / 3)
    np.testing.assert_allclose(a, [[-1 / s, 1 / s], [0.0, 0.0]], rtol=1e-5)


def test_normalize_equal_returns_give_zero_not_rounding_noise():
    # found by hypothesis: 20 equal float32 returns; float32 rounding of their mean must not be
    # amplified to ±1 by the division by a ~1e-6 std. Equal returns carry no signal: A = 0.
    g = jnp.full((5, 4), 19.261269, jnp.float32)
    valid = jnp.arange(5)[:, None] < jnp.array([0, 0, 2, 5])[None, :]
    np.testing.assert_array_equal(R.normalize(g, valid), 0.0)


def test_mean_baseline_hand_computed():
    # t=0: both running, G=(1,3) → b=2 → A=(-1, 1); t=1: only env 0, G=2 → b=2 → A=0; env 1 invalid → 0
    g = jnp.array([[1.0, 3.0], [2.0, 99.0]])
    valid = jnp.array([[True, True], [True, False]])
    np.testing.assert_allclose(R.mean_baseline(g, valid), [[-1.0, 1.0], [0.0, 0.0]])


def test_none_mode_masks_only():
    g = jnp.array([[1.0, 3.0], [2.0, 99.0]])
    valid = jnp.array([[True, True], [True, False]])
    np.testing.assert_allclose(R.advantages(g, valid, "none"), [[1, 3], [2, 0]])


@settings(max_examples=15, deadline=None)
@given(
    st.integers(1, 9).flatmap(
        lambda t: st.tuples(
            hnp.arrays(np.float32, (t, 4), elements=st.floats(-50, 50, width=32)),
            st.lists(st.integers(0, t), min_size=4, max_size=4),
        )
    )
)
def test_advantage_modes_match_numpy(data):
    g, lengths = data
    valid = _valid_prefix_mask(lengths, g.shape[0])
    np.testing.assert_allclose(
        R.advantages(g, valid, "normalize"), ref.normalize(g, valid), rtol=1e-3, atol=1e-3
    )
    np.testing.assert_allclose(
        R.advantages(g, valid, "mean"), ref.mean_baseline(g, valid), rtol=1e-4, atol=1e-3
    )


def test_unknown_mode():
    with pytest.raises(ValueError, match="advantage must be one of"):
        R.advantages(jnp.zeros((2, 2)), jnp.ones((2, 2), bool), "gae")


@settings(max_examples=15, deadline=None)
@given(streams, st.integers(0, 12), st.sampled_from([1, 3, 4, 64]))
def test_prefix_returns_equal_full_returns_when_episodes_end_by_length(data, length, chunk):
    rewards, discounts = data
    t = rewards.shape[0]
    length = min(length, t)
    discounts = discounts.copy()
    if length > 0:
        discounts[length - 1] = 0.0  # every episode has ended by `length`
    full = np.asarray(R.discounted_returns(rewards, discounts))
    prefix_fn = jax.jit(R.discounted_returns_prefix, static_argnums=3)
    prefix = np.asarray(prefix_fn(rewards, discounts, length, chunk))
    np.testing.assert_allclose(prefix[:length], full[:length], rtol=1e-5, atol=1e-4)
    computed = -(-length // chunk) * chunk  # whole chunks are computed; nothing past them
    assert not prefix[computed:].any()


def test_gae_hand_computed():
    # one episode of 3 steps, γ = 0.5, λ = 0.5, r = 1, V = 2, ends at t = 2 (d = .5, .5, 0):
    # δ = (1 + .5·2 − 2, 1 + .5·2 − 2, 1 + 0 − 2) = (0, 0, −1)
    # A_2 = −1; A_1 = 0 + .5·.5·(−1) = −.25; A_0 = 0 + .25·(−.25) = −.0625
    a = R.gae_advantages(jnp.ones((3, 1)), jnp.full((3, 1), 2.0), jnp.array([[0.5], [0.5], [0.0]]), 0.5)
    np.testing.assert_allclose(a[:, 0], [-0.0625, -0.25, -1.0])


def test_gae_lambda_zero_is_one_step_td_error():
    # λ = 0: A_t = δ_t = r_t + d_t V_{t+1} − V_t. r = (1, 2), V = (3, 5), d = (.9, 0):
    # A_0 = 1 + .9·5 − 3 = 2.5; A_1 = 2 + 0 − 5 = −3
    a = R.gae_advantages(jnp.array([[1.0], [2.0]]), jnp.array([[3.0], [5.0]]), jnp.array([[0.9], [0.0]]), 0.0)
    np.testing.assert_allclose(a[:, 0], [2.5, -3.0], rtol=1e-6)


gae_cases = st.integers(1, 12).flatmap(
    lambda t: st.tuples(
        hnp.arrays(np.float32, (t, 3), elements=st.floats(-10, 10, width=32)),
        hnp.arrays(np.float32, (t, 3), elements=st.floats(-10, 10, width=32)),
        hnp.arrays(np.float32, (t, 3), elements=st.sampled_from([0.0, 0.5, 0.9, 1.0])),
        st.sampled_from([0.0, 0.5, 0.95, 1.0]),
    )
)


@settings(max_examples=20, deadline=None)
@given(gae_cases)
def test_gae_matches_numpy_loop(data):
    rewards, values, discounts, lam = data
    expected = ref.gae_advantages(rewards, values, discounts, lam)
    np.testing.assert_allclose(
        jax.jit(R.gae_advantages)(rewards, values, discounts, lam), expected, rtol=1e-4, atol=1e-3
    )


@settings(max_examples=20, deadline=None)
@given(gae_cases)
def test_gae_at_lambda_one_is_return_minus_value(data):
    # the V terms telescope within an episode: A_t = G_t − V_t whatever V is
    rewards, values, discounts, _ = data
    discounts = discounts.copy()
    discounts[-1] = 0.0  # every episode ends inside the buffer
    g = ref.discounted_returns(rewards, discounts)
    a = R.gae_advantages(rewards, values, discounts, 1.0)
    np.testing.assert_allclose(a, g - values, rtol=1e-4, atol=1e-3)


@settings(max_examples=15, deadline=None)
@given(gae_cases, st.integers(0, 12), st.sampled_from([1, 3, 64]))
def test_gae_prefix_equals_full_when_episodes_end_by_length(data, length, chunk):
    rewards, values, discounts, lam = data
    length = min(length, rewards.shape[0])
    discounts = discounts.copy()
    if length > 0:
        discounts[length - 1] = 0.0
    full = np.asarray(R.gae_advantages(rewards, values, discounts, lam))
    prefix = jax.jit(R.gae_advantages, static_argnums=5)(rewards, values, discounts, lam, length, chunk)
    np.testing.assert_allclose(np.asarray(prefix)[:length], full[:length], rtol=1e-5, atol=1e-4)
