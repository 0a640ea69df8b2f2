"""Tests of the pure-JAX Pixelcopter (jaxpg.envs.pixelcopter) against the original PLE game.

The parity tests replay all 2,591 recorded transitions of the original game (float64,
pygame 2.6.1, 30 episodes), shipped in ``tests/data/pixelcopter_transitions.npz`` (675 kB), so
parity is checked in every clone. The file's fields are described in ``docs/pixelcopter.md``.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpg.envs import pixelcopter as pc

_DATA = Path(__file__).resolve().parent / "data/pixelcopter_transitions.npz"
_STATE_KEYS = (
    "player_y",
    "player_vel",
    "score",
    "lives",
    "block_x",
    "block_y",
    "block_alive",
    "terrain_x",
    "terrain_y",
    "terrain_alive",
)
_TOL = 1e-4


@pytest.fixture(scope="module")
def reference():
    with np.load(_DATA) as data:  # a missing file is an error, never a skip
        out = {k: data[k] for k in data.files}
    assert len(out["action"]) == 2591 and len(np.unique(out["episode"])) == 30
    return out


def _record(data, prefix, rows=slice(None)):
    return {k: data[prefix + k][rows] for k in _STATE_KEYS}


def _draws(data, rows=slice(None)):
    return {
        "block_x": data["draw_block_x"][rows],
        "block_y": data["draw_block_y"][rows],
        "terrain_freq": data["draw_terrain_freq"][rows],
        "terrain_phase": data["draw_terrain_phase"][rows],
    }


def _round_half_away(x):
    x = np.asarray(x, np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def _assert_pieces_match(got, want, prefix, width, height, where):
    """Alive pieces compared as sets sorted by x: counts, centres and integer rectangles."""
    n_got = got[f"{prefix}_alive"].sum(-1)
    n_want = want[f"{prefix}_alive"].sum(-1)
    bad = np.flatnonzero(n_got != n_want)
    assert bad.size == 0, f"{prefix} counts differ at {where(bad[:5])}"
    for i in range(n_got.shape[0]):
        g_alive, w_alive = got[f"{prefix}_alive"][i], want[f"{prefix}_alive"][i]
        gx, gy = got[f"{prefix}_x"][i][g_alive], got[f"{prefix}_y"][i][g_alive]
        wx, wy = want[f"{prefix}_x"][i][w_alive], want[f"{prefix}_y"][i][w_alive]
        go, wo = np.argsort(gx, kind="stable"), np.argsort(wx, kind="stable")
        gx, gy, wx, wy = gx[go], gy[go], wx[wo], wy[wo]
        assert np.allclose(gx, wx, atol=_TOL, rtol=0), f"{prefix} x at {where([i])}"
        assert np.allclose(gy, wy, atol=_TOL, rtol=0), f"{prefix} y at {where([i])}"
        np.testing.assert_array_equal(
            _round_half_away(gx.astype(np.float32)) - width // 2,
            _round_half_away(wx) - width // 2,
            err_msg=f"{prefix} rect left at {where([i])}",
        )
        np.testing.assert_array_equal(
            _round_half_away(gy.astype(np.float32)) - height // 2,
            _round_half_away(wy) - height // 2,
            err_msg=f"{prefix} rect top at {where([i])}",
        )


def _assert_matches(got, want, reward, done, obs, data, rows, where):
    """Compares a batch of stepped states with the rows' ``after_*`` fields."""
    for name in ("player_y", "player_vel"):
        err = np.abs(got[name] - want[name])
        assert err.max() < _TOL, f"{name} max error {err.max()} at {where([np.argmax(err)])}"
    bad = np.flatnonzero(_round_half_away(got["player_y"]) != _round_half_away(want["player_y"]))
    assert bad.size == 0, f"copter rectangle differs at {where(bad[:5])}"
    for name in ("score", "lives"):
        bad = np.flatnonzero(np.abs(got[name] - want[name]) > 1e-6)
        assert bad.size == 0, f"{name} differs at {where(bad[:5])}"
    bad = np.flatnonzero(np.abs(reward - data["reward"][rows]) > 1e-6)
    assert bad.size == 0, f"reward differs at {where(bad[:5])}"
    bad = np.flatnonzero(done != data["done"][rows])
    assert bad.size == 0, f"done differs at {where(bad[:5])}"
    _assert_pieces_match(got, want, "block", 4, 9, where)
    _assert_pieces_match(got, want, "terrain", 4, 72, where)
    ref_obs = data["obs_after"][rows]
    assert np.all(np.isfinite(obs)), "observations must be finite, also after a crash"
    recorded = ~np.isnan(ref_obs).any(-1)
    err = np.where(recorded[:, None], np.abs(obs - np.nan_to_num(ref_obs)), 0.0)
    bad = np.flatnonzero(err.max(-1) > _TOL)
    assert bad.size == 0, f"obs differs at {where(bad[:5])}: {obs[bad[:1]]} vs {ref_obs[bad[:1]]}"


