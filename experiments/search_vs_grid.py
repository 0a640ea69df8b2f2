"""A grid sweep against random search, successive halving and PBT, at stated shares of the grid's env steps.

Per environment, on its recommended settings (``jaxpg.defaults``) with a short budget:
CartPole-v1, 150 updates × 16 envs, ranked by ``steps-to:475``; Acrobot-v1, 100 updates × 16
envs, ``auc``; Pixelcopter-v0, 600 updates × 8 envs, ``auc``:

1. grid: learning_rate × entropy_coef, 4 × 2 points (the centres of 4 log-spaced and 2 even
   bins of the searched ranges), ``--seeds`` seeds a point, the whole budget; each point scored
   with ``jaxpg.tune.score`` on its seed-mean training returns, the best kept;
2. searches over the same ranges (learning_rate log-uniform 1e-3..1e-1, entropy_coef 0..0.02;
   Pixelcopter's learning_rate 1e-4..1e-2, around its recommended 1e-3), each with ``--keys``
   root seeds (0, 1, ...): ``random`` (8 trials, 8 at a time), ``halving`` (24 trials, 8 at a
   time, η 3, first rung a ninth of the budget), ``pbt`` (population 8, interval a tenth of the
   budget), and two small ones meant to fit in a quarter of the grid: ``halving-small`` (8 trials,
   first rung a 27th of the budget) and ``pbt-small`` (population 4), both on half the seeds a
   trial. With one key every search starts from the same draws (``jaxpg.runner.space.draw``);
3. every winner (the grid's and each search's, per key) retrained from scratch on
   ``--confirm-seeds`` fresh seeds (root seed 1,000,003, the same for every winner: a paired
   comparison; a winner met twice is trained once), scored by the same metric on its training
   returns, and evaluated: mean − std of 32 sampled episodes a seed, the median over seeds;
4. the table: each search's env steps (median over keys) as a fraction of the grid's (median,
   and the largest), its best score on its own seeds, its confirmed score over keys (min /
   median / max, and the worst key), the median evaluation score and the wall time;
5. the goal, per env: does halving or PBT (any of the four) reach the grid's confirmed score
   within 5% of its absolute value (``steps-to``: at most 5% more steps) with its median
   confirmed score over keys, using at most 25% of the grid's env steps on every key? Then how
   many envs meet it. A grid winner that never reaches 475 on the fresh seeds is matched by
   anything: that env is marked vacuous.

The JSON (``search-vs-grid-<platform>-<date>.json``, rewritten after each env; ``-smoke`` added
with ``--smoke``) holds per env the grid's points and scores, every search's keys (env steps,
fraction, winner, its search and confirmed scores and evaluation), the summaries and the goal.
Scores are higher-is-better (``steps-to``: minus the steps; null: never reached). One grid, on 2
CPU cores with another process busy: 20 s CartPole, 18 s Acrobot, 23 s Pixelcopter (compiled;
the first one in a process compiles for 10-15 s more). The whole default run is about 10 grids
an env plus compiles: about 13-18 minutes::

    python experiments/search_vs_grid.py --out experiments/results
    python experiments/search_vs_grid.py --envs Acrobot-v1 --updates-scale 0.5 --keys 1 --seeds 2 --confirm-seeds 4
    python experiments/search_vs_grid.py --smoke
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from jaxpg.bench import machine_info, write_json
from jaxpg.defaults import recommended
from jaxpg.runner import Evaluation, RunSpec, run
from jaxpg.runner.space import Space
from jaxpg.sweep import grid
from jaxpg.tune import TuneSpec, score, tune

#: per env: ranking metric, budget (updates), Config overrides, searched ranges
ENVS = {
    "CartPole-v1": dict(metric="steps-to:475", updates=150, config={}, lr="1e-3..1e-1", ent="0..0.02"),
    "Acrobot-v1": dict(metric="auc", updates=100, config={}, lr="1e-3..1e-1", ent="0..0.02"),
    "Pixelcopter-v0": dict(metric="auc", updates=600, config={"num_envs": 8}, lr="1e-4..1e-2", ent="0..0.02"),
}
GRID_SHAPE = (4, 2)  # learning_rate values × entropy_coef values
CONFIRM_ROOT = 1_000_003  # the confirmations' root seed: distinct from the searches' keys 0..K-1
EVAL_EPISODES = 32
TOLERANCE = 0.05  # reach the grid's confirmed score minus 5% of its absolute value
GOAL_FRACTION = 0.25  # ... using at most a quarter of the grid's env steps


def searches(budget: int, seeds: int) -> dict[str, tuple[dict, int]]:
    """name -> (TuneSpec settings, seeds a trial)."""
    small = max(1, seeds // 2)
    return {
        "random": (dict(trials=8, population=8, scheduler="none"), seeds),
        "halving": (dict(trials=24, population=8, scheduler="halving", eta=3, min_updates=max(1, round(budget / 9))),
                    seeds),
        "pbt": (dict(trials=8, population=8, scheduler="pbt", interval=max(1, round(budget / 10))), seeds),
        "halving-small": (dict(trials=8, population=8, scheduler="halving", eta=3,
                               min_updates=max(1, round(budget / 27))), small),
        "pbt-small": (dict(trials=4, population=4, scheduler="pbt", interval=max(1, round(budget / 10))), small),
    }


def grid_values(space: Space, n: int) -> list[float]:
    """The centres of ``n`` equal bins of the range (log bins for a log-scale field)."""
    if space.log:
        lo, hi = math.log(space.low), math.log(space.high)
        return [float(math.exp(lo + (hi - lo) * (i + 0.5) / n)) for i in range(n)]
    return [float(space.low + (space.high - space.low) * (i + 0.5) / n) for i in range(n)]


def curve(metrics, point: int) -> tuple[np.ndarray, np.ndarray]:
    """A point's seed-mean training return per update and its seed-mean cumulative env steps."""
    ret = np.asarray(metrics.mean_return[point], np.float64)
    with np.errstate(invalid="ignore"):
        ret = np.nanmean(np.where(np.isfinite(ret), ret, np.nan), axis=0)
    steps = np.cumsum(np.asarray(metrics.env_steps[point], np.int64), axis=1).mean(0)
    return ret, steps


