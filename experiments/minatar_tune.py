"""MinAtar learning rates screened on some seeds: the choice behind ``jaxpg.defaults``' MinAtar entries.

For each game, the provisional cnn settings (``jaxpg.defaults``) at **half** their update budget
(a screen, as successive halving does), with the learning rate at 1e-3, 3e-3 and 1e-2: 3 points
x 4 seeds of root seed 0 in one run-layer program (a sweep), each seed evaluated over 32 sampled
episodes to the game's own limit. Per point: the IQM over seeds of each seed's evaluation mean,
its 95% stratified-bootstrap interval and the worst seed; the point with the highest IQM is the
choice. The choice is then confirmed at the full budget on 8 fresh seeds (root seed 1), against
the provisional 3e-3 on the same seeds (``--root 1 --fraction 1 --seeds 8 --lrs 3e-3,1e-2``).
Prints a table and writes
``experiments/results/minatar-tune-<backend>-<date>.json`` (rewritten after every game).

    python experiments/minatar_tune.py                     # ~25 minutes on 2 CPU cores
    python experiments/minatar_tune.py --games Breakout-MinAtar --lrs 3e-3,1e-2
    python experiments/minatar_tune.py --root 1 --fraction 1 --seeds 8 --lrs 3e-3,1e-2 \
        --out experiments/results/minatar-confirm-cpu/confirm-2026-12-06.json   # the confirmation
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from minatar import GAMES  # noqa: E402


def screen(game: str, lrs: list[float], seeds: int, episodes: int, fraction: float, root: int = 0) -> dict:
    from jaxpg import runner
    from jaxpg.defaults import recommended
    from jaxpg.stats import iqm, stratified_bootstrap_ci

    config, hparams = recommended(game)
    config = config.replace(num_updates=max(2, round(config.num_updates * fraction)))
    spec = runner.RunSpec(config, hparams, points=tuple({"learning_rate": lr} for lr in lrs), seeds=seeds, seed=root,
                          evaluation=runner.Evaluation(episodes=episodes, max_steps=None))
    t = time.perf_counter()
    r = runner.run(spec, schedule=runner.Schedule(chunk=None), handle_signals=False)
    wall = time.perf_counter() - t
    sampled = np.asarray(r.eval_returns["sampled"])  # [H, S, K]
    steps = np.asarray(r.metrics.env_steps, np.int64).sum(-1)  # [H, S]
    points = []
    for h, lr in enumerate(lrs):
        per_seed = sampled[h].mean(1)
        lo, hi = stratified_bootstrap_ci(per_seed, iqm)
        points.append({"learning_rate": lr, "diverged": r.diverged.get(h), "eval_mean_per_seed":
                       per_seed.round(3).tolist(), "iqm": float(iqm(per_seed)), "iqm_ci95": [lo, hi],
                       "worst_seed": float(per_seed.min()), "env_steps_per_seed": float(steps[h].mean())})
    ok = [p for p in points if p["diverged"] is None]
    best = max(ok, key=lambda p: p["iqm"])
    return {"game": game, "updates": config.num_updates, "seeds": seeds, "root_seed": root, "eval_episodes": episodes,
            "points": points, "chosen_learning_rate": best["learning_rate"], "wall_seconds": wall,
            "compile_seconds": r.timings["compile_s"], "train_seconds": r.timings["train_s"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", default=",".join(GAMES))
    ap.add_argument("--lrs", default="1e-3,3e-3,1e-2")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--eval-episodes", type=int, default=32)
    ap.add_argument("--fraction", type=float, default=0.5, help="of the provisional update budget")
    ap.add_argument("--root", type=int, default=0,
                    help="root seed (0: the screen; 1: fresh seeds, the confirmation with --fraction 1 --seeds 8)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import jax

    from jaxpg import bench

    date = datetime.date.today().isoformat()
    out = args.out or Path(__file__).parent / "results" / f"minatar-tune-{jax.default_backend()}-{date}.json"
    lrs = [float(x) for x in args.lrs.split(",")]
    doc = {"description": __doc__.strip(), "lrs": lrs, "fraction": args.fraction, "root_seed": args.root, "games": {},
           "complete": False,
           **bench.machine_info()}
    print(f"{'game':<24} {'lr':>7} {'IQM':>7} {'95% CI':>17} {'worst':>7} {'M steps/seed':>12}")
    for game in args.games.split(","):
        g = screen(game, lrs, args.seeds, args.eval_episodes, args.fraction, args.root)
        doc["games"][game] = g
        for p in g["points"]:
            mark = "  <- chosen" if p["learning_rate"] == g["chosen_learning_rate"] else ""
            note = f"  diverged: {p['diverged']}" if p["diverged"] else ""
            print(f"{game:<24} {p['learning_rate']:>7g} {p['iqm']:7.2f} [{p['iqm_ci95'][0]:6.2f}, "
                  f"{p['iqm_ci95'][1]:6.2f}] {p['worst_seed']:7.2f} {p['env_steps_per_seed'] / 1e6:12.3f}{mark}{note}",
                  flush=True)
        bench.write_json(doc, out)
    doc["complete"] = True
    bench.write_json(doc, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
