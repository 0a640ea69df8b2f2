"""Before/after measurements behind ``experiments/PERF.md``: each optimisation switched off.

Every row of a setup trains from the same key for the same updates (CartPole-v1 with the
4-16-2 course policy at 256 envs x 8 seeds and with jaxpg's 64-64 default at 64 x 8, best
of 3 timed runs each; Pixelcopter-v0 with its recommended 8 x 32 and 10,000-step limit, 20
updates, one run), so the learning is identical and only the speed differs:

- ``early exit off``: ``rollout_chunk = T`` makes the rollout one fixed T-step scan per
  update (the check "has every episode ended?" never fires before the end);
- ``loss prefix off``: ``loss_chunk = T`` makes the returns and the gradient run over
  all T steps instead of the prefix every episode fits in;
- ``loss share``: with a trained policy, the time of a rollout alone against a whole
  update (what recomputing the log-probs in the loss can cost at most).

Every run goes through the driver (``jaxpg.bench.train_point`` trains a
``jaxpg.driver.Population``; ``loss share`` trains with ``jaxpg.driver.run``). The driver
always donates the state between chunks and shares the rollout's early exit among the seeds
on a device, and ``train_point`` no longer takes ``donate``/``shared_exit``: the former
``no donation`` and ``per-seed exit`` rows are gone (earlier JSON results keep them).

    python experiments/perf_ablations.py [--smoke]

Writes ``experiments/results/perf-ablations-<device>-<date>.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

from jaxpg import bench


def loss_share(num_envs: int, seeds: int, hidden, activation: str, **spec) -> dict:
    """Seconds per valid step of a rollout alone vs a whole update, at a trained policy.

    The policy is trained by ``jaxpg.driver.run``; only the two measured programs (a rollout
    alone, one update) are built here, from the driver's own trainer.
    """
    from jaxpg import driver, policies
    from jaxpg.defaults import recommended
    from jaxpg.rollout import rollout

    hp_over = {k: spec.pop(k) for k in list(spec) if k == "learning_rate"}
    config, hp = recommended("CartPole-v1", num_envs=num_envs, hidden=tuple(hidden), activation=activation,
                             num_updates=60, **spec)
    hp = hp.replace(**hp_over)
    result = driver.run(config, seeds=seeds, hparams=hp, seed=0, eval_episodes=0, handle_signals=False)
    tr = result.population.trainer
    state = jax.tree.map(lambda x: x[:seeds], result.state)  # drop the driver's device padding

    def roll(st):
        act = lambda k, o: policies.sample(k, tr.policy.apply(st.params, o))  # noqa: E731
        traj, _ = rollout(st.key, tr.env, tr.env_params, act, num_envs, tr.max_steps, config.rollout_chunk,
                          axis_name=tr.seed_axis)
        return traj.valid.sum()

    rollout_f = jax.jit(jax.vmap(roll, axis_name=tr.seed_axis))
    update_f = jax.jit(jax.vmap(lambda st: tr.run(st, hp, 1)[1].env_steps[0], axis_name=tr.seed_axis))
    out = {}
    for name, f in (("rollout", rollout_f), ("update", update_f)):
        steps = int(f(state).sum())
        out[f"{name}_s"] = bench._best_time(f, state, repeats=5)
        out[f"{name}_valid_steps"] = steps
    per_step = {k: out[f"{k}_s"] / out[f"{k}_valid_steps"] for k in ("rollout", "update")}
    out["loss_and_optimizer_share"] = 1 - per_step["rollout"] / per_step["update"]
    out["final_return"] = float(np.nanmean(result.metrics.mean_return[0][:, -5:]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per variant; the fastest is kept")
    args = ap.parse_args()
    smoke = args.smoke
    # label: (env, N, S, policy spec, updates, episode limit T)
    setups = {
        "course 4-16-2": ("CartPole-v1", 16 if smoke else 256, 2 if smoke else 8,
                          dict(bench.POLICIES["course"]), 4 if smoke else 60, 500),
        "default 64-64": ("CartPole-v1", 16 if smoke else 64, 2 if smoke else 8,
                          dict(bench.POLICIES["default"]), 4 if smoke else 60, 500),
        "pixelcopter": ("Pixelcopter-v0", 8 if smoke else 32, 2 if smoke else 8,
                        {"hidden": (64, 64), "activation": "tanh"}, 2 if smoke else 20, 10_000),
    }
    rows = []
    print(f"{'setup':<14} {'variant':<16} {'run s':>7} {'valid M/s':>9} {'sim M/s':>8} {'return':>7}")
    for label, (env, n, s, spec, updates, horizon) in setups.items():
        hidden, activation = spec.pop("hidden"), spec.pop("activation")
        variants = {
            "jaxpg (all on)": {},
            "early exit off": {"rollout_chunk": horizon},
            "loss prefix off": {"loss_chunk": horizon},
        }
        for vname, over in variants.items():
            runs = [bench.train_point(env, n, s, hidden, activation, updates, chunks=2, **spec, **over)
                    for _ in range(1 if env != "CartPole-v1" else args.repeats)]
            r = min(runs, key=lambda x: x["run_s"])
            r.update(setup=label, variant=vname, repeats=len(runs), run_s_all=[x["run_s"] for x in runs])
            rows.append(r)
            print(f"{label:<14} {vname:<16} {r['run_s']:7.2f} {r['valid_steps_per_s'] / 1e6:9.3f} "
                  f"{r['simulated_steps_per_s'] / 1e6:8.3f} {r['final_return']:7.1f}", flush=True)
        if env != "CartPole-v1":
            continue
        share = loss_share(n, s, hidden, activation, **spec)
        share["setup"] = label
        rows.append(share)
        print(f"{label:<14} loss share: rollout {share['rollout_s'] * 1e3:.1f} ms, update "
              f"{share['update_s'] * 1e3:.1f} ms -> loss+optimizer "
              f"{100 * share['loss_and_optimizer_share']:.0f}%")
    info = bench.machine_info()
    name = f"perf-ablations-{info['device']['platform']}-{info['date']}{'-smoke' if args.smoke else ''}.json"
    record = {"benchmark": "perf_ablations", "repeats": args.repeats, "rows": rows, **info}
    bench.write_json(record, args.out / name)
    print(f"wrote {args.out / name}")


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t:.0f} s")
