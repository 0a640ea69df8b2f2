"""How many Pixelcopter seeds get stuck at the start, per setting: the early-collapse screen.

A Pixelcopter policy can collapse in its first few hundred updates: its entropy falls from
0.69 to ~0.07 and it settles on never pressing (the copter falls to the floor in ~26 steps
instead of crashing within ~7), a return of about −1.3 that it never leaves. The 8-seed
table shows it as a seed with score −1.7. This trains ``--seeds`` seeds of each setting (one
vmapped program per setting, one process) for the first ``--updates`` updates of the
16-env × 30,400-update schedule (the learning-rate decay is that of the full run) and
counts the seeds whose training return (mean of the last 50 updates) is still below 0::

    python experiments/pixelcopter_stuck_seeds.py            # 4 settings x 16 seeds, ~10 min, 1 core
    python experiments/pixelcopter_stuck_seeds.py --smoke    # a check: 2 seeds, 20 updates

Prints a table; writes JSON atomically (``--out``, default
``experiments/results/pixelcopter-stuck-cpu/stuck-u{U}-s{S}.json``) with the machine, device
and versions. Seeds are ``split(key(100), S)``: not the 8-seed table's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np

from jaxpg import bench
from jaxpg.defaults import recommended
from jaxpg.train import make_trainer

ENV = "Pixelcopter-v0"
BASE = {"num_envs": 16, "num_updates": 30400}
# label -> (Config overrides, HParams overrides)
SETTINGS: dict[str, tuple[dict, dict]] = {
    "k1": ({"frame_stack": 1}, {}),
    "k4": ({"frame_stack": 4}, {}),
    "k4-ent0.03": ({"frame_stack": 4}, {"entropy_coef": 0.03}),
    "k4-lr1e-3": ({"frame_stack": 4}, {"learning_rate": 1e-3}),
}


def screen(cfg: dict, hpo: dict, updates: int, seeds: int, chunk: int) -> tuple[np.ndarray, float]:
    """``([S] final training return, seconds)`` for one setting."""
    config, hp = recommended(ENV, **{**BASE, **cfg})
    hp = hp.replace(**hpo)
    tr = make_trainer(config, seed_axis="s")
    keys = jax.random.split(jax.random.key(100), seeds)
    t = time.perf_counter()
    state = jax.jit(jax.vmap(tr.init, in_axes=(0, None)))(keys, hp)
    run = jax.jit(jax.vmap(tr.run, in_axes=(0, None, None), axis_name="s"), static_argnums=2)
    last = None
    for _ in range(updates // chunk):
        state, m = run(state, hp, chunk)
        last = np.asarray(m.mean_return)[:, -min(50, chunk):].mean(1)
    return last, time.perf_counter() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--updates", type=int, default=1500, help="updates trained (a multiple of 250)")
    p.add_argument("--seeds", type=int, default=16)
    p.add_argument("--only", help="comma-separated labels (default: all of " + ", ".join(SETTINGS) + ")")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--smoke", action="store_true", help="2 seeds, 20 updates, one setting")
    args = p.parse_args(argv)
    chunk = 250
    labels = list(SETTINGS) if not args.only else args.only.split(",")
    if args.smoke:
        args.updates, args.seeds, chunk, labels = 20, 2, 10, ["k4"]
    bad = [lb for lb in labels if lb not in SETTINGS]
    if bad:
        print(f"pixelcopter_stuck_seeds: unknown setting {bad[0]!r}; known: {', '.join(SETTINGS)}", file=sys.stderr)
        return 2
    if args.seeds < 1 or args.updates < chunk or args.updates % chunk:
        print(f"pixelcopter_stuck_seeds: --seeds >= 1 and --updates a positive multiple of {chunk}",
              file=sys.stderr)
        return 2
    out = args.out or Path(__file__).parent / "results" / "pixelcopter-stuck-cpu" / (
        f"stuck-u{args.updates}-s{args.seeds}{'-smoke' if args.smoke else ''}.json")
    rows = {}
    print(f"{args.seeds} seeds x {BASE['num_envs']} envs, first {args.updates} of {BASE['num_updates']} updates")
    print("| setting | stuck (return < 0) | median return | worst | seconds |\n| --- | ---: | ---: | ---: | ---: |")
    for label in labels:
        ret, secs = screen(*SETTINGS[label], args.updates, args.seeds, chunk)
        rows[label] = {"config": SETTINGS[label][0], "hparams": SETTINGS[label][1], "final_return": ret.tolist(),
                       "stuck": int((ret < 0).sum()), "seconds": secs}
        print(f"| {label} | {rows[label]['stuck']}/{args.seeds} | {np.median(ret):.1f} | {ret.min():.1f} | "
              f"{secs:.0f} |", flush=True)
        bench.write_json({"env": ENV, "base": BASE, "updates": args.updates, "seeds": args.seeds,
                          "root_key": 100, "settings": rows, **bench.machine_info()}, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