def test_parity_every_transition(reference):
    """Every recorded transition, stepped from its recorded state with its recorded draws."""
    data = reference
    state = pc.state_from_reference(_record(data, "before_"))
    step = jax.jit(jax.vmap(pc.step_with_draws))
    obs, next_state, reward, done = step(state, data["action"], _draws(data))
    got = pc.state_to_reference(next_state)
    rows = np.arange(len(data["action"]))

    def where(idx):
        return [f"row {r} (episode {data['episode'][r]}, t {data['t'][r]})" for r in idx]

    _assert_matches(
        got,
        _record(data, "after_"),
        np.asarray(reward),
        np.asarray(done),
        np.asarray(obs),
        data,
        rows,
        where,
    )


def test_parity_sequential_episodes(reference):
    """Each recorded episode replayed from its t == 0 state, feeding only actions and draws."""
    data = reference
    episodes = np.unique(data["episode"])
    starts = [np.flatnonzero((data["episode"] == e) & (data["t"] == 0)) for e in episodes]
    episodes = [e for e, s in zip(episodes, starts, strict=True) if s.size == 1]
    assert episodes, "no complete episode start in the data"
    rows = [np.flatnonzero(data["episode"] == e) for e in episodes]
    for r in rows:  # consecutive steps from t == 0
        np.testing.assert_array_equal(data["t"][r], np.arange(r.size))
    length = max(r.size for r in rows)
    index = np.stack([np.pad(r, (0, length - r.size), mode="edge") for r in rows])
    valid = np.stack([np.arange(length) < r.size for r in rows])
    assert valid.sum() > 250, "too few steps to test long-run parity"

    def replay(state0, actions, draws):
        def body(state, xs):
            action, draw = xs
            obs, state, reward, done = pc.step_with_draws(state, action, draw)
            return state, (state, obs, reward, done)

        return jax.lax.scan(body, state0, (actions, draws))[1]

    state0 = pc.state_from_reference(_record(data, "before_", index[:, 0]))
    states, obs, reward, done = jax.jit(jax.vmap(replay))(
        state0, data["action"][index], _draws(data, index)
    )
    got = {k: v[valid] for k, v in pc.state_to_reference(states).items()}
    flat_rows = index[valid]
    want = _record(data, "after_", flat_rows)

    def where(idx):
        return [
            f"episode {data['episode'][flat_rows[i]]}, t {data['t'][flat_rows[i]]}" for i in idx
        ]

    _assert_matches(
        got,
        want,
        np.asarray(reward)[valid],
        np.asarray(done)[valid],
        np.asarray(obs)[valid],
        data,
        flat_rows,
        where,
    )


def test_reference_state_round_trip(reference):
    record = _record(reference, "before_", slice(0, 50))
    back = pc.state_to_reference(pc.state_from_reference(record))
    for k in _STATE_KEYS:
        np.testing.assert_allclose(back[k], record[k], atol=1e-12, rtol=0, err_msg=k)


def test_float64_scroll_ties_match_integer_positions():
    """The original accumulates x -= 0.6400000000000001 in float64; the module stores x as
    integer 1/25 px. Their decisions (x <= 16, x <= -4, 0 < x - 16) must agree everywhere."""
    step = 0.0004 * 48 * (1000.0 / 30.0)
    for x0 in [*range(48, 72), *range(2, 240, 4)]:
        x, xq = float(x0), x0 * pc.X_UNITS
        for _ in range(450):
            x -= step
            xq -= 16
            assert (x <= 16) == (xq <= 16 * pc.X_UNITS), (x0, x)
            assert (x <= -4) == (xq <= -4 * pc.X_UNITS), (x0, x)
            assert (x - 16 > 0) == (xq - 16 * pc.X_UNITS > 0), (x0, x)
            assert _round_half_away(x) == _round_half_away(xq / pc.X_UNITS), (x0, x)


def _one_block_state(block_x, block_y=30.0, second_x=None):
    """Copter at y = 24 in a flat cave, one block (plus an optional newer one at y = 40)."""
    two = second_x is not None
    record = {
        "player_y": 24.0,
        "player_vel": 0.0,
        "score": 0.0,
        "lives": 1.0,
        "block_x": np.array([block_x, second_x if two else 0.0, 0.0, 0.0]),
        "block_y": np.array([block_y, 40.0 if two else 0.0, 0.0, 0.0]),
        "block_alive": np.array([True, two, False, False]),
        "terrain_x": np.where(np.arange(64) < 48, 2.0 + 4 * np.arange(64), 0.0),
        "terrain_y": np.where(np.arange(64) < 48, 24.0, 0.0),
        "terrain_alive": np.arange(64) < 48,
    }
    return pc.state_from_reference(record)


