"""The state and parameters of Pixelcopter (gymnax pytrees)."""

from __future__ import annotations

from typing import Any

import jax
from flax import struct
from gymnax.environments import environment

from jaxpg.envs.pixelcopter.dfloat import _xq_to_float


@struct.dataclass
class EnvState(environment.EnvState):
    """Full game state (one environment; every leaf may carry leading batch dimensions).

    Attributes:
      player_y: float32 []: copter centre y, high part (x is always 16).
      player_y_lo: float32 []: low part of y (the exact value is ``player_y + player_y_lo``).
      player_vel: float32 []: momentum (px/step, positive = down), high part.
      player_vel_lo: float32 []: low part of the momentum.
      block_xq: int32 [4]: block centre x in 1/25 px (x = block_xq / 25).
      block_y: int32 [4]: block centre y (integer).
      block_alive: bool [4]: alive mask; alive blocks packed first in creation order.
      terrain_xq: int32 [64]: terrain piece centre x in 1/25 px.
      terrain_y: int32 [64]: terrain piece centre y (the middle of the cave).
      terrain_alive: bool [64]: alive mask; alive pieces packed first in creation order
        (= increasing x).
      score: float32 []: the game's running score.
      lives: int32 []: lives left (1 while playing; game over when <= 0).
      time: int32 []: steps taken in this episode.
      terrain_pending: bool [64]: pieces whose ``terrain_y`` is not computed yet (0 until
        then). A new terrain batch stores each piece's angle; the step computes one
        pending piece's height per step, in slot order, long before the piece can reach
        the copter (piece j of a batch needs ≥ 47 + 6j steps to come within reach and is
        computed on step j). This keeps 48 ``sin`` per env out of every step (under
        ``vmap`` the rare regeneration is computed, and selected, at every step).
        :func:`resolved` fills them in (``state_to_reference`` and ``render`` do).
      terrain_angle: float32 [64]: ``f * x + phase`` of the pending pieces (0 otherwise).
    """

    player_y: jax.Array
    player_y_lo: jax.Array
    player_vel: jax.Array
    player_vel_lo: jax.Array
    block_xq: jax.Array
    block_y: jax.Array
    block_alive: jax.Array
    terrain_xq: jax.Array
    terrain_y: jax.Array
    terrain_alive: jax.Array
    score: jax.Array
    lives: jax.Array
    time: Any
    terrain_pending: Any = None
    terrain_angle: Any = None

    @property
    def block_x(self) -> jax.Array:
        """Block centre x in pixels (float32)."""
        return _xq_to_float(self.block_xq)

    @property
    def terrain_x(self) -> jax.Array:
        """Terrain piece centre x in pixels (float32)."""
        return _xq_to_float(self.terrain_xq)


@struct.dataclass
class EnvParams(environment.EnvParams):
    """Parameters of Pixelcopter.

    The game itself has no free parameters under the course's settings (its constants
    are in :mod:`jaxpg.envs.pixelcopter.constants`). The original never truncates an
    episode; the Hugging Face course stopped episodes after 10,000 steps, which is the
    default time limit here.

    Attributes:
      max_steps_in_episode: time limit used by ``is_truncated`` (default 10,000).
    """

    max_steps_in_episode: int = 10_000
