"""Runs sized in env steps (``Config.total_steps``, ``--total-steps``): each run stops after the
update that reaches its budget, the schedules decay over the budget, the run ends when every
run has spent it."""

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg.cli import main
from jaxpg.train import budget_fraction, make_trainer

SMALL = ["--env", "CartPole-v1", "--num-envs", "4", "--hidden", "8", "--max-steps", "30", "--eval-episodes", "2"]


def test_a_budget_sets_the_update_cap_and_is_checked():
    # every episode has at least one step: 100 steps over 8 envs take at most ceil(100 / 8) = 13 updates
    assert jaxpg.Config(num_envs=8, total_steps=100).num_updates == 13
    assert jaxpg.Config(num_envs=8, total_steps=96, num_updates=5).num_updates == 12  # derived, not given
    with pytest.raises(ValueError, match=r"total_steps must be an integer in 1..2\*\*30, got 0"):
        jaxpg.Config(total_steps=0)
    with pytest.raises(ValueError, match="schedule_start applies to runs sized in updates"):
        jaxpg.Config(total_steps=100, schedule_start=2)


def test_budget_fraction_by_hand():
    # 1 - steps / 1000, clipped: 0 → 1, 250 → 0.75, 1000 → 0, 1200 (the last update overshoots) → 0
    got = budget_fraction(jnp.array([0, 250, 1000, 1200], jnp.int32), 1000)
    np.testing.assert_allclose(got, [1.0, 0.75, 0.0, 0.0])


@pytest.mark.slow  # compiles a whole training scan (~7 s cold): the slow tier
def test_each_seed_stops_after_the_update_that_reaches_its_budget():
    cfg = jaxpg.Config(env="CartPole-v1", num_envs=2, hidden=(4,), max_steps=20, total_steps=60)
    tr = make_trainer(cfg)
    state, m = jax.jit(jax.vmap(tr.train, in_axes=(0, None)))(jax.random.split(jax.random.key(0), 2),
                                                              jaxpg.HParams())
    steps = np.asarray(m.env_steps)  # [2, 30]
    for s in range(2):
        total = np.cumsum(steps[s])
        last = int(np.argmax(total >= 60))  # the update that reached the budget
        assert total[last - 1] < 60 <= total[last]
        assert (steps[s, last + 1:] == 0).all() and np.isnan(np.asarray(m.mean_return)[s, last + 1:]).all()
        assert (steps[s, :last + 1] > 0).all()
        assert int(state.env_steps[s]) == total[-1] and int(state.update[s]) == last + 1  # later updates not run


@pytest.mark.slow
def test_total_steps_through_the_command_line(tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["train", *SMALL, "--seeds", "2", "--total-steps", "1.5k", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1,500 valid env steps per seed" in text
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    for s in ("0", "1"):
        cum = [int(r["env_steps"]) for r in rows if r["seed"] == s]  # cumulative per seed
        first = next(i for i, c in enumerate(cum) if c >= 1500)
        assert cum[first - 1] < 1500 and cum[-1] == cum[first]  # stopped after the update that reached it
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["total_steps"] == 1500
    assert summary["updates_done"] < summary["config"]["num_updates"]  # ended at the budget, not the cap
    assert main(["train", "--resume", str(out)]) == 0  # finished: nothing to do
    assert "nothing to do" in capsys.readouterr().out
    assert main(["train", "--resume", str(out), "--extend", "4"]) == 2
    assert "sized by --total-steps" in capsys.readouterr().err
