"""Nothing lost, round 2 (issue 28): stops at any moment, one writer per run directory, every
defining file checked, and one line (exit 2) for each bad case, with the last checkpoint untouched.

Real signals go to a real process (``subprocess``); kills inside a save are injected by making the
n-th file-system step raise, for every n, and then reading what is left on disk.
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxpg import checkpoint, rundir, runner
from jaxpg.cli import main

SMALL = ["--env", "CartPole-v1", "--num-envs", "4", "--hidden", "8", "--max-steps", "50", "--quiet"]
TRAIN = ["train", *SMALL, "--seeds", "2", "--eval-episodes", "2"]


def _one_line(capsys, *needles) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaxpg: error: "), err
    for n in needles:
        assert n in err, err
    return err


def _files(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------ real signals
def _start(argv, out: Path) -> subprocess.Popen:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "jaxpg", *argv, "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(proc: subprocess.Popen, text: str, timeout: float = 240.0) -> float:
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if text in line:
            return time.monotonic()
        assert time.monotonic() < deadline, f"no {text!r} in time"
    raise AssertionError(f"the process ended before printing {text!r}: {proc.stderr.read()}")


@pytest.mark.slow
def test_sigterm_long_into_a_run_keeps_all_but_the_last_seconds(tmp_path):
    # a run whose tenth is far away (2,000,000 updates): chunks are paced to 1 s, so a SIGTERM a few
    # seconds in saves the chunk finished last (before issue 28 nothing was saved until update 200,000)
    out = tmp_path / "long"
    proc = _start(["train", *SMALL[:-1], "--seeds", "2", "--updates", "2000000", "--chunk-seconds", "1"], out)
    _wait_for(proc, "compiled in")
    time.sleep(4)
    t = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert time.monotonic() - t < 60
    ck = checkpoint.load(out)
    assert 0 < ck.updates_done < 2000000
    assert "saving the last finished chunk now" in err
    s = json.loads((out / "summary.json").read_text())
    assert s["interrupted"] and s["updates_done"] == ck.updates_done


@pytest.mark.slow
def test_sigterm_while_a_long_chunk_computes_exits_cleanly(tmp_path):
    # Pixelcopter's updates grow long: at 25 s a chunk of ~1,000 updates is still computing when the
    # files are written. Tearing the interpreter down under it crashed (SIGSEGV, exit -11) after every
    # file was written; the command now leaves at once (os._exit) with 128 + SIGTERM.
    out = tmp_path / "pc"
    proc = _start(["train", "--env", "Pixelcopter-v0", "--seeds", "2", "--updates", "304000"], out)
    _wait_for(proc, "compiled in")
    time.sleep(25)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert checkpoint.load(out).updates_done > 0 and json.loads((out / "summary.json").read_text())["interrupted"]


@pytest.mark.slow
def test_a_signal_before_any_update_says_nothing_was_trained_and_leaves_no_run(tmp_path):
    out = tmp_path / "early"
    proc = _start(["train", *SMALL[:-1], "--seeds", "2", "--updates", "50"], out)
    _wait_for(proc, "jaxpg train:")  # printed once the handlers are in place, before compiling
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    lines = [ln for ln in err.splitlines() if ln.startswith("jaxpg:")]
    assert lines == ["jaxpg: interrupted (SIGTERM) before any update finished: nothing was trained"], err
    assert "Traceback" not in err
    assert not out.exists() or not rundir.holds_a_run(out)


# ------------------------------------------------------------------------------ one writer
@pytest.mark.slow  # trains a run first: the slow tier (fast tier under 3 minutes cold)
def test_a_second_writer_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "c"
    with rundir.locked(out):  # another process writing it (flock: any other open of the directory conflicts)
        assert main([*TRAIN, "--updates", "2", "--out", str(out)]) == 2
        _one_line(capsys, "is being written by another jaxpg process")
    assert main([*TRAIN, "--updates", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    with rundir.locked(out):
        assert main(["train", "--resume", str(out), "--updates", "4"]) == 2
        _one_line(capsys, "is being written by another jaxpg process")
        export = ["export", str(out), "--out", str(tmp_path / "e"), "--eval-episodes", "10", "--max-frames", "5"]
        assert main(export) == 0
        capsys.readouterr()
    with rundir.locked(tmp_path / "e"):
        assert main(export) == 2
        _one_line(capsys, "is being written by another jaxpg process")


@pytest.mark.slow  # a fresh interpreter holds the lock
def test_a_killed_writer_leaves_no_stale_lock(tmp_path):
    out = tmp_path / "k"
    code = ("import sys, time; from pathlib import Path; from jaxpg import rundir\n"
            "with rundir.locked(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    with pytest.raises(rundir.RunDirError, match="being written by another"):
        with rundir.locked(out):
            pass
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with rundir.locked(out):  # the OS released it with the process
        pass


# ------------------------------------------------------------------------------ --overwrite
class _Killed(BaseException):
    """A kill at one step of a save (BaseException: nothing catches it on the way out)."""


def _kill_at(monkeypatch, n: int) -> list:
    """Makes the n-th file-system step (os.replace, shutil.rmtree, os.unlink) raise ``_Killed``."""
    calls = []

    def wrap(fn):
        def step(*a, **k):
            calls.append(fn.__name__)
            if len(calls) == n:
                raise _Killed(fn.__name__)
            return fn(*a, **k)
        return step

    monkeypatch.setattr(os, "replace", wrap(os.replace))
    monkeypatch.setattr(os, "unlink", wrap(os.unlink))
    monkeypatch.setattr(shutil, "rmtree", wrap(shutil.rmtree))
    return calls


@pytest.mark.slow
def test_overwrite_killed_at_any_step_leaves_one_whole_run(tmp_path, capsys):
    old = tmp_path / "old"
    assert main([*TRAIN, "--updates", "2", "--seed", "1", "--out", str(old)]) == 0
    old_id = checkpoint.load(old).meta["run_id"]
    n = 0
    while True:
        n += 1
        out = tmp_path / f"o{n}"
        shutil.copytree(old, out)
        with pytest.MonkeyPatch.context() as mp:
            calls = _kill_at(mp, n)
            try:
                rc = main([*TRAIN, "--updates", "2", "--seed", "2", "--overwrite", "--out", str(out)])
                killed = False
            except _Killed:
                killed = True
        capsys.readouterr()
        ck = checkpoint.load(out)  # whichever run the directory holds, it loads whole
        assert ck.meta["run_id"] == old_id or ck.root_seed == 2, (n, calls)
        assert main(["eval", str(out), "--eval-episodes", "2"]) == 0, (n, calls)
        capsys.readouterr()
        if not killed:
            assert rc == 0 and ck.root_seed == 2
            break
        assert n < 100
    assert n > 3  # the swap has several steps, each tried


# ------------------------------------------------------------------------------ defining files
@pytest.mark.parametrize("edit", [
    lambda m: m["config"].__setitem__("activation", "relu"),
    lambda m: m["hparams"].__setitem__("learning_rate", 0.5),
    lambda m: m.__setitem__("root_seed", 7),
    lambda m: m["config"].__setitem__("obs_scale", 2.0),
    lambda m: m.__setitem__("diverged", {"0": "made up"}),
    lambda m: m.__setitem__("config", None),
], ids=["activation", "lr", "root_seed", "obs_scale", "diverged", "config_null"])
def test_an_edited_checkpoint_json_is_refused_naming_the_file(tmp_path, capsys, edit, trained):
    out = tmp_path / "r"
    shutil.copytree(trained, out)
    meta = json.loads((out / "checkpoint.json").read_text())
    edit(meta)
    (out / "checkpoint.json").write_text(json.dumps(meta))
    before = _files(out)
    for argv in (["eval", str(out)], ["train", "--resume", str(out), "--updates", "4"]):
        assert main(argv) == 2
        _one_line(capsys, "checkpoint.json was edited")
    assert _files(out) == before


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main([*TRAIN, "--updates", "2", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exported") / "e"
    assert main(["export", str(trained), "--out", str(folder), "--eval-episodes", "10", "--max-frames", "5"]) == 0
    return folder


def test_export_never_writes_into_or_over_a_run(tmp_path, capsys, trained):
    assert main(["export", str(trained), "--out", str(trained), "--eval-episodes", "10"]) == 2
    _one_line(capsys, "is inside the run directory")
    assert main(["export", str(trained), "--out", str(trained / "sub"), "--eval-episodes", "10"]) == 2
    _one_line(capsys, "is inside the run directory")
    other = tmp_path / "other"
    shutil.copytree(trained, other)
    assert main(["export", str(trained), "--out", str(other), "--eval-episodes", "10"]) == 2
    _one_line(capsys, "holds a training run")
    import jaxpg

    assert jaxpg.load(trained, seed_index=1).seed_index == 1  # the run is as it was
    with pytest.raises(checkpoint.CheckpointError, match="out of range"):
        jaxpg.load(trained, seed_index=7)


def test_an_export_folder_is_checked_on_load(tmp_path, exported):
    import jaxpg

    assert jaxpg.load(exported).env == "CartPole-v1"
    flipped = tmp_path / "flip"
    shutil.copytree(exported, flipped)
    data = bytearray((flipped / "params.safetensors").read_bytes())
    data[-3] ^= 0x01
    (flipped / "params.safetensors").write_bytes(bytes(data))
    with pytest.raises(checkpoint.CheckpointError, match="does not match the SHA-256"):
        jaxpg.load(flipped)
    edited = tmp_path / "edit"
    shutil.copytree(exported, edited)
    m = json.loads((edited / "jaxpg.json").read_text())
    m["config"]["activation"] = "relu"
    (edited / "jaxpg.json").write_text(json.dumps(m))
    with pytest.raises(checkpoint.CheckpointError, match="jaxpg.json was edited"):
        jaxpg.load(edited)


# ------------------------------------------------------------------------------ refusals
def test_target_nan_and_resume_of_the_other_kind_are_refused(tmp_path, capsys, trained):
    for bad in ("nan", "inf"):
        assert main(["sweep", *SMALL, "--seeds", "1", "--updates", "2", "--lr", "1e-2,2e-2", "--target", bad]) == 2
        _one_line(capsys, "--target must be a finite number")
    assert main(["sweep", "--resume", str(trained), "--updates", "4"]) == 2
    _one_line(capsys, "holds a train run: continue it with jaxpg train --resume")
    sw = tmp_path / "sw"
    assert main(["sweep", *SMALL, "--seeds", "1", "--updates", "2", "--lr", "1e-2,2e-2", "--eval-episodes", "0",
                 "--out", str(sw)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(sw), "--updates", "4"]) == 2
    _one_line(capsys, "holds a sweep run: continue it with jaxpg sweep --resume")


def test_a_full_disk_is_one_line_and_the_last_checkpoint_stands(tmp_path, capsys, monkeypatch):
    out = tmp_path / "full"
    real_save = checkpoint.save
    count = []

    def save(*a, **k):
        count.append(1)
        if len(count) == 2:  # the second save: the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(out / "checkpoints"))
        return real_save(*a, **k)

    monkeypatch.setattr(checkpoint, "save", save)
    assert main([*TRAIN, "--updates", "4", "--save-every", "2", "--out", str(out)]) == 2
    _one_line(capsys, "cannot write the run directory: No space left on device")
    monkeypatch.setattr(checkpoint, "save", real_save)
    assert checkpoint.load(out).updates_done == 2  # the save before the disk filled
    assert main(["train", "--resume", str(out), "--eval-episodes", "2"]) == 0


@pytest.mark.slow  # fast-tier margin: trains whole runs
def test_a_truncated_evals_csv_on_resume_is_one_line(tmp_path, capsys):
    out = tmp_path / "ev"
    assert main([*TRAIN, "--updates", "4", "--eval-every", "2", "--save-every", "2", "--out", str(out)]) == 0
    text = (out / "evals.csv").read_text()
    (out / "evals.csv").write_text(text[: len(text) * 2 // 3])
    before = _files(out)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--extend", "2"]) == 2
    _one_line(capsys, "evals.csv is")
    assert _files(out) == before


def test_a_damaged_summary_given_to_export_is_one_line(tmp_path, capsys, trained):
    run = tmp_path / "r"
    shutil.copytree(trained, run)
    for damage in ("{not json", "[1, 2]", json.dumps({"eval_score": ["a", "b"]})):
        (run / "summary.json").write_text(damage)
        assert main(["export", str(run), "--out", str(tmp_path / "x"), "--eval-episodes", "10"]) == 2
        _one_line(capsys, "summary.json is damaged", "--seed-index")


def test_an_evaluation_too_big_for_memory_is_refused_before_it_runs(capsys, trained, monkeypatch):
    monkeypatch.setenv("JAXPG_MAX_MEMORY", "1e9")
    assert main(["eval", str(trained), "--eval-episodes", "100000000"]) == 2
    _one_line(capsys, "this evaluation needs", "lower --eval-episodes or --eval-max-steps")


def test_a_run_whose_results_were_not_written_is_finished_by_resume(tmp_path, capsys, trained):
    out = tmp_path / "r"
    shutil.copytree(trained, out)
    s = json.loads((out / "summary.json").read_text())
    (out / "summary.json").write_text(json.dumps({**s, "interrupted": True, "signal": "SIGTERM",
                                                  "eval_mean": None}))  # as a stop during the final save leaves it
    assert main(["train", "--resume", str(out)]) == 0
    done = json.loads((out / "summary.json").read_text())
    assert done["interrupted"] is False and done["updates_done"] == 2 and len(done["eval_mean"]) == 2
    assert done["eval_mean"] == s["eval_mean"]  # the same final evaluation (same keys, same policy)
    capsys.readouterr()
    assert main(["train", "--resume", str(out)]) == 0  # now there is nothing to do
    assert "nothing to do" in capsys.readouterr().out


@pytest.mark.slow  # fast-tier margin: trains or compiles whole runs
def test_a_resume_with_another_remaining_length_compiles_no_new_chunk(tmp_path):
    from jaxpg import Config
    from jaxpg.runner import population

    cfg = Config(env="CartPole-v1", num_envs=2, hidden=(4,), max_steps=10, num_updates=6, lr_schedule="constant")
    spec = runner.RunSpec(cfg, seeds=2, evaluation=runner.Evaluation(episodes=0))
    runner.run(spec, tmp_path / "r", handle_signals=False)
    chunks = [k for k in population._COMPILED if k[0] == cfg]
    r = runner.resume(tmp_path / "r", updates=13, handle_signals=False)  # 7 more: no tenth of 6 divides them
    assert r.updates_done == 13 and r.trained_updates == 7
    assert [k for k in population._COMPILED if k[0] == cfg] == chunks
    np.testing.assert_array_equal(r.metrics.env_steps.shape, (1, 2, 13))
