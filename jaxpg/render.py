"""Drawing environment states and writing episodes as animations.

* :func:`renderer` picks the drawing function for an environment name (CartPole-v1,
  Acrobot-v1, Pendulum-v1, MountainCar-v0, MountainCarContinuous-v0, Pixelcopter):
  :func:`render_cartpole`, :func:`render_acrobot`, :func:`render_pendulum` and
  :func:`render_mountain_car` (``jaxpg.envs.classic_draw``, re-exported here) draw a state like
  gymnasium's classic-control ``render()`` (``render_mode="rgb_array"``) does, rasterised in
  pure JAX (``jit``/``vmap``-able); Pixelcopter draws itself.
* :func:`play_episode` plays one episode with a policy (categorical or Gaussian
  head) in a jitted ``lax.scan`` and records the state at every step;
  :func:`iter_frames` draws the recorded states lazily, a batch at a time (:func:`frames`: all
  in one array).
* :func:`write_gif` (Pillow) and :func:`write_mp4` (optional ``imageio[ffmpeg]``, the
  ``jaxpg[video]`` extra; :func:`mp4_available`) write the frames as they come, atomically:
  given :func:`iter_frames`, the memory in use does not grow with the episode's length.

Example::

    states, n = play_episode(jax.random.key(0), "CartPole-v1", policy.apply, params, 500, dist=policy.dist)
    states = jax.tree.map(lambda a: a[: n + 1], states)
    written = write_gif(iter_frames("CartPole-v1", states), "cartpole.gif", fps=50)  # frames in the file

Importing this module imports ``jaxpg.envs`` (and so gymnax).
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from PIL import GifImagePlugin, Image

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
    "iter_frames",
    "frames",
    "write_gif",
    "write_mp4",
    "mp4_available",
    "MP4_HINT",
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


def _batches(env_name: str, states: Any, params: Any, batch_size: int) -> Iterator[np.ndarray]:
    """Checks the arguments now and returns the generator of the drawn batches (see :func:`iter_frames`)."""
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

    def drawn() -> Iterator[np.ndarray]:
        for start in range(0, num, batch_size):
            idx = np.minimum(np.arange(start, start + batch_size), num - 1)
            batch = jax.tree.map(lambda a, i=idx: jnp.asarray(a)[i], states)
            yield np.asarray(draw(batch, params))[: min(batch_size, num - start)]

    return drawn()


def iter_frames(env_name: str, states: Any, params: Any = None, batch_size: int = 64) -> Iterator[np.ndarray]:
    """Draws a stack of states lazily, ``batch_size`` states at a time.

    What :func:`frames` draws, frame by frame: a batch is drawn (one jitted, vmapped call; the
    last batch is padded by repeating its last state, so every call has the same shape and
    compiles once) when the frame before it has been taken, so at most one batch of frames is
    held. Hand it to :func:`write_gif` or :func:`write_mp4` and the memory in use does not grow
    with the episode's length.

    Args:
      env_name: a name :func:`renderer` supports.
      states: env-state pytree whose leaves have a leading frame axis ``[F, ...]``
        (e.g. ``play_episode``'s states, cut to ``length + 1``).
      params: the env's parameters; ``None`` uses the env's defaults.
      batch_size: states drawn per call (positive int).

    Returns:
      an iterator over the ``F`` uint8 ``[H, W, 3]`` numpy frames, in order.

    Raises:
      ValueError: at the call, before anything is drawn: for an unsupported env, a bad
        ``batch_size``, or states with no leaves or leaves of different lengths.
    """
    batches = _batches(env_name, states, params, batch_size)

    def one_by_one() -> Iterator[np.ndarray]:
        for batch in batches:
            for i in range(len(batch)):
                yield batch[i].copy()  # a frame of its own: no view keeps the batch alive
            del batch  # freed before the next batch is drawn

    return one_by_one()


def frames(env_name: str, states: Any, params: Any = None, batch_size: int = 64) -> np.ndarray:
    """Draws a stack of states into one array.

    The frames of :func:`iter_frames`, all held at once (a 500-step CartPole episode is
    360 MB): the writers take :func:`iter_frames` instead.

    Args:
      env_name: a name :func:`renderer` supports.
      states: env-state pytree whose leaves have a leading frame axis ``[F, ...]``.
      params: the env's parameters; ``None`` uses the env's defaults.
      batch_size: states drawn per call (positive int).

    Returns:
      uint8 [F, H, W, 3] numpy array.

    Raises:
      ValueError: as :func:`iter_frames` does.
    """
    out = list(_batches(env_name, states, params, batch_size))
    if not out:
        return np.zeros((0, 0, 0, 3), np.uint8)
    return np.concatenate(out, axis=0)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

#: what :func:`write_mp4` needs and how to get it.
MP4_HINT = 'MP4 needs imageio[ffmpeg]: pip install "jaxpg[video]"'

Frames = np.ndarray | Iterable[np.ndarray]


def _checked(frames: Frames) -> Iterator[np.ndarray]:
    """The frames one at a time, each checked: uint8 [H, W, 3], all of one shape (ValueError otherwise)."""
    if isinstance(frames, np.ndarray | jax.Array):
        if frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 RGB images, got dtype {frames.dtype}")
        if frames.ndim != 4:
            raise ValueError(f"frames must have shape [F, H, W, 3], got {frames.shape}")
    shape = None
    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 RGB images, got dtype {frame.dtype} (frame {i})")
        if shape is None:
            if frame.ndim != 3 or frame.shape[-1] != 3 or 0 in frame.shape:
                raise ValueError(f"frames must have shape [F, H, W, 3], got a frame of shape {frame.shape}")
            shape = frame.shape
        elif frame.shape != shape:
            raise ValueError(f"frames must all have one shape: frame {i} is {frame.shape}, frame 0 {shape}")
        yield frame
    if shape is None:
        raise ValueError("no frames to write: frames is empty")


def _peek(frames: Frames) -> tuple[tuple[int, ...], Iterator[np.ndarray]]:
    """The first frame's shape (checked before any file is opened) and all the frames, checked."""
    checked = _checked(frames)
    held = [next(checked)]

    def again() -> Iterator[np.ndarray]:
        yield held.pop()  # not kept once taken (itertools.chain would keep it to the end)
        yield from checked

    return held[0].shape, again()


def _check_fps(fps: float) -> float:
    if isinstance(fps, bool) or not isinstance(fps, int | float | np.integer | np.floating) or not fps > 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def _temp_path(path: str | os.PathLike, suffix: str) -> str:
    path = os.fspath(path)
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{uuid.uuid4().hex}{suffix}")


def _atomic(path: str | os.PathLike, suffix: str, write: Callable[[str], int]) -> int:
    """``write(tmp)`` into a temporary file beside ``path``, then ``os.replace``; the file is removed on any error."""
    tmp = _temp_path(path, suffix)
    try:
        count = write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return count


def _palette_image(rgb: np.ndarray) -> Image.Image:
    """An RGB array as the palette image Pillow's GIF writer makes of it (exact up to 256 colours)."""
    return Image.fromarray(np.ascontiguousarray(rgb)).convert("P", palette=Image.Palette.ADAPTIVE)


def _gif_frame(fh, image: Image.Image, offset: tuple[int, int], duration: int, own_palette: bool) -> None:
    params = {"duration": duration, "include_color_table": True} if own_palette else {"duration": duration}
    for chunk in GifImagePlugin.getdata(image, offset, **params):
        fh.write(chunk)


def _stream_gif(fh, frames: Iterator[np.ndarray], delay: int) -> int:
    """Writes a looping GIF frame by frame, as Pillow's ``save_all`` lays one out; returns the frames written.

    The first frame is whole, on the global palette; each later one is the box where it differs from
    the frame before, with its own palette; a frame equal to the one before lengthens that one. Only
    the frame before is held, so the memory in use does not grow with the number of frames. (Pillow's
    ``save_all`` takes an iterator of images but holds every distinct frame until the last: Pillow 13's
    ``_write_multiple_frames``. Its GIF helpers ``getheader`` and ``getdata`` encode one frame at a time.)
    """
    previous = np.array(next(frames))  # a copy: the caller may reuse its buffer
    image = _palette_image(previous)
    header, _ = GifImagePlugin.getheader(image, info={"loop": 0, "duration": delay, "optimize": True})
    fh.write(b"".join(header))
    pending, written = (image, (0, 0), delay, False), 0
    for frame in frames:
        if np.array_equal(frame, previous):
            pending = (*pending[:2], pending[2] + delay, pending[3])
            continue
        _gif_frame(fh, *pending)
        written += 1
        changed = np.any(frame != previous, axis=-1)
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        box = frame[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        pending = (_palette_image(box), (int(cols[0]), int(rows[0])), delay, True)
        np.copyto(previous, frame)
    _gif_frame(fh, *pending)
    fh.write(b";")  # the trailer
    return written + 1


def write_gif(frames: Frames, path: str | os.PathLike, fps: float = 30) -> int:
    """Writes frames as a looping animated GIF (Pillow), streaming and atomically.

    Frames are taken one at a time (give :func:`iter_frames` and no episode is held in memory)
    and written as they come. A frame identical to the one before is merged into it (one
    longer frame, as Pillow's ``save_all`` does; the animation looks the same), so the file
    may hold fewer frames than were given: the count returned is the file's. The file is
    written to a temporary file in the same directory and moved into place with
    ``os.replace``; on any error the temporary file is removed and ``path`` is left untouched.
    GIF stores frame times in 1/100 s, so the delay is ``int(1000 / fps)`` ms rounded down to
    10 ms by the format.

    Args:
      frames: uint8 RGB frames: ``[F, H, W, 3]``, or a sequence or iterator of ``[H, W, 3]``
        (all of one shape).
      path: output file.
      fps: frames per second (> 0).

    Returns:
      the number of frames in the file (``Image.open(path).n_frames``).

    Raises:
      ValueError: for no frames, a dtype other than uint8, a shape other than
        ``[F, H, W, 3]``, frames of different shapes or a non-positive ``fps``.
      OSError: when the file cannot be written (e.g. missing directory).
    """
    delay = int(1000 / _check_fps(fps))
    _, frames = _peek(frames)

    def write(tmp: str) -> int:
        with open(tmp, "xb") as fh:
            return _stream_gif(fh, frames, delay)

    return _atomic(path, ".tmp", write)


def _imageio():
    """``imageio.v2`` with its ffmpeg plugin (RuntimeError with :data:`MP4_HINT` when missing)."""
    try:  # optional dependency: imageio[ffmpeg] is only needed for MP4
        import imageio.v2 as iio  # optional dependency: jaxpg[video]
        import imageio_ffmpeg  # noqa: F401  # optional dependency: jaxpg[video]
    except ImportError:
        raise RuntimeError(MP4_HINT) from None
    return iio


def mp4_available() -> bool:
    """Whether :func:`write_mp4` can write: ``imageio[ffmpeg]`` (``pip install "jaxpg[video]"``) imports."""
    try:
        _imageio()
    except RuntimeError:
        return False
    return True


def write_mp4(frames: Frames, path: str | os.PathLike, fps: float = 30) -> int:
    """Writes frames as an H.264 MP4 with ``imageio[ffmpeg]``, streaming and atomically.

    Frames are taken one at a time and handed to the encoder as they come (see
    :func:`write_gif`); every frame is kept.

    Args:
      frames: uint8 RGB frames: ``[F, H, W, 3]``, or a sequence or iterator of ``[H, W, 3]``
        (all of one shape; H and W even, as yuv420p needs).
      path: output file.
      fps: frames per second (> 0).

    Returns:
      the number of frames written.

    Raises:
      RuntimeError: when ``imageio`` with its ffmpeg plugin is not installed.
      ValueError: for bad frames (see :func:`write_gif`), odd sizes or a bad ``fps``.
      OSError: when the file cannot be written.
    """
    iio = _imageio()
    fps = _check_fps(fps)
    shape, frames = _peek(frames)
    if shape[0] % 2 or shape[1] % 2:
        raise ValueError(f"MP4 frames need an even height and width, got {shape[0]} x {shape[1]}")

    def write(tmp: str) -> int:
        writer = iio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", macro_block_size=2)
        try:
            count = 0
            for frame in frames:
                writer.append_data(frame)
                count += 1
        finally:
            writer.close()
        return count

    return _atomic(path, ".tmp.mp4", write)
