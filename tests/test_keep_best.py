"""``--keep-best`` (``KeepBest``): each run's policy at its best evaluation during training, in ``OUT/best``."""

import csv
import json
import shutil
from types import SimpleNamespace

import jax
import numpy as np
import pytest

import jaxpg
from jaxpg import checkpoint, runner
from jaxpg.cli import flags, main
from jaxpg.runner import KeepBest, RunError
from jaxpg.runner.parts import keep_best

H, S = 2, 2  # the fake population: 2 points x 2 seeds
R = H * S


def _board(out, greedy=False, every=2, ckpt=None, run_id="run-1"):
    """What KeepBest reads of the loop's Board, for a population of H points x S seeds."""
    pop = SimpleNamespace(num_runs=R, run_point=np.arange(R) // S, run_seed=np.arange(R) % S,
                          gather=lambda tree: jax.tree.map(lambda x: np.asarray(x)[:R], tree))
    said = []
    board = SimpleNamespace(pop=pop, spec=SimpleNamespace(evaluation=SimpleNamespace(every=every, greedy=greedy)),
                            out=out, ckpt=ckpt, writer=SimpleNamespace(record={"run_id": run_id}), lead=True,
                            alive=np.ones(R, bool), say=said.append, extra={}, said=said)
    _set_params(board, 0)
    return board


def _set_params(board, update):
    """The runs' policy at ``update``: every entry of run r is 10 * update + r."""
    w = np.stack([np.full((3, 2), 10 * update + r, np.float32) for r in range(R)])
    board.finished = (SimpleNamespace(params={"params": {"w": w}, "obs_norm": {"mean": w[:, 0] + 0.5}}), None)


def _evaluate(part, board, update, means, other=None):
    """Feeds the part an evaluation at ``update`` whose means (in the run's mode) are ``means`` ``[R]``."""
    _set_params(board, update)
    mode, rest = ("greedy", "sampled") if board.spec.evaluation.greedy else ("sampled", "greedy")
    other = -np.asarray(means) if other is None else other
    ev = {"update": update, "env_steps": np.full((H, S), 100 * update),
          f"{mode}_mean": np.asarray(means, np.float64).reshape(H, S),
          f"{rest}_mean": np.asarray(other, np.float64).reshape(H, S)}
    part.after_chunk(board, SimpleNamespace(evaluation=ev))


def _saved_w(out):
    like = {"params": {"w": np.zeros((R, 3, 2), np.float32)}, "obs_norm": {"mean": np.zeros((R, 2), np.float32)}}
    params, meta = keep_best.read(out, like, "run-1")
    return params, meta


@pytest.mark.parametrize("greedy", [False, True])
def test_the_best_evaluation_of_each_run_is_kept_not_the_last(tmp_path, greedy):
    board = _board(tmp_path, greedy=greedy)
    part = KeepBest()
    part.start(board)
    _evaluate(part, board, 2, [1, 2, np.nan, 4])
    _evaluate(part, board, 4, [5, 1, 3, 4], other=[99, 99, 99, 99])  # the other mode never counts
    board.alive[3] = False  # run 3 stops training (diverged): a higher mean on fresh keys is no new best
    _evaluate(part, board, 6, [3, 7, 2, 9])
    best = [4, 6, 4, 2]  # a tie (run 3 at update 4) keeps the earlier one
    params, meta = _saved_w(tmp_path)
    for r, u in enumerate(best):
        np.testing.assert_array_equal(params["params"]["w"][r], 10 * u + r)
        np.testing.assert_array_equal(params["obs_norm"]["mean"][r], 10 * u + r + 0.5)
    runs = meta["runs"]
    assert [x["update"] for x in runs] == best
    assert [x["eval_mean"] for x in runs] == [5, 7, 3, 4]
    assert [x["env_steps"] for x in runs] == [100 * u for u in best]
    assert [(x["point"], x["seed"]) for x in runs] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert meta["mode"] == ("greedy" if greedy else "sampled") and meta["run_id"] == "run-1"
    assert board.extra["keep_best"]["runs"] == runs  # what the next checkpoint records
    assert [p.name for p in (tmp_path / "best").iterdir() if p.suffix == ".npz"] == [meta["state"]]


