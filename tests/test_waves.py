"""Waves: a population too large for one program trains the same compiled program on a few runs
at a time, in turn, and every run gets what one program holding every run would give it."""

import dataclasses

import numpy as np
import pytest

from jaxpg import Config, checkpoint, runner
from jaxpg.runner import memory

CFG = Config(env="CartPole-v1", num_envs=4, hidden=(8,), max_steps=50, num_updates=4)


def _budget_for(runs_per_wave: int, seeds: int = 8) -> int:
    """A budget that holds ``runs_per_wave`` runs' program but not ``2 x`` that (XLA's analysis)."""
    small = memory.needed(runner.Population(runner.RunSpec(CFG, seeds=runs_per_wave)), 3)["peak"]
    return int(small * 1.05)


def _run(cfg, seeds, seed=0, episodes=3, out=None, max_memory=None, **kw):
    spec = runner.RunSpec(cfg, seeds=seeds, seed=seed, evaluation=runner.Evaluation(episodes=episodes))
    return runner.run(spec, out, schedule=runner.Schedule(chunk=2, max_memory=max_memory), handle_signals=False,
                      **kw)


def _same(a, b):
    np.testing.assert_array_equal(a.metrics.env_steps, b.metrics.env_steps)
    np.testing.assert_allclose(a.metrics.mean_return, b.metrics.mean_return, rtol=1e-6)
    np.testing.assert_allclose(a.metrics.loss, b.metrics.loss, rtol=1e-5, atol=1e-7)
    for mode in ("sampled", "greedy"):
        np.testing.assert_array_equal(a.eval_returns[mode], b.eval_returns[mode])


@pytest.mark.slow
def test_waves_equal_one_program(tmp_path):
    lines = []
    one = _run(CFG, 8, seed=2)
    waved = _run(CFG, 8, seed=2, log=lines.append, max_memory=_budget_for(2), out=tmp_path / "w")
    pop = waved.population
    assert pop.wave_runs is not None and pop.num_waves >= 2 and pop.wave_runs * pop.num_waves >= 8
    plan = [x for x in lines if "waves of" in x]
    assert plan and f"{pop.num_waves} waves of {pop.wave_runs} runs" in plan[0] and "8 runs need" in plan[0]
    _same(one, waved)
    ck = checkpoint.load(tmp_path / "w")
    assert ck.seeds == 8 and ck.state.params["params"]["Dense_0"]["kernel"].shape[0] == 8
    np.testing.assert_allclose(ck.state.params["params"]["Dense_0"]["kernel"],
                               np.asarray(one.state.params["params"]["Dense_0"]["kernel"])[:8], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_resume_across_waves_equals_the_uninterrupted_run(tmp_path):
    cfg8 = Config(env="CartPole-v1", num_envs=4, hidden=(8,), max_steps=50, num_updates=8, lr_schedule="constant")
    whole = _run(cfg8, 6)
    budget = _budget_for(2, 6)
    first = _run(dataclasses.replace(cfg8, num_updates=4), 6, episodes=0, out=tmp_path / "r", max_memory=budget)
    assert first.population.num_waves >= 2
    r = runner.resume(tmp_path / "r", updates=8, handle_signals=False, schedule=runner.Schedule(max_memory=budget),
                      evaluation={"episodes": 3})
    assert r.population.num_waves >= 2
    np.testing.assert_array_equal(r.metrics.env_steps, whole.metrics.env_steps)
    np.testing.assert_allclose(r.metrics.mean_return, whole.metrics.mean_return, rtol=1e-6)


@pytest.mark.slow  # it compiles the chunk to learn what one run needs (~15 s cold)
def test_a_budget_below_one_run_per_device_is_refused(tmp_path):
    with pytest.raises(runner.RunError, match="even in waves of one run per device"):
        _run(CFG, 8, max_memory=1000, out=tmp_path / "r")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    with pytest.raises(runner.RunError, match="`max_memory` must be a positive number of bytes"):
        _run(CFG, 1, max_memory=-5)


@pytest.mark.slow
def test_waves_sharded_over_four_devices_equal_one_program():
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = """
import numpy as np, jax
from jaxpg import Config, runner
from jaxpg.runner import memory
assert jax.device_count() == 4
cfg = Config(env="CartPole-v1", num_envs=4, hidden=(8,), max_steps=50, num_updates=4)
spec = runner.RunSpec(cfg, seeds=10, seed=1, evaluation=runner.Evaluation(episodes=3))
one = runner.run(spec, schedule=runner.Schedule(chunk=2), handle_signals=False)
small = memory.needed(runner.Population(runner.RunSpec(cfg, seeds=4)), 3)["peak"]  # one run per device
w = runner.run(spec, schedule=runner.Schedule(chunk=2, max_memory=int(small * 4.2)), handle_signals=False)
assert w.population.wave_runs == 4 and w.population.num_waves == 3, (w.population.wave_runs, w.population.num_waves)
np.testing.assert_array_equal(one.metrics.env_steps, w.metrics.env_steps)
np.testing.assert_allclose(one.metrics.mean_return, w.metrics.mean_return, rtol=1e-6)
for m in ("sampled", "greedy"):
    np.testing.assert_array_equal(one.eval_returns[m], w.eval_returns[m])
print("OK")
"""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]
