"""Collision tests: the copter's rectangle against blocks, terrain and the screen's safe band."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpg.envs.pixelcopter.constants import (
    _BLOCK_H,
    _BLOCK_W,
    _CAVE_HALF,
    _PLAYER_SIZE,
    _TERRAIN_H,
    _TERRAIN_W,
    _Y_MAX,
    _Y_MIN,
    PLAYER_X,
)
from jaxpg.envs.pixelcopter.dfloat import (
    _PLAYER_HEIGHT_DF,
    _ROUND_XQ,
    _df_add,
    _df_round_half_away,
    _df_sub_scalar,
)
from jaxpg.envs.pixelcopter.state import EnvState


def _player_rect_top(state: EnvState):
    return _df_round_half_away(state.player_y, state.player_y_lo) - _PLAYER_SIZE // 2


def _collides(a_left, a_top, a_w, a_h, b_left, b_top, b_w, b_h):
    """pygame ``colliderect``: overlap with positive area."""
    return (
        (a_left < b_left + b_w)
        & (b_left < a_left + a_w)
        & (a_top < b_top + b_h)
        & (b_top < a_top + a_h)
    )


def _terrain_hits(state: EnvState, impl: str = "fast"):
    """bool [64]: alive terrain pieces whose rectangle collides with the copter's."""
    p_left = PLAYER_X - _PLAYER_SIZE // 2
    p_top = _player_rect_top(state)
    t_left = _ROUND_XQ[impl](state.terrain_xq) - _TERRAIN_W // 2
    t_top = state.terrain_y - _TERRAIN_H // 2
    hit = _collides(
        p_left, p_top, _PLAYER_SIZE, _PLAYER_SIZE, t_left, t_top, _TERRAIN_W, _TERRAIN_H
    )
    return hit & state.terrain_alive


def _block_hits(state: EnvState, impl: str = "fast"):
    """bool [4]: alive blocks whose rectangle collides with the copter's."""
    p_left = PLAYER_X - _PLAYER_SIZE // 2
    p_top = _player_rect_top(state)
    b_left = _ROUND_XQ[impl](state.block_xq) - _BLOCK_W // 2
    b_top = state.block_y - _BLOCK_H // 2
    hit = _collides(p_left, p_top, _PLAYER_SIZE, _PLAYER_SIZE, b_left, b_top, _BLOCK_W, _BLOCK_H)
    return hit & state.block_alive


def _hits(state: EnvState, impl: str = "fast") -> dict[str, jax.Array]:
    """The collision tests of steps 5, 6 and 9 on a state whose positions are already updated.

    Returns:
      ``{"block": bool [4], "ceiling": bool [64], "floor": bool [64], "screen": int32 []}``:
      per-slot hits (each costs a life) and the number of screen-band tests failed (0 or 1).
    """
    y_hi, y_lo = state.player_y, state.player_y_lo
    t_hits = _terrain_hits(state, impl)
    t_y = state.terrain_y.astype(jnp.float32)
    h_hi, h_lo = _df_add(y_hi, y_lo, -jnp.float32(_PLAYER_HEIGHT_DF[0]), -_PLAYER_HEIGHT_DF[1])
    ceil_d, _ = _df_sub_scalar(h_hi, h_lo, t_y - _CAVE_HALF)
    floor_d, _ = _df_sub_scalar(y_hi, y_lo, t_y + _CAVE_HALF)
    screen = (_df_sub_scalar(y_hi, y_lo, jnp.float32(_Y_MIN))[0] < 0).astype(jnp.int32) + (
        _df_sub_scalar(y_hi, y_lo, jnp.float32(_Y_MAX))[0] > 0
    ).astype(jnp.int32)
    return {"block": _block_hits(state, impl), "ceiling": t_hits & (ceil_d <= 0),
            "floor": t_hits & (floor_d >= 0), "screen": screen}
