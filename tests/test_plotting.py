"""Plots of jaxpg output directories: reading metrics.csv (train and sweep layouts), the IQM
learning curves and final-score plots (valid PNGs, written atomically), and one-line errors."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxpg import plotting
from jaxpg.plotting import (
    align_curves,
    final_score_data,
    final_scores,
    learning_curve_data,
    learning_curves,
    read_run,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIELDS = ["env_steps", "mean_return", "loss", "mean_length", "entropy", "grad_norm"]


# --------------------------------------------------------------------------------------------
# Fake output directories, in the format jaxpg/cli.py writes (_metrics_csv, _sweep_metrics_csv,
# cmd_train's summary dict, cmd_sweep's sweep.json).


def _row_values(steps: int, ret: float) -> list:
    return [int(steps), f"{ret:.6g}", f"{-0.01:.6g}", f"{ret:.6g}", f"{0.69:.6g}", f"{0.5:.6g}"]


def write_train_dir(path: Path, steps: np.ndarray, returns: np.ndarray, env="CartPole-v1",
                    eval_score=None, summary=True) -> Path:
    """``steps`` and ``returns`` are [seeds, updates] (steps cumulative)."""
    path.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["seed", "update", *FIELDS])
    seeds, updates = returns.shape
    for s in range(seeds):
        for u in range(updates):
            w.writerow([s, u + 1, *_row_values(steps[s, u], returns[s, u])])
    (path / "metrics.csv").write_text(buf.getvalue())
    if summary:
        mean = [float(r) for r in returns[:, -1]]
        std = [1.0] * seeds
        score = eval_score if eval_score is not None else [m - 1.0 for m in mean]
        (path / "summary.json").write_text(json.dumps({
            "env": env, "seeds": seeds, "root_seed": 0, "eval_mean": mean, "eval_std": std,
            "eval_score": score, "eval_episodes": 32, "eval_greedy": False,
            "env_steps": int(steps[:, -1].sum()), "updates_done": updates, "interrupted": False,
            "config": {"env": env}, "hparams": {"learning_rate": 0.01, "gamma": 0.99},
        }, indent=2) + "\n")
    return path


def write_sweep_dir(path: Path, axes: dict, steps: np.ndarray, returns: np.ndarray, finished=True,
                    with_score=True) -> Path:
    """``steps`` and ``returns`` are [points, seeds, updates]; points are the grid of ``axes``,
    last axis fastest (jaxpg.sweep.grid)."""
    import itertools

    path.mkdir(parents=True, exist_ok=True)
    points = [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]
    assert len(points) == returns.shape[0]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["point", *axes, "seed", "update", *FIELDS])
    P, S, U = returns.shape
    for h in range(P):
        vals = [f"{points[h][a]:g}" for a in axes]
        for s in range(S):
            for u in range(U):
                w.writerow([h, *vals, s, u + 1, *_row_values(steps[h, s, u], returns[h, s, u])])
    (path / "metrics.csv").write_text(buf.getvalue())
    rows = []
    for h, p in enumerate(points):
        row = {"hparams": {"learning_rate": 0.01, "gamma": 0.99, "entropy_coef": 0.0, "max_grad_norm": 1.0,
                           **p}, "env_steps": int(steps[h, :, -1].sum())}
        if finished:
            mean = [float(r) for r in returns[h, :, -1]]
            row.update(eval_mean=mean, eval_std=[2.0] * S)
            if with_score:
                row["eval_score"] = [m - 2.0 for m in mean]
        rows.append(row)
    (path / "sweep.json").write_text(json.dumps({
        "env": "CartPole-v1", "seeds": S, "root_seed": 0, "axes": axes, "points": rows,
        "eval_episodes": 8, "eval_greedy": True, "env_steps": int(steps[..., -1].sum()),
        "updates_done": U, "finished": finished,
    }, indent=2) + "\n")
    return path


def _toy_curves(seeds=5, updates=12, seed=0):
    rng = np.random.default_rng(seed)
    steps = np.cumsum(rng.integers(50, 150, size=(seeds, updates)), axis=1)
    returns = np.round(20 + steps / 10 + rng.normal(scale=5, size=(seeds, updates)), 2)
    return steps, returns


@pytest.fixture
def train_dir(tmp_path):
    steps, returns = _toy_curves()
    return write_train_dir(tmp_path / "runA", steps, returns)


@pytest.fixture
def sweep_dir(tmp_path):
    rng = np.random.default_rng(1)
    steps = np.cumsum(rng.integers(50, 150, size=(4, 3, 6)), axis=2)
    returns = np.round(rng.uniform(10, 200, size=(4, 3, 6)), 2)
    return write_sweep_dir(tmp_path / "sw", {"learning_rate": [0.01, 0.003], "gamma": [0.99, 1.0]},
                           steps, returns)


def assert_valid_png(path: Path, size=None):
    from PIL import Image

    data = path.read_bytes()
    assert len(data) > 0 and data[:8] == PNG_MAGIC
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        if size is not None:
            assert im.size == size
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 10  # not one colour: axes, text and lines were drawn


def assert_no_temp_files(folder: Path, expected: set[str]):
    assert {p.name for p in folder.iterdir()} == expected


# --------------------------------------------------------------------------------------------
# read_run


def test_read_train_run(train_dir):
    steps, returns = _toy_curves()
    run = read_run(train_dir)
    assert run["layout"] == "train" and run["env"] == "CartPole-v1"
    assert run["label"] == "CartPole-v1 (runA)"
    assert run["env_steps"].shape == run["mean_return"].shape == (5, 12)
    np.testing.assert_array_equal(run["env_steps"], steps)
    np.testing.assert_allclose(run["mean_return"], returns)
    np.testing.assert_array_equal(run["seeds"], np.arange(5))
    np.testing.assert_array_equal(run["updates"], np.arange(1, 13))
    assert run["loss"].shape == (5, 12) and run["points"] == [{}] and run["axes"] == []
    assert run["meta"]["eval_episodes"] == 32


def test_read_run_row_order_does_not_matter(train_dir):
    lines = (train_dir / "metrics.csv").read_text().splitlines()
    body = lines[1:]
    np.random.default_rng(0).shuffle(body)
    (train_dir / "metrics.csv").write_text("\n".join([lines[0], *body]) + "\n")
    steps, returns = _toy_curves()
    run = read_run(train_dir)
    np.testing.assert_array_equal(run["env_steps"], steps)
    np.testing.assert_allclose(run["mean_return"], returns)


def test_read_sweep_run(sweep_dir):
    run = read_run(sweep_dir)
    assert run["layout"] == "sweep" and run["axes"] == ["learning_rate", "gamma"]
    assert run["mean_return"].shape == run["env_steps"].shape == (4, 3, 6)
    assert run["points"] == [{"learning_rate": 0.01, "gamma": 0.99}, {"learning_rate": 0.01, "gamma": 1.0},
                             {"learning_rate": 0.003, "gamma": 0.99}, {"learning_rate": 0.003, "gamma": 1.0}]
    assert run["point_labels"][2] == "learning_rate=0.003 gamma=0.99"
    assert run["label"] == "CartPole-v1 (sw)"


def test_read_run_without_json_uses_the_dir_name(tmp_path):
    steps, returns = _toy_curves(2, 3)
    d = write_train_dir(tmp_path / "bare", steps, returns, summary=False)
    run = read_run(d)
    assert run["label"] == "bare" and run["env"] is None and run["meta"] is None


def _one_line_error(fn, *args, match):
    with pytest.raises(ValueError, match=match) as info:
        fn(*args)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_read_run_errors(tmp_path, train_dir):
    _one_line_error(read_run, tmp_path / "nope", match="no such directory")
    (tmp_path / "file").write_text("x")
    _one_line_error(read_run, tmp_path / "file", match="not a directory")
    (tmp_path / "empty").mkdir()
    msg = _one_line_error(read_run, tmp_path / "empty", match="no metrics.csv")
    assert str(tmp_path / "empty") in msg


def _set_field(line: str, i: int, value: str) -> str:
    fields = line.split(",")
    fields[i] = value
    return ",".join(fields)


@pytest.mark.parametrize("mutate, match", [
    (lambda lines: [], "empty file"),
    (lambda lines: lines[:1], "no data rows"),
    (lambda lines: ["run,update,env_steps,mean_return", *lines[1:]], "header lacks column"),
    (lambda lines: ["run," + lines[0], *("0," + line for line in lines[1:])],
     "unrecognised header 'run,seed,"),
    (lambda lines: [*lines, "0,1,5"], r"line \d+: 3 fields, the header has 8"),
    (lambda lines: [lines[0], lines[1].replace("0,1,", "0,one,", 1), *lines[2:]],
     r"line 2: column 'update' needs an integer, got 'one'"),
    (lambda lines: [*lines[:4], _set_field(lines[4], 3, "abc"), *lines[5:]],
     r"line 5: column 'mean_return' needs a number, got 'abc'"),
    (lambda lines: lines[:-1], r"expected one row per seed, update \(2 x 3 = 6 rows\), got 5 rows"),
    (lambda lines: [*lines[:-1], lines[1]], "expected one row per seed, update"),
    (lambda lines: [lines[0], "0,1,50,1,0,1,0,0", "0,2,40,1,0,1,0,0", "0,3,60,1,0,1,0,0"],
     "env_steps decreases"),
])
def test_read_run_rejects_malformed_csv(tmp_path, mutate, match):
    steps, returns = _toy_curves(2, 3)
    d = write_train_dir(tmp_path / "bad", steps, returns)
    lines = (d / "metrics.csv").read_text().splitlines()
    (d / "metrics.csv").write_text("".join(line + "\n" for line in mutate(lines)))
    _one_line_error(read_run, d, match=match)


def test_read_run_rejects_bad_json(train_dir):
    (train_dir / "summary.json").write_text("{not json")
    _one_line_error(read_run, train_dir, match="summary.json: cannot read it as JSON")


# --------------------------------------------------------------------------------------------
# Learning curves


def test_align_curves_by_hand():
    # seed 0 has data on [10, 30], seed 1 on [5, 25]: the shared range is [10, 25].
    x = np.array([[10, 20, 30], [5, 15, 25]])
    y = np.array([[1.0, 2.0, 3.0], [0.0, 10.0, 20.0]])
    grid, vals = align_curves(x, y, points=4)
    np.testing.assert_allclose(grid, [10, 15, 20, 25])
    np.testing.assert_allclose(vals[0], [1.0, 1.5, 2.0, 2.5])  # 1 + (x - 10) / 10
    np.testing.assert_allclose(vals[1], [5.0, 10.0, 15.0, 20.0])  # (x - 5)
    # No shared range (one update each, different steps): one point, the last values.
    grid, vals = align_curves(np.array([[10], [20]]), np.array([[1.0], [2.0]]))
    np.testing.assert_allclose(grid, [15.0])
    np.testing.assert_allclose(vals, [[1.0], [2.0]])
    with pytest.raises(ValueError, match="seeds, updates"):
        align_curves(np.zeros((2, 3)), np.zeros((2, 4)))


def test_learning_curve_data_is_the_iqm_over_seeds(tmp_path):
    # Every seed steps 100 per update, so the common grid holds the update points themselves and
    # the curve at the ends is the IQM over seeds of the first / last returns.
    returns = np.array([[1, 5, 9], [2, 6, 10], [3, 7, 11], [100, 200, 300], [-50, -50, -50.0]])
    steps = np.tile([100, 200, 300], (5, 1))
    d = write_train_dir(tmp_path / "r", steps, returns)
    (c,) = learning_curve_data([d], reps=200, points=3)
    np.testing.assert_allclose(c["x"], [100, 200, 300])
    # 5 seeds: int(1.25) = 1 cut each end -> update 1: mean(1, 2, 3) = 2; update 3: mean(9, 10, 11) = 10
    np.testing.assert_allclose(c["iqm"], [2.0, 6.0, 10.0])
    assert np.all(c["lo"] <= c["iqm"]) and np.all(c["iqm"] <= c["hi"])
    assert c["seeds"] == 5 and c["label"] == "r"  # the env is the panel's title, not the legend's
    np.testing.assert_array_equal(c["n"], [5, 5, 5])
    (u,) = learning_curve_data(d, x="update", reps=200)
    np.testing.assert_allclose(u["x"], [1, 2, 3])
    np.testing.assert_allclose(u["iqm"], [2.0, 6.0, 10.0])


def test_learning_curves_writes_a_png(tmp_path, train_dir, sweep_dir):
    out_dir = tmp_path / "plots"
    out = learning_curves([train_dir, sweep_dir], out_dir / "curves.png",
                          hlines={"course pass (350)": 350}, reps=200)
    assert out == out_dir / "curves.png"
    assert_valid_png(out, size=(840, 540))  # 7 x 4.5 in at 120 dpi
    assert_no_temp_files(out_dir, {"curves.png"})
    curves = learning_curve_data([train_dir, sweep_dir], reps=50)
    assert [c["label"] for c in curves][:2] == ["runA", "sw: learning_rate=0.01 gamma=0.99"]
    assert len(curves) == 5 and all(len(c["x"]) == 200 for c in curves)


def test_learning_curves_by_update_with_labels(tmp_path, train_dir):
    out = learning_curves(train_dir, tmp_path / "u.png", labels=["baseline"], x="update", reps=100)
    assert_valid_png(out)
    assert_no_temp_files(tmp_path, {"runA", "u.png"})


def test_learning_curves_other_formats_and_overwrite(tmp_path, train_dir):
    svg = learning_curves([train_dir], tmp_path / "c.svg", reps=50)
    assert svg.read_text().lstrip().startswith("<?xml")
    png = tmp_path / "c.png"
    png.write_bytes(b"old")
    learning_curves([train_dir], png, reps=50)
    assert_valid_png(png)
    assert_no_temp_files(tmp_path, {"runA", "c.svg", "c.png"})


def test_learning_curves_argument_errors(tmp_path, train_dir):
    out = tmp_path / "x.png"
    _one_line_error(learning_curves, [], out, match="no run directories given")
    _one_line_error(learning_curves, [tmp_path / "missing"], out, match="no such directory")
    (tmp_path / "empty").mkdir()
    _one_line_error(learning_curves, [tmp_path / "empty"], out, match="no metrics.csv")
    with pytest.raises(ValueError, match="x must be one of 'env_steps', 'update'"):
        learning_curves([train_dir], out, x="time")
    with pytest.raises(ValueError, match="points must be a positive integer"):
        learning_curves([train_dir], out, x="update", points=0)
    with pytest.raises(ValueError, match="one label per directory"):
        learning_curves([train_dir], out, labels=["a", "b"])
    with pytest.raises(ValueError, match=r"hlines\['pass'\] must be a number"):
        learning_curves([train_dir], out, hlines={"pass": "high"})
    with pytest.raises(ValueError, match="unsupported image format '.xyz'"):
        learning_curves([train_dir], tmp_path / "x.xyz")
    assert not out.exists()


def test_failed_save_leaves_no_temp_file_and_keeps_the_old_image(tmp_path, train_dir, monkeypatch):
    from matplotlib.figure import Figure

    out = tmp_path / "c.png"
    out.write_bytes(b"previous")

    def boom(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        learning_curves([train_dir], out, reps=20)
    assert out.read_bytes() == b"previous"
    assert_no_temp_files(tmp_path, {"runA", "c.png"})


# --------------------------------------------------------------------------------------------
# Final scores


def test_final_score_data(tmp_path, sweep_dir, train_dir):
    cols = final_score_data([sweep_dir])
    assert [c["label"] for c in cols] == ["learning_rate=0.01\ngamma=0.99", "learning_rate=0.01\ngamma=1",
                                          "learning_rate=0.003\ngamma=0.99", "learning_rate=0.003\ngamma=1"]
    run = read_run(sweep_dir)
    np.testing.assert_allclose(cols[3]["scores"], run["mean_return"][3, :, -1] - 2.0)
    both = final_score_data([train_dir, sweep_dir])
    assert both[0]["label"] == "runA\nCartPole-v1" and both[1]["label"].startswith("sw\n")
    np.testing.assert_allclose(both[0]["scores"], read_run(train_dir)["mean_return"][:, -1] - 1.0)
    # Without eval_score, the score is eval_mean - eval_std.
    rng = np.random.default_rng(2)
    d = write_sweep_dir(tmp_path / "noscore", {"gamma": [0.9]}, np.cumsum(np.ones((1, 2, 3)), axis=2),
                        rng.uniform(size=(1, 2, 3)), with_score=False)
    (c,) = final_score_data(d)
    # (metrics.csv holds 6 significant digits, sweep.json the full float)
    np.testing.assert_allclose(c["scores"], read_run(d)["mean_return"][0, :, -1] - 2.0, rtol=1e-5)


def test_final_scores_writes_a_png(tmp_path, sweep_dir, train_dir):
    out = final_scores([train_dir, sweep_dir], tmp_path / "out" / "final.png",
                       hlines={"course pass (350)": 350, "random": 22})
    assert_valid_png(out)
    assert_no_temp_files(tmp_path / "out", {"final.png"})
    assert_valid_png(final_scores(sweep_dir, tmp_path / "one.png"))


def test_final_scores_errors(tmp_path, train_dir):
    out = tmp_path / "f.png"
    _one_line_error(final_scores, [tmp_path / "missing"], out, match="no such directory")
    (tmp_path / "empty").mkdir()
    _one_line_error(final_scores, [tmp_path / "empty"], out, match="no sweep.json or summary.json")
    rng = np.random.default_rng(3)
    running = write_sweep_dir(tmp_path / "running", {"gamma": [0.9, 1.0]},
                              np.cumsum(np.ones((2, 2, 3)), axis=2), rng.uniform(size=(2, 2, 3)),
                              finished=False)
    _one_line_error(final_scores, [running], out, match=r"point 0 \(gamma=0.9\) has no evaluation scores")
    summary = json.loads((train_dir / "summary.json").read_text())
    summary.update(eval_mean=None, eval_std=None, eval_score=None, interrupted=True)
    (train_dir / "summary.json").write_text(json.dumps(summary))
    _one_line_error(final_scores, [train_dir], out, match="the run has no evaluation scores")
    assert not out.exists()


def test_final_scores_iqm_marker_is_the_iqm(tmp_path, monkeypatch):
    # 2 points x 8 seeds with known final scores (eval_mean - 2, see write_sweep_dir):
    # point 0: 0, 1, 2, 3, 7, 20, 50, 90. The IQM drops the 2 lowest and the 2 highest and
    # averages the middle four: (2 + 3 + 7 + 20) / 4 = 8 (the median would be 5, the mean 21.625).
    # Point 1 adds 100 to every score: 108.
    scores = np.array([0.0, 1, 2, 3, 7, 20, 50, 90])
    returns = np.zeros((2, 8, 2))
    returns[:, :, -1] = scores + 2.0 + 100.0 * np.arange(2)[:, None]
    d = write_sweep_dir(tmp_path / "sw", {"learning_rate": [0.01, 0.003]}, np.ones((2, 8, 2)).cumsum(-1), returns)
    cols = final_score_data(d)
    np.testing.assert_array_equal([c["scores"] for c in cols], [scores, scores + 100])
    from matplotlib.axes import Axes

    drawn = []
    real = Axes.scatter

    def spy(self, x, y, *args, **kwargs):
        if kwargs.get("marker") == "D":
            drawn.append(float(np.asarray(y).ravel()[0]))
        return real(self, x, y, *args, **kwargs)

    monkeypatch.setattr(Axes, "scatter", spy)
    final_scores(d, tmp_path / "f.png")
    assert drawn == [8.0, 108.0]


# --------------------------------------------------------------------------------------------
# Import cost and the real CLI output


def test_import_leaves_pyplot_alone():
    # matplotlib is a dependency, imported at the top; figures use their own Agg canvas, never pyplot.
    code = ("import sys, jaxpg.plotting; m = sys.modules.get('matplotlib.pyplot'); "
            "assert m is None or type(m).__name__ == '_StandIn', 'pyplot loaded'")  # jaxpg.deferred's stand-in
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert plotting.__name__ == "jaxpg.plotting"


@pytest.mark.slow  # fast-tier margin: trains whole runs
def test_plots_of_a_real_train_run(tmp_path, capsys):
    from jaxpg.cli import main

    run = tmp_path / "real"
    assert main(["train", "--seeds", "2", "--num-envs", "4", "--updates", "4", "--hidden", "8",
                 "--eval-episodes", "2", "--max-steps", "50", "--out", str(run)]) == 0
    capsys.readouterr()
    data = read_run(run)
    assert data["layout"] == "train" and data["mean_return"].shape == (2, 4)
    assert np.all(np.diff(data["env_steps"], axis=1) > 0)  # cumulative: 4 episodes of >= 1 step each
    assert np.all(data["env_steps"][:, 0] >= 4)
    curves = learning_curves([run], tmp_path / "plots" / "curves.png", reps=100, hlines={"pass": 350})
    assert_valid_png(curves)
    final = final_scores([run], tmp_path / "plots" / "final.png", hlines={"pass": 350})
    assert_valid_png(final)
    assert_no_temp_files(tmp_path / "plots", {"curves.png", "final.png"})
    scores = final_score_data(run)[0]["scores"]
    summary = json.loads((run / "summary.json").read_text())
    np.testing.assert_allclose(scores, summary["eval_score"])


def test_plot_cli_writes_png_and_rejects_bad_input(normed_run, tmp_path, capsys):
    from PIL import Image

    from jaxpg.cli import main

    run = normed_run  # a real `jaxpg train --out` directory (conftest.py)
    png = tmp_path / "curve.png"
    assert main(["plot", str(run), "--out", str(png), "--pass-line", "20", "--labels", "tiny"]) == 0
    with Image.open(png) as im:
        assert im.format == "PNG" and len(im.convert("RGB").getcolors(maxcolors=1 << 20)) > 10
    box = tmp_path / "scores.png"
    assert main(["plot", str(run), "--final-scores", "--out", str(box)]) == 0
    assert box.stat().st_size > 0
    import shutil

    own = shutil.copytree(run, tmp_path / "own")  # no --out: the picture goes into the run directory
    assert main(["plot", str(own)]) == 0 and (own / "curves.png").stat().st_size > 0
    capsys.readouterr()
    for argv, message in [
        (["plot", str(tmp_path / "nope"), "--out", str(png)], "jaxpg: error: "),
        (["plot", str(run), "--out", str(png), "--labels", "a,b"], "--label has 2 names for 1 directories"),
        (["plot", str(run), "--out", str(png), "--label", "a", "--label", "b"], "--label has 2 names"),
        (["plot", str(run), "--out", str(tmp_path / "curve.png" / "x.png")], "cannot write --out"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


# --------------------------------------------------------------------------------------------
# --metric, --smooth, --log-x, evaluations during training


def test_smooth_is_a_trailing_mean_that_averages_fewer_at_the_start():
    # window 3 over 3, 6, 9, 12: 3/1, (3+6)/2, (3+6+9)/3, (6+9+12)/3
    np.testing.assert_allclose(plotting.smooth([[3.0, 6.0, 9.0, 12.0]], 3), [[3.0, 4.5, 6.0, 9.0]])
    np.testing.assert_array_equal(plotting.smooth([1.0, 5.0], 1), [1.0, 5.0])
    with pytest.raises(ValueError, match="positive integer"):
        plotting.smooth([1.0], 0)


def _write_evals(d: Path, rows):
    with (d / "evals.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seed", "update", "env_steps", "sampled_mean", "sampled_std", "sampled_score",
                    "greedy_mean", "greedy_std", "greedy_score"])
        for r in rows:
            w.writerow(r)


def test_metric_eval_draws_the_evaluations_during_training(train_dir, tmp_path):
    # 5 seeds evaluated at updates 4 and 8; seed s has sampled mean 10*s + u and greedy 100 + u.
    _write_evals(train_dir, [[s, u, 100 * u, 10 * s + u, 1.0, 10 * s + u - 1, 100 + u, 0.0, 100 + u]
                             for s in range(5) for u in (4, 8)])
    (c,) = plotting.learning_curve_data(train_dir, x="update", metric="eval", reps=50)
    np.testing.assert_array_equal(c["x"], [4, 8])
    # IQM of 10*s + u over s = 0..4 (trim 25%: drop s = 0 and 4 -> mean of s = 1, 2, 3 = 20 + u)
    np.testing.assert_allclose(c["iqm"], [24.0, 28.0])
    (g,) = plotting.learning_curve_data(train_dir, x="update", metric="greedy_score", reps=50)
    np.testing.assert_allclose(g["iqm"], [104.0, 108.0])
    (lo,) = plotting.learning_curve_data(train_dir, x="update", metric="loss", reps=50)
    assert lo["metric"] == "loss"
    out = plotting.learning_curves(train_dir, tmp_path / "e.png", metric="eval", smoothing=2, log_x=True, reps=50)
    assert_valid_png(out)


def test_metric_eval_without_evaluations_and_unknown_metrics_are_one_line(train_dir, tmp_path):
    with pytest.raises(ValueError, match="no evals.csv .train with `eval_every` K"):
        plotting.learning_curve_data(train_dir, metric="eval")
    with pytest.raises(ValueError, match="unknown metric 'return'; choose from eval, mean_return"):
        plotting.learning_curve_data(train_dir, metric="return")


def test_x_label_says_steps_are_per_seed(train_dir, tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    labels = []
    real = Axes.set_xlabel
    monkeypatch.setattr(Axes, "set_xlabel", lambda self, text, *a, **k: labels.append(text) or real(self, text))
    plotting.learning_curves(train_dir, tmp_path / "c.png", reps=50)
    assert labels == ["environment steps per seed (valid)"]


# --------------------------------------------------------------------------------------------
# Paper-ready figures: one panel per env, labels, engineering ticks, evaluations to the end,
# --size / --font-size / --ylim / --dpi, nothing clipped, the gallery


def _curve_figure(dirs, **kwargs):
    style = plotting.FigureStyle(**kwargs.pop("style", {}))
    curves = learning_curve_data(dirs, reps=50, **kwargs)
    return plotting.learning_curve_figure(curves, style=style)


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_eng_format_ticks():
    f = plotting.eng_format
    assert [f(v) for v in (1_000_000, 250_000, 0, 1_500_000)] == ["1M", "250k", "0", "1.5M"]
    assert [f(v) for v in (999, 12_500, -20_000, 999_999.9, 0.5, 2.5e9, 1_125_000)] == [
        "999", "12.5k", "-20k", "1M", "0.5", "2.5G", "1.125M"]
    assert f(661_234, digits=3) == "661k"


def test_runs_of_two_envs_get_one_panel_each(tmp_path):
    steps, returns = _toy_curves(5, 12)
    cp = write_train_dir(tmp_path / "cp", steps, returns, env="CartPole-v1")
    pc = write_train_dir(tmp_path / "pc", steps[:3], returns[:3] / 1000 - 5, env="Pixelcopter-v0")
    fig = _curve_figure([cp, pc])
    assert [ax.get_title() for ax in fig.axes] == ["CartPole-v1", "Pixelcopter-v0"]
    assert _legend(fig.axes[0]) == ["cp (n=5)"] and _legend(fig.axes[1]) == ["pc (n=3)"]
    hi0, hi1 = fig.axes[0].get_ylim()[1], fig.axes[1].get_ylim()[1]
    assert hi1 < 0 < hi0  # each panel has its own y axis: Pixelcopter is not a flat line under CartPole
    # Runs of one env keep one panel, titled with the env (and the legend does not repeat it).
    one = _curve_figure([cp, write_train_dir(tmp_path / "cp2", steps, returns + 5)])
    assert len(one.axes) == 1 and one.axes[0].get_title() == "CartPole-v1"
    assert _legend(one.axes[0]) == ["cp (n=5)", "cp2 (n=5)"]


def test_default_labels_tell_directories_of_one_name_apart(tmp_path):
    steps, returns = _toy_curves(2, 3)
    a = write_train_dir(tmp_path / "a" / "run", steps, returns)
    b = write_train_dir(tmp_path / "b" / "run", steps, returns)
    assert [c["label"] for c in learning_curve_data([a, b], reps=10)] == ["a/run", "b/run"]


def test_ticks_are_engineering_without_offset(tmp_path):
    rng = np.random.default_rng(0)
    steps = np.cumsum(rng.integers(90_000, 110_000, size=(4, 15)), axis=1)  # about 1.5M steps
    big = write_train_dir(tmp_path / "big", steps, 20_000 + steps / 20 + rng.normal(size=(4, 15)))
    fig = _curve_figure(big)
    fig.draw_without_rendering()
    ax = fig.axes[0]
    xt = [t.get_text() for t in ax.get_xticklabels()]
    assert "1M" in xt and "0" in xt and all(t[-1] in "0kM" for t in xt if t), xt
    assert all(t.get_text()[-1] == "k" for t in ax.get_yticklabels() if t.get_text()), ax.get_yticklabels()
    assert ax.xaxis.get_offset_text().get_text() == "" and ax.yaxis.get_offset_text().get_text() == ""
    # Small values that matplotlib would draw as offset + tiny steps are plain numbers.
    near = write_train_dir(tmp_path / "near", steps, 1000.0 + rng.uniform(0, 0.01, size=(4, 15)))
    fig = _curve_figure(near)
    fig.draw_without_rendering()
    assert fig.axes[0].yaxis.get_offset_text().get_text() == ""
    assert all(float(t.get_text().replace("−", "-")) > 999 for t in fig.axes[0].get_yticklabels())


def test_align_curves_extended_to_the_last_x():
    x = np.array([[10, 20, 30], [5, 15, 25]])
    y = np.array([[1.0, 2.0, 3.0], [0.0, 10.0, 20.0]])
    grid, vals = align_curves(x, y, points=5, extend=True)
    np.testing.assert_allclose(grid, [10, 15, 20, 25, 30])
    np.testing.assert_allclose(vals[0], [1.0, 1.5, 2.0, 2.5, 3.0])
    np.testing.assert_allclose(vals[1], [5.0, 10.0, 15.0, 20.0, np.nan])  # seed 1 ends at 25
    # Every seed's last x is on the grid, so the count drops exactly there.
    grid, _ = align_curves(x, y, points=2, extend=True)
    np.testing.assert_allclose(grid, [10, 25, 30])


def test_eval_curve_goes_to_the_last_evaluation_and_says_how_many_seeds(tmp_path):
    # 5 seeds evaluated at updates 1..4; seed s plays 100 + 10 s env steps per update, so its last
    # evaluation is at 400 + 40 s: the slowest ends at 400, the fastest at 560.
    steps, returns = _toy_curves(5, 4)
    d = write_train_dir(tmp_path / "r", steps, returns)
    value = {(s, u): 10.0 * s + u * u for s in range(5) for u in range(1, 5)}
    _write_evals(d, [[s, u, (100 + 10 * s) * u, value[s, u], 1.0, 0.0, 0.0, 0.0, 0.0]
                     for s in range(5) for u in range(1, 5)])
    (c,) = learning_curve_data(d, metric="eval", reps=50, points=30)
    assert c["x"][0] == 140 and c["x"][-1] == 560  # from the last first evaluation to the last evaluation
    counts = dict(zip(c["x"].tolist(), c["n"].tolist(), strict=True))
    assert counts[400.0] == 5 and counts[440.0] == 4 and counts[480.0] == 3 and counts[560.0] == 1
    assert all(n == 5 for x, n in counts.items() if x <= 400) and all(n < 5 for x, n in counts.items() if x > 400)
    # The aggregate is the IQM over the seeds present: at 480, seeds 2..4 (interpolated between
    # their evaluations); at 560, seed 4's last evaluation alone.
    from jaxpg.stats import iqm

    at = int(np.flatnonzero(c["x"] == 480)[0])
    present = [np.interp(480, [(100 + 10 * s) * u for u in range(1, 5)], [value[s, u] for u in range(1, 5)])
               for s in (2, 3, 4)]
    assert c["iqm"][at] == pytest.approx(iqm(np.array(present)))
    assert c["iqm"][-1] == pytest.approx(value[4, 4]) and c["lo"][-1] == c["hi"][-1] == pytest.approx(value[4, 4])
    # Drawn: solid while all 5 are present, dashed after; the legend gives the counts.
    fig = plotting.learning_curve_figure([c])
    ax = fig.axes[0]
    assert _legend(ax) == ["r (n=5 → 1 after 400)"]
    solid, dashed = ax.get_lines()
    assert solid.get_linestyle() == "-" and solid.get_xdata()[-1] == 400
    assert dashed.get_linestyle() == "--" and dashed.get_xdata()[0] == 400 and dashed.get_xdata()[-1] == 560
    # Training curves (metrics.csv) and curves against updates are unchanged: all seeds everywhere.
    (t,) = learning_curve_data(d, reps=20)
    assert len(t["x"]) == 200 and np.all(t["n"] == 5) and t["x"][-1] == steps[:, -1].min()
    (u,) = learning_curve_data(d, metric="eval", x="update", reps=20)
    np.testing.assert_array_equal(u["x"], [1, 2, 3, 4])
    assert np.all(u["n"] == 5)


def test_style_size_font_ylim_and_dpi(tmp_path, train_dir):
    fig = _curve_figure(train_dir, style={"size": (3.4, 2.4), "font_size": 7, "ylim": (0, 500)})
    ax = fig.axes[0]
    assert tuple(fig.get_size_inches()) == (3.4, 2.4) and ax.get_ylim() == (0, 500)
    fig.draw_without_rendering()
    assert ax.xaxis.label.get_fontsize() == 7 and ax.get_xticklabels()[0].get_fontsize() == 7
    assert ax.title.get_fontsize() == pytest.approx(7 * 1.2)  # "large"
    out = plotting.save_figure(_curve_figure(train_dir, style={"size": (8, 5), "dpi": 50}), tmp_path / "d.png")
    assert_valid_png(out, size=(400, 250))
    import matplotlib

    assert matplotlib.rcParams["font.size"] == 10  # the font size was set for that figure only


def test_figure_style_rejects_bad_values_in_one_line():
    for kwargs, match in [({"size": (0, 2)}, "above 0"), ({"size": (3,)}, "two numbers"),
                          ({"size": (float("nan"), 2)}, "finite"), ({"ylim": (5, 1)}, "LOW < HIGH"),
                          ({"ylim": "ab"}, "two numbers"), ({"font_size": "big"}, "number of points"),
                          ({"font_size": 0}, "above 0"), ({"dpi": 1}, "from 10 to 1200")]:
        _one_line_error(lambda k=kwargs: plotting.FigureStyle(**k), match=match)


def test_nothing_is_clipped(tmp_path, train_dir):
    # The two-line y label at 12 pt is taller than a 1.6 in figure: the image grows to hold it
    # rather than cut it; a figure that holds everything keeps its size exactly.
    from PIL import Image

    from jaxpg.figures import clipped

    small = _curve_figure(train_dir, style={"size": (2.5, 1.6), "font_size": 12})
    assert clipped(small)
    with Image.open(plotting.save_figure(small, tmp_path / "s.png")) as im:
        assert im.size[1] > 1.6 * 120
    fig = _curve_figure(train_dir)
    assert not clipped(fig)
    assert_valid_png(plotting.save_figure(fig, tmp_path / "n.png"), size=(840, 540))


def test_plot_cli_labels_style_and_panels(tmp_path, monkeypatch, capsys):
    from jaxpg.cli import main

    steps, returns = _toy_curves(5, 6)
    a = write_train_dir(tmp_path / "a", steps, returns)
    b = write_train_dir(tmp_path / "b", steps, returns + 10)
    pc = write_train_dir(tmp_path / "pc", steps, returns / 100, env="Pixelcopter-v0")
    drawn = []
    real = plotting.save_figure
    monkeypatch.setattr(plotting, "save_figure", lambda fig, out: drawn.append(fig) or real(fig, out))
    png = tmp_path / "figs" / "new" / "c.png"  # missing directories are created
    assert main(["plot", str(a), str(b), "--label", "A", "--label", "B", "--ylim", "-5,300", "--size", "4,3",
                 "--font-size", "8", "--out", str(png)]) == 0
    (fig,) = drawn
    assert _legend(fig.axes[0]) == ["A (n=5)", "B (n=5)"] and fig.axes[0].get_ylim() == (-5, 300)
    assert tuple(fig.get_size_inches()) == (4, 3)
    assert_valid_png(png, size=(480, 360))
    assert main(["plot", str(a), str(b), "--label", "A,B", "--out", str(png)]) == 0
    assert _legend(drawn[-1].axes[0]) == ["A (n=5)", "B (n=5)"]
    assert main(["plot", str(a), str(pc), "--out", str(png)]) == 0
    assert [ax.get_title() for ax in drawn[-1].axes] == ["CartPole-v1", "Pixelcopter-v0"]
    # --final-scores takes the style too.
    assert main(["plot", str(a), "--final-scores", "--ylim", "0,900", "--out", str(tmp_path / "f.png")]) == 0
    capsys.readouterr()
    for flags, message in [
        (["--size", "3"], "argument --size: expected WIDTH,HEIGHT in inches"),
        (["--size", "0,2"], "argument --size: expected WIDTH,HEIGHT in inches, each above 0"),
        (["--size", "a,b"], "argument --size: expected WIDTH,HEIGHT"),
        (["--ylim", "5,1"], "argument --ylim: expected LOW,HIGH with LOW < HIGH, got 5,1"),
        (["--ylim", "0"], "argument --ylim: expected LOW,HIGH"),
        (["--font-size", "-1"], "argument --font-size: expected a number of points above 0"),
        (["--dpi", "0"], "argument --dpi: expected a number of pixels per inch"),
        (["--search", "--size", "3,2"], "not --search"),
    ]:
        assert main(["plot", str(a), "--out", str(tmp_path / "x.png"), *flags]) == 2, flags
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("jaxpg: error: ") and message in err, err
    assert not (tmp_path / "x.png").exists()


def _gallery_commands() -> tuple[list[str], list[str]]:
    """The ``jaxpg`` commands of docs/gallery.md's bash blocks, and experiments/gallery.py's COMMANDS."""
    import importlib.util
    import re
    import shlex

    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "gallery.md").read_text()
    blocks = re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)
    shown = [shlex.join(shlex.split(line)) for b in blocks for line in b.splitlines() if line.startswith("jaxpg ")]
    spec = importlib.util.spec_from_file_location("gallery", root / "experiments" / "gallery.py")
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    return shown, [shlex.join(shlex.split(c)) for c in gallery.COMMANDS]


def test_gallery_page_shows_the_commands_that_draw_it():
    shown, run = _gallery_commands()
    assert shown == run
    root = Path(__file__).resolve().parents[1]
    pngs = [c.split("--out ")[1].split()[0] for c in run if c.startswith("jaxpg plot")]
    text = (root / "docs" / "gallery.md").read_text()
    for png in pngs:
        assert (root / png).is_file() and (root / png).stat().st_size < 110_000, png
        assert f"]({png.removeprefix('docs/')})" in text, png
