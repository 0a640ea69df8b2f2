"""How cost grows with the population: wall time and memory per run, 1 … 4,096 runs.

For populations of R = 1, 4, 16, …, 4,096 CartPole-v1 runs (and 1 … 256 Pixelcopter-v0 runs),
each a ``jaxpg.runner.Population`` of R seeds with the env's recommended settings (16 envs per
run here, so the sizes stay comparable), trained for a few updates through the run layer's own
compiled chunks on the current device, in this one process:

- ``update_s``: wall seconds per update of the whole population (compile time apart);
- ``run_update_ms``: that divided by R (what one more run costs);
- ``valid_steps_per_s``: valid (unmasked) env steps per second;
- ``bytes_per_run``: XLA's memory analysis of the compiled chunk (arguments + outputs +
  temporaries − aliased) divided by R, and ``bytes_total``.

Then fits ``update_s ≈ a + b·R`` to the largest sizes (the per-run cost once the device is
busy) and reports the knee: the smallest R whose throughput is within 10 % of the best.
Writes ``experiments/results/scaling-<backend>-<date>.json`` and a plot beside it.

    python experiments/scaling.py              # ~4 min on 2 CPU cores
    python experiments/scaling.py --smoke      # seconds: R = 1, 4
"""

from __future__ import annotations

import argparse
import datetime
import math
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def measure(env: str, runs: int, num_envs: int, updates: int, chunks: int) -> dict:
    from jaxpg.bench import train_point
    from jaxpg.defaults import recommended
    from jaxpg.runner import Population, RunSpec, memory

    config, hparams = recommended(env, num_envs=num_envs, hidden=(64, 64), activation="tanh", num_updates=updates)
    pop = Population(RunSpec(config, hparams, seeds=runs))
    t = time.perf_counter()
    total = memory.needed(pop)["train"]  # compiles the chunk (from abstract shapes)
    avail, what = memory.available_memory(pop.mesh)
    row = {"env": env, "runs": runs, "num_envs": num_envs, "updates": updates, "bytes_total": total,
           "bytes_per_run": None if total is None else total / runs, "available_bytes": avail}
    if total is not None and avail is not None and total > 0.8 * avail:
        print(f"{env:<15} {runs:>6}  needs {total / 2**30:.1f} GiB, {avail / 2**30:.1f} GiB available ({what}): "
              "not run (one program cannot hold it)", flush=True)
        return {**row, "fits": False, "compile_s": round(time.perf_counter() - t, 3)}
    res = train_point(env, num_envs, runs, hidden=(64, 64), activation="tanh", updates=updates, chunks=chunks)
    return {**row, "fits": True, "compile_s": round(time.perf_counter() - t, 3), "run_s": round(res["run_s"], 4),
            "update_s": res["run_s"] / updates, "run_update_ms": 1e3 * res["run_s"] / updates / runs,
            "valid_steps_per_s": res["valid_steps_per_s"], "final_return": res["final_return"]}


def fit(rows: list[dict]) -> dict:
    """``update_s = a + b R`` over the larger half of the sizes that ran, and the knee."""
    rows = [x for x in rows if x["fits"]]
    big = rows[len(rows) // 2:] if len(rows) >= 4 else rows
    r = np.array([x["runs"] for x in big], float)
    y = np.array([x["update_s"] for x in big])
    b, a = np.polyfit(r, y, 1) if len(big) >= 2 else (y[0] / r[0], 0.0)
    thr = np.array([x["valid_steps_per_s"] for x in rows])
    knee = next(x["runs"] for x, t in zip(rows, thr, strict=True) if t >= 0.9 * thr.max())
    mem = [x["bytes_per_run"] for x in rows if x["bytes_per_run"]]
    return {"a_s": float(a), "b_ms_per_run": float(b * 1e3), "knee_runs": int(knee),
            "best_valid_steps_per_s": float(thr.max()),
            "bytes_per_run_at_largest": mem[-1] if mem else None}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for env, rows in results.items():
        ran = [x for x in rows if x["fits"]]
        ax1.plot([x["runs"] for x in ran], [x["run_update_ms"] for x in ran], "o-", label=env)
        if all(x["bytes_per_run"] for x in rows):
            ax2.plot([x["runs"] for x in rows], [x["bytes_per_run"] / 2**20 for x in rows], "o-", label=env)
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("runs in the population (seeds, 16 envs each)")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    ax1.set_ylabel("ms per update per run")
    ax2.set_ylabel("MiB per run (XLA memory analysis)")
    fig.suptitle("jaxpg: cost of one more run (64-64 policy)")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="R = 1, 4 only (seconds)")
    ap.add_argument("--max-cartpole", type=int, default=4096, help="largest CartPole population")
    ap.add_argument("--max-pixelcopter", type=int, default=256, help="largest Pixelcopter population")
    ap.add_argument("--updates", type=int, default=8, help="timed updates per size")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="directory for the JSON and plot")
    args = ap.parse_args()
    import jax

    from jaxpg.bench import machine_info, write_json

    sizes = {"CartPole-v1": args.max_cartpole, "Pixelcopter-v0": args.max_pixelcopter}
    results: dict[str, list[dict]] = {}
    print(f"{'env':<15} {'runs':>6} {'compile s':>9} {'s/update':>9} {'ms/update/run':>13} "
          f"{'valid steps/s':>14} {'MiB/run':>8}")
    for env, largest in sizes.items():
        rs = [1, 4] if args.smoke else [4**k for k in range(int(math.log(largest, 4)) + 1)]
        results[env] = []
        for r in rs:
            row = measure(env, r, 16, 2 if args.smoke else args.updates, 2)
            results[env].append(row)
            if not row["fits"]:
                continue
            mib = f"{row['bytes_per_run'] / 2**20:8.2f}" if row["bytes_per_run"] else "       -"
            print(f"{env:<15} {r:>6} {row['compile_s']:>9.1f} {row['update_s']:>9.4f} {row['run_update_ms']:>13.3f} "
                  f"{row['valid_steps_per_s']:>14,.0f} {mib}", flush=True)
    fits = {env: fit(rows) for env, rows in results.items()}
    for env, f in fits.items():
        print(f"{env}: update_s ~ {f['a_s']:.4f} + {f['b_ms_per_run']:.3f} ms x runs; throughput within 10% of its "
              f"best ({f['best_valid_steps_per_s']:,.0f} valid steps/s) from {f['knee_runs']} runs")
    record = {"benchmark": "scaling", "regenerate": "python experiments/scaling.py", "smoke": args.smoke,
              "policy": "64-64 tanh", "num_envs_per_run": 16, "results": results, "fits": fits,
              **machine_info(), "date": datetime.date.today().isoformat()}
    backend = jax.default_backend()
    name = f"scaling-{'smoke-' if args.smoke else ''}{backend}-{record['date']}"
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(record, args.out / f"{name}.json")
    plot(results, args.out / f"{name}.png")
    print(f"wrote {args.out / (name + '.json')} and {name}.png")


if __name__ == "__main__":
    main()
