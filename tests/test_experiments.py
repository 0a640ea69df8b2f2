"""The experiments' shared runners go through the run layer: ``_control.run`` and
``course_unit4.run_setting`` return their documented keys and shapes, and the same training
returns (and evaluation) as ``jaxpg.runner.run`` on the same settings and root seed.

One tiny Config for all three calls, so the run layer's compiled chunk (keyed by config, mesh,
runs and chunk length) is compiled once.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from jaxpg import Config, HParams, runner
from jaxpg.evaluate import EvalSummary

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

import _control  # noqa: E402
import course_unit4  # noqa: E402

CONFIG = Config(env="CartPole-v1", num_envs=4, num_updates=2, max_steps=30)
HP = HParams()
SEEDS, EPISODES, ROOT = 2, 2, 3


@pytest.fixture(scope="module")
def reference():
    # the run layer's default chunk, as the wrappers use, so the program is shared
    return runner.run(runner.RunSpec(CONFIG, HP, seeds=SEEDS, seed=ROOT,
                                     evaluation=runner.Evaluation(episodes=EPISODES, max_steps=30)),
                      handle_signals=False)


@pytest.mark.slow
def test_control_run_goes_through_the_run_layer(reference):
    r = _control.run(CONFIG, HP, SEEDS, eval_episodes=EPISODES, root_seed=ROOT)
    assert set(r) == {"config", "hparams", "seeds", "eval_episodes", "eval_sampled_mean",
                      "eval_sampled_score", "eval_greedy_mean", "train_return_last10", "env_steps",
                      "compile_seconds",
                      "train_seconds", "eval_seconds", "curve_stride", "curve_return", "curve_env_steps",
                      "_returns", "_cum_steps"}
    assert r["_returns"].shape == r["_cum_steps"].shape == (SEEDS, CONFIG.num_updates)
    for k in ("eval_sampled_mean", "eval_sampled_score", "eval_greedy_mean", "train_return_last10"):
        assert len(r[k]) == SEEDS
    assert len(r["curve_return"]) == SEEDS and len(r["curve_return"][0]) == CONFIG.num_updates
    assert r["config"]["num_envs"] == 4 and r["seeds"] == SEEDS and r["eval_episodes"] == EPISODES
    assert "_returns" not in _control.public(r)
    ref_ret = reference.metrics.mean_return[0]
    np.testing.assert_array_equal(r["_returns"], ref_ret)
    steps = np.cumsum(np.asarray(reference.metrics.env_steps[0], np.int64), 1)
    np.testing.assert_array_equal(r["_cum_steps"], steps)
    assert r["env_steps"] == int(steps[:, -1].sum()) > 0
    np.testing.assert_allclose(r["eval_sampled_mean"], reference.eval_returns["sampled"][0].mean(1))
    np.testing.assert_allclose(r["eval_greedy_mean"], reference.eval_returns["greedy"][0].mean(1))
    assert r["compile_seconds"] > 0 and r["train_seconds"] > 0 and r["eval_seconds"] > 0


@pytest.mark.slow
def test_course_run_setting_goes_through_the_run_layer(reference):
    r = course_unit4.run_setting(CONFIG, HP, SEEDS, eval_episodes=EPISODES, root_seed=ROOT)
    assert set(r) == {"returns", "env_steps", "eval", "compile_s", "train_s", "eval_s", "episodes_per_update",
                      "updates"}
    assert r["returns"].shape == r["env_steps"].shape == (SEEDS, CONFIG.num_updates)
    assert r["episodes_per_update"] == CONFIG.num_envs
    np.testing.assert_array_equal(r["returns"], reference.metrics.mean_return[0])
    np.testing.assert_array_equal(r["env_steps"], np.cumsum(np.asarray(reference.metrics.env_steps[0],
                                                                         np.int64), 1))
    assert len(r["eval"]) == SEEDS and all(isinstance(e, EvalSummary) for e in r["eval"])
    # the course evaluates to the env's own limit (500), not the training cut (30)
    course_eval = runner.run(runner.RunSpec(CONFIG, HP, seeds=SEEDS, seed=ROOT,
                                            evaluation=runner.Evaluation(episodes=EPISODES, max_steps=None)),
                             handle_signals=False).eval_returns["sampled"][0]
    np.testing.assert_allclose([e.mean for e in r["eval"]], course_eval.mean(1))


@pytest.mark.slow
def test_scaling_smoke_writes_its_json_and_plot(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "experiments" / "scaling.py"), "--smoke", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = tmp_path.glob("scaling-smoke-*.json")
    record = json.loads(path.read_text())
    for env in ("CartPole-v1", "Pixelcopter-v0"):
        rows = record["results"][env]
        assert [r["runs"] for r in rows] == [1, 4]
        # memory is XLA's analysis of the compiled chunk: positive and growing with the runs
        assert 0 < rows[0]["bytes_total"] < rows[1]["bytes_total"]
        assert all(r["fits"] and r["update_s"] > 0 for r in rows)
    assert path.with_suffix(".png").stat().st_size > 1000


def _smoke(script: str, out, timeout: int):
    """Runs ``experiments/<script> --smoke --out <out>`` in a fresh interpreter; fails with its output."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "experiments" / script), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=timeout, cwd=root)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.mark.slow
