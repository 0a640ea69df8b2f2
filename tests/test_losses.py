import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg import losses, policies
from tests import reference as ref


def test_one_step_gradient_is_minus_G_grad_log_softmax():
    # Linear softmax policy over 2 actions with logits z = W·s, s = [1, 2], W = 0.
    # π = softmax(z) = (.5, .5); a = 1; G = 3 (advantage mode "none", one valid step).
    # ∂log π(a)/∂z_k = 1[k=a] − π_k = (−.5, .5); ∂z_k/∂W_kj = s_j
    # loss = −G·log π(a) → ∂loss/∂W = −G·(1[k=a] − π_k)·s_j
    #   = −3·[[−.5·1, −.5·2], [.5·1, .5·2]] = [[1.5, 3], [−1.5, −3]]
    s = jnp.array([[[1.0, 2.0]]])  # [T=1, N=1, 2]
    actions = jnp.array([[1]])
    adv = jnp.array([[3.0]])
    valid = jnp.array([[True]])

    def apply(w, obs):
        return obs @ w.T

    grad = jax.grad(lambda w: losses.reinforce_loss(w, apply, s, actions, adv, valid, 0.0)[0])(
        jnp.zeros((2, 2))
    )
    np.testing.assert_allclose(grad, [[1.5, 3.0], [-1.5, -3.0]], rtol=1e-6)


def test_masked_steps_contribute_nothing():
    key = jax.random.key(0)
    lp = jax.random.normal(key, (5, 3))
    adv = jax.random.normal(jax.random.key(1), (5, 3))
    valid = jnp.arange(5)[:, None] < jnp.array([2, 5, 3])[None, :]
    base = losses.policy_gradient_loss(lp, adv, valid)
    # garbage in masked slots changes nothing
    lp2 = jnp.where(valid, lp, 1e6)
    adv2 = jnp.where(valid, adv, -7.0)
    np.testing.assert_allclose(losses.policy_gradient_loss(lp2, adv2, valid), base, rtol=1e-6)
    np.testing.assert_allclose(base, ref.pg_loss(lp, adv, valid), rtol=1e-5)


def test_divides_by_number_of_valid_steps():
    # log π = -1 everywhere, A = 1 on 3 valid steps of 6 → loss = -(3·(-1))/3 = 1 (not 0.5)
    lp = -jnp.ones((3, 2))
    adv = jnp.ones((3, 2))
    valid = jnp.array([[True, True], [True, False], [False, False]])
    np.testing.assert_allclose(losses.policy_gradient_loss(lp, adv, valid), 1.0)


def test_no_valid_steps_gives_zero_not_nan():
    z = losses.policy_gradient_loss(jnp.ones((2, 2)), jnp.ones((2, 2)), jnp.zeros((2, 2), bool))
    assert float(z) == 0.0


def test_gradient_does_not_flow_into_advantages():
    def f(a):
        return losses.policy_gradient_loss(jnp.ones((2, 1)), a, jnp.ones((2, 1), bool))

    np.testing.assert_allclose(jax.grad(f)(jnp.ones((2, 1))), 0.0)


def test_entropy_term_sign_and_value():
    # uniform over 2 actions: H = log 2; the entropy loss is −H; with coef c the loss adds −c·log 2
    logits = jnp.zeros((1, 1, 2))
    valid = jnp.ones((1, 1), bool)

    def apply(p, obs):
        return logits + 0 * p

    loss, (pg, ent) = losses.reinforce_loss(
        jnp.float32(0.0), apply, jnp.zeros((1, 1, 1)), jnp.zeros((1, 1), jnp.int32),
        jnp.zeros((1, 1)), valid, 0.5,
    )
    np.testing.assert_allclose(ent, np.log(2), rtol=1e-6)
    np.testing.assert_allclose(loss, -0.5 * np.log(2), rtol=1e-6)


def test_each_advantage_mode_on_a_hand_batch_end_to_end():
    # Two episodes, γ=1: env0 rewards [1,1] (len 2), env1 reward [1] (len 1), T=2
    # G = [[2, 1], [1, 0]]; valid = [[T, T], [T, F]]
    rewards = jnp.array([[1.0, 1.0], [1.0, 0.0]])
    term = jnp.array([[False, True], [True, False]])
    valid = jnp.array([[True, True], [True, False]])
    d = jaxpg.episode_discounts(1.0, term, jnp.zeros_like(term))
    g = jaxpg.discounted_returns(rewards, d)
    np.testing.assert_allclose(g, [[2, 1], [1, 0]])
    # none → [[2,1],[1,0]]
    np.testing.assert_allclose(jaxpg.advantages(g, valid, "none"), [[2, 1], [1, 0]])
    # mean: t0 b=(2+1)/2=1.5 → (.5, -.5); t1 only env0 → 0
    np.testing.assert_allclose(jaxpg.advantages(g, valid, "mean"), [[0.5, -0.5], [0, 0]])
    # normalize: valid {2,1,1}: mean 4/3, std sqrt(((2/3)^2+2(1/3)^2)/3)=sqrt(2)/3
    s = np.sqrt(2) / 3
    np.testing.assert_allclose(
        jaxpg.advantages(g, valid, "normalize"),
        [[(2 - 4 / 3) / s, (1 - 4 / 3) / s], [(1 - 4 / 3) / s, 0]],
        rtol=1e-5,
    )


def test_policy_helpers_against_numpy():
    logits = jax.random.normal(jax.random.key(3), (7, 5)) * 3
    actions = jax.random.randint(jax.random.key(4), (7,), 0, 5)
    lsm = ref.log_softmax(logits)
    np.testing.assert_allclose(policies.log_prob(logits, actions), lsm[np.arange(7), actions], rtol=1e-5)
    np.testing.assert_allclose(policies.entropy(logits), -(np.exp(lsm) * lsm).sum(-1), rtol=1e-5)
    np.testing.assert_array_equal(policies.greedy(logits), np.argmax(logits, -1))


