"""The quick-start command with a cold and a warm persistent compilation cache.

Runs ``jaxpg train --env CartPole-v1 --seeds 8 --out DIR`` (the README's main job) in fresh
processes: ``--repeats`` times with an empty cache directory each time (cold: everything is
compiled), then ``--repeats`` times with one directory that the first of them filled (warm:
the programs are read back). Reports each process's wall time and the run layer's own
``compile`` and ``train`` seconds (from ``summary.json``), and writes
``experiments/results/compile-cache-bench-<backend>-<date>.json``.

    python experiments/compile_cache_bench.py              # ~2 min on 2 CPU cores
    python experiments/compile_cache_bench.py --repeats 1  # ~30 s
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMAND = ["train", "--env", "CartPole-v1", "--seeds", "8"]


def one(cache: Path, work: Path) -> dict:
    out = work / f"run-{time.monotonic_ns()}"
    env = {**os.environ, "JAXPG_COMPILE_CACHE": str(cache)}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "jaxpg", *COMMAND, "--out", str(out), "--quiet"],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"jaxpg failed: {proc.stderr.strip().splitlines()[-1:]}")
    summary = json.loads((out / "summary.json").read_text())
    shutil.rmtree(out)
    return {"wall_seconds": round(wall, 2), "compile_seconds": summary["compile_seconds"],
            "train_seconds": summary["train_seconds"],
            "cache_entries": len(list(cache.iterdir())), "min_eval_mean": min(summary["eval_mean"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="processes per case")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="directory for the JSON")
    args = ap.parse_args()
    import jax

    rows = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        warm_cache = tmp / "warm"
        for i in range(args.repeats):
            cache = warm_cache if i == 0 else tmp / f"cold-{i}"
            rows["cold"].append(one(cache, tmp))
        for _ in range(args.repeats):
            rows["warm"].append(one(warm_cache, tmp))
    print(f"{'case':<5} | {'wall s (median)':>15} | {'compile s':>9} | {'train s':>7} | walls")
    summary = {}
    for case, rs in rows.items():
        med = statistics.median(r["wall_seconds"] for r in rs)
        comp = statistics.median(r["compile_seconds"] for r in rs)
        train = statistics.median(r["train_seconds"] for r in rs)
        summary[case] = {"median_wall_seconds": med, "median_compile_seconds": comp, "median_train_seconds": train}
        print(f"{case:<5} | {med:>15.1f} | {comp:>9.1f} | {train:>7.1f} | {[r['wall_seconds'] for r in rs]}")
    backend = jax.default_backend()
    record = {
        "benchmark": "compile_cache", "command": "jaxpg " + " ".join(COMMAND) + " --out DIR",
        "regenerate": "python experiments/compile_cache_bench.py", "repeats": args.repeats,
        "summary": summary, "runs": rows, "machine": platform.node(), "cpu_count": os.cpu_count(),
        "device": str(jax.devices()[0]), "backend": backend, "python": platform.python_version(),
        "versions": {"jax": jax.__version__, "jaxlib": jax.lib.__version__},
        "date": datetime.date.today().isoformat(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"compile-cache-bench-{backend}-{record['date']}.json"
    tmp_path = path.with_suffix(".json.tmp")
    tmp_path.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp_path, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
