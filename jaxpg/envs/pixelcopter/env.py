"""The gymnax environment class :class:`Pixelcopter`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import environment, spaces

from jaxpg.envs.pixelcopter.constants import OBS_SIZE
from jaxpg.envs.pixelcopter.dfloat import _ROUND_XQ
from jaxpg.envs.pixelcopter.drawing import render
from jaxpg.envs.pixelcopter.draws import _DRAW_STREAMS
from jaxpg.envs.pixelcopter.observation import _get_obs
from jaxpg.envs.pixelcopter.rules import _reset_from_draws, _step_core
from jaxpg.envs.pixelcopter.state import EnvParams, EnvState


class Pixelcopter(environment.Environment[EnvState, EnvParams]):
    """PLE's Pixelcopter (48 x 48), step for step, as a gymnax environment.

    Fly the copter (fixed at x = 16) through a scrolling cave with floating blocks:
    action 0 thrusts up, action 1 lets it fall. Reward +1 for every terrain piece that
    leaves the screen and for every block passed, -5 on the crash that ends the game.
    The observation is 7 unnormalised float32 numbers (see the package docstring).
    ``step_env`` draws the random numbers from its key and then applies the same rules
    as :func:`step_with_draws`. ``draws="hashed"`` (the default) takes them from
    :func:`sample_draws_hashed`, one 32-bit hash per number; ``draws="threefry"`` from
    :func:`sample_draws`, the stream of jaxpg 0.x before issue 20 (same distributions,
    ~2x slower step; env id ``Pixelcopter-threefry-v0`` reproduces runs made with it).
    ``impl="reference"`` runs the rules as written before issue 20 (general scatter,
    int32 division: the same states, slower; for benchmarks and tests).
    """

    def __init__(self, draws: str = "hashed", impl: str = "fast"):
        super().__init__()
        if draws not in _DRAW_STREAMS:
            raise ValueError(f"draws must be one of {', '.join(_DRAW_STREAMS)}; got {draws!r}")
        if impl not in _ROUND_XQ:
            raise ValueError(f"impl must be 'fast' or 'reference'; got {impl!r}")
        self.obs_shape = (OBS_SIZE,)
        self.draws = draws
        self.impl = impl
        self._sample = _DRAW_STREAMS[draws]

    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    def step_env(
        self, key: jax.Array, state: EnvState, action: int | jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict[Any, Any]]:
        """One step without auto-reset.

        Args:
          key: PRNG key for the step's random draws.
          state: the current state.
          action: int []: 0 = thrust up, 1 = no-op.
          params: unused by the game itself.

        Returns:
          ``(obs float32 [7], next state, reward float32 [], terminated bool [], {})``.
        """
        del params
        obs, state, reward, game_over = _step_core(state, action, self._sample(key), self.impl)
        return obs, state, reward, game_over, {}

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """The game's reset: copter at y = 24, one block, 48 terrain pieces at x = 2..190.

        Returns:
          ``(obs float32 [7], state)``.
        """
        del params
        state = _reset_from_draws(self._sample(key))
        return _get_obs(state, self.impl), state

    def get_obs(self, state: EnvState, params=None, key=None) -> jax.Array:
        """The observation of ``state`` (float32 [7])."""
        del params, key
        return _get_obs(state, self.impl)

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        """Game over: no lives left."""
        del params
        return state.lives <= 0

    @property
    def name(self) -> str:
        return "Pixelcopter-v0"

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        """Two actions: 0 = thrust up, 1 = no-op."""
        return spaces.Discrete(2)

    def observation_space(self, params: EnvParams | None = None) -> spaces.Box:
        """Box of shape (7,), float32, bounds +-1000.

        Loose bounds: every observation up to and including an episode's terminal step lies
        well inside (|momentum| < 56, y within 6 -+ 56 of the safe band).
        """
        return spaces.Box(-1000.0, 1000.0, (OBS_SIZE,), jnp.float32)

    def render(self, state: EnvState, params: EnvParams | None = None, scale: int = 1):
        """See :func:`render`."""
        return render(state, params, scale)
