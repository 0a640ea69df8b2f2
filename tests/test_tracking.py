"""``--wandb``: logged offline (no network) and read back from W&B's own run file."""

import csv
import json
import struct

import pytest

from jaxpg.cli import main

TINY = ["--seeds", "2", "--num-envs", "4", "--hidden", "8", "--max-steps", "50", "--eval-episodes", "3",
        "--updates", "4"]


def read_wandb_run(run_file):
    """Records of a ``run-*.wandb`` file: a 7-byte header, then LevelDB-log records (32 KiB
    blocks; each fragment: crc32c, length, type FULL=1/FIRST=2/MIDDLE=3/LAST=4) holding
    ``wandb_internal_pb2.Record`` protobufs."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, block, pos, frags, out = run_file.read_bytes(), 32768, 7, b"", []
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            pos += left
            continue
        frag, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        assert len(frag) == length, f"{run_file}: record cut at byte {len(data)} (the file is still being written?)"
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(frags + frag)
            out.append(rec)
            frags = b""
        else:
            frags += frag
    return out


@pytest.mark.slow
def test_wandb_logs_config_every_update_evaluations_and_plots(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    assert main(["train", *TINY, "--eval-every", "2", "--wandb", "--wandb-project", "jaxpg-test",
                 "--wandb-group", "g1", "--wandb-tags", "a,b", "--out", str(out), "--quiet"]) == 0
    (run_file,) = out.glob("wandb/offline-run-*/run-*.wandb")
    # run.finish() returns before wandb's service process is gone; in a one-shot CLI process its
    # exit handler shuts it down. Here, in-process: shut it down, then wait for the file to settle
    # (CI once read it mid-write: "Wire format was corrupt").
    import time

    import wandb

    wandb.teardown()
    size, deadline = -1, time.monotonic() + 30
    while run_file.stat().st_size != size and time.monotonic() < deadline:
        size = run_file.stat().st_size
        time.sleep(0.5)
    records = read_wandb_run(run_file)
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    config = {u.key: json.loads(u.value_json) for u in run.config.update}
    assert config["env"] == "CartPole-v1" and config["seeds"] == 2 and config["config"]["num_envs"] == 4
    assert run.project == "jaxpg-test" and run.run_group == "g1" and list(run.tags) == ["a", "b"]
    history = {}
    for r in records:
        if r.WhichOneof("record_type") == "history":
            items = {it.key or "/".join(it.nested_key): json.loads(it.value_json) for it in r.history.item}
            history.setdefault(items["_step"], {}).update(items)
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    for row in rows:  # every seed's every update, as metrics.csv has it
        u, s = int(row["update"]), int(row["seed"])
        assert history[u][f"seed{s}/mean_return"] == pytest.approx(float(row["mean_return"]), rel=1e-5)
        assert history[u][f"seed{s}/loss"] == pytest.approx(float(row["loss"]), rel=1e-4, abs=1e-6)
    for u in (1, 2, 3, 4):
        both = [float(r["mean_return"]) for r in rows if int(r["update"]) == u]
        assert history[u]["all/mean_return"] == pytest.approx(sum(both) / 2, rel=1e-5)
        steps = [int(r["env_steps"]) for r in rows if int(r["update"]) == u]  # each seed's cumulative count
        assert history[u]["env_steps"] == round(sum(steps) / 2) and history[u]["update"] == u
        assert history[u]["min/mean_return"] == pytest.approx(min(both), rel=1e-5)
    metrics = [r.metric for r in records if r.WhichOneof("record_type") == "metric"]
    assert any(m.glob_name == "*" and m.step_metric == "env_steps" for m in metrics)  # charts keyed by env steps
    evals = list(csv.DictReader((out / "evals.csv").open()))
    for u in (2, 4):
        means = [float(e["sampled_mean"]) for e in evals if int(e["update"]) == u]
        assert history[u]["eval/sampled_mean"] == pytest.approx(sum(means) / 2, rel=1e-5)
    assert "eval/sampled_mean" not in history[1]
    for plot in ("learning_curve", "final_scores"):  # logged at the last update, files in the run's media
        assert history[4][f"plots/{plot}/_type"] == "image-file"
        assert (run_file.parent / "files" / history[4][f"plots/{plot}/path"]).stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    final = {}
    for r in records:
        if r.WhichOneof("record_type") == "summary":
            final.update({u.key: json.loads(u.value_json) for u in r.summary.update if u.key})
    assert final["eval/mean_per_seed"] == pytest.approx(summary["eval_mean"], rel=1e-6)


def test_wandb_options_without_wandb_and_a_missing_package_are_one_line(tmp_path, capsys, monkeypatch):
    assert main(["train", "--wandb-project", "x"]) == 2
    assert capsys.readouterr().err.strip().endswith("need --wandb")
    import sys

    monkeypatch.setitem(sys.modules, "wandb", None)
    assert main(["train", "--wandb", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == "jaxpg: error: --wandb needs wandb: pip install 'jaxpg[wandb]'"


# --- env steps as the x axis (TensorBoard, W&B), the trackers finishing after the table ---

def _progress(update, env_steps, run_env_steps, mean_return, evaluation=None):
    """A ``Progress`` of one chunk: ``env_steps``/``mean_return`` ``[H, S, n]``, ``run_env_steps`` ``[H, S]``."""
    import numpy as np

    from jaxpg.runner.parts.progress import Progress
    from jaxpg.types import Metrics

    steps = np.asarray(env_steps, np.int32)
    ret = np.asarray(mean_return, np.float32)
    fields = {f: np.full(steps.shape, 0.5, np.float32) for f in Metrics._fields}
    fields.update(env_steps=steps, mean_return=ret, sim_steps=steps)
    return Progress(update, 10, ret[..., -1], 0, 123.0, 1.0, 1.0, Metrics(**fields), evaluation,
                    np.asarray(run_env_steps, np.int64))


def _chunks():
    """Two chunks of a resumed 2-seed run: the past ran 100 and 90 env steps; updates 3-4, then 5."""
    nan = float("nan")
    first = _progress(4, [[[10, 12], [20, 6]]], [[122, 116]], [[[1, 4], [3, nan]]],
                      {"update": 4, "sampled_mean": [[5.0, 7.0]], "greedy_mean": [[1.0, 3.0]]})
    second = _progress(5, [[[7], [9]]], [[129, 125]], [[[2], [6]]])
    return first, second


def _tensorboard_scalars(logdir):
    """``{tag: {step: value}}`` of every TFRecord events file in ``logdir`` (length, crc, Event, crc)."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    out = {}
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        data, i = path.read_bytes(), 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            event = Event.FromString(data[i + 12:i + 12 + n])
            i += 12 + n + 4
            for v in event.summary.value:
                out.setdefault(v.tag, {})[event.step] = v.simple_value
    return out


