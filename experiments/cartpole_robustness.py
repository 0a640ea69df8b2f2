"""How many seeds solve CartPole-v1 with given settings: the check behind the defaults.

Trains ``--seeds`` seeds for each root seed and each advantage mode through
``jaxpg.run`` (one compiled program per mode, shared by the roots), evaluates each
seed over 32 sampled episodes (the run layer's evaluation keys) and prints how many end
below 475.

    python experiments/cartpole_robustness.py                       # 2 roots x 32 seeds, mean vs normalize
    python experiments/cartpole_robustness.py --seeds 4 --roots 1 --updates 10   # seconds
"""

from __future__ import annotations

import argparse

import numpy as np

import jaxpg
from jaxpg.runner import Evaluation, RunSpec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=32)
    ap.add_argument("--roots", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--advantage", nargs="+", default=["mean", "normalize"])
    ap.add_argument("--updates", type=int, default=jaxpg.Config().num_updates)
    ap.add_argument("--eval-episodes", type=int, default=32)
    args = ap.parse_args()
    print(f"{'advantage':>10} {'root':>4} {'seeds':>5} {'<475':>5} {'min eval':>8} {'seconds':>8}")
    for mode in args.advantage:
        config = jaxpg.Config(advantage=mode, num_updates=args.updates)
        for root in args.roots:
            spec = RunSpec(config, jaxpg.HParams(), seeds=args.seeds, seed=root,
                           evaluation=Evaluation(episodes=args.eval_episodes, max_steps=config.max_steps))
            r = jaxpg.run(spec, handle_signals=False)
            if r.diverged:
                print(f"{mode:>10} {root:>4} diverged: {r.diverged}", flush=True)
                continue
            means = np.asarray(r.eval_returns["sampled"][0]).mean(1)
            print(f"{mode:>10} {root:>4} {args.seeds:>5} {(means < 475).sum():>5} {means.min():8.1f} "
                  f"{r.timings['wall_s']:8.1f}", flush=True)


if __name__ == "__main__":
    main()
