"""Rendering: the 48 x 48 RGB frame of a state, drawn like the original."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxpg.envs.pixelcopter.collisions import _player_rect_top
from jaxpg.envs.pixelcopter.constants import (
    _BACKGROUND,
    _BLOCK_COLOUR,
    _BLOCK_H,
    _BLOCK_W,
    _CAVE_HALF,
    _COPTER_COLOUR,
    _PLAYER_SIZE,
    _TERRAIN_H,
    _TERRAIN_W,
    _WALL_COLOUR,
    PLAYER_X,
    SCREEN,
)
from jaxpg.envs.pixelcopter.dfloat import _round_half_away_xq
from jaxpg.envs.pixelcopter.state import EnvParams, EnvState
from jaxpg.envs.pixelcopter.terrain import resolved


def _span(start, size, n: int):
    """bool [..., n]: pixels ``start <= i < start + size`` for each start [...]."""
    start = jnp.asarray(start)[..., None]
    i = jnp.arange(n).reshape((1,) * (start.ndim - 1) + (n,))
    return (i >= start) & (i < start + size)


@partial(jax.jit, static_argnames=("scale",))
def _render(state: EnvState, scale: int) -> jax.Array:
    n = SCREEN
    # Terrain walls: columns of the piece's 4-wide rect, rows of the 72-tall rect outside the
    # open cave y - 12 ... y + 12.
    t_cols = _span(_round_half_away_xq(state.terrain_xq) - _TERRAIN_W // 2, _TERRAIN_W, n)
    t_cols = t_cols & state.terrain_alive[:, None]
    top_wall = _span(state.terrain_y - _TERRAIN_H // 2, _TERRAIN_H // 2 - _CAVE_HALF, n)
    bot_wall = _span(state.terrain_y + _CAVE_HALF, _TERRAIN_H // 2 - _CAVE_HALF, n)
    t_rows = top_wall | bot_wall
    walls = (t_rows.T.astype(jnp.float32) @ t_cols.astype(jnp.float32)) > 0  # [row, col]
    b_cols = _span(_round_half_away_xq(state.block_xq) - _BLOCK_W // 2, _BLOCK_W, n)
    b_cols = b_cols & state.block_alive[:, None]
    b_rows = _span(state.block_y - _BLOCK_H // 2, _BLOCK_H, n)
    blocks = (b_rows.T.astype(jnp.float32) @ b_cols.astype(jnp.float32)) > 0
    p_cols = _span(PLAYER_X - _PLAYER_SIZE // 2, _PLAYER_SIZE, n)
    p_rows = _span(_player_rect_top(state), _PLAYER_SIZE, n)
    copter = p_rows[:, None] & p_cols[None, :]

    img = jnp.broadcast_to(jnp.asarray(_BACKGROUND, jnp.uint8), (n, n, 3))
    for mask, colour in ((walls, _WALL_COLOUR), (blocks, _BLOCK_COLOUR), (copter, _COPTER_COLOUR)):
        img = jnp.where(mask[..., None], jnp.asarray(colour, jnp.uint8).reshape(1, 1, 3), img)
    if scale > 1:
        img = jnp.repeat(jnp.repeat(img, scale, axis=0), scale, axis=1)
    return img


def render(state: EnvState, params: EnvParams | None = None, scale: int = 1) -> jax.Array:
    """Draws the 48 x 48 frame of a state, like the original (pure JAX, jit/vmap-able).

    Black background, green cave walls (each terrain piece's 4 x 72 rectangle minus its
    open cave y - 12 ... y + 12), green blocks (4 x 9), and the copter's 2 x 2 rectangle
    at x = 16 in white, drawn last so it stays visible. Rectangles use the same integer
    semantics as the collisions (round half away from zero).

    Args:
      state: one state (vmap for a batch).
      params: unused.
      scale: static positive int: nearest-neighbour upscaling factor.

    Returns:
      uint8 [48 * scale, 48 * scale, 3] RGB image (row = y, column = x).

    Raises:
      ValueError: if ``scale`` is not a positive int.
    """
    del params
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer) or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    return _render(resolved(state), int(scale))
