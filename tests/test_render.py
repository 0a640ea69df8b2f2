"""Tests of jaxpg.render: CartPole/Pixelcopter drawing, episode recording, GIF/MP4 writing."""

from __future__ import annotations

import math
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxpg import envs, policies, render

_H, _W = 400, 600
_SCALE = _W / 4.8  # gymnasium: screen_width / (2 * x_threshold) = 125 px per unit
_TRACK_ROW = _H - 1 - 100  # the track line at y = 100 (from the bottom)
_AXLE_Y = 107.5  # carty + cartheight / 4
_POLE = (202, 152, 101)
_CART = (0, 0, 0)
_AXLE = (129, 132, 203)


@pytest.fixture(scope="module")
def cartpole():
    env, params = envs.make("CartPole-v1")
    _, state = env.reset_env(jax.random.key(0), params)
    return env, params, state


def _state(base, x: float = 0.0, theta: float = 0.0):
    return base.replace(x=jnp.float32(x), theta=jnp.float32(theta))


def _mask(img: np.ndarray, colour) -> np.ndarray:
    return np.all(np.asarray(img) == np.asarray(colour, np.uint8), axis=-1)


def _cart_centroid_col(img: np.ndarray) -> float:
    black = _mask(img, _CART)
    black[_TRACK_ROW] = False  # the track line has the cart's colour
    cols = np.nonzero(black)[1]
    assert cols.size > 0, "no cart pixels"
    return float(cols.mean())


# --------------------------------------------------------------------------------------------
# CartPole
# --------------------------------------------------------------------------------------------


def test_cartpole_upright_at_centre(cartpole):
    _, params, base = cartpole
    img = np.asarray(render.render_cartpole(_state(base), params))
    assert img.shape == (_H, _W, 3) and img.dtype == np.uint8
    white = _mask(img, (255, 255, 255)).mean()
    assert 0.8 < white < 1.0  # mostly background, but not blank
    # Cart (black) at the centre, below the axle; axle disc at (300, y = 107).
    assert _mask(img, _CART)[_H - 1 - 95, 300] and _mask(img, _CART)[_H - 1 - 95, 276]
    assert not _mask(img, _CART)[_H - 1 - 95, 330]  # cart is 50 px wide: 275 ... 325
    assert _mask(img, _AXLE)[_H - 1 - 107, 300]
    assert _mask(img, _CART)[_TRACK_ROW, [0, _W - 1]].all()  # track line spans the width
    # Pole: a 10 px column centred on x = 300, reaching y = 107.5 + 125 - 5 (row 172).
    rows, cols = np.nonzero(_mask(img, _POLE))
    assert cols.size > 1000
    assert cols.min() >= 295 and cols.max() <= 305 and abs(cols.mean() - 300.0) < 0.5
    assert rows.min() == _H - 1 - 227
    assert rows.min() < _H - 1 - 115  # rises above the cart's top edge (y = 115)


@pytest.mark.parametrize("x", [1.0, -1.0, 2.0])
def test_cartpole_moves_with_x(cartpole, x):
    _, params, base = cartpole
    centre = _cart_centroid_col(np.asarray(render.render_cartpole(_state(base, 0.0), params)))
    moved = _cart_centroid_col(np.asarray(render.render_cartpole(_state(base, x), params)))
    assert abs(centre - _W / 2) <= 2
    assert abs(moved - (_W / 2 + x * _SCALE)) <= 2


@pytest.mark.parametrize("theta", [0.2, -0.2])
def test_cartpole_pole_tilts(cartpole, theta):
    _, params, base = cartpole
    upright = np.nonzero(_mask(render.render_cartpole(_state(base), params), _POLE))
    rows, cols = np.nonzero(_mask(render.render_cartpole(_state(base, theta=theta), params), _POLE))
    # Positive theta tips the pole to the right (clockwise), as in gymnasium; the pole's
    # centroid moves sideways by sin(theta) times its distance from the axle.
    along = (_H - 1 - upright[0].mean()) - _AXLE_Y
    expected = 300 + math.sin(theta) * along
    assert np.sign(cols.mean() - 300) == np.sign(theta)
    assert abs(cols.mean() - expected) < 1.5
    # The tip is the top-most pole pixel and lies on the tilted side.
    tip_col = cols[rows == rows.min()].mean()
    assert np.sign(tip_col - 300) == np.sign(theta) and abs(tip_col - 300) > 15


