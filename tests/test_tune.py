"""Search (issue 30): spaces and draws, PBT's exploit and explore, successive halving's rungs and
refills, the same key giving the same lineage, resume, and ``jaxpg tune``'s one-line errors."""

import json
import os
import signal

import jax
import numpy as np
import pytest

from jaxpg import Config, checkpoint, runner
from jaxpg.cli import main
from jaxpg.plotting import final_score_data
from jaxpg.runner.space import Space, draw, explore_rng
from jaxpg.scores import censor, seed_scores
from jaxpg.tune import TuneSpec, score, tune, tune_resume

CFG = Config(env="CartPole-v1", num_envs=2, hidden=(4,), max_steps=20, num_updates=6, lr_schedule="constant")
LR = Space.parse("learning_rate", "1e-3..1e-1")
ENT = Space.parse("entropy_coef", "0..0.05")


# ------------------------------------------------------------------------------ spaces
def test_spaces_parse_draw_and_stay_in_range():
    assert LR.log and not ENT.log and Space.parse("gamma", "0.9,0.99,1").choices == (0.9, 0.99, 1.0)
    a = [draw([LR, ENT], seed=3, trial=t) for t in range(50)]
    assert a == [draw([LR, ENT], seed=3, trial=t) for t in range(50)]  # the same key, the same trials
    assert a != [draw([LR, ENT], seed=4, trial=t) for t in range(50)]
    lrs = np.array([x["learning_rate"] for x in a])
    assert np.all((lrs >= 1e-3) & (lrs <= 1e-1))
    # log-uniform: about half the draws below the geometric midpoint 1e-2 (uniform would put ~9% there)
    assert 0.25 < np.mean(lrs < 1e-2) < 0.75
    for t in range(200):  # explore never leaves the range, and changes the value by x0.8 or x1.2 inside it
        rng = explore_rng(0, t, 1)
        v = LR.perturb(0.09, rng)
        assert 1e-3 <= v <= 1e-1 and (np.isclose(v, 0.072) or np.isclose(v, 0.1))


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Space.parse("hidden", "8..64"), "not searchable in one program"),
    (lambda: Space.parse("learning_rate", "1..x"), "takes LOW..HIGH or A,B,C"),
    (lambda: Space.parse("learning_rate", "0.1..0.01"), "is empty"),
    (lambda: Space.parse("gamma", "0.9..1.5"), "gamma must be in"),
    (lambda: TuneSpec((LR,), trials=4, population=2, scheduler="pbt"), "give `trials` equal to `population`"),
    (lambda: TuneSpec((LR,), trials=4, population=2, metric="steps-to:x"), "`metric` must be"),
    (lambda: TuneSpec((), trials=4, population=2), "at least one searched field"),
])
def test_bad_searches_are_refused_in_one_line(make, message):
    with pytest.raises(runner.RunError, match=message):
        make()


def test_scores_by_metric_hand_computed():
    r = [0.0, 10.0, 20.0, 30.0]
    assert score(r, [1, 2, 3, 4], "final") == 30.0  # the last tenth: one update
    assert score(r, [1, 2, 3, 4], "auc") == 15.0  # (0 + 10 + 20 + 30) / 4
    # 10-update running means (the window not yet full): 0, 1, 3, 6 -> reaches 3 at update 3, after 3 steps
    assert score(r, [1, 2, 3, 4], "steps-to:3") == -3.0
    assert score(r, [1, 2, 3, 4], "steps-to:100") == -np.inf
    # per seed, then censored for averaging: seed 1 never reaches 3 (running means 0, 0.1, 0.2, 0.3)
    per, never = seed_scores([r, [0, 1, 1, 1]], [[1, 2, 3, 4], [5, 6, 7, 8]], "steps-to:3")
    assert per.tolist() == [-3.0, -np.inf] and never == 1
    assert censor([per], [np.array([4, 8]), np.array([9])]) == 9  # the most steps any compared seed ran
    assert per.tolist() == [-3.0, -9.0]


# ------------------------------------------------------------------------------ PBT
class _AtSync(runner.Part):
    """Records, after the search's part, the state and hyperparameters at an update."""

    def __init__(self, at):
        self.at, self.seen = at, None

    def after_chunk(self, board, chunk):
        if chunk.updates_done == self.at:
            st = board.pop.gather_state(board.finished[0])
            hp = jax.tree.map(lambda x: np.asarray(board.pop.gather(x)), board.hp)
            self.seen = (st, hp, json.loads(json.dumps(board.extra["search"]["state"])))


def _pbt(seed=0, parts=(), out=None):
    search = TuneSpec((LR, ENT), trials=4, population=4, scheduler="pbt", interval=2, fraction=0.25)
    return tune(CFG, search, seeds=2, seed=seed, out=out, parts=parts, handle_signals=False)


@pytest.mark.slow  # a PBT population trained to its first exploit (~7 s cold): the slow tier
def test_pbt_exploit_copies_exactly_and_explore_stays_in_range():
    rec = _AtSync(2)
    result = _pbt(parts=[rec])
    st, hp, search = rec.seen
    copied = [(i, t["history"][-1]) for i, t in enumerate(search["trials"]) if len(t["history"]) > 1]
    assert len(copied) == 1  # a quarter of 4 slots
    dst, h = copied[0]
    src = h["parent"]
    assert h["update"] == 2 and src != dst
    runs = lambda slot: np.arange(2) + 2 * slot  # noqa: E731 - slot s holds runs 2s, 2s+1 (2 seeds)
    same = jax.tree.map(lambda x: np.array_equal(x[runs(dst)], x[runs(src)]), st._replace(key=None))
    assert jax.tree.all(same)  # parameters, optimiser state, statistics, update count: exact copies
    assert not np.array_equal(st.key[runs(dst)], st.key[runs(src)])  # its key is folded apart
    src_hp = search["trials"][src]["hparams"]
    for s in (LR, ENT):
        v = float(hp.__getattribute__(s.field)[runs(dst)[0]])
        assert s.low <= v <= s.high and np.isclose(v, h["hparams"][s.field], rtol=1e-6)
        ratio = h["hparams"][s.field] / src_hp[s.field] if src_hp[s.field] else None
        assert ratio is None or np.isclose(ratio, 0.8) or np.isclose(ratio, 1.2) or v in (s.low, s.high)
    assert result.record["best"] is not None and all(t["updates"] == 6 for t in result.record["trials"])