def num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def confirm(config, hparams, best: dict, seeds: int, metric: str, cache: dict) -> dict:
    """``best`` retrained from scratch on ``seeds`` fresh seeds, scored and evaluated (a winner met
    before, e.g. the same first draw of two searches with one key, is not trained again: ``reused``)."""
    key = tuple(sorted(best.items()))
    if key in cache:
        return {**cache[key], "reused": True, "wall_s": 0.0}
    t = time.perf_counter()
    r = run(RunSpec(config, hparams.replace(**best), seeds=seeds, seed=CONFIRM_ROOT,
                    evaluation=Evaluation(episodes=EVAL_EPISODES)), handle_signals=False)
    ret, steps = curve(r.metrics, 0)
    per_seed = [float(x.mean() - x.std()) for x in r.eval_returns["sampled"][0]]
    cache[key] = {"hparams": best, "seeds": seeds, "root_seed": CONFIRM_ROOT, "score": score(ret, steps, metric),
            "eval_score_per_seed": per_seed, "eval_median": float(np.median(per_seed)),
            "env_steps": int(np.asarray(r.metrics.env_steps, np.int64).sum()), "reused": False,
                  "wall_s": time.perf_counter() - t}
    return cache[key]


def show(x: float | None, metric: str) -> str:
    """A score as the table shows it: steps for ``steps-to`` (``never``), else the return."""
    if x is None or not math.isfinite(x):
        return "never" if metric.startswith("steps-to") else "nan"
    return f"{-x:,.0f}" if metric.startswith("steps-to") else f"{x:.1f}"


def run_grid(config, hparams, spaces, seeds: int, metric: str) -> dict:
    axes = {s.field: grid_values(s, n) for s, n in zip(spaces, GRID_SHAPE, strict=True)}
    points = grid(**axes)
    t = time.perf_counter()
    r = run(RunSpec(config, hparams, points, tuple(axes), seeds, 0, Evaluation(episodes=0)), handle_signals=False)
    scores = [score(*curve(r.metrics, i), metric) for i in range(len(points))]
    best = sorted(range(len(points)), key=lambda i: (-scores[i], i))[0]
    return {"axes": axes, "seeds": seeds, "root_seed": 0,
            "points": [{"hparams": p, "score": num(s)} for p, s in zip(points, scores, strict=True)],
            "best": best, "best_hparams": points[best], "best_score": scores[best],
            "env_steps": int(np.asarray(r.metrics.env_steps, np.int64).sum()), "wall_s": time.perf_counter() - t}


def run_search(config, hparams, spaces, kw: dict, seeds: int, key: int, metric: str) -> dict:
    t = time.perf_counter()
    rec = tune(config, TuneSpec(spaces, metric=metric, **kw), hparams=hparams, seeds=seeds, seed=key,
               handle_signals=False).record
    best = rec["trials"][rec["best"]]
    return {"key": key, "env_steps": rec["env_steps"], "best": rec["best"], "best_hparams": best["hparams"],
            "best_score": best["score"], "trials": len(rec["trials"]),
            "stopped": sum(x["status"] == "stopped" for x in rec["trials"]),
            "exploits": sum(len(x["history"]) - 1 for x in rec["trials"]), "wall_s": time.perf_counter() - t}


