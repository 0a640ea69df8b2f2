"""One CPU device or one per core: the quick start and Pixelcopter, in fresh processes, interleaved.

Issue 29's measurement. Every case is a fresh ``python -m jaxpg train`` process (the persistent
compilation cache warmed by one untimed run first), the variants interleaved round by round so a
drift of the machine's speed hits them alike:

- ``quick``: the README's quick start, ``jaxpg train --env CartPole-v1 --seeds 8 --out DIR``:
  the process's wall time and, from its ``summary.json``, where the time went (compile — tracing
  and reading the compiled programs back from the cache —, train, eval, and the rest of the run:
  env build, checkpoint and files), plus the import time of ``jaxpg.cli`` and the run layer
  measured in its own fresh processes;
- ``pixelcopter``: ``--env Pixelcopter-v0 --seeds 8 --updates 800``: train seconds;
- ``pad``: ``--seeds 1`` (fewer runs than devices: the run layer pads to a multiple of the
  devices) on one device against every core;
- ``bench`` (once per variant, after the rounds): ``jaxpg bench --grid 256x8,1024x8``, valid
  env steps per second of both policies (4-16-2 and 64-64) through the run layer.

Variants: ``one`` (``JAXPG_CPU_DEVICES=1``, what every version before 0.x did), ``cores``
(the default now: one device per usable core), ``cores-1t`` (every core, XLA's CPU thread pool
off: ``--xla_cpu_multi_thread_eigen=false``), and with ``--before DIR`` (a checkout of an older
jaxpg, run from its own directory so that its package is the one imported) ``before`` (on the
quick start) and ``before-cores`` (the older version given one device per core by XLA's flag: it
padded one seed to every device; on the ``pad`` case). Writes
``cpu-devices-<platform>-<date>.json`` (a run of some ``--cases`` replaces their rows in an
existing file of the day and keeps the others)::

    python experiments/cpu_devices.py --repeats 5 --before /tmp/before --out experiments/results   # ~25 min
    python experiments/cpu_devices.py --cases pad --no-bench --before /tmp/before --out experiments/results
    python experiments/cpu_devices.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
CASES = {
    "quick": ["--env", "CartPole-v1", "--seeds", "8"],
    "pixelcopter": ["--env", "Pixelcopter-v0", "--seeds", "8", "--updates", "800", "--quiet"],
    "pad": ["--env", "CartPole-v1", "--seeds", "1", "--quiet"],
}


def _env(variant: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("JAXPG_CPU_DEVICES", "XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    if variant in ("one", "before"):
        env["JAXPG_CPU_DEVICES"] = "1"  # (the older version ignores it: it always had one device)
    if variant == "cores-1t":
        env["XLA_FLAGS"] = SINGLE_THREAD
    if variant == "before-cores":  # the older version on one device per core: it padded to the devices
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={len(os.sched_getaffinity(0))}"
    return env


def _train(variant: str, args: list[str], out: Path, cwd: Path) -> dict:
    cmd = [sys.executable, "-m", "jaxpg", "train", *args, "--out", str(out), "--overwrite"]
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=_env(variant), capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{variant} {' '.join(args)}: exit {r.returncode}\n{r.stderr[-2000:]}")
    s = json.loads((out / "summary.json").read_text())
    return {"process_s": wall, "run_s": s["wall_seconds"], "compile_s": s["compile_seconds"],
            "train_s": s["train_seconds"], "eval_s": s["eval_seconds"], "devices": s.get("devices"),
            "env_steps": s["env_steps"]}


def _import_s(variant: str, cwd: Path) -> float:
    code = ("import time; t = time.perf_counter(); import jaxpg.cli, jaxpg.runner; "
            "print(time.perf_counter() - t)")
    r = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=_env(variant), capture_output=True, text=True,
                       timeout=300, check=True)
    return float(r.stdout.strip().splitlines()[-1])


def _bench(variant: str, cwd: Path, out: Path, smoke: bool) -> list[dict]:
    cmd = [sys.executable, "-m", "jaxpg", "bench", "--out", str(out)]
    cmd += ["--smoke"] if smoke else ["--grid", "256x8,1024x8", "--updates", "50"]
    subprocess.run(cmd, cwd=cwd, env=_env(variant), capture_output=True, text=True, timeout=1800, check=True)
    (path,) = out.glob("bench-*.json")
    rows = json.loads(path.read_text())["rows"]
    return [{k: r.get(k) for k in ("policy", "num_envs", "seeds", "devices", "valid_steps_per_s", "run_s",
                                   "compile_s", "final_return")} for r in rows]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="rounds of the quick start and pad cases")
    p.add_argument("--pixelcopter-repeats", type=int, default=2, help="rounds with the Pixelcopter case")
    p.add_argument("--before", type=Path, default=None, help="a checkout of an older jaxpg (its own directory)")
    p.add_argument("--cases", default="quick,pixelcopter,pad")
    p.add_argument("--no-bench", action="store_true", help="skip the jaxpg bench grid")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--smoke", action="store_true", help="1 repeat, tiny runs (a check of the script)")
    args = p.parse_args()
    cases = {c: CASES[c] for c in args.cases.split(",")}
    if args.smoke:
        cases = {c: [*a, "--updates", "3", "--num-envs", "4", "--eval-episodes", "2"] for c, a in cases.items()}
        args.repeats = args.pixelcopter_repeats = 1
    variants = {"one": ROOT, "cores": ROOT, "cores-1t": ROOT}
    if args.before is not None:
        variants = {"before": args.before.resolve(), "before-cores": args.before.resolve(), **variants}
    # the older version has one device only: it is compared on the quick start (before / after)
    per_case = {c: {v: cwd for v, cwd in variants.items()
                    if (v != "before" or c == "quick") and (v != "before-cores" or c == "pad")} for c in cases}
    runs: dict = {c: {v: [] for v in per_case[c]} for c in cases}
    imports: dict = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for c, a in cases.items():  # warm the compilation cache: one untimed run of each
            for v, cwd in per_case[c].items():
                _train(v, a, Path(tmp) / f"warm-{c}-{v}", cwd)
        for rep in range(args.repeats):
            for c, a in cases.items():
                if c == "pixelcopter" and rep >= args.pixelcopter_repeats:
                    continue
                for v, cwd in per_case[c].items():
                    runs[c][v].append(_train(v, a, Path(tmp) / f"{c}-{v}", cwd))
                    print(f"[{rep + 1}/{args.repeats}] {c:<11} {v:<8} process {runs[c][v][-1]['process_s']:6.1f} s"
                          f"  train {runs[c][v][-1]['train_s']:6.1f} s  devices {runs[c][v][-1]['devices']}",
                          flush=True)
            if "quick" in cases:
                for v, cwd in variants.items():
                    imports[v].append(_import_s(v, cwd))
        bench = {} if args.no_bench else {v: _bench(v, cwd, Path(tmp) / f"bench-{v}", args.smoke)
                                          for v, cwd in variants.items() if not v.startswith("before")}

    def med(xs, key):
        return statistics.median(x[key] for x in xs)

    print(f"\nmedian of {args.repeats} fresh processes each (Pixelcopter: {args.pixelcopter_repeats}), interleaved")
    print(f"{'case':<11} {'variant':<8} {'devices':>7} {'process s':>9} {'import s':>8} {'compile s':>9} "
          f"{'train s':>7} {'eval s':>6} {'rest s':>6}")
    rows = []
    for c in cases:
        for v in runs[c]:
            xs = runs[c][v]
            imp = statistics.median(imports[v]) if c == "quick" and imports[v] else None
            row = {"case": c, "variant": v, "devices": xs[0]["devices"], "process_s": med(xs, "process_s"),
                   "import_s": imp, "compile_s": med(xs, "compile_s"), "train_s": med(xs, "train_s"),
                   "eval_s": med(xs, "eval_s"), "run_s": med(xs, "run_s"),
                   "train_s_all": [x["train_s"] for x in xs], "process_s_all": [x["process_s"] for x in xs],
                   "env_steps": [x["env_steps"] for x in xs]}
            row["rest_s"] = row["run_s"] - row["compile_s"] - row["train_s"] - row["eval_s"]
            rows.append(row)
            print(f"{c:<11} {v:<8} {str(row['devices']):>7} {row['process_s']:9.2f} "
                  f"{(f'{imp:8.2f}' if imp is not None else '       -')} {row['compile_s']:9.2f} "
                  f"{row['train_s']:7.2f} {row['eval_s']:6.2f} {row['rest_s']:6.2f}")
    if bench:
        print(f"\njaxpg bench, valid env steps per second ({', '.join(bench)})")
        for i, r in enumerate(next(iter(bench.values()))):
            cells = "  ".join(f"{bench[v][i]['valid_steps_per_s'] / 1e6:6.2f} M/s ({bench[v][i]['devices']} dev)"
                              for v in bench)
            print(f"{r['policy']:>10} {r['num_envs']:>5}x{r['seeds']:<3} {cells}")
    if args.out is not None and not args.smoke:
        sys.path.insert(0, str(ROOT))
        from jaxpg.bench import machine_info, write_json

        rec = {**machine_info(), "repeats": args.repeats, "pixelcopter_repeats": args.pixelcopter_repeats,
               "before": str(args.before) if args.before else None,
               "cases": cases, "rows": rows, "bench": bench}
        path = args.out / f"cpu-devices-{rec['device']['platform']}-{rec['date']}.json"
        if path.exists():  # a rerun of some cases replaces their rows and keeps the others
            old = json.loads(path.read_text())
            rec["rows"] = [r for r in old["rows"] if r["case"] not in cases] + rows
            rec["bench"] = bench or old.get("bench", {})
            rec["cases"] = {**old.get("cases", {}), **cases}
        write_json(rec, path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
