"""Checkpoints: save/load round trip, resume == uninterrupted, bad checkpoints, `jaxpg eval`."""

import csv
import json
import os
import shutil
import signal

import jax
import numpy as np
import pytest

from jaxpg import Config, HParams, checkpoint, runner
from jaxpg.cli import main

TRAIN = ["train", "--seeds", "2", "--num-envs", "4", "--hidden", "8", "--max-steps", "50",
         "--eval-episodes", "2", "--progress-every", "2"]


def _leaves_equal(a, b) -> bool:
    fix = lambda s: s._replace(key=jax.random.key_data(s.key))  # noqa: E731
    same = jax.tree.map(lambda x, y: np.array_equal(np.asarray(x), np.asarray(y)), fix(a), fix(b))
    return jax.tree.all(same)


@pytest.mark.slow  # fast-tier margin: trains or compiles whole runs
def test_save_load_round_trip_is_bitwise(tmp_path):
    cfg, hp = Config(env="CartPole-v1", num_envs=4, hidden=(8,), num_updates=2), HParams(gamma=0.97)
    r = runner.run(runner.RunSpec(cfg, hp, seeds=3, seed=3, evaluation=runner.Evaluation(episodes=0)), tmp_path / "r",
                   handle_signals=False)
    ck = checkpoint.load(tmp_path / "r")
    assert _leaves_equal(ck.state, jax.tree.map(lambda x: x[:3], r.state))
    assert ck.config == cfg and ck.hparams == hp and ck.root_seed == 3 and ck.seeds == 3
    assert ck.updates_done == 2 and ck.alive.all() and ck.points == [{}]
    for k in ck.metrics:
        np.testing.assert_array_equal(ck.metrics[k], getattr(r.metrics, k)[0])


