import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg import policies
from jaxpg.train import make_trainer


def _final_policy_probs(trainer, state, obs):
    return jax.nn.softmax(trainer.policy.apply(state.params, obs))


@pytest.mark.slow
def test_two_armed_bandit_is_learned_in_seconds():
    # rewards (0, 1): after 40 updates of 32 one-step episodes P(arm 1) > 0.9
    cfg = jaxpg.Config(env="TwoArmedBandit-probe", num_envs=32, hidden=(8,), num_updates=40,
                       advantage="mean")
    trainer = make_trainer(cfg)
    state, metrics = jax.jit(trainer.train)(jax.random.key(0), jaxpg.HParams(learning_rate=0.05))
    p = _final_policy_probs(trainer, state, jnp.ones((1,)))
    assert float(p[1]) > 0.9, p
    assert float(metrics.mean_return[-5:].mean()) > 0.85
    assert float(metrics.mean_return[0]) < 0.7  # it started near 0.5: it really learned


@pytest.mark.slow
@pytest.mark.parametrize("advantage", ["none", "normalize", "mean"])
def test_delayed_reward_needs_returns_to_carry_credit_back(advantage):
    # reward 1 at t=2 iff the action at t=0 was 1; only returns (γ=1) link them
    cfg = jaxpg.Config(env="DelayedReward-probe", num_envs=32, hidden=(16,), num_updates=60,
                       advantage=advantage)
    trainer = make_trainer(cfg)
    state, metrics = jax.jit(trainer.train)(
        jax.random.key(1), jaxpg.HParams(learning_rate=0.05, gamma=1.0)
    )
    p = _final_policy_probs(trainer, state, jax.nn.one_hot(0, 3))
    assert float(p[1]) > 0.9, p
    assert float(metrics.mean_return[-5:].mean()) > 0.85


@pytest.fixture(scope="module")
def small_cartpole():
    cfg = jaxpg.Config(num_envs=8, num_updates=6, hidden=(16,))
    return make_trainer(cfg)


def test_same_key_same_result(small_cartpole):
    f = jax.jit(small_cartpole.train)
    a = f(jax.random.key(7), jaxpg.HParams())
    b = f(jax.random.key(7), jaxpg.HParams())
    jax.tree.map(np.testing.assert_array_equal, (a[0].params, a[1]), (b[0].params, b[1]))
    np.testing.assert_array_equal(jax.random.key_data(a[0].key), jax.random.key_data(b[0].key))
    c = f(jax.random.key(8), jaxpg.HParams())
    assert not np.array_equal(a[1].mean_return, c[1].mean_return)


def test_vmap_over_seeds_equals_each_seed_alone(small_cartpole):
    keys = jax.random.split(jax.random.key(0), 3)
    hp = jaxpg.HParams()
    batched_state, batched_metrics = jax.jit(jax.vmap(small_cartpole.train, in_axes=(0, None)))(keys, hp)
    single = jax.jit(small_cartpole.train)
    for i in range(3):
        s, m = single(keys[i], hp)
        jax.tree.map(lambda b, x, i=i: np.testing.assert_allclose(b[i], x, rtol=1e-5, atol=1e-6),
                     (batched_state.params, batched_metrics), (s.params, m))


@pytest.mark.slow
def test_vmap_over_hparams_equals_each_point_alone(small_cartpole):
    hps = jaxpg.HParams(learning_rate=jnp.array([1e-3, 3e-2]), gamma=jnp.array([0.9, 1.0]),
                        entropy_coef=jnp.array([0.0, 0.01]), max_grad_norm=jnp.array([1.0, 0.5]),
                        value_learning_rate=jnp.array([1e-3, 1e-3]), gae_lambda=jnp.array([1.0, 0.9]))
    key = jax.random.key(3)
    _, m = jax.jit(jax.vmap(small_cartpole.train, in_axes=(None, 0)))(key, hps)
    for i in range(2):
        hp = jax.tree.map(lambda x, i=i: float(x[i]), hps)
        _, mi = jax.jit(small_cartpole.train)(key, hp)
        np.testing.assert_allclose(m.loss[i], mi.loss, rtol=1e-5, atol=1e-6)


def test_new_hparam_values_do_not_retrace(small_cartpole):
    traces = []

    def counted(key, hp):
        traces.append(1)
        return small_cartpole.train(key, hp)

    f = jax.jit(counted)
    f(jax.random.key(0), jaxpg.HParams(learning_rate=1e-3, gamma=0.9, entropy_coef=0.0))
    f(jax.random.key(0), jaxpg.HParams(learning_rate=5e-2, gamma=1.0, entropy_coef=0.01,
                                       max_grad_norm=float("inf")))
    assert len(traces) == 1


