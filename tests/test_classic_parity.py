"""Every classic-control env ``jaxpg.envs.make`` serves, stepped against gymnasium's from the same states.

For each env: random states inside the observation bounds plus states at and next to the
walls, velocity limits and termination thresholds, random and extreme actions, and for each
(state, action) the next state, observation, reward and ``terminated`` of jaxpg's env
(float32, one jitted vmapped ``step_env``) against gymnasium's (float64, ``env.unwrapped``
with its state set by hand). Termination is not compared where the reference's next state
lies within float32 rounding of a threshold (the two sides may then round to opposite sides;
those cases are counted and must stay rare).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpg import envs

PI = np.pi
N = 1500  # transitions per env
RTOL = 1e-5
SLACK = 1e-5  # a next state this close to a termination threshold is "on" it for float32


@dataclasses.dataclass(frozen=True)
class Spec:
    """How to draw states/actions for one env and translate them between gymnax and gymnasium."""

    low: tuple[float, ...]  # uniform draws of the state vector
    high: tuple[float, ...]
    extremes: tuple[tuple[float, ...], ...]  # per component: values at/next to bounds and thresholds
    actions: Callable[[np.random.Generator, int], np.ndarray]
    to_gymnax: Callable[[np.ndarray], object]  # [n, d] float32 -> gymnax EnvState batch
    from_gymnax: Callable[[object], np.ndarray]  # gymnax EnvState batch -> [n, d]
    terminated: Callable[[np.ndarray, float], bool]  # reference next state, slack (+: strict side)
    scale: tuple[float, ...]  # per-component magnitude for the absolute tolerance
    angles: tuple[int, ...] = ()  # components compared modulo 2*pi
    hot: tuple[tuple[float, ...], tuple[float, ...]] | None = None  # extra region drawn often
    reward_from_terminal: bool = True  # compare the reward of steps that start in a terminal state
    atol: float = 1e-5  # absolute tolerance on the next state, as a fraction of ``scale``


def _state(module: str, fields: tuple[str, ...], **extra):
    def to_gymnax(s):
        cls = __import__(f"gymnax.environments.classic_control.{module}", fromlist=["EnvState"]).EnvState
        kw = {f: jnp.asarray(s[:, i], jnp.float32) for i, f in enumerate(fields)}
        kw.update({k: jnp.broadcast_to(jnp.asarray(v), (len(s),)) for k, v in extra.items()})
        return cls(**kw, time=jnp.zeros(len(s), jnp.int32))

    def from_gymnax(st):
        return np.stack([np.asarray(getattr(st, f), np.float64) for f in fields], 1)

    return to_gymnax, from_gymnax


def _discrete(n):
    return lambda rng, size: rng.integers(0, n, size)


def _box(bound, extremes):
    def draw(rng, size):
        a = rng.uniform(-bound, bound, size)
        pick = rng.random(size) < 0.3
        a[pick] = rng.choice(extremes, pick.sum())
        return a[:, None].astype(np.float32)

    return draw


TH = 12 * 2 * PI / 360  # CartPole's pole-angle threshold

SPECS = {
    "CartPole-v1": Spec(
        low=(-2.4, -3.0, -TH, -3.5), high=(2.4, 3.0, TH, 3.5),
        extremes=((-4.8, -2.4, -2.39, 2.39, 2.4, 4.8), (-3.0, 0.0, 3.0),
                  (-0.4189, -TH, -TH + 1e-3, TH - 1e-3, TH, 0.4189), (-3.5, 0.0, 3.5)),
        actions=_discrete(2),
        to_gymnax=_state("cartpole", ("x", "x_dot", "theta", "theta_dot"))[0],
        from_gymnax=_state("cartpole", ("x", "x_dot", "theta", "theta_dot"))[1],
        terminated=lambda s, e: bool(abs(s[0]) > 2.4 + e or abs(s[2]) > TH + e),
        scale=(2.4, 3.0, TH, 3.5),
        # gymnasium does not know a hand-set state was already terminal and pays 1.0 for the
        # step after it (then 0.0, with a warning, for any later one); gymnax pays 0.0 right away.
        # Stepping on from a terminal state is undefined in gymnasium, so those rewards are skipped.
        reward_from_terminal=False,
    ),
    "Acrobot-v1": Spec(
        low=(-PI, -PI, -4 * PI, -9 * PI), high=(PI, PI, 4 * PI, 9 * PI),
        extremes=((-PI, 0.0, PI), (-PI, 0.0, PI), (-4 * PI, 0.0, 4 * PI), (-9 * PI, 0.0, 9 * PI)),
        actions=_discrete(3),
        to_gymnax=_state("acrobot", ("joint_angle1", "joint_angle2", "velocity_1", "velocity_2"))[0],
        from_gymnax=_state("acrobot", ("joint_angle1", "joint_angle2", "velocity_1", "velocity_2"))[1],
        terminated=lambda s, e: bool(-np.cos(s[0]) - np.cos(s[1] + s[0]) > 1.0 + e),
        scale=(PI, PI, 4 * PI, 9 * PI),
        angles=(0, 1),
        # float32 RK4 at up to 9*pi rad/s: 99% of draws agree to 1e-6 of the range, the worst few
        # to ~1e-4 on the second joint's velocity (gymnax in float64 matches gymnasium to 1e-12)
        atol=3e-4,
    ),
    "Pendulum-v1": Spec(
        low=(-PI, -8.0), high=(PI, 8.0),
        extremes=((-2 * PI, -PI, 0.0, PI, 2 * PI), (-8.0, -7.99, 0.0, 7.99, 8.0)),
        actions=_box(2.0, (-3.0, -2.0, 0.0, 2.0, 3.0)),
        to_gymnax=_state("pendulum", ("theta", "theta_dot"), last_u=0.0)[0],
        from_gymnax=_state("pendulum", ("theta", "theta_dot"))[1],
        terminated=lambda s, e: False,
        scale=(PI, 8.0),
    ),
    "MountainCar-v0": Spec(
        low=(-1.2, -0.07), high=(0.6, 0.07),
        extremes=((-1.2, -1.199, -1.17, 0.499, 0.5, 0.6), (-0.07, -0.03, 0.0, 0.03, 0.07)),
        actions=_discrete(3),
        to_gymnax=_state("mountain_car", ("position", "velocity"))[0],
        from_gymnax=_state("mountain_car", ("position", "velocity"))[1],
        terminated=lambda s, e: bool(s[0] >= 0.5 + e and s[1] >= e),
        scale=(1.2, 0.07),
        hot=((-1.2, -0.07), (-1.1, 0.0)),  # next to the left wall, moving into it
    ),
    "MountainCarContinuous-v0": Spec(
        low=(-1.2, -0.07), high=(0.6, 0.07),
        extremes=((-1.2, -1.199, -1.1719, 0.449, 0.45, 0.6), (-0.07, -0.0322, 0.0, 0.03, 0.07)),
        actions=_box(1.0, (-1.5, -1.0, 0.0, 1.0, 1.5)),
        to_gymnax=_state("continuous_mountain_car", ("position", "velocity"))[0],
        from_gymnax=_state("continuous_mountain_car", ("position", "velocity"))[1],
        terminated=lambda s, e: bool(s[0] >= 0.45 + e and s[1] >= e),
        scale=(1.2, 0.07),
        hot=((-1.2, -0.07), (-1.1, 0.0)),
    ),
}


def _draw_states(spec: Spec, rng: np.random.Generator, n: int) -> np.ndarray:
    lo, hi = np.array(spec.low), np.array(spec.high)
    s = rng.uniform(lo, hi, (n, len(lo)))
    third = n // 3
    # rows [third, 2*third): each component replaced by one of its extremes with probability 1/2
    for i, ext in enumerate(spec.extremes):
        pick = rng.random(third) < 0.5
        s[third:2 * third][pick, i] = rng.choice(ext, pick.sum())
    if spec.hot is not None:  # rows [2*third, n): half of them from the hot region
        m = (n - 2 * third) // 2
        s[2 * third:2 * third + m] = rng.uniform(spec.hot[0], spec.hot[1], (m, len(lo)))
    return s.astype(np.float32)  # both sides start from the same float32 values


def _reference_step(ref, name: str, s: np.ndarray, a):
    """gymnasium's transition from the float32 state ``s``."""
    # gymnasium keeps MountainCarContinuous's state in float32, the others' in float64
    ref.state = s.copy() if name == "MountainCarContinuous-v0" else s.astype(np.float64)
    if name == "CartPole-v1":
        ref.steps_beyond_terminated = None
    action = int(a) if np.ndim(a) == 0 else np.asarray(a, np.float32)  # Discrete: int; Box: shape (1,)
    obs, r, term, trunc, _ = ref.step(action)
    assert not trunc  # the unwrapped env never truncates (the TimeLimit wrapper does)
    return np.asarray(ref.state, np.float64), np.asarray(obs, np.float64), float(r), bool(term)


