"""One observation at a time: how long ``agent.greedy(obs)`` / ``agent.act(key, obs)`` take.

What a Stable-Baselines3 ``model.predict`` loop does with a loaded policy: one call per env step.
Trains two small runs (CartPole-v1's quick start and MemoryChain's gru, a few seconds each), loads
seed 0 of each with ``jaxpg.load`` and times ``--calls`` calls on one observation after a warm-up
call (the compile, reported apart), against the same maths without ``jax.jit`` (what
``Agent.greedy`` did before it was compiled). Prints a table and writes
``experiments/results/predict-speed-<backend>-<date>.json``.

    python experiments/predict_speed.py            # ~40 s on 2 cores
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _per_call(fn, calls: int, repeats: int = 5) -> float:
    """Median over ``repeats`` of the mean seconds per call of ``calls`` calls."""
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            a = fn()
        np.asarray(a[0] if isinstance(a, tuple) else a)  # wait for the last one
        out.append((time.perf_counter() - t) / calls)
    return statistics.median(out)


def measure(agent, calls: int) -> dict:
    """Compile seconds and ms per call of ``greedy``/``act`` (and uncompiled greedy) on one observation."""
    import jax

    env, params = agent.env_pair()
    obs = np.asarray(env.reset(jax.random.key(0), params)[0])  # a host array, as gymnasium gives
    key = jax.random.key(1)
    state = agent.initial_state() if agent.recurrent else None
    extra = (state,) if agent.recurrent else ()
    t = time.perf_counter()
    first = agent.greedy(obs, *extra)
    np.asarray(first[0] if agent.recurrent else first)
    compile_s = time.perf_counter() - t
    agent.act(key, obs, *extra)  # compile act too
    dist = agent.policy.dist
    if agent.recurrent:
        def eager():
            return dist.mode(agent.policy.step(agent.params, state, obs)[1])
    else:
        def eager():
            return dist.to_env(dist.mode(agent.policy.apply(agent.params, obs)))
    return {"policy": agent.config.policy, "compile_s": compile_s,
            "greedy_ms": _per_call(lambda: agent.greedy(obs, *extra), calls) * 1e3,
            "act_ms": _per_call(lambda: agent.act(key, obs, *extra), calls) * 1e3,
            "uncompiled_greedy_ms": _per_call(eager, 50) * 1e3}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import jax

    import jaxpg
    from jaxpg import bench
    from jaxpg.cli import main as cli

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for env, extra in (("CartPole-v1", []), ("MemoryChain-bsuite", [])):
            run = Path(tmp) / env
            assert cli(["train", "--env", env, "--seeds", "1", "--quiet", "--out", str(run), *extra]) == 0
            rows.append({"env": env, **measure(jaxpg.load(run, seed_index=0), args.calls)})
    print(f"{'env':<20} {'policy':<6} {'compile s':>9} {'greedy ms':>10} {'act ms':>8} {'uncompiled ms':>14}")
    for r in rows:
        print(f"{r['env']:<20} {r['policy']:<6} {r['compile_s']:9.2f} {r['greedy_ms']:10.3f} {r['act_ms']:8.3f} "
              f"{r['uncompiled_greedy_ms']:14.2f}")
    date = datetime.date.today().isoformat()
    out = args.out or Path(__file__).parent / "results" / f"predict-speed-{jax.default_backend()}-{date}.json"
    bench.write_json({"benchmark": "predict_speed", "regenerate": "python experiments/predict_speed.py",
                      "calls": args.calls, "rows": rows, **bench.machine_info()}, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
