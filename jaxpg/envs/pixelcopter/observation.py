"""The 7-float observation of a state."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpg.envs.pixelcopter.collisions import _terrain_hits
from jaxpg.envs.pixelcopter.constants import _BLOCK_H, _CAVE_HALF, _H, _NO_BLOCK_DIST, _PLAYER_XQ, X_UNITS
from jaxpg.envs.pixelcopter.dfloat import _df_sub_scalar, _xq_to_float
from jaxpg.envs.pixelcopter.state import EnvState
from jaxpg.envs.pixelcopter.terrain import _pending, _terrain_height


def _get_obs(state: EnvState, impl: str = "fast") -> jax.Array:
    """The 7-float observation of a state (always finite).

    The current terrain piece is the colliding piece with the smallest x. If no piece
    collides (in play only once the copter has left the pieces' 72-px rectangles, i.e.
    after its crash; where two terrain batches meet they overlap, they never leave a gap;
    the original would raise there), the alive piece whose centre x is nearest the
    copter's is used (the smaller x on a tie), and with no piece at all a cave centred at
    y = 24. The next block is the one with the smallest ``0 < x - 16 < 999``; with none
    (unreachable in play; the original would raise) a virtual block at distance 999 with
    centre y 24 (bottom 33) is reported.
    """
    y_hi, y_lo = state.player_y, state.player_y_lo
    hits = _terrain_hits(state, impl)
    big = jnp.iinfo(jnp.int32).max
    any_hit = jnp.any(hits)
    first_hit = jnp.argmin(jnp.where(hits, state.terrain_xq, big))
    nearest = jnp.argmin(
        jnp.where(state.terrain_alive, jnp.abs(state.terrain_xq - _PLAYER_XQ), big)
    )
    idx = jnp.where(any_hit, first_hit, nearest)
    pending, angle = _pending(state)
    # a pending piece is never the current one in play; computed here so any state is exact
    y_idx = jnp.where(pending[idx], _terrain_height(angle[idx]), state.terrain_y[idx])
    piece_y = jnp.where(jnp.any(state.terrain_alive), y_idx, jnp.int32(_H // 2)).astype(jnp.float32)
    ceil_hi, ceil_lo = _df_sub_scalar(y_hi, y_lo, piece_y - _CAVE_HALF)
    floor_hi, floor_lo = _df_sub_scalar(y_hi, y_lo, piece_y + _CAVE_HALF)
    dist_ceil = ceil_hi + ceil_lo
    dist_floor = -(floor_hi + floor_lo)

    dq = state.block_xq - _PLAYER_XQ
    ahead = state.block_alive & (dq > 0) & (dq < int(_NO_BLOCK_DIST) * X_UNITS)
    b = jnp.argmin(jnp.where(ahead, dq, big))
    any_ahead = jnp.any(ahead)
    dist = jnp.where(any_ahead, _xq_to_float(dq[b]), jnp.float32(_NO_BLOCK_DIST))
    top = jnp.where(any_ahead, state.block_y[b], _H // 2).astype(jnp.float32)
    return jnp.stack(
        [
            y_hi + y_lo,
            state.player_vel + state.player_vel_lo,
            dist_ceil,
            dist_floor,
            dist,
            top,
            top + jnp.float32(_BLOCK_H),
        ]
    ).astype(jnp.float32)
