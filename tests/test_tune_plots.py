"""The figure of a `jaxpg tune` search (jaxpg.tune_plots): tune.json records written by hand (no
training), the step lines and PBT connectors against hand-computed segments, the score points
(steps-to negated back, -inf and diverged left out of the scatter), valid PNGs and one-line
errors for a missing or malformed tune.json."""

import json
import math

import numpy as np
import pytest

from jaxpg.tune_plots import lineage_segments, metric_words, read_tune, score_points, tune_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPACES = [{"field": "learning_rate", "low": 1e-3, "high": 1e-1, "choices": None, "log": True},
          {"field": "entropy_coef", "low": 0.0, "high": 0.02, "choices": None, "log": False}]


def _entry(update, parent, lr, ent):
    return {"update": update, "parent": parent, "hparams": {"learning_rate": lr, "entropy_coef": ent}}


def _trial(index, history, status="finished", updates=6, score=0.0, started_at=0):
    last = history[-1]["hparams"]
    return {"index": index, "hparams": dict(last), "status": status, "updates": updates, "env_steps": 100 * updates,
            "history": history, "score": score, "started_at": started_at}


def _record(trials, scheduler="pbt", metric="final", best=0, spaces=SPACES):
    return {"metric": metric, "scheduler": {"scheduler": scheduler, "trials": len(trials), "population": len(trials),
                                            "metric": metric, "spaces": spaces},
            "root_seed": 0, "seeds": 2, "budget": 6, "env_steps": sum(t["env_steps"] for t in trials), "best": best,
            "ranking": list(range(len(trials))), "trials": trials, "interrupted": None}


def _write(tmp_path, record, name="tune"):
    d = tmp_path / name
    d.mkdir()
    (d / "tune.json").write_text(json.dumps(record))  # -inf is written as -Infinity, as tune.py's json does
    return d


# PBT, interval 2, budget 6: trial 1 copies trial 0 at update 2; trial 2 copies trial 0 at update 2
# and trial 1 at update 4.
PBT = _record([
    _trial(0, [_entry(0, None, 0.01, 0.005)], score=100.0),
    _trial(1, [_entry(0, None, 0.001, 0.01), _entry(2, 0, 0.012, 0.006)], score=80.0),
    _trial(2, [_entry(0, None, 0.05, 0.0), _entry(2, 0, 0.008, 0.004), _entry(4, 1, 0.0144, 0.0072)], score=90.0),
])

# Halving, budget 6, population 2: slot-refills start at later loop updates (started_at).
HALVING = _record([
    _trial(0, [_entry(0, None, 0.002, 0.001)], status="stopped", updates=2, score=20.0),
    _trial(1, [_entry(0, None, 0.03, 0.01)], status="finished", updates=6, score=150.0),
    _trial(2, [_entry(0, None, 0.004, 0.015)], status="stopped", updates=2, score=25.0, started_at=2),
    _trial(3, [_entry(0, None, 0.02, 0.002)], status="running", updates=0, score=-math.inf, started_at=4),
], scheduler="halving", best=1)


def test_pbt_lineage_segments_match_hand_computed():
    lin = lineage_segments(PBT, "learning_rate")
    # x = started_at (0) + the entry's update; each value holds until the next entry, the last until 0 + 6.
    assert lin.steps[0] == [((0, 0.01), (6, 0.01))]
    assert lin.steps[1] == [((0, 0.001), (2, 0.001)), ((2, 0.012), (6, 0.012))]
    assert lin.steps[2] == [((0, 0.05), (2, 0.05)), ((2, 0.008), (4, 0.008)), ((4, 0.0144), (6, 0.0144))]
    # connectors: from the parent's value at that update to the new value.
    assert lin.links[0] == []
    assert lin.links[1] == [((2, 0.01), (2, 0.012))]  # trial 0 holds 0.01 at update 2
    # trial 1 at update 4 holds its update-2 value 0.012 (0.012 * 1.2 = 0.0144, PBT's explore)
    assert lin.links[2] == [((2, 0.01), (2, 0.008)), ((4, 0.012), (4, 0.0144))]
    ent = lineage_segments(PBT, "entropy_coef")
    assert ent.links[2] == [((2, 0.005), (2, 0.004)), ((4, 0.006), (4, 0.0072))]


