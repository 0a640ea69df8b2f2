"""Peak memory of writing a 500-step CartPole-v1 replay GIF: streamed frames against one array.

Each case runs in a fresh interpreter (``ru_maxrss`` is a process's high-water mark): it plays one
500-step CartPole-v1 episode with a fixed balancing controller (a greedy PD rule on the pole, so
nothing is trained and the episode lasts the 500 steps), then draws the 501 states and writes the
GIF, and reports its peak resident memory, the memory in use once the episode was played (JAX,
gymnax and the compiled episode: what any replay costs), the draw-and-write seconds and the
frames the file holds. Cases:

- ``streamed``: ``write_gif(iter_frames(...))`` at several ``batch_size`` (states drawn per call),
  and at ``--short`` steps too (the peak should not grow with the episode);
- ``one array``: ``write_gif(frames(...))``, every frame drawn into one uint8 array first;
- ``before`` (with ``--before REF``): ``frames`` + ``write_gif`` of ``jaxpg/render.py`` as it was at
  git commit REF (the writer built every Pillow image at once), loaded from ``git show``.

Prints a table and writes ``experiments/results/render-memory-<backend>-<date>.json``.

    python experiments/render_memory.py                      # ~1 min on 2 cores
    python experiments/render_memory.py --before 42f357a     # and the writer before streaming

On Linux (glibc) ``batch_size`` 32 peaked higher than 16 or 64 when this was written: a 22 MB
batch is under glibc's largest mmap threshold, so freed batches stay in the heap
(``MALLOC_MMAP_THRESHOLD_=1048576`` brought it to 313 MB); 64 (44 MB a batch) is returned to
the system at once.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = "CartPole-v1"


def balance(params, obs):
    """Logits of a greedy PD rule that keeps CartPole's pole up for 500 steps (``params`` unused)."""
    import jax.numpy as jnp

    push = obs[2] + 0.5 * obs[3] + 0.05 * obs[0] + 0.2 * obs[1]
    return jnp.stack([-push, push]) * 100.0


def _rss_mb() -> float:
    """The resident memory in use now, MB (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(mode: str, batch_size: int, steps: int, before: str | None) -> dict:
    """One case, in this (fresh) interpreter: what :func:`main` prints a row of."""
    import resource
    import time

    import jax
    from PIL import Image

    from jaxpg import render

    states, length = render.play_episode(jax.random.key(0), ENV, balance, None, steps, greedy=True)
    states = jax.tree.map(lambda a: a[: length + 1], states)
    base = _rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replay.gif"
        t = time.perf_counter()
        if mode == "streamed":
            render.write_gif(render.iter_frames(ENV, states, batch_size=batch_size), path, fps=50)
        elif mode == "one array":
            render.write_gif(render.frames(ENV, states, batch_size=batch_size), path, fps=50)
        else:  # before: the module as it was at commit `before`
            old = Path(tmp) / "render_before.py"
            old.write_text(subprocess.run(["git", "-C", str(ROOT), "show", f"{before}:jaxpg/render.py"],
                                          check=True, capture_output=True, text=True).stdout)
            sys.path.insert(0, tmp)
            import render_before  # start-up order: written from `git show` just above

            render_before.write_gif(render_before.frames(ENV, states, batch_size=batch_size), path, fps=50)
        seconds = time.perf_counter() - t
        with Image.open(path) as gif:
            n_frames = gif.n_frames
        size = path.stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    return {"mode": mode, "batch_size": batch_size, "steps": length, "states": length + 1,
            "gif_frames": n_frames, "gif_bytes": size, "draw_write_s": seconds, "rss_after_episode_mb": base,
            "peak_rss_mb": peak, "peak_above_episode_mb": peak - base}


def run_case(mode: str, batch_size: int, steps: int, before: str | None) -> dict:
    """:func:`child` in a fresh interpreter."""
    cmd = [sys.executable, __file__, "--child", mode, str(batch_size), str(steps), before or ""]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=500, help="episode length (CartPole-v1 stops at 500)")
    ap.add_argument("--short", type=int, default=100, help="a shorter episode, streamed (0: none)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--before", default=None, help="git commit whose jaxpg/render.py is the 'before' row")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, batch_size, steps, before = args.child
        print(json.dumps(child(mode, int(batch_size), int(steps), before or None)))
        return 0
    import jax

    from jaxpg import bench

    cases = [("streamed", b, args.steps) for b in args.batch_sizes]
    cases += [("streamed", 64, args.short)] if args.short else []
    cases += [("one array", 64, args.steps)]
    cases += [("before", 64, args.steps)] if args.before else []
    rows = []
    print(f"{'case':<10} {'batch':>5} {'steps':>5} {'GIF frames':>10} {'peak RSS MB':>11} {'above episode MB':>16} "
          f"{'draw+write s':>12}")
    for mode, batch_size, steps in cases:
        r = run_case(mode, batch_size, steps, args.before)
        rows.append(r)
        print(f"{mode:<10} {batch_size:>5} {r['steps']:>5} {r['gif_frames']:>10} {r['peak_rss_mb']:>11.0f} "
              f"{r['peak_above_episode_mb']:>16.0f} {r['draw_write_s']:>12.2f}", flush=True)
    before = None
    if args.before:
        before = subprocess.run(["git", "-C", str(ROOT), "rev-parse", args.before], check=True,
                                capture_output=True, text=True).stdout.strip()
    date = datetime.date.today().isoformat()
    out = args.out or ROOT / "experiments" / "results" / f"render-memory-{jax.default_backend()}-{date}.json"
    bench.write_json({"benchmark": "render_memory", "regenerate": "python experiments/render_memory.py"
                      + (f" --before {args.before}" if args.before else ""),
                      "env": ENV, "fps": 50, "policy": "greedy PD rule on the pole (experiments/render_memory.py)",
                      "before_commit": before, "rows": rows, **bench.machine_info()}, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
