"""Where a Pixelcopter step's time goes: the game's rules vs its random draws vs auto-reset.

Steps N environments with random actions inside one jitted ``lax.scan`` four ways:

- ``step`` (gymnax's, with auto-reset: it also computes a reset state every step);
- ``step_env`` (no auto-reset: what jaxpg's rollout calls);
- the same rules with fixed random numbers (``step_with_draws`` with constant draws:
  the cost of the rules alone);
- ``sample_draws`` alone (every field used: the 2 block integers, the frequency offset and
  the 48 terrain phases that one step draws whether or not it needs them).

Every variant but the constant-draws one also splits one key per environment per step
(the constant one never reads them, so XLA drops the split): the difference between
``step_env`` and the rules alone is the cost of the step's random numbers, key split
included (``draws_share_of_step_env`` in the JSON).

An env-only benchmark: nothing is trained, so it keeps its own measurement code (one
jitted ``lax.scan`` per variant) instead of going through the run layer (``jaxpg.runner``).

Compile time is apart; the run time is the best of ``--repeats``. Prints a table and writes
``experiments/results/pixelcopter-step-profile-<device>-<date>.json`` atomically::

    python experiments/pixelcopter_step_profile.py            # ~1 min on 2 CPU cores
    python experiments/pixelcopter_step_profile.py --smoke
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from jaxpg.bench import machine_info, write_json
from jaxpg.envs import pixelcopter as pc

_CONST = {"block_x": 60, "block_y": 24, "terrain_freq": 0.0, "terrain_phase": [0.25] * pc.TERRAIN_BATCH}


def variants(env, params):
    const = {k: jnp.asarray(v) for k, v in _CONST.items()}

    def draws_only(keys, state, action):
        d = jax.vmap(pc.sample_draws)(keys)
        floats = d["terrain_freq"] + d["terrain_phase"].sum(-1)
        return state, (d["block_x"] + d["block_y"]).astype(jnp.float32) + floats

    step = jax.vmap(env.step, (0, 0, 0, None))
    step_env = jax.vmap(env.step_env, (0, 0, 0, None))
    return {
        "step (gymnax, auto-reset)": lambda k, s, a: step(k, s, a, params)[1:3],
        "step_env (no reset)": lambda k, s, a: step_env(k, s, a, params)[1:3],
        "rules, constant draws": lambda k, s, a: jax.vmap(
            lambda s1, a1: pc.step_with_draws(s1, a1, const, params)[1:3])(s, a),
        "sample_draws alone": draws_only,
    }


def scan_program(fn, env, params, n: int, steps: int):
    """``fn(keys [n], states, actions) -> (states, rewards)`` scanned over ``steps`` steps of
    ``n`` envs with random actions, one key split per env per step (as the rollout does),
    jitted and compiled. Returns ``(compiled(key) -> summed reward, compile_s)``."""

    def run(key):
        k0, k1 = jax.random.split(key)
        _, state = jax.vmap(env.reset_env, (0, None))(jax.random.split(k0, n), params)

        def body(s, k):
            ka, ks = jax.random.split(k)
            a = jax.random.bernoulli(ka, 0.5, (n,)).astype(jnp.int32)
            s, r = fn(jax.random.split(ks, n), s, a)
            return s, r.sum()

        return jax.lax.scan(body, state, jax.random.split(k1, steps))[1].sum()

    t = time.perf_counter()
    compiled = jax.jit(run).lower(jax.random.key(0)).compile()
    return compiled, time.perf_counter() - t


def measure(fn, env, params, n: int, steps: int, repeats: int) -> dict:
    compiled, compile_s = scan_program(fn, env, params, n, steps)
    key = jax.random.key(0)
    jax.block_until_ready(compiled(key))
    best = float("inf")
    for i in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(compiled(jax.random.key(i + 1)))
        best = min(best, time.perf_counter() - t)
    return {"compile_s": compile_s, "run_s": best, "steps_per_s": n * steps / best,
            "us_per_env_step": best / (n * steps) * 1e6}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--num-envs", type=int, default=1024)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--smoke", action="store_true", help="tiny sizes (a quick check that it runs)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = p.parse_args(argv)
    n, steps, repeats = (16, 8, 1) if args.smoke else (args.num_envs, args.steps, args.repeats)
    env = pc.Pixelcopter()
    params = env.default_params
    rows = []
    print(f"Pixelcopter step profile: {n} envs x {steps} steps, random actions, best of {repeats}")
    print(f"{'variant':28s} | {'M steps/s':>9s} | {'us/env-step':>11s} | {'compile s':>9s}")
    for name, fn in variants(env, params).items():
        r = {"variant": name, **measure(fn, env, params, n, steps, repeats)}
        rows.append(r)
        print(f"{name:28s} | {r['steps_per_s'] / 1e6:9.3f} | {r['us_per_env_step']:11.3f} | "
              f"{r['compile_s']:9.1f}")
    by = {r["variant"]: r["us_per_env_step"] for r in rows}
    share = 1 - by["rules, constant draws"] / by["step_env (no reset)"]
    print(f"random numbers (the per-env key split and sample_draws): {share:.0%} of step_env's time")
    info = machine_info()
    date = datetime.date.today().isoformat()
    smoke = "-smoke" if args.smoke else ""
    path = Path(args.out) / f"pixelcopter-step-profile-{info['device']['platform']}-{date}{smoke}.json"
    write_json({"machine": info, "num_envs": n, "steps": steps, "repeats": repeats, "rows": rows,
                "draws_share_of_step_env": share, "date": date}, path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
