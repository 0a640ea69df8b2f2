"""What successive halving and PBT save against random search (issue 30's acceptance check).

CartPole-v1, 40 updates a trial, 2 seeds a trial: 32 trials 8 at a time by random search and by
successive halving (η 3, first rung 4 updates), and a PBT population of 8 (interval 4); every
winner retrained on 4 fresh seeds (``--confirm-seeds``). Prints a table and writes
``search-budget-<backend>-<date>.json``:

    python experiments/search_budget.py --out experiments/results
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from jaxpg.bench import machine_info, write_json
from jaxpg.defaults import recommended
from jaxpg.runner.space import Space
from jaxpg.tune import TuneSpec, tune

SPACES = (Space.parse("learning_rate", "1e-3..1e-1"), Space.parse("entropy_coef", "0..0.02"))
SEARCHES = {
    "random": dict(trials=32, population=8, scheduler="none"),
    "halving": dict(trials=32, population=8, scheduler="halving", eta=3, min_updates=4),
    "pbt": dict(trials=8, population=8, scheduler="pbt", interval=4),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--updates", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    config, hparams = recommended("CartPole-v1", num_updates=args.updates)
    rows = []
    for name, kw in SEARCHES.items():
        t = time.perf_counter()
        r = tune(config, TuneSpec(SPACES, metric="final", **kw), hparams=hparams, seeds=2, seed=args.seed,
                 confirm_seeds=4, handle_signals=False).record
        exploits = sum(len(x["history"]) - 1 for x in r["trials"])
        best = r["trials"][r["best"]]
        rows.append({"search": name, **kw, "env_steps": r["env_steps"], "best": r["best"], "best_score": best["score"],
                     "best_hparams": best["hparams"], "confirm_score": r["confirm"]["score"],
                     "confirm_eval_median": float(np.median(r["confirm"]["eval_score_per_seed"])),
                     "stopped": sum(x["status"] == "stopped" for x in r["trials"]), "exploits": exploits,
                     "wall_s": time.perf_counter() - t})
        x = rows[-1]
        print(f"{name:<8} env steps {x['env_steps']:>11,}  best {x['best_score']:6.1f}  confirmed (4 fresh seeds) "
              f"{x['confirm_score']:6.1f}, eval median {x['confirm_eval_median']:6.1f}  stopped {x['stopped']:>2}  "
              f"exploits {exploits:>2}  {x['wall_s']:.0f} s", flush=True)
    ratio = rows[1]["env_steps"] / rows[0]["env_steps"]
    print(f"halving / random env steps: {ratio:.2f}")
    if args.out is not None:
        rec = {**machine_info(), "updates": args.updates, "seed": args.seed, "rows": rows,
               "halving_over_random_env_steps": ratio}
        path = args.out / f"search-budget-{rec['device']['platform']}-{rec['date']}.json"
        write_json(rec, path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
