"""``jaxpg.load``: a trained seed's policy, exactly as its run used it."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg import checkpoint, runner
from jaxpg.agent import evaluation_key
from jaxpg.cli import main

TINY = ["--num-envs", "4", "--hidden", "8", "--max-steps", "50", "--eval-episodes", "3", "--updates", "2"]


def test_load_reproduces_the_runs_final_evaluation(normed_run):
    summary = json.loads((normed_run / "summary.json").read_text())
    for i in range(3):
        agent = jaxpg.load(normed_run, seed_index=i)
        returns = agent.evaluate()
        assert returns.shape == (3,)
        assert float(returns.mean()) == pytest.approx(summary["eval_mean"][i], abs=1e-6)
        greedy = agent.evaluate(greedy=True)
        assert float(greedy.mean()) == pytest.approx(summary["eval_mean_other_mode"][i], abs=1e-6)


def test_load_keeps_the_observation_statistics_and_scaling(normed_run):
    agent = jaxpg.load(normed_run, seed_index=1)
    stats = agent.params["obs_norm"]
    ck = checkpoint.load(normed_run)
    np.testing.assert_array_equal(np.asarray(stats["mean"]), np.asarray(ck.state.params["obs_norm"]["mean"])[1])
    assert np.any(np.asarray(stats["mean"]) != 0)  # updated by training, not the initial zeros
    obs = jnp.array([0.1, -0.4, 0.05, 0.3])
    # the same network with the statistics reset (a hand rebuild that forgot them) acts differently
    fresh = dict(agent.params, obs_norm=jax.tree.map(jnp.zeros_like, stats))
    assert not np.allclose(agent.apply(obs), agent.policy.apply(fresh, obs))
    assert agent.greedy(obs) == jnp.argmax(agent.apply(obs))
    assert agent.act(jax.random.key(0), obs) in (0, 1)


def test_evaluation_key_is_the_run_layers():
    pop = runner.Population(runner.RunSpec(jaxpg.Config(env="TwoArmedBandit-probe", num_envs=2, hidden=(4,),
                                                         num_updates=1), seeds=3, seed=9))
    kd = np.asarray(jax.random.key_data(jax.random.split(jax.random.fold_in(jax.random.key(9), 1), 3)))
    for i in range(3):
        k1, k2 = jax.random.split(jax.random.wrap_key_data(kd[i]))
        assert np.array_equal(jax.random.key_data(evaluation_key(9, 3, i, False)), jax.random.key_data(k1))
        assert np.array_equal(jax.random.key_data(evaluation_key(9, 3, i, True)), jax.random.key_data(k2))
    assert pop.root_seed == 9


def test_act_and_greedy_compile_once_per_policy_and_match_the_uncompiled_maths(normed_run):
    from jaxpg.agent import _compiled

    agent = jaxpg.load(normed_run, seed_index=2)
    act, greedy = _compiled(agent.policy)
    obs = [np.array([0.1, -0.4, 0.05, 0.3]), np.array([-0.2, 0.1, 0.0, -0.3]), np.array([0.0, 0.5, -0.1, 0.2])]
    for o in obs:  # host arrays one at a time, as a gymnasium loop gives them
        assert int(agent.greedy(o)) == int(jnp.argmax(agent.policy.apply(agent.params, jnp.asarray(o))))
        a = agent.act(jax.random.key(3), o)
        assert int(a) == int(jax.random.categorical(jax.random.key(3), agent.policy.apply(agent.params, o)))
    assert greedy._cache_size() == 1 and act._cache_size() == 1  # one trace for every call
    assert _compiled(jaxpg.load(normed_run, seed_index=0).policy) != (act, greedy)  # a new load: its own policy


def test_load_errors_are_one_line(normed_run, tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match=r"seed index 3 is out of range: .* has seeds 0..2"):
        jaxpg.load(normed_run, seed_index=3)
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint"):
        jaxpg.load(tmp_path)
    # one meaning of "seed": the CLI's --seed is a root seed, so the index has its own name
    with pytest.raises(TypeError, match=r"takes seed_index= .* seed= was renamed because --seed is always a root"):
        jaxpg.load(normed_run, seed=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'seeds'"):
        jaxpg.load(normed_run, seeds=1)


@pytest.mark.slow
def test_load_a_gaussian_policy_acts_within_the_bounds(tmp_path):
    out = tmp_path / "pendulum"
    assert main(["train", "--env", "Pendulum-v1", "--seeds", "1", *TINY, "--out", str(out), "--quiet"]) == 0
    agent = jaxpg.load(out)
    obs = jnp.array([1.0, 0.0, 0.5])
    a = agent.act(jax.random.key(1), obs)
    assert a.shape == (1,) and -2.0 <= float(a[0]) <= 2.0
    mean = agent.apply(obs)[:1]
    np.testing.assert_allclose(agent.greedy(obs), jnp.clip(mean, -2.0, 2.0))
    summary = json.loads((out / "summary.json").read_text())
    assert float(agent.evaluate().mean()) == pytest.approx(summary["eval_mean"][0], rel=1e-5)
