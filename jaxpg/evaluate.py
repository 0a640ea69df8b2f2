"""Evaluation: K episodes of a policy in parallel, and the course's score.

The Hugging Face Deep RL course ranks agents by ``mean − std`` of the return
over its evaluation episodes; ``summarize`` reports that score beside the mean
and std.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpg import policies
from jaxpg.rollout import rollout

__all__ = ["evaluate", "episode_returns", "summarize", "EvalSummary"]


class EvalSummary(NamedTuple):
    """Mean, (population) std and ``score = mean − std`` of episode returns."""

    mean: float
    std: float
    score: float


def evaluate(
    key: jax.Array,
    env,
    env_params,
    apply_fn,
    params,
    num_episodes: int,
    max_steps: int,
    greedy: bool = False,
    chunk: int = 16,
    dist=policies.CATEGORICAL,
) -> jax.Array:
    """Undiscounted returns of ``num_episodes`` episodes played in parallel.

    Args:
      key: PRNG key.
      env, env_params: a gymnax environment and its parameters.
      apply_fn: ``apply(params, obs) -> out`` (the head's input, e.g. logits), or the
        ``Policy`` itself (needed for a recurrent policy: its state is carried through each
        episode from ``initial_state``).
      params: policy parameters.
      num_episodes: K (static).
      max_steps: episode step limit (static).
      greedy: act by the head's mode (``argmax``; a Gaussian's mean) instead of
        sampling (static).
      chunk: rollout chunk (static).
      dist: the policy's head (``policy.dist``; categorical by default).

    Returns:
      [K] float32 returns. Pure: ``jax.vmap`` over ``params`` evaluates many seeds.
    """

    policy = apply_fn if isinstance(apply_fn, policies.Policy) else None
    recurrent = policy is not None and policy.recurrent

    def act(k, obs, *state):
        if recurrent:
            new_state, out = policy.step(params, state[0], obs)
        else:
            out = (policy.apply if policy is not None else apply_fn)(params, obs)
        action = dist.mode(out) if greedy else dist.sample(k, out)
        return (action, new_state) if recurrent else action

    traj, _ = rollout(key, env, env_params, act, num_episodes, max_steps, chunk,
                      env_action_fn=None if dist.discrete else dist.to_env,
                      carry0=policy.initial_state((num_episodes,)) if recurrent else None)
    return traj.rewards.sum(axis=0)


def episode_returns(traj) -> jax.Array:
    """[N] undiscounted return of each episode of a ``Trajectory``."""
    return jnp.sum(traj.rewards, axis=0)


def summarize(returns) -> EvalSummary:
    """``EvalSummary`` of a vector of returns (host-side, numpy)."""
    r = np.asarray(returns, dtype=np.float64)
    mean, std = float(r.mean()), float(r.std())
    return EvalSummary(mean, std, mean - std)
