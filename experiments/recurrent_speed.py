"""What a recurrent policy costs: Pixelcopter updates with the gru against the mlp, by loss chunk.

One seed, the tuned Pixelcopter settings (16 envs, 256-step training cut, value baseline), from
the same initial state: ``--updates`` updates compiled as one program, timed after a warm-up call
(compile apart), for the mlp with its 4-frame stack, the gru over single frames with the default
loss chunk (``train.RECURRENT_LOSS_CHUNK``, 32 steps) and with the 256-step chunk the mlp takes,
and the gru without the value baseline (``--advantage mean``). Valid env steps per second (the
policies play episodes of different lengths, so steps/s is the comparable figure). Prints a table
and writes ``experiments/results/recurrent-speed-<backend>-<date>.json``.

    python experiments/recurrent_speed.py            # ~2 min on 2 cores
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

SETTINGS = {
    "mlp, frame stack 4 (the defaults)": {},
    "gru, loss chunk 32 (default)": {"policy": "gru", "frame_stack": 1},
    "gru, loss chunk 256": {"policy": "gru", "frame_stack": 1, "loss_chunk": 256},
    "gru, advantage mean (no value net)": {"policy": "gru", "frame_stack": 1, "advantage": "mean"},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=50)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import jax

    from jaxpg import bench
    from jaxpg.defaults import recommended
    from jaxpg.train import make_trainer, resolve_loss_chunk

    rows = []
    print(f"{'setting':<36} {'loss chunk':>10} {'compile s':>9} {'run s':>7} {'valid steps/s':>14}")
    for name, over in SETTINGS.items():
        config, hp = recommended("Pixelcopter-v0", **over)
        tr = make_trainer(config)
        state = tr.init(jax.random.key(0), hp)
        run = jax.jit(lambda s, tr=tr, hp=hp: tr.run(s, hp, args.updates))
        t = time.perf_counter()
        warm, m = run(state)
        jax.block_until_ready(m)
        compile_s = time.perf_counter() - t
        t = time.perf_counter()
        _, m = run(warm)
        jax.block_until_ready(m)
        run_s = time.perf_counter() - t
        steps = int(m.env_steps.sum())
        row = {"setting": name, "overrides": over, "loss_chunk": resolve_loss_chunk(config), "compile_s": compile_s,
               "run_s": run_s, "valid_steps": steps, "valid_steps_per_s": steps / run_s,
               "mean_length": float(m.mean_length.mean())}
        rows.append(row)
        print(f"{name:<36} {row['loss_chunk']:>10} {compile_s:9.1f} {run_s:7.2f} {row['valid_steps_per_s']:14,.0f}",
              flush=True)
    date = datetime.date.today().isoformat()
    out = args.out or Path(__file__).parent / "results" / f"recurrent-speed-{jax.default_backend()}-{date}.json"
    bench.write_json({"benchmark": "recurrent_speed", "regenerate": "python experiments/recurrent_speed.py",
                      "updates": args.updates, "rows": rows, **bench.machine_info()}, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
