"""The game's rules: one step (the spec's steps 1-11, in order) and the reset.

:func:`step_with_draws` is the public step with given random numbers; ``Pixelcopter.step_env``
feeds :func:`_step_core` from its draw stream. The rules themselves are in
``docs/pixelcopter.md``; each helper below applies a few of its numbered steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpg.envs.pixelcopter.collisions import _hits
from jaxpg.envs.pixelcopter.constants import (
    _BLOCK_W,
    _PLAYER_START_Y,
    _PLAYER_XQ,
    _REWARD_LOSS,
    _REWARD_POSITIVE,
    _SCROLL_UNITS,
    _TERRAIN_REGEN_AT,
    _TERRAIN_REGEN_START,
    _TERRAIN_W,
    BLOCK_CAPACITY,
    TERRAIN_BATCH,
    TERRAIN_CAPACITY,
    X_UNITS,
)
from jaxpg.envs.pixelcopter.dfloat import _CLIMB_DF, _DECAY_CHUNKS, _FALL_DF, _df_add, _df_mul_const
from jaxpg.envs.pixelcopter.draws import _DRAW_KEYS, _check_draws
from jaxpg.envs.pixelcopter.observation import _get_obs
from jaxpg.envs.pixelcopter.state import EnvParams, EnvState
from jaxpg.envs.pixelcopter.terrain import _make_terrain, _pending, _terrain_angles, _terrain_height


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


def _move(state: EnvState, action) -> EnvState:
    """Steps 1-3: the copter's physics (double-float), then the scroll of blocks and terrain."""
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
    return state.replace(
        player_y=y_hi,
        player_y_lo=y_lo,
        player_vel=v_hi,
        player_vel_lo=v_lo,
        block_xq=block_xq,
        terrain_xq=terrain_xq,
    )


def _pass_blocks(state: EnvState, draws: Mapping[str, Any], score):
    """Step 7: blocks, in creation order over the set at the start of the loop.

    A block passing the copter while it is the only one scores +1 and creates a new block
    from the draws; a block leaving the screen is removed.

    Returns:
      ``(score, block_alive bool [4], block_xq int32 [4], block_y int32 [4])``.
    """
    block_xq = state.block_xq
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
    return score, block_alive, block_xq, block_y


def _drop_left_terrain(state: EnvState, score, impl: str):
    """Step 8: terrain pieces leaving the screen are removed, +1 each.

    Returns:
      ``(score, terrain)`` with ``terrain = (alive, xq, y, pending, angle)``, each [64].
    """
    terrain_xq = state.terrain_xq
    t_gone = state.terrain_alive & (terrain_xq <= -_TERRAIN_W * X_UNITS)
    score = score + jnp.sum(t_gone.astype(jnp.float32)) * jnp.float32(_REWARD_POSITIVE)
    pending, angle = _pending(state)
    terrain_alive, (terrain_xq, terrain_y, pending, angle) = (
        _compact if impl == "reference" else _drop_first_piece
    )(state.terrain_alive & ~t_gone, (terrain_xq, state.terrain_y, pending, angle), TERRAIN_CAPACITY)
    return score, (terrain_alive, terrain_xq, terrain_y, pending, angle)


def _regenerate_terrain(terrain, draws: Mapping[str, Any], impl: str):
    """Step 10: make terrain (48, 240) when 13 or fewer pieces remain, appended after the others.

    Then the first pending piece's height is computed (``EnvState.terrain_pending``).

    Args:
      terrain: ``(alive, xq, y, pending, angle)``, each [64], as :func:`_drop_left_terrain`
        returns it.

    Returns:
      the updated ``(alive, xq, y, pending, angle)``.
    """
    terrain_alive, terrain_xq, terrain_y, pending, angle = terrain
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
    return terrain_alive, terrain_xq, terrain_y, pending, angle


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
    # 1-3. Copter physics and scroll.
    state = _move(state, action)
    # 4-6. Block collisions; terrain: ceiling (y - 2.4 <= piece.y - 12), floor (y >= piece.y + 12).
    hits = _hits(state, impl)
    lives = state.lives - jnp.sum(hits["block"].astype(jnp.int32))
    lives = lives - jnp.sum(hits["ceiling"].astype(jnp.int32))
    lives = lives - jnp.sum(hits["floor"].astype(jnp.int32))
    # 7. Blocks.
    score, block_alive, block_xq, block_y = _pass_blocks(state, draws, score0)
    # 8. Terrain pieces leaving the screen.
    score, terrain = _drop_left_terrain(state, score, impl)
    # 9. Out of the screen's safe band.
    lives = lives - hits["screen"].astype(jnp.int32)
    # 10. Make terrain when few pieces remain.
    terrain_alive, terrain_xq, terrain_y, pending, angle = _regenerate_terrain(terrain, draws, impl)
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