_NO_DRAWS = {"block_x": 60, "block_y": 20, "terrain_freq": 0.0, "terrain_phase": np.zeros(48)}


def test_block_passing_and_removal_at_ties():
    # A lone block reaching x = 16 exactly pays +1 and spawns the drawn block after it.
    _, state, reward, _ = pc.step_with_draws(_one_block_state(16.64), 1, _NO_DRAWS)
    ref = pc.state_to_reference(state)
    assert float(reward) == 1.0
    np.testing.assert_allclose(ref["block_x"], [16.0, 60.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_array_equal(ref["block_y"], [30.0, 20.0, 0.0, 0.0])
    # One step earlier nothing happens.
    _, state, reward, _ = pc.step_with_draws(_one_block_state(17.28), 1, _NO_DRAWS)
    assert float(reward) == 0.0 and int(state.block_alive.sum()) == 1
    # An old block reaching x = -4 exactly is removed; the remaining one is then alone but
    # not yet at x <= 16, so nothing is paid.
    _, state, reward, _ = pc.step_with_draws(_one_block_state(-3.36, second_x=40.0), 1, _NO_DRAWS)
    ref = pc.state_to_reference(state)
    assert float(reward) == 0.0
    np.testing.assert_array_equal(ref["block_alive"], [True, False, False, False])
    np.testing.assert_allclose(ref["block_x"][0], 39.36, atol=1e-6)
    # Old block removed, then the newer one (at x <= 16, now alone) pays and spawns one.
    _, state, reward, _ = pc.step_with_draws(_one_block_state(-3.36, second_x=16.64), 1, _NO_DRAWS)
    ref = pc.state_to_reference(state)
    assert float(reward) == 1.0
    np.testing.assert_allclose(ref["block_x"][:2], [16.0, 60.0], atol=1e-6)


def test_observation_fallbacks_are_finite():
    """No colliding terrain piece: the nearest one is used; no block ahead: distance 999."""
    record = pc.state_to_reference(_one_block_state(10.0))
    record["player_y"] = 80.0  # below every piece's 72-px rectangle
    record["terrain_y"] = np.where(record["terrain_alive"], 20.0 + (np.arange(64) == 3), 0.0)
    obs = np.asarray(pc.Pixelcopter().get_obs(pc.state_from_reference(record)))
    # Pieces 3 (x = 14, y = 21) and 4 (x = 18, y = 20) are nearest to x = 16: the smaller x
    # wins. The block at x = 10 is behind the copter.
    np.testing.assert_allclose(obs, [80.0, 0.0, 80.0 - 9.0, 33.0 - 80.0, 999.0, 24.0, 33.0])
    record["terrain_alive"][:] = False
    record["block_alive"][:] = False
    obs = np.asarray(pc.Pixelcopter().get_obs(pc.state_from_reference(record)))
    np.testing.assert_allclose(obs, [80.0, 0.0, 80.0 - 12.0, 36.0 - 80.0, 999.0, 24.0, 33.0])
    # Stepping such a state works and stays finite.
    obs, state, reward, done = pc.step_with_draws(pc.state_from_reference(record), 0, _NO_DRAWS)
    assert np.all(np.isfinite(np.asarray(obs))) and bool(done)


def test_keyed_step_uses_the_same_core_as_step_with_draws():
    env = pc.Pixelcopter()
    params = env.default_params
    key = jax.random.key(3)
    _, state = env.reset(key, params)
    step_env = jax.jit(env.step_env)
    for i, action in enumerate([0, 1, 1, 0, 1]):
        k = jax.random.fold_in(key, i)
        obs_a, state_a, r_a, d_a, info = step_env(k, state, action, params)
        obs_b, state_b, r_b, d_b = pc.step_with_draws(state, action, pc.sample_draws(k))
        # Differently compiled programs may differ by an ulp in x / 25.
        np.testing.assert_allclose(obs_a, obs_b, rtol=1e-6, atol=0)
        np.testing.assert_array_equal(r_a, r_b)
        np.testing.assert_array_equal(d_a, d_b)
        jax.tree.map(np.testing.assert_array_equal, state_a, state_b)
        assert info == {}
        state = state_a


def _hand_state(player_y, block_x, block_y, cave_y=24):
    """A reference-layout state: copter at y, one block, 20 terrain pieces at x = 2, 6, ..., 78."""
    bx, by, ba = np.zeros(4), np.zeros(4), np.zeros(4, bool)
    bx[0], by[0], ba[0] = block_x, block_y, True
    tx, ty, ta = np.zeros(64), np.zeros(64), np.zeros(64, bool)
    tx[:20], ty[:20], ta[:20] = 2 + 4 * np.arange(20), cave_y, True
    return dict(player_y=player_y, player_vel=0.0, score=0.0, lives=1.0, block_x=bx, block_y=by,
                block_alive=ba, terrain_x=tx, terrain_y=ty, terrain_alive=ta)


def test_crash_causes_by_hand():
    none = {"block": False, "ceiling": False, "floor": False, "screen": False}

    def causes(rec, action):
        _, st, _, done = pc.step_with_draws(pc.state_from_reference(rec), action, pc.sample_draws(
            jax.random.key(0)))
        return bool(done), {k: bool(v) for k, v in pc.crash_causes(st).items()}

    # No-op from y=24, v=0: v = 1000/30·0.001728·0.99 = 0.057, y = 24.057. Block centre x 16.64 →
    # 16.0 after the 0.64 scroll: rect x 14..18, y (24-4)..(24+5) = 20..29 overlaps the copter's
    # 15..17 × 23..25. Cave 12..36: no wall. Band 6..42: inside.
    assert causes(_hand_state(24.0, 16.64, 24), 1) == (True, {**none, "block": True})
    # The same block far ahead (x 40): nothing touched, the game goes on.
    assert causes(_hand_state(24.0, 40.0, 24), 1) == (False, none)
    # Cave centred at 30 (ceiling 18): y 20 − 2.4 + 0.057 = 17.66 <= 18 → ceiling only.
    assert causes(_hand_state(20.0, 40.0, 24, cave_y=30), 1) == (True, {**none, "ceiling": True})
    # Cave centred at 18 (floor 30): y 30.0 + 0.057 >= 30 → floor only.
    assert causes(_hand_state(30.0, 40.0, 24, cave_y=18), 1) == (True, {**none, "floor": True})
    # Cave centred at 30, y 43 + 0.057 > 42 (below the band) and >= 42 (the floor): both.
    both = {**none, "floor": True, "screen": True}
    assert causes(_hand_state(43.0, 40.0, 24, cave_y=30), 1) == (True, both)


@pytest.mark.slow
def test_death_census_of_constant_policies():
    # experiments/pixelcopter_deaths.py's episode loop. Always thrusting from y=24, v=0
    # (v ← (v − 0.56)·0.99, y ← y + v): y = 23.45, 22.34, 20.70, 18.51, 15.79, 12.55, 8.78, 4.50.
    # The ceiling test y − 2.4 <= piece.y − 12 with piece.y in 18..30 fires at y <= 8.4 .. 20.4,
    # so at step 4 to 8, before the band's y < 6 could alone; no block is reached (the first is
    # at x >= 48, 50+ steps away). Never thrusting (v ← (v + 0.0576)·0.99): y = 24.06, 24.17, ...,
    # 30.53 at step 15, ..., 42.44 at step 26; the floor test y >= piece.y + 12 (30..42) fires at
    # step 15 to 26, never after the band's y > 42.
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "experiments/pixelcopter_deaths.py"
    spec = importlib.util.spec_from_file_location("pixelcopter_deaths", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from jaxpg import policies

    env = pc.Pixelcopter()

    def constant(p, o):
        return jnp.broadcast_to(p, o.shape[:-1] + (2,))

    run = jax.jit(lambda k, logits: mod.play(k, env, env.default_params, constant, logits,
                                             policies.CATEGORICAL, 16, 100, True))
    # Pieces leave the screen (+1 each) at steps 10, 16, 22 (x = 2, 6, 10 reach <= -4): none
    # before the ceiling crash, one to three before the floor crash; return -5 + that.
    for logits, cause, steps, rets in (([5.0, -5.0], "ceiling", (4, 8), (-5, -5)),
                                       ([-5.0, 5.0], "floor", (15, 26), (-4, -2))):
        out = {k: np.asarray(v) for k, v in run(jax.random.key(0), jnp.asarray(logits)).items()}
        assert out["done"].all() and out[cause].all(), (cause, out)
        others = {"ceiling", "floor", "block"} - {cause}
        assert not any(out[k].any() for k in others), out
        assert steps[0] <= out["length"].min() and out["length"].max() <= steps[1], out["length"]
        assert rets[0] <= out["ret"].min() and out["ret"].max() <= rets[1], out["ret"]


@pytest.mark.slow
def test_reset_distribution():
    env = pc.Pixelcopter()
    keys = jax.random.split(jax.random.key(0), 4096)
    obs, state = jax.jit(jax.vmap(env.reset_env, in_axes=(0, None)))(keys, env.default_params)
    ref = pc.state_to_reference(state)
    assert obs.shape == (4096, 7) and obs.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(obs)))
    np.testing.assert_array_equal(ref["block_alive"].sum(-1), 1)
    bx, by = ref["block_x"][:, 0], ref["block_y"][:, 0]
    np.testing.assert_array_equal(bx, np.round(bx))
    np.testing.assert_array_equal(by, np.round(by))
    assert set(bx.astype(int)) == set(range(48, 72))
    assert set(by.astype(int)) == set(range(12, 36))
    np.testing.assert_array_equal(ref["terrain_alive"].sum(-1), 48)
    np.testing.assert_array_equal(
        ref["terrain_x"][:, :48], np.broadcast_to(2.0 + 4 * np.arange(48), (4096, 48))
    )
    ty = ref["terrain_y"][:, :48]
    assert ty.min() >= 18 and ty.max() <= 30 and set(ty.ravel().astype(int)) == set(range(18, 31))
    np.testing.assert_array_equal(ref["player_y"], 24.0)
    np.testing.assert_array_equal(ref["player_vel"], 0.0)
    np.testing.assert_array_equal(ref["score"], 0.0)
    np.testing.assert_array_equal(ref["lives"], 1.0)
    # The step's draws come from the same distributions.
    draws = jax.vmap(pc.sample_draws)(keys)
    assert set(np.asarray(draws["block_x"]).tolist()) == set(range(48, 72))
    assert set(np.asarray(draws["block_y"]).tolist()) == set(range(12, 36))
    u, phase = np.asarray(draws["terrain_freq"]), np.asarray(draws["terrain_phase"])
    assert -0.01 <= u.min() < -0.0099 and 0.0099 < u.max() <= 0.01
    assert phase.shape == (4096, 48) and 0.0 <= phase.min() < 1e-3 and 0.499 < phase.max() <= 0.5


def _hover_policy(obs):
    """Holds the copter near the cave's centre and dodges the next block."""
    y, v, dist_ceil, _, block_dist, block_top, _ = obs
    centre = y - dist_ceil + 12.0
    near = block_dist < 20.0
    target = jnp.where(near & (block_top >= centre), block_top - 9.0, block_top + 9.0)
    target = jnp.clip(jnp.where(near, target, centre), centre - 8.0, centre + 8.0)
    return jnp.where(y + 4.0 * v > target, 0, 1).astype(jnp.int32)


@pytest.mark.slow
def test_capacity_and_terrain_regeneration_over_100k_steps():
    env = pc.Pixelcopter()
    params = env.default_params
    n_envs, n_steps = 256, 400

    def run(key, hover):
        obs, state = jax.vmap(env.reset_env, in_axes=(0, None))(
            jax.random.split(key, n_envs), params
        )

        def body(carry, k):
            obs, state, stats = carry
            ka, ks = jax.random.split(k)
            if hover:
                action = jax.vmap(_hover_policy)(obs)
            else:
                action = jax.random.randint(ka, (n_envs,), 0, 2)
            n_before = state.terrain_alive.sum(-1)
            obs, state, reward, terminated, truncated, info = jax.vmap(
                env.step, in_axes=(0, 0, 0, None)
            )(jax.random.split(ks, n_envs), state, action, params)
            # Regeneration: the terrain count grew on a step that did not end the episode.
            regen = (state.terrain_alive.sum(-1) > n_before) & ~terminated & ~truncated
            stats = {
                "max_blocks": jnp.maximum(stats["max_blocks"], state.block_alive.sum(-1).max()),
                "max_terrain": jnp.maximum(stats["max_terrain"], state.terrain_alive.sum(-1).max()),
                "min_terrain": jnp.minimum(stats["min_terrain"], state.terrain_alive.sum(-1).min()),
                "regens": stats["regens"] + regen.sum(),
                "finite": stats["finite"] & jnp.all(jnp.isfinite(info["final_observation"])),
                "episodes": stats["episodes"] + terminated.sum(),
            }
            return (obs, state, stats), None

        stats = {
            "max_blocks": jnp.int32(0),
            "max_terrain": jnp.int32(0),
            "min_terrain": jnp.int32(64),
            "regens": jnp.int32(0),
            "finite": jnp.bool_(True),
            "episodes": jnp.int32(0),
        }
        keys = jax.random.split(key, n_steps)
        return jax.lax.scan(body, (obs, state, stats), keys)[0][2]

    run = jax.jit(run, static_argnums=1)
    for hover in (False, True):
        stats = {k: int(v) for k, v in run(jax.random.key(7), hover).items()}
        # The spec's bounds: at most 2 blocks and 61 terrain pieces alive at once.
        assert 1 <= stats["max_blocks"] <= 2, stats
        assert stats["max_terrain"] <= 61 and stats["min_terrain"] >= 13, stats
        assert stats["finite"] == 1, stats
        if hover:
            assert stats["regens"] >= 5, f"hover episodes never regenerated terrain: {stats}"
            assert stats["max_terrain"] == 61, stats
        else:
            assert stats["episodes"] > 5_000, stats


def _episodes_without_reset(key, n_envs, n_steps, policy):
    """Runs step_env (no reset) and returns per-env lengths, returns and final scores."""
    env = pc.Pixelcopter()
    params = env.default_params

    def run(key):
        k0, key = jax.random.split(key)
        obs, state = jax.vmap(env.reset_env, in_axes=(0, None))(
            jax.random.split(k0, n_envs), params
        )

        def body(carry, k):
            obs, state, playing, length, ret, final_score = carry
            ka, ks = jax.random.split(k)
            action = policy(ka, obs)
            obs, state, reward, terminated, _ = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))(
                jax.random.split(ks, n_envs), state, action, params
            )
            length = length + playing
            ret = ret + jnp.where(playing, reward, 0.0)
            ended = playing & terminated
            final_score = jnp.where(ended, state.score, final_score)
            playing = playing & ~terminated
            return (obs, state, playing, length, ret, final_score), None

        zeros = jnp.zeros(n_envs)
        init = (obs, state, jnp.ones(n_envs, bool), jnp.zeros(n_envs, jnp.int32), zeros, zeros)
        carry = jax.lax.scan(body, init, jax.random.split(key, n_steps))[0]
        return carry[1].score, carry[2:]

    score, (playing, length, ret, final_score) = jax.jit(run)(key)
    return (
        np.asarray(playing),
        np.asarray(length),
        np.asarray(ret),
        np.asarray(final_score),
        np.asarray(score),
    )


