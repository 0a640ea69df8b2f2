"""The Hugging Face Deep RL course's Unit 4 REINFORCE experiments, reproduced in jaxpg.

For each environment, two settings over 32 seeds each, trained in one compiled program:

- ``course``: the course notebook's settings. CartPole-v1: a 4-16-2 ReLU policy, one
  episode per update, 1,000 episodes, gamma 1.0, Adam lr 1e-2, returns normalised per
  episode, no gradient clipping, constant learning rate. Pixelcopter: 64-128 ReLU, one
  episode per update, gamma 0.99, lr 1e-4, at most 10,000 steps an episode (the course
  plays 50,000 episodes; ``--pixelcopter-episodes`` sets how many here).
- ``jaxpg``: jaxpg's recommended settings for the env (``jaxpg.defaults``), **with the same
  env steps**: ``Config.total_steps`` is set to the course setting's mean valid env steps per
  seed, so each jaxpg seed stops at that budget and its schedules decay over it (like for like;
  ``--jaxpg-budget own`` gives it its own tuned budget instead).

Training and evaluation go through ``jaxpg.runner.run``: seed ``i`` trains from
``split(key(0), S)[i]`` and is evaluated with the run layer's evaluation keys. Each seed's final
policy is evaluated like the course: 10 sampled episodes to the env's own step limit (10,000 for
Pixelcopter, even where training cut episodes shorter), score = mean - std.
Writes, under ``experiments/results/course-unit4/``:
``curves.csv.gz`` (env, setting, seed, update, episodes, env_steps, mean_return; thinned by
``compact_results.thin_rows`` to at most 200 rows per env, setting and seed: each row is a
window of consecutive updates, with the window's last update, episodes and env_steps and
its mean training return -- the plots use every update),
``scores.csv`` (env, setting, seed, eval_mean, eval_std, score), one PNG per env
(training return vs episodes played: IQM over seeds with a 95% stratified-bootstrap
band, and the course's pass line: 350 for CartPole -- the course's leaderboard line --
and 5 for Pixelcopter), and ``summary.json`` with the wall times.

    python experiments/course_unit4.py                       # CartPole, then Pixelcopter
    python experiments/course_unit4.py --envs CartPole-v1    # ~1 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from compact_results import CURVES_LAST, gzip_bytes, thin_csv_text  # noqa: E402

from jaxpg import Config, HParams, bench, runner  # noqa: E402
from jaxpg.defaults import recommended  # noqa: E402
from jaxpg.evaluate import summarize  # noqa: E402
from jaxpg.stats import curve_iqm_ci  # noqa: E402

PASS = {"CartPole-v1": 350.0, "Pixelcopter-v0": 5.0}
CURVES_ROWS = 200  # rows per (env, setting, seed) in curves.csv.gz


def settings(env: str, pixelcopter_episodes: int) -> dict[str, tuple[Config, HParams]]:
    if env == "CartPole-v1":
        course = (Config(env=env, num_envs=1, hidden=(16,), activation="relu", num_updates=1000,
                         advantage="normalize", lr_schedule="constant"),
                  HParams(learning_rate=1e-2, gamma=1.0, max_grad_norm=float("inf")))
    else:
        course = (Config(env=env, num_envs=1, hidden=(64, 128), activation="relu",
                         num_updates=pixelcopter_episodes, advantage="normalize", lr_schedule="constant"),
                  HParams(learning_rate=1e-4, gamma=0.99, max_grad_norm=float("inf")))
    return {"course": course, "jaxpg": recommended(env)}


def run_setting(config: Config, hparams: HParams, seeds: int, eval_episodes: int = 10,
                root_seed: int = 0) -> dict:
    """``seeds`` seeds of one setting through ``jaxpg.runner.run``; the course's evaluation
    (``eval_episodes`` sampled episodes per seed to the env's own limit, score = mean - std)."""
    spec = runner.RunSpec(config, hparams, seeds=seeds, seed=root_seed,
                          evaluation=runner.Evaluation(episodes=eval_episodes, max_steps=None))
    r = runner.run(spec, schedule=runner.Schedule(chunk=None), handle_signals=False)
    if r.diverged:
        raise RuntimeError(next(iter(r.diverged.values())))
    sampled = np.asarray(r.eval_returns["sampled"][0])  # [S, K]
    return {"returns": np.asarray(r.metrics.mean_return[0]),
            "env_steps": np.cumsum(np.asarray(r.metrics.env_steps[0], np.int64), 1),
            "eval": [summarize(x) for x in sampled], "compile_s": r.timings["compile_s"],
            "train_s": r.timings["train_s"], "eval_s": r.timings["eval_s"],
            "episodes_per_update": config.num_envs, "updates": int(r.updates_done)}


def plot(env: str, results: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, r in results.items():
        trained = np.isfinite(r["returns"]).all(axis=0)  # a step budget stops seeds at different updates
        n = int(np.argmin(trained)) if not trained.all() else trained.size
        ret = r["returns"][:, :n]  # [S, U]: to where the first seed spent its budget
        # smooth each seed over a window of ~1% of the run (single episodes are noisy)
        w = max(1, ret.shape[1] // 100)
        kernel = np.ones(w) / w
        smooth = np.stack([np.convolve(x, kernel, mode="valid") for x in ret])
        stride = max(1, smooth.shape[1] // 300)
        smooth = smooth[:, ::stride]
        steps = np.median(r["env_steps"][:, :n], axis=0)[w - 1:][::stride]  # valid env steps, median over seeds
        mid, lo, hi = curve_iqm_ci(smooth, reps=1000)
        scores = [e.score for e in r["eval"]]
        ax.plot(steps, mid, label=f"{name} (final score median {np.median(scores):.1f}, "
                                     f"{ret.shape[0]} seeds)")
        ax.fill_between(steps, lo, hi, alpha=0.25)
    ax.axhline(PASS[env], ls="--", color="k", lw=1, label=f"course pass line ({PASS[env]:g})")
    ax.set_xscale("log")
    ax.set_xlabel("valid env steps per seed (log scale)")
    ax.set_ylabel("training episode return (IQM over seeds, 95% CI)")
    ax.set_title(f"{env}: the course's REINFORCE settings vs jaxpg's")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", default="CartPole-v1,Pixelcopter-v0")
    ap.add_argument("--seeds", type=int, default=32)
    ap.add_argument("--pixelcopter-episodes", type=int, default=5000,
                    help="episodes of the course setting on Pixelcopter (the course: 50,000)")
    ap.add_argument("--jaxpg-budget", choices=("course", "own"), default="course",
                    help="course: the jaxpg setting gets the course setting's mean env steps per seed "
                         "(like for like); own: its own tuned budget")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "course-unit4")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    curves, scores = io.StringIO(), io.StringIO()
    cw, sw = csv.writer(curves), csv.writer(scores)
    cw.writerow(["env", "setting", "seed", "update", "episodes", "env_steps", "mean_return"])
    sw.writerow(["env", "setting", "seed", "eval_mean", "eval_std", "score"])
    summary = {"seeds": args.seeds, "envs": {}, **bench.machine_info()}
    for env in args.envs.split(","):
        results = {}
        for name, (config, hp) in settings(env, args.pixelcopter_episodes).items():
            if name == "jaxpg" and args.jaxpg_budget == "course":  # like for like: the course's env steps
                config = config.replace(total_steps=int(round(results["course"]["env_steps"][:, -1].mean())))
            r = run_setting(config, hp, args.seeds)
            results[name] = r
            sc = [e.score for e in r["eval"]]
            print(f"{env:<15} {name:<7} updates {r['updates']:>5} x {config.num_envs:>3} episodes, "
                  f"{r['env_steps'][:, -1].mean():,.0f} env steps per seed  "
                  f"compile {r['compile_s']:5.1f}s train {r['train_s']:7.1f}s  final score median "
                  f"{np.median(sc):7.1f}  worst {min(sc):7.1f}  pass ({PASS[env]:g}) "
                  f"{sum(s >= PASS[env] for s in sc)}/{len(sc)}", flush=True)
            for s in range(args.seeds):
                for u in range(r["returns"].shape[1]):
                    if not np.isfinite(r["returns"][s, u]):
                        continue  # not trained: the seed had spent its step budget
                    cw.writerow([env, name, s, u + 1, (u + 1) * config.num_envs, int(r["env_steps"][s, u]),
                                 f"{r['returns'][s, u]:.6g}"])
                e = r["eval"][s]
                sw.writerow([env, name, s, f"{e.mean:.6g}", f"{e.std:.6g}", f"{e.score:.6g}"])
            summary["envs"].setdefault(env, {})[name] = {
                "config": {k: (list(v) if isinstance(v, tuple) else v)
                           for k, v in config.__dict__.items()},
                "hparams": hp.to_dict(), "compile_s": r["compile_s"], "train_s": r["train_s"],
                "eval_s": r["eval_s"], "score_median": float(np.median(sc)), "score_worst": float(min(sc)),
                "passed": int(sum(s >= PASS[env] for s in sc)), "updates": r["updates"],
                "env_steps_per_seed_mean": float(r["env_steps"][:, -1].mean()),
            }
        plot(env, results, args.out / f"{env}.png")
    # ~230k rows at full resolution (the plots above use them); the file keeps <= 200 per seed
    thinned = thin_csv_text(curves.getvalue(), CURVES_ROWS, CURVES_LAST)
    tmp = args.out / "curves.csv.gz.tmp"
    tmp.write_bytes(gzip_bytes(thinned))
    tmp.replace(args.out / "curves.csv.gz")
    (args.out / "scores.csv").write_text(scores.getvalue())
    bench.write_json(summary, args.out / "summary.json")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
