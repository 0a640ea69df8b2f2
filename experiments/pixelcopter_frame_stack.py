"""Does a policy that sees its last K observations fly Pixelcopter better?

The original game's 7-value observation reports only the first terrain piece the copter's
column overlaps, and 37-38% of a trained policy's crashes are on the wall of the other
piece (``pixelcopter_deaths.py``). A frame stack (``Config.frame_stack``, ``jaxpg train
--frame-stack K``) gives the policy and the value net the last K observations, so they
could infer the cave's trend. This trains the recommended Pixelcopter settings with
``frame_stack=K`` (K = 1: the plain env), then evaluates every seed on ``--episodes``
sampled episodes to the env's 10,000-step limit::

    python experiments/pixelcopter_frame_stack.py --stack 4 --updates 1500 --seeds 2 --seed 5

Prints the training return every 100 updates and a per-seed table; writes JSON
atomically (``--out``, default ``experiments/results/pixelcopter-frame-stack-cpu/``
``k{K}-u{U}-root{R}.json``) with the machine, device and versions. Training and the
evaluation go through ``jaxpg.runner.run`` (chunks of 100 updates; seed ``i`` from
``split(key(seed), S)[i]``, the run layer's evaluation keys).

The files of 2026-12-01 in that folder were made before ``frame_stack`` was a library
option, by this script's own wrapper: a flat ``[K·7]`` observation with obs_norm
statistics per slot (the library's keeps them per frame feature, shared by the slots).
Settings for the 8-seed table: ``pixelcopter_results.py --label ... -- --frame-stack 4``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from jaxpg import bench, runner
from jaxpg.defaults import recommended

ENV = "Pixelcopter-v0"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", type=int, default=4, help="K observations the policy sees (1: plain env)")
    ap.add_argument("--updates", type=int, default=1500)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="root seed: run i uses split(key(seed))[i]")
    ap.add_argument("--episodes", type=int, default=256, help="evaluation episodes per seed")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: the recommended one)")
    ap.add_argument("--no-obs-norm", action="store_true", help="turn the recommended obs_norm off")
    args = ap.parse_args(argv)
    for name in ("stack", "updates", "seeds", "episodes"):
        if getattr(args, name) < 1:
            print(f"pixelcopter_frame_stack: --{name} must be >= 1", file=sys.stderr)
            return 2
    if args.updates % 100:
        print("pixelcopter_frame_stack: --updates must be a multiple of 100", file=sys.stderr)
        return 2
    out = args.out or Path(__file__).parent / "results" / "pixelcopter-frame-stack-cpu" / (
        f"k{args.stack}-u{args.updates}-root{args.seed}"
        f"{'' if args.lr is None else f'-lr{args.lr:g}'}{'-noobsnorm' if args.no_obs_norm else ''}.json")

    overrides = {"obs_norm": False} if args.no_obs_norm else {}
    config, hp = recommended(ENV, num_updates=args.updates, frame_stack=args.stack, **overrides)
    if args.lr is not None:
        hp = hp.replace(learning_rate=args.lr)
    t0 = time.time()

    def progress(pr: runner.Progress) -> None:
        print(f"update {pr.update:5d}  train return (last update) {np.round(pr.mean_return[0], 1)}  "
              f"{time.time() - t0:.0f} s", flush=True)

    spec = runner.RunSpec(config, hp, seeds=args.seeds, seed=args.seed,
                          evaluation=runner.Evaluation(episodes=args.episodes))
    # chunks of 100 updates: the progress line every 100 updates
    result = runner.run(spec, schedule=runner.Schedule(chunk=100), progress=progress, handle_signals=False)
    if result.diverged:
        print(f"pixelcopter_frame_stack: {next(iter(result.diverged.values()))}", file=sys.stderr)
        return 1
    ret = np.asarray(result.metrics.mean_return[0])  # [S, U]
    curve = [ret[:, c * 100 + 80:(c + 1) * 100].mean(1).tolist() for c in range(args.updates // 100)]
    train_s = result.timings["train_s"]
    returns = np.asarray(result.eval_returns["sampled"][0])  # [S, K]
    greedy = np.asarray(result.eval_returns["greedy"][0])
    mean, std = returns.mean(1), returns.std(1)
    print(f"\nK = {args.stack}, {args.updates} updates, {args.episodes} sampled episodes per seed")
    print("| seed | mean | std | mean − std |\n| --- | --- | --- | --- |")
    for i in range(args.seeds):
        print(f"| {i} | {mean[i]:.1f} | {std[i]:.1f} | {mean[i] - std[i]:.1f} |")
    bench.write_json({
        "env": ENV, "stack": args.stack, "updates": args.updates, "seeds": args.seeds, "root_seed": args.seed,
        "episodes": args.episodes, "learning_rate": float(hp.learning_rate), "obs_norm": config.obs_norm,
        "train_seconds": train_s, "compile_seconds": result.timings["compile_s"],
        "eval_seconds": result.timings["eval_s"], "eval_greedy_mean": greedy.mean(1).tolist(),
        "train_return_last20_every_100": curve, "eval_mean": mean.tolist(), "eval_std": std.tolist(),
        "score": (mean - std).tolist(), **bench.machine_info(),
    }, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