@pytest.mark.slow
def test_rewards_add_up_to_the_score():
    def hover(key, obs):
        del key
        return jax.vmap(_hover_policy)(obs)

    playing, length, ret, final_score, score = _episodes_without_reset(
        jax.random.key(11), 256, 300, hover
    )
    ended = ~playing
    assert ended.sum() > 50 and length.max() > 100
    np.testing.assert_allclose(ret[ended], final_score[ended], atol=1e-4)
    np.testing.assert_allclose(ret[playing], score[playing], atol=1e-4)
    assert np.all(final_score[ended] - np.floor(final_score[ended]) == 0)
    assert ret.max() > 10  # long episodes collect terrain and block rewards


@pytest.mark.slow
def test_random_policy_statistics_match_the_original():
    """Uniform random actions: episode length 7.11 (std 2.85), return -4.796 (std 0.463) over
    1,000 episodes of the original; the means must agree within sampling error."""
    n = 4000

    def uniform(key, obs):
        return jax.random.randint(key, obs.shape[:1], 0, 2)

    playing, length, ret, _, _ = _episodes_without_reset(jax.random.key(2024), n, 80, uniform)
    assert not playing.any(), "every random episode should crash within 80 steps"
    for name, values, ref_mean, ref_std in (
        ("length", length, 7.11, 2.85),
        ("return", ret, -4.796, 0.463),
    ):
        se = ref_std * np.sqrt(1.0 / n + 1.0 / 1000)  # both means are estimates
        diff = abs(values.mean() - ref_mean)
        assert diff < 4 * se, (
            f"{name}: mean {values.mean():.3f} vs {ref_mean} (4 SE = {4 * se:.3f})"
        )
        assert 0.8 * ref_std < values.std() < 1.2 * ref_std, f"{name} std {values.std():.3f}"
    assert length.min() >= 4 and ret.min() == -5.0 and ret.max() <= 0.0