def test_sample_frequencies_follow_softmax():
    logits = jnp.log(jnp.array([0.2, 0.5, 0.3]))
    a = policies.sample(jax.random.key(0), jnp.broadcast_to(logits, (20000, 3)))
    freq = np.bincount(np.asarray(a), minlength=3) / 20000
    np.testing.assert_allclose(freq, [0.2, 0.5, 0.3], atol=0.015)


def test_mlp_policy_shapes_and_near_uniform_init():
    policy = jaxpg.mlp_policy((16,), 3)
    params = policy.init(jax.random.key(0), jnp.zeros(4))
    logits = policy.apply(params, jax.random.normal(jax.random.key(1), (2, 5, 4)))
    assert logits.shape == (2, 5, 3)
    probs = jax.nn.softmax(logits)
    assert float(jnp.abs(probs - 1 / 3).max()) < 0.05


@pytest.mark.parametrize("chunk", [1, pytest.param(3, marks=pytest.mark.slow), pytest.param(8, marks=pytest.mark.slow),
                                   pytest.param(64, marks=pytest.mark.slow)])
def test_chunked_value_and_grad_equals_full_gradient(chunk):
    policy = jaxpg.mlp_policy((8,), 3)
    params = policy.init(jax.random.key(0), jnp.zeros(4))
    t, n = 11, 5
    obs = jax.random.normal(jax.random.key(1), (t, n, 4))
    actions = jax.random.randint(jax.random.key(2), (t, n), 0, 3)
    lengths = jnp.array([1, 7, 3, 0, 7])
    valid = jnp.arange(t)[:, None] < lengths[None, :]
    adv = jnp.where(valid, jax.random.normal(jax.random.key(3), (t, n)), 0.0)
    (l_full, (pg_f, ent_f)), g_full = jax.value_and_grad(losses.reinforce_loss, has_aux=True)(
        params, policy.apply, obs, actions, adv, valid, 0.1
    )
    (l_c, (pg_c, ent_c)), g_c = losses.reinforce_value_and_grad(
        params, policy.apply, obs, actions, adv, valid, 0.1, length=7, chunk=chunk
    )
    np.testing.assert_allclose(l_c, l_full, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ent_c, ent_f, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), g_c, g_full)
    # with length too short the steps past it are (wrongly) left out: the check can fail
    (_, _), g_short = losses.reinforce_value_and_grad(
        params, policy.apply, obs, actions, adv, valid, 0.1, length=1, chunk=1
    )
    assert not np.allclose(g_short["params"]["Dense_0"]["kernel"], g_full["params"]["Dense_0"]["kernel"])


@pytest.mark.parametrize("obs_ndim, obs_shape", [(1, (4,)), (3, (3, 2, 2))])
def test_policy_applies_a_time_major_batch_as_one_matrix_with_the_same_values(obs_ndim, obs_shape):
    # apply flattens [T, N] into [T·N] rows (one 2-D matmul per layer, issue 19); each row's
    # output must be what the policy gives that observation alone, for vector and image
    # observations, for the policy and the value network
    pol = policies.mlp_policy((8, 8), 3, "tanh", obs_ndim=obs_ndim)
    val = policies.value_network((8,), "tanh", obs_ndim=obs_ndim)
    obs = jax.random.normal(jax.random.key(0), (5, 4, *obs_shape))
    for net, out_tail in ((pol, (3,)), (val, ())):
        params = net.init(jax.random.key(1), obs[0, 0])
        out = net.apply(params, obs)
        assert out.shape == (5, 4, *out_tail)
        one_by_one = jnp.stack([jnp.stack([net.apply(params, obs[t, n]) for n in range(4)]) for t in range(5)])
        # one matmul over all rows sums in another order than row by row: float32 rounding only
        np.testing.assert_allclose(out, one_by_one, rtol=1e-5, atol=1e-6)
        # a single observation keeps its shape (no batch axis added or removed)
        assert net.apply(params, obs[0, 0]).shape == out_tail


def test_loss_chunk_default_follows_the_activation_budget():
    from jaxpg.train import LOSS_CHUNK_FLOATS, resolve_loss_chunk
    from jaxpg.types import Config

    assert LOSS_CHUNK_FLOATS == 2**19
    cases = [  # (hidden, num_envs, steps): 2**19 // (max(16, sum(hidden)) * num_envs), clipped to 1..512
        ((64, 64), 64, 64),      # 524288 // (128 * 64) = 64
        ((64, 64), 1024, 4),     # 524288 // (128 * 1024) = 4
        ((64, 64), 16, 256),     # 524288 // (128 * 16) = 256
        ((64, 64), 8, 512),      # 524288 // 1024 = 512 (Pixelcopter's 8 envs)
        ((16,), 256, 128),       # 524288 // (16 * 256) = 128
        ((), 4, 512),            # width counts as 16: 524288 // 64 = 8192 -> 512
        ((64, 64), 8192, 1),     # 524288 // 1048576 = 0 -> 1
    ]
    for hidden, n, steps in cases:
        assert resolve_loss_chunk(Config(env="CartPole-v1", hidden=hidden, num_envs=n), "cpu") == steps
    assert resolve_loss_chunk(Config(env="CartPole-v1", num_envs=1024), "gpu") == 512
    assert resolve_loss_chunk(Config(env="CartPole-v1", num_envs=1024, loss_chunk=7), "cpu") == 7
    with pytest.raises(ValueError, match="loss_chunk"):
        Config(env="CartPole-v1", loss_chunk=0)
