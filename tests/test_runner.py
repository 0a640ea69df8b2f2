"""The run layer: one lifecycle for train, sweep and the Python entry point.

Sharding, sweeps on any env, checkpoint/resume of sweeps, reading one point of a sweep
directory, resume of a finished run, divergent points, the flag table, the spec's record,
and parts plugged into the loop. (Import layering: ``test_layers.py``.)
"""

import csv
import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxpg import Config, HParams, checkpoint, runner
from jaxpg.cli import main
from jaxpg.cli.flags import TABLE
from jaxpg.train import make_trainer

SMALL = ["--num-envs", "4", "--hidden", "8", "--max-steps", "30", "--eval-episodes", "2"]
CFG = Config(env="CartPole-v1", num_envs=4, hidden=(8,), max_steps=30, num_updates=4)


def _files(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_run_equals_the_pure_train_function_per_seed():
    r = runner.run(runner.RunSpec(CFG, seeds=3, seed=5, evaluation=runner.Evaluation(episodes=0)),
                   schedule=runner.Schedule(chunk=2), handle_signals=False)
    _, m = jax.jit(jax.vmap(make_trainer(CFG).train, in_axes=(0, None)))(
        jax.random.split(jax.random.key(5), 3), HParams())
    assert r.metrics.mean_return.shape == (1, 3, 4)
    np.testing.assert_allclose(r.metrics.mean_return[0], np.asarray(m.mean_return), rtol=1e-6)
    np.testing.assert_allclose(r.metrics.loss[0], np.asarray(m.loss), rtol=1e-5, atol=1e-7)
    assert r.eval_returns is None and r.updates_done == 4 and not r.diverged


_SHARDED = textwrap.dedent("""
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax
    assert jax.device_count() == 4
    from jaxpg.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.slow
def test_train_shards_over_four_devices_and_equals_one_device(tmp_path):
    argv = ["train", "--seeds", "6", *SMALL, "--updates", "4", "--quiet"]
    proc = subprocess.run([sys.executable, "-c", _SHARDED, *argv, "--out", str(tmp_path / "four")],
                          env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert main([*argv, "--out", str(tmp_path / "one")]) == 0
    four = json.loads((tmp_path / "four" / "summary.json").read_text())
    one = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert (four["devices"], one["devices"]) == (4, 1)
    # 6 runs over 4 devices: padded to 8, the padding dropped from every result
    a, b = (np.loadtxt(tmp_path / d / "metrics.csv", delimiter=",", skiprows=1) for d in ("four", "one"))
    assert a.shape == b.shape == (6 * 4, 8)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)  # losses: float summation order per device
    np.testing.assert_allclose(four["eval_mean"], one["eval_mean"], rtol=1e-6)


@pytest.mark.slow
def test_sweep_on_a_continuous_env(tmp_path, capsys):
    out = tmp_path / "pend"
    assert main(["sweep", "--env", "Pendulum-v1", "--seeds", "2", "--lr", "1e-3,3e-3", "--num-envs", "2",
                 "--hidden", "8", "--updates", "2", "--max-steps", "20", "--eval-episodes", "2",
                 "--out", str(out)]) == 0
    res = json.loads((out / "sweep.json").read_text())
    assert [p["hparams"]["learning_rate"] for p in res["points"]] == [1e-3, 3e-3]
    assert all(len(p["eval_mean"]) == 2 and p["diverged"] is None for p in res["points"])
    assert "rank" in capsys.readouterr().out


@pytest.mark.slow
def test_sweep_checkpoint_then_resume_equals_the_uninterrupted_sweep_bit_for_bit(tmp_path, capsys):
    grid = ["--lr", "1e-2,3e-3", "--gamma", "0.9,1.0"]
    common = ["sweep", "--seeds", "2", *SMALL, *grid, "--progress-every", "2", "--lr-schedule", "constant",
              "--quiet"]
    assert main([*common, "--updates", "4", "--out", str(tmp_path / "whole")]) == 0
    assert main([*common, "--updates", "2", "--out", str(tmp_path / "split")]) == 0
    assert checkpoint.load(tmp_path / "split", whole=True).updates_done == 2
    assert main(["sweep", "--resume", str(tmp_path / "split"), "--updates", "4", "--quiet"]) == 0
    a = checkpoint.load(tmp_path / "whole", whole=True)
    b = checkpoint.load(tmp_path / "split", whole=True)
    assert a.updates_done == b.updates_done == 4 and len(a.points) == 4
    fix = lambda s: s._replace(key=jax.random.key_data(s.key))  # noqa: E731
    assert jax.tree.all(jax.tree.map(np.array_equal, fix(a.state), fix(b.state)))
    for k in a.metrics:
        np.testing.assert_array_equal(a.metrics[k], b.metrics[k])
    assert (tmp_path / "whole" / "metrics.csv").read_text() == (tmp_path / "split" / "metrics.csv").read_text()


@pytest.mark.slow
def test_eval_render_and_plot_take_one_point_of_a_sweep(tmp_path, capsys):
    out = tmp_path / "sw"
    assert main(["sweep", "--seeds", "2", *SMALL, "--lr", "1e-2,3e-3", "--updates", "2", "--quiet",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", str(out)]) == 2
    assert "is a sweep of 2 points: choose one with --point 0..1" in capsys.readouterr().err
    assert main(["eval", str(out), "--point", "2"]) == 2
    assert "--point 2 is out of range" in capsys.readouterr().err
    assert main(["eval", str(out), "--point", "1", "--eval-episodes", "3", "--eval-max-steps", "20"]) == 0
    assert "point 1: 2 updates" in capsys.readouterr().out
    ck = checkpoint.load(out, 1)
    assert ck.hparams.learning_rate == pytest.approx(3e-3) and ck.seeds == 2
    assert np.asarray(ck.state.update).tolist() == [2, 2]
    gif = tmp_path / "p1.gif"
    assert main(["render", str(out), "--point", "1", "--seed-index", "1", "--max-frames", "10", "--out", str(gif)]) == 0
    assert gif.stat().st_size > 0
    png = tmp_path / "p0.png"
    assert main(["plot", str(out), "--point", "0", "--out", str(png), "--x", "update"]) == 0
    assert png.stat().st_size > 0


@pytest.mark.slow
def test_resume_of_a_finished_run_changes_nothing(tmp_path, capsys):
    out = tmp_path / "done"
    assert main(["train", "--seeds", "2", *SMALL, "--updates", "2", "--quiet", "--out", str(out)]) == 0
    before = _files(out)
    capsys.readouterr()
    assert main(["train", "--resume", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"{out}: all 2 updates are done; nothing to do (--extend N adds N more updates)"]
    assert _files(out) == before


@pytest.mark.slow  # fast-tier margin: trains whole runs
def test_readme_resume_after_save_every_and_rates_count_this_process(tmp_path, capsys):
    """The README's `--save-every` then `--resume --extend` (it crashed with 'Array has been deleted')."""
    out = tmp_path / "cp"
    assert main(["train", "--seeds", "2", *SMALL, "--updates", "6", "--save-every", "2",
                 "--progress-every", "2", "--out", str(out)]) == 0
    first = json.loads((out / "summary.json").read_text())
    capsys.readouterr()
    # past the end of the linear schedule (lr 0 there): refused, pointing to --extend
    assert main(["train", "--resume", str(out), "--updates", "10"]) == 2
    assert "reaches 0 at update 6" in capsys.readouterr().err
    assert main(["train", "--resume", str(out), "--extend", "4", "--progress-every", "2"]) == 0
    text = capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    ck = checkpoint.load(out)
    assert s["updates_done"] == 10 and ck.updates_done == 10
    assert (ck.config.num_updates, ck.config.schedule_start) == (10, 6)  # a fresh decay over updates 6..10
    assert "the linear schedules restart" in text
    # the rate counts only the steps this process trained (updates 7-10), not the resumed past
    assert s["env_steps_this_process"] == s["env_steps"] - first["env_steps"] > 0
    assert f"env steps (valid, training): {s['env_steps_this_process']:,}" in text
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 2 * 10


@pytest.mark.slow
def test_divergent_sweep_point_is_stopped_reported_and_not_ranked(tmp_path, capsys):
    out = tmp_path / "div"
    rc = main(["sweep", "--seeds", "2", *SMALL, "--lr", "1e-2,3e38", "--lr-schedule", "constant",
               "--updates", "4", "--progress-every", "1", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    res = json.loads((out / "sweep.json").read_text())
    assert res["points"][0]["diverged"] is None
    assert "is nan at update" in res["points"][1]["diverged"] or "non-finite" in res["points"][1]["diverged"]
    ranking = text.split("hyperparameters", 1)[1]
    assert "learning_rate=0.01" in ranking and "not ranked: point 1 (learning_rate=3e+38) diverged" in ranking
    ck = checkpoint.load(out, 1)  # the diverged point keeps its last finite state
    assert not ck.alive.any()
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(ck.state.params))
    ok = checkpoint.load(out, 0)
    assert ok.alive.all() and np.asarray(ok.state.update).tolist() == [4, 4]


@pytest.mark.slow
def test_train_divergence_keeps_the_last_finite_state_and_exits_2(tmp_path, capsys):
    out = tmp_path / "D"
    rc = main(["train", "--seeds", "2", *SMALL, "--updates", "8", "--progress-every", "2", "--lr", "3e38",
               "--lr-schedule", "constant", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "training stopped" in err
    assert "lower --lr," in err  # the library names `learning_rate`; the command line speaks its flag
    ck = checkpoint.load(out)
    assert not ck.alive.all() and all(np.all(np.isfinite(x)) for x in jax.tree.leaves(ck.state.params))
    s = json.loads((out / "summary.json").read_text())
    assert s["diverged"] and s["updates_done"] == ck.updates_done
    assert main(["eval", str(out), "--eval-episodes", "2", "--eval-max-steps", "10"]) == 0


def test_the_flag_table_covers_every_config_and_hparams_field():
    fields = {f.name for f in dataclasses.fields(Config)} | {f.name for f in dataclasses.fields(HParams)}
    table = [f.field for f in TABLE]
    assert sorted(table) == sorted(fields), set(fields) ^ set(table)
    assert len({f.flag for f in TABLE}) == len(TABLE)
    owners = {f.field: f.owner for f in TABLE}
    assert all(owners[f.name] == "hparams" for f in dataclasses.fields(HParams))


# -------------------------------------------------------------------------------- the spec
def test_the_spec_round_trips_through_its_record_and_hashes_by_value():
    pts = ({"learning_rate": 1e-2}, {"learning_rate": 3e-3, "gamma": 0.9})
    spec = runner.RunSpec(CFG, HParams(entropy_coef=0.01), pts, seeds=3, seed=7,
                          evaluation=runner.Evaluation(episodes=4, every=2)).with_eval_limit(30)
    rec = spec.record()
    assert rec["kind"] == "sweep" and rec["axes"] == ["learning_rate", "gamma"] and rec["eval_max_steps"] == 30
    back = runner.RunSpec.from_record(json.loads(json.dumps(rec)), CFG, HParams(entropy_coef=0.01))
    assert back == spec and back.digest() == spec.digest() and hash(back) == hash(spec)
    assert spec.replace(seed=8).digest() != spec.digest()
    assert runner.RunSpec(CFG).record()["kind"] == "train" and runner.RunSpec(CFG).point_list == [{}]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.seeds = 4


@pytest.mark.parametrize(("make", "message"), [
    (lambda: runner.RunSpec(CFG, seeds=0), "`seeds` must be a positive integer"),
    (lambda: runner.RunSpec(CFG, points=({"lr": 1.0},)), "unknown hyperparameter 'lr'"),
    (lambda: runner.RunSpec(CFG, points=()), "at least one hyperparameter point"),
    (lambda: runner.Evaluation(episodes=0, every=2), "`eval_every` needs evaluation episodes"),
    (lambda: runner.Schedule(max_memory=-1), "`max_memory` must be a positive number"),
    (lambda: runner.Schedule(chunk_seconds=0), "`chunk_seconds` must be a positive number"),
])
def test_bad_specs_are_one_line_in_the_librarys_words(make, message):
    with pytest.raises(runner.RunError, match=message) as e:
        make()
    assert "--" not in str(e.value) and "\n" not in str(e.value)


def test_the_command_line_speaks_its_flags():
    from jaxpg.cli.flags import speak

    assert speak("lower `learning_rate`, or `num_envs`; `chunk` 3 must divide") == \
        "lower --lr, or --num-envs; --progress-every 3 must divide"
    assert speak("`unknown_name` stays") == "`unknown_name` stays"


# -------------------------------------------------------------------------------- parts
class _Recorder(runner.Part):
    """Records what the loop hands it; asks the loop to stop after ``stop_at`` updates."""

    def __init__(self, stop_at=None):
        self.stop_at, self.seen, self.started, self.finished, self.result = stop_at, [], 0, 0, None

    def start(self, board):
        self.started += 1

    def after_chunk(self, board, chunk):
        self.seen.append((chunk.updates_done, chunk.metrics.loss.shape, chunk.last))
        if self.stop_at is not None and chunk.updates_done >= self.stop_at:
            board.request_stop("recorder")

    def finish(self, board):
        self.finished += 1

    def close(self, result):
        self.result = result


@pytest.mark.slow  # fast-tier margin: trains or compiles whole runs
def test_a_part_sees_every_chunk_in_order_and_can_stop_the_run():
    cfg = Config(env="CartPole-v1", num_envs=2, hidden=(4,), max_steps=10, num_updates=8)
    spec = runner.RunSpec(cfg, seeds=2, evaluation=runner.Evaluation(episodes=0))
    rec = _Recorder()
    r = runner.run(spec, schedule=runner.Schedule(chunk=2, chunk_seconds=None), parts=[rec], handle_signals=False)
    assert rec.seen == [(2, (2, 2), False), (4, (2, 2), False), (6, (2, 2), False), (8, (2, 2), True)]
    assert (rec.started, rec.finished, rec.result) == (1, 1, r) and r.updates_done == 8
    # a stop asked after update 4 dispatches nothing more; the chunk already queued (5-6) is kept
    stop = _Recorder(stop_at=4)
    r = runner.run(spec, schedule=runner.Schedule(chunk=2, chunk_seconds=None), parts=[stop], handle_signals=False)
    assert [u for u, _, _ in stop.seen] == [2, 4, 6] and r.updates_done == 6 and not r.stopped_early


@pytest.mark.slow  # compiles the chunk program at three widths
def test_the_memory_plan_changes_nothing():
    from jaxpg.runner import memory

    pop = runner.Population(runner.RunSpec(CFG, points=[{}] * 3, seeds=2))
    before = (pop.padded_runs, pop.wave_runs, pop.program_runs)
    plan = memory.plan(pop, 2, None, budget=int(memory.needed(pop.with_waves(2), 2)["peak"] * 1.05))
    assert plan.wave_runs is not None and plan.wave_runs < 6 and plan.text and "waves of" in plan.text
    assert (pop.padded_runs, pop.wave_runs, pop.program_runs) == before
    waved = pop.with_waves(plan.wave_runs)
    assert waved.trainer is pop.trainer and waved.num_waves >= 2  # the env is not built again


# -------------------------------------------------------------------------------- pacing
def test_the_pacer_cuts_chunks_at_every_boundary_and_by_time():
    from jaxpg.runner.pacing import Pacer, Pending

    # resumed at 6 of 40, a line every 10 updates (16, 26, 36, 40), saves every 15 (15, 30), capacity 8
    p = Pacer(6, 40, 10, 8, seconds=None, every=(15, None))
    counts = []
    while not p.done():
        counts.append(p.next_count())
        p.dispatched += counts[-1]
    # 6 -> 14 (capacity 8) -> 15 (save) -> 16 (line) -> 24 -> 26 (line) -> 30 (save) -> 36 (line) -> 40 (end)
    assert counts == [8, 1, 1, 8, 2, 4, 6, 4] and sum(counts) == 34
    assert [u for u in (16, 26, 36, 40, 15, 30) if p.is_line(u)] == [16, 26, 36, 40]
    # by time: one update until a rate is measured, then as many as fit in `seconds` (here 2 s at
    # 0.25 s each: 8), but at most twice the chunk dispatched before (1 -> 2 -> 4 -> 8)
    t = Pacer(0, 100, 50, 100, seconds=2.0)
    assert t.next_count() == 1
    t.observe(Pending(None, None, None, None, count=1, dispatched_at=10.0), done_at=10.25)
    assert t.per_update == 0.25 and t.next_count() == 2
    for want in (2, 4, 8, 8):
        t._last_count = t.next_count()
        assert t._last_count == want
    # a chunk queued behind another starts when that one finished: 4 updates in 11.0 - 10.25 s
    t.observe(Pending(None, None, None, None, count=4, dispatched_at=10.1), done_at=11.0)
    assert t.per_update == (11.0 - 10.25) / 4 and t.next_count() == 10


@pytest.mark.slow  # fast-tier margin: trains whole runs
def test_time_bounded_chunks_give_the_same_numbers_as_fixed_ones():
    cfg = Config(env="CartPole-v1", num_envs=2, hidden=(4,), max_steps=10, num_updates=8)
    spec = runner.RunSpec(cfg, seeds=2, evaluation=runner.Evaluation(episodes=0))
    fixed, timed = _Recorder(), _Recorder()
    a = runner.run(spec, schedule=runner.Schedule(chunk=4, chunk_seconds=None), parts=[fixed], handle_signals=False)
    b = runner.run(spec, schedule=runner.Schedule(chunk=4, chunk_seconds=1e-9), parts=[timed], handle_signals=False)
    assert [u for u, _, _ in fixed.seen] == [4, 8]
    assert [u for u, _, _ in timed.seen] == list(range(1, 9))  # 1e-9 s: one update a chunk
    np.testing.assert_array_equal(a.metrics.loss, b.metrics.loss)  # one program, any chunk length: same bits
    assert jax.tree.all(jax.tree.map(np.array_equal, a.state.params, b.state.params))