def test_search_vs_grid_smoke_compares_every_search_with_the_grid(tmp_path):
    import json

    _smoke("search_vs_grid.py", tmp_path, 600)
    (path,) = tmp_path.glob("search-vs-grid-*-smoke.json")
    env = json.loads(path.read_text())["envs"]["CartPole-v1"]
    assert env["metric"] == "steps-to:475" and env["grid"]["env_steps"] > 0
    assert set(env["searches"]) == {"random", "halving", "pbt", "halving-small", "pbt-small"}
    for s in env["searches"].values():
        (key,) = s["keys"]  # the smoke run: one key
        assert key["fraction"] == pytest.approx(key["env_steps"] / env["grid"]["env_steps"])
        assert "score" in key["confirm"]


@pytest.mark.slow
def test_accelerator_check_smoke_runs_every_section(tmp_path):
    import json

    _smoke("accelerator_check.py", tmp_path, 900)
    (path,) = tmp_path.glob("accelerator-check-smoke-*.json")
    record = json.loads(path.read_text())
    assert record["complete"] and set(record["sections"]) == {"throughput", "sweep_with_waves", "pixelcopter",
                                                              "minatar"}
    assert all(s["ok"] for s in record["sections"].values())
    rows = record["sections"]["throughput"]["rows"]
    assert {r["policy"] for r in rows} == {"4-16-2", "64-64"} and all(r["valid_steps_per_s"] > 0 for r in rows)
    sweep = record["sections"]["sweep_with_waves"]
    assert sweep["waves"] >= 2 and sweep["runs"] == 8  # the smoke budget forces waves
    assert record["device"]["platform"] == "cpu" and record["versions"]["jax"]
    games = record["sections"]["minatar"]["games"]
    assert list(games) == ["Breakout-MinAtar", "Asterix-MinAtar"]  # the smoke's two games
    assert all(g["iqm_ci95"][0] <= g["iqm"] <= g["iqm_ci95"][1] for g in games.values())
    assert all(g["config"]["policy"] == "cnn" for g in games.values())
    assert all(g["random"]["episodes"] == 8 and g["random"]["mean"] >= 0 for g in games.values())


@pytest.mark.slow
def test_pixelcopter_step_speed_smoke_times_every_version(tmp_path):
    import json

    _smoke("pixelcopter_step_speed.py", tmp_path, 600)
    (path,) = tmp_path.glob("pixelcopter-step-speed-cpu-*-smoke.json")
    rows = json.loads(path.read_text())["rows"]
    assert [(r["draws"], r["impl"]) for r in rows] == [
        ("threefry", "reference"), ("threefry", "fast"), ("hashed", "reference"), ("hashed", "fast")]
    assert rows[0]["speedup_vs_before"] == 1.0 and all(r["steps_per_s"] > 0 for r in rows)


@pytest.mark.slow
def test_pixelcopter_results_smoke_trains_replays_and_tabulates(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = str(root / "experiments" / "pixelcopter_results.py")
    proc = subprocess.run([sys.executable, script, "--label", "smoke", "--smoke", "--work", str(tmp_path)],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    record = json.loads((tmp_path / "smoke" / "smoke.json").read_text())
    assert len(record["seeds"]) == 2 and record["env_steps_per_seed"] > 0
    scores = [s["score"] for s in record["seeds"]]
    assert record["score_worst"] == min(scores) and record["train_wall_s"] > 0
    # the finished runs are summarised again without training; a table row per JSON
    proc = subprocess.run([sys.executable, script, "--label", "smoke", "--smoke", "--skip-train", "--work",
                           str(tmp_path)], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = subprocess.run([sys.executable, script, "--table", "--out", str(tmp_path / "smoke")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.count("| smoke (`defaults`)") == 1
    # a bad label is a one-line error, exit 2
    proc = subprocess.run([sys.executable, script, "--label", "a/b"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "--label" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_pixelcopter_stuck_seeds_smoke_counts_and_writes(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = str(Path(__file__).resolve().parents[1] / "experiments" / "pixelcopter_stuck_seeds.py")
    out = tmp_path / "stuck.json"
    proc = subprocess.run([sys.executable, script, "--smoke", "--out", str(out)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    row = json.loads(out.read_text())["settings"]["k4"]
    assert len(row["final_return"]) == 2
    assert row["stuck"] == sum(r < 0 for r in row["final_return"])  # the count is of these returns
    proc = subprocess.run([sys.executable, script, "--only", "k9"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 2 and "k9" in proc.stderr and "Traceback" not in proc.stderr
    results = str(Path(script).with_name("pixelcopter_results.py"))
    proc = subprocess.run([sys.executable, results, "--label", "x", "--roots", "1"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "--roots" in proc.stderr and "Traceback" not in proc.stderr
