"""Shared runner of the classic-control experiments: S seeds of one (Config, HParams) trained by
the run layer (``jaxpg.runner.run``: init, compiled chunks, divergence guard and the sampled +
greedy evaluation of every seed), returned as JSON-ready dicts.

Used by ``classic_control.py`` (discrete actions), ``continuous_control.py`` (Gaussian
head), ``cartpole_value_vs_normalize.py`` and ``course_unit4.py``. Evaluation keys are the
run layer's: seed ``i`` plays ``split(fold_in(key(root_seed), 1), S)[i]`` (split once more into
sampled and greedy).
"""

from __future__ import annotations

import numpy as np

from jaxpg import Config, HParams, runner
from jaxpg.evaluate import summarize
from jaxpg.train import DivergedError


def train(config: Config, hparams: HParams, seeds: int, *, root_seed: int = 0,
          eval_episodes: int = 20) -> runner.RunResult:
    """``jaxpg.runner.run`` of one point (``seeds`` seeds), evaluated to the training episode limit,
    in the run layer's default chunks (the chunk length changes no number).

    Raises ``DivergedError`` if a seed went non-finite (the run layer froze it; an experiment's
    numbers would be meaningless).
    """
    spec = runner.RunSpec(config, hparams, seeds=seeds, seed=root_seed,
                          evaluation=runner.Evaluation(episodes=eval_episodes, max_steps=config.max_steps))
    result = runner.run(spec, schedule=runner.Schedule(chunk=None), handle_signals=False)
    if result.diverged:
        raise DivergedError(next(iter(result.diverged.values())))
    return result


def run(config: Config, hparams: HParams, seeds: int, eval_episodes: int = 20, root_seed: int = 0) -> dict:
    """Trains ``seeds`` seeds and evaluates each; returns curves, per-seed evaluations and timings."""
    r = train(config, hparams, seeds, root_seed=root_seed, eval_episodes=eval_episodes)
    ret = np.asarray(r.metrics.mean_return[0])  # [S, U]
    cum = np.cumsum(np.asarray(r.metrics.env_steps[0], np.int64), 1)
    ev = r.eval_returns or {"sampled": np.zeros((seeds, 0)), "greedy": np.zeros((seeds, 0))}
    sampled, greedy = np.asarray(ev["sampled"][0]), np.asarray(ev["greedy"][0])  # [S, K]
    stride = max(1, ret.shape[1] // 100)
    return {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config).items()},
        "hparams": hparams.to_dict(),
        "seeds": seeds,
        "eval_episodes": eval_episodes,
        "eval_sampled_mean": [float(x.mean()) for x in sampled] if sampled.size else [],
        "eval_sampled_score": [summarize(x).score for x in sampled] if sampled.size else [],
        "eval_greedy_mean": [float(x.mean()) for x in greedy] if greedy.size else [],
        "train_return_last10": ret[:, -10:].mean(1).tolist(),
        "env_steps": int(cum[:, -1].sum()),
        "compile_seconds": r.timings["compile_s"],
        "train_seconds": r.timings["train_s"],
        "eval_seconds": r.timings["eval_s"],
        "curve_stride": stride,
        "curve_return": ret[:, ::stride].round(3).tolist(),
        "curve_env_steps": cum[:, ::stride].tolist(),
        "_returns": ret,
        "_cum_steps": cum,
    }


def public(result: dict) -> dict:
    """The JSON-ready part of ``run``'s result (drops the full arrays)."""
    return {k: v for k, v in result.items() if not k.startswith("_")}


def table_row(env: str, setting: str, r: dict) -> str:
    g, s = np.asarray(r["eval_greedy_mean"]), np.asarray(r["eval_sampled_mean"])
    return (f"{env:<26} {setting:<10} {np.mean(s):9.1f} {np.min(s):9.1f} {np.mean(g):9.1f} {np.min(g):9.1f} "
            f"{r['env_steps'] / 1e6:9.1f} {r['train_seconds']:7.1f}")


HEADER = (f"{'env':<26} {'setting':<10} {'sampled':>9} {'worst':>9} {'greedy':>9} {'worst':>9} "
          f"{'M steps':>9} {'train s':>7}")