def test_halving_segments_start_at_started_at():
    lin = lineage_segments(HALVING, "learning_rate")
    assert lin.steps[0] == [((0, 0.002), (2, 0.002))]  # 0 + 2 updates, then stopped
    assert lin.steps[1] == [((0, 0.03), (6, 0.03))]
    assert lin.steps[2] == [((2, 0.004), (4, 0.004))]  # refilled at loop update 2: 2 .. 2 + 2
    assert lin.steps[3] == [((4, 0.02), (4, 0.02))]  # started at 4, no update yet
    assert all(v == [] for v in lin.links.values())
    pts = score_points(HALVING, "learning_rate")
    assert [(p["index"], p["y"], p["status"]) for p in pts["points"]] == [
        (0, 20.0, "stopped"), (1, 150.0, "finished"), (2, 25.0, "stopped")]
    assert pts["untrained"] == [3] and pts["never"] == [] and pts["diverged"] == []


def test_change_without_parent_draws_a_riser():
    rec = _record([_trial(0, [_entry(0, None, 0.01, 0.0), _entry(3, None, 0.02, 0.0)], updates=5, started_at=1)])
    lin = lineage_segments(rec, "learning_rate")
    # x: 1 + 0 = 1 and 1 + 3 = 4; end 1 + 5 = 6; the own change is a solid vertical at 4.
    assert lin.steps[0] == [((1, 0.01), (4, 0.01)), ((4, 0.01), (4, 0.02)), ((4, 0.02), (6, 0.02))]
    assert lin.links[0] == []


def test_steps_to_scores_are_positive_and_never_is_left_out(tmp_path):
    rec = _record([
        _trial(0, [_entry(0, None, 0.01, 0.005)], score=-1200.0),
        _trial(1, [_entry(0, None, 0.02, 0.004)], score=-math.inf),
        _trial(2, [_entry(0, None, 0.03, 0.003)], status="diverged", updates=3, score=-900.0),
        _trial(3, [_entry(0, None, 0.04, 0.002)], score=-800.0),
    ], scheduler="none", metric="steps-to:475", best=3)
    pts = score_points(rec, "learning_rate")
    assert [(p["index"], p["y"]) for p in pts["points"]] == [(0, 1200.0), (3, 800.0)]  # -(-1200), -(-800)
    assert pts["never"] == [1] and [d["index"] for d in pts["diverged"]] == [2]
    assert metric_words("steps-to:475") == "steps-to:475: env steps until return reaches 475 (fewer is better)"
    out, axes = tune_figure(_write(tmp_path, rec), tmp_path / "fig" / "steps.png", return_axes=True)
    assert out.read_bytes()[:8] == PNG_MAGIC
    title = axes[0, 0].figure.get_suptitle()
    assert "1 trial never reached 475 (not shown)" in title and "1 diverged" in title
    assert "fewer is better" in axes[1, 0].get_ylabel().replace("\n", " ")
    # the scatter holds the two plotted scores (the best is ringed on top of its point)
    ys = sorted(y for c in axes[1, 0].collections for y in np.asarray(c.get_offsets())[:, 1]
                if c.get_offset_transform() is axes[1, 0].transData)
    assert ys == [800.0, 800.0, 1200.0]


