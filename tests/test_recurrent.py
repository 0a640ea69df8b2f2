"""Recurrent policies (``--policy gru`` / ``cnn-gru``): the GRU, its resets, the rollout's stored
state, and whole-episode backpropagation chunk by chunk."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpg import envs, losses, policies
from jaxpg.rollout import rollout

H = 6


@pytest.fixture(scope="module")
def gru():
    policy = policies.mlp_policy((5, H), 3, torso="gru")
    variables = policy.init(jax.random.key(0), jnp.zeros(4))
    return policy, variables


def test_gru_matches_flax_grucell(gru):
    """The cell is flax's GRUCell: the same gates with the same weights give the same states."""
    policy, variables = gru
    p = variables["params"]
    w_i, b_i = p["gru_input"]["kernel"], p["gru_input"]["bias"]
    w_h, b_hn = p["gru_hidden_kernel"], p["gru_hidden_bias"]
    cell = nn.GRUCell(features=H)
    split = lambda a, i: a[..., i * H:(i + 1) * H]  # noqa: E731  gate order r, z, n
    fp = {"ir": {"kernel": split(w_i, 0), "bias": split(b_i, 0)},
          "iz": {"kernel": split(w_i, 1), "bias": split(b_i, 1)},
          "in": {"kernel": split(w_i, 2), "bias": split(b_i, 2)},
          "hr": {"kernel": split(w_h, 0)}, "hz": {"kernel": split(w_h, 1)},
          "hn": {"kernel": split(w_h, 2), "bias": b_hn}}
    obs = jax.random.normal(jax.random.key(1), (7, 2, 4))
    # the torso's features: the two hidden Dense layers (tanh), as the module computes them
    feat = obs
    for name in ("Dense_0", "Dense_1"):
        feat = jnp.tanh(feat @ p[name]["kernel"] + p[name]["bias"][None, None])
    h = jnp.zeros((2, H))
    for t in range(7):
        h, _ = cell.apply({"params": fp}, h, feat[t])
    ours, _ = jax.jit(policy.unroll)(variables, policy.initial_state((2,)), obs)
    np.testing.assert_allclose(ours, h, rtol=1e-5, atol=1e-6)
    # and every step's state: the head's input (the stored states of a rollout are these)
    step = jax.jit(policy.step)
    h, ours = jnp.zeros((2, H)), policy.initial_state((2,))
    for t in range(7):
        h, _ = cell.apply({"params": fp}, h, feat[t])
        ours, _ = step(variables, ours, obs[t])
        np.testing.assert_allclose(ours, h, rtol=1e-5, atol=1e-6)