def test_cartpole_jit_and_vmap_match_eager(cartpole):
    _, params, base = cartpole
    xs = jnp.asarray([0.0, 1.3, -2.1], jnp.float32)
    thetas = jnp.asarray([0.0, 0.17, -0.33], jnp.float32)
    batch = jax.vmap(lambda x, t: _state(base, x, t))(xs, thetas)
    eager = [
        np.asarray(render.render_cartpole(_state(base, float(x), float(t)), params))
        for x, t in zip(xs, thetas, strict=True)
    ]
    jitted = [
        np.asarray(jax.jit(render.render_cartpole)(_state(base, float(x), float(t)), params))
        for x, t in zip(xs, thetas, strict=True)
    ]
    vmapped = np.asarray(jax.jit(jax.vmap(render.render_cartpole, in_axes=(0, None)))(batch, params))
    assert vmapped.shape == (3, _H, _W, 3)
    for i in range(3):
        np.testing.assert_array_equal(jitted[i], eager[i])
        np.testing.assert_array_equal(vmapped[i], eager[i])
    assert not np.array_equal(eager[0], eager[1])


def test_cartpole_size_and_bad_size(cartpole):
    _, params, base = cartpole
    img = render.render_cartpole(_state(base), params, width=300, height=200)
    assert img.shape == (200, 300, 3)
    with pytest.raises(ValueError, match="width"):
        render.render_cartpole(_state(base), params, width=0)


# --------------------------------------------------------------------------------------------
# renderer
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Pixelcopter-v0", "Pixelcopter-PLE-v0"])
def test_pixelcopter_renderer(name):
    env, params = envs.make(name)
    _, state = env.reset_env(jax.random.key(3), params)
    img = np.asarray(render.renderer(name)(state, params))
    assert img.shape == (384, 384, 3) and img.dtype == np.uint8
    assert len(np.unique(img.reshape(-1, 3), axis=0)) >= 2


def test_renderer_cartpole_is_render_cartpole():
    assert render.renderer("CartPole-v1") is render.render_cartpole


def test_renderer_unsupported():
    with pytest.raises(ValueError, match="not supported") as info:
        render.renderer("Catch-bsuite")
    assert "Catch-bsuite" in str(info.value) and "CartPole-v1" in str(info.value)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------
# play_episode and frames
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_policy():
    policy = policies.mlp_policy((8,), 2)
    return policy, policy.init(jax.random.key(1), jnp.zeros(4))


@pytest.mark.parametrize("greedy", [False, True])
def test_play_episode_matches_manual_stepping(cartpole, tiny_policy, greedy):
    env, env_params, _ = cartpole
    policy, params = tiny_policy
    max_steps = 200
    key = jax.random.key(7)
    states, length = render.play_episode(key, "CartPole-v1", policy.apply, params, max_steps, greedy=greedy)
    assert isinstance(length, int) and 1 <= length < max_steps  # a random policy drops the pole
    assert states.x.shape == (max_steps + 1,)

    # The documented key schedule, stepped by hand.
    step = jax.jit(env.step_env)
    key, reset_key = jax.random.split(key)
    obs, state = env.reset_env(reset_key, env_params)
    manual = [state]
    for _ in range(length):
        key, act_key, step_key = jax.random.split(key, 3)
        logits = policy.apply(params, obs)
        action = policies.greedy(logits) if greedy else policies.sample(act_key, logits)
        obs, state, _, done, _ = step(step_key, state, action, env_params)
        manual.append(state)
    assert bool(done)  # the manual episode ends exactly at `length`
    for field in ("x", "x_dot", "theta", "theta_dot"):
        got = np.asarray(getattr(states, field))
        want = np.asarray([getattr(s, field) for s in manual])
        np.testing.assert_allclose(got[: length + 1], want, atol=1e-5)
        # No new frames after the end: the last state repeats.
        np.testing.assert_array_equal(got[length:], np.full(max_steps + 1 - length, got[length]))
    assert not bool(env.is_terminal(jax.tree.map(lambda a: a[length - 1], states), env_params))
    np.testing.assert_array_equal(np.asarray(states.time[: length + 1]), np.arange(length + 1))


def test_play_episode_stops_at_max_steps(tiny_policy):
    policy, params = tiny_policy
    states, length = render.play_episode(jax.random.key(2), "CartPole-v1", policy.apply, params, 5)
    assert length == 5  # the pole cannot fall within 5 steps from a reset state
    assert states.x.shape == (6,)
    assert len(np.unique(np.asarray(states.x))) == 6  # every step recorded a new state
    with pytest.raises(ValueError, match="max_steps"):
        render.play_episode(jax.random.key(2), "CartPole-v1", policy.apply, params, 0)


