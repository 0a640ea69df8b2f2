"""Long learning runs: `python -m pytest -m slow`."""

import json

import pytest

from jaxpg.cli import main


@pytest.mark.slow
def test_default_cli_run_solves_cartpole_on_every_seed(tmp_path):
    # The README's main job: 8 seeds with default settings, each eval mean >= 475 over 32 episodes.
    assert main(["train", "--env", "CartPole-v1", "--seeds", "8", "--out", str(tmp_path), "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["eval_episodes"] >= 20
    assert min(summary["eval_mean"]) >= 475, summary["eval_mean"]


@pytest.mark.slow
def test_memory_chain_needs_the_gru(tmp_path):
    # Issue 31's bar: the tuned MemoryChain settings (a gru) reach an eval mean >= 0.9 on 4 seeds;
    # the same with an mlp stays at chance (<= 0.3): it cannot see the context bit when it acts.
    for policy, out in (("gru", tmp_path / "gru"), ("mlp", tmp_path / "mlp")):
        assert main(["train", "--env", "MemoryChain-bsuite", "--policy", policy, "--seeds", "4", "--out", str(out),
                     "--quiet"]) == 0
    gru = json.loads((tmp_path / "gru" / "summary.json").read_text())
    mlp = json.loads((tmp_path / "mlp" / "summary.json").read_text())
    assert sum(gru["eval_mean"]) / 4 >= 0.9 and min(gru["eval_mean"]) >= 0.9, gru["eval_mean"]
    assert sum(mlp["eval_mean"]) / 4 <= 0.3, mlp["eval_mean"]


@pytest.mark.slow
def test_train_stops_at_its_target(tmp_path):
    # --target in train as in sweep: every seed's training return >= 30 stops the run early
    assert main(["train", "--env", "CartPole-v1", "--seeds", "2", "--target", "30", "--progress-every", "2",
                 "--out", str(tmp_path), "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["updates_done"] < 150 and summary["config"]["num_updates"] == 150, summary["updates_done"]
