"""Crash analysis: which collision test ended an episode."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpg.envs.pixelcopter.collisions import _hits
from jaxpg.envs.pixelcopter.state import EnvState


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
