import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxpg.cli import main

BAD = [
    (["train", "--env", "NoSuchEnv-v0"], "unknown environment 'NoSuchEnv-v0'; valid names:"),
    (["train", "--seeds", "0"], "--seeds: expected a positive integer, got 0"),
    (["train", "--seeds", "-2"], "--seeds: expected a positive integer, got -2"),
    (["train", "--num-envs", "0"], "--num-envs: expected a positive integer, got 0"),
    (["train", "--max-steps", "0"], "--max-steps: expected a positive integer, got 0"),
    (["train", "--updates", "-1"], "--updates: expected a positive integer, got -1"),
    (["train", "--updates", "ten"], "--updates: expected a positive integer, got 'ten'"),
    (["train", "--lr", "0"], "learning_rate must be > 0, got 0.0"),
    (["train", "--lr", "-0.01"], "learning_rate must be > 0, got -0.01"),
    (["train", "--lr", "fast"], "--lr: expected a number, got 'fast'"),
    (["train", "--gamma", "0"], "gamma must be in (0, 1], got 0.0"),
    (["train", "--gamma", "1.5"], "gamma must be in (0, 1], got 1.5"),
    (["train", "--entropy-coef", "-0.1"], "entropy_coef must be >= 0, got -0.1"),
    (["train", "--advantage", "gae"], "--advantage: invalid choice: 'gae'"),
    (["train", "--hidden", "64,x"], "--hidden: expected comma-separated positive integers"),
    (["train", "--hidden", "64,0"], "--hidden: hidden sizes must be positive"),
    (["train", "--hidden", ""], "--hidden: expected comma-separated positive integers like 64,64 (or 'none'"),
    (["train", "--updates", "99999999999999999999"], "--updates: expected a positive integer up to"),
    (["train", "--seed", "99999999999999999999"], "--seed: expected an integer that fits in 64 bits"),
    (["sweep", "--env", "NoSuchEnv-v9"], "unknown environment 'NoSuchEnv-v9'"),
    (["train", "--out", ""], "--out: expected a path, got ''"),
    (["train", "--squash", "tanh"], "squash only applies to continuous action spaces; CartPole-v1 has 2"),
    (["train", "--env", "Acrobot-v1", "--log-std", "state"], "log_std only applies to continuous action"),
    (["train", "--env", "Pendulum-v1", "--log-std-bounds", "2,-5"], "lo < hi, got (2.0, -5.0) (inverted"),
    (["train", "--env", "Pendulum-v1", "--log-std-bounds", "2"], "expected two comma-separated numbers"),
    (["train", "--env", "Pendulum-v1", "--log-std-init", "5"], "log_std_init must lie within log_std_bounds"),
    (["train", "--value-lr", "0"], "value_learning_rate must be > 0, got 0.0"),
    (["train", "--gae-lambda", "1.5"], "gae_lambda must be in [0, 1], got 1.5"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["train", "--target", "nan"], "--target must be a finite number, got nan"),
    # other libraries' names (Stable-Baselines3, RL Zoo, CleanRL) and typos get a hint
    (["train", "--n-envs", "8"], "(--n-envs is --num-envs here)"),
    (["sweep", "--learning-rate", "0.01"], "(--learning-rate is --lr here)"),
    (["train", "--device", "cuda"], "JAX_PLATFORMS=cuda"),
    (["train", "--num_envs", "8"], "(write --num_envs as --num-envs)"),
    (["train", "--updatess", "8"], "(did you mean --updates?)"),
    (["train", "--lr", "1e-2,3e-2"], "expected one number, got '1e-2,3e-2' (several values are a grid of points: "
                                     "jaxpg sweep takes them)"),
    (["train", "--env", "cartpole-v1"], "unknown environment 'cartpole-v1'; did you mean 'CartPole-v1'?"),
    (["fly"], "invalid choice: 'fly'"),
    (["train", "--extend", "5"], "--extend N adds updates to a saved run: give it with --resume DIR"),
    (["sweep", "--extend", "5"], "--extend N adds updates to a saved run"),
    (["train", "--resume", "runs/x", "--extend", "5", "--updates", "9"], "give --updates N (resume to N in total) "
                                                                         "or --extend N (N more updates), not both"),
    (["train", "--total-steps", "1e5", "--updates", "9"], "give --updates N or --total-steps N (a run is sized by "
                                                          "one of them), not both"),
    (["train", "--total-steps", "1.5"], "--total-steps: expected a whole positive number of env steps, got '1.5'"),
    (["train", "--total-steps", "lots"], "--total-steps: expected a number of env steps such as 100000"),
    (["train", "--total-timesteps", "1e6"], "--total-steps N (valid env steps per seed; or --updates N)"),
    (["train", "--schedule-start", "150"], "schedule_start must be an integer in 0..num_updates-1 (149)"),
    # renamed flags name their new names (one meaning per flag name across commands)
    (["train", "--greedy-eval"], "--greedy-eval was renamed --greedy"),
    (["eval", "runs/x", "--episodes", "3"], "--episodes was renamed --eval-episodes"),
    (["eval", "runs/x", "--max-steps", "3"], "--max-steps was renamed --eval-max-steps"),
    (["render", "runs/x", "--out", "x.gif", "--episode-seed", "1"], "--episode-seed was renamed --seed"),
    (["render", "runs/x", "--out", "x.gif", "--max-steps", "9"], "--max-steps was renamed --max-frames"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("jaxpg: error: ")
    assert message in err, err


def test_unwritable_out_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["train", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxpg: error: cannot write to --out") and err.count("\n") == 1


def test_entry_point_exit_status_and_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "jaxpg", "train", "--gamma", "2"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "jaxpg: error: gamma must be in (0, 1], got 2.0"


def test_help_shows_every_default_and_envs_shows_the_tuned_ones(capsys):
    env = {**os.environ, "COLUMNS": "250"}
    proc = subprocess.run([sys.executable, "-m", "jaxpg", "train", "--help"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0
    for flag in ["--env", "--seeds", "--num-envs", "--max-steps", "--updates", "--lr", "--gamma",
                 "--entropy-coef", "--advantage", "--hidden", "--eval-episodes", "--out", "--overwrite"]:
        assert flag in proc.stdout
    assert "(default: 8)" in proc.stdout
    assert proc.stdout.count("jaxpg envs ENV") == 1  # said once, not per flag
    assert main(["envs", "Pixelcopter-v0"]) == 0
    out = capsys.readouterr().out
    assert "--num-envs             16" in out and "--lr                   0.001" in out
    assert "--frame-stack          4" in out
    assert "quick recipe: jaxpg train --env Pixelcopter-v0 --seeds 4 --updates 4000" in out  # issue 32 (1)
    assert "--obs-norm" in out
    # readable: 1/24, not 0.041666666666666664; nothing that cannot apply; lines of at most 100
    assert "--obs-scale            1/24" in out and "0.0416" not in out
    assert "--squash" not in out.split("(not shown")[0] and "apply only with continuous actions: --log-std" in out
    assert max(len(line) for line in out.splitlines() if not line.startswith("  (not shown")) <= 100
    assert main(["envs", "CartPole-v1"]) == 0
    out = capsys.readouterr().out
    assert "--gae-lambda" not in out.split("(not shown")[0] and "only with --advantage value: --value-hidden" in out
    assert main(["envs", "NoSuchEnv"]) == 2


def test_version(capsys):
    import jaxpg

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"jaxpg {jaxpg.__version__}"


def test_flags_override_the_env_recommendation():
    from jaxpg.cli import build_parser
    from jaxpg.cli.flags import settings

    args = build_parser().parse_args(["train", "--gamma", "0.9", "--hidden", "8"])
    config, hp, _ = settings(args)
    assert hp.gamma == 0.9 and config.hidden == (8,)
    assert config.num_envs == 16 and hp.learning_rate == 1e-2  # untouched: recommended values


@pytest.mark.slow  # fast-tier margin: trains or compiles whole runs
def test_small_run_writes_summary_and_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--seeds", "2", "--num-envs", "4", "--updates", "4", "--hidden", "8",
            "--eval-episodes", "3", "--max-steps", "50", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "update     4/4" in printed and "wall" in printed
    summary = json.loads((out / "summary.json").read_text())
    # the table's `all` row: the median over seeds of each column (not a pooled mean - std; with 2
    # seeds the median is their mean, and the pooled std includes the spread between the seeds)
    (all_row,) = [line for line in printed.splitlines() if line.lstrip().startswith("all |")]
    cells = [float(c) for c in all_row.split("|")[1:5]]
    per_seed_score = np.subtract(summary["eval_mean"], summary["eval_std"])
    assert cells[1] == pytest.approx(np.median(summary["eval_mean"]), abs=0.06)
    assert cells[3] == pytest.approx(np.median(per_seed_score), abs=0.06)
    for key in ["env", "seeds", "eval_mean", "eval_std", "wall_seconds", "env_steps", "config",
                "hparams"]:
        assert key in summary
    assert summary["env"] == "CartPole-v1" and summary["seeds"] == 2
    assert len(summary["eval_mean"]) == 2 and len(summary["eval_std"]) == 2
    assert summary["config"]["num_envs"] == 4 and summary["hparams"]["gamma"] == 0.99
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 2 * 4
    assert [int(r["update"]) for r in rows[:4]] == [1, 2, 3, 4]
    # env_steps is cumulative valid steps and adds up to the summary's total
    per_seed_last = [int(r["env_steps"]) for r in rows if r["update"] == "4"]
    assert sum(per_seed_last) == summary["env_steps"]
    assert not list(out.glob(".*.tmp")), "no temporary files left behind"


@pytest.mark.slow
def test_ctrl_c_keeps_finished_updates_and_skips_eval(tmp_path):
    """SIGINT after the first progress line: exit 130, the finished updates (and the chunk
    that was running) are saved with a checkpoint, summary.json says interrupted, and there
    is no evaluation."""
    import signal
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxpg", "train", "--seeds", "2", "--num-envs", "8", "--hidden", "8",
         "--updates", "4000", "--progress-every", "20", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 180
        for line in proc.stdout:
            if line.lstrip().startswith("update"):
                break
            assert time.monotonic() < deadline, "no progress line in time"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert summary["eval_mean"] is None
    done = summary["updates_done"]
    # chunks end on time as well as on progress lines, so `done` need not be a multiple of 20;
    # the first progress line (update 20) was printed before the signal
    assert 20 <= done < 4000
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 2 * done
    from jaxpg import checkpoint

    assert checkpoint.load(out).updates_done == done  # Ctrl-C saved a last checkpoint


def test_progress_bar_and_eta_arithmetic():
    from jaxpg.runner.parts.progress import _eta_bar

    # 1 of 4 chunks done, 30 s left -> 5 of 20 bar cells
    assert _eta_bar(1, 4, 30.0) == "[#####---------------] eta 30s"
    assert _eta_bar(1, 4, 90.0) == "[#####---------------] eta 1m30s"  # 90 s = 1m30s
    assert _eta_bar(4, 4, 0.0) == "[####################] eta 0s"


@pytest.mark.slow  # trains a run first: the slow tier (fast tier under 3 minutes cold)
def test_tensorboard_logs_every_update_at_its_env_steps(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--seeds", "2", "--num-envs", "4", "--updates", "4", "--hidden", "8",
                 "--eval-episodes", "2", "--max-steps", "50", "--tensorboard", "--out", str(out)]) == 0
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    from tests.test_tracking import _tensorboard_scalars

    scalars = _tensorboard_scalars(out / "tensorboard")
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 2 * 4
    for r in rows:  # every seed's every update at that seed's cumulative env steps, with metrics.csv's value
        s, steps = int(r["seed"]), int(r["env_steps"])
        assert scalars[f"seed{s}/mean_return"][steps] == pytest.approx(float(r["mean_return"]), rel=1e-5)
        assert scalars[f"seed{s}/loss"][steps] == pytest.approx(float(r["loss"]), rel=1e-4, abs=1e-6)
    for u in range(1, 5):  # the second series: the mean over the two seeds, keyed by update
        both = [float(r["mean_return"]) for r in rows if int(r["update"]) == u]
        assert scalars["by_update/mean_return"][u] == pytest.approx(sum(both) / 2, rel=1e-5)


def test_tensorboard_without_the_package_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import fails as if not installed
    assert main(["train", "--tensorboard", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "jaxpg: error: --tensorboard needs tensorboardX: pip install tensorboardX"
    assert main(["train", "--tensorboard"]) == 2
    assert "--tensorboard needs --out" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["train"], ["sweep"], ["eval"], ["render"], ["plot"], ["bench"],
                                     ["envs"]])
def test_every_help_page_renders(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    assert "usage: jaxpg" in capsys.readouterr().out
