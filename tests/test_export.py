"""``jaxpg export``: a Hub-ready folder, read back with huggingface_hub and safetensors."""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpg
from jaxpg import checkpoint
from jaxpg.cli import main
from jaxpg.export import load_safetensors, save_safetensors


@pytest.fixture(scope="module")
def exported(normed_run, tmp_path_factory):
    hub = tmp_path_factory.mktemp("export") / "hub"
    assert main(["export", str(normed_run), "--out", str(hub), "--eval-episodes", "12", "--max-frames", "20"]) == 0
    return normed_run, hub


def test_the_model_card_carries_the_hub_metadata(exported):
    from huggingface_hub import ModelCard, metadata_load

    run, hub = exported
    meta = metadata_load(hub / "README.md")
    results = json.loads((hub / "results.json").read_text())
    assert meta["library_name"] == "jaxpg"
    assert {"CartPole-v1", "reinforce", "reinforcement-learning", "deep-rl-class"} <= set(meta["tags"])
    (entry,) = meta["model-index"]
    (res,) = entry["results"]
    assert res["task"]["type"] == "reinforcement-learning" and res["dataset"]["name"] == "CartPole-v1"
    (metric,) = res["metrics"]
    assert metric["type"] == "mean_reward"
    assert metric["value"] == f"{results['mean_reward']:.2f} +/- {results['std_reward']:.2f}"
    assert results["n_evaluation_episodes"] == 12 and results["env_id"] == "CartPole-v1"
    card = ModelCard.load(hub / "README.md")
    assert card.data.to_dict()["model-index"][0]["name"] == "jaxpg-CartPole-v1"
    assert "![replay](replay.gif)" in card.text and (hub / "replay.gif").stat().st_size > 1000
    # the exported seed is the one with the best final score, and its card says so
    summary = json.loads((run / "summary.json").read_text())
    assert results["seed_index"] == int(np.argmax(summary["eval_score"]))
    assert f"seed {results['seed_index']} of a run of" in card.text


def test_params_round_trip_and_jaxpg_load_of_the_folder_is_the_runs_policy(exported):
    from safetensors.numpy import load_file

    run, hub = exported
    i = json.loads((hub / "results.json").read_text())["seed_index"]
    theirs = load_file(str(hub / "params.safetensors"))  # the real reader agrees with ours
    ours, meta = load_safetensors(hub / "params.safetensors")
    assert sorted(theirs) == sorted(ours) and meta["env"] == "CartPole-v1"
    ck = checkpoint.load(run)
    kernel = np.asarray(ck.state.params["params"]["Dense_0"]["kernel"])[i]
    np.testing.assert_array_equal(theirs["params.Dense_0.kernel"], kernel)
    np.testing.assert_array_equal(theirs["obs_norm.mean"], np.asarray(ck.state.params["obs_norm"]["mean"])[i])
    a, b = jaxpg.load(hub), jaxpg.load(run, seed_index=i)
    obs = jnp.array([0.2, -0.1, 0.03, 0.4])
    np.testing.assert_array_equal(a.apply(obs), b.apply(obs))
    assert a.config.obs_norm and a.config.obs_scale == 0.5
    assert a.env == "CartPole-v1" and a.config == b.config and a.hparams == b.hparams


def test_the_cards_snippet_runs(exported):
    _, hub = exported
    text = (hub / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1).replace("path/to/this/folder", str(hub))
    ns: dict = {}
    exec(compile(code, "card", "exec"), ns)  # noqa: S102
    assert ns["returns"].shape == (10,) and ns["action"] in (0, 1)