@pytest.mark.slow  # fast-tier margin: trains or compiles whole runs
def test_chunked_run_equals_one_call(small_cartpole):
    hp = jaxpg.HParams()
    state0 = small_cartpole.init(jax.random.key(4), hp)
    one, m_one = jax.jit(small_cartpole.run, static_argnums=2)(state0, hp, 6)
    run3 = jax.jit(small_cartpole.run, static_argnums=2)
    s, m_a = run3(state0, hp, 3)
    s, m_b = run3(s, hp, 3)
    np.testing.assert_allclose(np.concatenate([m_a.loss, m_b.loss]), m_one.loss, rtol=1e-5, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), s.params, one.params)
    assert int(s.update) == 6


@pytest.mark.slow
def test_short_cartpole_run_improves():
    cfg = jaxpg.Config(num_envs=16, num_updates=25)
    state, m = jax.jit(jaxpg.make_train(cfg))(jax.random.key(0), jaxpg.HParams())
    first, last = float(m.mean_return[:3].mean()), float(m.mean_return[-3:].mean())
    assert last > 3 * first, (first, last)
    assert np.all(np.asarray(m.env_steps) <= np.asarray(m.sim_steps))
    np.testing.assert_allclose(m.mean_length * 16, m.env_steps)


def test_evaluate_and_summarize_on_the_bandit():
    cfg = jaxpg.Config(env="TwoArmedBandit-probe", num_envs=32, hidden=(8,), num_updates=40,
                       advantage="mean")
    tr = make_trainer(cfg)
    state, _ = jax.jit(tr.train)(jax.random.key(0), jaxpg.HParams(learning_rate=0.05))
    greedy = jaxpg.evaluate(jax.random.key(1), tr.env, tr.env_params, tr.policy.apply, state.params,
                            50, tr.max_steps, greedy=True)
    np.testing.assert_array_equal(greedy, np.ones(50))  # greedy picks arm 1 → return 1 every time
    s = jaxpg.summarize([1.0, 3.0])  # mean 2, std 1 → score 1
    assert s == jaxpg.EvalSummary(2.0, 1.0, 1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(env=""), "env must be a non-empty environment name"),
        (dict(num_envs=0), "num_envs must be a positive integer, got 0"),
        (dict(max_steps=-3), "max_steps must be a positive integer, got -3"),
        (dict(num_updates=0), "num_updates must be a positive integer"),
        (dict(advantage="gae"), "advantage must be one of none, normalize, mean, value; got 'gae'"),
        (dict(hidden=(64, 0)), "every hidden size must be a positive integer"),
        (dict(obs_scale=0.0), "obs_scale must be a positive finite number, got 0.0"),
        (dict(lr_schedule="cosine"), "lr_schedule must be one of constant, linear; got 'cosine'"),
        (dict(entropy_schedule="exp"), "entropy_schedule must be one of constant, linear; got 'exp'"),
        (dict(num_updates=10, schedule_start=10), r"schedule_start must be an integer in 0..num_updates-1 \(9\)"),
        (dict(schedule_start=-1), "schedule_start must be an integer"),
    ],
)
def test_bad_config_raises_before_compiling(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jaxpg.Config(**kwargs)


def test_env_checks_happen_where_the_env_is_built():
    cfg = jaxpg.Config(env="NoSuchEnv-v0")  # Config itself imports no env (jaxpg.types is standalone)
    with pytest.raises(ValueError, match="unknown environment 'NoSuchEnv-v0'; valid names: .*CartPole-v1"):
        jaxpg.make_trainer(cfg)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(learning_rate=0.0), r"learning_rate must be > 0, got 0.0"),
        (dict(learning_rate=-1e-3), r"learning_rate must be > 0"),
        (dict(gamma=0.0), r"gamma must be in \(0, 1\], got 0.0"),
        (dict(gamma=1.01), r"gamma must be in \(0, 1\]"),
        (dict(entropy_coef=-0.1), r"entropy_coef must be >= 0"),
        (dict(gamma=np.array([0.9, 1.5])), r"gamma must be in \(0, 1\], got 1.5"),
        (dict(learning_rate=float("nan")), r"learning_rate must be > 0"),
    ],
)
def test_bad_hparams_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jaxpg.HParams(**kwargs)


def test_entropy_coef_at_by_hand():
    from jaxpg.train import entropy_coef_at

    # coef 0.01 over 4 updates: u=0 → 0.01·(1-0/4)=0.01, u=1 → 0.0075, u=2 → 0.005, u=3 → 0.0025,
    # u=4 → 0; past the end (resume) it stays 0, never negative
    got = [float(entropy_coef_at(0.01, jnp.int32(u), "linear", 4)) for u in range(6)]
    np.testing.assert_allclose(got, [0.01, 0.0075, 0.005, 0.0025, 0.0, 0.0], atol=1e-9)
    assert [float(entropy_coef_at(0.01, jnp.int32(u), "constant", 4)) for u in (0, 3, 9)] == [0.01] * 3
    # an extension (schedule_start 6, num_updates 10): full until 6, then 1 - (u - 6)/4:
    # u=6 → 1, u=7 → 0.75, u=8 → 0.5, u=9 → 0.25, u=10 → 0
    got = [float(entropy_coef_at(1.0, jnp.int32(u), "linear", 10, 6)) for u in (3, 6, 7, 8, 9, 10, 11)]
    np.testing.assert_allclose(got, [1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0], atol=1e-7)


