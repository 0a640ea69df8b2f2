"""Environments by name: every gymnax id plus jaxpg's own.

``make(name)`` returns ``(env, env_params)`` exactly like ``gymnax.make``: a
functional environment with pure ``reset(key, params)`` /
``step(key, state, action, params)`` (and the non-resetting
``reset_env``/``step_env`` that jaxpg's rollout uses), and its default
parameters as a pytree. ``make(name, frame_stack=K)`` wraps it in
``wrappers.FrameStack``: the observation is the last K observations.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import gymnax
import numpy as np

from jaxpg.envs import probes
from jaxpg.envs.classic import MountainCarContinuous
from jaxpg.envs.pixelcopter import Pixelcopter
from jaxpg.envs.wrappers import FrameStack, FrameStackState, base_state

__all__ = ["make", "names", "FrameStack", "FrameStackState", "base_state", "is_discrete", "num_actions", "obs_shape"]

# jaxpg's own environments: name -> factory returning (env, params).
_OWN: dict[str, Callable[[], tuple[Any, Any]]] = {
    "TwoArmedBandit-probe": lambda: (probes.TwoArmedBandit(), probes.TwoArmedBandit().default_params),
    "DelayedReward-probe": lambda: (probes.DelayedReward(), probes.DelayedReward().default_params),
    "TargetAction-probe": lambda: (probes.TargetAction(), probes.TargetAction().default_params),
    "StateOffset-probe": lambda: (probes.StateOffset(), probes.StateOffset().default_params),
}
_ALIASES: dict[str, str] = {}


def _pixelcopter():
    env = Pixelcopter()
    return env, env.default_params


def _register_own(name: str, factory: Callable[[], tuple[Any, Any]], aliases=()) -> None:
    _OWN[name] = factory
    for alias in aliases:
        _ALIASES[alias] = name


def _pixelcopter_threefry():
    env = Pixelcopter(draws="threefry")
    return env, env.default_params


_register_own("Pixelcopter-v0", _pixelcopter, aliases=("Pixelcopter-PLE-v0",))
# the same game with the random stream of jaxpg before issue 20 (threefry draws), to reproduce
# runs made with it; same distributions, ~2x slower step
_register_own("Pixelcopter-threefry-v0", _pixelcopter_threefry)


def _memory_chain(length: int):
    """bsuite's MemoryChain (gymnax) with a longer memory: the context is shown at step 0, the
    reward (±1) comes ``length`` steps later; an episode is ``length + 1`` steps."""

    def make_it():
        env, params = gymnax.make("MemoryChain-bsuite")
        return env, params.replace(memory_length=int(length))

    return make_it


for _length in (30,):
    _register_own(f"MemoryChain-{_length}-bsuite", _memory_chain(_length))


def _mountain_car_continuous():
    env = MountainCarContinuous()
    return env, env.default_params


# gymnax ids whose gymnax dynamics differ from gymnasium's: served by jaxpg.envs.classic instead.
_GYMNASIUM_DYNAMICS: dict[str, Callable[[], tuple[Any, Any]]] = {
    "MountainCarContinuous-v0": _mountain_car_continuous,
}


def names() -> list[str]:
    """Every name ``make`` accepts (gymnax ids, jaxpg's own envs, aliases), sorted."""
    return sorted([*gymnax.registered_envs, *_OWN, *_ALIASES])


def make(name: str, frame_stack: int = 1):
    """Builds an environment by name.

    Args:
      name: a gymnax id (``"CartPole-v1"``, ``"Acrobot-v1"``, ...) or one of
        jaxpg's own environments (see ``jaxpg.envs.names()``). ``"MountainCarContinuous-v0"``
        is gymnax's env with gymnasium's left wall (``jaxpg.envs.classic``).
      frame_stack: K >= 1; K > 1 returns ``FrameStack(env, K)``, whose observation is the
        last K observations ``[K, *obs_shape]`` (oldest first).

    Returns:
      ``(env, env_params)``.

    Raises:
      ValueError: for an unknown name (the message lists the valid ones), or a
        ``frame_stack`` that is not a positive integer.

    Example:
      >>> env, params = make("CartPole-v1")
      >>> env.num_actions
      2
    """
    if not isinstance(name, str):
        raise ValueError(f"environment name must be a string, got {name!r}")
    if isinstance(frame_stack, bool) or not isinstance(frame_stack, int | np.integer) or frame_stack < 1:
        raise ValueError(f"frame_stack must be a positive integer, got {frame_stack!r}")
    env, params = _make(name)
    return (FrameStack(env, int(frame_stack)), params) if frame_stack > 1 else (env, params)


def _make(name: str):
    name = _ALIASES.get(name, name)
    if name in _OWN:
        return _OWN[name]()
    if name in _GYMNASIUM_DYNAMICS:
        return _GYMNASIUM_DYNAMICS[name]()
    if name in gymnax.registered_envs:
        try:
            return gymnax.make(name)
        except OSError as e:  # MNISTBandit-bsuite downloads MNIST when it is built
            raise ValueError(
                f"environment {name!r} could not be built: it fetches data over the network when "
                f"constructed and that failed ({type(e).__name__}: {e})"
            ) from None
    raise ValueError(unknown_message(name))


def unknown_message(name: str) -> str:
    """The error for an unknown name: the close names when there are some (``cartpole-v1`` ->
    ``CartPole-v1``), otherwise every valid name."""
    valid = names()
    lower = {n.lower(): n for n in valid}
    close = [lower[m] for m in difflib.get_close_matches(str(name).lower(), list(lower), n=3, cutoff=0.6)]
    if close:
        return (f"unknown environment {name!r}; did you mean {' or '.join(repr(c) for c in close)}? "
                "(`jaxpg envs` lists them all)")
    return f"unknown environment {name!r}; valid names: {', '.join(valid)}"


def is_discrete(env, env_params) -> bool:
    """True when the env's action space is ``Discrete``."""
    return hasattr(env.action_space(env_params), "n")


def num_actions(env, env_params) -> int:
    """Number of discrete actions (``ValueError`` for a continuous action space)."""
    space = env.action_space(env_params)
    if not hasattr(space, "n"):
        raise ValueError(
            f"{env.name} has a continuous action space (use the Gaussian head: policies.mlp_policy("
            "..., action_space=env.action_space(params)))"
        )
    return int(space.n)


def obs_shape(env, env_params) -> tuple[int, ...]:
    """Shape of one observation."""
    return tuple(env.observation_space(env_params).shape)
