"""advantage="value": bootstrapping on truncation, the variance it removes, observation
normalisation statistics, non-finite stops, and checkpoints of the extra state."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxpg
from jaxpg import checkpoint, envs, losses, policies
from jaxpg.cli import main
from jaxpg.envs import probes
from jaxpg.returns import bootstrap_rewards, discounted_returns, episode_discounts
from jaxpg.rollout import rollout
from jaxpg.train import DivergedError, check_finite, make_trainer
from jaxpg.types import Metrics


def train_apart(tr, keys, hp):
    """``vmap(train)`` with ``init`` and the updates jitted as two programs: one fused program
    with advantage="value" hangs intermittently on XLA CPU (README, known hang)."""
    state = jax.jit(jax.vmap(tr.init, in_axes=(0, None)))(keys, hp)
    run = jax.jit(jax.vmap(tr.run, in_axes=(0, None, None)), static_argnums=2)
    return run(state, hp, tr.config.num_updates)


def test_bootstrap_on_truncation_three_step_hand_case():
    # rewards 1, 1, 1; γ = 0.5; V(s_3) = 4 for the observation after the last step.
    # truncated at t = 2: G_2 = 1 + 0.5·4 = 3, G_1 = 1 + 0.5·3 = 2.5, G_0 = 1 + 0.5·2.5 = 2.25
    # terminated at t = 2: G_2 = 1, G_1 = 1 + 0.5·1 = 1.5, G_0 = 1 + 0.5·1.5 = 1.75
    rewards = jnp.ones((3, 2))
    truncated = jnp.array([[False, False], [False, False], [True, False]])
    terminated = jnp.array([[False, False], [False, False], [False, True]])
    final_values = jnp.array([4.0, 4.0])
    boot = bootstrap_rewards(rewards, truncated, final_values, 0.5)
    g = discounted_returns(boot, episode_discounts(0.5, terminated, truncated))
    np.testing.assert_allclose(g[:, 0], [2.25, 2.5, 3.0])
    np.testing.assert_allclose(g[:, 1], [1.75, 1.5, 1.0])


def test_rollout_records_the_observation_after_the_last_step():
    # DelayedReward(5) observes one_hot(time): cut at 2 steps, the next observation is
    # one_hot(2); played to its end (5 steps), it is one_hot(min(5, 4)) = one_hot(4).
    env = probes.DelayedReward(5)
    act = lambda k, o: jnp.zeros(o.shape[:1], jnp.int32)  # noqa: E731
    traj, stats = rollout(jax.random.key(0), env, env.default_params, act, 3, 2)
    assert bool(traj.truncated[1].all()) and not bool(traj.terminated.any())
    np.testing.assert_array_equal(stats.final_obs, np.eye(5)[[2, 2, 2]])
    traj, stats = rollout(jax.random.key(0), env, env.default_params, act, 3, 10)
    assert bool(traj.terminated[4].all()) and not bool(traj.truncated.any())
    np.testing.assert_array_equal(stats.final_obs, np.eye(5)[[4, 4, 4]])


def _train(cfg, hp=None, seeds=2):
    tr = make_trainer(cfg)
    return train_apart(tr, jax.random.split(jax.random.key(0), seeds),
                                                   hp or jaxpg.HParams())


@pytest.mark.slow
def test_bootstrap_setting_matters_only_when_episodes_are_truncated():
    # TwoArmedBandit always terminates: the flag cannot change anything.
    base = dict(env="TwoArmedBandit-probe", num_envs=8, num_updates=5, hidden=(4,), advantage="value")
    (sa, ma), (sb, mb) = (_train(jaxpg.Config(**base, bootstrap_truncated=flag)) for flag in (True, False))
    jax.tree.map(np.testing.assert_array_equal, (sa.params, sa.value_params, ma),
                 (sb.params, sb.value_params, mb))
    # CartPole cut at 10 steps: every episode is truncated; the returns and so the value
    # targets differ (the untrained policy survives 10 steps almost always).
    base = dict(env="CartPole-v1", num_envs=8, num_updates=5, hidden=(4,), advantage="value", max_steps=10)
    _, ma = _train(jaxpg.Config(**base, bootstrap_truncated=True))
    _, mb = _train(jaxpg.Config(**base, bootstrap_truncated=False))
    assert not np.allclose(ma.value_loss[:, 1:], mb.value_loss[:, 1:])


def _grad_variance(params, pol, adv_fn, batches=200, n=16):
    env, ep = envs.make("StateOffset-probe")

    def one(key):
        traj, _ = rollout(key, env, ep, lambda k, o: pol.dist.sample(k, pol.apply(params, o)), n, 1)
        adv = adv_fn(traj)
        _, g = losses.reinforce_value_and_grad(params, pol.apply, traj.obs, traj.actions, adv, traj.valid,
                                               0.0, 1, 1)
        return jnp.concatenate([x.ravel() for x in jax.tree.leaves(g)])

    grads = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(7), batches))
    return float(grads.var(0).sum()), np.asarray(grads.mean(0))


@pytest.mark.slow
def test_value_baseline_reduces_gradient_variance_on_a_probe_with_known_returns():
    # StateOffset: reward = offset[c] + a with offsets (0, 10); G = reward (one step).
    # V(c) = offset[c] + π(1|c). A constant baseline (the batch mean) leaves the ±5 of
    # the state in the advantage; V(s) removes it.
    env, ep = envs.make("StateOffset-probe")
    pol = policies.mlp_policy((8,), action_space=env.action_space(ep))
    params = pol.init(jax.random.key(0), jnp.zeros(2))
    probs = jax.nn.softmax(pol.apply(params, jnp.eye(2)))[:, 1]
    v_true = jnp.array([0.0, 10.0]) + probs

    # fit a value network by the library's regression on returns of the same policy
    vnet = policies.value_network((16,))
    vp = vnet.init(jax.random.key(1), jnp.zeros(2))["params"]
    opt = optax.adam(3e-2)
    ostate = opt.init(vp)

    def fit_step(carry, key):
        vp, ostate = carry
        traj, _ = rollout(key, env, ep, lambda k, o: pol.dist.sample(k, pol.apply(params, o)), 64, 1)
        _, g = losses.value_loss_and_grad(vp, lambda p, o: vnet.apply({"params": p}, o), traj.obs,
                                          traj.rewards, traj.valid, 1, 1)
        upd, ostate = opt.update(g, ostate, vp)
        return (optax.apply_updates(vp, upd), ostate), None

    (vp, _), _ = jax.lax.scan(fit_step, (vp, ostate), jax.random.split(jax.random.key(2), 400))
    v_fit = vnet.apply({"params": vp}, jnp.eye(2))
    np.testing.assert_allclose(v_fit, v_true, atol=0.1)

    def g_of(t):
        return jnp.where(t.valid, t.rewards, 0.0)  # one-step episodes: G_0 = r_0

    var_none, mean_none = _grad_variance(params, pol, g_of)
    var_mean, mean_mean = _grad_variance(
        params, pol, lambda t: jnp.where(t.valid, g_of(t) - jaxpg.returns.masked_mean(g_of(t), t.valid), 0.0))
    var_true, mean_true = _grad_variance(
        params, pol, lambda t: jnp.where(t.valid, g_of(t) - t.obs @ v_true, 0.0))
    var_fit, mean_fit = _grad_variance(
        params, pol, lambda t: jnp.where(t.valid, g_of(t) - vnet.apply({"params": vp}, t.obs), 0.0))
    assert var_fit < 0.1 * var_mean < 0.1 * var_none, (var_none, var_mean, var_true, var_fit)
    assert var_true < 0.1 * var_mean
    # and the baseline leaves the expected gradient alone (same mean, within sampling error)
    np.testing.assert_allclose(mean_fit, mean_true, atol=0.05)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), t1=st.integers(1, 6), t2=st.integers(1, 6))
def test_running_obs_statistics_equal_numpy_over_all_valid_rows(seed, t1, t2):
    rng = np.random.default_rng(seed)
    stats = {"mean": jnp.zeros(3), "var": jnp.ones(3), "count": jnp.zeros(())}
    rows = []
    for t in (t1, t2):
        obs = rng.normal(3.0, 2.0, size=(t, 4, 3)).astype(np.float32)
        valid = rng.random((t, 4)) < 0.7
        valid[0, 0] = True
        stats = policies.update_obs_norm(stats, jnp.asarray(obs), jnp.asarray(valid), obs_scale=0.5)
        rows.append(0.5 * obs[valid])
    allrows = np.concatenate(rows)
    np.testing.assert_allclose(stats["mean"], allrows.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats["var"], allrows.var(0), rtol=1e-4, atol=1e-5)
    assert float(stats["count"]) == len(allrows)


@pytest.mark.slow
def test_obs_norm_is_used_and_updated_and_vmapped_seed_equals_alone():
    cfg = jaxpg.Config(env="CartPole-v1", num_envs=8, num_updates=4, hidden=(8,), advantage="value",
                       obs_norm=True)
    tr = make_trainer(cfg)
    keys = jax.random.split(jax.random.key(4), 3)
    state, m = train_apart(tr, keys, jaxpg.HParams())
    stats = state.params["obs_norm"]
    np.testing.assert_array_equal(stats["count"], m.env_steps.sum(1))  # every valid step counted once
    assert float(jnp.abs(stats["mean"]).max()) > 0 and bool((stats["var"] > 0).all())
    one = jax.jit(tr.init)(keys[1], jaxpg.HParams())
    alone, m1 = jax.jit(tr.run, static_argnums=2)(one, jaxpg.HParams(), cfg.num_updates)
    np.testing.assert_allclose(m.loss[1], m1.loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.value_loss[1], m1.value_loss, rtol=1e-5, atol=1e-6)


def test_check_finite_names_the_update_and_the_seed():
    z = np.zeros((3, 5), np.float32)
    m = Metrics(*(z.copy() for _ in Metrics._fields))
    check_finite(m)  # all finite: no error
    m.loss[2, 3] = np.nan
    m.loss[1, 4] = np.inf
    with pytest.raises(DivergedError, match="the loss is nan at update 14 of seed 2"):
        check_finite(m, first_update=10)  # the earliest update wins: update 10 + 3 + 1
    m2 = Metrics(*(z.copy() for _ in Metrics._fields))
    m2.nonfinite_obs[0, 1] = 3
    with pytest.raises(DivergedError, match="non-finite observation at update 2 of seed 0"):
        check_finite(m2)


class _NaNAfterTwo(probes.DelayedReward):
    """DelayedReward whose observation turns NaN from the third step on."""

    def _obs(self, time, params):
        o = super()._obs(time, params)
        return jnp.where(time >= 2, jnp.nan, o)

    @property
    def name(self):
        return "NaNObs-test"


@pytest.mark.slow
def test_cli_stops_on_non_finite_observations_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(envs._OWN, "NaNObs-test", lambda: (_NaNAfterTwo(5), _NaNAfterTwo(5).default_params))
    out = tmp_path / "run"
    code = main(["train", "--env", "NaNObs-test", "--seeds", "2", "--updates", "4", "--progress-every", "2",
                 "--num-envs", "4", "--eval-episodes", "2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("jaxpg: error: "), err
    assert "non-finite observation at update 1 of seed 0" in err
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["diverged"].startswith("the environment returned") and summary["eval_mean"] is None


@pytest.mark.slow
@pytest.mark.parametrize("env", ["CartPole-v1", "Pendulum-v1"])
def test_checkpoint_round_trip_with_value_and_obs_norm(tmp_path, env):
    cfg = jaxpg.Config(env=env, num_envs=4, hidden=(8,), num_updates=4, advantage="value", obs_norm=True,
                       max_steps=20, value_hidden=(6,))
    hp = jaxpg.HParams(value_learning_rate=3e-3)
    r = jaxpg.run(jaxpg.RunSpec(cfg, hp, seeds=2, seed=3, evaluation=jaxpg.Evaluation(episodes=0)),
                  tmp_path / "r", handle_signals=False)
    state = jax.tree.map(lambda x: x[:2], r.state)
    ck = checkpoint.load(tmp_path / "r")
    assert ck.config == cfg and ck.hparams == hp
    same = jax.tree.map(lambda x, y: np.array_equal(np.asarray(x), np.asarray(y)),
                        ck.state._replace(key=jax.random.key_data(ck.state.key)),
                        state._replace(key=jax.random.key_data(state.key)))
    assert jax.tree.all(same)
    obs_dim = ck.state.params["obs_norm"]["mean"].shape[1]
    assert ck.state.value_params["params"]["Dense_0"]["kernel"].shape == (2, obs_dim, 6)


@pytest.mark.parametrize("env", ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1",
                                 "MountainCarContinuous-v0"])
@pytest.mark.slow
def test_every_classic_control_task_trains_with_its_recommended_settings(env):
    from jaxpg.defaults import recommended

    config, hp = recommended(env, num_envs=2, num_updates=2, max_steps=30)
    assert env in envs.names()
    keys = jax.random.split(jax.random.key(0), 2)
    state, m = train_apart(make_trainer(config), keys, hp)
    check_finite(jax.tree.map(np.asarray, m))
    assert m.mean_return.shape == (2, 2) and int(m.env_steps.sum()) > 0


@pytest.mark.slow
def test_gae_lambda_matters_only_for_multi_step_episodes_and_is_a_traced_sweep_axis():
    # one-step bandit episodes: A_0 = r_0 − V(s_0) for every λ (the episode's discount is 0)
    base = dict(env="TwoArmedBandit-probe", num_envs=8, num_updates=5, hidden=(4,), advantage="value")
    (sa, ma), (sb, mb) = (_train(jaxpg.Config(**base), jaxpg.HParams(gae_lambda=lam)) for lam in (0.0, 1.0))
    jax.tree.map(np.testing.assert_array_equal, (sa.params, sa.value_params, ma),
                 (sb.params, sb.value_params, mb))
    # CartPole: λ changes the advantages, hence the policy; a vmap over λ equals each λ alone
    cfg = jaxpg.Config(env="CartPole-v1", num_envs=8, num_updates=4, hidden=(4,), advantage="value",
                       max_steps=30)
    tr = make_trainer(cfg)
    key = jax.random.key(4)
    hps = jax.tree.map(lambda v: jnp.full((2,), v, jnp.float32), jaxpg.HParams()).replace(
        gae_lambda=jnp.array([0.5, 1.0]))
    state = jax.jit(jax.vmap(tr.init, in_axes=(None, 0)))(key, hps)
    _, m = jax.jit(jax.vmap(tr.run, in_axes=(0, 0, None)), static_argnums=2)(state, hps, 4)
    for i, lam in enumerate((0.5, 1.0)):
        hp = jaxpg.HParams(gae_lambda=lam)
        s1 = jax.jit(tr.init)(key, hp)
        _, m1 = jax.jit(tr.run, static_argnums=2)(s1, hp, 4)
        np.testing.assert_allclose(m.loss[i], m1.loss, rtol=1e-5, atol=1e-6)
    assert not np.allclose(m.loss[0, 1:], m.loss[1, 1:])
