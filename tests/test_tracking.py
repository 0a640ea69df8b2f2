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
        assert history[u]["min/mean_return"] == pytest.approx(min(both), rel=1e-5)
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
