"""Recommended settings per environment.

``recommended(env)`` returns the ``(Config, HParams)`` that ``jaxpg train``
uses when a flag is not given. Environments without an entry use the
``Config``/``HParams`` class defaults (tuned on CartPole-v1). Every entry
says what it was measured to do.
"""

from __future__ import annotations

from jaxpg.types import Config, HParams

__all__ = ["recommended", "TUNED"]

# env name -> (Config overrides, HParams overrides, why)
TUNED: dict[str, tuple[dict, dict, str]] = {
    "CartPole-v1": (
        {},
        {},
        "8 seeds x 16 envs, 150 updates: every seed at eval mean 500 (64/64 over two root keys)",
    ),
}


def recommended(env: str, **config_overrides) -> tuple[Config, HParams]:
    """The recommended ``Config`` and ``HParams`` for ``env``.

    Args:
      env: environment name.
      **config_overrides: ``Config`` fields to set on top (validated).

    Returns:
      ``(Config, HParams)``.
    """
    cfg, hp, _ = TUNED.get(env, ({}, {}, ""))
    return Config(env=env, **{**cfg, **config_overrides}), HParams(**hp)
