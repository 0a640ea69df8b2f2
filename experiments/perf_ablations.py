"""Before/after measurements behind ``experiments/PERF.md``: each optimisation switched off.

Every row trains CartPole-v1 from the same key for the same updates (the 4-16-2 course
policy, 256 envs x 8 seeds, and jaxpg's 64-64 default at 64 x 8), so the learning is
identical and only the speed differs:

- ``early exit off``: ``rollout_chunk = 500`` makes the rollout one fixed 500-step scan
  per update (the check "has every episode ended?" never fires before the end);
- ``loss prefix off``: ``loss_chunk = 500`` makes the returns and the gradient run over
  all 500 steps instead of the prefix every episode fits in;
- ``no donation``: the train state is not donated between compiled chunks;
- ``per-seed exit``: the rollout's early-exit test is batched over seeds (plain
  ``jax.vmap``), as before ``make_trainer(seed_axis=...)``: the loop counter and every
  buffer write become per-seed;
- ``loss share``: with a trained policy, the time of a rollout alone against a whole
  update (what recomputing the log-probs in the loss can cost at most).

    python experiments/perf_ablations.py [--smoke]

Writes ``experiments/results/perf-ablations-<device>-<date>.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax

from jaxpg import bench


def loss_share(num_envs: int, seeds: int, hidden, activation: str, **spec) -> dict:
    """Seconds per valid step of a rollout alone vs a whole update, at a trained policy."""
    from jaxpg import policies
    from jaxpg.defaults import recommended
    from jaxpg.rollout import rollout
    from jaxpg.train import make_trainer

    hp_over = {k: spec.pop(k) for k in list(spec) if k == "learning_rate"}
    config, hp = recommended("CartPole-v1", num_envs=num_envs, hidden=tuple(hidden), activation=activation,
                             num_updates=60, **spec)
    hp = hp.replace(**hp_over)
    tr = make_trainer(config, seed_axis="seeds")
    keys = jax.random.split(jax.random.key(0), seeds)
    state, m = jax.jit(jax.vmap(tr.train, in_axes=(0, None), axis_name="seeds"))(keys, hp)

    def roll(st):
        act = lambda k, o: policies.sample(k, tr.policy.apply(st.params, o))  # noqa: E731
        traj, _ = rollout(st.key, tr.env, tr.env_params, act, num_envs, tr.max_steps, config.rollout_chunk,
                          axis_name="seeds")
        return traj.valid.sum()

    rollout_f = jax.jit(jax.vmap(roll, axis_name="seeds"))
    update_f = jax.jit(jax.vmap(lambda st: tr.run(st, hp, 1)[1].env_steps[0], axis_name="seeds"))
    out = {}
    for name, f in (("rollout", rollout_f), ("update", update_f)):
        steps = int(f(state).sum())
        out[f"{name}_s"] = bench._best_time(f, state, repeats=5)
        out[f"{name}_valid_steps"] = steps
    per_step = {k: out[f"{k}_s"] / out[f"{k}_valid_steps"] for k in ("rollout", "update")}
    out["loss_and_optimizer_share"] = 1 - per_step["rollout"] / per_step["update"]
    out["final_return"] = float(m.mean_return[:, -5:].mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    updates = 4 if args.smoke else 60
    setups = {
        "course 4-16-2": (256 if not args.smoke else 16, 8 if not args.smoke else 2,
                          dict(bench.POLICIES["course"])),
        "default 64-64": (64 if not args.smoke else 16, 8 if not args.smoke else 2,
                          dict(bench.POLICIES["default"])),
    }
    variants = {
        "jaxpg (all on)": {},
        "early exit off": {"rollout_chunk": 500},
        "loss prefix off": {"loss_chunk": 500},
        "no donation": {"donate": False},
        "per-seed exit": {"shared_exit": False},
    }
    rows = []
    print(f"{'policy':<14} {'variant':<16} {'run s':>7} {'valid M/s':>9} {'sim M/s':>8} {'return':>7}")
    for label, (n, s, spec) in setups.items():
        hidden, activation = spec.pop("hidden"), spec.pop("activation")
        for vname, over in variants.items():
            r = bench.train_point("CartPole-v1", n, s, hidden, activation, updates, chunks=2, **spec, **over)
            r.update(setup=label, variant=vname)
            rows.append(r)
            print(f"{label:<14} {vname:<16} {r['run_s']:7.2f} {r['valid_steps_per_s'] / 1e6:9.2f} "
                  f"{r['simulated_steps_per_s'] / 1e6:8.2f} {r['final_return']:7.1f}", flush=True)
        share = loss_share(n, s, hidden, activation, **spec)
        share["setup"] = label
        rows.append(share)
        print(f"{label:<14} loss share: rollout {share['rollout_s'] * 1e3:.1f} ms, update "
              f"{share['update_s'] * 1e3:.1f} ms -> loss+optimizer "
              f"{100 * share['loss_and_optimizer_share']:.0f}%")
    info = bench.machine_info()
    name = f"perf-ablations-{info['device']['platform']}-{info['date']}{'-smoke' if args.smoke else ''}.json"
    record = {"benchmark": "perf_ablations", "updates": updates, "rows": rows, **info}
    bench.write_json(record, args.out / name)
    print(f"wrote {args.out / name}")


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t:.0f} s")
