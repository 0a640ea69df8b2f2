"""Shared runner of the classic-control experiments: S seeds of one (Config, HParams) in one
compiled program, then K evaluation episodes per seed (sampled and greedy), as JSON-ready dicts.

Used by ``classic_control.py`` (discrete actions), ``continuous_control.py`` (Gaussian
head) and ``cartpole_value_vs_normalize.py``.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from jaxpg import Config, HParams
from jaxpg.evaluate import evaluate, summarize
from jaxpg.train import check_finite, make_trainer


def run(config: Config, hparams: HParams, seeds: int, eval_episodes: int = 20, root_seed: int = 0,
        chunk: int = 50) -> dict:
    """Trains ``seeds`` seeds and evaluates each; returns curves, per-seed evaluations and timings."""
    trainer = make_trainer(config, seed_axis="seeds")
    keys = jax.random.split(jax.random.key(root_seed), seeds)
    chunk = min(chunk, config.num_updates)
    while config.num_updates % chunk:
        chunk -= 1
    init = jax.jit(jax.vmap(trainer.init, in_axes=(0, None)))
    step = jax.jit(jax.vmap(trainer.run, in_axes=(0, None, None), axis_name="seeds"), static_argnums=2,
                   donate_argnums=0)
    t0 = time.perf_counter()
    state = init(keys, hparams)
    step_c = step.lower(state, hparams, chunk).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    returns, steps = [], []
    for i in range(config.num_updates // chunk):
        state, m = step_c(state, hparams)
        m = jax.tree.map(np.asarray, m)
        check_finite(m, i * chunk)
        returns.append(m.mean_return)
        steps.append(m.env_steps.astype(np.int64))
    train_s = time.perf_counter() - t0

    def both(k, p):
        k1, k2 = jax.random.split(k)
        ev = lambda kk, g: evaluate(kk, trainer.env, trainer.env_params, trainer.policy.apply, p,  # noqa: E731
                                    eval_episodes, trainer.max_steps, greedy=g, dist=trainer.policy.dist)
        return ev(k1, False), ev(k2, True)

    t0 = time.perf_counter()
    sampled, greedy = jax.jit(jax.vmap(both))(jax.random.split(jax.random.key(root_seed + 1), seeds),
                                               state.params)
    sampled, greedy = np.asarray(sampled), np.asarray(greedy)
    eval_s = time.perf_counter() - t0
    ret = np.concatenate(returns, 1)
    cum = np.cumsum(np.concatenate(steps, 1), 1)
    return {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config).items()},
        "hparams": hparams.to_dict(),
        "seeds": seeds,
        "eval_episodes": eval_episodes,
        "eval_sampled_mean": [float(r.mean()) for r in sampled],
        "eval_sampled_score": [summarize(r).score for r in sampled],
        "eval_greedy_mean": [float(r.mean()) for r in greedy],
        "train_return_last10": ret[:, -10:].mean(1).tolist(),
        "env_steps": int(cum[:, -1].sum()),
        "compile_seconds": compile_s,
        "train_seconds": train_s,
        "eval_seconds": eval_s,
        "curve_stride": max(1, ret.shape[1] // 100),
        "curve_return": ret[:, :: max(1, ret.shape[1] // 100)].round(3).tolist(),
        "curve_env_steps": cum[:, :: max(1, ret.shape[1] // 100)].tolist(),
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
