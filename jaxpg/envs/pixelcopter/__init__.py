"""Pixelcopter (PyGame Learning Environment) as a pure-JAX gymnax environment.

A step-for-step port of PLE's ``Pixelcopter`` game under the settings of the
Hugging Face course's ``Pixelcopter-PLE-v0`` wrapper (48 x 48 screen, fps 30
with ``force_fps``, frame skip 1). The rules, in the order applied, are in the
repository's ``docs/pixelcopter.md``; this package follows them exactly and is
checked against recorded transitions of the original game.

Representation (chosen so a float32 port decides every integer rectangle and
every comparison exactly as the float64 original does):

* Horizontal positions of blocks and terrain pieces are ``int32`` counts of
  1/25 px (:data:`X_UNITS`). Every position the game can reach is an integer
  start minus a multiple of the 0.64 px scroll (16 units), so this is exact.
  The original accumulates ``x -= 0.6400000000000001`` in float64, which
  always lands *below* the exact value; at the only ties that matter
  (``x <= 16`` and ``x <= -4`` exactly) its comparisons are therefore true,
  which the inclusive integer comparisons reproduce.
* The copter's y and momentum are double-float pairs (``hi + lo``, two
  float32 numbers, about 48 significant bits), updated with error-free
  transformations. Plain float32 drifts by ~1e-5 over a few hundred steps,
  enough to round the copter's rectangle differently from the original (this
  happens in the recorded episodes); the pair keeps it within ~1e-13.
* Block and terrain centre ys are integers (``int32``).
* Blocks (capacity :data:`BLOCK_CAPACITY`) and terrain pieces (capacity
  :data:`TERRAIN_CAPACITY`) live in fixed-capacity arrays with an ``alive``
  mask; alive entries are kept packed at the front in creation order (for
  terrain that is also increasing x), exactly the layout of the reference
  recordings. New entries are appended after all alive ones.

Actions: 0 = thrust up, 1 = no-op (any value other than 0 acts as no-op).
Observation (float32, unnormalised): player y, momentum, distance to the
ceiling, distance to the floor, next block's horizontal distance, next
block's "top" (its centre y, as the original names it), next block's
"bottom" (centre y + 9).

The original never truncates; :class:`EnvParams` stops episodes after
``max_steps_in_episode = 10_000`` steps, the limit the course used.

Modules (everything is re-exported here, so ``jaxpg.envs.pixelcopter.X`` works for every
name the single-module version had):

* :mod:`~jaxpg.envs.pixelcopter.constants`: screen, capacities, physics, geometry, colours.
* :mod:`~jaxpg.envs.pixelcopter.dfloat`: double-float arithmetic and the rounding of
  1/25-px positions.
* :mod:`~jaxpg.envs.pixelcopter.state`: :class:`EnvState`, :class:`EnvParams`.
* :mod:`~jaxpg.envs.pixelcopter.draws`: the random draws (:func:`sample_draws`,
  :func:`sample_draws_hashed`).
* :mod:`~jaxpg.envs.pixelcopter.terrain`: terrain generation, pending heights,
  :func:`resolved`.
* :mod:`~jaxpg.envs.pixelcopter.collisions`: the collision tests.
* :mod:`~jaxpg.envs.pixelcopter.observation`: the 7-float observation.
* :mod:`~jaxpg.envs.pixelcopter.rules`: the step and the reset, :func:`step_with_draws`.
* :mod:`~jaxpg.envs.pixelcopter.env`: the gymnax environment :class:`Pixelcopter`.
* :mod:`~jaxpg.envs.pixelcopter.reference`: the reference recordings' layout
  (:func:`state_from_reference`, :func:`state_to_reference`).
* :mod:`~jaxpg.envs.pixelcopter.drawing`: :func:`render`.
* :mod:`~jaxpg.envs.pixelcopter.analysis`: :func:`crash_causes`.
"""

from __future__ import annotations