def test_tensorboard_keys_scalars_by_env_steps_with_update_as_a_second_series(tmp_path):
    import math

    from jaxpg.cli.tracking import TensorBoard

    tb = TensorBoard(tmp_path)
    for p in _chunks():
        tb.progress(p)
    tb.finish(None)
    sc = _tensorboard_scalars(tmp_path / "tensorboard")
    # seed s at its own cumulative env steps: seed 0 110, 122, 129; seed 1 110, 116, 125
    assert sc["seed0/mean_return"] == {110: 1.0, 122: 4.0, 129: 2.0}
    assert sc["seed1/mean_return"][110] == 3.0 and math.isnan(sc["seed1/mean_return"][116])
    assert sc["seed1/mean_return"][125] == 6.0
    # all/: the finite mean over seeds at the mean env steps (110, 119, 127)
    assert sc["all/mean_return"] == {110: 2.0, 119: 4.0, 127: 4.0}
    assert sc["all/update"] == {110: 3.0, 119: 4.0, 127: 5.0}
    assert sc["all/steps_per_s"] == {119: 123.0, 127: 123.0}
    assert sc["eval/sampled_mean"] == {119: 6.0} and sc["eval/greedy_mean"] == {119: 2.0}
    # the second series, by update
    assert sc["by_update/mean_return"] == {3: 2.0, 4: 4.0, 5: 4.0}
    assert sc["by_update/env_steps"] == {3: 110.0, 4: 119.0, 5: 127.0}
    assert sc["by_update/eval_sampled_mean"] == {4: 6.0}


class _FakeRun:
    """What ``Wandb`` calls on a W&B run, recorded (``finish`` prints as W&B's end-of-run block does)."""

    def __init__(self, **kwargs):
        self.init, self.defined, self.rows, self.summary, self.finished = kwargs, [], [], {}, False

    def define_metric(self, name, step_metric=None, **kwargs):
        self.defined.append((name, step_metric))

    def log(self, row, step=None):
        self.rows.append((step, dict(row)))

    def finish(self):
        self.finished = True
        print("FAKE-WANDB-FINISH", flush=True)


def _fake_wandb(monkeypatch):
    import sys
    import types

    runs = []
    fake = types.ModuleType("wandb")
    fake.init = lambda **kwargs: runs.append(_FakeRun(**kwargs)) or runs[-1]
    fake.Image = lambda path: {"image": path}
    monkeypatch.setitem(sys.modules, "wandb", fake)
    return runs


def _wandb_args(out=None):
    import argparse

    return argparse.Namespace(out=out, wandb_project="p", wandb_entity=None, wandb_group=None, wandb_tags=None,
                              wandb_name=None)