def _jax_steps(name: str, states: np.ndarray, actions: np.ndarray, make=envs.make):
    env, params = make(name)
    step = jax.jit(jax.vmap(env.step_env, in_axes=(0, 0, 0, None)))
    keys = jax.random.split(jax.random.key(0), len(states))
    obs, nxt, rew, term, _ = step(keys, SPECS[name].to_gymnax(states), jnp.asarray(actions), params)
    return SPECS[name].from_gymnax(nxt), np.asarray(obs, np.float64), np.asarray(rew, np.float64), np.asarray(term)


def _mismatches(name: str, make=envs.make, n: int = N, seed: int = 0) -> tuple[list[str], int]:
    """Transitions where ``make(name)``'s env and gymnasium's disagree; and how many were on a threshold."""
    spec = SPECS[name]
    rng = np.random.default_rng(seed)
    states = _draw_states(spec, rng, n)
    actions = spec.actions(rng, n)
    j_next, j_obs, j_rew, j_term = _jax_steps(name, states, actions, make)
    ref = gymnasium.make(name).unwrapped
    ref.reset(seed=seed)
    scale = np.array(spec.scale)
    bad, on_threshold = [], 0
    for i in range(n):
        r_next, r_obs, r_rew, r_term = _reference_step(ref, name, states[i], actions[i])
        where = f"{name} state {states[i].tolist()} action {np.ravel(actions[i]).tolist()}"
        diff = j_next[i] - r_next
        for k in spec.angles:  # same angle modulo 2*pi (wrap puts exactly +pi at -pi)
            diff[k] = (diff[k] + PI) % (2 * PI) - PI
        if np.any(np.abs(diff) > RTOL * np.abs(r_next) + spec.atol * scale):
            bad.append(f"{where}: next state {j_next[i].tolist()} vs gymnasium {r_next.tolist()}")
            continue
        if not np.allclose(j_obs[i], r_obs, rtol=RTOL, atol=spec.atol * max(spec.scale)):
            bad.append(f"{where}: observation {j_obs[i].tolist()} vs gymnasium {r_obs.tolist()}")
            continue
        if spec.terminated(r_next, SLACK) != spec.terminated(r_next, -SLACK):
            on_threshold += 1  # float32 may round either way; termination and reward follow it
            continue
        if bool(j_term[i]) != r_term:
            bad.append(f"{where}: terminated {bool(j_term[i])} vs gymnasium {r_term}")
            continue
        starts_terminal = spec.terminated(states[i].astype(np.float64), 0.0)
        if (spec.reward_from_terminal or not starts_terminal) and not np.isclose(j_rew[i], r_rew, RTOL, 1e-5):
            bad.append(f"{where}: reward {j_rew[i]} vs gymnasium {r_rew}")
    return bad, on_threshold


