"""The random draws of a step or reset: the threefry and the hashed stream.

A step (or a reset) may need a new block's centre (x, y) and one terrain batch's frequency
offset and 48 phases. :func:`sample_draws` takes them from threefry (``draws="threefry"``),
:func:`sample_draws_hashed` from one 32-bit hash per number (``draws="hashed"``, the default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxpg.envs.pixelcopter.constants import (
    _BLOCK_X_RANGE,
    _BLOCK_Y_RANGE,
    _TERRAIN_FREQ_JITTER,
    _TERRAIN_PHASE_MAX,
    TERRAIN_BATCH,
)

_DRAW_KEYS = ("block_x", "block_y", "terrain_freq", "terrain_phase")


def sample_draws(key: jax.Array) -> dict[str, jax.Array]:
    """Draws every random number one step (or a reset) may need, from a key, with threefry.

    The stream of ``Pixelcopter(draws="threefry")`` (env id ``Pixelcopter-threefry-v0``),
    the default before issue 20; :func:`sample_draws_hashed` is the faster default now.
    The distributions are the original's: a new block's centre x is an integer uniform
    in 48..71, then its y an integer uniform in 12..35; a terrain batch draws a frequency
    offset u ~ U(-0.01, 0.01) and 48 phases ~ U(0, 0.5).

    Args:
      key: a PRNG key.

    Returns:
      ``{"block_x": int32 [], "block_y": int32 [], "terrain_freq": float32 [],
      "terrain_phase": float32 [48]}``.
    """
    kx, ky, ku, kp = jax.random.split(key, 4)
    return {
        "block_x": jax.random.randint(kx, (), *_BLOCK_X_RANGE, dtype=jnp.int32),
        "block_y": jax.random.randint(ky, (), *_BLOCK_Y_RANGE, dtype=jnp.int32),
        "terrain_freq": jax.random.uniform(
            ku, (), jnp.float32, -_TERRAIN_FREQ_JITTER, _TERRAIN_FREQ_JITTER
        ),
        "terrain_phase": jax.random.uniform(
            kp, (TERRAIN_BATCH,), jnp.float32, 0.0, _TERRAIN_PHASE_MAX
        ),
    }


def _mix32(x):
    """A bijective 32-bit integer hash (Wellons' "lowbias32"): a few shifts, xors, multiplies."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


_N_HASHED = 3 + TERRAIN_BATCH  # block x, block y, frequency offset, 48 phases


def sample_draws_hashed(key: jax.Array) -> dict[str, jax.Array]:
    """The same draws as :func:`sample_draws`, from a counter hash of the key's bits.

    One 32-bit hash per number (``_mix32`` of the key's two words mixed with the number's
    index) instead of threefry through four split keys (52 threefry blocks per step, most
    of a step's time): a different stream with the same distributions (integers by the
    multiply-shift of 24 bits, floats from 24 bits). The default stream of
    ``Pixelcopter`` (``draws="hashed"``); the keys themselves still come from threefry
    splits, so the hash only has to spread an already random 64-bit key over 51 numbers.

    Args:
      key: a PRNG key (its two 32-bit words are hashed).

    Returns:
      the same dict as :func:`sample_draws`.
    """
    words = jax.random.key_data(key).reshape(-1).astype(jnp.uint32)
    base = _mix32(words[0] ^ _mix32(words[1] + jnp.uint32(0x9E3779B9)))
    h = _mix32(base + jnp.uint32(0x9E3779B9) * jnp.arange(1, _N_HASHED + 1, dtype=jnp.uint32))
    top24 = h >> 8  # 24 random bits
    unit = top24.astype(jnp.float32) * jnp.float32(2.0**-24)  # [0, 1), exact
    lo_x, hi_x = _BLOCK_X_RANGE
    lo_y, hi_y = _BLOCK_Y_RANGE
    return {
        "block_x": (lo_x + ((top24[0] * jnp.uint32(hi_x - lo_x)) >> 24)).astype(jnp.int32),
        "block_y": (lo_y + ((top24[1] * jnp.uint32(hi_y - lo_y)) >> 24)).astype(jnp.int32),
        "terrain_freq": jnp.float32(-_TERRAIN_FREQ_JITTER) + jnp.float32(2 * _TERRAIN_FREQ_JITTER) * unit[2],
        "terrain_phase": jnp.float32(_TERRAIN_PHASE_MAX) * unit[3:],
    }


_DRAW_STREAMS = {"threefry": sample_draws, "hashed": sample_draws_hashed}


def _check_draws(draws: Mapping[str, Any]) -> None:
    missing = [k for k in _DRAW_KEYS if k not in draws]
    if missing:
        raise ValueError(f"draws is missing key(s) {missing}; it needs {list(_DRAW_KEYS)}")
