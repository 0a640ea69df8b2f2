"""Discrete classic control with jaxpg's tuned defaults: CartPole-v1, Acrobot-v1, MountainCar-v0.

Each env: 8 seeds with ``jaxpg.defaults.recommended(env)`` (the settings ``jaxpg train``
uses), each evaluated over 20 episodes, sampled and greedy. Prints a table and writes
``experiments/results/classic-control-<backend>-<date>.json`` (rewritten after every env,
atomically; an interrupted run keeps the envs it finished).

    python experiments/classic_control.py                     # all three, ~3 min on 2 cores
    python experiments/classic_control.py --envs Acrobot-v1

Published reference (rl-baselines3-zoo ``benchmark.md``, PPO, deterministic evaluation):
CartPole-v1 500.0, Acrobot-v1 -73.5 +- 18.2, MountainCar-v0 -110.4 +- 19.5.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import jax  # noqa: E402
from _control import HEADER, public, run, table_row  # noqa: E402

from jaxpg import bench  # noqa: E402
from jaxpg.defaults import recommended  # noqa: E402

PPO = {"CartPole-v1": 500.0, "Acrobot-v1": -73.506, "MountainCar-v0": -110.423,
       "Pendulum-v1": -172.225, "MountainCarContinuous-v0": 88.343}
PPO_SOURCE = ("DLR-RM/rl-baselines3-zoo benchmark.md (PPO, one trained agent each, deterministic "
              "policy, mean episode reward over ~150k evaluation steps)")


def main(default_envs: str, name: str, doc: str) -> None:
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--envs", default=default_envs)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--eval-episodes", type=int, default=20)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    date = datetime.date.today().isoformat()
    out = args.out or Path(__file__).parent / "results" / f"{name}-{jax.default_backend()}-{date}.json"
    doc_out = {"description": doc.strip(), "ppo_reference": PPO, "ppo_source": PPO_SOURCE,
               "envs": {}, "complete": False, **bench.machine_info()}
    print(HEADER)
    for env in args.envs.split(","):
        config, hparams = recommended(env)
        r = run(config, hparams, args.seeds, args.eval_episodes)
        print(table_row(env, "tuned", r), flush=True)
        doc_out["envs"][env] = public(r)
        bench.write_json(doc_out, out)
    doc_out["complete"] = True
    bench.write_json(doc_out, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main("CartPole-v1,Acrobot-v1,MountainCar-v0", "classic-control", __doc__)
