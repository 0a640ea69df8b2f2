"""Gaussian head: log-probabilities and entropy against closed forms and scipy, the
squash/clip mapping, the continuous probe learning, and continuous-only options."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as scipy_stats
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxpg
from jaxpg import envs, policies
from jaxpg.evaluate import evaluate
from jaxpg.train import make_trainer


def _gauss(dim=1, squash="clip", low=-2.0, high=2.0):
    return policies.Gaussian(dim, (low,) * dim, (high,) * dim, squash)


def test_log_prob_and_entropy_hand_case():
    # D = 1, μ = 0, log σ = 0 (σ = 1), u = 1:
    # log N(1; 0, 1) = −½·1² − 0 − ½·log 2π = −0.5 − 0.918939 = −1.418939
    # H = log σ + ½(log 2π + 1) = 0 + ½(1.837877 + 1) = 1.418939
    g = _gauss()
    out = jnp.array([0.0, 0.0])
    np.testing.assert_allclose(g.log_prob(out, jnp.array([1.0])), -1.4189385, rtol=1e-6)
    np.testing.assert_allclose(g.entropy(out), 1.4189385, rtol=1e-6)
    # D = 2 sums over dimensions: μ = (1, −1), log σ = (log 2, 0), u = (3, −1):
    # z = ((3 − 1)/2, 0) = (1, 0); log p = (−½ − log 2 − ½ log 2π) + (−½ log 2π)
    #   = −0.5 − 0.693147 − 1.837877 = −3.031024
    g2 = _gauss(2)
    out2 = jnp.array([1.0, -1.0, np.log(2.0), 0.0])
    np.testing.assert_allclose(g2.log_prob(out2, jnp.array([3.0, -1.0])), -3.0310242, rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    dim=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(0.1, 3.0),
)
def test_log_prob_and_entropy_match_scipy(dim, seed, scale):
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=(5, dim)).astype(np.float32)
    log_std = rng.uniform(-2, 1, size=(5, dim)).astype(np.float32)
    u = (mean + scale * rng.normal(size=(5, dim))).astype(np.float32)
    g = _gauss(dim)
    out = jnp.concatenate([mean, log_std], axis=-1)
    want = scipy_stats.norm.logpdf(u, mean, np.exp(log_std)).sum(-1)
    np.testing.assert_allclose(g.log_prob(out, jnp.asarray(u)), want, rtol=1e-5, atol=1e-5)
    want_h = scipy_stats.norm.entropy(mean, np.exp(log_std)).sum(-1)
    np.testing.assert_allclose(g.entropy(out), want_h, rtol=1e-5, atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(u=st.floats(-4.0, 4.0), mu=st.floats(-1.0, 1.0), log_std=st.floats(-1.0, 0.5))
def test_tanh_log_prob_is_the_density_of_the_squashed_action(u, mu, log_std):
    # change of variables: p_a(a) = p_u(u) / |da/du|, a = low + (tanh u + 1)/2·(high − low)
    g = _gauss(1, "tanh", low=-2.0, high=2.0)
    out = jnp.array([mu, log_std], jnp.float32)
    uu = jnp.array([u], jnp.float32)
    da_du = 0.5 * 4.0 * (1.0 - np.tanh(np.float64(u)) ** 2)
    want = scipy_stats.norm.logpdf(u, mu, np.exp(log_std)) - np.log(da_du)
    np.testing.assert_allclose(g.log_prob(out, uu), want, rtol=1e-4, atol=1e-4)
    # the Jacobian term does not depend on the policy: same gradient as the plain Gaussian
    plain = _gauss(1, "clip")
    grad_t = jax.grad(lambda o: g.log_prob(o, uu))(out)
    grad_c = jax.grad(lambda o: plain.log_prob(o, uu))(out)
    np.testing.assert_allclose(grad_t, grad_c, rtol=1e-6)


def test_to_env_stays_within_bounds():
    u = jnp.linspace(-50, 50, 101)[:, None]
    clip = _gauss(1, "clip", -1.0, 3.0).to_env(u)
    tanh = _gauss(1, "tanh", -1.0, 3.0).to_env(u)
    assert float(clip.min()) == -1.0 and float(clip.max()) == 3.0
    assert float(tanh.min()) >= -1.0 and float(tanh.max()) <= 3.0
    np.testing.assert_allclose(_gauss(1, "tanh", -1.0, 3.0).to_env(jnp.zeros((1, 1))), [[1.0]])  # midpoint
    np.testing.assert_allclose(_gauss(1, "clip", -1.0, 3.0).to_env(jnp.array([[0.5]])), [[0.5]])


def test_sample_moments_and_entropy_monte_carlo():
    g = _gauss(1)
    out = jnp.broadcast_to(jnp.array([0.7, np.log(0.3)], jnp.float32), (200_000, 2))
    u = g.sample(jax.random.key(0), out)
    assert abs(float(u.mean()) - 0.7) < 0.005 and abs(float(u.std()) - 0.3) < 0.005
    # H = −E[log p(u)]
    np.testing.assert_allclose(-float(g.log_prob(out, u).mean()), float(g.entropy(out[0])), atol=0.01)


@pytest.mark.parametrize("mode", ["param", "state"])
def test_gaussian_policy_head_layout_and_bounds(mode):
    env, p = envs.make("Pendulum-v1")
    pol = policies.mlp_policy((8,), action_space=env.action_space(p),
                              gaussian=policies.GaussianOptions(mode, -1.0, (-3.0, 0.5)))
    assert isinstance(pol.dist, policies.Gaussian) and pol.dist.low == (-2.0,) and pol.dist.high == (2.0,)
    v = pol.init(jax.random.key(0), jnp.zeros(3))
    assert ("log_std" in v["params"]) == (mode == "param")
    assert ("log_std_head" in v["params"]) == (mode == "state")
    out = pol.apply(v, jax.random.normal(jax.random.key(1), (6, 3)))
    assert out.shape == (6, 2)
    np.testing.assert_allclose(out[:, 1], -1.0, atol=0.05)  # initial log-std
    # push the log-std far out: it stays clipped in the bounds
    if mode == "param":
        v["params"]["log_std"] = jnp.array([9.0])
    else:
        v["params"]["log_std_head"]["bias"] = jnp.array([9.0])
    assert float(pol.apply(v, jnp.zeros((1, 3)))[0, 1]) == 0.5


@pytest.mark.slow
def test_continuous_probe_learns_in_seconds():
    # TargetAction: observe g ~ U[-1, 1], reward −(a − g)². Random (initial) policy: ≈ −1.3.
    cfg = jaxpg.Config(env="TargetAction-probe", num_envs=64, num_updates=150, hidden=(32,),
                       advantage="value", lr_schedule="constant")
    tr = make_trainer(cfg)
    hp = jaxpg.HParams(learning_rate=1e-2, value_learning_rate=1e-2)
    from tests.test_value import train_apart

    state, m = train_apart(tr, jax.random.split(jax.random.key(0), 2), hp)
    assert float(m.mean_return[:, :5].mean()) < -0.8
    assert float(m.mean_return[:, -10:].mean()) > -0.25  # σ has shrunk
    greedy = jax.vmap(lambda k, p: evaluate(k, tr.env, tr.env_params, tr.policy.apply, p, 200, 1,
                                            greedy=True, dist=tr.policy.dist))(
        jax.random.split(jax.random.key(1), 2), state.params)
    assert float(greedy.mean()) > -0.01  # the mean action tracks the target


def test_continuous_trajectory_stores_the_unclipped_sample():
    tr = make_trainer(jaxpg.Config(env="Pendulum-v1", num_envs=4, max_steps=8, log_std_init=1.5))
    params = tr.init(jax.random.key(0), jaxpg.HParams()).params
    from jaxpg.rollout import rollout

    traj, _ = rollout(jax.random.key(1), tr.env, tr.env_params,
                      lambda k, o: tr.policy.dist.sample(k, tr.policy.apply(params, o)), 4, 8,
                      env_action_fn=tr.policy.dist.to_env)
    assert traj.actions.shape == (8, 4, 1) and traj.actions.dtype == jnp.float32
    assert float(jnp.abs(traj.actions).max()) > 2.0  # σ = e^1.5 ≈ 4.5: some samples beyond the bounds


def test_continuous_only_options_are_rejected_on_discrete_envs():
    from jaxpg.train import check_config

    with pytest.raises(ValueError, match="squash only applies to continuous action spaces"):
        check_config(jaxpg.Config(env="CartPole-v1", squash="tanh"))
    with pytest.raises(ValueError, match="log_std, log_std_bounds only applies"):
        jaxpg.make_trainer(jaxpg.Config(env="Acrobot-v1", log_std="state", log_std_bounds=(-1, 1)))
    with pytest.raises(ValueError, match="inverted"):
        jaxpg.Config(env="Pendulum-v1", log_std_bounds=(1.0, -1.0))
    with pytest.raises(ValueError, match="log_std must be one of param, state"):
        jaxpg.Config(env="Pendulum-v1", log_std="learned")
    with pytest.raises(ValueError, match="squash must be one of clip, tanh"):
        jaxpg.Config(env="Pendulum-v1", squash="sigmoid")
    with pytest.raises(ValueError, match="give num_actions or action_space, not both"):
        policies.mlp_policy((4,), 2, action_space=envs.make("Pendulum-v1")[0].action_space(None))
