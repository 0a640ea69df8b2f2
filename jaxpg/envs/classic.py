"""Classic-control environments with gymnasium's dynamics where gymnax's differ.

gymnax's CartPole-v1, Acrobot-v1, Pendulum-v1 and MountainCar-v0 step exactly as gymnasium's
do (``tests/test_classic_parity.py`` checks every one against gymnasium from random states),
so ``jaxpg.envs.make`` serves them unchanged. Only MountainCarContinuous-v0 differs, and
:class:`MountainCarContinuous` here fixes it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments.classic_control.continuous_mountain_car import (
    ContinuousMountainCar,
    EnvParams,
    EnvState,
)

__all__ = ["MountainCarContinuous"]


class MountainCarContinuous(ContinuousMountainCar):
    """gymnasium's ``MountainCarContinuous-v0``: gymnax's env with gymnasium's inelastic left wall.

    gymnax's ``step_env`` (gymnax 1.0.1) zeroes the velocity after the position update with
    ``velocity * (1 - (position >= goal_position) * (velocity < 0))``, where gymnasium (and the
    original gym) have ``if position == min_position and velocity < 0: velocity = 0``. That makes
    two differences:

    - at the left wall, gymnax keeps the negative velocity: from ``[-1.1719, -0.0322]`` with
      action ``-1.0``, gymnasium's next velocity is ``0.0``, gymnax's ``-0.0314``, so the car
      stays pinned to the wall for several steps instead of being able to push off at once. This
      one is reached in ordinary episodes (the policy swings left to build momentum);
    - at or past the goal (``position >= 0.45``) gymnax zeroes a negative velocity, which then
      counts as reaching the goal (``velocity >= 0``: terminated, reward +100) where gymnasium
      continues with the negative velocity. Episodes from ``reset`` terminate before such a state
      (crossing 0.45 needs a positive velocity), so only states set by hand reach it.

    Everything else (force clipping, speed and position clipping, reward ``-0.1 * action**2``
    with the unclipped action plus 100 at the goal, termination, the 999-step limit) is
    gymnax's, which already matches gymnasium. The state and parameter types are gymnax's
    ``EnvState``/``EnvParams``; ``step_env`` is pure JAX and jittable.
    """

    def step_env(
        self,
        key: jax.Array,
        state: EnvState,
        action: int | float | jax.Array,
        params: EnvParams,
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict[Any, Any]]:
        """One transition with gymnasium's dynamics (see the class docstring)."""
        force = jnp.clip(action, params.min_action, params.max_action)
        velocity = state.velocity + force * params.power - jnp.cos(3 * state.position) * params.gravity
        velocity = jnp.clip(velocity, -params.max_speed, params.max_speed)
        position = jnp.clip(state.position + velocity, params.min_position, params.max_position)
        # gymnasium: `if position == min_position and velocity < 0: velocity = 0` (the clip above
        # puts every position past the wall exactly on it)
        velocity = jnp.where((position <= params.min_position) & (velocity < 0), 0.0, velocity)

        at_goal = (position >= params.goal_position) & (velocity >= params.goal_velocity)
        reward = (-0.1 * action**2 + 100.0 * at_goal).squeeze()
        state = EnvState(position=position.squeeze(), velocity=velocity.squeeze(), time=state.time + 1)
        done = self.is_terminal(state, params)
        observation, state = self._apply_transition_gradient_policy(self.get_obs(state), state)
        return observation, state, reward, done, {"discount": self.discount(state, params)}
