"""CartPole-v1: env steps to reach a training return of 475, advantage="value" vs "normalize".

Both use jaxpg's CartPole defaults (16 envs, 64-64 tanh, Adam 1e-2 with linear decay,
gamma 0.99) except the advantage, over 8 seeds; both also run with observation
normalisation (``obs_norm``). For each seed: the valid env steps played until the first
update whose 16-episode mean training return is >= 475 (``inf`` if never, within --updates). Reports the
median over seeds, and each seed's 20-episode evaluation. Writes
``experiments/results/cartpole-value-vs-normalize-<backend>-<date>.json``.

    python experiments/cartpole_value_vs_normalize.py        # ~1 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from _control import public, run  # noqa: E402

from jaxpg import bench  # noqa: E402
from jaxpg.defaults import recommended  # noqa: E402


def steps_to(returns: np.ndarray, cum_steps: np.ndarray, target: float) -> list[float]:
    out = []
    for r, c in zip(returns, cum_steps, strict=True):
        hit = np.nonzero(r >= target)[0]
        out.append(float(c[hit[0]]) if hit.size else float("inf"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--updates", type=int, default=300)
    ap.add_argument("--target", type=float, default=475.0)
    ap.add_argument("--root-seeds", default="0,100", help="comma-separated root seeds (one run each)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    date = datetime.date.today().isoformat()
    name = f"cartpole-value-vs-normalize-{jax.default_backend()}-{date}.json"
    out = args.out or Path(__file__).parent / "results" / name
    base, hp = recommended("CartPole-v1", num_updates=args.updates)
    settings = {
        "normalize": base.replace(advantage="normalize"),
        "value": base.replace(advantage="value"),
        "normalize+obs_norm": base.replace(advantage="normalize", obs_norm=True),
        "value+obs_norm": base.replace(advantage="value", obs_norm=True),
    }
    doc = {"description": __doc__.strip(), "target": args.target, "settings": {}, "complete": False,
           **bench.machine_info()}
    print(f"{'setting':<18} {'root':>5} {'median steps to 475':>20} {'reached':>8} {'eval mean':>10} "
          f"{'worst':>7}")
    for name, cfg in settings.items():
        doc["settings"][name] = []
        for root in (int(s) for s in args.root_seeds.split(",")):
            r = run(cfg, hp, args.seeds, 20, root_seed=root)
            st = steps_to(r["_returns"], r["_cum_steps"], args.target)
            rec = {**public(r), "root_seed": root, "steps_to_target": st,
                   "median_steps_to_target": float(np.median(st))}
            doc["settings"][name].append(rec)
            reached = int(np.isfinite(st).sum())
            print(f"{name:<18} {root:>5} {np.median(st):>20,.0f} {reached:>5}/{len(st)} "
                  f"{np.mean(r['eval_sampled_mean']):>10.1f} {np.min(r['eval_sampled_mean']):>7.1f}",
                  flush=True)
            bench.write_json(doc, out)
    doc["complete"] = True
    bench.write_json(doc, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