@pytest.mark.slow
def test_render():
    env = pc.Pixelcopter()
    obs, state = env.reset(jax.random.key(5), env.default_params)
    img = pc.render(state)
    assert img.shape == (48, 48, 3) and img.dtype == jnp.uint8
    img = np.asarray(img)
    row = int(_round_half_away(float(state.player_y)))
    copter = np.array([255, 255, 255], np.uint8)
    green = np.array([120, 240, 80], np.uint8)
    # The copter's 2 x 2 rectangle: rows round(y) - 1 .. round(y), columns 15 .. 16.
    for r in (row - 1, row):
        for c in (15, 16):
            np.testing.assert_array_equal(img[r, c], copter)
    assert np.sum(np.all(img == copter, -1)) == 4
    # Walls: the first terrain piece covers columns 0..3 (x = 2); its cave is rows y-12..y+11.
    ty = int(state.terrain_y[0])
    np.testing.assert_array_equal(img[ty - 13, 0], green)
    np.testing.assert_array_equal(img[ty - 12, 0], [0, 0, 0])
    np.testing.assert_array_equal(img[ty + 11, 0], [0, 0, 0])
    np.testing.assert_array_equal(img[ty + 12, 0], green)
    # Scaling is nearest-neighbour.
    big = np.asarray(pc.render(state, scale=3))
    assert big.shape == (144, 144, 3)
    np.testing.assert_array_equal(big, np.repeat(np.repeat(img, 3, 0), 3, 1))
    # A block in view is drawn as a 4 x 9 rectangle.
    near = pc.state_from_reference(
        {
            **pc.state_to_reference(state),
            "block_x": np.array([30.0, 0, 0, 0]),
            "block_y": np.array([20.0, 0, 0, 0]),
        }
    )
    block_img = np.asarray(pc.render(near))
    assert np.all(block_img[16:25, 28:32] == green)
    assert not np.all(block_img[15, 28:32] == green) or ty - 12 > 15
    # jit + vmap over a batch of states.
    keys = jax.random.split(jax.random.key(6), 8)
    _, states = jax.vmap(env.reset_env, in_axes=(0, None))(keys, env.default_params)
    batch = jax.jit(jax.vmap(lambda s: pc.render(s, scale=2)))(states)
    assert batch.shape == (8, 96, 96, 3) and batch.dtype == jnp.uint8
    np.testing.assert_array_equal(
        np.asarray(batch[0]), np.asarray(pc.render(jax.tree.map(lambda x: x[0], states), scale=2))
    )


