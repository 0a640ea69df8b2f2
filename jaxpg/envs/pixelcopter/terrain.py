"""Terrain generation: the pieces of "make terrain" and their (possibly pending) heights."""

from __future__ import annotations

import jax.numpy as jnp

from jaxpg.envs.pixelcopter.constants import (
    _H,
    _TERRAIN_AMPLITUDE,
    _TERRAIN_FREQ,
    _TERRAIN_W,
    TERRAIN_BATCH,
    X_UNITS,
)
from jaxpg.envs.pixelcopter.state import EnvState


def _terrain_angles(start: int, freq_offset, phases):
    """x and ``f * x + phase`` of the 48 pieces of "make terrain (start, start + 192)".

    Returns:
      ``(xq int32 [48], angle float32 [48])``.
    """
    x = start + _TERRAIN_W // 2 + _TERRAIN_W * jnp.arange(TERRAIN_BATCH, dtype=jnp.int32)
    f = jnp.float32(_TERRAIN_FREQ) + jnp.asarray(freq_offset, jnp.float32)
    angle = f * x.astype(jnp.float32) + jnp.asarray(phases, jnp.float32)
    return x * X_UNITS, angle


def _terrain_height(angle):
    """A piece's centre y from its angle: ``trunc(24 + amplitude * sin(angle))`` (int32)."""
    y = jnp.trunc(jnp.float32(_H / 2.0) + jnp.float32(_TERRAIN_AMPLITUDE) * jnp.sin(angle))
    return y.astype(jnp.int32)


def _make_terrain(start: int, freq_offset, phases):
    """The 48 pieces of "make terrain (start, start + 192)".

    Returns:
      ``(xq int32 [48], y int32 [48])``.
    """
    xq, angle = _terrain_angles(start, freq_offset, phases)
    return xq, _terrain_height(angle)


def _pending(state: EnvState):
    """``(terrain_pending, terrain_angle)``, all-False / zeros for a state made without them."""
    if state.terrain_pending is None:
        shape = jnp.shape(state.terrain_alive)
        return jnp.zeros(shape, bool), jnp.zeros(shape, jnp.float32)
    return state.terrain_pending, state.terrain_angle


def resolved(state: EnvState) -> EnvState:
    """The state with every pending terrain height computed (see ``EnvState.terrain_pending``).

    The game is the same either way; use it before reading ``terrain_y`` of pieces far
    ahead of the copter. Works on batched states.
    """
    pending, angle = _pending(state)
    return state.replace(
        terrain_y=jnp.where(pending, _terrain_height(angle), state.terrain_y),
        terrain_pending=jnp.zeros_like(pending),
        terrain_angle=jnp.zeros_like(angle),
    )