@pytest.mark.slow  # fast-tier margin: trains or compiles whole runs
def test_eval_with_no_flags_repeats_trains_final_evaluation(tmp_path, capsys):
    # Same keys (the run's root seed), episodes, episode limit and compiled program as the
    # evaluation `train` ran: the per-seed means are the ones summary.json holds.
    out = tmp_path / "run"
    assert main([*TRAIN, "--updates", "2", "--seed", "5", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    capsys.readouterr()
    assert main(["eval", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 sampled episodes per seed, root seed 5" in text
    rows = [line.split("|") for line in text.splitlines() if line.strip()[:1].isdigit()]
    assert [round(float(r[1]), 2) for r in rows] == [round(m, 2) for m in summary["eval_mean"]]
    assert [round(float(r[4]), 2) for r in rows] == [round(m, 2) for m in summary["eval_mean_other_mode"]]
    assert main(["eval", str(out), "--seed", "6"]) == 0  # other episodes: other returns
    rows6 = [line.split("|") for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[1] for r in rows6] != [r[1] for r in rows]


@pytest.mark.slow  # fast-tier margin: trains whole runs
def test_resume_after_a_signal_equals_uninterrupted(tmp_path, capsys):
    """SIGINT after the first chunk: the run stops after the chunk running then, saves, exits 130;
    --resume then finishes it with the same final parameters and metrics, bit for bit."""
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert main([*TRAIN, "--updates", "8", "--out", str(whole)]) == 0
    cfg, hp = checkpoint.load(whole).config, checkpoint.load(whole).hparams

    def interrupt(p):
        if p.update == 2:
            os.kill(os.getpid(), signal.SIGINT)

    r = runner.run(runner.RunSpec(cfg, hp, seeds=2, evaluation=runner.Evaluation(episodes=2)), split,
                   schedule=runner.Schedule(chunk=2), progress=interrupt)
    assert r.interrupted == "SIGINT" and r.exit_code == 130 and r.eval_returns is None
    assert 2 <= checkpoint.load(split).updates_done < 8
    assert main(["train", "--resume", str(split), "--progress-every", "2"]) == 0
    a, b = checkpoint.load(whole), checkpoint.load(split)
    assert a.updates_done == b.updates_done == 8
    assert _leaves_equal(a.state, b.state)
    rows_a = list(csv.DictReader((whole / "metrics.csv").open()))
    rows_b = list(csv.DictReader((split / "metrics.csv").open()))
    assert rows_a == rows_b and len(rows_a) == 2 * 8


@pytest.mark.slow
def test_save_every_and_extension_with_updates(tmp_path):
    out = tmp_path / "run"
    assert main([*TRAIN, "--updates", "4", "--save-every", "2", "--lr-schedule", "constant",
                 "--out", str(out)]) == 0
    assert checkpoint.load(out).updates_done == 4
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["2", "4"]  # the 2 newest kept
    assert main(["train", "--resume", str(out), "--updates", "6", "--eval-episodes", "2"]) == 0
    assert checkpoint.load(out).updates_done == 6
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["4", "6"]


@pytest.mark.parametrize("damage, message", [
    ("nothing", "no checkpoint in"),
    ("truncate", "does not match the SHA-256 recorded"),
    ("remove_step", "is missing (truncated run directory)"),
    ("bad_json", "checkpoint.json is corrupted"),
    ("other_shape", "checkpoint.json was edited: its 'config' differs"),  # issue 28: the settings are hashed
])
def test_bad_checkpoint_is_one_line_exit_2(tmp_path, capsys, damage, message):
    out = tmp_path / "run"
    assert main([*TRAIN, "--updates", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    if damage == "nothing":
        out = tmp_path / "empty"
        out.mkdir()
    elif damage == "truncate":
        data = [p for p in (out / "checkpoints" / "2").rglob("*") if p.is_file()]
        assert data, "expected the checkpoint's data file"
        for p in data:
            p.write_bytes(p.read_bytes()[: p.stat().st_size // 3])
    elif damage == "remove_step":
        shutil.rmtree(out / "checkpoints" / "2")
    elif damage == "other_shape":  # a checkpoint.json of another policy shape than the arrays
        import json

        meta = json.loads((out / "checkpoint.json").read_text())
        meta["config"]["hidden"] = [16]
        (out / "checkpoint.json").write_text(json.dumps(meta))
        before = sorted(p.relative_to(out) for p in out.rglob("*"))
    else:
        (out / "checkpoint.json").write_text("{not json")
    for argv in (["eval", str(out)], ["train", "--resume", str(out)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("jaxpg: error: ") and message in err, err
    if damage == "nothing":
        assert not list(out.iterdir()), "an empty directory stays empty"
    elif damage != "remove_step":
        assert sorted(p.relative_to(out) for p in out.rglob("*")) == before, "files left untouched"


def test_resume_refuses_run_flags(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--lr", "0.1"]) == 2
    assert "drop --lr" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_of_a_trained_bandit_gives_the_best_arm(tmp_path, capsys):
    """TwoArmedBandit-probe pays 0 or 1 for one step: a trained greedy policy returns exactly 1."""
    out = tmp_path / "bandit"
    assert main(["train", "--env", "TwoArmedBandit-probe", "--seeds", "2", "--num-envs", "16",
                 "--updates", "60", "--lr", "0.1", "--eval-episodes", "4", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--eval-episodes", "8", "--greedy"]) == 0
    printed = capsys.readouterr().out
    assert "60 updates; 8 greedy episodes per seed" in printed
    rows = [line.split("|") for line in printed.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 2
    for row in rows:  # seed | mean | std | score
        assert float(row[1]) == 1.0 and float(row[2]) == 0.0 and float(row[3]) == 1.0


def test_render_writes_a_gif_of_the_episode(tmp_path, capsys):
    from PIL import Image

    run = tmp_path / "run"
    assert main([*TRAIN, "--updates", "2", "--out", str(run)]) == 0
    capsys.readouterr()
    gif = tmp_path / "replay.gif"
    assert main(["render", str(run), "--out", str(gif), "--seed-index", "1", "--max-frames", "40"]) == 0
    printed = capsys.readouterr().out
    length = int(printed.split(" steps,")[0].rsplit(" ", 1)[1])
    assert 1 <= length <= 40
    with Image.open(gif) as im:
        assert im.size == (600, 400)
        # one frame per state (reset + each step); Pillow merges identical consecutive frames
        assert 2 <= im.n_frames <= length + 1
        im.seek(im.n_frames - 1)
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 16)) >= 3, "the frame shows something"


@pytest.mark.parametrize("argv, message", [
    (["--seed-index", "5"], "--seed-index 5 is out of range: the run has seeds 0..1"),
    (["--out", "x.png"], "--out must end in .gif or .mp4"),
    (["--out", "/nonexistent-dir/x.gif"], "cannot write --out"),
])
def test_render_bad_input(tmp_path, capsys, argv, message):
    run = tmp_path / "run"
    assert main([*TRAIN, "--updates", "2", "--out", str(run)]) == 0
    capsys.readouterr()
    base = ["render", str(run), "--out", str(tmp_path / "r.gif")]
    assert main([*base, *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "r.gif").exists()


@pytest.mark.slow
def test_eval_plays_to_the_envs_own_limit_not_the_training_cut(tmp_path, capsys):
    """A run trained with --max-steps 3 is evaluated on full CartPole episodes (limit 500), as
    `train`'s own final evaluation is; --eval-max-steps 3 restores the cut (every return is then 3)."""
    out = tmp_path / "cut"
    assert main(["train", "--seeds", "2", "--num-envs", "4", "--hidden", "8", "--max-steps", "3",
                 "--updates", "1", "--eval-episodes", "2", "--out", str(out)]) == 0
    capsys.readouterr()

    def means(*extra):
        assert main(["eval", str(out), "--eval-episodes", "8", "--greedy", *extra]) == 0
        lines = capsys.readouterr().out.splitlines()
        rows = [line.split("|") for line in lines if line.strip()[:1].isdigit()]
        return [float(r[1]) for r in rows]

    assert means("--eval-max-steps", "3") == [3.0, 3.0]
    # an untrained greedy CartPole policy falls after ~8-60 steps, never within 3
    assert min(means()) > 3.0