def test_wandb_charts_are_keyed_by_env_steps_and_log_the_update(monkeypatch):
    from jaxpg.cli.tracking import Wandb

    runs = _fake_wandb(monkeypatch)
    w = Wandb(_wandb_args(), {"kind": "train"})
    for p in _chunks():
        w.progress(p)
    (run,) = runs
    assert run.defined == [("env_steps", None), ("*", "env_steps")]
    assert [(step, row["env_steps"], row["update"]) for step, row in run.rows] == [(3, 110, 3), (4, 119, 4),
                                                                                  (5, 127, 5)]
    assert run.rows[1][1]["all/mean_return"] == 4.0 and run.rows[1][1]["seed0/mean_return"] == 4.0
    assert run.rows[1][1]["eval/sampled_mean"] == 6.0 and "eval/sampled_mean" not in run.rows[2][1]
    w.finish(None)
    assert run.finished
    # a sweep: env_steps is the mean over every run (2 points x 1 seed)
    w = Wandb(_wandb_args(), {"kind": "sweep"})
    w.progress(_progress(1, [[[10]], [[30]]], [[10], [30]], [[[1.0]], [[2.0]]]))
    assert runs[-1].rows == [(1, {"env_steps": 20, "update": 1, "steps_per_s": 123.0,
                                  **{f"p{h}/{k}": v for h, r in ((0, 1.0), (1, 2.0)) for k, v in (
                                      ("all/mean_return", r), ("seed0/mean_return", r), ("min/mean_return", r),
                                      ("max/mean_return", r), ("all/loss", 0.5), ("seed0/loss", 0.5),
                                      ("all/entropy", 0.5), ("seed0/entropy", 0.5), ("all/grad_norm", 0.5),
                                      ("seed0/grad_norm", 0.5), ("all/mean_length", 0.5),
                                      ("seed0/mean_length", 0.5))}})]


def test_trackers_of_a_finished_run_wait_for_the_table_a_failed_run_finishes_at_once():
    from jaxpg.cli import tracking

    finished = []

    class T:
        def __init__(self, name):
            self.name = name

        def finish(self, result):
            finished.append((self.name, result))

    ok = tracking.Trackers([lambda: T("ok")])
    ok.start(None)
    ok.close("result")
    assert finished == []  # the CLI prints its table first
    failed = tracking.Trackers([lambda: T("failed")])
    failed.start(None)
    failed.close(None)
    assert finished == [("failed", None)]
    tracking.finish_pending()
    tracking.finish_pending()  # once
    assert finished == [("failed", None), ("ok", "result")]


def _line_steps(out: str) -> dict[int, int]:
    """``{update: env steps}`` of the progress lines in ``out``."""
    import re

    return {int(u): int(s.replace(",", "")) for u, s in re.findall(r"update\s+(\d+)/\d+ .*env steps\s+([\d,]+)", out)}


@pytest.mark.slow  # trains and resumes a run (a few seconds with a warm compile cache)
def test_resume_goes_on_counting_env_steps_on_the_progress_line_tensorboard_and_wandb(tmp_path, capsys,
                                                                                      monkeypatch):
    runs = _fake_wandb(monkeypatch)
    out = tmp_path / "run"
    tiny = ["--num-envs", "2", "--hidden", "8", "--max-steps", "20", "--eval-episodes", "2"]
    assert main(["train", "--seeds", "2", *tiny, "--lr-schedule", "constant", "--updates", "2",
                 "--progress-every", "1", "--out", str(out), "--tensorboard", "--wandb"]) == 0
    first = capsys.readouterr().out
    assert main(["train", "--resume", str(out), "--updates", "4", "--progress-every", "1", "--tensorboard",
                 "--wandb"]) == 0
    second = capsys.readouterr().out
    rows = list(csv.DictReader((out / "metrics.csv").open()))  # env_steps: each seed's cumulative count
    cum = {(int(r["seed"]), int(r["update"])): int(r["env_steps"]) for r in rows}
    total = {u: cum[0, u] + cum[1, u] for u in range(1, 5)}
    assert _line_steps(first) == {1: total[1], 2: total[2]}
    assert _line_steps(second) == {3: total[3], 4: total[4]} and total[3] > total[2]
    sc = _tensorboard_scalars(out / "tensorboard")
    for s in (0, 1):
        assert sorted(sc[f"seed{s}/loss"]) == [cum[s, u] for u in range(1, 5)]
    assert sc["all/update"] == {round((cum[0, u] + cum[1, u]) / 2): float(u) for u in range(1, 5)}
    assert [[(step, row["env_steps"]) for step, row in r.rows if "update" in row] for r in runs] == \
        [[(u, round(total[u] / 2)) for u in us] for us in ((1, 2), (3, 4))]
    for text in (first, second):  # W&B's end-of-run block after the final table
        assert text.index("wrote ") < text.index("FAKE-WANDB-FINISH")