@pytest.mark.parametrize("name", list(SPECS))
def test_transitions_match_gymnasium(name):
    bad, on_threshold = _mismatches(name)
    assert not bad, f"{len(bad)} of {N} transitions differ from gymnasium's, e.g.\n" + "\n".join(bad[:5])
    assert on_threshold <= N // 30, f"{on_threshold} next states within float32 rounding of a threshold"


@pytest.mark.parametrize("name", list(SPECS))
def test_time_limit_matches_gymnasium(name):
    """Truncation: gymnax's ``max_steps_in_episode`` and ``is_truncated`` against gymnasium's TimeLimit."""
    env, params = envs.make(name)
    limit = gymnasium.spec(name).max_episode_steps
    assert params.max_steps_in_episode == limit
    state = SPECS[name].to_gymnax(np.zeros((1, len(SPECS[name].low)), np.float32))
    at = jax.tree.map(lambda x: x[0], state)
    assert not bool(env.is_truncated(at.replace(time=limit - 1), params))
    assert bool(env.is_truncated(at.replace(time=limit), params))


def test_states_cover_walls_and_thresholds():
    """The draws do reach the cases the parity test is for (else it could pass vacuously)."""
    rng = np.random.default_rng(0)
    for name in ("MountainCar-v0", "MountainCarContinuous-v0"):
        s = _draw_states(SPECS[name], rng, N)
        goal = 0.5 if name == "MountainCar-v0" else 0.45
        assert ((s[:, 0] == np.float32(-1.2)) & (s[:, 1] < 0)).sum() > 10
        assert (s[:, 0] + s[:, 1] - 0.0025 * np.cos(3 * s[:, 0]) < -1.2).sum() > 100  # next step hits the wall
        assert ((s[:, 0] >= goal) & (s[:, 1] < 0)).sum() > 20
    s = _draw_states(SPECS["CartPole-v1"], rng, N)
    assert (np.abs(s[:, 0]) == np.float32(2.4)).sum() > 20 and (np.abs(s[:, 2]) == np.float32(TH)).sum() > 20
    s = _draw_states(SPECS["Acrobot-v1"], rng, N)
    assert (np.abs(s[:, 3]) == np.float32(9 * PI)).sum() > 20 and (np.abs(s[:, 0]) == np.float32(PI)).sum() > 20


