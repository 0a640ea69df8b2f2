"""The accelerator check: one command, whatever accelerator JAX sees (8 minutes before MinAtar).

1. **Throughput** (`jaxpg bench`'s measurement, `jaxpg.bench.train_point`): CartPole-v1 for the
   course's 4-16-2 policy and jaxpg's 64-64 over a grid of envs × seeds up to 2^20 parallel
   episodes; a point whose program does not fit in the device's memory (XLA's memory analysis)
   is recorded as such instead of run. Compile time apart, valid env steps/s, the network+env
   ceiling and the fraction of it.
2. **A 4,096-run sweep with waves**: CartPole-v1, 4 learning rates × 1,024 seeds through
   `jaxpg.run` (waves if one program does not fit), a short budget; the wave plan, wall time and
   the per-point final scores.
3. **Pixelcopter, 256 seeds**, its recommended settings for a short budget.
4. **MinAtar at the references' budget** (``experiments/minatar.py``'s table): every game, 8
   seeds of its tuned cnn settings with the updates scaled so a seed plays about 5 M env steps
   (the MinAtar paper's 5 M frames), IQM with its bootstrap interval. Not yet run on an
   accelerator: its time there is unmeasured (on 2 CPU cores it would take hours).

It prints one table and writes one JSON, ``experiments/results/accelerator-check-<device>-<date>.json``
(device name, versions, peak memory where the backend reports it), rewritten after every section
so an interrupted check keeps what it measured. A section that fails is recorded with its error
and the others still run. ``--smoke`` runs tiny sizes in seconds on CPU (the test suite does).

    python experiments/accelerator_check.py              # on the accelerator, ~8 min
    python experiments/accelerator_check.py --smoke      # anywhere, seconds
"""

from __future__ import annotations

import argparse
import datetime
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
GRID = [(1024, 16), (4096, 16), (4096, 64), (16384, 16), (16384, 64)]  # up to 2^20 episodes
SMOKE_GRID = [(8, 2), (16, 2)]
POLICIES = {"4-16-2": ((16,), "relu"), "64-64": ((64, 64), "tanh")}


def _fits(env: str, n: int, s: int, hidden, activation, updates: int) -> tuple[bool, int | None, int | None]:
    from jaxpg.defaults import recommended
    from jaxpg.runner import Population, RunSpec, memory

    config, hp = recommended(env, num_envs=n, hidden=tuple(hidden), activation=activation, num_updates=updates)
    pop = Population(RunSpec(config, hp, seeds=s))
    need = memory.needed(pop)["train"]
    avail, _ = memory.available_memory(pop.mesh)
    return (need is None or avail is None or need <= 0.85 * avail), need, avail


def throughput(smoke: bool, say) -> dict:
    from jaxpg.bench import _peak_bytes, ceiling, train_point

    updates = 4 if smoke else 20
    rows, ceilings = [], {}
    for name, (hidden, act) in POLICIES.items():
        ceil = ceiling("CartPole-v1", hidden, act, smoke)
        ceilings[name] = ceil["steps_per_s"]
        for n, s in (SMOKE_GRID if smoke else GRID):
            ok, need, avail = _fits("CartPole-v1", n, s, hidden, act, updates)
            row = {"policy": name, "num_envs": n, "seeds": s, "episodes": n * s, "bytes_needed": need,
                   "bytes_available": avail, "fits": ok}
            if ok:
                r = train_point("CartPole-v1", n, s, hidden, act, updates, chunks=2 if smoke else 4)
                row.update(compile_s=r["compile_s"], run_s=r["run_s"], valid_steps_per_s=r["valid_steps_per_s"],
                           fraction_of_ceiling=r["valid_steps_per_s"] / ceil["steps_per_s"],
                           final_return=r["final_return"], peak_bytes=_peak_bytes())
                say(f"  bench {name:>6} {n:>6} envs x {s:>4} seeds: {r['valid_steps_per_s'] / 1e6:8.2f} M valid "
                    f"steps/s ({row['fraction_of_ceiling']:.0%} of ceiling), compile {r['compile_s']:.1f} s")
            else:
                say(f"  bench {name:>6} {n:>6} envs x {s:>4} seeds: does not fit ({need / 2**30:.1f} GiB needed)")
            rows.append(row)
    return {"updates": updates, "ceilings_steps_per_s": ceilings, "rows": rows}


