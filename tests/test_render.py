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
        render.renderer("Acrobot-v1")
    assert "Acrobot-v1" in str(info.value) and "CartPole-v1" in str(info.value)
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
        render.frames("Acrobot-v1", states)


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
    render.write_gif(list(frames), path, fps=20)
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
    with pytest.raises(RuntimeError, match=r"imageio\[ffmpeg\]"):
        render.write_mp4(_distinct_frames(), tmp_path / "x.mp4")
    assert os.listdir(tmp_path) == []