def summarise(keys: list[dict]) -> dict:
    fr = [k["fraction"] for k in keys]
    conf = [k["confirm"]["score"] for k in keys]
    worst = int(np.argmin(conf))
    return {"fraction_median": float(np.median(fr)), "fraction_max": max(fr), "confirm_min": min(conf),
            "confirm_median": float(np.median(conf)), "confirm_max": max(conf), "worst_key": keys[worst]["key"],
            "eval_median": float(np.median([k["confirm"]["eval_median"] for k in keys]))}


def table(env: str, rec: dict) -> None:
    metric, g = rec["metric"], rec["grid"]
    unit = "steps to 475" if metric.startswith("steps-to") else metric
    print(f"\n{env}: {rec['budget']} updates x {rec['config']['num_envs']} envs, metric {metric} "
          f"(confirmed on {rec['confirm_seeds']} fresh seeds; {unit})")
    print(f"{'search':<14}{'env steps':>13}{'of grid':>15}{'search best':>13}{'confirmed min / median / max':>34}"
          f"{'worst key':>10}{'eval':>8}{'wall s':>8}")
    print(f"{'grid':<14}{g['env_steps']:>13,}{'1.00':>15}{show(g['best_score'], metric):>13}"
          f"{show(g['confirm']['score'], metric):>34}{'-':>10}{g['confirm']['eval_median']:>8.1f}{g['wall_s']:>8.0f}")
    for name, s in rec["searches"].items():
        m = s["summary"]
        steps = int(np.median([k["env_steps"] for k in s["keys"]]))
        frac = f"{m['fraction_median']:.2f} (<={m['fraction_max']:.2f})"
        best = float(np.median([k["best_score"] for k in s["keys"]]))
        conf = " / ".join(show(m[f"confirm_{x}"], metric) for x in ("min", "median", "max"))
        wall = sum(k["wall_s"] for k in s["keys"])
        print(f"{name:<14}{steps:>13,}{frac:>15}{show(best, metric):>13}{conf:>34}{m['worst_key']:>10}"
              f"{m['eval_median']:>8.1f}{wall:>8.0f}")


def goal(rec: dict) -> dict:
    grid_conf = rec["grid"]["confirm"]["score"]
    threshold = grid_conf - TOLERANCE * abs(grid_conf) if math.isfinite(grid_conf) else -math.inf
    cands = []
    for name, s in rec["searches"].items():
        if s["settings"]["scheduler"] in ("halving", "pbt"):
            m = s["summary"]
            meets = m["fraction_max"] <= GOAL_FRACTION and m["confirm_median"] >= threshold
            cands.append({"search": name, "fraction_max": m["fraction_max"], "confirm_median": m["confirm_median"],
                          "meets": bool(meets)})
    return {"grid_confirm": grid_conf, "threshold": threshold, "tolerance": TOLERANCE, "max_fraction": GOAL_FRACTION,
            "candidates": cands, "met": any(c["meets"] for c in cands), "vacuous": not math.isfinite(grid_conf)}


def goal_line(env: str, rec: dict) -> str:
    gl, metric = rec["goal"], rec["metric"]
    parts = [f"{c['search']} {show(c['confirm_median'], metric)} at {c['fraction_max']:.2f}"
             f"{' (yes)' if c['meets'] else ''}" for c in gl["candidates"]]
    return (f"goal {env}: {'yes' if gl['met'] else 'no'} - halving/PBT reach the grid's confirmed "
            f"{show(gl['grid_confirm'], metric)} (need {show(gl['threshold'], metric)}) with <= "
            f"{GOAL_FRACTION:.0%} of its env steps? {'; '.join(parts)}"
            + (" (vacuous: the grid's winner never reaches the threshold on fresh seeds)" if gl["vacuous"] else ""))