def sweep_with_waves(smoke: bool, say) -> dict:
    import jaxpg
    from jaxpg.runner import Evaluation, Population, RunSpec, Schedule, memory
    from jaxpg.sweep import grid

    lrs = [3e-3, 1e-2] if smoke else [1e-3, 3e-3, 1e-2, 3e-2]
    seeds = 4 if smoke else 1024
    config = jaxpg.Config(env="CartPole-v1", num_updates=2 if smoke else 30, num_envs=8 if smoke else 16,
                          hidden=(8,) if smoke else (64, 64), max_steps=50 if smoke else None)
    spec = RunSpec(config, points=grid(learning_rate=lrs), seeds=seeds,
                   evaluation=Evaluation(episodes=4 if smoke else 16, max_steps=50 if smoke else None))
    budget = None
    if smoke:  # force waves on a CPU: a budget of about half the population
        budget = int(memory.needed(Population(spec), 4, 50)["peak"] * 0.6)
    lines: list[str] = []
    t = time.perf_counter()
    r = jaxpg.run(spec, schedule=Schedule(max_memory=budget), handle_signals=False, log=lines.append)
    wall = time.perf_counter() - t
    pop = r.population
    mode = r.eval_returns["sampled"]
    scores = mode.mean(-1) - mode.std(-1)  # [H, S]
    plan = next((x.strip() for x in lines if "waves of" in x), "one program")
    say(f"  sweep {pop.num_runs:,} runs: {plan}; wall {wall:.1f} s (compile {r.timings['compile_s']:.1f} s)")
    return {"runs": pop.num_runs, "points": lrs, "seeds": seeds, "updates": config.num_updates, "plan": plan,
            "wave_runs": pop.wave_runs, "waves": pop.num_waves, "wall_s": wall, "timings": r.timings,
            "env_steps": r.env_steps, "score_median_per_point": np.median(scores, axis=1).tolist(),
            "score_worst_per_point": scores.min(axis=1).tolist()}


def pixelcopter(smoke: bool, say) -> dict:
    import jaxpg
    from jaxpg.defaults import recommended
    from jaxpg.runner import Evaluation, RunSpec

    seeds = 2 if smoke else 256
    kw = {"num_updates": 2, "num_envs": 8, "max_steps": 32} if smoke else {"num_updates": 100}
    config, hp = recommended("Pixelcopter-v0", **kw)
    t = time.perf_counter()
    r = jaxpg.run(RunSpec(config, hp, seeds=seeds,
                          evaluation=Evaluation(episodes=4 if smoke else 16, max_steps=100 if smoke else 2000)),
                  handle_signals=False)
    wall = time.perf_counter() - t
    ret = r.metrics.mean_return[0, :, -1]
    say(f"  pixelcopter {seeds} seeds x {config.num_envs} envs, {config.num_updates} updates: wall {wall:.1f} s, "
        f"{r.env_steps / max(r.timings['train_s'], 1e-9) / 1e6:.2f} M valid steps/s, final return median "
        f"{np.median(ret):.1f}")
    return {"seeds": seeds, "num_envs": config.num_envs, "updates": config.num_updates, "wall_s": wall,
            "timings": r.timings, "env_steps": r.env_steps,
            "valid_steps_per_s": r.env_steps / max(r.timings["train_s"], 1e-9),
            "final_return_median": float(np.median(ret)), "final_return_min": float(ret.min())}


MINATAR_STEPS = 5_000_000  # the MinAtar paper's budget per run (frames = steps)


