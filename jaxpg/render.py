"""Drawing environment states and writing episodes as animations.

* :func:`render_cartpole` draws a CartPole state like gymnasium's
  ``CartPoleEnv.render`` (pure JAX: ``jit``/``vmap``-able), and
  :func:`renderer` picks the drawing function for an environment name
  (CartPole-v1, Pixelcopter).
* :func:`play_episode` plays one episode with a policy in a jitted
  ``lax.scan`` and records the state at every step; :func:`frames` draws the
  recorded states in batches.
* :func:`write_gif` (Pillow) and :func:`write_mp4` (optional ``imageio[ffmpeg]``)
  write the frames atomically.

Example::

    states, n = play_episode(jax.random.key(0), "CartPole-v1", policy.apply, params, 500)
    states = jax.tree.map(lambda a: a[: n + 1], states)
    write_gif(frames("CartPole-v1", states), "cartpole.gif", fps=50)

``jaxpg.envs`` (which imports gymnax) is imported on first use, not when this
module is imported.
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

__all__ = [
    "render_cartpole",
    "renderer",
    "supported",
    "play_episode",
    "frames",
    "write_gif",
    "write_mp4",
]

# --------------------------------------------------------------------------------------------
# CartPole, after gymnasium's CartPoleEnv.render (pygame). Geometry in screen units, y up
# (pygame draws with y up, then flips the surface vertically).
# --------------------------------------------------------------------------------------------

_POLE_WIDTH = 10.0
_CART_WIDTH = 50.0
_CART_HEIGHT = 30.0
_CART_Y = 100.0  # y of the cart's centre line (and of the track line), from the bottom
_AXLE_OFFSET = _CART_HEIGHT / 4.0  # axle above the cart's centre line

_WHITE = (255, 255, 255)
_CART_COLOUR = (0, 0, 0)
_POLE_COLOUR = (202, 152, 101)
_AXLE_COLOUR = (129, 132, 203)
_TRACK_COLOUR = (0, 0, 0)

_CARTPOLE = "CartPole-v1"
_PIXELCOPTER = ("Pixelcopter-v0", "Pixelcopter-PLE-v0")
_PIXELCOPTER_SCALE = 8  # 48 x 48 -> 384 x 384


def _check_size(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _paint(img: jax.Array, mask: jax.Array, colour: tuple[int, int, int]) -> jax.Array:
    """``img`` with the pixels of ``mask`` ([H, W] bool) set to ``colour``."""
    return jnp.where(mask[:, :, None], jnp.asarray(colour, jnp.uint8).reshape(1, 1, 3), img)


def render_cartpole(state: Any, params: Any, width: int = 600, height: int = 400) -> jax.Array:
    """Draws a CartPole state like gymnasium's ``CartPoleEnv.render`` (pure JAX).

    Geometry (gymnasium's, in pixels, y measured up from the bottom row): the world is
    ``2 * x_threshold`` wide, so ``scale = width / (2 * x_threshold)`` (125 px per unit at
    the defaults); the cart is a 50 x 30 black rectangle centred at
    ``(x * scale + width / 2, 100)``; the pole is a 10 px wide rectangle of length
    ``scale * 2 * length`` in (202, 152, 101), hinged at the axle ``7.5`` px above the cart's
    centre, extending 5 px below it, rotated by ``theta`` (0 = upright, positive = tipped
    to the right); the axle is a radius-5 disc in (129, 132, 203); a black track line runs
    across the image at y = 100; the background is white. Shapes are filled without
    anti-aliasing: pixel ``(row r, column c)`` is the point ``(c, height - 1 - r)`` and
    belongs to a shape when that point lies inside it (edges included). Drawing order is
    gymnasium's: cart, pole, axle, track line.

    Works unbatched; ``jax.jit`` and ``jax.vmap`` (over states, ``in_axes=(0, None)``)
    apply directly. ``width`` and ``height`` must be static.

    Args:
      state: a gymnax CartPole ``EnvState`` (uses ``x`` and ``theta``).
      params: the CartPole ``EnvParams`` (uses ``x_threshold`` and ``length``).
      width: image width in pixels (static positive int).
      height: image height in pixels (static positive int).

    Returns:
      uint8 [height, width, 3] RGB image.

    Raises:
      ValueError: if ``width`` or ``height`` is not a positive int.
    """
    width = _check_size("width", width)
    height = _check_size("height", height)
    f32 = jnp.float32
    scale = f32(width) / (f32(2.0) * jnp.asarray(params.x_threshold, f32))
    pole_len = scale * f32(2.0) * jnp.asarray(params.length, f32)
    cart_x = jnp.asarray(state.x, f32) * scale + f32(width / 2.0)
    theta = jnp.asarray(state.theta, f32)

    px = jnp.arange(width, dtype=f32)[None, :]  # [1, W]
    py = (f32(height - 1) - jnp.arange(height, dtype=f32))[:, None]  # [H, 1], y up
    half_w = f32(_CART_WIDTH / 2.0)
    half_h = f32(_CART_HEIGHT / 2.0)
    cart = (jnp.abs(px - cart_x) <= half_w) & (jnp.abs(py - f32(_CART_Y)) <= half_h)

    # Pole: gymnasium rotates the upright rectangle [-5, 5] x [-5, len - 5] by -theta
    # (pygame's rotate_rad, counter-clockwise positive) about the axle. A pixel is inside
    # when its offset from the axle, rotated back by +theta, lies in that rectangle.
    dx = px - cart_x  # [1, W]
    dy = py - f32(_CART_Y + _AXLE_OFFSET)  # [H, 1]
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    u = dx * cos - dy * sin  # across the pole
    v = dx * sin + dy * cos  # along the pole, from the axle towards the tip
    half_p = f32(_POLE_WIDTH / 2.0)
    pole = (jnp.abs(u) <= half_p) & (v >= -half_p) & (v <= pole_len - half_p)

    # Axle: gfxdraw.filled_circle at integer (int(cart_x), int(carty + axleoffset)).
    ax = jnp.trunc(cart_x)
    ay = f32(int(_CART_Y + _AXLE_OFFSET))
    axle = (px - ax) ** 2 + (py - ay) ** 2 <= half_p**2
    track = jnp.broadcast_to(py == f32(_CART_Y), (height, width))

    img = jnp.full((height, width, 3), 255, jnp.uint8)
    img = _paint(img, cart, _CART_COLOUR)
    img = _paint(img, pole, _POLE_COLOUR)
    img = _paint(img, axle, _AXLE_COLOUR)
    return _paint(img, track, _TRACK_COLOUR)


def supported() -> list[str]:
    """Environment names :func:`renderer` can draw."""
    return [_CARTPOLE, *_PIXELCOPTER]


def renderer(env_name: str) -> Callable[[Any, Any], jax.Array]:
    """The drawing function of an environment.

    Args:
      env_name: ``"CartPole-v1"``, ``"Pixelcopter-v0"`` or ``"Pixelcopter-PLE-v0"``.

    Returns:
      ``render(state, env_params) -> uint8 [H, W, 3]``, pure JAX (jit/vmap-able):
      :func:`render_cartpole` (600 x 400) for CartPole, Pixelcopter's own ``render``
      upscaled 8x (384 x 384) for Pixelcopter.

    Raises:
      ValueError: for any other name.
    """
    if env_name == _CARTPOLE:
        return render_cartpole
    if env_name in _PIXELCOPTER:
        from jaxpg.envs import pixelcopter

        return functools.partial(pixelcopter.render, scale=_PIXELCOPTER_SCALE)
    raise ValueError(f"rendering is not supported for {env_name}; supported: {', '.join(supported())}")


# --------------------------------------------------------------------------------------------
# Playing and drawing an episode
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _episode_fn(env_name: str, policy_apply: Callable, max_steps: int, greedy: bool) -> Callable:
    """The jitted ``(key, params) -> (states, length)`` of :func:`play_episode`."""
    from jaxpg import envs, policies

    env, env_params = envs.make(env_name)

    def run(key, params):
        key, reset_key = jax.random.split(key)
        obs, state = env.reset_env(reset_key, env_params)

        def step(carry, _):
            key, obs, state, done, length = carry
            key, act_key, step_key = jax.random.split(key, 3)
            logits = policy_apply(params, obs)
            action = policies.greedy(logits) if greedy else policies.sample(act_key, logits)
            next_obs, next_state, _, terminated, _ = env.step_env(step_key, state, action, env_params)
            valid = jnp.logical_not(done)
            ended = jnp.logical_or(terminated.astype(bool), env.is_truncated(next_state, env_params))
            # Once the episode has ended the state is frozen: no new frames.
            state = jax.tree.map(lambda new, old: jnp.where(valid, new, old), next_state, state)
            obs = jnp.where(valid, next_obs, obs)
            done = jnp.logical_or(done, ended)
            length = length + valid.astype(jnp.int32)
            return (key, obs, state, done, length), state

        init = (key, obs, state, jnp.bool_(False), jnp.int32(0))
        (_, _, _, _, length), states = jax.lax.scan(step, init, None, length=max_steps)
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
) -> tuple[Any, int]:
    """Plays one episode with a policy and records the state at every step.

    The episode runs in a jitted ``lax.scan`` of ``max_steps`` steps with the env's
    non-resetting ``reset_env``/``step_env`` and default parameters. Keys: ``key, k_reset =
    split(key)`` for the reset, then per step ``key, k_act, k_step = split(key, 3)`` (the
    action is drawn with ``k_act``, the transition uses ``k_step``). The episode ends at the
    step where the env terminates, is truncated (``env.is_truncated``) or ``max_steps`` is
    reached; the state is frozen after that, so later entries repeat the last state.

    Args:
      key: a PRNG key.
      env_name: a name accepted by ``jaxpg.envs.make``.
      policy_apply: ``apply(params, obs) -> logits`` of a policy (it applies its own
        observation scaling).
      params: the policy's parameters.
      max_steps: number of steps to simulate (static positive int).
      greedy: take the most likely action (``argmax``) instead of sampling.

    Returns:
      ``(states, length)``: ``states`` is the env-state pytree with leaves
      ``[max_steps + 1, ...]`` (the reset state, then the state after each step);
      ``length`` is the episode's number of steps (1 ... max_steps), so the episode's
      frames are ``states[: length + 1]``.

    Raises:
      ValueError: if ``max_steps`` is not a positive int or the env name is unknown.
    """
    max_steps = _check_size("max_steps", max_steps)
    states, length = _episode_fn(env_name, policy_apply, max_steps, bool(greedy))(key, params)
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
    batch_size = _check_size("batch_size", batch_size)
    if params is None:
        from jaxpg import envs

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
    from PIL import Image

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
    try:
        import imageio.v2 as iio
        import imageio_ffmpeg  # noqa: F401
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
