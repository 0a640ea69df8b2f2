"""Nothing lost: one test per fault of the fault probe (docs/reliability.md lists them).

Each test shows that what used to be lost is now there: files, a loadable checkpoint, a
bit-exact resume, or a one-line refusal that leaves the directory as it was.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxpg import checkpoint, rundir, runner
from jaxpg.cli import main

A = ["--env", "CartPole-v1", "--seeds", "1", "--num-envs", "2", "--max-steps", "20"]
SMALL = ["--seeds", "2", "--num-envs", "4", "--hidden", "8", "--max-steps", "30", "--eval-episodes", "2"]


def _files(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _leaves_equal(a, b) -> bool:
    fix = lambda s: s._replace(key=jax.random.key_data(s.key))  # noqa: E731
    return jax.tree.all(jax.tree.map(lambda x, y: np.array_equal(np.asarray(x), np.asarray(y)), fix(a), fix(b)))


# 1 ------------------------------------------------------------------------------- reusing --out
@pytest.mark.slow
def test_reusing_out_is_refused_and_the_run_survives(tmp_path, capsys):
    R = tmp_path / "R"
    assert main(["train", *A, "--updates", "6", "--save-every", "3", "--progress-every", "3",
                 "--out", str(R), "--quiet"]) == 0
    before = _files(R)
    capsys.readouterr()
    assert main(["train", *A, "--updates", "2", "--out", str(R)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds a run: continue it with --resume" in err
    assert main(["sweep", *A, "--lr", "1e-2,3e-3", "--updates", "2", "--out", str(R)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert _files(R) == before  # nothing overwritten, nothing pruned
    assert main(["eval", str(R), "--eval-episodes", "2", "--eval-max-steps", "10"]) == 0


@pytest.mark.slow
def test_overwrite_replaces_the_old_run_only_after_the_new_checkpoint(tmp_path):
    R = tmp_path / "R"
    assert main(["train", *A, "--updates", "6", "--save-every", "3", "--progress-every", "3",
                 "--out", str(R), "--quiet"]) == 0
    assert sorted(p.name for p in (R / "checkpoints").iterdir()) == ["3", "6"]
    outside = tmp_path / "outside"
    (outside / "9").mkdir(parents=True)
    (R / "checkpoints" / "9").symlink_to(outside / "9")  # a link: never followed, never deleted through
    assert main(["train", *A, "--updates", "2", "--out", str(R), "--overwrite", "--quiet"]) == 0
    assert sorted(p.name for p in (R / "checkpoints").iterdir()) == ["2", "9"]
    assert (outside / "9").is_dir()
    assert checkpoint.load(R).updates_done == 2
    assert json.loads((R / "summary.json").read_text())["updates_done"] == 2


# 2 ------------------------------------------------------------------------ SIGTERM and SIGHUP
@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_save_and_resume_bit_for_bit(tmp_path, sig):
    argv = ["train", *SMALL, "--updates", "600", "--progress-every", "2", "--lr-schedule", "constant"]
    T = tmp_path / "T"
    proc = subprocess.Popen([sys.executable, "-m", "jaxpg", *argv, "--out", str(T)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        for line in proc.stdout:
            if line.lstrip().startswith("update"):
                break
            assert time.monotonic() < deadline, "no progress line in time"
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + getattr(signal, sig), err
    assert f"interrupted ({sig})" in err and "Traceback" not in err
    done = checkpoint.load(T).updates_done
    assert 2 <= done < 600  # a chunk end: on a progress line or on time
    s = json.loads((T / "summary.json").read_text())
    assert s["signal"] == sig and s["updates_done"] == done and s["eval_mean"] is None
    # the interrupted run, resumed, ends exactly where the uninterrupted one does
    assert main(["train", "--resume", str(T), "--quiet"]) == 0
    assert main([*argv, "--out", str(tmp_path / "whole"), "--quiet"]) == 0
    a, b = checkpoint.load(T), checkpoint.load(tmp_path / "whole")
    assert a.updates_done == b.updates_done == 600 and _leaves_equal(a.state, b.state)
    assert (T / "metrics.csv").read_text() == (tmp_path / "whole" / "metrics.csv").read_text()


# 3 ------------------------------------------------------------------------------ divergence
# test_runner.py::test_train_divergence_keeps_the_last_finite_state_and_exits_2 and
# test_runner.py::test_divergent_sweep_point_is_stopped_reported_and_not_ranked.


# 4 ------------------------------------------------------------- a signal during the final save
@pytest.mark.slow
def test_signals_during_the_final_save_are_deferred(tmp_path, monkeypatch, capsys):
    original = rundir.Writer.checkpoint

    def checkpoint_with_two_ctrl_c(self, *args, **kwargs):
        for _ in range(3):  # the handler runs here, inside the save: it must not raise
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(rundir.Writer, "checkpoint", checkpoint_with_two_ctrl_c)
    out = tmp_path / "S"
    rc = main(["train", *SMALL, "--updates", "4", "--progress-every", "2", "--out", str(out)])
    assert rc == 130  # stopped by SIGINT, but everything written
    assert "already stopping" in capsys.readouterr().err
    ck = checkpoint.load(out)
    s = json.loads((out / "summary.json").read_text())
    assert s["updates_done"] == ck.updates_done == 4
    assert len((out / "metrics.csv").read_text().strip().splitlines()) == 1 + 2 * 4


# 5 ------------------------------------------------------------------------------ corruption
@pytest.mark.slow  # trains a run first: the slow tier (fast tier under 3 minutes cold)
def test_a_flipped_bit_in_a_checkpoint_is_refused_naming_the_file(tmp_path, capsys):
    out = tmp_path / "C"
    assert main(["train", *SMALL, "--updates", "2", "--out", str(out), "--quiet"]) == 0
    data = out / "checkpoints" / "2" / "state.npz"
    original = data.read_bytes()
    rng = np.random.default_rng(0)
    for _ in range(10):
        blob = bytearray(original)
        i = int(rng.integers(len(blob) // 4, 3 * len(blob) // 4))
        blob[i] ^= 1 << int(rng.integers(8))
        data.write_bytes(bytes(blob))
        for argv in (["eval", str(out)], ["train", "--resume", str(out), "--updates", "4"],
                     ["render", str(out), "--out", str(tmp_path / "x.gif")]):
            capsys.readouterr()
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and f"{data} does not match the SHA-256" in err, err
    data.write_bytes(original)
    assert main(["eval", str(out), "--eval-episodes", "2", "--eval-max-steps", "10"]) == 0


# 6 -------------------------------------------------------------------------------- symlinks
def test_a_symlinked_checkpoints_dir_is_refused_and_its_target_untouched(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    for u in ("1", "2", "3"):
        (elsewhere / u).mkdir(parents=True)
    R = tmp_path / "R"
    R.mkdir()
    (R / "checkpoints").symlink_to(elsewhere)
    assert main(["train", *SMALL, "--updates", "2", "--out", str(R), "--overwrite"]) == 2
    assert "is a symlink" in capsys.readouterr().err
    assert main(["train", "--resume", str(R)]) == 2
    assert "is a symlink" in capsys.readouterr().err
    assert sorted(p.name for p in elsewhere.iterdir()) == ["1", "2", "3"]


# 7 --------------------------------------------------------------------------- oversized runs
@pytest.mark.parametrize("argv, budget", [
    (["--num-envs", "10000000", "--seeds", "64"], None),
    (["--hidden", "100000,100000"], None),
    # a budget below what even one run needs (~120 MiB: 8 runs in one program need ~0.9 GiB, so
    # 6e8 fits in waves); --updates 2 keeps it short should the plan ever train after all
    (["--num-envs", "4000", "--seeds", "8", "--updates", "2"], "5e7"),
])
@pytest.mark.slow
def test_a_run_that_cannot_fit_is_refused_before_allocating(tmp_path, capsys, monkeypatch, argv, budget):
    if budget:
        monkeypatch.setenv("JAXPG_MAX_MEMORY", budget)
    out = tmp_path / "big"
    assert main(["train", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "this run needs ~" in err and "even in waves of one run per device" in err, err
    assert "lower --num-envs" in err
    assert not out.exists(), "nothing written"


@pytest.mark.slow  # fast-tier margin: trains whole runs
def test_xla_out_of_memory_becomes_one_line(tmp_path, capsys, monkeypatch):
    def boom(self, *a, **k):
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.2TiB.")

    monkeypatch.setattr(runner.Population, "init", boom)
    assert main(["train", *SMALL, "--updates", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out of memory: RESOURCE_EXHAUSTED" in err


# 8 ---------------------------------------------------------------------------------- smaller
@pytest.mark.parametrize("argv, message", [
    (["train", "--updates", "99999999999999999999"], "--updates: expected a positive integer up to"),
    (["train", "--num-envs", "99999999999999999999"], "--num-envs: expected a positive integer up to"),
    (["train", "--seeds", "99999999999999999999"], "--seeds: expected a positive integer up to"),
    (["train", "--max-steps", "99999999999999999999"], "--max-steps: expected a positive integer up to"),
    (["train", "--seed", "99999999999999999999"], "--seed: expected an integer that fits in 64 bits"),
    (["train", "--progress-every", "99999999999999999999"], "--progress-every: expected a positive integer"),
    (["train", "--eval-episodes", "99999999999999999999"], "--eval-episodes: expected a positive integer"),
    (["eval", "x", "--eval-episodes", "99999999999999999999"], "--eval-episodes: expected a positive integer up to"),
    (["render", "x", "--out", "a.gif", "--fps", "99999999999999999999"], "--fps: expected a positive"),
    (["sweep", "--env", "NoSuchEnv-v9"], "unknown environment 'NoSuchEnv-v9'"),
    (["train", "--out", ""], "--out: expected a path, got ''"),
    (["train", "--hidden", ""], "--hidden: expected comma-separated positive integers"),
    (["bench", "--env", "bad", "--out", "BO"], "unknown environment 'bad'"),
])
def test_smaller_bad_inputs_are_one_line_and_write_nothing(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaxpg: error: ") and message in err, err
    assert list(tmp_path.iterdir()) == [], "nothing written"


def test_updates_near_the_limit_choose_a_chunk_at_once():
    t = time.perf_counter()
    assert runner.chunk_length(2**31 - 1) in (1, 2**31 - 1)  # a prime: only 1 and itself divide it
    assert runner.chunk_length(1_000_000) == 100_000
    assert time.perf_counter() - t < 1.0


def test_a_path_with_invalid_bytes_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "jaxpg", "train", "--out", b"bad-\xff-dir"],
                          capture_output=True, cwd=tmp_path, timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1 and "not a valid UTF-8 path" in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # fast-tier margin: trains whole runs
def test_result_files_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        out = tmp_path / "U"
        assert main(["train", *SMALL, "--updates", "2", "--out", str(out), "--quiet"]) == 0
    finally:
        os.umask(old)
    for name in ("summary.json", "metrics.csv", "checkpoint.json", "checkpoints/2/state.npz"):
        assert (out / name).stat().st_mode & 0o777 == 0o640, name


@pytest.mark.slow
def test_processes_that_disagree_on_settings_are_refused(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "jaxpg", "sweep", "--seeds", "2", "--num-envs", "4", "--hidden", "8",
         "--max-steps", "20", "--updates", "2", "--lr", lr, "--coordinator", f"localhost:{port}",
         "--num-processes", "2", "--process-id", str(i), "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i, lr in enumerate(("1e-2", "3e-3"))]
    try:
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 2, err
        assert err.strip().splitlines()[-1].startswith("jaxpg: error: the processes disagree on the run's settings")
