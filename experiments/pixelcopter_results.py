"""Pixelcopter's 8-seed result, one command: train, replay 256 episodes per seed, summarise.

Trains 8 seeds of ``jaxpg train --env Pixelcopter-v0`` as two runs of 4 seeds (root seeds 0
and 1, or ``--roots A,B``: fresh seeds to check a setting chosen on those), one after the
other, each a single process on every core (one CPU device per core). The committed results
before 2026-12-05 ran the two at once as two processes pinned to one core each, XLA
single-threaded: the same seeds, the same programs. Then it replays every seed's final policy for ``--episodes``
sampled and greedy episodes to the 10,000-step limit (``pixelcopter_deaths.py``); then
writes ``OUT/<label>.json`` (atomically) with per-seed scores (mean − std of the returns,
the course's measure), the median and worst over the 8 seeds, the wall time of training
(both runs), and the valid env steps per seed. ``--table``
prints the markdown table of every JSON in ``OUT`` (the one in ``docs/results.md``)::

    python experiments/pixelcopter_results.py --label defaults                 # ~40 min, 2 cores
    python experiments/pixelcopter_results.py --label cut-128 -- --max-steps 128
    python experiments/pixelcopter_results.py --table

Arguments after ``--`` go to ``jaxpg train`` unchanged (any setting it takes). The run
directories (checkpoints, logs) go under ``--work`` and are not meant for git.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOTS = (0, 1)


def _run_all(commands: list[list[str]], logs: list[Path]) -> float:
    """Runs the commands one after the other, each a process on every core (one CPU device per
    core, ``jaxpg.devices``); returns the wall seconds; raises if one fails."""
    t = time.perf_counter()
    for cmd, log in zip(commands, logs, strict=True):
        with open(log, "w") as f:
            rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
        if rc != 0:
            raise RuntimeError(f"failed: {log} (exit {rc})")
    return time.perf_counter() - t


def _write_json(record: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)


def summarise(label: str, train_args: list[str], work: Path, train_wall: float, episodes: int,
              roots: tuple[int, ...] = ROOTS) -> dict:
    """The record for ``label`` from its run directories (``summary.json`` and the deaths JSONs)."""
    seeds, steps, train_s = [], [], []
    for root in roots:
        run = work / f"seed-root-{root}"
        summary = json.loads((run / "summary.json").read_text())
        sampled = json.loads((run / "deaths.json").read_text())["seeds"]
        greedy = json.loads((run / "deaths-greedy.json").read_text())["seeds"]
        train_s.append(summary["train_seconds"])
        steps.append(summary["env_steps"] / summary["seeds"])
        for s, g in zip(sampled, greedy, strict=True):
            seeds.append({"root": root, "seed": s["seed"], "mean": s["mean_return"], "std": s["std"],
                          "score": s["score"], "greedy_mean": g["mean_return"], "greedy_score": g["score"]})
    scores = [s["score"] for s in seeds]
    greedy = [s["greedy_score"] for s in seeds]
    return {
        "label": label, "train_args": train_args, "episodes": episodes, "roots": list(roots), "seeds": seeds,
        "score_median": statistics.median(scores), "score_worst": min(scores),
        "greedy_median": statistics.median(greedy), "greedy_worst": min(greedy),
        "mean_return_range": [min(s["mean"] for s in seeds), max(s["mean"] for s in seeds)],
        "train_wall_s": train_wall, "train_s_per_process": train_s,
        "env_steps_per_seed": statistics.mean(steps),
        "config": summary["config"], "hparams": summary["hparams"], "jax_version": summary["jax_version"],
    }


def table(out: Path) -> str:
    rows = ["| settings | wall, 8 seeds on 2 cores | valid env steps / seed | mean return per seed "
            "| score, sampled: median / worst | score, greedy: median / worst |",
            "| --- | ---: | ---: | --- | --- | --- |"]
    for path in sorted(out.glob("*.json"), key=lambda q: (q.stem != "defaults", q.stem)):  # defaults first
        r = json.loads(path.read_text())
        args = r.get("settings_note") or " ".join(r["train_args"]) or "defaults"
        if r.get("roots", list(ROOTS)) != list(ROOTS):
            args += f"; root seeds {', '.join(map(str, r['roots']))}"
        lo, hi = r["mean_return_range"]
        rows.append(f"| {r['label']} (`{args}`) | {r['train_wall_s'] / 60:.0f} min | "
                    f"{r['env_steps_per_seed'] / 1e6:.0f} M | {lo:.0f}–{hi:.0f} | "
                    f"{r['score_median']:.1f} / {r['score_worst']:.1f} | "
                    f"{r['greedy_median']:.1f} / {r['greedy_worst']:.1f} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                epilog="Arguments after a bare -- go to jaxpg train unchanged, e.g. "
                                       "`--label envs-64 -- --num-envs 64`.")
    p.add_argument("--label", help="name of this setting (the JSON's name)")
    p.add_argument("--episodes", type=int, default=256, help="replayed episodes per seed and mode")
    p.add_argument("--out", type=Path, default=HERE / "results" / "pixelcopter-results-cpu")
    p.add_argument("--work", type=Path, default=Path("runs") / "pixelcopter-results",
                   help="where the run directories go (default: runs/pixelcopter-results/LABEL)")
    p.add_argument("--table", action="store_true", help="print the table of every JSON in --out and stop")
    p.add_argument("--skip-train", action="store_true",
                   help="replay and summarise the finished runs already in --work/LABEL (the wall time is "
                        "then the longer of the two runs' own)")
    p.add_argument("--roots", default="0,1",
                   help="the two runs' root seeds (default 0,1); other roots give 8 fresh seeds, to "
                        "check a setting chosen on the default ones")
    p.add_argument("--smoke", action="store_true", help="8 updates of 2 seeds x 8 envs, 4 episodes (a check)")
    args = p.parse_args(own)
    if args.table:
        print(table(args.out))
        return 0
    if not args.label or not args.label.replace("-", "").replace("_", "").isalnum():
        p.error("--label NAME (letters, digits, - and _) is required")
    if args.episodes <= 0:
        p.error("--episodes must be positive")
    try:
        roots = tuple(int(r) for r in args.roots.split(","))
    except ValueError:
        roots = ()
    if len(roots) != 2 or len(set(roots)) != 2 or min(roots) < 0:
        p.error(f"--roots takes two different non-negative integers, e.g. 2,3; got {args.roots!r}")
    work = args.work / args.label
    work.mkdir(parents=True, exist_ok=True)
    seeds, episodes = ("1", 4) if args.smoke else ("4", args.episodes)
    smoke_args = ["--updates", "8", "--num-envs", "8", "--eval-episodes", "2", "--progress-every", "4",
                  "--save-every", "4"] if args.smoke else []
    trains = [[sys.executable, "-m", "jaxpg", "train", "--env", "Pixelcopter-v0", "--seeds", seeds,
               "--seed", str(root), "--progress-every", "400", "--eval-episodes", "32", "--save-every", "800",
               "--out", str(work / f"seed-root-{root}"), "--overwrite", *smoke_args, *train_args]
              for root in roots]
    if args.skip_train:
        summaries = [json.loads((work / f"seed-root-{r}" / "summary.json").read_text()) for r in roots]
        if any(s["interrupted"] or s["updates_done"] != s["config"]["num_updates"] for s in summaries):
            p.error(f"the runs in {work} did not finish; rerun without --skip-train")
        wall = max(s["wall_seconds"] for s in summaries)
    else:
        print(f"{args.label}: training 2 x {seeds} seeds ({' '.join(train_args) or 'defaults'}) in {work}",
              flush=True)
        wall = _run_all(trains, [work / f"train-root-{r}.log" for r in roots])
    print(f"trained in {wall:.0f} s; replaying {episodes} episodes per seed", flush=True)
    for greedy in ((), ("--greedy",)):
        _run_all([[sys.executable, str(HERE / "pixelcopter_deaths.py"), str(work / f"seed-root-{r}"),
                   "--episodes", str(episodes), *greedy] for r in roots],
                 [work / f"deaths{'-greedy' if greedy else ''}-root-{r}.log" for r in roots])
    record = summarise(args.label, train_args, work, wall, episodes, roots)
    out = args.out if not args.smoke else work
    _write_json(record, out / f"{args.label}.json")
    print(f"score, sampled: median {record['score_median']:.1f}, worst {record['score_worst']:.1f}; "
          f"greedy: median {record['greedy_median']:.1f}, worst {record['greedy_worst']:.1f}; "
          f"{record['env_steps_per_seed'] / 1e6:.0f} M valid env steps per seed; {wall / 60:.1f} min wall")
    print(f"wrote {out / (args.label + '.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