def test_restarted_linear_learning_rate_by_hand():
    from jaxpg.train import make_optimizer

    # A constant gradient of 1: Adam's direction m̂/(√v̂ + ε) is 1 (to ε), so each update is
    # −lr(count). lr 0.1, decay restarted at 6, 0 at 10: 0.1 for counts 0..6, then 0.075, 0.05, 0.025.
    opt = make_optimizer(jaxpg.HParams(learning_rate=0.1, max_grad_norm=float("inf")), "linear", 10, 6)
    state, g, got = opt.init(jnp.zeros(1)), jnp.ones(1), []
    step = jax.jit(opt.update)
    for _ in range(10):
        u, state = step(g, state)
        got.append(-float(u[0]))
    np.testing.assert_allclose(got, [0.1] * 7 + [0.075, 0.05, 0.025], rtol=1e-4)  # float32 bias correction


@pytest.mark.slow
def test_linear_entropy_schedule_changes_only_the_bonus_weight():
    # Same key, same params at update 1 and 2 until the weights differ: update 1 uses 0.05·1 in both
    # runs (identical), update 2 uses 0.05 vs 0.05·(1 - 1/3) on the same rollout, so the reported
    # losses (pg − coef·entropy) differ by exactly (0.05 - 0.05·2/3)·entropy = 0.05/3·entropy.
    hp = jaxpg.HParams(learning_rate=0.05, entropy_coef=0.05)
    out = {}
    for sched in ("constant", "linear"):
        cfg = jaxpg.Config(env="TwoArmedBandit-probe", num_envs=16, hidden=(8,), num_updates=3,
                           entropy_schedule=sched)
        out[sched] = jax.jit(make_trainer(cfg).train)(jax.random.key(3), hp)[1]
    c, lin = out["constant"], out["linear"]
    np.testing.assert_allclose(lin.loss[0], c.loss[0], rtol=1e-6)
    np.testing.assert_allclose(lin.entropy[1], c.entropy[1], rtol=1e-6)  # same rollout, same params
    np.testing.assert_allclose(lin.loss[1] - c.loss[1], 0.05 / 3 * c.entropy[1], rtol=1e-4, atol=1e-7)
    assert not np.allclose(lin.loss[2], c.loss[2])  # from here on the parameters differ


def test_top_level_names_are_the_blocks_themselves():
    # `jaxpg.X` is the same object as the block's own module attribute (no wrapper, no copy),
    # and every name in __all__ resolves.
    from jaxpg import losses, returns

    assert jaxpg.mlp_policy is policies.mlp_policy and jaxpg.reinforce_loss is losses.reinforce_loss
    assert jaxpg.discounted_returns is returns.discounted_returns
    missing = [n for n in jaxpg.__all__ if getattr(jaxpg, n, None) is None]
    assert not missing, missing


@pytest.mark.slow
def test_pixelcopter_recommended_settings_beat_the_random_policy_quickly():
    # Random policy (data README): return mean -4.796, std 0.463 over 1,000 episodes. After the first
    # 400 of the recommended 30,400 updates (16 episodes each, cut at 256 steps; the learning rate
    # decays over the whole run, as in a real run) the mean training return of the last 10 updates
    # (160 episodes, SE of a random policy's mean ≈ 0.037) must exceed -2.
    from jaxpg.defaults import recommended

    config, hp = recommended("Pixelcopter-v0")
    tr = jaxpg.make_trainer(config)
    # init and run jitted apart: a fused program with advantage="value" can hang on XLA CPU (README)
    state = jax.jit(tr.init)(jax.random.key(0), hp)
    state, m = jax.jit(tr.run, static_argnums=2)(state, hp, 400)
    assert float(m.mean_return[:3].mean()) < -3.5  # it starts as bad as random
    assert float(m.mean_return[-10:].mean()) > -2.0, np.asarray(m.mean_return[-10:])


def test_policy_init_is_flax_orthogonal_without_a_lapack_call():
    # A vmapped jnp.linalg.qr is a batched LAPACK kernel that deadlocked on XLA CPU's pool
    # (README, Known hang): jaxpg's orthogonal init must equal flax's (Q of QR with R's
    # diagonal > 0) to float32 rounding, and a vmapped init must contain no LAPACK call.
    import flax.linen as nn

    from jaxpg.policies import orthogonal

    for shape, gain in (((7, 64), 2**0.5), ((64, 64), 2**0.5), ((64, 2), 0.01)):
        key = jax.random.key(3)
        np.testing.assert_allclose(orthogonal(gain)(key, shape), nn.initializers.orthogonal(gain)(key, shape),
                                   atol=1e-5 * gain)
    tr = make_trainer(jaxpg.Config(env="CartPole-v1", num_envs=2, num_updates=1, hidden=(8,)))
    text = jax.jit(jax.vmap(tr.init, in_axes=(0, None))).lower(
        jax.random.split(jax.random.key(0), 4), jaxpg.HParams()).as_text()
    assert "lapack" not in text.lower() and "geqrf" not in text.lower()
