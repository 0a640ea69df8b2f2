"""MinAtar with the cnn policy: REINFORCE on every game, 8 seeds, IQM with a bootstrap interval.

Each game trains ``--seeds`` seeds with its tuned settings (``jaxpg.defaults``: what ``jaxpg train
--env GAME`` uses; ``--updates``/``--num-envs`` override the budget) through the run layer, then
evaluates every seed over ``--eval-episodes`` sampled episodes to the game's own step limit. Per
game: the IQM over seeds of each seed's evaluation mean, its 95% stratified-bootstrap interval
(``jaxpg.stats``), the worst seed, and the valid env steps per seed (MinAtar steps; the MinAtar
paper counts frames, one per step). Prints a table and writes
``experiments/results/minatar-<backend>-<date>.json`` (rewritten after every game, atomically).

    python experiments/minatar.py                              # the tuned budget (CPU-sized)
    python experiments/minatar.py --games Breakout-MinAtar --root 1    # fresh seeds
    python experiments/minatar.py --updates 20000 --num-envs 64        # an accelerator's budget
    python experiments/minatar.py --random --out TABLE.json   # add the random policy's returns to a table

References (stated with their budget; see ``docs/results.md``): the MinAtar paper (Young & Tian
2019) trains DQN and AC(λ) for 5 M frames; gymnax-blines trains PPO for 10 M steps (Breakout,
64 envs). Both publish learning curves as figures, not tables.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402

GAMES = ("Breakout-MinAtar", "Asterix-MinAtar", "Freeway-MinAtar", "SpaceInvaders-MinAtar", "Seaquest-MinAtar")
REFERENCES = {
    "MinAtar paper (Young & Tian 2019)": {"algorithms": ["DQN", "AC(lambda)"], "budget_frames": 5_000_000,
                                          "form": "learning curves (figures)"},
    "gymnax-blines PPO (Lange 2022)": {"algorithms": ["PPO"], "budget_steps": 10_000_000,
                                       "form": "learning curves (figures)"},
}


def run_game(game: str, seeds: int, episodes: int, root: int, overrides: dict, random_episodes: int = 256) -> dict:
    from jaxpg import runner
    from jaxpg.defaults import recommended
    from jaxpg.stats import iqm, stratified_bootstrap_ci
    from jaxpg.train import DivergedError

    config, hparams = recommended(game, **overrides)
    spec = runner.RunSpec(config, hparams, seeds=seeds, seed=root,
                          evaluation=runner.Evaluation(episodes=episodes, max_steps=None))
    t = time.perf_counter()
    r = runner.run(spec, schedule=runner.Schedule(chunk=None), handle_signals=False)
    wall = time.perf_counter() - t
    if r.diverged:
        raise DivergedError(next(iter(r.diverged.values())))
    sampled = np.asarray(r.eval_returns["sampled"][0])  # [S, K]
    greedy = np.asarray(r.eval_returns["greedy"][0])
    per_seed = sampled.mean(1)
    lo, hi = stratified_bootstrap_ci(per_seed, iqm)
    steps = np.asarray(r.metrics.env_steps[0], np.int64).sum(1)  # [S]
    ret = np.asarray(r.metrics.mean_return[0])
    stride = max(1, ret.shape[1] // 100)
    return {
        "game": game, "seeds": seeds, "root_seed": root, "eval_episodes": episodes,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config).items()},
        "hparams": hparams.to_dict(),
        "eval_mean_per_seed": per_seed.round(3).tolist(),
        "eval_greedy_mean_per_seed": greedy.mean(1).round(3).tolist(),
        "iqm": float(iqm(per_seed)), "iqm_ci95": [lo, hi], "worst_seed": float(per_seed.min()),
        "median": float(np.median(per_seed)),
        "env_steps_per_seed": float(steps.mean()), "env_steps_min_seed": int(steps.min()),
        "compile_seconds": r.timings["compile_s"], "train_seconds": r.timings["train_s"],
        "eval_seconds": r.timings["eval_s"], "wall_seconds": wall,
        "curve_stride": stride, "curve_return_median": np.median(ret, 0)[::stride].round(3).tolist(),
        "random": random_returns(game, random_episodes, root),
    }


def random_returns(game: str, episodes: int, root: int = 0) -> dict:
    """Returns of a uniformly random policy over ``episodes`` episodes to the game's step limit."""
    import jax

    from jaxpg import envs
    from jaxpg.rollout import rollout

    env, params = envs.make(game)
    n = envs.num_actions(env, params)

    def act(key, obs):
        return jax.random.randint(key, obs.shape[:1], 0, n)

    traj, _ = jax.jit(lambda k: rollout(k, env, params, act, episodes, int(params.max_steps_in_episode)))(
        jax.random.key(root))
    ret = np.asarray(traj.rewards.sum(0))
    return {"game": game, "episodes": episodes, "mean": float(ret.mean()), "std": float(ret.std()),
            "mean_length": float(np.asarray(traj.valid.sum(0)).mean())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", default=",".join(GAMES))
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--root", type=int, default=0, help="root seed (0: the seeds the settings were chosen on)")
    ap.add_argument("--eval-episodes", type=int, default=32)
    ap.add_argument("--updates", type=int, default=None, help="override the tuned number of updates")
    ap.add_argument("--num-envs", type=int, default=None, help="override the tuned envs per update")
    ap.add_argument("--smoke", action="store_true", help="2 updates of 2 seeds x 4 envs per game (a check)")
    ap.add_argument("--random", action="store_true",
                    help="only the uniformly random policy's returns (256 episodes a game), the floor of the table")
    ap.add_argument("--out", type=Path, default=None, help="the JSON file")
    args = ap.parse_args()
    import jax

    from jaxpg import bench

    if args.random:  # add the floor to an existing table's JSON (a table made before it was part of run_game)
        if args.out is None or not args.out.is_file():
            ap.error("--random adds to a table: give its JSON with --out")
        import json

        doc = json.loads(args.out.read_text())
        for g in args.games.split(","):
            r = random_returns(g, 256, args.root)
            doc["games"].setdefault(g, {})["random"] = r
            print(f"{g:<24} random policy: mean {r['mean']:.2f} (std {r['std']:.2f}), {r['mean_length']:.0f} steps")
        bench.write_json(doc, args.out)
        print(f"wrote {args.out}")
        return 0
    overrides = {k: v for k, v in (("num_updates", args.updates), ("num_envs", args.num_envs)) if v is not None}
    seeds, episodes = args.seeds, args.eval_episodes
    if args.smoke:
        overrides.update(num_updates=2, num_envs=4, max_steps=32)
        seeds, episodes = 2, 2
    date = datetime.date.today().isoformat()
    name = f"minatar-{'smoke-' if args.smoke else ''}{jax.default_backend()}-{date}.json"
    out = args.out or Path(__file__).parent / "results" / name
    doc = {"description": __doc__.strip(), "references": REFERENCES, "overrides": overrides, "games": {},
           "complete": False, **bench.machine_info()}
    print(f"{'game':<24} {'IQM':>7} {'95% CI':>17} {'worst':>7} {'greedy':>7} {'random':>7} {'M steps/seed':>12} "
          f"{'train s':>8}")
    for game in args.games.split(","):
        r = run_game(game, seeds, episodes, args.root, overrides)
        doc["games"][game] = r
        lo, hi = r["iqm_ci95"]
        print(f"{game:<24} {r['iqm']:7.2f} {f'[{lo:.2f}, {hi:.2f}]':>17} {r['worst_seed']:7.2f} "
              f"{np.mean(r['eval_greedy_mean_per_seed']):7.2f} {r['random']['mean']:7.2f} "
              f"{r['env_steps_per_seed'] / 1e6:12.2f} "
              f"{r['train_seconds']:8.1f}", flush=True)
        bench.write_json(doc, out)
    doc["complete"] = True
    bench.write_json(doc, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
