"""Evaluation during training (``eval_every``): the curve, ``evals.csv``, resume, bad input."""

import csv

import numpy as np
import pytest

from jaxpg import Config, checkpoint, runner

CFG = Config(env="CartPole-v1", num_envs=4, hidden=(8,), max_steps=50, num_updates=4)


def _rows(out):
    with open(out / "evals.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # fast-tier margin: trains whole runs
def test_evaluations_during_training_are_the_policies_at_those_updates(tmp_path):
    r = runner.run(runner.RunSpec(CFG, seeds=2, seed=3, evaluation=runner.Evaluation(episodes=3, every=2)),
                   tmp_path / "r", handle_signals=False)
    c = r.eval_curve
    np.testing.assert_array_equal(c["update"], [2, 4])
    steps = np.cumsum(r.metrics.env_steps, axis=2)  # [H, S, U]
    np.testing.assert_array_equal(c["env_steps"], steps[:, :, [1, 3]])
    rows = _rows(tmp_path / "r")
    assert [(int(x["seed"]), int(x["update"])) for x in rows] == [(0, 2), (0, 4), (1, 2), (1, 4)]
    for x in rows:
        s, e = int(x["seed"]), int(x["update"]) // 2 - 1
        assert float(x["sampled_mean"]) == pytest.approx(c["sampled_mean"][0, s, e], rel=1e-5)
        assert float(x["greedy_score"]) == pytest.approx(c["greedy_mean"][0, s, e] - c["greedy_std"][0, s, e],
                                                         rel=1e-5, abs=1e-5)
    # the evaluation at update 4 is the final policy's, on its own keys (fold_in(key(seed), 2), 4):
    ck = checkpoint.load(tmp_path / "r")
    pop = runner.Population(runner.RunSpec(CFG, seeds=2, seed=3))
    state, _ = pop.place(ck.state, ck.alive)
    again = pop.evaluate(state, 3, max_steps=500, at=4)
    np.testing.assert_allclose(again["sampled"].mean(1), c["sampled_mean"][0, :, 1], rtol=1e-6)
    np.testing.assert_allclose(again["greedy"].std(1), c["greedy_std"][0, :, 1], rtol=1e-6, atol=1e-6)
    final = pop.evaluate(state, 3, max_steps=500)
    np.testing.assert_array_equal(final["sampled"], r.eval_returns["sampled"][0])


@pytest.mark.slow
def test_resume_keeps_the_evaluations_before_the_checkpoint(tmp_path):
    out = tmp_path / "r"
    runner.run(runner.RunSpec(CFG, seeds=1, evaluation=runner.Evaluation(episodes=2, every=2)), out,
               handle_signals=False)
    before = _rows(out)
    with pytest.raises(runner.RunError, match="reaches 0 at update 4"):  # lr 0 past a linear schedule
        runner.resume(out, updates=8, handle_signals=False)
    r = runner.resume(out, extend=4, handle_signals=False)
    rows = _rows(out)
    assert [int(x["update"]) for x in rows] == [2, 4, 6, 8]
    assert rows[:2] == before
    np.testing.assert_array_equal(r.eval_curve["update"], [2, 4, 6, 8])


@pytest.mark.parametrize("kwargs, chunk, message", [
    ({"every": 2, "episodes": 0}, None, "`eval_every` needs evaluation episodes"),
    ({"every": 0}, None, "`eval_every` must be a positive integer, got 0"),
])
def test_bad_eval_every_is_refused_before_compiling(tmp_path, kwargs, chunk, message):
    with pytest.raises(runner.RunError, match=message):
        runner.run(runner.RunSpec(CFG, seeds=1, evaluation=runner.Evaluation(**{"episodes": 2, **kwargs})),
                   tmp_path / "r", schedule=runner.Schedule(chunk=chunk), handle_signals=False)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
