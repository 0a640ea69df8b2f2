"""One compiled sweep vs. a shell loop of single-seed runs, on this machine.

Runs (as a user would, each a fresh process)::

    jaxpg sweep --env CartPole-v1 --seeds 32 --lr 1e-3,3e-3,1e-2 --gamma 0.99,1.0
    jaxpg train --env CartPole-v1 --seeds 1 --seed 0 --lr X --gamma Y      (a few of the 192)

and extrapolates the loop to all 192 runs (each loop run pays its own process
start, imports and compilation). Both commands go through the run layer (``jaxpg.runner.run``);
this script only times them and reads the sweep's ``sweep.json``. Prints a table and writes
``experiments/results/sweep-vs-loop-<device>-<date>.json`` atomically.

    python experiments/sweep_vs_loop.py [--seeds 32] [--loop-samples 3]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LRS = [1e-3, 3e-3, 1e-2]
GAMMAS = [0.99, 1.0]


def _timed_cmd(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="CartPole-v1")
    ap.add_argument("--seeds", type=int, default=32)
    ap.add_argument("--loop-samples", type=int, default=3, help="single-seed runs actually timed")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    py = [sys.executable, "-m", "jaxpg"]
    lr_s, g_s = ",".join(map(str, LRS)), ",".join(map(str, GAMMAS))
    runs = len(LRS) * len(GAMMAS) * args.seeds

    with tempfile.TemporaryDirectory() as d:
        sweep_wall = _timed_cmd([*py, "sweep", "--env", args.env, "--seeds", str(args.seeds), "--lr", lr_s,
                                 "--gamma", g_s, "--out", d, "--quiet"])
        sweep = json.loads(Path(d, "sweep.json").read_text())

    samples = []
    for i in range(args.loop_samples):
        lr, g = LRS[i % len(LRS)], GAMMAS[i % len(GAMMAS)]
        samples.append(_timed_cmd([*py, "train", "--env", args.env, "--seeds", "1", "--seed", str(i),
                                   "--lr", str(lr), "--gamma", str(g), "--quiet"]))
    per_run = sum(samples) / len(samples)
    loop_wall = per_run * runs

    scores = {i: sum(p["eval_score"]) / len(p["eval_score"]) for i, p in enumerate(sweep["points"])}
    print(f"{args.env}: {len(LRS)} lr x {len(GAMMAS)} gamma x {args.seeds} seeds = {runs} runs")
    print(f"{'how':<34} {'wall s':>9}  notes")
    print(f"{'jaxpg sweep (one process)':<34} {sweep_wall:9.1f}  compile {sweep['compile_seconds']:.1f} s, "
          f"train {sweep['train_seconds']:.1f} s, eval {sweep['eval_seconds']:.1f} s, "
          f"{sweep['env_steps']:,} valid env steps")
    print(f"{'loop of jaxpg train --seeds 1':<34} {loop_wall:9.1f}  {per_run:.1f} s per run "
          f"(mean of {len(samples)} timed) x {runs}")
    print(f"speed-up: {loop_wall / sweep_wall:.1f}x")
    for i, p in enumerate(sweep["points"]):
        h = p["hparams"]
        print(f"  lr {h['learning_rate']:<6g} gamma {h['gamma']:<5g} mean final score {scores[i]:7.1f}")

    import jax

    import jaxpg

    device = jax.devices()[0]
    result = {
        "benchmark": "sweep_vs_loop", "env": args.env, "runs": runs, "seeds": args.seeds,
        "learning_rates": LRS, "gammas": GAMMAS,
        "sweep_process_wall_s": sweep_wall, "sweep_wall_seconds": sweep["wall_seconds"],
        "sweep_compile_s": sweep["compile_seconds"], "sweep_train_s": sweep["train_seconds"],
        "sweep_eval_s": sweep["eval_seconds"], "sweep_env_steps": sweep["env_steps"],
        "loop_sample_walls_s": samples, "loop_per_run_s": per_run, "loop_extrapolated_s": loop_wall,
        "speedup": loop_wall / sweep_wall,
        "points": [{"hparams": p["hparams"], "mean_score": scores[i]} for i, p in enumerate(sweep["points"])],
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count()},
        "device": {"platform": device.platform, "kind": device.device_kind, "count": jax.device_count()},
        "versions": {"jaxpg": jaxpg.__version__, "jax": jax.__version__, "python": platform.python_version()},
        "date": datetime.date.today().isoformat(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = args.out / f"sweep-vs-loop-{device.platform}-{result['date']}.json"
    fd, tmp = tempfile.mkstemp(dir=args.out, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, name)
    print(f"wrote {name}")


if __name__ == "__main__":
    main()
