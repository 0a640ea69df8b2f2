"""Classic-control environment states drawn like gymnasium's ``render()`` (pure JAX).

:func:`render_cartpole`, :func:`render_acrobot`, :func:`render_pendulum` and
:func:`render_mountain_car` draw a state like gymnasium's classic-control ``render()``
(``render_mode="rgb_array"``) does, rasterised in pure JAX (``jit``/``vmap``-able). They are
re-exported by ``jaxpg.render``, which picks one per environment name (``renderer``) and plays
and writes episodes; Pixelcopter draws itself (``jaxpg.envs.pixelcopter.render``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["render_cartpole", "render_acrobot", "render_pendulum", "render_mountain_car", "check_size"]

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


def check_size(name: str, value: Any) -> int:
    """``value`` as an int after checking it is a positive int (a ValueError naming ``name``)."""
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
    width = check_size("width", width)
    height = check_size("height", height)
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


# --------------------------------------------------------------------------------------------
# Shared rasterising helpers (y up, pixel (row r, column c) is the point (c, height - 1 - r))
# --------------------------------------------------------------------------------------------


def _grid(width: int, height: int) -> tuple[jax.Array, jax.Array]:
    """Pixel coordinates: ``px`` [1, W] (x to the right), ``py`` [H, 1] (y up from the bottom row)."""
    f32 = jnp.float32
    px = jnp.arange(width, dtype=f32)[None, :]
    py = (f32(height - 1) - jnp.arange(height, dtype=f32))[:, None]
    return px, py


def _rotated_rect(px, py, ox, oy, angle, left, right, bottom, top) -> jax.Array:
    """Mask of the rectangle ``[left, right] x [bottom, top]`` rotated counter-clockwise by
    ``angle`` (pygame's ``Vector2.rotate_rad`` on a y-up surface) and moved to ``(ox, oy)``:
    a pixel is inside when its offset from ``(ox, oy)``, rotated back by ``angle``, is."""
    dx, dy = px - ox, py - oy
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    u = dx * cos + dy * sin
    v = dy * cos - dx * sin
    return (u >= left) & (u <= right) & (v >= bottom) & (v <= top)


def _disc(px, py, cx, cy, radius) -> jax.Array:
    """Mask of the filled circle of ``radius`` about ``(cx, cy)`` (gfxdraw.filled_circle)."""
    return (px - cx) ** 2 + (py - cy) ** 2 <= jnp.square(radius)


def _full(mask: jax.Array, width: int, height: int) -> jax.Array:
    return jnp.broadcast_to(mask, (height, width))


# --------------------------------------------------------------------------------------------
# Acrobot, after gymnasium's AcrobotEnv.render
# --------------------------------------------------------------------------------------------

_ACROBOT_LINK = (0, 204, 204)
_ACROBOT_JOINT = (204, 204, 0)
_BLACK = (0, 0, 0)


def render_acrobot(state: Any, params: Any, width: int = 500, height: int = 500) -> jax.Array:
    """Draws an Acrobot state like gymnasium's ``AcrobotEnv.render`` (pure JAX).

    Geometry (gymnasium's, y up): ``bound = link_length_1 + link_length_2 + 0.2`` (2.2 at the
    defaults), ``scale = min(width, height) / (2 * bound)`` (113.6 px per unit at 500 x 500),
    the pivot at the image centre. The first link hangs from the pivot at angle
    ``joint_angle1`` from straight down (positive = counter-clockwise, towards the right), the
    second from the elbow ``pivot + scale * link_length_1 * (sin a1, -cos a1)`` at
    ``joint_angle1 + joint_angle2``. Each link is a rectangle ``0.2 * scale`` wide in
    (0, 204, 204) and each joint (pivot, elbow) a disc of radius ``int(0.1 * scale)`` in
    (204, 204, 0) at integer coordinates; a 1 px black line at height 1 above the pivot (the
    goal: the episode ends when the tip rises above it) spans ``±bound * scale``; the
    background is white. Drawing order: goal line, then link 1, pivot, link 2, elbow.

    Works unbatched; ``jax.jit`` and ``jax.vmap`` (over states, ``in_axes=(0, None)``)
    apply directly. ``width`` and ``height`` must be static.

    Args:
      state: a gymnax Acrobot ``EnvState`` (uses ``joint_angle1`` and ``joint_angle2``).
      params: the Acrobot ``EnvParams`` (uses ``link_length_1`` and ``link_length_2``).
      width: image width in pixels (static positive int).
      height: image height in pixels (static positive int).

    Returns:
      uint8 [height, width, 3] RGB image.

    Raises:
      ValueError: if ``width`` or ``height`` is not a positive int.
    """
    width = check_size("width", width)
    height = check_size("height", height)
    f32 = jnp.float32
    len1 = jnp.asarray(params.link_length_1, f32)
    len2 = jnp.asarray(params.link_length_2, f32)
    bound = len1 + len2 + f32(0.2)
    scale = f32(min(width, height)) / (f32(2.0) * bound)
    ox, oy = f32(width / 2.0), f32(height / 2.0)
    a1 = jnp.asarray(state.joint_angle1, f32)
    a2 = jnp.asarray(state.joint_angle2, f32)
    px, py = _grid(width, height)

    goal_y = jnp.trunc(oy + scale)
    goal = (py == goal_y) & (jnp.abs(px - ox) <= bound * scale)
    half = f32(0.1) * scale
    radius = jnp.trunc(half)
    elbow_x = ox + len1 * jnp.sin(a1) * scale
    elbow_y = oy - len1 * jnp.cos(a1) * scale
    links = [
        (ox, oy, a1 - f32(np.pi / 2), len1 * scale),
        (elbow_x, elbow_y, a1 + a2 - f32(np.pi / 2), len2 * scale),
    ]
    img = jnp.full((height, width, 3), 255, jnp.uint8)
    img = _paint(img, _full(goal, width, height), _BLACK)
    for x, y, angle, length in links:
        img = _paint(img, _rotated_rect(px, py, x, y, angle, f32(0.0), length, -half, half), _ACROBOT_LINK)
        img = _paint(img, _disc(px, py, jnp.trunc(x), jnp.trunc(y), radius), _ACROBOT_JOINT)
    return img


# --------------------------------------------------------------------------------------------
# Pendulum, after gymnasium's PendulumEnv.render
# --------------------------------------------------------------------------------------------

_PENDULUM_ROD = (204, 77, 77)


def render_pendulum(state: Any, params: Any = None, width: int = 500, height: int = 500) -> jax.Array:
    """Draws a Pendulum state like gymnasium's ``PendulumEnv.render`` (pure JAX).

    Geometry (gymnasium's, y up): ``scale = min(width, height) / 4.4`` (113.6 px per unit at
    500 x 500), the axle at ``(width // 2, height // 2)``. The rod is a rectangle of length
    ``scale`` and width ``0.2 * scale`` in (204, 77, 77) from the axle at angle
    ``theta + pi / 2`` counter-clockwise from the x axis, so it points straight up at
    ``theta = 0`` and down at ``theta = pi``; both its ends are rounded by discs of radius
    ``int(0.1 * scale)`` of its colour. The last torque ``last_u`` is shown as gymnasium's
    curved arrow (a black three-quarter circle of radius ~ ``scale * |u| / 4`` with an
    arrowhead, clockwise for ``u < 0``, counter-clockwise for ``u > 0``, absent for
    ``u = 0``), drawn here as an arc and a triangle rather than the scaled bitmap. The axle
    is a black disc of radius ``int(0.05 * scale)``; the background is white.

    Works unbatched; ``jax.jit`` and ``jax.vmap`` (over states, ``in_axes=(0, None)``)
    apply directly. ``width`` and ``height`` must be static.

    Args:
      state: a gymnax Pendulum ``EnvState`` (uses ``theta`` and ``last_u``).
      params: the Pendulum ``EnvParams`` (unused: gymnasium draws a rod of length 1).
      width: image width in pixels (static positive int).
      height: image height in pixels (static positive int).

    Returns:
      uint8 [height, width, 3] RGB image.

    Raises:
      ValueError: if ``width`` or ``height`` is not a positive int.
    """
    del params
    width = check_size("width", width)
    height = check_size("height", height)
    f32 = jnp.float32
    scale = f32(min(width, height) / 4.4)
    ox, oy = f32(width // 2), f32(height // 2)
    angle = jnp.asarray(state.theta, f32) + f32(np.pi / 2)
    u = jnp.asarray(state.last_u, f32).reshape(())
    px, py = _grid(width, height)

    rod_len = scale
    half = f32(0.1) * scale
    radius = jnp.trunc(half)
    rod = _rotated_rect(px, py, ox, oy, angle, f32(0.0), rod_len, -half, half)
    end_x = jnp.trunc(ox + rod_len * jnp.cos(angle))
    end_y = jnp.trunc(oy + rod_len * jnp.sin(angle))
    rod = rod | _disc(px, py, ox, oy, radius) | _disc(px, py, end_x, end_y, radius)

    # The torque arrow: gymnasium blits assets/clockwise.png scaled to scale * |u| / 2 square,
    # mirrored left-right when u > 0. The bitmap is a ring (radius ~0.47 of its size, ~3 %
    # thick) open in the quadrant between 12 and 9 o'clock, with an arrowhead at 9 o'clock
    # pointing up (clockwise motion). `s` is x mirrored for u > 0.
    size = scale * jnp.abs(u) / f32(2.0)
    dx, dy = px - ox, py - oy
    s = jnp.where(u > 0, -dx, dx)
    ring_r = f32(0.45) * size
    ring = (jnp.abs(jnp.sqrt(dx**2 + dy**2) - ring_r) <= jnp.maximum(f32(0.02) * size, f32(0.5)))
    ring = ring & ~((s < 0) & (dy > 0))
    head_w, head_h = f32(0.08) * size, f32(0.18) * size
    head = (dy >= 0) & (dy <= head_h) & (jnp.abs(s + ring_r) <= head_w * (f32(1.0) - dy / jnp.maximum(head_h, 1e-6)))
    arrow = (ring | head) & (size >= f32(2.0))

    img = jnp.full((height, width, 3), 255, jnp.uint8)
    img = _paint(img, rod, _PENDULUM_ROD)
    img = _paint(img, arrow, _BLACK)
    return _paint(img, _disc(px, py, ox, oy, jnp.trunc(f32(0.05) * scale)), _BLACK)


# --------------------------------------------------------------------------------------------
# MountainCar (discrete and continuous), after gymnasium's MountainCarEnv.render
# --------------------------------------------------------------------------------------------

_CAR_W, _CAR_H, _CLEARANCE = 40.0, 20.0, 10.0
_WHEEL_RADIUS = float(int(_CAR_H / 2.5))
_WHEEL_COLOUR = (128, 128, 128)
_FLAG_COLOUR = (204, 204, 0)
_FLAG_POLE = 50.0


def _hill(x: jax.Array) -> jax.Array:
    return jnp.sin(3.0 * x) * 0.45 + 0.55


def render_mountain_car(state: Any, params: Any, width: int = 600, height: int = 400) -> jax.Array:
    """Draws a MountainCar(-Continuous) state like gymnasium's ``render`` (pure JAX).

    Geometry (gymnasium's, y up): ``scale = width / (max_position - min_position)``
    (333.3 px per unit at 600 px), world ``x`` at column ``(x - min_position) * scale`` and
    height ``y`` at ``y * scale``. The hill ``y = sin(3x) * 0.45 + 0.55`` is a ~1 px black
    curve; the car is a black 40 x 20 px rectangle standing on the point ``clearance = 10``
    px above the hill at ``position``, tilted counter-clockwise by ``cos(3 * position)``
    radians (gymnasium's tilt, which follows the slope ``1.35 cos(3x)``), with two grey
    (128, 128, 128) wheels of radius 8 at ``±10`` px along its base; the goal flag is a
    black 50 px vertical pole at column ``int((goal_position - min_position) * scale)``
    from the hill up, with a (204, 204, 0) triangular pennant at its top pointing right.
    ``goal_position`` comes from ``params`` (0.5 for MountainCar-v0, 0.45 for
    MountainCarContinuous-v0). Drawing order: hill, car, wheels, pole, pennant.

    Works unbatched; ``jax.jit`` and ``jax.vmap`` (over states, ``in_axes=(0, None)``)
    apply directly. ``width`` and ``height`` must be static.

    Args:
      state: a gymnax MountainCar or ContinuousMountainCar ``EnvState`` (uses ``position``).
      params: its ``EnvParams`` (uses ``min_position``, ``max_position``, ``goal_position``).
      width: image width in pixels (static positive int).
      height: image height in pixels (static positive int).

    Returns:
      uint8 [height, width, 3] RGB image.

    Raises:
      ValueError: if ``width`` or ``height`` is not a positive int.
    """
    width = check_size("width", width)
    height = check_size("height", height)
    f32 = jnp.float32
    lo = jnp.asarray(params.min_position, f32)
    hi = jnp.asarray(params.max_position, f32)
    goal = jnp.asarray(params.goal_position, f32)
    pos = jnp.asarray(state.position, f32)
    scale = f32(width) / (hi - lo)
    px, py = _grid(width, height)

    # Hill: a band about the curve, half a pixel thick across it (wider vertically where it
    # is steep, so it has no gaps).
    xw = px / scale + lo
    slope = f32(1.35) * jnp.cos(f32(3.0) * xw)
    hill = (jnp.abs(py - _hill(xw) * scale) <= f32(0.5) * jnp.sqrt(f32(1.0) + slope**2)) & (px <= (hi - lo) * scale)

    tilt = jnp.cos(f32(3.0) * pos)
    cx = (pos - lo) * scale
    cy = f32(_CLEARANCE) + _hill(pos) * scale
    car = _rotated_rect(px, py, cx, cy, tilt, f32(-_CAR_W / 2), f32(_CAR_W / 2), f32(0.0), f32(_CAR_H))
    cos, sin = jnp.cos(tilt), jnp.sin(tilt)
    wheels = jnp.zeros((height, width), bool)
    for along in (_CAR_W / 4, -_CAR_W / 4):
        wx = jnp.trunc(cx + f32(along) * cos)
        wy = jnp.trunc(cy + f32(along) * sin)
        wheels = wheels | _disc(px, py, wx, wy, f32(_WHEEL_RADIUS))

    flag_x = jnp.trunc((goal - lo) * scale)
    flag_y1 = jnp.trunc(_hill(goal) * scale)
    flag_y2 = flag_y1 + f32(_FLAG_POLE)
    pole = (px == flag_x) & (py >= flag_y1) & (py <= flag_y2)
    # Pennant: the triangle (x, y2), (x, y2 - 10), (x + 25, y2 - 5).
    t = (px - flag_x) / f32(25.0)
    pennant = (t >= 0) & (t <= 1) & (py <= flag_y2 - f32(5.0) * t) & (py >= flag_y2 - f32(10.0) + f32(5.0) * t)

    img = jnp.full((height, width, 3), 255, jnp.uint8)
    img = _paint(img, _full(hill, width, height), _BLACK)
    img = _paint(img, car, _BLACK)
    img = _paint(img, wheels, _WHEEL_COLOUR)
    img = _paint(img, _full(pole, width, height), _BLACK)
    return _paint(img, _full(pennant, width, height), _FLAG_COLOUR)
