"""What ends a trained policy's Pixelcopter episodes: blocks, the cave's ceiling or floor, or the screen.

Plays ``--episodes`` sampled (or ``--greedy``) episodes per seed of a ``jaxpg train --out``
run directory (or of one point of a ``jaxpg sweep --out`` directory: ``--point H``; any
checkpoint format ``jaxpg.checkpoint.load`` reads), to the env's step limit, and classifies
the crash of every episode that ended by one (``jaxpg.envs.pixelcopter.crash_causes`` on the
post-crash state: the rules of steps 5, 6 and 9 of ``../shared/specs/pixelcopter.md``).
Prints a table per seed and writes JSON next to the run (``DIR/deaths.json``, or
``DIR/deaths-pH.json`` for ``--point H``, atomically; every episode's return too)::

    python experiments/pixelcopter_deaths.py runs/pixelcopter --episodes 256
    python experiments/pixelcopter_deaths.py runs/pc-sweep --point 2     # one point of a sweep

The episodes are played here (not by the run layer's evaluation): the classification needs
every crash step's state, which ``jaxpg.evaluate`` does not return.

A cause column counts episodes whose crash step had that collision (a crash can have
more than one: e.g. a block and the floor together). "wall unseen": the wall that was hit
belongs only to a terrain piece the observation does not report (the copter's column
overlaps two pieces about a quarter of the time; the observation shows the first).
"10-ep score" is the course's evaluation (mean − std of 10 episodes) on disjoint groups
of 10 of these episodes: its median, and how often it reaches the course's pass mark of 5.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxpg import checkpoint, envs, policies
from jaxpg.envs import pixelcopter as pc


def _causes(state):
    """``crash_causes`` plus "unseen": a wall test failed, but only on a piece the observation hides.

    The copter's 2-px column overlaps one or two terrain pieces; the observation reports the
    walls of the first (smallest x) only, while every overlapped piece's walls are tested.
    """
    h = pc._hits(state)
    wall = h["ceiling"] | h["floor"]
    overlapped = pc._terrain_hits(state)
    first = jnp.argmin(jnp.where(overlapped, state.terrain_xq, jnp.iinfo(jnp.int32).max))
    # crash_causes repeats _hits; under jit XLA computes it once
    return {**pc.crash_causes(state), "unseen_wall": jnp.any(wall) & ~wall[first]}


def play(key, env, env_params, apply_fn, params, dist, n: int, max_steps: int, greedy: bool):
    """Runs n episodes to their end (no auto-reset); returns per-episode length, return and cause flags.

    ``apply_fn``: the policy's ``apply``, or the ``Policy`` (a recurrent one carries its state)."""
    policy = apply_fn if isinstance(apply_fn, policies.Policy) else None
    recurrent = policy is not None and policy.recurrent

    reset_keys = jax.random.split(jax.random.fold_in(key, 0), n)
    obs, state = jax.vmap(env.reset_env, (0, None))(reset_keys, env_params)
    z = jnp.zeros((n,), bool)
    carry0 = dict(obs=obs, state=state, done=z, length=jnp.zeros((n,), jnp.int32),
                  ret=jnp.zeros((n,), jnp.float32), block=z, ceiling=z, floor=z, screen=z,
                  unseen_wall=z, t=jnp.int32(0), key=key,
                  pstate=policy.initial_state((n,)) if recurrent else jnp.zeros((n,)))

    def cond(c):
        return (c["t"] < max_steps) & ~jnp.all(c["done"])

    def body(c):
        key, k_act, k_env = jax.random.split(c["key"], 3)
        if recurrent:
            pstate, out = policy.step(params, c["pstate"], c["obs"])
        else:
            pstate, out = c["pstate"], (policy.apply if policy is not None else apply_fn)(params, c["obs"])
        action = dist.mode(out) if greedy else dist.sample(k_act, out)
        obs, st, r, term, _ = jax.vmap(env.step_env, (0, 0, 0, None))(
            jax.random.split(k_env, n), c["state"], action, env_params)
        live = ~c["done"]
        crash = live & term
        why = jax.vmap(_causes)(envs.base_state(st))  # a frame-stacked run's state holds the game's

        def keep(old, new):
            return jnp.where(live.reshape(live.shape + (1,) * (new.ndim - 1)), new, old)

        return dict(
            obs=keep(c["obs"], obs), state=jax.tree.map(keep, c["state"], st), done=c["done"] | term,
            length=c["length"] + live, ret=c["ret"] + jnp.where(live, r, 0.0),
            block=c["block"] | (crash & why["block"]), ceiling=c["ceiling"] | (crash & why["ceiling"]),
            floor=c["floor"] | (crash & why["floor"]), screen=c["screen"] | (crash & why["screen"]),
            unseen_wall=c["unseen_wall"] | (crash & why["unseen_wall"]),
            t=c["t"] + 1, key=key, pstate=pstate,
        )

    c = jax.lax.while_loop(cond, body, carry0)
    return {k: c[k] for k in ("length", "ret", "done", "block", "ceiling", "floor", "screen", "unseen_wall")}


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dir")
    p.add_argument("--episodes", type=_positive, default=256, help="episodes per seed")
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--seed", type=int, default=12345, help="evaluation key: seed s plays key(SEED + s)")
    p.add_argument("--point", type=int, default=None,
                   help="which hyperparameter point of a sweep directory (0-based; a train run has one)")
    p.add_argument("--out", help="JSON path (default: RUN_DIR/deaths.json, or deaths-greedy.json; "
                                 "with --point H: deaths-pH.json, deaths-greedy-pH.json)")
    args = p.parse_args(argv)
    try:
        ck = checkpoint.load(args.run_dir, point=args.point)
    except checkpoint.CheckpointError as e:
        print(f"pixelcopter_deaths: {e}", file=sys.stderr)
        return 2
    if not ck.config.env.startswith("Pixelcopter"):
        print(f"pixelcopter_deaths: {args.run_dir} trained {ck.config.env}, not Pixelcopter", file=sys.stderr)
        return 2
    from jaxpg.train import make_trainer

    tr = make_trainer(ck.config)  # only its env and policy: nothing is trained here
    max_steps = int(tr.env_params.max_steps_in_episode)

    @jax.jit
    def one(params, key):
        return play(key, tr.env, tr.env_params, tr.policy, params, tr.policy.dist, args.episodes,
                    max_steps, args.greedy)

    alive = np.asarray(ck.alive, bool)
    if not alive.all():
        print(f"note: seed(s) {np.nonzero(~alive)[0].tolist()} diverged in training; their policy is the "
              "last finite one")
    rows = []
    where = "" if args.point is None else f" point {args.point} {ck.points[0]}"
    mode = "greedy" if args.greedy else "sampled"
    print(f"{args.run_dir}{where}: {args.episodes} {mode} episodes per seed, to {max_steps} steps")
    cols = ("seed", "mean return", "std", "score", "10-ep score median", "P(10-ep >= 5)", "crashed",
            "block", "ceiling", "floor", "screen", "wall unseen", "mean length")
    print(" | ".join(cols))
    for s in range(ck.seeds):
        params = jax.tree.map(lambda a, s=s: a[s], ck.state.params)
        out = {k: np.asarray(v) for k, v in one(params, jax.random.key(args.seed + s)).items()}
        row = dict(seed=s, mean_return=float(out["ret"].mean()), std=float(out["ret"].std()),
                   crashed=int(out["done"].sum()), block=int(out["block"].sum()),
                   ceiling=int(out["ceiling"].sum()), floor=int(out["floor"].sum()),
                   screen=int(out["screen"].sum()), unseen_wall=int(out["unseen_wall"].sum()),
                   mean_length=float(out["length"].mean()), diverged=not bool(alive[s]),
                   returns=out["ret"].tolist())
        row["score"] = row["mean_return"] - row["std"]
        # the course's evaluation (10 episodes, mean - std) on disjoint groups of these episodes
        groups = out["ret"][: len(out["ret"]) // 10 * 10].reshape(-1, 10)
        s10 = groups.mean(1) - groups.std(1)
        row["score10_median"] = float(np.median(s10)) if len(s10) else float("nan")
        row["score10_ge5"] = float((s10 >= 5).mean()) if len(s10) else float("nan")
        row["score10_groups"] = len(s10)
        rows.append(row)
        cells = (s, f"{row['mean_return']:.1f}", f"{row['std']:.1f}", f"{row['score']:.1f}",
                 f"{row['score10_median']:.1f}", f"{row['score10_ge5']:.2f}", row["crashed"],
                 row["block"], row["ceiling"], row["floor"], row["screen"], row["unseen_wall"],
                 f"{row['mean_length']:.0f}")
        print(" | ".join(str(c).rjust(len(h)) for c, h in zip(cells, cols, strict=True)))
    scores = [r["score"] for r in rows]
    tot = {k: sum(r[k] for r in rows)
           for k in ("block", "ceiling", "floor", "screen", "unseen_wall", "crashed")}
    print(f"per-seed score (mean - std of {args.episodes}): median {np.median(scores):.1f}, "
          f"worst {min(scores):.1f}; crashes: {tot['block']} block, {tot['ceiling']} ceiling, "
          f"{tot['floor']} floor, {tot['screen']} screen of {tot['crashed']}; {tot['unseen_wall']} "
          "wall crashes only on a piece the observation does not show")
    suffix = "" if args.point is None else f"-p{args.point}"
    out_path = Path(args.out) if args.out else Path(args.run_dir) / (
        f"deaths-greedy{suffix}.json" if args.greedy else f"deaths{suffix}.json")
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(dict(run_dir=str(args.run_dir), point=args.point, hparams=ck.hparams.to_dict(),
                       episodes=args.episodes, greedy=args.greedy, max_steps=max_steps, seeds=rows), f)
    os.replace(tmp, out_path)
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
