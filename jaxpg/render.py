"""Drawing environment states and writing episodes as animations.

* :func:`renderer` picks the drawing function for an environment name (CartPole-v1,
  Acrobot-v1, Pendulum-v1, MountainCar-v0, MountainCarContinuous-v0, Pixelcopter):
  :func:`render_cartpole`, :func:`render_acrobot`, :func:`render_pendulum` and
  :func:`render_mountain_car` (``jaxpg.envs.classic_draw``, re-exported here) draw a state like
  gymnasium's classic-control ``render()`` (``render_mode="rgb_array"``) does, rasterised in
  pure JAX (``jit``/``vmap``-able); Pixelcopter draws itself.
* :func:`play_episode` plays one episode with a policy (categorical or Gaussian
  head) in a jitted ``lax.scan`` and records the state at every step;
  :func:`frames` draws the recorded states in batches.
* :func:`write_gif` (Pillow) and :func:`write_mp4` (optional ``imageio[ffmpeg]``)
  write the frames atomically.

Example::

    states, n = play_episode(jax.random.key(0), "CartPole-v1", policy.apply, params, 500, dist=policy.dist)
    states = jax.tree.map(lambda a: a[: n + 1], states)
    write_gif(frames("CartPole-v1", states), "cartpole.gif", fps=50)

Importing this module imports ``jaxpg.envs`` (and so gymnax).
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from jaxpg import envs, policies
from jaxpg.envs import pixelcopter
from jaxpg.envs.classic_draw import (
    check_size,
    render_acrobot,
    render_cartpole,
    render_mountain_car,
    render_pendulum,
)

__all__ = [
    "render_cartpole",
    "render_acrobot",
    "render_pendulum",
    "render_mountain_car",
    "renderer",
    "supported",
    "play_episode",
    "frames",
    "write_gif",
    "write_mp4",
]

_CARTPOLE = "CartPole-v1"
_ACROBOT = "Acrobot-v1"
_PENDULUM = "Pendulum-v1"
_MOUNTAIN_CAR = ("MountainCar-v0", "MountainCarContinuous-v0")
_PIXELCOPTER = ("Pixelcopter-v0", "Pixelcopter-PLE-v0", "Pixelcopter-threefry-v0")
_PIXELCOPTER_SCALE = 8  # 48 x 48 -> 384 x 384


def supported() -> list[str]:
    """Environment names :func:`renderer` can draw."""
    return [_CARTPOLE, _ACROBOT, _PENDULUM, *_MOUNTAIN_CAR, *_PIXELCOPTER]


def renderer(env_name: str) -> Callable[[Any, Any], jax.Array]:
    """The drawing function of an environment.

    Args:
      env_name: one of :func:`supported`: ``"CartPole-v1"``, ``"Acrobot-v1"``,
        ``"Pendulum-v1"``, ``"MountainCar-v0"``, ``"MountainCarContinuous-v0"``,
        ``"Pixelcopter-v0"``, ``"Pixelcopter-PLE-v0"`` or ``"Pixelcopter-threefry-v0"``.

    Returns:
      ``render(state, env_params) -> uint8 [H, W, 3]``, pure JAX (jit/vmap-able):
      :func:`render_cartpole` (600 x 400), :func:`render_acrobot` (500 x 500),
      :func:`render_pendulum` (500 x 500), :func:`render_mountain_car` (600 x 400, both
      MountainCars), Pixelcopter's own ``render`` upscaled 8x (384 x 384) for Pixelcopter.

    Raises:
      ValueError: for any other name.
    """
    if env_name == _CARTPOLE:
        return render_cartpole
    if env_name == _ACROBOT:
        return render_acrobot
    if env_name == _PENDULUM:
        return render_pendulum
    if env_name in _MOUNTAIN_CAR:
        return render_mountain_car
    if env_name in _PIXELCOPTER:
        return functools.partial(pixelcopter.render, scale=_PIXELCOPTER_SCALE)
    raise ValueError(f"rendering is not supported for {env_name}; supported: {', '.join(supported())}")


# --------------------------------------------------------------------------------------------
# Playing and drawing an episode
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _episode_fn(env_name: str, policy_apply: Callable, max_steps: int, greedy: bool, dist: Any = None,
                frame_stack: int = 1) -> Callable:
    """The jitted ``(key, params) -> (states, length)`` of :func:`play_episode`.

    ``dist`` is the policy's head (``None``: categorical); it must be hashable (the heads
    are named tuples).
    """
    env, env_params = envs.make(env_name, frame_stack=frame_stack)
    if dist is None:
        dist = policies.CATEGORICAL
    discrete_env = envs.is_discrete(env, env_params)
    if discrete_env != bool(dist.discrete):
        kind, head = ("discrete", "a Gaussian") if discrete_env else ("continuous", "a categorical")
        raise ValueError(
            f"{env_name} has a {kind} action space but the policy has {head} head; "
            "pass dist=policy.dist (the head the policy was trained with)"
        )

    policy = policy_apply if isinstance(policy_apply, policies.Policy) else None
    recurrent = policy is not None and policy.recurrent
    apply = policy.apply if policy is not None else policy_apply

    def run(key, params):
        key, reset_key = jax.random.split(key)
        obs, state = env.reset_env(reset_key, env_params)

        def step(carry, _):
            (key, pstate), obs, state, done, length = carry
            key, act_key, step_key = jax.random.split(key, 3)
            if recurrent:
                pstate, out = policy.step(params, pstate, obs)
            else:
                out = apply(params, obs)
            action = dist.mode(out) if greedy else dist.sample(act_key, out)
            # The env gets what training gives it: a Gaussian head's action clipped or
            # squashed into the action bounds (``dist.to_env``).
            env_action = action if dist.discrete else dist.to_env(action)
            next_obs, next_state, _, terminated, _ = env.step_env(step_key, state, env_action, env_params)
            valid = jnp.logical_not(done)
            ended = jnp.logical_or(terminated.astype(bool), env.is_truncated(next_state, env_params))
            # Once the episode has ended the state is frozen: no new frames.
            state = jax.tree.map(lambda new, old: jnp.where(valid, new, old), next_state, state)
            obs = jnp.where(valid, next_obs, obs)
            done = jnp.logical_or(done, ended)
            length = length + valid.astype(jnp.int32)
            return ((key, pstate), obs, state, done, length), state

        init = ((key, policy.initial_state() if recurrent else None), obs, state, jnp.bool_(False), jnp.int32(0))
        (_, _, _, _, length), states = jax.lax.scan(step, init, None, length=max_steps)
        state, states = envs.base_state(state), envs.base_state(states)  # what the renderer draws
        states = jax.tree.map(
            lambda first, rest: jnp.concatenate([jnp.asarray(first, rest.dtype)[None], rest]),
            state,
            states,
        )
        return states, length

    return jax.jit(run)


def play_episode(
    key: jax.Array,
    env_name: str,
    policy_apply: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    max_steps: int,
    greedy: bool = False,
    dist: Any = None,
    frame_stack: int = 1,
) -> tuple[Any, int]:
    """Plays one episode with a policy and records the state at every step.

    The episode runs in a jitted ``lax.scan`` of ``max_steps`` steps with the env's
    non-resetting ``reset_env``/``step_env`` and default parameters. Keys: ``key, k_reset =
    split(key)`` for the reset, then per step ``key, k_act, k_step = split(key, 3)`` (the
    action is drawn with ``k_act``, the transition uses ``k_step``). The episode ends at the
    step where the env terminates, is truncated (``env.is_truncated``) or ``max_steps`` is
    reached; the state is frozen after that, so later entries repeat the last state.

    Actions are drawn as training draws them: ``dist.sample(k_act, out)`` (or
    ``dist.mode(out)`` when ``greedy``: the argmax of a categorical head, a Gaussian's
    mean), and a Gaussian head's action reaches the env through ``dist.to_env`` (clipped
    or tanh-squashed into the action bounds).

    Args:
      key: a PRNG key.
      env_name: a name accepted by ``jaxpg.envs.make``.
      policy_apply: ``apply(params, obs) -> out`` of a policy (logits for a categorical
        head, mean and log-std for a Gaussian one; it applies its own observation scaling),
        or the ``Policy`` itself (needed for a recurrent one: its state is carried).
      params: the policy's parameters.
      max_steps: number of steps to simulate (static positive int).
      greedy: take the head's mode (``argmax``; a Gaussian's mean) instead of sampling.
      dist: the policy's head (``policy.dist``); ``None`` is the categorical head, so a
        policy over a continuous action space needs it.
      frame_stack: the policy's ``Config.frame_stack`` K: the policy sees the last K
        observations (``envs.make(env_name, frame_stack=K)``); the states returned are
        the env's own (unwrapped), ready for :func:`frames`.

    Returns:
      ``(states, length)``: ``states`` is the env-state pytree with leaves
      ``[max_steps + 1, ...]`` (the reset state, then the state after each step);
      ``length`` is the episode's number of steps (1 ... max_steps), so the episode's
      frames are ``states[: length + 1]``.

    Raises:
      ValueError: if ``max_steps`` is not a positive int, the env name is unknown, or the
        head does not fit the env's action space (e.g. no ``dist`` for Pendulum).
    """
    max_steps = check_size("max_steps", max_steps)
    states, length = _episode_fn(env_name, policy_apply, max_steps, bool(greedy), dist,
                                 int(frame_stack))(key, params)
    return states, int(length)


@functools.lru_cache(maxsize=8)
def _batched_renderer(env_name: str) -> Callable:
    return jax.jit(jax.vmap(renderer(env_name), in_axes=(0, None)))


def frames(env_name: str, states: Any, params: Any = None, batch_size: int = 64) -> np.ndarray:
    """Draws a stack of states.

    States are drawn ``batch_size`` at a time by one jitted, vmapped call (the last batch
    is padded by repeating its last state, so every call has the same shape and compiles
    once), which bounds the memory in use.

    Args:
      env_name: a name :func:`renderer` supports.
      states: env-state pytree whose leaves have a leading frame axis ``[F, ...]``
        (e.g. ``play_episode``'s states, cut to ``length + 1``).
      params: the env's parameters; ``None`` uses the env's defaults.
      batch_size: states drawn per call (positive int).

    Returns:
      uint8 [F, H, W, 3] numpy array.

    Raises:
      ValueError: for an unsupported env, a bad ``batch_size``, or states with no
        leaves or leaves of different lengths.
    """
    draw = _batched_renderer(env_name)  # raises for unsupported names
    batch_size = check_size("batch_size", batch_size)
    if params is None:
        params = envs.make(env_name)[1]
    leaves = jax.tree.leaves(states)
    lengths = {int(np.shape(leaf)[0]) if np.ndim(leaf) else -1 for leaf in leaves}
    if len(lengths) != 1 or -1 in lengths:
        raise ValueError(
            f"states must be a pytree of arrays with one leading frame axis; got lengths {lengths}"
        )
    num = lengths.pop()
    out = []
    for start in range(0, num, batch_size):
        idx = np.minimum(np.arange(start, start + batch_size), num - 1)
        batch = jax.tree.map(lambda a, i=idx: jnp.asarray(a)[i], states)
        out.append(np.asarray(draw(batch, params))[: min(batch_size, num - start)])
    if not out:
        return np.zeros((0, 0, 0, 3), np.uint8)
    return np.concatenate(out, axis=0)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _check_frames(frames: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Frames as one uint8 [F, H, W, 3] array (ValueError otherwise)."""
    if len(frames) == 0:
        raise ValueError("no frames to write: frames is empty")
    arr = np.asarray(frames)
    if arr.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB images, got dtype {arr.dtype}")
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise ValueError(f"frames must have shape [F, H, W, 3], got {arr.shape}")
    return arr


def _check_fps(fps: float) -> float:
    if isinstance(fps, bool) or not isinstance(fps, int | float | np.integer | np.floating) or not fps > 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def _temp_path(path: str | os.PathLike, suffix: str) -> str:
    path = os.fspath(path)
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{uuid.uuid4().hex}{suffix}")


def write_gif(frames: Sequence[np.ndarray] | np.ndarray, path: str | os.PathLike, fps: float = 30) -> None:
    """Writes frames as a looping animated GIF (Pillow), atomically.

    The file is written to a temporary file in the same directory and moved into place
    with ``os.replace``; on any error the temporary file is removed and ``path`` is left
    untouched. GIF stores frame times in 1/100 s, so the delay is ``int(1000 / fps)`` ms
    rounded down to 10 ms by the format. Pillow merges identical consecutive frames into
    one longer frame (the animation looks the same).

    Args:
      frames: uint8 RGB frames, ``[F, H, W, 3]`` or a sequence of ``[H, W, 3]``.
      path: output file.
      fps: frames per second (> 0).

    Raises:
      ValueError: for no frames, a dtype other than uint8, a shape other than
        ``[F, H, W, 3]`` or a non-positive ``fps``.
      OSError: when the file cannot be written (e.g. missing directory).
    """
    arr = _check_frames(frames)
    fps = _check_fps(fps)
    images = [Image.fromarray(f) for f in arr]
    tmp = _temp_path(path, ".tmp")
    try:
        with open(tmp, "xb") as fh:
            images[0].save(
                fh,
                format="GIF",
                save_all=True,
                append_images=images[1:],
                duration=int(1000 / fps),
                loop=0,
            )
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_mp4(frames: Sequence[np.ndarray] | np.ndarray, path: str | os.PathLike, fps: float = 30) -> None:
    """Writes frames as an H.264 MP4 with ``imageio[ffmpeg]``, atomically.

    Args:
      frames: uint8 RGB frames, ``[F, H, W, 3]`` or a sequence of ``[H, W, 3]``
        (H and W even, as yuv420p needs).
      path: output file.
      fps: frames per second (> 0).

    Raises:
      RuntimeError: when ``imageio`` with its ffmpeg plugin is not installed.
      ValueError: for bad frames (see :func:`write_gif`), odd sizes or a bad ``fps``.
      OSError: when the file cannot be written.
    """
    try:  # optional dependency: imageio[ffmpeg] is only needed for MP4
        import imageio.v2 as iio  # optional dependency: jaxpg[video]
        import imageio_ffmpeg  # noqa: F401  # optional dependency: jaxpg[video]
    except ImportError:
        raise RuntimeError("MP4 needs imageio[ffmpeg]: pip install imageio[ffmpeg]") from None
    arr = _check_frames(frames)
    fps = _check_fps(fps)
    if arr.shape[1] % 2 or arr.shape[2] % 2:
        raise ValueError(f"MP4 frames need an even height and width, got {arr.shape[1]} x {arr.shape[2]}")
    tmp = _temp_path(path, ".tmp.mp4")
    try:
        writer = iio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", macro_block_size=2)
        try:
            for frame in arr:
                writer.append_data(frame)
        finally:
            writer.close()
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
