"""Memory: bsuite's MemoryChain with a recurrent policy (``--policy gru``) against an MLP.

MemoryChain shows a context bit (±1) at step 0 only; ``memory_length`` steps later the agent is
rewarded +1 for the action that matches it and −1 otherwise. An MLP sees nothing of the context
when it acts, so its mean return stays at chance (0); a GRU can carry the bit.

Each (env, policy): 8 seeds with the env's tuned settings (``jaxpg.defaults``: ``jaxpg train``'s),
only ``policy`` changed, each evaluated over 32 episodes, sampled and greedy. The same roots for
both policies: like for like in updates and (fixed-length episodes) env steps. Prints a table
and writes ``experiments/results/memory-chain-<backend>/root-<root>.json`` (rewritten after
every row, atomically).

    python experiments/memory_chain.py                       # ~6 min on 2 cores
    python experiments/memory_chain.py --envs MemoryChain-bsuite --root 1   # fresh seeds
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import jax  # noqa: E402
from _control import HEADER, public, run, table_row  # noqa: E402

from jaxpg import bench  # noqa: E402
from jaxpg.defaults import recommended  # noqa: E402


def thin(row: dict, points: int = 25) -> dict:
    """The learning curves cut to about ``points`` points a seed (the JSON stays small)."""
    k = math.ceil(len(row["curve_return"][0]) / points)
    return {**row, "curve_return": [c[::k] for c in row["curve_return"]],
            "curve_env_steps": [c[::k] for c in row["curve_env_steps"]], "curve_stride": row["curve_stride"] * k}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", default="MemoryChain-bsuite,MemoryChain-30-bsuite")
    ap.add_argument("--policies", default="gru,mlp")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--root", type=int, default=0, help="root seed (0: the seeds the settings were chosen on)")
    ap.add_argument("--eval-episodes", type=int, default=32)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    folder = Path(__file__).parent / "results" / f"memory-chain-{jax.default_backend()}"
    out = args.out or folder / f"root-{args.root}.json"
    doc = {"description": __doc__.strip(), "date": datetime.date.today().isoformat(), "root_seed": args.root,
           "rows": [], "complete": False,
           **bench.machine_info()}
    print(HEADER)
    for env in args.envs.split(","):
        for policy in args.policies.split(","):
            config, hparams = recommended(env, policy=policy)
            r = run(config, hparams, args.seeds, args.eval_episodes, root_seed=args.root)
            print(table_row(env, policy, r), flush=True)
            doc["rows"].append({"env": env, "policy": policy, **thin(public(r))})
            bench.write_json(doc, out)
    doc["complete"] = True
    bench.write_json(doc, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
