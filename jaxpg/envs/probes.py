"""Tiny environments with known answers, for tests and for users' sanity checks.

Each follows the gymnax ``Environment`` interface, so every jaxpg building
block (rollout, train, evaluate) runs on them unchanged.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

__all__ = ["TwoArmedBandit", "DelayedReward"]


@struct.dataclass
class ProbeState(environment.EnvState):
    first_action: jax.Array
    time: int


@struct.dataclass
class BanditParams(environment.EnvParams):
    arm_rewards: tuple[float, float] = (0.0, 1.0)
    max_steps_in_episode: int = 1


class TwoArmedBandit(environment.Environment[ProbeState, BanditParams]):
    """One-step episodes; arm ``i`` pays ``params.arm_rewards[i]`` (default (0, 1)).

    The observation is the constant ``[1.0]``, so the optimal policy is
    "always pull arm 1" and its return is 1.
    """

    @property
    def default_params(self) -> BanditParams:
        return BanditParams()

    def step_env(self, key, state, action, params) -> tuple[Any, ProbeState, Any, Any, dict]:
        del key
        reward = jnp.asarray(params.arm_rewards, jnp.float32)[action]
        state = ProbeState(first_action=jnp.asarray(action, jnp.int32), time=state.time + 1)
        return jnp.ones((1,), jnp.float32), state, reward, jnp.array(True), {}

    def reset_env(self, key, params):
        del key
        return jnp.ones((1,), jnp.float32), ProbeState(first_action=jnp.int32(-1), time=0)

    def is_terminated(self, state, params):
        return state.time >= 1

    @property
    def name(self) -> str:
        return "TwoArmedBandit-probe"

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (1,), jnp.float32)


@struct.dataclass
class DelayedParams(environment.EnvParams):
    max_steps_in_episode: int = 100


class DelayedReward(environment.Environment[ProbeState, DelayedParams]):
    """Episodes of ``length`` steps; reward 1 at the last step iff the FIRST action was 1.

    Only the first decision matters and its effect arrives ``length - 1``
    steps later, so learning it needs returns that carry the reward back in
    time. Observation: one-hot of the time step. ``length`` fixes the
    observation shape, so it is a constructor argument (static), not a param.
    """

    def __init__(self, length: int = 3):
        super().__init__()
        if int(length) < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self.length = int(length)

    @property
    def default_params(self) -> DelayedParams:
        return DelayedParams()

    def _obs(self, time, params):
        return jax.nn.one_hot(time, self.length, dtype=jnp.float32)

    def step_env(self, key, state, action, params):
        del key
        first = jnp.where(state.time == 0, jnp.asarray(action, jnp.int32), state.first_action)
        time = state.time + 1
        last = time >= self.length
        reward = jnp.where(last & (first == 1), 1.0, 0.0).astype(jnp.float32)
        state = ProbeState(first_action=first, time=time)
        return self._obs(jnp.minimum(time, self.length - 1), params), state, reward, last, {}

    def reset_env(self, key, params):
        del key
        return self._obs(0, params), ProbeState(first_action=jnp.int32(-1), time=0)

    def is_terminated(self, state, params):
        return state.time >= self.length

    @property
    def name(self) -> str:
        return "DelayedReward-probe"

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (self.length,), jnp.float32)
