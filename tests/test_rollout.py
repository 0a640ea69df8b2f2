import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg import envs


def _random_act(k, obs):
    return jax.random.randint(k, obs.shape[:1], 0, 2)


@pytest.fixture(scope="module")
def cartpole():
    return envs.make("CartPole-v1")


def test_shapes_and_dtypes(cartpole):
    env, p = cartpole
    traj, stats = jax.jit(
        lambda k: jaxpg.rollout(k, env, p, _random_act, num_envs=5, max_steps=60, chunk=8)
    )(jax.random.key(0))
    assert traj.obs.shape == (60, 5, 4) and traj.obs.dtype == jnp.float32
    for field in ("actions", "rewards", "terminated", "truncated", "valid"):
        assert getattr(traj, field).shape == (60, 5), field
    assert traj.actions.dtype == jnp.int32 and traj.valid.dtype == jnp.bool_
    assert int(stats.sim_steps) == int(stats.loop_steps) * 5


def test_mask_is_exactly_up_to_and_including_the_last_step(cartpole):
    env, p = cartpole
    traj, _ = jaxpg.rollout(jax.random.key(1), env, p, _random_act, num_envs=64, max_steps=500)
    valid = np.asarray(traj.valid)
    ends = np.asarray(traj.terminated | traj.truncated)
    for n in range(64):
        (end,) = np.nonzero(ends[:, n])
        assert len(end) == 1, "exactly one step ends each episode"
        expected = np.arange(500) <= end[0]
        np.testing.assert_array_equal(valid[:, n], expected)
        # CartPole pays 1 per valid step, 0 on padding
        np.testing.assert_array_equal(np.asarray(traj.rewards)[:, n], expected.astype(np.float32))
    assert not np.asarray(traj.obs)[~valid].any(), "padding obs are zeroed"


def test_early_exit_equals_full_length_and_stops_early(cartpole):
    env, p = cartpole
    key = jax.random.key(2)
    run = jax.jit(
        lambda k, early: jaxpg.rollout(k, env, p, _random_act, 16, 500, 16, early_exit=early),
        static_argnums=1,
    )
    early, s_early = run(key, True)
    full, s_full = run(key, False)
    jax.tree.map(np.testing.assert_array_equal, early, full)
    assert int(s_full.sim_steps) == 512 * 16  # 32 chunks of 16 steps, 16 envs
    longest = int(np.asarray(early.valid).sum(0).max())
    # loop_steps: the chunk-rounded prefix every episode fits in, whether or not the loop stopped there
    assert int(s_early.loop_steps) == int(s_full.loop_steps) == -(-longest // 16) * 16 < 512
    assert int(s_early.sim_steps) == int(s_early.loop_steps) * 16


def test_named_axis_exit_matches_each_member_alone_without_buffer_selects(cartpole):
    """Under vmap(axis_name=...) the loop stops when every member is done; each member's
    trajectory and loop_steps are exactly its own, sim_steps counts the shared loop, and
    the loop carries no per-iteration select over the [T, N] buffers."""
    env, p = cartpole
    keys = jax.random.split(jax.random.key(5), 3)

    def one(k, axis_name=None):
        return jaxpg.rollout(k, env, p, _random_act, 16, 500, 16, axis_name=axis_name)

    named = jax.jit(jax.vmap(lambda k: one(k, "members"), axis_name="members"))
    traj, stats = named(keys)
    loops = []
    for i in range(3):
        alone, s_alone = jax.jit(one)(keys[i])
        jax.tree.map(np.testing.assert_array_equal, jax.tree.map(lambda x, i=i: x[i], traj), alone)
        assert int(stats.loop_steps[i]) == int(s_alone.loop_steps)
        loops.append(int(s_alone.loop_steps))
    assert len(set(loops)) > 1, "the members should need different loop lengths for this test to bite"
    np.testing.assert_array_equal(np.asarray(stats.sim_steps), max(loops) * 16)

    def batched_write_offsets(fn):
        # The chunk offset of the buffer writes: with a batched exit test the loop counter is
        # per member (i32[3]), so every write is a scatter at per-member offsets inside a loop
        # whose carries are all selected; with the named axis it is one scalar (i32[]).
        text = str(jax.make_jaxpr(fn)(keys))
        return sum(":i32[3] = add" in line and " 512:i32[]" in line for line in text.splitlines())

    assert batched_write_offsets(jax.vmap(lambda k: one(k, "members"), axis_name="members")) == 0
    assert batched_write_offsets(jax.vmap(one)) > 0  # plain vmap: the check can see the difference


def test_chunk_size_does_not_change_the_trajectory(cartpole):
    env, p = cartpole
    a, _ = jaxpg.rollout(jax.random.key(3), env, p, _random_act, 8, 200, chunk=1)
    b, _ = jaxpg.rollout(jax.random.key(3), env, p, _random_act, 8, 200, chunk=37)
    jax.tree.map(np.testing.assert_array_equal, a, b)


def test_truncation_at_max_steps(cartpole):
    env, p = cartpole
    # a balancing controller (push the cart under the falling pole) survives 30 steps easily
    def balance(k, obs):
        return (obs[:, 2] + obs[:, 3] > 0).astype(jnp.int32)

    traj, _ = jaxpg.rollout(jax.random.key(4), env, p, balance, 4, max_steps=30)
    assert np.asarray(traj.valid).all()
    np.testing.assert_array_equal(np.asarray(traj.truncated)[-1], True)
    assert not np.asarray(traj.truncated)[:-1].any()
    assert not np.asarray(traj.terminated).any()


def test_random_policy_statistics_match_gymnasium_reference(cartpole):
    # ../shared/data/cartpole/README.md: gymnasium CartPole-v1, random actions, 1,000 episodes:
    # length mean 22.20, std 11.31 → with 4,000 episodes here the SE of our mean is 11.31/√4000 ≈ 0.18;
    # combined with the reference's SE (0.36): σ ≈ 0.40; allow 4σ = 1.6.
    env, p = cartpole
    traj, _ = jax.jit(lambda k: jaxpg.rollout(k, env, p, _random_act, 4000, 500))(jax.random.key(5))
    lengths = np.asarray(traj.valid).sum(0)
    assert abs(lengths.mean() - 22.20) < 1.6, lengths.mean()
    assert abs(lengths.std() - 11.31) < 1.5, lengths.std()
    assert lengths.min() >= 8


def test_vmapped_rollout_equals_individual_rollouts(cartpole):
    env, p = cartpole
    keys = jax.random.split(jax.random.key(6), 3)
    batched, _ = jax.vmap(lambda k: jaxpg.rollout(k, env, p, _random_act, 4, 100))(keys)
    for i in range(3):
        single, _ = jaxpg.rollout(keys[i], env, p, _random_act, 4, 100)
        jax.tree.map(lambda b, s, i=i: np.testing.assert_array_equal(b[i], s), batched, single)