# The single-module version's names, private ones included (tests and experiments use some).
from jaxpg.envs.pixelcopter.analysis import (  # noqa: F401
    crash_causes,
)
from jaxpg.envs.pixelcopter.collisions import (  # noqa: F401
    _block_hits,
    _collides,
    _hits,
    _player_rect_top,
    _terrain_hits,
)
from jaxpg.envs.pixelcopter.constants import (  # noqa: F401
    _BACKGROUND,
    _BLOCK_COLOUR,
    _BLOCK_H,
    _BLOCK_W,
    _BLOCK_X_RANGE,
    _BLOCK_Y_RANGE,
    _CAVE_HALF,
    _CLIMB_DV,
    _COPTER_COLOUR,
    _DECAY,
    _DT,
    _FALL_DV,
    _H,
    _NO_BLOCK_DIST,
    _PLAYER_HEIGHT,
    _PLAYER_SIZE,
    _PLAYER_START_Y,
    _PLAYER_XQ,
    _REWARD_LOSS,
    _REWARD_POSITIVE,
    _SCROLL_UNITS,
    _SPEED,
    _TERRAIN_AMPLITUDE,
    _TERRAIN_FREQ,
    _TERRAIN_FREQ_JITTER,
    _TERRAIN_H,
    _TERRAIN_PHASE_MAX,
    _TERRAIN_REGEN_AT,
    _TERRAIN_REGEN_START,
    _TERRAIN_W,
    _W,
    _WALL_COLOUR,
    _Y_MAX,
    _Y_MIN,
    BLOCK_CAPACITY,
    OBS_SIZE,
    PLAYER_X,
    SCREEN,
    TERRAIN_BATCH,
    TERRAIN_CAPACITY,
    X_UNITS,
)
from jaxpg.envs.pixelcopter.dfloat import (  # noqa: F401
    _CLIMB_DF,
    _DECAY_CHUNKS,
    _FALL_DF,
    _PLAYER_HEIGHT_DF,
    _ROUND_XQ,
    _chunks12_f64,
    _df_add,
    _df_floor,
    _df_mul_const,
    _df_round_half_away,
    _df_split12,
    _df_sub_scalar,
    _fast_two_sum,
    _round_half_away_xq,
    _round_half_away_xq_int,
    _split_f64,
    _two_sum,
    _xq_to_float,
)
from jaxpg.envs.pixelcopter.drawing import (  # noqa: F401
    _render,
    _span,
    render,
)
from jaxpg.envs.pixelcopter.draws import (  # noqa: F401
    _DRAW_KEYS,
    _DRAW_STREAMS,
    _N_HASHED,
    _check_draws,
    _mix32,
    sample_draws,
    sample_draws_hashed,
)
from jaxpg.envs.pixelcopter.env import (  # noqa: F401
    Pixelcopter,
)
from jaxpg.envs.pixelcopter.observation import (  # noqa: F401
    _get_obs,
)
from jaxpg.envs.pixelcopter.reference import (  # noqa: F401
    _REFERENCE_KEYS,
    state_from_reference,
    state_to_reference,
)
from jaxpg.envs.pixelcopter.rules import (  # noqa: F401
    _compact,
    _drop_first_piece,
    _reset_from_draws,
    _step_core,
    _step_core_jit,
    step_with_draws,
)
from jaxpg.envs.pixelcopter.state import (  # noqa: F401
    EnvParams,
    EnvState,
)
from jaxpg.envs.pixelcopter.terrain import (  # noqa: F401
    _make_terrain,
    _pending,
    _terrain_angles,
    _terrain_height,
    resolved,
)

__all__ = [
    "Pixelcopter",
    "EnvState",
    "EnvParams",
    "state_from_reference",
    "state_to_reference",
    "step_with_draws",
    "sample_draws",
    "sample_draws_hashed",
    "resolved",
    "crash_causes",
    "render",
    "SCREEN",
    "BLOCK_CAPACITY",
    "TERRAIN_CAPACITY",
    "X_UNITS",
]