def test_nothing_is_copied_or_written_when_no_run_improved(tmp_path):
    board = _board(tmp_path)
    part = KeepBest()
    part.start(board)
    _evaluate(part, board, 2, [np.nan] * R)
    assert not (tmp_path / "best").exists() and part.params is None
    _evaluate(part, board, 4, [1, 1, 1, 1])
    before = (tmp_path / "best" / "best.json").read_text()
    _evaluate(part, board, 6, [1, 0, 1, 0])
    assert (tmp_path / "best" / "best.json").read_text() == before


def test_a_resumed_run_improves_on_the_saved_best(tmp_path):
    board = _board(tmp_path)
    part = KeepBest()
    part.start(board)
    _evaluate(part, board, 2, [5, 1, 3, 4])
    saved = {"run_id": "run-1", "keep_best": board.extra["keep_best"]}
    again = _board(tmp_path, ckpt=SimpleNamespace(meta=saved))
    part = KeepBest()
    part.start(again)
    _evaluate(part, again, 4, [4, 2, 3, 9])  # run 0 is worse than its saved best: it keeps update 2
    params, meta = _saved_w(tmp_path)
    assert [x["update"] for x in meta["runs"]] == [2, 4, 2, 4]
    np.testing.assert_array_equal(params["params"]["w"][:, 0, 0], [20, 41, 22, 43])
    assert not again.said[:-1]  # no note: the saved best was taken up


@pytest.mark.parametrize("change, note", [({"greedy": True}, "holds the best sampled evaluations"),
                                          ({"run_id": "other"}, "belongs to another run")])
def test_a_saved_best_of_another_mode_or_run_is_not_taken_up(tmp_path, change, note):
    board = _board(tmp_path)
    part = KeepBest()
    part.start(board)
    _evaluate(part, board, 2, [5, 5, 5, 5])
    saved = {"run_id": change.get("run_id", "run-1"), "keep_best": board.extra["keep_best"]}
    again = _board(tmp_path, ckpt=SimpleNamespace(meta=saved), **change)
    part = KeepBest()
    part.start(again)
    assert any(note in line and "afresh" in line for line in again.said), again.said
    _evaluate(part, again, 4, [1, 1, 1, 1])
    assert [x["update"] for x in json.loads((tmp_path / "best" / "best.json").read_text())["runs"]] == [4] * R


def test_keep_best_needs_eval_every_and_out(tmp_path):
    with pytest.raises(RunError, match="`keep_best` needs `eval_every`"):
        KeepBest().start(_board(tmp_path, every=None))
    with pytest.raises(RunError, match="`keep_best` needs `out`"):
        KeepBest().start(_board(None))
    assert flags.speak("`keep_best` needs `eval_every`") == "--keep-best needs --eval-every"


def test_a_missing_or_damaged_best_is_one_line(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="has no best policy"):
        _saved_w(tmp_path)
    board = _board(tmp_path)
    part = KeepBest()
    part.start(board)
    _evaluate(part, board, 2, [1, 2, 3, 4])
    state = tmp_path / "best" / json.loads((tmp_path / "best" / "best.json").read_text())["state"]
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 1
    state.write_bytes(bytes(data))
    with pytest.raises(checkpoint.CheckpointError, match="does not match the SHA-256"):
        _saved_w(tmp_path)


