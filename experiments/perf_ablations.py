"""Before/after measurements behind ``experiments/PERF.md``: each optimisation switched off.

Every row of a setup trains from the same key for the same updates (CartPole-v1 with the
4-16-2 course policy at 256 envs x 8 seeds and with jaxpg's 64-64 default at 64 x 8, best
of 3 timed runs each; the 64-64 policy at 1,024 x 4, 40 updates, one run; Pixelcopter-v0
with its recommended 8 x 32 and 10,000-step limit, 20 updates, one run), so the learning
is identical (up to float summation order where the loss chunk changes) and only the speed
differs:

- ``early exit off``: ``rollout_chunk = T`` makes the rollout one fixed T-step scan per
  update (the check "has every episode ended?" never fires before the end);
- ``loss prefix off``: ``loss_chunk = T`` makes the returns and the gradient run over
  all T steps instead of the prefix every episode fits in;
- ``flat batch off``: the policy applied to ``[T, N, D]`` loss chunks as they are, instead
  of as one ``[T·N, D]`` matrix (``jaxpg.policies`` flattens the batch axes since issue 19;
  the switch patches that out and rebuilds the programs);
- ``loss chunk 512``: the loss loops over chunks of 512 steps (the fixed default before
  issue 19) instead of ``train.resolve_loss_chunk``'s (on CPU about 2**19 hidden
  activations per seed: 4,096 rows for 64-64);
- ``before issue 19``: both of the last two off, i.e. the code as it was;
- ``loss share``: with a trained policy, the time of a rollout alone against a whole
  update (what recomputing the log-probs in the loss costs). The update's new state is
  returned from the timed program: before issue 19 only its step count was, so XLA removed
  the loss and optimiser as dead code and the share read 0-3 % instead of ~80 % for 64-64.

Every run goes through the run layer (``jaxpg.bench.train_point`` and ``loss share`` both
train with ``jaxpg.runner.run``). The run layer always donates the state between chunks and
shares the rollout's early exit among the seeds on a device, and ``train_point`` no longer
takes ``donate``/``shared_exit``: the former ``no donation`` and ``per-seed exit`` rows are
gone (earlier JSON results keep them).

    python experiments/perf_ablations.py [--smoke]

Writes ``experiments/results/perf-ablations-<device>-<date>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import jax
import numpy as np

from jaxpg import bench


@contextlib.contextmanager
def flat_batch(on: bool):
    """Policies apply to flattened batch axes (``on``, jaxpg's default) or to them as given."""
    from jaxpg import policies
    from jaxpg.runner import population

    flat = policies._apply_flat

    def as_given(module, params, obs, obs_ndim):
        return module.apply(params, obs.astype("float32"))

    if not on:
        policies._apply_flat = as_given
        # the jitted and compiled programs were traced with the other apply
        population._PROGRAMS.clear()
        population._COMPILED.clear()
    try:
        yield
    finally:
        if not on:
            policies._apply_flat = flat
            population._PROGRAMS.clear()
            population._COMPILED.clear()


def loss_share(num_envs: int, seeds: int, hidden, activation: str, **spec) -> dict:
    """Seconds per valid step of a rollout alone vs a whole update, at a trained policy.

    The policy is trained by ``jaxpg.runner.run``; only the two measured programs (a rollout
    alone, one update) are built here, from the run layer's own trainer.
    """
    from jaxpg import policies, runner
    from jaxpg.defaults import recommended
    from jaxpg.rollout import rollout

    hp_over = {k: spec.pop(k) for k in list(spec) if k == "learning_rate"}
    config, hp = recommended("CartPole-v1", num_envs=num_envs, hidden=tuple(hidden), activation=activation,
                             num_updates=60, **spec)
    hp = hp.replace(**hp_over)
    result = runner.run(runner.RunSpec(config, hp, seeds=seeds, seed=0, evaluation=runner.Evaluation(episodes=0)),
                        handle_signals=False)
    tr = result.population.trainer
    state = jax.tree.map(lambda x: x[:seeds], result.state)  # drop the run layer's device padding

    def roll(st):
        act = lambda k, o: policies.sample(k, tr.policy.apply(st.params, o))  # noqa: E731
        traj, _ = rollout(st.key, tr.env, tr.env_params, act, num_envs, tr.max_steps, config.rollout_chunk,
                          axis_name=tr.seed_axis)
        return traj.valid.sum()

    rollout_f = jax.jit(jax.vmap(roll, axis_name=tr.seed_axis))
    def upd(st):  # the new state is returned too: otherwise XLA drops the loss and optimiser as dead code
        new_state, m = tr.run(st, hp, 1)
        return m.env_steps[0], new_state

    update_f = jax.jit(jax.vmap(upd, axis_name=tr.seed_axis))
    rollout_only = jax.jit(lambda st: (rollout_f(st), None))
    out = {}
    for name, f in (("rollout", rollout_only), ("update", update_f)):
        steps = int(f(state)[0].sum())
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
    ap.add_argument("--setups", default=None,
                    help="comma-separated setup labels to run (default: all); their rows replace those of an "
                         "existing JSON of the same day, the others are kept")
    args = ap.parse_args()
    smoke = args.smoke
    # label: (env, N, S, policy spec, updates, episode limit T, timed runs, variants)
    everything = ("early exit off", "loss prefix off", "flat batch off", "loss chunk 512", "before issue 19")
    setups = {
        "course 4-16-2": ("CartPole-v1", 16 if smoke else 256, 2 if smoke else 8,
                          dict(bench.POLICIES["course"]), 4 if smoke else 60, 500, args.repeats, everything),
        "default 64-64": ("CartPole-v1", 16 if smoke else 64, 2 if smoke else 8,
                          dict(bench.POLICIES["default"]), 4 if smoke else 60, 500, args.repeats, everything),
        "64-64 1024x4": ("CartPole-v1", 16 if smoke else 1024, 2 if smoke else 4,
                         dict(bench.POLICIES["default"]), 4 if smoke else 40, 500, 1,
                         ("flat batch off", "loss chunk 512", "before issue 19")),
        "pixelcopter": ("Pixelcopter-v0", 8 if smoke else 32, 2 if smoke else 8,
                        {"hidden": (64, 64), "activation": "tanh"}, 2 if smoke else 20, 10_000, 1, everything),
    }
    if args.setups:
        wanted = [w.strip() for w in args.setups.split(",")]
        unknown = [w for w in wanted if w not in setups]
        if unknown:
            ap.error(f"unknown setup(s) {unknown}; choose from {list(setups)}")
        setups = {k: v for k, v in setups.items() if k in wanted}
    rows = []
    print(f"{'setup':<14} {'variant':<16} {'run s':>7} {'valid M/s':>9} {'sim M/s':>8} {'return':>7}")
    for label, (env, n, s, spec, updates, horizon, repeats, switched) in setups.items():
        hidden, activation = spec.pop("hidden"), spec.pop("activation")
        overrides = {
            "early exit off": {"rollout_chunk": horizon},
            "loss prefix off": {"loss_chunk": horizon},
            "flat batch off": {},
            "loss chunk 512": {"loss_chunk": 512},  # the fixed default before issue 19
            "before issue 19": {"loss_chunk": 512},  # and flat batch off: both changes undone
        }
        variants = {"jaxpg (all on)": {}, **{v: overrides[v] for v in switched}}
        for vname, over in variants.items():
            with flat_batch(vname not in ("flat batch off", "before issue 19")):
                runs = [bench.train_point(env, n, s, hidden, activation, updates, chunks=2, **spec, **over)
                        for _ in range(repeats)]
            r = min(runs, key=lambda x: x["run_s"])
            r.update(setup=label, variant=vname, repeats=len(runs), run_s_all=[x["run_s"] for x in runs])
            rows.append(r)
            print(f"{label:<14} {vname:<16} {r['run_s']:7.2f} {r['valid_steps_per_s'] / 1e6:9.3f} "
                  f"{r['simulated_steps_per_s'] / 1e6:8.3f} {r['final_return']:7.1f}", flush=True)
        if env != "CartPole-v1" or repeats == 1:
            continue
        share = loss_share(n, s, hidden, activation, **spec)
        share["setup"] = label
        rows.append(share)
        print(f"{label:<14} loss share: rollout {share['rollout_s'] * 1e3:.1f} ms, update "
              f"{share['update_s'] * 1e3:.1f} ms -> loss+optimizer "
              f"{100 * share['loss_and_optimizer_share']:.0f}%")
    info = bench.machine_info()
    name = f"perf-ablations-{info['device']['platform']}-{info['date']}{'-smoke' if args.smoke else ''}.json"
    path = args.out / name
    if args.setups and path.exists():  # a partial re-run: keep the other setups' rows
        import json

        kept = [r for r in json.loads(path.read_text())["rows"] if r.get("setup") not in setups]
        rows = kept + rows
    record = {"benchmark": "perf_ablations", "repeats": args.repeats, "rows": rows, **info}
    bench.write_json(record, path)
    print(f"wrote {args.out / name}")


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t:.0f} s")
