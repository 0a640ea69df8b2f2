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

__all__ = ["TwoArmedBandit", "DelayedReward", "TargetAction", "StateOffset"]


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


@struct.dataclass
class TargetState(environment.EnvState):
    target: jax.Array
    time: int


@struct.dataclass
class TargetParams(environment.EnvParams):
    max_steps_in_episode: int = 1


class TargetAction(environment.Environment[TargetState, TargetParams]):
    """Continuous probe: one step; observe a target ``g ~ U[-1, 1]^D``, reward ``−‖a − g‖²``.

    The action space is ``Box(-2, 2, (D,))``. The optimal policy plays
    ``a = g`` (return 0); a Gaussian policy with mean ``g`` and standard
    deviation ``σ`` earns ``−D·σ²`` on average (the actions the env receives are
    clipped to the box).
    """

    def __init__(self, dim: int = 1):
        super().__init__()
        if int(dim) < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = int(dim)

    @property
    def default_params(self) -> TargetParams:
        return TargetParams()

    def step_env(self, key, state, action, params):
        del key
        a = jnp.clip(jnp.asarray(action, jnp.float32), -2.0, 2.0)
        reward = -jnp.sum(jnp.square(a - state.target))
        state = TargetState(target=state.target, time=state.time + 1)
        return state.target, state, reward, jnp.array(True), {}

    def reset_env(self, key, params):
        target = jax.random.uniform(key, (self.dim,), jnp.float32, -1.0, 1.0)
        return target, TargetState(target=target, time=0)

    def is_terminated(self, state, params):
        return state.time >= 1

    @property
    def name(self) -> str:
        return "TargetAction-probe"

    @property
    def num_actions(self) -> int:
        return self.dim

    def action_space(self, params=None):
        return spaces.Box(-2.0, 2.0, (self.dim,), jnp.float32)

    def observation_space(self, params):
        return spaces.Box(-1.0, 1.0, (self.dim,), jnp.float32)


@struct.dataclass
class OffsetState(environment.EnvState):
    offset: jax.Array
    time: int


@struct.dataclass
class OffsetParams(environment.EnvParams):
    offsets: tuple[float, float] = (0.0, 10.0)
    max_steps_in_episode: int = 1


class StateOffset(environment.Environment[OffsetState, OffsetParams]):
    """One step; the state is a coin ``c ∈ {0, 1}`` (observed one-hot); reward
    ``offsets[c] + a`` for the action ``a ∈ {0, 1}``.

    Returns are known: ``V(c) = offsets[c] + π(1|c)``. Most of the return's
    variance comes from the state, not the action, so a state-value baseline
    removes it from the gradient estimate while a constant one cannot.
    """

    @property
    def default_params(self) -> OffsetParams:
        return OffsetParams()

    def step_env(self, key, state, action, params):
        del key
        reward = jnp.asarray(params.offsets, jnp.float32)[state.offset] + jnp.asarray(action, jnp.float32)
        obs = jax.nn.one_hot(state.offset, 2, dtype=jnp.float32)
        return obs, OffsetState(offset=state.offset, time=state.time + 1), reward, jnp.array(True), {}

    def reset_env(self, key, params):
        c = jax.random.bernoulli(key).astype(jnp.int32)
        return jax.nn.one_hot(c, 2, dtype=jnp.float32), OffsetState(offset=c, time=0)

    def is_terminated(self, state, params):
        return state.time >= 1

    @property
    def name(self) -> str:
        return "StateOffset-probe"

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def observation_space(self, params):
        return spaces.Box(0.0, 1.0, (2,), jnp.float32)