def jsonable(x):
    """Non-finite floats as null (the JSON stays strict)."""
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", default=",".join(ENVS), help=f"comma list of {', '.join(ENVS)} (default: all)")
    p.add_argument("--updates-scale", type=float, default=1.0, help="multiplies every env's budget of updates")
    p.add_argument("--keys", type=int, default=2, help="root seeds each search is repeated with")
    p.add_argument("--seeds", type=int, default=2, help="seeds a grid point and a search trial train")
    p.add_argument("--confirm-seeds", type=int, default=4, help="fresh seeds every winner is retrained on")
    p.add_argument("--out", type=Path, default=None, help="folder for search-vs-grid-<platform>-<date>.json")
    p.add_argument("--smoke", action="store_true",
                   help="tiny: CartPole-v1, 6 updates, 4 envs, 1 key, 1 confirm seed (a test)")
    args = p.parse_args()
    envs = [e.strip() for e in args.envs.split(",") if e.strip()]
    unknown = [e for e in envs if e not in ENVS]
    if unknown or not envs:
        p.error(f"--envs: unknown {unknown or 'empty list'}; choose from {', '.join(ENVS)}")
    if min(args.keys, args.seeds, args.confirm_seeds) < 1 or not args.updates_scale > 0:
        p.error("--keys, --seeds and --confirm-seeds must be at least 1, --updates-scale above 0")
    if args.smoke:
        envs, args.keys, args.confirm_seeds = ["CartPole-v1"], 1, 1
    rec = {**machine_info(), "smoke": args.smoke, "seeds": args.seeds, "keys": args.keys,
           "confirm_seeds": args.confirm_seeds, "confirm_root_seed": CONFIRM_ROOT, "eval_episodes": EVAL_EPISODES,
           "updates_scale": args.updates_scale, "tolerance": TOLERANCE, "goal_fraction": GOAL_FRACTION, "envs": {}}
    path = None
    if args.out is not None:
        smoke = "-smoke" if args.smoke else ""
        path = args.out / f"search-vs-grid-{rec['device']['platform']}-{rec['date']}{smoke}.json"
    t_all = time.perf_counter()
    for env in envs:
        e = ENVS[env]
        budget = 6 if args.smoke else max(3, round(e["updates"] * args.updates_scale))
        overrides = {**e["config"], "num_updates": budget, **({"num_envs": 4} if args.smoke else {})}
        config, hparams = recommended(env, **overrides)
        spaces = (Space.parse("learning_rate", e["lr"]), Space.parse("entropy_coef", e["ent"]))
        metric = e["metric"]
        print(f"[{env}] grid: {GRID_SHAPE[0]} x {GRID_SHAPE[1]} points x {args.seeds} seeds x {budget} updates "
              f"x {config.num_envs} envs ...", flush=True)
        g = run_grid(config, hparams, spaces, args.seeds, metric)
        print(f"[{env}] grid: {g['env_steps']:,} env steps, best {g['best_hparams']} {show(g['best_score'], metric)}"
              f", {g['wall_s']:.1f} s; confirming ...", flush=True)
        cache: dict = {}
        g["confirm"] = confirm(config, hparams, g["best_hparams"], args.confirm_seeds, metric, cache)
        print(f"[{env}] grid confirmed {show(g['confirm']['score'], metric)}, eval {g['confirm']['eval_median']:.1f}"
              f" ({g['confirm']['wall_s']:.1f} s)", flush=True)
        env_rec = {"metric": metric, "budget": budget, "config": {k: getattr(config, k) for k in
                                                                   ("num_envs", "max_steps", "advantage")},
                   "base_hparams": hparams.to_dict(), "spaces": [s.record() for s in spaces],
                   "confirm_seeds": args.confirm_seeds, "grid": g, "searches": {}}
        for name, (kw, seeds) in searches(budget, args.seeds).items():
            keys = []
            for key in range(args.keys):
                print(f"[{env}] {name} key {key}: {kw}, {seeds} seed(s) a trial ...", flush=True)
                k = run_search(config, hparams, spaces, kw, seeds, key, metric)
                k["fraction"] = k["env_steps"] / g["env_steps"]
                k["confirm"] = confirm(config, hparams, k["best_hparams"], args.confirm_seeds, metric, cache)
                keys.append(k)
                print(f"[{env}] {name} key {key}: {k['env_steps']:,} env steps ({k['fraction']:.2f} of the grid), "
                      f"best {show(k['best_score'], metric)} -> confirmed {show(k['confirm']['score'], metric)}, "
                      f"eval {k['confirm']['eval_median']:.1f}; {k['wall_s']:.1f} + {k['confirm']['wall_s']:.1f} s",
                      flush=True)
            env_rec["searches"][name] = {"settings": kw, "seeds": seeds, "keys": keys,
                                         "summary": summarise(keys)}
        env_rec["goal"] = goal(env_rec)
        rec["envs"][env] = env_rec
        table(env, env_rec)
        print(goal_line(env, env_rec), flush=True)
        met = [name for name, r in rec["envs"].items() if r["goal"]["met"]]
        vacuous = [name for name, r in rec["envs"].items() if r["goal"]["vacuous"]]
        rec["goal"] = {"met": len(met), "of": len(rec["envs"]), "envs_met": met, "envs_vacuous": vacuous}
        rec["wall_s"] = time.perf_counter() - t_all
        if path is not None:
            write_json(jsonable(rec), path)
            print(f"wrote {path}", flush=True)
    print(f"\ngoal met in {rec['goal']['met']} of {rec['goal']['of']} env(s) "
          f"({', '.join(rec['goal']['envs_met']) or 'none'}"
          f"{'; vacuous: ' + ', '.join(rec['goal']['envs_vacuous']) if rec['goal']['envs_vacuous'] else ''})"
          f"; {rec['wall_s']:.0f} s in all")


if __name__ == "__main__":
    main()