def test_mountain_car_continuous_left_wall_stops_the_car():
    """gymnasium: ``if position == min_position and velocity < 0: velocity = 0`` (gymnax 1.0.1 keeps -0.0314)."""
    from gymnax.environments.classic_control.continuous_mountain_car import EnvState

    from jaxpg.envs.classic import MountainCarContinuous

    env, params = envs.make("MountainCarContinuous-v0")
    assert isinstance(env, MountainCarContinuous) and env.name == "MountainCarContinuous-v0"
    state = EnvState(position=jnp.float32(-1.1719), velocity=jnp.float32(-0.0322), time=0)
    obs, nxt, reward, done, _ = jax.jit(env.step_env)(jax.random.key(0), state, jnp.array([-1.0]), params)
    assert float(nxt.position) == pytest.approx(-1.2) and float(nxt.velocity) == 0.0
    np.testing.assert_array_equal(obs, np.array([-1.2, 0.0], np.float32))
    assert float(reward) == pytest.approx(-0.1) and not bool(done)

    ref = gymnasium.make("MountainCarContinuous-v0").unwrapped
    ref.reset(seed=0)
    ref.state = np.array([-1.1719, -0.0322], np.float32)
    ref_obs, ref_reward, ref_term, _, _ = ref.step(np.array([-1.0], np.float32))
    np.testing.assert_allclose(obs, ref_obs, rtol=1e-6)
    assert ref_obs[1] == 0.0 and float(reward) == pytest.approx(ref_reward) and bool(done) == ref_term


def test_mountain_car_continuous_no_goal_when_moving_back():
    """Past the goal with a negative velocity the car keeps it: not terminated, no +100 (gymnax zeroes it)."""
    from gymnax.environments.classic_control.continuous_mountain_car import EnvState

    env, params = envs.make("MountainCarContinuous-v0")
    state = EnvState(position=jnp.float32(0.5), velocity=jnp.float32(-0.02), time=0)
    _, nxt, reward, done, _ = jax.jit(env.step_env)(jax.random.key(0), state, jnp.array([0.0]), params)
    # v' = -0.02 - 0.0025 * cos(1.5) = -0.020177, x' = 0.479823
    assert float(nxt.velocity) == pytest.approx(-0.020177, abs=1e-6) and float(nxt.position) > 0.45
    assert not bool(done) and float(reward) == 0.0


def test_mountain_car_continuous_is_gymnax_compatible():
    """Same state/params types and spaces as gymnax's, and the auto-resetting ``step`` works under jit/vmap."""
    import gymnax
    from gymnax.environments.classic_control import continuous_mountain_car as cmc

    env, params = envs.make("MountainCarContinuous-v0")
    raw, raw_params = gymnax.make("MountainCarContinuous-v0")
    assert params == raw_params and isinstance(params, cmc.EnvParams)
    assert env.observation_space(params).shape == raw.observation_space(raw_params).shape == (2,)
    assert env.action_space(params).shape == (1,)
    keys = jax.random.split(jax.random.key(1), 4)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    assert isinstance(state, cmc.EnvState)
    out = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))(keys, state, -jnp.ones((4, 1)), params)
    assert out[0].shape == (4, 2) and out[2].shape == (4,)