def test_step_by_step_equals_unroll_and_apply(gru):
    policy, variables = gru
    obs = jax.random.normal(jax.random.key(2), (9, 3, 4))
    state = policy.initial_state((3,))
    outs = []
    step = jax.jit(policy.step)
    for t in range(9):
        state, out = step(variables, state, obs[t])
        outs.append(out)
    last, seq = policy.unroll(variables, policy.initial_state((3,)), obs)
    np.testing.assert_allclose(jnp.stack(outs), seq, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state, last, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(policy.apply(variables, obs), seq, rtol=1e-5, atol=1e-6)
    assert policy.initial_state().shape == (H,) and policy.recurrent
    assert not policies.mlp_policy((5,), 2).recurrent


def test_reset_puts_a_stream_back_to_the_start(gru):
    """Hand-built: stream 0 resets before step 3, stream 1 never. After its reset, stream 0's
    outputs equal those of its steps 3.. played alone from the initial state; before it, and
    stream 1 throughout, equal the unroll without resets."""
    policy, variables = gru
    obs = jax.random.normal(jax.random.key(3), (6, 2, 4))
    resets = jnp.zeros((6, 2), bool).at[3, 0].set(True)
    _, with_reset = policy.unroll(variables, policy.initial_state((2,)), obs, resets)
    _, plain = policy.unroll(variables, policy.initial_state((2,)), obs)
    _, suffix = policy.unroll(variables, policy.initial_state((1,)), obs[3:, :1])
    np.testing.assert_allclose(with_reset[3:, 0], suffix[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(with_reset[:3], plain[:3], rtol=1e-6)
    np.testing.assert_allclose(with_reset[:, 1], plain[:, 1], rtol=1e-6)
    assert not np.allclose(with_reset[3:, 0], plain[3:, 0])  # the reset did something
    # a reset at step 0 is the initial state: a non-zero start state is discarded
    start = jnp.ones((2, H))
    _, r0 = policy.unroll(variables, start, obs, jnp.zeros((6, 2), bool).at[0].set(True))
    np.testing.assert_allclose(r0, plain, rtol=1e-5, atol=1e-6)


def test_gru_needs_a_hidden_layer_and_cnn_gru_needs_images():
    with pytest.raises(ValueError, match="at least one hidden layer"):
        policies.mlp_policy((), 2, torso="gru")
    with pytest.raises(ValueError, match="image observations"):
        policies.mlp_policy((8,), 2, torso="cnn-gru")


@pytest.fixture(scope="module")
def episode(gru):
    """A rollout of the gru policy on MemoryChain-30 with random lengths cut by max_steps 20
    (episodes of different lengths: CartPole-like masking)."""
    policy, variables = gru
    env, params = envs.make("CartPole-v1")
    policy = policies.mlp_policy((5, H), 2, torso="gru")
    variables = policy.init(jax.random.key(4), jnp.zeros(4))

    def act(k, obs, state):
        state, out = policy.step(variables, state, obs)
        return policies.sample(k, out), state

    traj, stats = jax.jit(lambda k: rollout(k, env, params, act, 5, 20, chunk=4,
                                            carry0=policy.initial_state((5,))))(jax.random.key(5))
    return policy, variables, traj, stats


def test_rollout_records_the_state_each_action_used(episode):
    policy, variables, traj, _ = episode
    lengths = np.asarray(traj.valid.sum(0))
    assert len(set(lengths.tolist())) > 1  # episodes of different lengths
    states = [policy.initial_state((5,))]
    step = jax.jit(policy.step)
    for t in range(19):
        states.append(step(variables, states[-1], traj.obs[t])[0])
    want = np.where(np.asarray(traj.valid)[..., None], np.stack(states), 0.0)
    np.testing.assert_allclose(traj.carry, want, rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(traj.carry[0]) == 0.0)  # every episode starts from the initial state


@pytest.mark.parametrize("chunk", [3, 20])
def test_stored_state_loss_equals_recomputation_from_the_start(episode, chunk):
    """Chunks start from the rollout's stored states, and the gradient crosses chunk boundaries:
    loss and gradient equal ``jax.value_and_grad`` of one unroll over the whole episode."""
    policy, variables, traj, stats = episode
    adv = jax.random.normal(jax.random.key(6), traj.rewards.shape) * traj.valid
    length = stats.loop_steps

    def unroll(p, s, o):
        return policy.unroll({"params": p}, s, o)

    def apply(p, o):
        return policy.apply({"params": p}, o)

    (loss, (pg, ent)), grads = jax.jit(
        lambda p: losses.recurrent_value_and_grad(p, unroll, traj.carry, traj.obs, traj.actions, adv, traj.valid,
                                                  0.1, length, chunk))(variables["params"])
    (want, (wpg, went)), wgrads = jax.jit(jax.value_and_grad(losses.reinforce_loss, has_aux=True),
                                          static_argnums=1)(
        variables["params"], apply, traj.obs, traj.actions, adv, traj.valid, 0.1)
    np.testing.assert_allclose([loss, pg, ent], [want, wpg, went], rtol=1e-5, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6), grads, wgrads)
    # the gradient through the state matters: cutting it at chunk starts changes it
    if chunk < 20:
        cut = jax.tree.map(lambda g: float(jnp.abs(g).sum()), wgrads["gru_hidden_kernel"])
        assert cut > 0


def test_recurrent_value_prediction_and_loss_equal_whole_episode(episode):
    _, _, traj, stats = episode
    value = policies.value_network((5, H), torso="gru")
    vp = value.init(jax.random.key(7), jnp.zeros(4))["params"]
    length = stats.loop_steps

    def unroll(p, s, o):
        return value.unroll({"params": p}, s, o)

    pred, last = jax.jit(losses.recurrent_predict_prefix, static_argnums=(0, 6))(
        unroll, vp, value.initial_state((5,)), traj.obs, traj.valid, length, 8)
    whole = jax.jit(value.apply)({"params": vp}, traj.obs)
    used = int(-(-int(length) // 8) * 8)
    np.testing.assert_allclose(pred[:used], whole[:used], rtol=1e-5, atol=1e-6)
    # `last`: each stream's state after its last valid step (a bootstrap starts there)
    ends = np.asarray(traj.valid.sum(0)) - 1
    step, state, want = jax.jit(value.step), value.initial_state((5,)), np.zeros((5, H), np.float32)
    for t in range(20):
        state, _ = step({"params": vp}, state, traj.obs[t])
        want[ends == t] = np.asarray(state)[ends == t]
    np.testing.assert_allclose(last, want, rtol=1e-5, atol=1e-6)
    targets = jax.random.normal(jax.random.key(8), traj.rewards.shape)
    loss, grads = jax.jit(losses.recurrent_value_loss_and_grad, static_argnums=(1, 7))(
        vp, unroll, value.initial_state((5,)), traj.obs, targets, traj.valid, length, 8)

    def whole_loss(p):
        err = value.apply({"params": p}, traj.obs) - targets
        return jnp.sum(jnp.where(traj.valid, err ** 2, 0.0)) / traj.valid.sum()

    want, wgrads = jax.jit(jax.value_and_grad(whole_loss))(vp)
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6), grads, wgrads)


@pytest.mark.slow
def test_a_gru_trainer_vmapped_over_seeds_equals_each_seed_alone():
    """Two seeds in one program equal each seed alone (MemoryChain: 6-step episodes, cheap to compile)."""
    from jaxpg.train import make_trainer
    from jaxpg.types import Config, HParams

    tr = make_trainer(Config(env="MemoryChain-bsuite", policy="gru", hidden=(8,), num_envs=8, num_updates=3,
                             max_steps=6, advantage="value"))
    keys = jax.random.split(jax.random.key(0), 2)
    batched, bm = jax.jit(jax.vmap(tr.train, in_axes=(0, None)))(keys, HParams())
    for i in range(2):
        s, m = jax.jit(tr.train)(keys[i], HParams())
        jax.tree.map(lambda b, x, i=i: np.testing.assert_allclose(b[i], x, rtol=1e-5, atol=1e-6),
                     (batched.params, batched.value_params, bm), (s.params, s.value_params, m))
    assert np.all(np.isfinite(np.asarray(bm.value_loss)))


@pytest.mark.slow
def test_gru_run_resumes_bit_for_bit_loads_evaluates_renders_and_exports(tmp_path, capsys):
    """A CartPole gru run with the recurrent value baseline (cut at 30 steps: bootstraps from the
    state the episode reached): split + resume equals the whole run bit for bit; the loaded agent's
    evaluation equals the run's own; render and export play the policy with its state."""
    import json

    from jaxpg import checkpoint
    from jaxpg.agent import load
    from jaxpg.cli import main

    common = ["train", "--env", "CartPole-v1", "--policy", "gru", "--hidden", "16", "--advantage", "value",
              "--seeds", "2", "--num-envs", "4", "--max-steps", "30", "--eval-episodes", "4",
              "--lr-schedule", "constant", "--quiet"]
    assert main([*common, "--updates", "4", "--out", str(tmp_path / "whole")]) == 0
    assert main([*common, "--updates", "2", "--out", str(tmp_path / "split")]) == 0
    assert main(["train", "--resume", str(tmp_path / "split"), "--updates", "4", "--quiet"]) == 0
    a, b = checkpoint.load(tmp_path / "whole"), checkpoint.load(tmp_path / "split")
    fix = lambda s: s._replace(key=jax.random.key_data(s.key))  # noqa: E731
    assert a.updates_done == b.updates_done == 4
    assert jax.tree.all(jax.tree.map(np.array_equal, fix(a.state), fix(b.state)))

    summary = json.loads((tmp_path / "whole" / "summary.json").read_text())
    agent = load(tmp_path / "whole", seed_index=1)
    assert agent.recurrent
    assert float(agent.evaluate().mean()) == pytest.approx(summary["eval_mean"][1], abs=1e-5)
    state = agent.initial_state()
    action, state = agent.act(jax.random.key(0), jnp.zeros(4), state)
    assert state.shape == (16,) and int(action) in (0, 1)
    with pytest.raises(ValueError, match="carries a state"):
        agent.greedy(jnp.zeros(4))
    gif = tmp_path / "gru.gif"
    assert main(["render", str(tmp_path / "whole"), "--max-frames", "12", "--out", str(gif)]) == 0
    assert gif.stat().st_size > 0
    assert main(["export", str(tmp_path / "whole"), "--out", str(tmp_path / "exported"), "--eval-episodes", "10"]) == 0
    exported = load(tmp_path / "exported")
    np.testing.assert_array_equal(exported.greedy(jnp.ones(4), state)[1], agent.greedy(jnp.ones(4), state)[1])


def test_recurrent_policies_take_short_loss_chunks():
    """A chunk is a sequential scan for a gru: capped at 32 steps. Hand-computed for 1 env of the
    64-64 mlp: 2**19 // (128 * 1) = 4096 rows, capped at 512."""
    from jaxpg.train import RECURRENT_LOSS_CHUNK, resolve_loss_chunk
    from jaxpg.types import Config

    assert resolve_loss_chunk(Config(num_envs=1), "cpu") == 512
    assert resolve_loss_chunk(Config(num_envs=1, policy="gru"), "cpu") == RECURRENT_LOSS_CHUNK == 32
    assert resolve_loss_chunk(Config(num_envs=1, policy="gru"), "gpu") == 32
    assert resolve_loss_chunk(Config(num_envs=1024, policy="gru"), "cpu") == 2**19 // (128 * 1024)  # 4