def minatar(smoke: bool, say) -> dict:
    """``experiments/minatar.py``'s table at the references' budget: each game's tuned updates
    scaled by ``MINATAR_STEPS`` / the env steps per seed its CPU run recorded."""
    import json
    import sys

    sys.path.insert(0, str(HERE))
    from minatar import GAMES, run_game

    from jaxpg.defaults import recommended

    cpu = {}
    for path in sorted((HERE / "results").glob("minatar-cpu-*.json")):
        cpu = json.loads(path.read_text()).get("games", {})  # the newest CPU table
    rows = {}
    # the smoke runs two games (every game goes through the same code; tests/test_cnn.py checks each one's
    # shapes): compiling a cnn trainer and evaluating to the game's own limit takes ~20 s a game on 2 cores
    for game in GAMES[:2] if smoke else GAMES:
        if smoke:
            over, seeds, episodes, randoms = {"num_updates": 2, "num_envs": 4, "max_steps": 32}, 2, 2, 8
        else:
            config, _ = recommended(game)
            per_update = (cpu.get(game, {}).get("env_steps_per_seed") or 0) / config.num_updates
            updates = int(MINATAR_STEPS / per_update) if per_update else config.num_updates * 10
            over, seeds, episodes, randoms = {"num_updates": updates}, 8, 32, 256
        r = run_game(game, seeds, episodes, 0, over, random_episodes=randoms)
        lo, hi = r["iqm_ci95"]
        say(f"  {game}: IQM {r['iqm']:.2f} [{lo:.2f}, {hi:.2f}], worst {r['worst_seed']:.2f}, "
            f"{r['env_steps_per_seed'] / 1e6:.2f} M steps/seed, train {r['train_seconds']:.0f} s")
        rows[game] = r
    return {"target_steps_per_seed": MINATAR_STEPS, "games": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, seconds, any device")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="directory for the JSON")
    args = ap.parse_args()
    import jax

    from jaxpg.bench import _peak_bytes, machine_info, write_json

    info = machine_info()
    dev = info["device"]
    kind = "".join(c if c.isalnum() else "-" for c in dev["kind"].lower()).strip("-") or dev["platform"]
    name = f"accelerator-check-{'smoke-' if args.smoke else ''}{kind}-{datetime.date.today().isoformat()}.json"
    path = args.out / name
    record = {"benchmark": "accelerator_check", "regenerate": "python experiments/accelerator_check.py",
              "smoke": args.smoke, "complete": False, "sections": {}, **info}
    print(f"accelerator check on {dev['kind']} ({dev['platform']}, {jax.device_count()} device(s))")
    t0 = time.perf_counter()
    failed = 0
    for section, fn in (("throughput", throughput), ("sweep_with_waves", sweep_with_waves),
                        ("pixelcopter", pixelcopter), ("minatar", minatar)):
        t = time.perf_counter()
        try:
            record["sections"][section] = {"ok": True, **fn(args.smoke, print)}
        except Exception as e:  # noqa: BLE001 - recorded; the other sections still run
            failed += 1
            record["sections"][section] = {"ok": False, "error": f"{type(e).__name__}: {e}",
                                           "traceback": traceback.format_exc()[-4000:]}
            print(f"  {section} FAILED: {type(e).__name__}: {str(e)[:200]}")
        record["sections"][section]["seconds"] = round(time.perf_counter() - t, 2)
        record["peak_bytes"] = _peak_bytes()
        write_json(record, path)
    record["complete"] = failed == 0
    record["seconds"] = round(time.perf_counter() - t0, 2)
    write_json(record, path)
    print(f"{'section':<18} {'ok':<4} {'seconds':>8}")
    for k, v in record["sections"].items():
        print(f"{k:<18} {str(v['ok']):<4} {v['seconds']:>8.1f}")
    print(f"peak memory: {record['peak_bytes'] if record['peak_bytes'] is not None else 'not reported (CPU)'}")
    print(f"wrote {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
