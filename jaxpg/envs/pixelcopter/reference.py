"""Conversion to and from the layout of the reference recordings of the original game.

The recorded transitions (``tests/data/pixelcopter_transitions.npz``, fields described in
``docs/pixelcopter.md``) store positions as float64 pixels with alive masks;
:func:`state_from_reference` and :func:`state_to_reference` convert between that layout and
:class:`EnvState`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from jaxpg.envs.pixelcopter.constants import BLOCK_CAPACITY, TERRAIN_CAPACITY, X_UNITS
from jaxpg.envs.pixelcopter.state import EnvState
from jaxpg.envs.pixelcopter.terrain import resolved

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
