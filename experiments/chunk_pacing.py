"""What time-bounded chunks cost, and what they save (issue 28).

Two measurements, each arm in fresh processes, interleaved so that both see the same machine:

1. **cost**: train seconds of the quick start (``jaxpg train --env CartPole-v1 --seeds 8``) and of
   a Pixelcopter run (``--seeds 8 --updates 800``), with chunks paced to ``--chunk-seconds 30``
   (the default), with chunks of a tenth of the run in the same code (``--chunk-seconds 1e9``),
   and, given ``--before DIR`` (a checkout of jaxpg before time-bounded chunks), that code's own
   fixed chunks;
2. **stop** (``--stop``): a long Pixelcopter run (``--seeds 2 --updates 304000``) sent SIGTERM
   ``--after`` seconds after "compiled": the update its checkpoint holds and the seconds from the
   signal to the process's exit, for each code.

    python experiments/chunk_pacing.py --before /tmp/before --repeats 2 --stop --out experiments/results

prints a table and writes ``chunk-pacing-<backend>-<date>.json``. Train seconds come from each
run's ``summary.json`` (compile time apart).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKLOADS = {
    "quick start": ["train", "--env", "CartPole-v1", "--seeds", "8"],
    "Pixelcopter 8x800": ["train", "--env", "Pixelcopter-v0", "--seeds", "8", "--updates", "800"],
}
LONG = ["train", "--env", "Pixelcopter-v0", "--seeds", "2", "--updates", "304000"]


def _env(src: Path) -> dict:
    # each arm runs in its own checkout (`python -m jaxpg` imports the working directory's jaxpg first)
    return {**os.environ, "PYTHONPATH": str(src), "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}


def _arms(before: Path | None) -> list[tuple[str, Path, list[str]]]:
    arms = [("paced 30 s", REPO, []), ("tenths, same code", REPO, ["--chunk-seconds", "1e9"])]
    if before is not None:
        arms.append(("before (fixed tenths)", before, []))
    return arms


def cost(before: Path | None, repeats: int) -> list[dict]:
    rows = []
    for r in range(repeats):
        for name, argv in WORKLOADS.items():
            for arm, src, extra in _arms(before):
                with tempfile.TemporaryDirectory() as d:
                    t = time.perf_counter()
                    proc = subprocess.run([sys.executable, "-m", "jaxpg", *argv, *extra, "--quiet", "--out",
                                           f"{d}/run"], env=_env(src), capture_output=True, text=True, cwd=src)
                    wall = time.perf_counter() - t
                    if proc.returncode != 0:
                        raise SystemExit(f"{arm} {name}: {proc.stderr.strip().splitlines()[-1]}")
                    s = json.loads(Path(f"{d}/run/summary.json").read_text())
                rows.append({"workload": name, "arm": arm, "repeat": r, "train_s": s["train_seconds"],
                             "compile_s": s["compile_seconds"], "wall_s": wall, "env_steps": s["env_steps"]})
                print(f"{name:<18} {arm:<22} train {s['train_seconds']:7.2f} s  compile {s['compile_seconds']:5.2f} s"
                      f"  wall {wall:6.1f} s", flush=True)
    return rows


def stop(before: Path | None, after: float) -> list[dict]:
    rows = []
    for arm, src, extra in _arms(before)[::2]:  # paced, and the code before
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "run"
            proc = subprocess.Popen([sys.executable, "-m", "jaxpg", *LONG, *extra, "--out", str(out)], env=_env(src),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=src)
            for line in proc.stdout:
                if "compiled in" in line:
                    break
            time.sleep(after)
            t = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=3600)
            to_exit = time.perf_counter() - t
            meta = out / "checkpoint.json"
            saved = json.loads(meta.read_text())["updates_done"] if meta.is_file() else None
            last = err.strip().splitlines()[-1] if err.strip() else ""
        rows.append({"arm": arm, "signal_after_compiled_s": after, "saved_update": saved, "signal_to_exit_s": to_exit,
                     "exit": proc.returncode, "stderr_last_line": last})
        print(f"SIGTERM {after:.0f} s after compiled, {arm:<22} saved update {saved}  exit {proc.returncode} "
              f"{to_exit:.1f} s after the signal", flush=True)
    return rows


def _table(rows: list[dict]) -> None:
    print("\n| workload | arm | train s (each repeat) | median |\n| --- | --- | --- | ---: |")
    keys = dict.fromkeys((r["workload"], r["arm"]) for r in rows)
    for w, a in keys:
        ts = sorted(r["train_s"] for r in rows if (r["workload"], r["arm"]) == (w, a))
        print(f"| {w} | {a} | {', '.join(f'{t:.2f}' for t in ts)} | {ts[len(ts) // 2]:.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, default=None, help="a checkout of jaxpg before time-bounded chunks")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--stop", action="store_true", help="also the SIGTERM into a long Pixelcopter run")
    p.add_argument("--after", type=float, default=60.0, help="seconds after 'compiled' to send SIGTERM")
    p.add_argument("--no-cost", action="store_true", help="skip the cost measurement")
    p.add_argument("--out", type=Path, default=None, help="folder for the JSON record")
    args = p.parse_args()
    from jaxpg.bench import machine_info, write_json

    record = {**machine_info(), "before": str(args.before) if args.before else None}
    if not args.no_cost:
        record["cost"] = cost(args.before, args.repeats)
        _table(record["cost"])
    if args.stop:
        record["stop"] = stop(args.before, args.after)
    if args.out is not None:
        path = args.out / f"chunk-pacing-{record['device']['platform']}-{record['date']}.json"
        if path.is_file():  # a later run of one section keeps the other's record of the same day
            record = {**json.loads(path.read_text()), **record}
        write_json(record, path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
