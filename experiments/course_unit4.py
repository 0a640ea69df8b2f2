"""The Hugging Face Deep RL course's Unit 4 REINFORCE experiments, reproduced in jaxpg.

For each environment, two settings over 32 seeds each, trained in one compiled program:

- ``course``: the course notebook's settings. CartPole-v1: a 4-16-2 ReLU policy, one
  episode per update, 1,000 episodes, gamma 1.0, Adam lr 1e-2, returns normalised per
  episode, no gradient clipping, constant learning rate. Pixelcopter: 64-128 ReLU, one
  episode per update, gamma 0.99, lr 1e-4, at most 10,000 steps an episode (the course
  plays 50,000 episodes; ``--pixelcopter-episodes`` sets how many here).
- ``jaxpg``: jaxpg's recommended settings for the env (``jaxpg.defaults``).

Each seed's final policy is evaluated like the course (10 sampled episodes, score =
mean - std). Writes, under ``experiments/results/course-unit4/``:
``curves.csv.gz`` (env, setting, seed, update, episodes, env_steps, mean_return),
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
import gzip
import io
import time
from pathlib import Path

import jax
import numpy as np

from jaxpg import Config, HParams, bench
from jaxpg.defaults import recommended
from jaxpg.evaluate import evaluate, summarize
from jaxpg.stats import curve_iqm_ci
from jaxpg.train import make_trainer

PASS = {"CartPole-v1": 350.0, "Pixelcopter-v0": 5.0}


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


def run_setting(config: Config, hparams: HParams, seeds: int, chunk: int = 50) -> dict:
    trainer = make_trainer(config, seed_axis="seeds")
    keys = jax.random.split(jax.random.key(0), seeds)
    init = jax.jit(lambda ks: jax.lax.map(lambda k: trainer.init(k, hparams), ks, batch_size=64))
    chunk = min(chunk, config.num_updates)
    while config.num_updates % chunk:
        chunk -= 1
    run = jax.jit(jax.vmap(trainer.run, in_axes=(0, None, None), axis_name="seeds"), static_argnums=2,
                  donate_argnums=0)
    t0 = time.perf_counter()
    state = init(keys)
    run_c = run.lower(state, hparams, chunk).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    returns, steps = [], []
    for _ in range(config.num_updates // chunk):
        state, m = run_c(state, hparams)
        returns.append(np.asarray(m.mean_return))
        steps.append(np.asarray(m.env_steps, np.int64))
    train_s = time.perf_counter() - t0
    eval_keys = jax.random.split(jax.random.key(1), seeds)
    ev = jax.jit(jax.vmap(lambda k, p: evaluate(k, trainer.env, trainer.env_params, trainer.policy.apply, p,
                                                10, trainer.max_steps)))
    t0 = time.perf_counter()
    eval_returns = np.asarray(ev(eval_keys, state.params))
    return {"returns": np.concatenate(returns, 1), "env_steps": np.cumsum(np.concatenate(steps, 1), 1),
            "eval": [summarize(r) for r in eval_returns], "compile_s": compile_s, "train_s": train_s,
            "eval_s": time.perf_counter() - t0, "episodes_per_update": config.num_envs}


def plot(env: str, results: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, r in results.items():
        ret = r["returns"]  # [S, U]
        # smooth each seed over a window of ~1% of the run (single episodes are noisy)
        w = max(1, ret.shape[1] // 100)
        kernel = np.ones(w) / w
        smooth = np.stack([np.convolve(x, kernel, mode="valid") for x in ret])
        stride = max(1, smooth.shape[1] // 300)
        smooth = smooth[:, ::stride]
        episodes = (np.arange(ret.shape[1])[w - 1:][::stride] + 1) * r["episodes_per_update"]
        mid, lo, hi = curve_iqm_ci(smooth, reps=1000)
        scores = [e.score for e in r["eval"]]
        ax.plot(episodes, mid, label=f"{name} (final score median {np.median(scores):.1f}, "
                                     f"{ret.shape[0]} seeds)")
        ax.fill_between(episodes, lo, hi, alpha=0.25)
    ax.axhline(PASS[env], ls="--", color="k", lw=1, label=f"course pass line ({PASS[env]:g})")
    ax.set_xscale("log")
    ax.set_xlabel("episodes played (log scale)")
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
            r = run_setting(config, hp, args.seeds)
            results[name] = r
            sc = [e.score for e in r["eval"]]
            print(f"{env:<15} {name:<7} updates {config.num_updates:>5} x {config.num_envs:>3} episodes  "
                  f"compile {r['compile_s']:5.1f}s train {r['train_s']:7.1f}s  final score median "
                  f"{np.median(sc):7.1f}  worst {min(sc):7.1f}  pass ({PASS[env]:g}) "
                  f"{sum(s >= PASS[env] for s in sc)}/{len(sc)}", flush=True)
            for s in range(args.seeds):
                for u in range(r["returns"].shape[1]):
                    cw.writerow([env, name, s, u + 1, (u + 1) * config.num_envs, int(r["env_steps"][s, u]),
                                 f"{r['returns'][s, u]:.6g}"])
                e = r["eval"][s]
                sw.writerow([env, name, s, f"{e.mean:.6g}", f"{e.std:.6g}", f"{e.score:.6g}"])
            summary["envs"].setdefault(env, {})[name] = {
                "config": {k: (list(v) if isinstance(v, tuple) else v)
                           for k, v in config.__dict__.items()},
                "hparams": hp.to_dict(), "compile_s": r["compile_s"], "train_s": r["train_s"],
                "eval_s": r["eval_s"], "score_median": float(np.median(sc)), "score_worst": float(min(sc)),
                "passed": int(sum(s >= PASS[env] for s in sc)),
            }
        plot(env, results, args.out / f"{env}.png")
    with gzip.open(args.out / "curves.csv.gz", "wt", compresslevel=9) as f:  # ~200k rows
        f.write(curves.getvalue())
    (args.out / "scores.csv").write_text(scores.getvalue())
    bench.write_json(summary, args.out / "summary.json")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
