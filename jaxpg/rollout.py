"""Collecting N complete episodes, time-major, with a validity mask.

One episode per environment: environments are reset once, stepped until their
episode ends (terminated, or truncated at ``max_steps``), and then masked, not
reset. The loop is an early-exit ``lax.while_loop`` over chunks of
``chunk`` steps (each chunk a ``lax.scan``): it stops as soon as every episode
has ended, so a batch of 20-step episodes costs ~20 steps, not ``max_steps``,
while every shape stays static (``[max_steps, N, ...]`` buffers).

Why chunks: under ``jax.vmap`` (many seeds), a while-loop whose predicate is
batched must select between old and new values of its whole carry, buffers
included, at every iteration. Checking once per chunk makes that cost
``max_steps / chunk`` buffer copies per rollout instead of ``max_steps``.
Results do not depend on ``chunk``: the key sequence is per step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxpg.types import Trajectory

__all__ = ["rollout", "RolloutStats"]


class RolloutStats(NamedTuple):
    """What the rollout loop did (scalars).

    Attributes:
      sim_steps: environment steps simulated, masked ones included (N × the steps the
        loop ran; under a named vmap axis, the loop is shared by the whole batch).
      loop_steps: the steps this batch of N episodes needed: its last episode ends
        within the first ``loop_steps`` steps (a multiple of ``chunk``); training
        works on that prefix only.
      final_obs: [N, *obs_shape] the observation that followed each episode's last
        step (what a value baseline bootstraps from when the episode was
        truncated); zeros for an episode that has not ended.
    """

    sim_steps: jax.Array
    loop_steps: jax.Array
    final_obs: jax.Array


def rollout(
    key: jax.Array,
    env,
    env_params,
    act_fn: Callable[[jax.Array, jax.Array], jax.Array],
    num_envs: int,
    max_steps: int,
    chunk: int = 16,
    early_exit: bool = True,
    axis_name: str | None = None,
    env_action_fn: Callable[[jax.Array], jax.Array] | None = None,
    carry0=None,
) -> tuple[Trajectory, RolloutStats]:
    """Plays one episode in each of ``num_envs`` environments.

    Args:
      key: PRNG key (split once per use: resets, then per step one key for the
        actions and one per environment for its transition).
      env: a gymnax ``Environment`` (its ``reset_env``/``step_env`` are used:
        no auto-reset).
      env_params: the env's parameters.
      act_fn: ``act_fn(key, obs[N, *obs_shape]) -> actions[N, ...]``, e.g.
        ``lambda k, o: policies.sample(k, policy.apply(params, o))``. Integer
        actions are stored as int32, others (continuous) as returned.
      num_envs: N (static).
      max_steps: T (static); an episode still running after T steps is
        truncated at its T-th step.
      chunk: steps per early-exit check (static).
      early_exit: stop once every episode has ended (static; ``False`` always
        runs ``max_steps`` steps — same trajectory, for testing).
      axis_name: when this rollout runs under ``jax.vmap(..., axis_name=axis_name)``
        (e.g. over seeds), the exit test is taken over the whole vmapped batch (stop
        when every episode of every member has ended). The loop's condition is then
        unbatched, so vmap does not have to select between the old and new loop
        carry (the ``[T, N]`` buffers included) at every iteration, which costs
        O(T²/chunk) memory traffic per rollout. Members that finish early keep
        stepping, masked: ``traj`` and ``loop_steps`` are exactly what the member
        gives alone; ``sim_steps`` counts every step simulated.
      env_action_fn: maps the stored actions to what the env receives (e.g. a
        Gaussian head's clip or squash to the action bounds); ``None``: the same.
      carry0: a recurrent policy's initial state ``[N, H]`` (``policy.initial_state((N,))``);
        then ``act_fn(key, obs, state) -> (actions, state')`` and ``traj.carry`` records the
        state each action was computed from. Every episode starts at step 0 from ``carry0``.

    Returns:
      ``(traj, stats)``; ``traj`` has ``[T, N, ...]`` fields; ``valid[t, n]`` is
      true exactly for the steps up to and including the one that ended episode
      n; ``rewards``, ``obs``, ``terminated`` and ``truncated`` are 0/False on
      invalid steps.

    Example:
      >>> env, p = jaxpg.envs.make("CartPole-v1")
      >>> act = lambda k, o: jax.random.randint(k, o.shape[:1], 0, 2)
      >>> traj, _ = rollout(jax.random.key(0), env, p, act, num_envs=4, max_steps=500)
      >>> traj.rewards.shape
      (500, 4)
    """
    num_envs, max_steps, chunk = int(num_envs), int(max_steps), int(min(chunk, max_steps))
    num_chunks = -(-max_steps // chunk)
    buf_len = num_chunks * chunk

    key, reset_key = jax.random.split(key)
    obs0, state0 = jax.vmap(env.reset_env, in_axes=(0, None))(
        jax.random.split(reset_key, num_envs), env_params
    )
    step_env = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))
    is_truncated = jax.vmap(env.is_truncated, in_axes=(0, None))

    recurrent = carry0 is not None

    def one_step(carry, _):
        (key, pstate), state, obs, done, t, final_obs = carry
        key, act_key, step_key = jax.random.split(key, 3)
        if recurrent:
            action, next_pstate = act_fn(act_key, obs, pstate)
        else:
            action, next_pstate = act_fn(act_key, obs), pstate
        if jnp.issubdtype(action.dtype, jnp.integer):
            action = action.astype(jnp.int32)
        env_action = action if env_action_fn is None else env_action_fn(action)
        next_obs, next_state, reward, terminated, _ = step_env(
            jax.random.split(step_key, num_envs), state, env_action, env_params
        )
        valid = jnp.logical_not(done)
        terminated = jnp.logical_and(valid, terminated.astype(bool))
        at_limit = jnp.logical_or(is_truncated(next_state, env_params), t + 1 >= max_steps)
        truncated = valid & ~terminated & at_limit
        vmask = valid.reshape(valid.shape + (1,) * (obs.ndim - 1))
        amask = valid.reshape(valid.shape + (1,) * (action.ndim - 1))
        ends = (terminated | truncated).reshape(valid.shape + (1,) * (obs.ndim - 1))
        final_obs = jnp.where(ends, next_obs, final_obs).astype(obs.dtype)
        record = Trajectory(
            obs=jnp.where(vmask, obs, 0).astype(obs.dtype),
            actions=jnp.where(amask, action, 0).astype(action.dtype),
            rewards=jnp.where(valid, reward, 0.0).astype(jnp.float32),
            terminated=terminated,
            truncated=truncated,
            valid=valid,
            carry=jnp.where(valid[:, None], pstate, 0.0) if recurrent else None,
        )
        done = done | terminated | truncated
        return ((key, next_pstate), next_state, next_obs, done, t + 1, final_obs), record

    def run_chunk(loop):
        c, own_c, key, state, obs, done, final_obs, buffers = loop
        own_c = jnp.where(jnp.all(done), own_c, c + 1)  # this member's own loop count
        (key, state, obs, done, _, final_obs), records = jax.lax.scan(
            one_step, (key, state, obs, done, c * chunk, final_obs), None, length=chunk
        )
        buffers = jax.tree.map(
            lambda buf, rec: jax.lax.dynamic_update_slice_in_dim(buf, rec, c * chunk, axis=0),
            buffers,
            records,
        )
        return c + 1, own_c, key, state, obs, done, final_obs, buffers

    def keep_going(loop):
        c, _, _, _, _, done, _, _ = loop
        more = c < num_chunks
        if not early_exit:
            return more
        all_done = jnp.all(done)
        if axis_name is not None:
            all_done = jax.lax.pmin(all_done.astype(jnp.int32), axis_name) > 0
        return jnp.logical_and(more, jnp.logical_not(all_done))

    key = (key, carry0)  # the policy's state travels with the key (None: feed-forward)
    example = jax.eval_shape(
        lambda: one_step(
            (key, state0, obs0, jnp.zeros(num_envs, bool), jnp.int32(0), jnp.zeros_like(obs0)), None
        )[1]
    )
    buffers = jax.tree.map(lambda s: jnp.zeros((buf_len, *s.shape), s.dtype), example)
    loop0 = (jnp.int32(0), jnp.int32(0), key, state0, obs0, jnp.zeros(num_envs, bool),
             jnp.zeros_like(obs0), buffers)
    c, own_c, *_, final_obs, buffers = jax.lax.while_loop(keep_going, run_chunk, loop0)
    traj = jax.tree.map(lambda b: b[:max_steps], buffers)
    return traj, RolloutStats(sim_steps=c * chunk * num_envs, loop_steps=own_c * chunk, final_obs=final_obs)