def test_pbt_figure_draws_the_lineage(tmp_path):
    out, axes = tune_figure(_write(tmp_path, PBT), tmp_path / "pbt.png", title="my search", return_axes=True)
    assert out.exists() and out.stat().st_size > 0 and out.read_bytes()[:8] == PNG_MAGIC
    assert axes.shape == (2, 2)
    assert axes[0, 0].get_yscale() == "log" and axes[1, 0].get_xscale() == "log"  # learning_rate: log space
    assert axes[0, 1].get_yscale() == "linear" and axes[1, 1].get_xscale() == "linear"
    dashed = sorted(tuple(map(tuple, np.asarray(ln.get_xydata()))) for ln in axes[0, 0].get_lines()
                    if ln.get_linestyle() == "--")
    want = sorted(seg for segs in lineage_segments(PBT, "learning_rate").links.values() for seg in segs)
    assert dashed == want  # three connectors, drawn where lineage_segments puts them
    best = [ln for ln in axes[0, 0].get_lines() if ln.get_label().startswith("best")]
    assert len(best) == 1 and best[0].get_linewidth() > 2 and "trial 0" in best[0].get_label()
    assert axes[0, 0].figure.get_suptitle() == "my search"


def test_halving_figure_and_one_field_many_trials(tmp_path):
    assert tune_figure(_write(tmp_path, HALVING, "h"), tmp_path / "h.svg").read_text().lstrip().startswith("<?xml")
    space = [{"field": "gamma", "low": None, "high": None, "choices": [0.9, 0.99, 1.0], "log": False}]
    trials = [{**_trial(i, [{"update": 0, "parent": None, "hparams": {"gamma": [0.9, 0.99, 1.0][i % 3]}}],
                        score=float(i)), "hparams": {"gamma": [0.9, 0.99, 1.0][i % 3]}} for i in range(14)]
    out, axes = tune_figure(_write(tmp_path, _record(trials, scheduler="none", metric="auc", best=13,
                                                     spaces=space), "c"), tmp_path / "c.png", return_axes=True)
    assert out.read_bytes()[:8] == PNG_MAGIC and axes.shape == (2, 1)
    assert list(axes[0, 0].get_yticks()) == [0.9, 0.99, 1.0]
    assert axes[1, 0].get_ylabel().replace("\n", " ") == "score — auc: mean training return over the run"


def test_missing_tune_json_raises(tmp_path):
    with pytest.raises(ValueError, match=r"no tune\.json"):
        tune_figure(tmp_path, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("breakage, match", [
    (lambda r: r.pop("trials"), "no 'trials' list"),
    (lambda r: r["trials"][1].pop("history"), "trial 1 has no 'history'"),
    (lambda r: r["trials"][2]["history"][1].update(parent=7), "parent 7"),
    (lambda r: r.update(metric="median"), "unknown metric"),
    (lambda r: r.update(best=5), "'best' is 5"),
    (lambda r: r["trials"][0].update(status="done"), "status 'done'"),
    (lambda r: r["scheduler"].update(spaces=[]), "scheduler.spaces"),
])
def test_malformed_tune_json_raises_one_line(tmp_path, breakage, match):
    rec = json.loads(json.dumps(PBT))
    breakage(rec)
    d = _write(tmp_path, rec)
    with pytest.raises(ValueError, match=match) as e:
        tune_figure(d, tmp_path / "x.png")
    assert "\n" not in str(e.value) and "tune.json" in str(e.value)


def test_not_json_and_bad_format_raise(tmp_path):
    d = tmp_path / "t"
    d.mkdir()
    (d / "tune.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"tune\.json: cannot read it as JSON"):
        read_tune(d)
    with pytest.raises(ValueError, match="unsupported image format"):
        tune_figure(_write(tmp_path, PBT, "ok"), tmp_path / "x.xyz")
    with pytest.raises(ValueError, match="'gamma' was not searched"):
        lineage_segments(PBT, "gamma")


def test_plot_command_draws_a_search_and_refuses_a_run_dir(tmp_path, capsys):
    from jaxpg.cli import main

    d = _write(tmp_path, HALVING)
    assert main(["plot", str(d), "--search", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG_MAGIC and "wrote" in capsys.readouterr().out
    (tmp_path / "run").mkdir()
    assert main(["plot", str(tmp_path / "run"), "--search", "--out", str(tmp_path / "r.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no tune.json" in err