def test_gymnax_interface_and_truncation():
    env = pc.Pixelcopter()
    params = env.default_params
    assert env.name == "Pixelcopter-v0" and env.num_actions == 2
    assert params.max_steps_in_episode == 10_000
    assert env.action_space(params).n == 2
    space = env.observation_space(params)
    assert space.shape == (7,) and space.dtype == jnp.float32
    obs, state = env.reset(jax.random.key(0), params)
    assert space.contains(obs)
    short = params.replace(max_steps_in_episode=3)
    outs = []
    for i in range(3):
        obs, state, reward, terminated, truncated, info = env.step(
            jax.random.key(i), state, 0 if i == 0 else 1, short
        )
        outs.append((bool(terminated), bool(truncated)))
    assert outs == [(False, False), (False, False), (False, True)]
    assert int(state.time) == 0  # auto-reset after the time limit


def test_bad_inputs():
    state = _one_block_state(40.0)
    with pytest.raises(ValueError, match="action"):
        pc.step_with_draws(state, 2, _NO_DRAWS)
    with pytest.raises(ValueError, match="action"):
        pc.step_with_draws(state, np.int32(-1), _NO_DRAWS)
    with pytest.raises(ValueError, match="terrain_phase"):
        pc.step_with_draws(state, 0, {k: v for k, v in _NO_DRAWS.items() if k != "terrain_phase"})
    record = pc.state_to_reference(state)
    del record["terrain_alive"], record["lives"]
    with pytest.raises(ValueError, match="terrain_alive") as err:
        pc.state_from_reference(record)
    assert "lives" in str(err.value)
    with pytest.raises(ValueError, match="scale"):
        pc.render(state, scale=0)


