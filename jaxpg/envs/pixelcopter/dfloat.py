"""Exact arithmetic of the port: double-float pairs and rounding of 1/25-px positions.

Double-float arithmetic (value = hi + lo, two float32 numbers). Only additions/subtractions
and *exact* products are used, so the results do not depend on whether the compiler fuses
multiply-adds. Also the game's float64 constants split into float32 pieces, and the
round-half-away-from-zero of horizontal positions stored in 1/25 px.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxpg.envs.pixelcopter.constants import _CLIMB_DV, _DECAY, _FALL_DV, _PLAYER_HEIGHT, X_UNITS


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
