"""Observation history: ``envs.FrameStack``, ``Config.frame_stack`` and the per-frame obs_norm."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg import envs, policies, render
from jaxpg.cli import main
from jaxpg.types import Config


def _play(env, params, steps, key, action=1):
    """Obs after reset and after each of `steps` steps (same keys for any env)."""
    k0, key = jax.random.split(key)
    obs, state = env.reset_env(k0, params)
    out = [obs]
    for _ in range(steps):
        key, k = jax.random.split(key)
        obs, state, _, _, _ = env.step_env(k, state, action, params)
        out.append(obs)
    return out, state


def test_frames_are_the_last_k_observations_oldest_first():
    plain, params = envs.make("CartPole-v1")
    stacked, _ = envs.make("CartPole-v1", frame_stack=3)
    assert isinstance(stacked, envs.FrameStack)
    assert envs.obs_shape(stacked, params) == (3, 4)
    o, _ = _play(plain, params, 4, jax.random.key(0))
    s, state = _play(stacked, params, 4, jax.random.key(0))
    # reset: [o0, o0, o0]; after 1 step: [o0, o0, o1]; after 2: [o0, o1, o2]; after 4: [o2, o3, o4]
    np.testing.assert_array_equal(s[0], np.stack([o[0]] * 3))
    np.testing.assert_array_equal(s[1], np.stack([o[0], o[0], o[1]]))
    np.testing.assert_array_equal(s[2], np.stack([o[0], o[1], o[2]]))
    np.testing.assert_array_equal(s[4], np.stack([o[2], o[3], o[4]]))
    np.testing.assert_array_equal(state.frames, s[4])
    assert envs.base_state(state) is state.env_state


def test_frame_stack_keeps_rewards_ends_and_the_auto_resetting_step():
    plain, params = envs.make("Pixelcopter-v0")
    stacked, _ = envs.make("Pixelcopter-v0", frame_stack=2)
    key = jax.random.key(3)
    o, ps = plain.reset_env(key, params)
    s, ss = stacked.reset_env(key, params)
    step1 = jax.jit(lambda k, st: plain.step_env(k, st, 0, params))
    step2 = jax.jit(lambda k, st: stacked.step_env(k, st, 0, params))
    for t in range(40):  # never pressing: falls to the floor and crashes
        k = jax.random.fold_in(key, t)
        o, ps, r1, d1, _ = step1(k, ps)
        s, ss, r2, d2, _ = step2(k, ss)
        assert float(r1) == float(r2) and bool(d1) == bool(d2)
        np.testing.assert_array_equal(s[-1], o)
    assert bool(d1)  # the episode did end inside the loop
    # gymnax's jitted, auto-resetting step takes the wrapper as a static argument
    obs, st, *_ = stacked.step(jax.random.key(1), stacked.reset(jax.random.key(2), params)[1], 1, params)
    assert obs.shape == (2, 7) and bool(stacked.is_truncated(st, params)) is False
    same = envs.FrameStack(stacked.env, 2)  # equal wrappers (same inner env, same K) share compiled steps
    assert same == stacked and hash(same) == hash(stacked) and envs.FrameStack(stacked.env, 3) != stacked


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "4"])
def test_bad_frame_stack_is_refused(bad):
    with pytest.raises(ValueError, match="frame_stack must be a positive integer"):
        envs.make("CartPole-v1", frame_stack=bad)
    with pytest.raises(ValueError, match="frame_stack must be a positive integer"):
        Config(frame_stack=bad)


def test_cli_refuses_a_bad_frame_stack_in_one_line(capsys):
    assert main(["train", "--frame-stack", "0", "--updates", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--frame-stack" in err and "\n" not in err and "Traceback" not in err


def test_obs_norm_statistics_count_each_observation_once():
    # obs [T=2, N=1, K=2, F=1]: frames (0, 4) then (4, 8); the newest frames are 4 and 8
    obs = jnp.array([[[[0.0], [4.0]]], [[[4.0], [8.0]]]])
    valid = jnp.ones((2, 1), bool)
    init = {"mean": jnp.zeros(1), "var": jnp.ones(1), "count": jnp.zeros(())}
    stats = policies.update_obs_norm(init, obs, valid, obs_ndim=2, frame_stack=2)
    # mean (4 + 8)/2 = 6; var ((4-6)^2 + (8-6)^2)/2 = 4; count 2 (not 4: the reset frame 0 and the
    # repeated 4 are not counted again)
    np.testing.assert_allclose(stats["mean"], [6.0])
    np.testing.assert_allclose(stats["var"], [4.0])
    assert float(stats["count"]) == 2.0
    plain = policies.update_obs_norm(init, obs[:, :, -1], valid)
    jax.tree.map(np.testing.assert_array_equal, stats, plain)


def test_every_slot_is_standardised_with_the_same_statistics():
    policy = policies.mlp_policy((), 2, obs_ndim=2, obs_norm=True, frame_stack=3)
    variables = policy.init(jax.random.key(0), jnp.zeros((3, 2)))
    assert variables["obs_norm"]["mean"].shape == (2,)  # per frame feature, not per slot
    variables = {**variables, "obs_norm": {"mean": jnp.array([1.0, -2.0]), "var": jnp.array([4.0, 0.25]),
                                           "count": jnp.float32(10)}}
    x = jnp.array([[3.0, -2.0], [1.0, -1.0], [-1.0, 100.0]])
    # (x - mean)/std per feature in every slot: [[1, 0], [0, 2], [-1, 10 (clipped from 204)]]
    z = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 10.0]]).reshape(-1)
    w = np.asarray(variables["params"]["Dense_0"]["kernel"])
    b = np.asarray(variables["params"]["Dense_0"]["bias"])
    np.testing.assert_allclose(policy.apply(variables, x), z @ w + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(policy.apply(variables, jnp.stack([x, x]))[1], z @ w + b, rtol=1e-5, atol=1e-6)


def test_a_frame_stacked_policy_needs_a_stacked_observation_shape():
    with pytest.raises(ValueError, match="obs_ndim >= 2"):
        policies.mlp_policy((8,), 2, obs_ndim=1, frame_stack=2)


@pytest.fixture(scope="module")
def stacked_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fs") / "run"
    assert main(["train", "--env", "Pixelcopter-v0", "--frame-stack", "3", "--num-envs", "4", "--hidden", "8",
                 "--max-steps", "30", "--updates", "2", "--seeds", "2", "--eval-episodes", "3",
                 "--eval-max-steps", "60", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.slow  # a Pixelcopter run to train first (~17 s cold): the slow tier
def test_a_frame_stacked_run_trains_saves_and_loads(stacked_run):
    summary = json.loads((stacked_run / "summary.json").read_text())
    agent = jaxpg.load(stacked_run, seed_index=1)
    assert agent.config.frame_stack == 3
    assert agent.params["obs_norm"]["mean"].shape == (7,)
    env, params = agent.env_pair()
    assert envs.obs_shape(env, params) == (3, 7)
    # the agent replays the run's own final evaluation through the stacked env
    assert float(agent.evaluate().mean()) == pytest.approx(summary["eval_mean"][1], abs=1e-5)


@pytest.mark.slow
def test_a_frame_stacked_policy_renders_the_games_own_states(stacked_run):
    agent = jaxpg.load(stacked_run, seed_index=0)
    states, length = render.play_episode(jax.random.key(0), agent.env, agent.policy.apply, agent.params, 20,
                                         dist=agent.policy.dist, frame_stack=agent.config.frame_stack)
    assert not isinstance(states, envs.FrameStackState)
    images = render.frames(agent.env, jax.tree.map(lambda a: a[: length + 1], states))
    assert images.shape[0] == length + 1 and images.dtype == np.uint8
