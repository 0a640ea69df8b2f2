"""Observation history: ``FrameStack(env, K)``, the env with its last K observations as one.

A policy that sees one observation cannot tell where the world is heading when the
observation leaves part of it out (Pixelcopter's 7 values report only one of the two
terrain pieces the copter can overlap). Stacking the last K observations lets an MLP infer
trends (the cave's slope, the copter's acceleration) without a recurrent state.

The wrapped env is a gymnax ``Environment`` like any other: pure ``reset_env``/``step_env``
(and the auto-resetting ``reset``/``step``), vmappable, its state a pytree
(``FrameStackState``: the inner env's state and the frames). Its observation has shape
``[K, *obs_shape]``, oldest first, newest last; at reset the first observation fills every
slot, so a fresh episode looks like a copter (or pole) that has been standing still.

``jaxpg.envs.make(name, frame_stack=K)`` builds it; ``Config(frame_stack=K)`` (``jaxpg train
--frame-stack K``) trains with it, and the policy's observation normalisation then keeps one
mean and variance per base feature, shared by the K slots (``policies.mlp_policy(...,
frame_stack=K)``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

__all__ = ["FrameStack", "FrameStackState", "base_state"]


@struct.dataclass
class FrameStackState:
    """The wrapped env's state.

    Attributes:
      env_state: the inner env's state.
      frames: ``[K, *obs_shape]`` the last K observations, oldest first.
    """

    env_state: Any
    frames: jax.Array

    @property
    def time(self):  # gymnax code reads ``state.time``
        return self.env_state.time


def base_state(state: Any) -> Any:
    """The innermost env's state of a (possibly) frame-stacked state (``state`` itself if not)."""
    while isinstance(state, FrameStackState):
        state = state.env_state
    return state


class FrameStack(environment.Environment):
    """``env`` whose observation is its last ``k`` observations, ``[k, *obs_shape]``.

    Args:
      env: a gymnax-style environment (``reset_env``, ``step_env``, ``is_truncated``,
        ``observation_space``, ``action_space``, ``default_params``).
      k: frames kept (an integer >= 2).

    Raises:
      ValueError: ``k`` is not an integer >= 2.

    Example:
      >>> import jaxpg
      >>> env, params = jaxpg.envs.make("CartPole-v1", frame_stack=4)
      >>> obs, state = env.reset_env(jax.random.key(0), params)
      >>> obs.shape, bool((obs == obs[-1]).all())
      ((4, 4), True)
    """

    def __init__(self, env, k: int):
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
            raise ValueError(f"frame stack k must be an integer >= 2, got {k!r}")
        self.env, self.k = env, int(k)

    # jitted gymnax methods take ``self`` as a static argument: hash and compare by content
    def __hash__(self):
        return hash((type(self), self.env, self.k))

    def __eq__(self, other):
        return type(other) is type(self) and other.env == self.env and other.k == self.k

    @property
    def default_params(self):
        return self.env.default_params

    @property
    def name(self) -> str:
        return f"{self.env.name}-FrameStack{self.k}"

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    def reset_env(self, key: jax.Array, params) -> tuple[jax.Array, FrameStackState]:
        obs, s = self.env.reset_env(key, params)
        frames = jnp.broadcast_to(obs[None], (self.k, *jnp.shape(obs)))
        return frames, FrameStackState(s, frames)

    def step_env(self, key: jax.Array, state: FrameStackState, action, params):
        obs, s, reward, terminated, info = self.env.step_env(key, state.env_state, action, params)
        frames = jnp.concatenate([state.frames[1:], jnp.asarray(obs, state.frames.dtype)[None]], axis=0)
        return frames, FrameStackState(s, frames), reward, terminated, info

    def is_truncated(self, state: FrameStackState, params) -> jax.Array:
        return self.env.is_truncated(state.env_state, params)

    def action_space(self, params=None):
        return self.env.action_space(params)

    def observation_space(self, params=None) -> spaces.Box:
        sp = self.env.observation_space(params)
        shape = (self.k, *sp.shape)
        low = jnp.broadcast_to(jnp.asarray(sp.low, sp.dtype), shape)
        high = jnp.broadcast_to(jnp.asarray(sp.high, sp.dtype), shape)
        return spaces.Box(low, high, shape, sp.dtype)
