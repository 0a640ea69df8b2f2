"""Pixelcopter's step before and after issue 20, in one run: env-only steps/s at 256 and 4,096 envs.

Four versions of ``Pixelcopter.step_env`` (no auto-reset, what jaxpg's rollout calls), each
stepping N environments with random actions inside one jitted ``lax.scan``, one key split per
environment per step as the rollout does:

- ``before`` (threefry draws, ``impl="reference"``): the step as it was before issue 20;
- ``fast rules``: the same random stream, a terrain piece that leaves dropped by a one-slot
  shift instead of a general scatter, positions rounded in float32 instead of int32
  division (the same states, checked by ``tests/test_pixelcopter.py``);
- ``hashed draws``: the reference rules with ``sample_draws_hashed`` (one 32-bit hash per
  number instead of threefry through split keys; a different stream, same distributions);
- ``after`` (hashed draws, fast rules): both; ``Pixelcopter-v0`` since issue 20.

The timed runs are interleaved (every version once per round, ``--repeats`` rounds, the best
kept per version), so a machine whose speed drifts during the run (this VM's does, by up to
2x) slows every version alike. Then (``--train-updates`` > 0) what it means for training: the
recommended Pixelcopter settings (``jaxpg.defaults``: 128 envs, 256-step rollouts, value
baseline) for 4 seeds through the run layer (``jaxpg.bench.train_point``), valid env steps/s and
seconds per update, with the step before and after, and with the issue-19 loss (flattened
batch, cache-sized loss chunks) off and on.

Compile time is apart. Prints a table and writes
``experiments/results/pixelcopter-step-speed-<device>-<date>.json`` atomically::

    python experiments/pixelcopter_step_speed.py            # ~3 min on 2 CPU cores
    python experiments/pixelcopter_step_speed.py --smoke
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import jax

from jaxpg.bench import machine_info, write_json
from jaxpg.envs import pixelcopter as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pixelcopter_step_profile import scan_program  # noqa: E402

VERSIONS = {  # name: (draws, impl)
    "before": ("threefry", "reference"),
    "fast rules": ("threefry", "fast"),
    "hashed draws": ("hashed", "reference"),
    "after": ("hashed", "fast"),
}


def compiled_run(env, n: int, steps: int):
    """``env.step_env`` on ``n`` envs for ``steps`` steps, compiled and run once to warm it.

    Returns ``(run, compile_s)``; ``run(key)`` returns the summed rewards (so nothing is
    dead code)."""
    params = env.default_params
    step_env = jax.vmap(env.step_env, (0, 0, 0, None))
    compiled, compile_s = scan_program(lambda k, s, a: step_env(k, s, a, params)[1:3], env, params, n, steps)
    jax.block_until_ready(compiled(jax.random.key(0)))  # warm
    return compiled, compile_s


def interleaved(programs: dict, repeats: int) -> dict:
    """Best wall time per program over ``repeats`` rounds, each round running every program once."""
    import time

    best = {name: float("inf") for name in programs}
    for i in range(repeats):
        for name, f in programs.items():
            t = time.perf_counter()
            jax.block_until_ready(f(jax.random.key(i + 1)))
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def train(updates: int, seeds: int, num_envs: int) -> list[dict]:
    """Recommended Pixelcopter training, step and loss before/after issues 19-20, through the run layer."""
    if updates <= 0:
        return []
    from perf_ablations import flat_batch

    from jaxpg import envs
    from jaxpg.bench import train_point
    from jaxpg.runner import population

    factory = envs._OWN["Pixelcopter-v0"]
    rows = []
    print(f"\nPixelcopter training (recommended settings), {seeds} seeds x {num_envs} envs, {updates} updates")
    print(f"{'step':7s} | {'loss':7s} | {'valid M/s':>9s} | {'s/update':>8s} | {'compile s':>9s}")
    try:
        for step, loss in (("before", "before"), ("before", "after"), ("after", "before"), ("after", "after")):
            draws, impl = VERSIONS[step]
            env = pc.Pixelcopter(draws=draws, impl=impl)
            envs._OWN["Pixelcopter-v0"] = lambda env=env: (env, env.default_params)
            population._PROGRAMS.clear()
            with flat_batch(loss == "after"):
                r = train_point("Pixelcopter-v0", num_envs, seeds, (64, 64), "tanh", updates, chunks=2,
                                **({} if loss == "after" else {"loss_chunk": 512}))
            row = {"step": step, "loss": loss, "draws": draws, "impl": impl,
                   "update_s": r["run_s"] / updates, **r}
            rows.append(row)
            print(f"{step:7s} | {loss:7s} | {r['valid_steps_per_s'] / 1e6:9.3f} | {row['update_s']:8.3f} | "
                  f"{r['compile_s']:9.1f}", flush=True)
    finally:
        envs._OWN["Pixelcopter-v0"] = factory
        population._PROGRAMS.clear()
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--num-envs", default="256,4096", help="comma-separated N (default: 256,4096)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds; the best per version is kept")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (a quick check that it runs)")
    p.add_argument("--train-updates", type=int, default=40,
                   help="updates per training row (0: skip the training rows)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = p.parse_args(argv)
    sizes = [16] if args.smoke else [int(n) for n in args.num_envs.split(",")]
    steps, repeats = (8, 1) if args.smoke else (args.steps, args.repeats)
    rows = []
    print(f"Pixelcopter step_env: {steps} steps, random actions, best of {repeats} interleaved rounds")
    print(f"{'N':>5s} | {'version':14s} | {'draws':8s} | {'impl':9s} | {'M steps/s':>9s} | "
          f"{'us/env-step':>11s} | {'x before':>8s} | {'compile s':>9s}")
    for n in sizes:
        programs, compile_s = {}, {}
        for name, (draws, impl) in VERSIONS.items():
            programs[name], compile_s[name] = compiled_run(pc.Pixelcopter(draws=draws, impl=impl), n, steps)
        best = interleaved(programs, repeats)
        for name, (draws, impl) in VERSIONS.items():
            r = {"num_envs": n, "version": name, "draws": draws, "impl": impl, "compile_s": compile_s[name],
                 "run_s": best[name], "steps_per_s": n * steps / best[name],
                 "us_per_env_step": best[name] / (n * steps) * 1e6, "speedup_vs_before": best["before"] / best[name]}
            rows.append(r)
            print(f"{n:5d} | {name:14s} | {draws:8s} | {impl:9s} | {r['steps_per_s'] / 1e6:9.3f} | "
                  f"{r['us_per_env_step']:11.3f} | {r['speedup_vs_before']:8.2f} | {r['compile_s']:9.1f}",
                  flush=True)
    train_rows = train(2 if args.smoke else args.train_updates, 2 if args.smoke else 4,
                       16 if args.smoke else 128)
    info = machine_info()
    date = datetime.date.today().isoformat()
    smoke = "-smoke" if args.smoke else ""
    path = Path(args.out) / f"pixelcopter-step-speed-{info['device']['platform']}-{date}{smoke}.json"
    write_json({"benchmark": "pixelcopter_step_speed", "machine": info, "steps": steps, "repeats": repeats,
                "rows": rows, "train_rows": train_rows, "date": date}, path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