def test_frames_batches_match_single_renders(cartpole):
    _, params, base = cartpole
    xs = jnp.linspace(-2.0, 2.0, 7, dtype=jnp.float32)
    thetas = jnp.linspace(-0.2, 0.2, 7, dtype=jnp.float32)
    states = jax.vmap(lambda x, t: _state(base, x, t))(xs, thetas)
    small = render.frames("CartPole-v1", states, params, batch_size=3)  # 3 + 3 + 1 (padded)
    assert small.shape == (7, _H, _W, 3) and small.dtype == np.uint8
    for i in (0, 4, 6):
        single = np.asarray(render.render_cartpole(jax.tree.map(lambda a, i=i: a[i], states), params))
        np.testing.assert_array_equal(small[i], single)
    np.testing.assert_array_equal(render.frames("CartPole-v1", states), small)  # default params
    with pytest.raises(ValueError, match="not supported"):
        render.frames("Catch-bsuite", states)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _distinct_frames(n: int = 5, h: int = 24, w: int = 32) -> np.ndarray:
    out = np.full((n, h, w, 3), 255, np.uint8)
    for i in range(n):
        out[i, 4:12, 2 + 5 * i : 8 + 5 * i] = (200, 30, 30)  # a red square moving right
        out[i, 16:20, :] = (0, 0, 200)
    return out


def test_write_gif(tmp_path):
    frames = _distinct_frames()
    path = tmp_path / "episode.gif"
    assert render.write_gif(list(frames), path, fps=20) == len(frames)
    assert os.listdir(tmp_path) == ["episode.gif"]  # no temporary file left
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == len(frames)
        assert gif.info.get("loop") == 0 and gif.info.get("duration") == 50
        gif.seek(3)
        frame = np.asarray(gif.convert("RGB"))
    assert frame.shape == (24, 32, 3)
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 3
    np.testing.assert_array_equal(frame, frames[3])  # few colours: the palette is exact
    # Overwriting an existing file works (os.replace).
    render.write_gif(frames[:2], path)
    with Image.open(path) as gif:
        assert gif.n_frames == 2