@pytest.mark.slow
def test_fast_step_gives_the_states_of_the_reference_step():
    # Issue 20's step drops a terrain piece that leaves by a one-slot shift (only slot 0 can
    # leave in one step), rounds positions in float32, and computes a new batch's heights one
    # piece a step; the step before it repacked the terrain with a general scatter, divided in
    # int32 and computed all 48 heights at once (impl="reference"). Over 600 steps of 64
    # hovering and random envs (blocks passed, terrain pieces dropped every ~6 steps, terrain
    # made twice per env, crashes), the two give identical observations, rewards, game-over
    # flags and (heights filled in) states at every step.
    params = pc.EnvParams()
    new, old = pc.Pixelcopter(impl="fast"), pc.Pixelcopter(impl="reference")
    n = 64

    def run(env, key):
        obs, state = jax.vmap(env.reset_env, in_axes=(0, None))(jax.random.split(key, n), params)

        def body(carry, k):
            obs, state = carry
            ka, ks = jax.random.split(k)
            hover = jax.vmap(_hover_policy)(obs)
            action = jnp.where(jnp.arange(n) < n // 2, hover, jax.random.randint(ka, (n,), 0, 2))
            obs, state, r, term, _, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(ks, n), state, action, params)
            # the pending pieces' x (or +inf): none may be near the copter
            pend_x = jnp.min(jnp.where(state.terrain_pending, state.terrain_xq, jnp.iinfo(jnp.int32).max))
            return (obs, state), (obs, r, term, pc.resolved(state), jnp.max(jnp.sum(state.terrain_pending, -1)), pend_x)

        return jax.lax.scan(body, (obs, state), jax.random.split(key, 600))[1]

    a = jax.jit(lambda k: run(new, k))(jax.random.key(5))
    b = jax.jit(lambda k: run(old, k))(jax.random.key(5))
    regens = int((np.diff(np.asarray(a[3].terrain_alive.sum(-1)), axis=0) > 10).sum())
    assert regens > 50 and int(a[2].sum()) > 20  # terrain made and episodes ended many times
    jax.tree.map(np.testing.assert_array_equal, a[:4], b[:4])
    # the lazy heights were in use (47 pending right after a regeneration), never near the copter
    # (x >= 30 px, the copter's right edge is below 20), and the reference never has any
    assert int(np.max(a[4])) == 47 and int(np.max(b[4])) == 0
    assert int(np.min(a[5])) >= 30 * pc.X_UNITS