@pytest.mark.slow
def test_the_same_key_gives_the_same_trials_and_lineage():
    a, b, c = _pbt(seed=1).record, _pbt(seed=1).record, _pbt(seed=2).record
    assert [t["history"] for t in a["trials"]] == [t["history"] for t in b["trials"]]
    assert [t["score"] for t in a["trials"]] == [t["score"] for t in b["trials"]]
    assert [t["history"] for t in a["trials"]] != [t["history"] for t in c["trials"]]


# ------------------------------------------------------------------------------ halving
@pytest.mark.slow
def test_halving_keeps_the_top_of_each_rung_and_refills_the_slots():
    base = dict(trials=9, population=3, eta=3)
    halving = tune(CFG, TuneSpec((LR,), scheduler="halving", min_updates=2, **base), seeds=2,
                   handle_signals=False).record
    random = tune(CFG, TuneSpec((LR,), scheduler="none", **base), seeds=2, handle_signals=False).record
    assert len(halving["trials"]) == len(random["trials"]) == 9  # every trial ran: the slots were refilled
    statuses = [t["status"] for t in halving["trials"]]
    assert statuses.count("stopped") >= 3 and "finished" in statuses
    for t in halving["trials"]:  # a trial stops at a rung (2 updates: rung 1) or trains its budget (6)
        assert t["updates"] in (2, 6) or t["status"] == "diverged"
    # at rung 1 (2 updates) only the top third of the scores seen so far went on
    assert halving["env_steps"] < random["env_steps"]  # stopped trials spent no more steps
    assert all(t["status"] == "finished" and t["updates"] == 6 for t in random["trials"])


# ------------------------------------------------------------------------------ resume
class _Interrupt(runner.Part):
    def after_chunk(self, board, chunk):
        if chunk.updates_done >= 4:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.slow
def test_a_resumed_search_ends_where_the_uninterrupted_one_does(tmp_path):
    search = TuneSpec((LR,), trials=6, population=3, scheduler="halving", eta=3, min_updates=2)
    whole = tune(CFG, search, seeds=2, out=tmp_path / "whole", handle_signals=False)
    part = tune(CFG, search, seeds=2, out=tmp_path / "split", parts=[_Interrupt()])
    assert part.record["interrupted"] == "SIGINT"
    done = tune_resume(tmp_path / "split", handle_signals=False)
    strip = lambda r: [{k: t[k] for k in ("hparams", "status", "updates", "env_steps", "history", "score")}  # noqa: E731
                       for t in r["trials"]]
    assert strip(done.record) == strip(whole.record) and done.record["best"] == whole.record["best"]
    a, b = checkpoint.load(tmp_path / "whole", whole=True), checkpoint.load(tmp_path / "split", whole=True)
    fix = lambda s: s._replace(key=jax.random.key_data(s.key))  # noqa: E731
    assert jax.tree.all(jax.tree.map(np.array_equal, fix(a.state), fix(b.state)))


# ------------------------------------------------------------------------------ the command
@pytest.mark.slow  # fast-tier margin: trains or compiles whole runs
def test_tune_command_writes_tune_json_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "t"
    argv = ["tune", "--env", "CartPole-v1", "--num-envs", "2", "--hidden", "4", "--max-steps", "20", "--updates", "4",
            "--lr", "1e-3..1e-1", "--gamma", "0.95", "--trials", "4", "--population", "2", "--seeds", "2", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    rec = json.loads((out / "tune.json").read_text())
    assert len(rec["trials"]) == 4 and rec["best"] in rec["ranking"] and "score = final" in text
    assert all(t["hparams"].keys() == {"learning_rate"} for t in rec["trials"])
    assert checkpoint.load(out, 0).hparams.gamma == pytest.approx(0.95)  # a single value fixes the field
    assert main(["tune", "--resume", str(out)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    # compare reads each trial's seeds from its slot's rows of metrics.csv: the mean over seeds of
    # their `final` scores is the trial's score in tune.json (the last tenth of 4 updates: one update)
    cols = final_score_data([out], point=[2, 0], metric="final")
    assert [c["label"].split("\n")[0] for c in cols] == ["trial 2", "trial 0"]
    for c, t in zip(cols, (2, 0), strict=True):
        assert c["scores"].shape == (2,) and c["scores"].mean() == pytest.approx(rec["trials"][t]["score"])
    assert main(["compare", str(out), "--points", "2,0", "--metric", "auc", "--reps", "50"]) == 0
    assert "A = trial 2" in capsys.readouterr().out
    assert main(["compare", str(out)]) == 2
    assert "no evaluation scores; choose --metric final" in capsys.readouterr().err
    for bad, message in ((["--hidden", "4..8"], "--hidden"), (["--scheduler", "pbt"], "--trials equal to --population"),
                         (["--lr", "1..x"], "--lr takes LOW..HIGH"), (["--metric", "best"], "--metric must be")):
        assert main([*argv[:-1], *bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert main(["sweep", "--resume", str(out)]) == 2
    assert "holds a search" in capsys.readouterr().err