@pytest.mark.parametrize(
    "bad, match",
    [
        ([], "empty"),
        (np.zeros((0, 4, 4, 3), np.uint8), "empty"),
        (np.zeros((2, 4, 4, 3), np.float32), "uint8"),
        (np.zeros((2, 4, 4), np.uint8), "shape"),
        (np.zeros((4, 4, 3), np.uint8), "shape"),
        (iter([]), "empty"),
        ((f for f in np.zeros((2, 4, 4, 3), np.int32)), "uint8"),
        (iter([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 6, 3), np.uint8)]), "one shape"),  # found mid-write
        ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.float64)], "uint8"),
    ],
)
def test_write_gif_bad_frames(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        render.write_gif(bad, tmp_path / "x.gif")
    assert os.listdir(tmp_path) == []


def test_write_gif_bad_fps(tmp_path):
    with pytest.raises(ValueError, match="fps"):
        render.write_gif(_distinct_frames(), tmp_path / "x.gif", fps=0)
    assert os.listdir(tmp_path) == []


def test_write_gif_unwritable_path(tmp_path):
    target = tmp_path / "missing_dir" / "x.gif"
    with pytest.raises(OSError):
        render.write_gif(_distinct_frames(), target)
    assert not target.exists() and os.listdir(tmp_path) == []
    # A directory in the way: the temp file is written, os.replace fails, nothing is left.
    (tmp_path / "d.gif").mkdir()
    with pytest.raises(OSError):
        render.write_gif(_distinct_frames(), tmp_path / "d.gif")
    assert os.listdir(tmp_path) == ["d.gif"] and os.listdir(tmp_path / "d.gif") == []


def test_write_mp4_without_imageio(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio", None)  # makes `import imageio...` fail
    monkeypatch.setitem(sys.modules, "imageio.v2", None)
    assert not render.mp4_available()
    with pytest.raises(RuntimeError, match=r"imageio\[ffmpeg\].*jaxpg\[video\]"):
        render.write_mp4(_distinct_frames(), tmp_path / "x.mp4")
    assert os.listdir(tmp_path) == []


def test_write_mp4_streams_frames(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    import imageio.v2 as iio

    frames = np.repeat(_distinct_frames(6), 2, axis=1)  # 48 x 32: even sizes
    path = tmp_path / "x.mp4"
    assert render.mp4_available()
    assert render.write_mp4((f for f in frames), path, fps=10) == 6  # every frame is kept
    assert os.listdir(tmp_path) == ["x.mp4"]
    with iio.get_reader(path) as reader:
        assert sum(1 for _ in reader) == 6
    with pytest.raises(ValueError, match="even"):
        render.write_mp4(_distinct_frames(2, h=25), tmp_path / "odd.mp4")
    assert os.listdir(tmp_path) == ["x.mp4"]


def _pillow_gif(frames, path, fps):
    """The GIF as ``write_gif`` wrote it before it streamed: every Pillow image at once."""
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)


def _gif_frames(path) -> tuple[list[np.ndarray], list[int], int | None]:
    """The decoded RGB frames of a GIF, their durations (ms) and its loop count."""
    with Image.open(path) as gif:
        out, durations = [], []
        for i in range(gif.n_frames):
            gif.seek(i)
            out.append(np.asarray(gif.convert("RGB")))
            durations.append(gif.info.get("duration"))
        return out, durations, gif.info.get("loop")


def _assert_same_gif(got_path, want_path):
    got, want = _gif_frames(got_path), _gif_frames(want_path)
    assert len(got[0]) == len(want[0])
    for i, (g, w) in enumerate(zip(got[0], want[0], strict=True)):
        np.testing.assert_array_equal(g, w, err_msg=f"frame {i}")
    assert got[1:] == want[1:]  # durations (merged frames add theirs up) and the loop


@pytest.mark.parametrize("fps", [30, 50])
def test_streamed_gif_is_pillows_all_at_once_gif(tmp_path, fps):
    d = _distinct_frames(6)
    frames = np.stack([d[0], d[0], d[1], d[2], d[2], d[2], d[3], d[4], d[5], d[5]])  # 10 frames, 6 distinct
    written = render.write_gif((f for f in frames), tmp_path / "streamed.gif", fps=fps)
    _pillow_gif(frames, tmp_path / "pillow.gif", fps)
    with Image.open(tmp_path / "streamed.gif") as gif:
        assert written == gif.n_frames == 6  # the count returned is the file's: repeats are merged
    _assert_same_gif(tmp_path / "streamed.gif", tmp_path / "pillow.gif")
    _, durations, _ = _gif_frames(tmp_path / "streamed.gif")
    # a merged frame lasts as long as the frames it stands for (GIF counts in 1/100 s)
    assert durations == [k * int(1000 / fps) // 10 * 10 for k in (2, 1, 3, 1, 1, 2)]
    # one frame, or only one distinct frame: a one-frame GIF
    assert render.write_gif([d[1]] * 3, tmp_path / "still.gif") == 1
    with Image.open(tmp_path / "still.gif") as gif:
        assert gif.n_frames == 1
        np.testing.assert_array_equal(np.asarray(gif.convert("RGB")), d[1])


def test_streamed_cartpole_gif_is_pillows_all_at_once_gif(cartpole, tmp_path):
    _, params, base = cartpole
    xs = jnp.asarray([0.0, 0.0, 0.3, 0.3001, 0.6, -1.0, -1.0], jnp.float32)  # repeats, a sub-pixel move
    states = jax.vmap(lambda x: _state(base, x, 0.05))(xs)
    written = render.write_gif(render.iter_frames("CartPole-v1", states, params, batch_size=3),
                               tmp_path / "streamed.gif", fps=50)
    frames = render.frames("CartPole-v1", states, params, batch_size=3)
    _pillow_gif(frames, tmp_path / "pillow.gif", 50)
    with Image.open(tmp_path / "streamed.gif") as gif, Image.open(tmp_path / "pillow.gif") as want:
        assert written == gif.n_frames == want.n_frames
    assert written == 1 + sum(not np.array_equal(a, b) for a, b in zip(frames[:-1], frames[1:], strict=True))
    assert 4 <= written < len(xs)
    _assert_same_gif(tmp_path / "streamed.gif", tmp_path / "pillow.gif")


def _noise_frames(n: int, size: int = 64):
    """Frames of 256-colour noise (LZW cannot shrink them much: each adds kilobytes to the file)."""
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    for _ in range(n):
        yield colours[rng.integers(0, 256, (size, size))]


def test_write_gif_writes_as_the_frames_come(tmp_path):
    import weakref

    sizes, alive, refs = [], [], []

    def frames():
        for frame in _noise_frames(40):
            temp = [p for p in tmp_path.iterdir() if p.name.startswith(".episode.gif.")]
            sizes.append(temp[0].stat().st_size if temp else 0)
            refs.append(weakref.ref(frame))
            alive.append(sum(r() is not None for r in refs))
            yield frame
            del frame

    assert render.write_gif(frames(), tmp_path / "episode.gif") == 40
    # the file grows while frames are still coming (Pillow's save_all writes nothing before the last)
    assert sizes[0] == 0 and 0 < sizes[20] < sizes[-1]
    assert max(alive) <= 2  # the writer holds no more than the frame before (and a copy of it)
    assert os.listdir(tmp_path) == ["episode.gif"]


def test_write_gif_keeps_the_old_file_when_the_frames_fail(tmp_path):
    path = tmp_path / "episode.gif"
    render.write_gif(_distinct_frames(2), path)
    before = path.read_bytes()

    def failing():
        yield from _distinct_frames(3)
        raise RuntimeError("the episode broke")

    with pytest.raises(RuntimeError, match="broke"):
        render.write_gif(failing(), path)
    assert os.listdir(tmp_path) == ["episode.gif"] and path.read_bytes() == before


def test_iter_frames_draws_lazily_in_bounded_batches(monkeypatch):
    calls = []

    def fake_draw(states, params):
        calls.append(np.asarray(states["x"]).copy())
        return np.asarray(states["x"], np.uint8)[:, None, None, None] * np.ones((1, 2, 4, 3), np.uint8)

    monkeypatch.setattr(render, "_batched_renderer", lambda env_name: fake_draw)
    states = {"x": np.arange(10, dtype=np.int32)}
    it = render.iter_frames("CartPole-v1", states, params="unused", batch_size=4)
    assert calls == []  # nothing drawn before a frame is taken
    first = next(it)
    assert len(calls) == 1
    got = [first, *[next(it) for _ in range(3)]]
    assert len(calls) == 1  # the first batch's four frames
    got.append(next(it))
    assert len(calls) == 2
    got.extend(it)
    assert [int(f[0, 0, 0]) for f in got] == list(range(10))
    assert all(f.shape == (2, 4, 3) and f.dtype == np.uint8 and f.base is None for f in got)  # no view of a batch
    assert [c.tolist() for c in calls] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 9, 9]]  # the last padded
    np.testing.assert_array_equal(render.frames("CartPole-v1", states, "unused", batch_size=4), np.stack(got))
    # bad arguments fail at the call, before anything is drawn
    calls.clear()
    with pytest.raises(ValueError, match="batch_size"):
        render.iter_frames("CartPole-v1", states, "unused", batch_size=0)
    with pytest.raises(ValueError, match="leading frame axis"):
        render.iter_frames("CartPole-v1", {"x": np.arange(3), "y": np.arange(4)}, "unused")
    assert calls == []


# --------------------------------------------------------------------------------------------
# Pendulum, Acrobot and MountainCar (gymnasium's classic-control pictures)
# --------------------------------------------------------------------------------------------

_SQ = 500  # Pendulum and Acrobot: 500 x 500, centre (250, 250)
_SQ_SCALE = _SQ / 4.4  # 113.6 px per unit (bound 2.2)
_ROD = (204, 77, 77)
_LINK = (0, 204, 204)
_JOINT = (204, 204, 0)
_BLACK = (0, 0, 0)
_MC_SCALE = 600 / 1.8  # MountainCar: 333.3 px per unit
_WHEEL = (128, 128, 128)
_FLAG = (204, 204, 0)


def _xy(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x right, y up from the bottom row) of a mask's pixels."""
    rows, cols = np.nonzero(mask)
    return cols, mask.shape[0] - 1 - rows


def _reset_state(name: str):
    env, params = envs.make(name)
    return params, env.reset_env(jax.random.key(0), params)[1]


@pytest.fixture(scope="module")
def pendulum():
    return _reset_state("Pendulum-v1")


@pytest.fixture(scope="module")
def acrobot():
    return _reset_state("Acrobot-v1")


def _pend(base, theta: float, u: float = 0.0):
    return base.replace(theta=jnp.float32(theta), last_u=jnp.float32(u))


def _acro(base, a1: float, a2: float):
    return base.replace(joint_angle1=jnp.float32(a1), joint_angle2=jnp.float32(a2))


def test_pendulum_rod_up_at_theta_zero_down_at_pi_left_at_half_pi(pendulum):
    params, base = pendulum
    up = np.asarray(render.render_pendulum(_pend(base, 0.0), params))
    assert up.shape == (_SQ, _SQ, 3) and up.dtype == np.uint8
    # theta = 0: the rod (length 113.6, rounded ends of radius 11) rises from the axle.
    x, y = _xy(_mask(up, _ROD))
    assert x.size > 2000
    assert np.abs(x - 250).max() <= 12
    assert y.min() >= 250 - 12  # nothing below the axle but its round end
    assert y.max() >= 250 + 113  # the tip reaches 1 unit up
    assert _mask(up, _BLACK)[_SQ - 1 - 250, 250]  # axle disc at the centre
    # theta = pi: the same rod pointing down.
    x, y = _xy(_mask(render.render_pendulum(_pend(base, math.pi), params), _ROD))
    assert np.abs(x - 250).max() <= 12 and y.max() <= 250 + 12 and y.min() <= 250 - 113
    # theta = pi / 2: gymnasium's angle is counter-clockwise (theta + pi/2 from the x axis):
    # the rod points left.
    x, y = _xy(_mask(render.render_pendulum(_pend(base, math.pi / 2), params), _ROD))
    assert np.abs(y - 250).max() <= 12 and x.max() <= 250 + 12 and x.min() <= 250 - 113


def test_pendulum_torque_arrow(pendulum):
    params, base = pendulum
    black = {u: _mask(render.render_pendulum(_pend(base, math.pi, u), params), _BLACK) for u in (0.0, -1.5, 1.5)}
    # No torque: only the axle, a disc of radius int(0.05 * 113.6) = 5 (81 lattice points).
    assert black[0.0].sum() == 81
    x, y = _xy(black[-1.5])
    # The arrow scales with |u|: a ring of radius 0.45 * size, size = 113.6 * 1.5 / 2 = 85.2
    # (38 px), its arrowhead 0.08 * size (7 px) to either side of it.
    size = _SQ_SCALE * 0.75
    r = np.hypot(x - 250, y - 250)
    assert x.size > 200 and r.max() <= 0.53 * size + 1
    assert ((r > 0.45 * size - 2) & (r < 0.45 * size + 2)).sum() > 150
    # u < 0: clockwise, gymnasium's bitmap as is: open in the upper-left quadrant (above the
    # arrowhead, which rises 0.18 * size = 15 px at 9 o'clock).
    upper_left = (x < 244) & (y > 270)
    upper_right = (x > 256) & (y > 270)
    head = (np.abs(x - (250 - 0.45 * size)) <= 3) & (y > 256) & (y < 264)
    assert head.sum() >= 10
    assert not upper_left.any() and upper_right.sum() > 20
    # u > 0: the mirror image about the axle's column.
    np.testing.assert_array_equal(black[1.5][:, 1:], black[-1.5][:, 1:][:, ::-1])


def test_acrobot_hangs_straight_down_at_zero(acrobot):
    params, base = acrobot
    img = np.asarray(render.render_acrobot(_acro(base, 0.0, 0.0), params))
    assert img.shape == (_SQ, _SQ, 3) and img.dtype == np.uint8
    # Two links of 113.6 px, 22.7 px wide, hanging below the pivot at (250, 250).
    x, y = _xy(_mask(img, _LINK))
    assert x.size > 3000
    assert np.abs(x - 250).max() <= 12
    assert y.max() <= 251 and 22 <= y.min() <= 24  # down to 250 - 2 * 113.6 = 22.7
    # Joints: the pivot and the elbow one unit below it (int(250 - 113.6) = 136).
    joints = _mask(img, _JOINT)
    assert joints[_SQ - 1 - 250, 250] and joints[_SQ - 1 - 136, 250]
    assert not joints[_SQ - 1 - 193, 250]  # mid-link is link colour
    # The goal line at height 1 (y = int(250 + 113.6) = 363) across the whole width, and
    # nothing else black.
    black = _mask(img, _BLACK)
    assert black[_SQ - 1 - 363].all() and black.sum() == _SQ


def test_acrobot_angles_turn_the_links(acrobot):
    params, base = acrobot
    # a1 = pi/2: the first link turns counter-clockwise to point right; a2 = 0 keeps the
    # second in line, so the arm lies along y = 250 from x = 250 to 250 + 227.
    x, y = _xy(_mask(render.render_acrobot(_acro(base, math.pi / 2, 0.0), params), _LINK))
    assert np.abs(y - 250).max() <= 12 and x.min() >= 249 and 475 <= x.max() <= 479
    # a1 = 0, a2 = pi/2: the first link hangs down, the second points right from the elbow.
    x, y = _xy(_mask(render.render_acrobot(_acro(base, 0.0, math.pi / 2), params), _LINK))
    right = x > 262
    assert right.sum() > 1000 and np.abs(y[right] - 136.4).max() <= 12
    assert 361 <= x.max() <= 365  # 250 + 113.6
    # a1 = pi: straight up, the tip above the goal line (y = 363).
    x, y = _xy(_mask(render.render_acrobot(_acro(base, math.pi, 0.0), params), _LINK))
    assert y.max() >= 476 and (y > 363).sum() > 1000


def test_mountain_car_moves_right_with_position():
    params, base = _reset_state("MountainCar-v0")
    centres = []
    for pos in (-1.0, -0.5, 0.0, 0.4):
        img = np.asarray(render.render_mountain_car(base.replace(position=jnp.float32(pos)), params))
        assert img.shape == (400, 600, 3) and img.dtype == np.uint8
        # The wheels (grey) sit on the car's base, 10 px above the hill at `position`.
        x, y = _xy(_mask(img, _WHEEL))
        assert x.size > 300
        cx = (pos + 1.2) * _MC_SCALE
        cy = 10 + (math.sin(3 * pos) * 0.45 + 0.55) * _MC_SCALE
        assert abs(x.mean() - cx) <= 2 and abs(y.mean() - cy) <= 2
        # The black body: 40 x 20 px above the wheels' centre, round the same point.
        bx, by = _xy(_mask(img, _BLACK))
        near = (np.abs(bx - cx) <= 30) & (by >= cy - 30) & (by <= cy + 30)
        assert near.sum() > 500
        centres.append(x.mean())
    assert np.all(np.diff(centres) > 100)


@pytest.mark.parametrize("name, flag_x, goal", [("MountainCar-v0", 566, 0.5),
                                                ("MountainCarContinuous-v0", 550, 0.45)])
def test_mountain_car_flag_at_goal_and_hill(name, flag_x, goal):
    params, base = _reset_state(name)
    img = np.asarray(render.renderer(name)(base.replace(position=jnp.float32(-0.5)), params))
    # Flag pole: column int((goal + 1.2) * 333.3) from the hill up 50 px; the pennant is a
    # 25 px triangle to its right in its top 10 px.
    hill_y = int((math.sin(3 * goal) * 0.45 + 0.55) * _MC_SCALE)
    x, y = _xy(_mask(img, _FLAG))
    assert x.min() == flag_x and flag_x + 23 <= x.max() <= flag_x + 25
    assert y.min() >= hill_y + 40 and y.max() <= hill_y + 50
    # (the pennant, drawn last, covers the pole's top 11 px)
    pole = _mask(img, _BLACK)[:, flag_x]
    assert pole[_H - 1 - hill_y - 39 : _H - 1 - hill_y + 1].all() and not pole[_H - 1 - hill_y - 45]
    assert _mask(img, _FLAG)[_H - 1 - hill_y - 45, flag_x]
    # The hill: a black curve with a pixel in every column, lowest at the valley
    # x = -pi/6 (column 225.5), y = 0.1 * 333.3 = 33.
    bx, by = _xy(_mask(img, _BLACK))
    assert set(bx.tolist()) == set(range(600))
    bottom = bx[by == by.min()]
    assert by.min() == 33 and abs(bottom.mean() - 225.5) <= 2


_NEW = [
    ("Pendulum-v1", "theta", [0.0, 1.0, -2.5], (_SQ, _SQ)),
    ("Acrobot-v1", "joint_angle1", [0.0, 0.7, -2.0], (_SQ, _SQ)),
    ("MountainCar-v0", "position", [-1.1, -0.5, 0.5], (400, 600)),
    ("MountainCarContinuous-v0", "position", [-1.1, -0.5, 0.45], (400, 600)),
]


@pytest.mark.parametrize("name, field, values, size", _NEW)
def test_new_renderers_jit_and_vmap_match_eager(name, field, values, size):
    params, base = _reset_state(name)
    draw = render.renderer(name)
    assert name in render.supported()
    states = [base.replace(**{field: jnp.float32(v)}) for v in values]
    batch = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
    eager = [np.asarray(draw(s, params)) for s in states]
    jitted = jax.jit(draw)
    vmapped = np.asarray(jax.jit(jax.vmap(draw, in_axes=(0, None)))(batch, params))
    assert vmapped.shape == (3, *size, 3) and vmapped.dtype == np.uint8
    for i in range(3):
        np.testing.assert_array_equal(np.asarray(jitted(states[i], params)), eager[i])
        np.testing.assert_array_equal(vmapped[i], eager[i])
    assert not np.array_equal(eager[0], eager[1]) and not np.array_equal(eager[1], eager[2])
    np.testing.assert_array_equal(render.frames(name, batch, params, batch_size=2), vmapped)


# --------------------------------------------------------------------------------------------
# play_episode with a Gaussian head
# --------------------------------------------------------------------------------------------


def _constant_gaussian(params, obs):
    del obs
    return jnp.concatenate([params["mean"], params["log_std"]])


@pytest.mark.parametrize("squash, torque", [("clip", 0.5), ("tanh", 2 * math.tanh(0.5))])
def test_play_episode_gaussian_greedy_maps_the_mean_into_the_bounds(squash, torque):
    dist = policies.Gaussian(1, (-2.0,), (2.0,), squash)
    params = {"mean": jnp.asarray([0.5]), "log_std": jnp.asarray([0.0])}
    states, length = render.play_episode(jax.random.key(0), "Pendulum-v1", _constant_gaussian, params, 6,
                                         greedy=True, dist=dist)
    assert length == 6
    # Greedy plays the mean 0.5; the env receives dist.to_env(0.5), as in training.
    np.testing.assert_allclose(np.asarray(states.last_u), [0.0] + [torque] * 6, rtol=1e-6)


def test_play_episode_gaussian_matches_manual_stepping():
    env, env_params = envs.make("Pendulum-v1")
    policy = policies.mlp_policy((8,), action_space=env.action_space(env_params),
                                 gaussian=policies.GaussianOptions(log_std_init=0.5))
    params = policy.init(jax.random.key(1), jnp.zeros(3))
    key = jax.random.key(5)
    states, length = render.play_episode(key, "Pendulum-v1", policy.apply, params, 12, dist=policy.dist)
    assert length == 12 and states.theta.shape == (13,)
    key, reset_key = jax.random.split(key)
    obs, state = env.reset_env(reset_key, env_params)
    thetas, torques = [state.theta], [state.last_u]
    for _ in range(12):
        key, act_key, step_key = jax.random.split(key, 3)
        u = policy.dist.sample(act_key, policy.apply(params, obs))
        obs, state, _, _, _ = env.step_env(step_key, state, policy.dist.to_env(u), env_params)
        thetas.append(state.theta)
        torques.append(state.last_u)
    np.testing.assert_allclose(np.asarray(states.theta), np.asarray(thetas), atol=1e-5)
    np.testing.assert_allclose(np.asarray(states.last_u), np.asarray(torques), atol=1e-5)
    assert len(np.unique(np.asarray(states.last_u[1:]))) >= 10  # sampled: a new torque each step
    assert np.abs(np.asarray(states.last_u)).max() <= 2.0
    images = render.frames("Pendulum-v1", states)
    assert images.shape == (13, _SQ, _SQ, 3)


def test_play_episode_head_must_fit_the_action_space(tiny_policy):
    policy, params = tiny_policy
    with pytest.raises(ValueError, match="continuous action space.*dist=policy.dist"):
        render.play_episode(jax.random.key(0), "Pendulum-v1", policy.apply, params, 5)
    with pytest.raises(ValueError, match="discrete action space"):
        render.play_episode(jax.random.key(0), "CartPole-v1", policy.apply, params, 5,
                            dist=policies.Gaussian(1, (-1.0,), (1.0,)))


@pytest.mark.slow
def test_cli_renders_a_trained_pendulum_policy(tmp_path, capsys):
    from jaxpg.cli import main

    run = tmp_path / "run"
    assert main(["train", "--env", "Pendulum-v1", "--seeds", "1", "--num-envs", "2", "--updates", "1",
                 "--hidden", "8", "--eval-episodes", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    gif = run / "p.gif"
    assert main(["render", str(run), "--out", str(gif), "--max-frames", "10"]) == 0
    assert "10 steps, 11 frames (500x500)" in capsys.readouterr().out
    with Image.open(gif) as im:
        assert im.size == (_SQ, _SQ) and im.n_frames == 11
        im.seek(5)
        frame = np.asarray(im.convert("RGB"))
    assert _mask(frame, _ROD).sum() > 2000


@pytest.mark.slow
def test_cli_render_prints_the_frames_the_gif_holds(normed_run, tmp_path, capsys, monkeypatch):
    import re

    from jaxpg.cli import main

    gif = tmp_path / "real.gif"
    assert main(["render", str(normed_run), "--out", str(gif), "--max-frames", "40"]) == 0
    out = capsys.readouterr().out
    steps, written = map(int, re.search(r"(\d+) steps, (\d+) frames \(600x400\)", out).groups())
    with Image.open(gif) as im:
        assert im.n_frames == written <= steps + 1
    # an episode whose cart stands still for a while: its GIF holds fewer frames than states, and says so
    real_play = render.play_episode

    def still_play(*args, **kwargs):
        states, _ = real_play(*args, **kwargs)
        return jax.tree.map(lambda a: jnp.concatenate([a[:3], jnp.repeat(a[3:4], 5, axis=0), a[3:5]]), states), 9

    monkeypatch.setattr(render, "play_episode", still_play)
    assert main(["render", str(normed_run), "--out", str(gif), "--max-frames", "40"]) == 0
    out = capsys.readouterr().out
    with Image.open(gif) as im:
        n = im.n_frames
    assert n <= 6  # 3 + 1 + 2 at most: the five copies of state 3 are one frame
    assert f"9 steps, {n} frames (600x400) from 10 states (identical consecutive frames merged)" in out
