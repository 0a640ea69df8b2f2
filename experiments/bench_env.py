"""Environment and training throughput, Pixelcopter next to CartPole.

Measures, on this machine:
  - env alone: random actions, N environments stepped with ``step_env`` (no
    auto-reset, as jaxpg's rollout uses it) inside one jitted ``lax.scan`` (its own
    measurement code: nothing is trained);
  - training: through the run layer (``jaxpg.runner.run``, what ``jaxpg train`` runs) with the
    recommended settings, valid (unmasked) steps/s and simulated steps/s.

Compile time is reported apart from run time. Writes
``experiments/results/bench-env-<device>-<date>.json`` (atomically) and prints
a table.

    python experiments/bench_env.py            # full size (~2 min on 2 CPU cores)
    python experiments/bench_env.py --smoke    # seconds
"""

from __future__ import annotations

import argparse
import datetime
import faulthandler
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxpg
from jaxpg import envs, runner
from jaxpg.defaults import recommended


def _timed(fn, *args):
    t = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t
    jax.block_until_ready(compiled(*args))  # warm-up
    t = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return out, compile_s, time.perf_counter() - t


def env_only(name: str, num_envs: int, steps: int) -> dict:
    env, params = envs.make(name)

    def run(key):
        _, state = jax.vmap(env.reset_env, in_axes=(0, None))(jax.random.split(key, num_envs), params)

        def body(state, k):
            ka, ks = jax.random.split(k)
            action = jax.random.randint(ka, (num_envs,), 0, env.num_actions)
            _, state, reward, _, _ = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))(
                jax.random.split(ks, num_envs), state, action, params
            )
            return state, reward.sum()

        return jax.lax.scan(body, state, jax.random.split(key, steps))[1].sum()

    _, compile_s, run_s = _timed(run, jax.random.key(0))
    return {"kind": "env", "env": name, "num_envs": num_envs, "steps": steps,
            "compile_s": compile_s, "run_s": run_s, "steps_per_s": num_envs * steps / run_s}


def training(name: str, seeds: int, updates: int) -> dict:
    """``jaxpg.runner.run`` with the recommended settings, one compiled chunk of ``updates``, no
    evaluation: ``compile_s`` is the run layer's (init + compilation), ``run_s`` its training time."""
    config, hp = recommended(name, num_updates=updates)
    spec = runner.RunSpec(config, hp, seeds=seeds, seed=0, evaluation=runner.Evaluation(episodes=0))
    r = runner.run(spec, schedule=runner.Schedule(chunk=updates), handle_signals=False)
    m = r.metrics
    run_s = r.timings["train_s"]
    valid, sim = int(np.asarray(m.env_steps, np.int64).sum()), int(np.asarray(m.sim_steps, np.int64).sum())
    return {"kind": "train", "env": name, "seeds": seeds, "num_envs": config.num_envs,
            "updates": updates, "compile_s": r.timings["compile_s"], "run_s": run_s,
            "valid_steps": valid, "simulated_steps": sim,
            "valid_steps_per_s": valid / run_s, "simulated_steps_per_s": sim / run_s,
            "final_mean_return": float(np.nanmean(m.mean_return[0][:, -1]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (CI)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--watchdog", type=float, default=None,
                    help="seconds after which to dump every thread's stack to stderr and exit (diagnoses a "
                         "hang instead of waiting on it)")
    args = ap.parse_args()
    if args.watchdog:
        faulthandler.dump_traceback_later(args.watchdog, exit=True)
    sizes = [64] if args.smoke else [256, 4096]
    steps = 50 if args.smoke else 500
    rows = []
    for name in ("CartPole-v1", "Pixelcopter-v0"):
        for n in sizes:
            rows.append(env_only(name, n, steps))
            print(f"done: env {name} {n} envs", file=sys.stderr, flush=True)
    train_updates = {"CartPole-v1": 3 if args.smoke else 40, "Pixelcopter-v0": 3 if args.smoke else 100}
    for name, u in train_updates.items():
        rows.append(training(name, 2 if args.smoke else 8, u))
        print(f"done: train {name}", file=sys.stderr, flush=True)

    print(f"{'what':<6} {'env':<15} {'size':>10} {'compile s':>9} {'run s':>7} {'valid steps/s':>14} "
          f"{'simulated/s':>12}")
    for r in rows:
        size = f"{r['num_envs']} envs" if r["kind"] == "env" else f"{r['seeds']}x{r['num_envs']}"
        valid = r.get("valid_steps_per_s", r.get("steps_per_s"))
        sim = r.get("simulated_steps_per_s", r.get("steps_per_s"))
        print(f"{r['kind']:<6} {r['env']:<15} {size:>10} {r['compile_s']:9.2f} {r['run_s']:7.2f} "
              f"{valid:14,.0f} {sim:12,.0f}")

    device = jax.devices()[0]
    result = {
        "benchmark": "bench_env", "smoke": args.smoke, "rows": rows,
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count()},
        "device": {"platform": device.platform, "kind": device.device_kind, "count": jax.device_count()},
        "versions": {"jaxpg": jaxpg.__version__, "jax": jax.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "date": datetime.date.today().isoformat(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"bench-env-{device.platform}-{result['date']}{'-smoke' if args.smoke else ''}.json"
    fd, tmp = tempfile.mkstemp(dir=args.out, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, args.out / name)
    print(f"wrote {args.out / name}")


if __name__ == "__main__":
    jnp.zeros(())  # initialise the backend before timing anything
    main()
