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