def test_hashed_draws_follow_the_original_distributions():
    keys = jax.random.split(jax.random.key(0), 8192)
    d = jax.jit(jax.vmap(pc.sample_draws_hashed))(keys)
    bx, by = np.asarray(d["block_x"]), np.asarray(d["block_y"])
    assert set(bx.tolist()) == set(range(48, 72)) and set(by.tolist()) == set(range(12, 36))
    # each of 24 values ~ 8192 / 24 = 341 times; a 5-sigma band is 341 +- 5 * sqrt(341 * 23/24) = +- 90
    for v in (bx, by):
        counts = np.bincount(v - v.min())
        assert counts.min() > 341 - 90 and counts.max() < 341 + 90
    u, phase = np.asarray(d["terrain_freq"]), np.asarray(d["terrain_phase"])
    assert -0.01 <= u.min() < -0.0099 and 0.0099 < u.max() <= 0.01
    assert phase.shape == (8192, 48) and 0.0 <= phase.min() < 1e-3 and 0.499 < phase.max() < 0.5
    # U(0, 0.5): mean 0.25, std 0.5 / sqrt(12) = 0.1443; over 393,216 phases the mean's 5-sigma is 0.00115
    assert abs(phase.mean() - 0.25) < 0.00115 and abs(phase.std() - 0.1443) < 0.002
    # neighbouring phases of one batch are uncorrelated (|r| < 5 / sqrt(8192 * 47) = 0.008)
    r = np.corrcoef(phase[:, :-1].ravel(), phase[:, 1:].ravel())[0, 1]
    assert abs(r) < 0.008
    # a different key gives different draws; the same key the same draws
    d2 = jax.vmap(pc.sample_draws_hashed)(keys)
    np.testing.assert_array_equal(d["terrain_phase"], d2["terrain_phase"])
    assert np.mean(phase[0] == phase[1]) < 0.1
    # the env uses it when asked, and the rules stay the ones of step_with_draws
    env = pc.Pixelcopter(draws="hashed")
    _, s = env.reset_env(keys[0], env.default_params)
    obs_a, s_a, r_a, d_a, _ = jax.jit(env.step_env)(keys[1], s, 1, env.default_params)
    obs_b, s_b, r_b, d_b = pc.step_with_draws(s, 1, pc.sample_draws_hashed(keys[1]))
    np.testing.assert_allclose(obs_a, obs_b, rtol=1e-6, atol=0)
    jax.tree.map(np.testing.assert_array_equal, s_a, s_b)
    # the default env (and Pixelcopter-v0) draws hashed; Pixelcopter-threefry-v0 keeps the old stream
    from jaxpg import envs

    assert pc.Pixelcopter().draws == "hashed" and envs.make("Pixelcopter-v0")[0].draws == "hashed"
    old, _ = envs.make("Pixelcopter-threefry-v0")
    _, s_old = old.reset_env(keys[0], old.default_params)
    jax.tree.map(np.testing.assert_array_equal, s_old, pc._reset_from_draws(pc.sample_draws(keys[0])))
    assert not np.array_equal(s_old.terrain_y, s.terrain_y)
    with pytest.raises(ValueError, match="draws must be one of"):
        pc.Pixelcopter(draws="philox")
    with pytest.raises(ValueError, match="impl must be"):
        pc.Pixelcopter(impl="gather")


def test_float_rounding_of_positions_equals_the_integer_formula():
    # every |xq| < 2**20 (positions within 42,000 px; the game's stay within a few hundred):
    # sign(xq) * ((2|xq| + 25) // 50) in int64 numpy against the float32 version the step uses
    xq = np.arange(-(2**20) + 1, 2**20, dtype=np.int32)
    a = np.abs(xq).astype(np.int64)
    ref = np.where(xq < 0, -((2 * a + 25) // 50), (2 * a + 25) // 50)
    np.testing.assert_array_equal(np.asarray(jax.jit(pc._round_half_away_xq)(xq)), ref)
    np.testing.assert_array_equal(np.asarray(jax.jit(pc._round_half_away_xq_int)(xq)), ref)
    # by hand: 37 units = 1.48 px -> 1; 38 = 1.52 -> 2; 313 = 12.52 -> 13;
    # -37 -> -1; -63 = -2.52 -> -3; 25 = 1.0 -> 1; 62 = 2.48 -> 2
    got = np.asarray(pc._round_half_away_xq(jnp.array([37, 38, 313, -37, -63, 25, 62])))
    np.testing.assert_array_equal(got, [1, 2, 13, -1, -3, 1, 2])
