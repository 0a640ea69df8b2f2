"""Pixelcopter (PyGame Learning Environment) as a pure-JAX gymnax environment.

A step-for-step port of PLE's ``Pixelcopter`` game under the settings of the
Hugging Face course's ``Pixelcopter-PLE-v0`` wrapper (48 x 48 screen, fps 30
with ``force_fps``, frame skip 1). The rules, in the order applied, are in the
repository's ``docs/pixelcopter.md``; this module follows them exactly and is
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
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

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

# --------------------------------------------------------------------------------------------
# Constants of the game under the course's settings (all from the spec's table).
# --------------------------------------------------------------------------------------------

SCREEN = 48  #: screen width = height, pixels (fixed)
BLOCK_CAPACITY = 4  #: slots for blocks (at most 2 are ever alive)
TERRAIN_CAPACITY = 64  #: slots for terrain pieces (at most 61 are ever alive)
TERRAIN_BATCH = 48  #: pieces made by one call of "make terrain"
X_UNITS = 25  #: horizontal positions are stored as int32 multiples of 1/X_UNITS px

_W = SCREEN
_H = SCREEN
_SPEED = 0.0004 * _W  # 0.0192 px/ms (float64, as the original)
_DT = 1000.0 / 30.0  # ms per step (force_fps at 30 fps)
_CLIMB_DV = (_SPEED * -0.875) * _DT  # momentum change while thrusting (float64)
_FALL_DV = (_SPEED * 0.09) * _DT  # momentum change otherwise (float64)
_DECAY = 0.99
_SCROLL_UNITS = 16  # 0.64 px per step, in 1/25 px
PLAYER_X = int(0.35 * _W)  # 16
_PLAYER_XQ = PLAYER_X * X_UNITS
_PLAYER_SIZE = 2  # collision rectangle of the copter (2 x 2)
_PLAYER_HEIGHT = _H * 0.05  # 2.4000000000000004: the float used in the ceiling test
_PLAYER_START_Y = _H / 2.0
_BLOCK_W = int(_W * 0.1)  # 4
_BLOCK_H = int(_H * 0.2)  # 9
_TERRAIN_W = int(_W * 0.1)  # 4
_TERRAIN_H = int(_H * 1.5)  # 72
_CAVE_HALF = int(_H * 0.25)  # 12
_BLOCK_X_RANGE = (_W, int(1.5 * _W))  # randint [48, 72)
_BLOCK_Y_RANGE = (int(0.25 * _H), int(0.75 * _H))  # randint [12, 36)
_TERRAIN_FREQ = 4.5 / _W  # 0.09375, exact in float32
_TERRAIN_FREQ_JITTER = 0.01  # u ~ U(-0.01, 0.01)
_TERRAIN_PHASE_MAX = 0.5  # phases ~ U(0, 0.5)
_TERRAIN_AMPLITUDE = _H * 0.125  # 6
_TERRAIN_REGEN_AT = 10 + 3  # make terrain when this many pieces or fewer remain
_TERRAIN_REGEN_START = _W  # make terrain (48, 240) during play
_Y_MIN = _H * 0.125  # 6: above is a crash
_Y_MAX = _H * 0.875  # 42: below is a crash
_REWARD_POSITIVE = 1.0
_REWARD_LOSS = -5.0
_NO_BLOCK_DIST = 999.0  # the original's "no block ahead" distance

# Colours of the original sprites (background black, walls and blocks green, copter white).
_BACKGROUND = (0, 0, 0)
_WALL_COLOUR = (120, 240, 80)
_BLOCK_COLOUR = (120, 240, 80)
_COPTER_COLOUR = (255, 255, 255)

OBS_SIZE = 7


# --------------------------------------------------------------------------------------------
# Double-float arithmetic (value = hi + lo, two float32 numbers).
# Only additions/subtractions and *exact* products are used, so the results do not depend
# on whether the compiler fuses multiply-adds.
# --------------------------------------------------------------------------------------------


def _split_f64(value: float) -> tuple[np.float32, np.float32]:
    """Splits a Python float into float32 ``hi + lo`` (about 48 significant bits)."""
    hi = np.float32(value)
    lo = np.float32(value - float(hi))
    return hi, lo


def _chunks12_f64(value: float, n: int = 4) -> tuple[np.float32, ...]:
    """Splits a Python float into ``n`` float32 pieces of at most 12 significant bits each."""
    out = []
    rest = float(value)
    for _ in range(n):
        if rest == 0.0:
            out.append(np.float32(0.0))
            continue
        mant, exp = np.frexp(rest)  # rest = mant * 2**exp, 0.5 <= |mant| < 1
        piece = float(np.trunc(mant * 4096.0)) * 2.0 ** (int(exp) - 12)
        out.append(np.float32(piece))
        rest -= piece
    return tuple(out)


_CLIMB_DF = _split_f64(_CLIMB_DV)
_FALL_DF = _split_f64(_FALL_DV)
_DECAY_CHUNKS = _chunks12_f64(_DECAY)
_PLAYER_HEIGHT_DF = _split_f64(_PLAYER_HEIGHT)


def _two_sum(a, b):
    """Error-free sum: ``a + b == s + e`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def _fast_two_sum(a, b):
    """Error-free sum when ``|a| >= |b|`` (Dekker)."""
    s = a + b
    e = b - (s - a)
    return s, e


def _df_add(ahi, alo, bhi, blo):
    """Double-float ``(ahi + alo) + (bhi + blo)``, normalised."""
    s, e = _two_sum(ahi, bhi)
    t, f = _two_sum(alo, blo)
    e = e + t
    s, e = _fast_two_sum(s, e)
    e = e + f
    return _fast_two_sum(s, e)


def _df_split12(a):
    """Exact split of float32 ``a`` into ``a1 + a2``, each with at most 12 significant bits."""
    bits = jax.lax.bitcast_convert_type(a, jnp.uint32)
    a1 = jax.lax.bitcast_convert_type(bits & jnp.uint32(0xFFFFF000), jnp.float32)
    return a1, a - a1


def _df_mul_const(hi, lo, chunks):
    """Double-float ``(hi + lo) * c`` with ``c`` given as four 12-bit float32 chunks.

    Every partial product of two 12-bit numbers is exact in float32, so the result is
    accurate to about 2**-46 relative, independently of fused multiply-adds.
    """
    c1, c2, c3, c4 = (jnp.float32(c) for c in chunks)
    a1, a2 = _df_split12(hi)
    s = a1 * c1
    err = jnp.zeros_like(s)
    for term in (a1 * c2, a2 * c1, a1 * c3, a2 * c2):
        s, e = _two_sum(s, term)
        err = err + e
    err = err + (a1 * c4 + a2 * c3) + (a2 * c4 + lo * c1) + lo * (c2 + c3)
    return _fast_two_sum(s, err)


def _df_sub_scalar(hi, lo, c):
    """Double-float ``(hi + lo) - c`` for a float32 ``c``; the sign of the result's ``hi`` is
    the exact sign of the difference."""
    s, e = _two_sum(hi, -c)
    return _fast_two_sum(s, e + lo)


def _df_floor(hi, lo):
    """``floor(hi + lo)`` as int32."""
    f = jnp.floor(hi)
    r = (hi - f) + lo  # hi - f is exact
    return (f + jnp.floor(r)).astype(jnp.int32)


def _df_round_half_away(hi, lo):
    """Round half away from zero of ``hi + lo`` as int32."""
    neg = hi < 0
    ahi = jnp.where(neg, -hi, hi)
    alo = jnp.where(neg, -lo, lo)
    h, low = _df_add(ahi, alo, jnp.float32(0.5), jnp.float32(0.0))
    r = _df_floor(h, low)
    return jnp.where(neg, -r, r)


def _round_half_away_xq(xq):
    """Round half away from zero of ``xq / X_UNITS``: ``sign(xq) * ((2|xq| + 25) // 50)``.

    Computed in float32, which is exact for |xq| < 2**20 (42,000 px; positions stay within
    a few hundred px): m = 2|xq| + 25 is exact, m / 50 is a multiple of 0.02 off by less
    than 0.01 after two roundings, so ``floor(m * (1/50) + 0.01)`` is the integer quotient
    (``tests/test_pixelcopter.py`` checks every |xq| < 2**20 against the integer formula).
    XLA's CPU backend runs int32 floor division as a real division per element; this
    is a multiply and a floor, and it was a third of the step's time (issue 20).
    """
    a = jnp.abs(xq).astype(jnp.float32)
    r = jnp.floor((2.0 * a + jnp.float32(X_UNITS)) * jnp.float32(1.0 / (2 * X_UNITS)) + jnp.float32(0.01))
    return jnp.where(xq < 0, -r, r).astype(jnp.int32)


def _round_half_away_xq_int(xq):
    """:func:`_round_half_away_xq` in int32 arithmetic (the step before issue 20)."""
    a = jnp.abs(xq)
    r = (2 * a + X_UNITS) // (2 * X_UNITS)
    return jnp.where(xq < 0, -r, r).astype(jnp.int32)


_ROUND_XQ = {"fast": _round_half_away_xq, "reference": _round_half_away_xq_int}


def _xq_to_float(xq):
    """Centre x in pixels (float32) from 1/25-px units."""
    return xq.astype(jnp.float32) / jnp.float32(X_UNITS)


# --------------------------------------------------------------------------------------------
# State and parameters
# --------------------------------------------------------------------------------------------


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
    are module constants). The original never truncates an episode; the Hugging Face
    course stopped episodes after 10,000 steps, which is the default time limit here.

    Attributes:
      max_steps_in_episode: time limit used by ``is_truncated`` (default 10,000).
    """

    max_steps_in_episode: int = 10_000


# --------------------------------------------------------------------------------------------
# Random draws
# --------------------------------------------------------------------------------------------

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


def _compact(keep, arrays, capacity: int):
    """Packs the entries where ``keep`` first (stable), zero-filling the rest.

    Args:
      keep: bool [N].
      arrays: tuple of [N] arrays.
      capacity: output length (entries beyond it are dropped).

    Returns:
      ``(alive bool [capacity], packed arrays [capacity] each)``.
    """
    dest = jnp.cumsum(keep.astype(jnp.int32)) - 1
    dest = jnp.where(keep, dest, capacity)
    packed = tuple(jnp.zeros((capacity,), a.dtype).at[dest].set(a, mode="drop") for a in arrays)
    alive = jnp.arange(capacity) < jnp.sum(keep.astype(jnp.int32))
    return alive, packed


def _drop_first_piece(keep, arrays, capacity: int):
    """``_compact`` for the terrain, where at most the first slot is dropped in a step.

    Terrain pieces are alive-first in increasing x in every reachable state (a batch is
    made to the right of the pieces left, at slots after them), and they scroll 16 units a
    step while neighbours are 100 units apart, so only slot 0 can leave in one step and
    packing the rest is one shift left, selected (under ``vmap`` XLA's CPU backend runs the
    general scatter element by element: this is ~2x cheaper). Zero-fills like ``_compact``.
    """
    drop = ~keep[0] & jnp.any(keep)
    packed = tuple(jnp.where(drop, jnp.concatenate([a[1:], jnp.zeros((1,), a.dtype)]), a) for a in arrays)
    alive = jnp.arange(capacity) < jnp.sum(keep.astype(jnp.int32))
    return alive, tuple(jnp.where(alive, a, jnp.zeros((), a.dtype)) for a in packed)


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


def crash_causes(state: EnvState) -> dict[str, jax.Array]:
    """What the copter of a state is touching: the collision tests the step applies.

    Apply it to the state a crashing step returned (``step_env`` or
    :func:`step_with_draws`; a gymnax ``step`` has already reset it) to see what ended the
    episode. More than one can be true (a block and the floor together).

    Args:
      state: an :class:`EnvState` (a single one; ``jax.vmap`` it over a batch).

    Returns:
      ``{"block", "ceiling", "floor", "screen": bool []}``: touching a block; the cave's
      ceiling (``y - 2.4 <= piece.y - 12`` for a piece it overlaps); its floor
      (``y >= piece.y + 12``); outside the band 6 <= y <= 42.

    Example:
      >>> env, params = Pixelcopter(), EnvParams()
      >>> obs, s = env.reset_env(jax.random.key(0), params)
      >>> for _ in range(8):  # thrust every step: the copter hits the ceiling
      ...     obs, s, r, done, _ = env.step_env(jax.random.key(1), s, 0, params)
      >>> bool(done), bool(crash_causes(s)["ceiling"])
      (True, True)
    """
    h = _hits(state)
    return {"block": jnp.any(h["block"]), "ceiling": jnp.any(h["ceiling"]),
            "floor": jnp.any(h["floor"]), "screen": h["screen"] > 0}


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


def _check_draws(draws: Mapping[str, Any]) -> None:
    missing = [k for k in _DRAW_KEYS if k not in draws]
    if missing:
        raise ValueError(f"draws is missing key(s) {missing}; it needs {list(_DRAW_KEYS)}")


def _step_core(state: EnvState, action, draws: Mapping[str, Any], impl: str = "fast"):
    """One game step with the given random numbers (the rules of the spec, in order).

    ``impl="fast"`` drops a terrain piece that leaves by shifting the others one slot
    (:func:`_drop_first_piece`) and rounds positions in float32
    (:func:`_round_half_away_xq`); ``impl="reference"`` is the step before issue 20 (the
    terrain repacked by a general scatter, int32 division), kept to measure against and to
    test that both give the same states.

    Returns:
      ``(obs float32 [7], state, reward float32 [], game_over bool [])``.
    """
    score0 = state.score
    # 1-2. Copter physics (double-float).
    thrust = jnp.asarray(action) == 0
    dv_hi = jnp.where(thrust, jnp.float32(_CLIMB_DF[0]), jnp.float32(_FALL_DF[0]))
    dv_lo = jnp.where(thrust, jnp.float32(_CLIMB_DF[1]), jnp.float32(_FALL_DF[1]))
    v_hi, v_lo = _df_add(state.player_vel, state.player_vel_lo, dv_hi, dv_lo)
    v_hi, v_lo = _df_mul_const(v_hi, v_lo, _DECAY_CHUNKS)
    y_hi, y_lo = _df_add(state.player_y, state.player_y_lo, v_hi, v_lo)
    # 3. Scroll.
    block_xq = jnp.where(state.block_alive, state.block_xq - _SCROLL_UNITS, state.block_xq)
    terrain_xq = jnp.where(state.terrain_alive, state.terrain_xq - _SCROLL_UNITS, state.terrain_xq)
    state = state.replace(
        player_y=y_hi,
        player_y_lo=y_lo,
        player_vel=v_hi,
        player_vel_lo=v_lo,
        block_xq=block_xq,
        terrain_xq=terrain_xq,
    )
    # 4-6. Block collisions; terrain: ceiling (y - 2.4 <= piece.y - 12), floor (y >= piece.y + 12).
    hits = _hits(state, impl)
    lives = state.lives - jnp.sum(hits["block"].astype(jnp.int32))
    lives = lives - jnp.sum(hits["ceiling"].astype(jnp.int32))
    lives = lives - jnp.sum(hits["floor"].astype(jnp.int32))
    # 7. Blocks, in creation order over the set at the start of the loop.
    score = score0
    snap = state.block_alive
    alive = state.block_alive
    new_xq = jnp.zeros((BLOCK_CAPACITY,), jnp.int32)
    new_y = jnp.zeros((BLOCK_CAPACITY,), jnp.int32)
    new_alive = jnp.zeros((BLOCK_CAPACITY,), bool)
    n_new = jnp.int32(0)
    draw_xq = jnp.asarray(draws["block_x"], jnp.int32) * X_UNITS
    draw_y = jnp.asarray(draws["block_y"], jnp.int32)
    slots = jnp.arange(BLOCK_CAPACITY)
    for i in range(BLOCK_CAPACITY):
        count = jnp.sum(alive.astype(jnp.int32)) + jnp.sum(new_alive.astype(jnp.int32))
        passed = snap[i] & (block_xq[i] <= _PLAYER_XQ) & (count == 1)
        score = score + jnp.where(passed, jnp.float32(_REWARD_POSITIVE), 0.0)
        put = passed & (slots == n_new)
        new_xq = jnp.where(put, draw_xq, new_xq)
        new_y = jnp.where(put, draw_y, new_y)
        new_alive = new_alive | put
        n_new = n_new + passed.astype(jnp.int32)
        gone = snap[i] & (block_xq[i] <= -_BLOCK_W * X_UNITS)
        alive = alive.at[i].set(alive[i] & ~gone)
    block_alive, (block_xq, block_y) = _compact(
        jnp.concatenate([alive, new_alive]),
        (jnp.concatenate([block_xq, new_xq]), jnp.concatenate([state.block_y, new_y])),
        BLOCK_CAPACITY,
    )
    # 8. Terrain pieces leaving the screen: removed, +1 each.
    t_gone = state.terrain_alive & (terrain_xq <= -_TERRAIN_W * X_UNITS)
    score = score + jnp.sum(t_gone.astype(jnp.float32)) * jnp.float32(_REWARD_POSITIVE)
    pending, angle = _pending(state)
    terrain_alive, (terrain_xq, terrain_y, pending, angle) = (
        _compact if impl == "reference" else _drop_first_piece
    )(state.terrain_alive & ~t_gone, (terrain_xq, state.terrain_y, pending, angle), TERRAIN_CAPACITY)
    # 9. Out of the screen's safe band.
    lives = lives - hits["screen"].astype(jnp.int32)
    # 10. Make terrain (48, 240) when 13 or fewer pieces remain: appended after the others.
    n_t = jnp.sum(terrain_alive.astype(jnp.int32))
    regen = n_t <= _TERRAIN_REGEN_AT
    mk_xq, mk_angle = _terrain_angles(_TERRAIN_REGEN_START, draws["terrain_freq"], draws["terrain_phase"])
    k = jnp.arange(TERRAIN_CAPACITY) - n_t
    put = regen & (k >= 0) & (k < TERRAIN_BATCH)
    kc = jnp.clip(k, 0, TERRAIN_BATCH - 1)
    terrain_xq = jnp.where(put, mk_xq[kc], terrain_xq)
    terrain_alive = terrain_alive | put
    if impl == "reference":  # every height now, as the original
        terrain_y = jnp.where(put, _terrain_height(mk_angle)[kc], terrain_y)
    else:  # heights later, one a step (EnvState.terrain_pending)
        terrain_y = jnp.where(put, 0, terrain_y)
        angle = jnp.where(put, mk_angle[kc], angle)
        pending = pending | put
    # the first pending piece's height (both impls, so either continues the other's states)
    first = (jnp.arange(TERRAIN_CAPACITY) == jnp.argmax(pending)) & jnp.any(pending)
    y_first = _terrain_height(jnp.sum(jnp.where(first, angle, 0.0)))
    terrain_y = jnp.where(first, y_first, terrain_y)
    pending = pending & ~first
    angle = jnp.where(pending, angle, 0.0)
    # 11. Game over.
    game_over = lives <= 0
    score = score + jnp.where(game_over, jnp.float32(_REWARD_LOSS), 0.0)

    state = state.replace(
        block_xq=block_xq,
        block_y=block_y,
        block_alive=block_alive,
        terrain_xq=terrain_xq,
        terrain_y=terrain_y,
        terrain_alive=terrain_alive,
        score=score,
        lives=lives,
        time=state.time + 1,
        terrain_pending=pending,
        terrain_angle=angle,
    )
    reward = (score - score0).astype(jnp.float32)
    return _get_obs(state, impl), state, reward, game_over


_step_core_jit = jax.jit(_step_core, static_argnames="impl")


def _reset_from_draws(draws: Mapping[str, Any]) -> EnvState:
    """The state right after the game's reset, from the reset's random numbers."""
    t_xq, t_y = _make_terrain(0, draws["terrain_freq"], draws["terrain_phase"])
    pad_t = TERRAIN_CAPACITY - TERRAIN_BATCH
    pad_b = BLOCK_CAPACITY - 1
    return EnvState(
        player_y=jnp.float32(_PLAYER_START_Y),
        player_y_lo=jnp.float32(0.0),
        player_vel=jnp.float32(0.0),
        player_vel_lo=jnp.float32(0.0),
        block_xq=jnp.concatenate(
            [jnp.asarray(draws["block_x"], jnp.int32)[None] * X_UNITS, jnp.zeros(pad_b, jnp.int32)]
        ),
        block_y=jnp.concatenate(
            [jnp.asarray(draws["block_y"], jnp.int32)[None], jnp.zeros(pad_b, jnp.int32)]
        ),
        block_alive=jnp.arange(BLOCK_CAPACITY) < 1,
        terrain_xq=jnp.concatenate([t_xq, jnp.zeros(pad_t, jnp.int32)]),
        terrain_y=jnp.concatenate([t_y, jnp.zeros(pad_t, jnp.int32)]),
        terrain_alive=jnp.arange(TERRAIN_CAPACITY) < TERRAIN_BATCH,
        score=jnp.float32(0.0),
        lives=jnp.int32(1),
        time=jnp.int32(0),
        terrain_pending=jnp.zeros(TERRAIN_CAPACITY, bool),
        terrain_angle=jnp.zeros(TERRAIN_CAPACITY, jnp.float32),
    )


class Pixelcopter(environment.Environment[EnvState, EnvParams]):
    """PLE's Pixelcopter (48 x 48), step for step, as a gymnax environment.

    Fly the copter (fixed at x = 16) through a scrolling cave with floating blocks:
    action 0 thrusts up, action 1 lets it fall. Reward +1 for every terrain piece that
    leaves the screen and for every block passed, -5 on the crash that ends the game.
    The observation is 7 unnormalised float32 numbers (see the module docstring).
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


# --------------------------------------------------------------------------------------------
# Public helpers: stepping with given random numbers, conversion to/from the reference layout
# --------------------------------------------------------------------------------------------

_REFERENCE_KEYS = (
    "player_y",
    "player_vel",
    "score",
    "lives",
    "block_x",
    "block_y",
    "block_alive",
    "terrain_x",
    "terrain_y",
    "terrain_alive",
)


def step_with_draws(
    state: EnvState,
    action: int | jax.Array,
    draws: Mapping[str, Any],
    params: EnvParams | None = None,
) -> tuple[jax.Array, EnvState, jax.Array, jax.Array]:
    """One game step using the given random numbers instead of a key (no auto-reset).

    Works eagerly and under ``jit``/``vmap``. The keyed ``Pixelcopter.step_env`` is this
    function fed with its draw stream (:func:`sample_draws_hashed` by default,
    :func:`sample_draws` for ``draws="threefry"``).

    Args:
      state: the state before the step.
      action: int []: 0 = thrust up, 1 = no-op. A concrete value is checked.
      draws: mapping with ``block_x``, ``block_y`` (ints []: the new block's centre, used
        if the step creates a block), ``terrain_freq`` (float []: the frequency offset u)
        and ``terrain_phase`` (float [48]: the phases), used if the step makes terrain.
        At most one block can be created per step from any state with at most two alive
        blocks (every reachable state); a hand-made state with more that creates two
        would reuse the same draw.
      params: ignored (accepted for symmetry with the environment).

    Returns:
      ``(obs float32 [7], next state, reward float32 [], done bool [])`` where ``done`` is
      the game-over flag (the time limit is not applied here).

    Raises:
      ValueError: for a concrete action other than 0 or 1, or missing draw keys.
    """
    del params
    if not isinstance(action, jax.core.Tracer):
        a = np.asarray(action)
        if a.dtype.kind not in "biuf" or not np.all((a == 0) | (a == 1)):
            raise ValueError(f"action must be 0 (thrust up) or 1 (no-op), got {action!r}")
    _check_draws(draws)
    draws = {k: draws[k] for k in _DRAW_KEYS}
    return _step_core_jit(state, action, draws)


def state_from_reference(record: Mapping[str, Any]) -> EnvState:
    """Builds an :class:`EnvState` from the reference recordings' layout.

    Args:
      record: mapping with ``player_y``, ``player_vel``, ``score``, ``lives`` ([...]),
        ``block_x``, ``block_y``, ``block_alive`` ([..., 4]), ``terrain_x``,
        ``terrain_y``, ``terrain_alive`` ([..., 64]) and optionally ``time`` ([...];
        default 0): e.g. one row's ``before_*`` fields without the prefix, or all rows
        at once (leading batch dimensions are kept). Alive slots should come first in
        creation order; they are (stably) packed if not. x positions are quantised to
        1/25 px (every reachable position is exactly such a multiple); y of blocks and
        terrain pieces is rounded to an integer; the copter's y and momentum keep
        float64 precision (as a float32 pair).

    Returns:
      The state (numpy-backed leaves; pass it to jit/vmap as any pytree).

    Raises:
      ValueError: if keys are missing (the message names them) or arrays have the wrong
        trailing size.
    """
    missing = [k for k in _REFERENCE_KEYS if k not in record]
    if missing:
        raise ValueError(f"state_from_reference: missing key(s) {missing}")

    def pair(name):
        v = np.asarray(record[name], np.float64)
        hi = v.astype(np.float32)
        lo = (v - hi.astype(np.float64)).astype(np.float32)
        return hi, lo

    def slots(prefix, capacity):
        x = np.asarray(record[f"{prefix}_x"], np.float64)
        y = np.asarray(record[f"{prefix}_y"], np.float64)
        alive = np.asarray(record[f"{prefix}_alive"], bool)
        for name, arr in (("x", x), ("y", y), ("alive", alive)):
            if arr.shape[-1:] != (capacity,):
                raise ValueError(
                    f"state_from_reference: {prefix}_{name} must have trailing size {capacity}, "
                    f"got shape {arr.shape}"
                )
        order = np.argsort(~alive, axis=-1, kind="stable")
        x = np.take_along_axis(x, order, -1)
        y = np.take_along_axis(y, order, -1)
        alive = np.take_along_axis(alive, order, -1)
        xq = np.where(alive, np.rint(x * X_UNITS), 0).astype(np.int32)
        yi = np.where(alive, np.rint(y), 0).astype(np.int32)
        return xq, yi, alive

    y_hi, y_lo = pair("player_y")
    v_hi, v_lo = pair("player_vel")
    bxq, by, ba = slots("block", BLOCK_CAPACITY)
    txq, ty, ta = slots("terrain", TERRAIN_CAPACITY)
    score = np.asarray(record["score"], np.float32)
    time = record.get("time", np.zeros(y_hi.shape, np.int32))
    return EnvState(
        player_y=y_hi,
        player_y_lo=y_lo,
        player_vel=v_hi,
        player_vel_lo=v_lo,
        block_xq=bxq,
        block_y=by,
        block_alive=ba,
        terrain_xq=txq,
        terrain_y=ty,
        terrain_alive=ta,
        score=score,
        lives=np.rint(np.asarray(record["lives"], np.float64)).astype(np.int32),
        time=np.asarray(time, np.int32),
        terrain_pending=np.zeros(ta.shape, bool),
        terrain_angle=np.zeros(ta.shape, np.float32),
    )


def state_to_reference(state: EnvState) -> dict[str, np.ndarray]:
    """The inverse of :func:`state_from_reference` (works on batched states too).

    Args:
      state: an :class:`EnvState` (leaves may carry leading batch dimensions).

    Returns:
      ``{"player_y", "player_vel", "score", "lives": float64 [...], "time": int [...],
      "block_x", "block_y": float64 [..., 4], "block_alive": bool [..., 4],
      "terrain_x", "terrain_y": float64 [..., 64], "terrain_alive": bool [..., 64]}``
      with alive items packed first in creation order and unused slots 0/False.
    """
    s = jax.tree.map(np.asarray, resolved(state))
    out = {
        "player_y": s.player_y.astype(np.float64) + s.player_y_lo.astype(np.float64),
        "player_vel": s.player_vel.astype(np.float64) + s.player_vel_lo.astype(np.float64),
        "score": s.score.astype(np.float64),
        "lives": s.lives.astype(np.float64),
        "time": np.asarray(s.time),
    }
    for prefix, xq, y, alive in (
        ("block", s.block_xq, s.block_y, s.block_alive),
        ("terrain", s.terrain_xq, s.terrain_y, s.terrain_alive),
    ):
        order = np.argsort(~alive, axis=-1, kind="stable")
        alive = np.take_along_axis(alive, order, -1)
        x = np.take_along_axis(xq, order, -1).astype(np.float64) / X_UNITS
        y = np.take_along_axis(y, order, -1).astype(np.float64)
        out[f"{prefix}_x"] = np.where(alive, x, 0.0)
        out[f"{prefix}_y"] = np.where(alive, y, 0.0)
        out[f"{prefix}_alive"] = alive
    return out


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


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