def test_safetensors_writer_handles_every_dtype_and_shape(tmp_path):
    from safetensors.numpy import load_file

    arrays = {"a.b": np.arange(6, dtype=np.float32).reshape(2, 3), "c": np.array(7, np.int32),
              "d": np.array([True, False]), "e": np.zeros((0, 4), np.float64)}
    save_safetensors(arrays, tmp_path / "x.safetensors", {"k": "v"})
    for got in (load_file(str(tmp_path / "x.safetensors")), load_safetensors(tmp_path / "x.safetensors")[0]):
        for k, v in arrays.items():
            assert got[k].dtype == v.dtype and got[k].shape == v.shape
            np.testing.assert_array_equal(got[k], v)


@pytest.mark.parametrize("argv, message", [
    (["--eval-episodes", "5"], "at least 10 for a Hub model card, got 5"),
    (["--seed-index", "7"], "seed index 7 is out of range"),
])
def test_export_bad_input_is_one_line(exported, tmp_path, capsys, argv, message):
    run, _ = exported
    assert main(["export", str(run), "--out", str(tmp_path / "h"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_exported_policy_evaluates_like_the_runs(exported):
    run, hub = exported
    i = json.loads((hub / "results.json").read_text())["seed_index"]
    key = jax.random.key(5)
    np.testing.assert_array_equal(jaxpg.load(hub).evaluate(episodes=4, key=key),
                                  jaxpg.load(run, seed_index=i).evaluate(episodes=4, key=key))


@pytest.mark.slow
def test_a_pixelcopter_export_carries_the_course_leaderboard_id(tmp_path):
    from huggingface_hub import metadata_load

    run, hub = tmp_path / "run", tmp_path / "hub"
    assert main(["train", "--env", "Pixelcopter-v0", "--seeds", "1", "--num-envs", "4", "--updates", "2",
                 "--max-steps", "20", "--eval-episodes", "2", "--quiet", "--out", str(run)]) == 0
    assert main(["export", str(run), "--out", str(hub), "--eval-episodes", "10", "--max-frames", "10"]) == 0
    results = json.loads((hub / "results.json").read_text())
    assert results["env_id"] == "Pixelcopter-PLE-v0" and results["jaxpg_env"] == "Pixelcopter-v0"
    meta = metadata_load(hub / "README.md")
    assert "Pixelcopter-PLE-v0" in meta["tags"] and meta["model-index"][0]["name"] == "jaxpg-Pixelcopter-PLE-v0"
    assert jaxpg.load(hub).env == "Pixelcopter-v0"  # the settings keep jaxpg's own id


def test_the_replay_is_a_gif_and_an_mp4_when_imageio_is_there(exported):
    from jaxpg import render

    _, hub = exported
    assert (hub / "replay.gif").is_file()
    assert (hub / "replay.mp4").is_file() == render.mp4_available()  # jaxpg[video] installed or not


@pytest.mark.parametrize("video", [True, False])
def test_export_writes_replay_mp4_when_it_can_and_says_how_when_it_cannot(normed_run, tmp_path, monkeypatch, video):
    from PIL import Image

    from jaxpg import render
    from jaxpg.export import export

    taken = []

    def fake_mp4(frames, path, fps=30):  # what write_mp4 is handed: the frames as they are drawn
        assert not isinstance(frames, np.ndarray | list)
        taken.extend(f.shape for f in frames)
        path.write_bytes(b"mp4")
        return len(taken)

    monkeypatch.setattr(render, "mp4_available", lambda: video)
    monkeypatch.setattr(render, "write_mp4", fake_mp4)
    said = []
    export(normed_run, tmp_path / "hub", episodes=10, replay_frames=5, say=said.append)
    hub = tmp_path / "hub"
    with Image.open(hub / "replay.gif") as gif:
        assert 1 <= gif.n_frames <= 6
    notes = [s for s in said if "replay.mp4" in s]
    if video:
        assert (hub / "replay.mp4").read_bytes() == b"mp4" and 2 <= len(taken) <= 6 and notes == []
        assert taken[0] == (400, 600, 3)
    else:
        assert not (hub / "replay.mp4").exists() and taken == []
        assert len(notes) == 1 and 'pip install "jaxpg[video]"' in notes[0] and "\n" not in notes[0]