@pytest.mark.parametrize("argv, missing", [
    (["--out", "OUT"], "give --eval-every K"),
    (["--eval-every", "2"], "give --out DIR"),
])
def test_keep_best_without_eval_every_or_out_is_one_line_exit_2(tmp_path, capsys, argv, missing):
    argv = [str(tmp_path / "r") if a == "OUT" else a for a in argv]
    assert main(["train", "--keep-best", "--updates", "4", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaxpg: error: --keep-best") and missing in err, err
    assert not (tmp_path / "r").exists()


RUN = ["train", "--env", "CartPole-v1", "--seeds", "2", "--num-envs", "4", "--hidden", "8", "--max-steps", "30",
       "--eval-every", "2", "--eval-episodes", "2", "--keep-best", "--quiet"]


def _evals(out):
    with open(out / "evals.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    updates = sorted({int(r["update"]) for r in rows})
    means = np.full((2, len(updates)), np.nan)
    for r in rows:
        means[int(r["seed"]), updates.index(int(r["update"]))] = float(r["sampled_mean"])
    return np.array(updates), means


@pytest.mark.slow
def test_a_trained_run_keeps_each_seeds_best_evaluation(tmp_path, capsys):
    out = tmp_path / "r"
    assert main([*RUN, "--updates", "6", "--out", str(out)]) == 0
    updates, means = _evals(out)
    np.testing.assert_array_equal(updates, [2, 4, 6])
    best = json.loads((out / "best" / "best.json").read_text())
    assert [r["update"] for r in best["runs"]] == list(updates[np.argmax(means, axis=1)])
    np.testing.assert_allclose([r["eval_mean"] for r in best["runs"]], means.max(axis=1), rtol=1e-5)
    ck = checkpoint.load(out)
    assert ck.meta["keep_best"]["runs"] == best["runs"]
    params, _ = keep_best.read(out, ck.state.params, ck.meta["run_id"])
    for i in range(2):
        agent = jaxpg.load(out, seed_index=i, best=True)
        assert agent.updates_done == best["runs"][i]["update"] and agent.meta["best"] == best["runs"][i]
        jax.tree.map(lambda a, b, i=i: np.testing.assert_array_equal(np.asarray(a), b[i]), agent.params, params)
    # the kept params are the policy evaluated at that update: its evaluation (same keys) again
    pop = runner.Population(runner.RunSpec(ck.config, ck.hparams, seeds=2, seed=ck.root_seed))
    for u in {r["update"] for r in best["runs"]}:
        state, _ = pop.place(ck.state._replace(params=params), ck.alive)
        again = pop.evaluate(state, 2, max_steps=ck.meta["eval_max_steps"], at=u)["sampled"].mean(1)
        for i, r in enumerate(best["runs"]):
            if r["update"] == u:
                assert again[i] == pytest.approx(r["eval_mean"], rel=1e-6)
    capsys.readouterr()
    assert main(["eval", str(out), "--best", "--eval-episodes", "2"]) == 0
    assert f"(best at update {best['runs'][0]['update']})" in capsys.readouterr().out
    # export --best: the seed whose best evaluation is highest, its best params, the record in the manifest
    hub = tmp_path / "hub"
    assert main(["export", str(out), "--best", "--out", str(hub), "--eval-episodes", "10", "--max-frames", "5"]) == 0
    top = int(np.argmax([r["eval_mean"] for r in best["runs"]]))
    manifest = json.loads((hub / "jaxpg.json").read_text())
    assert manifest["seed_index"] == top and manifest["best"] == best["runs"][top]
    assert manifest["updates_done"] == best["runs"][top]["update"]
    assert json.loads((hub / "results.json").read_text())["env_steps"] == best["runs"][top]["env_steps"]
    assert "(its best evaluation during training)" in (hub / "README.md").read_text()
    exported = jaxpg.load(hub)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), b[top]), exported.params, params)
    # a resume (no --keep-best needed: the checkpoint says so) goes on from the saved best
    assert main(["train", "--resume", str(out), "--extend", "4", "--quiet"]) == 0
    updates, means = _evals(out)
    np.testing.assert_array_equal(updates, [2, 4, 6, 8, 10])
    best = json.loads((out / "best" / "best.json").read_text())
    assert [r["update"] for r in best["runs"]] == list(updates[np.argmax(means, axis=1)])
    # a run directory with no best: one line
    plain = tmp_path / "plain"
    shutil.copytree(out, plain)
    shutil.rmtree(plain / "best")
    with pytest.raises(checkpoint.CheckpointError, match="has no best policy"):
        jaxpg.load(plain, best=True)
    capsys.readouterr()
    assert main(["eval", str(plain), "--best"]) == 2
    assert "has no best policy" in capsys.readouterr().err
