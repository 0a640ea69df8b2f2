"""How many seeds solve CartPole-v1 with given settings: the check behind the defaults.

Trains ``--seeds`` seeds for each root key and each advantage mode (one compiled
program per mode), evaluates each seed over 32 sampled episodes and prints how
many end below 475.

    python experiments/cartpole_robustness.py                       # 2 roots x 32 seeds, mean vs normalize
    python experiments/cartpole_robustness.py --seeds 4 --roots 1 --updates 10   # seconds
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import jaxpg
from jaxpg.train import make_trainer


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
        tr = make_trainer(jaxpg.Config(advantage=mode, num_updates=args.updates))
        train = jax.jit(jax.vmap(tr.train, in_axes=(0, None)))
        ev = jax.jit(jax.vmap(lambda k, p, tr=tr: jaxpg.evaluate(
            k, tr.env, tr.env_params, tr.policy.apply, p, args.eval_episodes, tr.max_steps)))
        for root in args.roots:
            keys = jax.random.split(jax.random.key(root), args.seeds)
            t = time.perf_counter()
            state, _ = train(keys, jaxpg.HParams())
            means = np.asarray(ev(jax.random.split(jax.random.key(root + 1000), args.seeds),
                                  state.params)).mean(1)
            print(f"{mode:>10} {root:>4} {args.seeds:>5} {(means < 475).sum():>5} {means.min():8.1f} "
                  f"{time.perf_counter() - t:8.1f}", flush=True)


if __name__ == "__main__":
    main()
