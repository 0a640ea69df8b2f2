"""``jaxpg compare`` and the performance-profile plot: the printed numbers (hand-computed), sweep
points and shared labels as runs and tasks, one-line errors, and the docs/compare.md example."""

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from jaxpg import stats
from jaxpg.cli import compare
from jaxpg.cli.common import Parser, UsageError
from jaxpg.plotting import performance_profiles, performance_profiles_from_scores
from tests.test_plotting import write_sweep_dir

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^B = (?P<b>.+) vs A: IQM (?P<iqm_b>-?[\d.]+) vs (?P<iqm_a>-?[\d.]+), "
                  r"B - A (?P<diff>[+-][\d.]+) \[(?P<dlo>[+-][\d.]+), (?P<dhi>[+-][\d.]+)\]; "
                  r"P\(B > A\) = (?P<p>[\d.]+) \[(?P<plo>[\d.]+), (?P<phi>[\d.]+)\]; "
                  r"seeds (?P<nb>\d+) vs (?P<na>\d+)(?P<per>.*)$")


def write_run(path: Path, scores, env="CartPole-v1", std=1.0, with_score=True, evaluated=True) -> Path:
    """A ``jaxpg train`` --out directory's summary.json (the keys cmd_train writes)."""
    path.mkdir(parents=True, exist_ok=True)
    seeds = len(scores)
    summary = {"env": env, "seeds": seeds, "root_seed": 0, "eval_episodes": 32, "eval_greedy": False,
               "updates_done": 40, "interrupted": False, "finished": True, "config": {"env": env},
               "hparams": {"learning_rate": 0.01, "gamma": 0.99}}
    if evaluated:
        summary.update(eval_mean=[float(s) + std for s in scores], eval_std=[std] * seeds)
        if with_score:
            summary["eval_score"] = [float(s) for s in scores]
    (path / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return path


def parse(argv):
    parser = Parser(prog="jaxpg")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    compare.add_parsers(sub)
    return parser.parse_args(["compare", *map(str, argv)])


def run(argv, capsys) -> list[str]:
    assert compare.cmd_compare(parse(argv)) == 0
    return capsys.readouterr().out.splitlines()


def error(argv, capsys) -> str:
    with pytest.raises(UsageError) as e:
        compare.cmd_compare(parse(argv))
    message = str(e.value)
    assert message and "\n" not in message, message  # one line
    assert capsys.readouterr().out == ""  # refused before printing any result
    return message


def pairs(lines: list[str]) -> list[dict]:
    out = []
    for line in lines[1:]:
        m = LINE.match(line)
        assert m, line
        out.append(m.groupdict())
    return out


# --------------------------------------------------------------------------------------------
# The numbers


def test_two_runs_hand_computed(tmp_path, capsys):
    a = write_run(tmp_path / "a", [10, 20, 30, 40])
    b = write_run(tmp_path / "b", [25, 35, 45, 55, 65])
    lines = run([a, b, "--reps", "500"], capsys)
    assert len(lines) == 2
    assert lines[0].startswith("A = a (CartPole-v1): score per seed = eval: mean - std")
    (p,) = pairs(lines)
    # IQM(A): 4 seeds, int(0.25 * 4) = 1 cut from each end -> mean(20, 30) = 25
    # IQM(B): 5 seeds, int(1.25) = 1 cut -> mean(35, 45, 55) = 45; B - A = +20
    # P(B > A): 25 beats 10, 20 (2); 35 beats 3; 45, 55, 65 beat all 4 (12) -> 17 / (5 * 4) = 0.85
    assert p["b"] == "b (CartPole-v1)"
    assert (p["iqm_b"], p["iqm_a"], p["diff"], p["p"]) == ("45.00", "25.00", "+20.00", "0.850")
    assert (p["nb"], p["na"], p["per"]) == ("5", "4", "")
    # the intervals are compare(B, A)'s, printed to 2 / 3 decimals
    c = stats.compare([25, 35, 45, 55, 65], [10, 20, 30, 40], reps=500, seed=0)
    assert (p["dlo"], p["dhi"]) == tuple(f"{v:+.2f}" for v in c.iqm_diff_ci)
    assert (p["plo"], p["phi"]) == tuple(f"{v:.3f}" for v in c.prob_improvement_ci)
    assert float(p["dlo"]) <= 20 <= float(p["dhi"]) and float(p["plo"]) <= 0.85 <= float(p["phi"])
    # the same command prints the same lines (seeded bootstrap)
    assert run([a, b, "--reps", "500"], capsys) == lines


def test_every_run_is_compared_with_the_first(tmp_path, capsys):
    a = write_run(tmp_path / "a", [1, 2, 3])
    b = write_run(tmp_path / "b", [2, 2, 2])
    c = write_run(tmp_path / "c", [0, 0, 9, 9])
    lines = run([a, b, c, "--labels", "base,flat,split"], capsys)
    assert lines[0].startswith("A = base:")
    pb, pc = pairs(lines)
    # flat vs base: P(B > A) = pairs (2 vs 1, 2, 3) = 1 + 0.5 + 0 per seed, 3 seeds: 4.5 / 9 = 0.5;
    # IQM (3 seeds, nothing cut) 2 vs 2 -> +0.00
    assert (pb["b"], pb["iqm_b"], pb["iqm_a"], pb["diff"], pb["p"]) == ("flat", "2.00", "2.00", "+0.00", "0.500")
    # split vs base: 0 beats none, 9 beats all 3: (0 + 0 + 3 + 3) / (4 * 3) = 0.5;
    # IQM(0, 0, 9, 9) cuts 1 each end -> mean(0, 9) = 4.5; 4.5 - 2 = +2.50
    assert (pc["b"], pc["iqm_b"], pc["diff"], pc["p"], pc["nb"], pc["na"]) == ("split", "4.50", "+2.50", "0.500",
                                                                               "4", "3")


def test_scores_are_mean_minus_std_when_eval_score_is_absent(tmp_path, capsys):
    # eval_mean = score + 5, eval_std = 5: the run's scores are (10, 20, 30, 40) again
    a = write_run(tmp_path / "a", [10, 20, 30, 40], std=5.0, with_score=False)
    b = write_run(tmp_path / "b", [10, 20, 30, 40])
    (p,) = pairs(run([a, b], capsys))
    assert (p["iqm_b"], p["iqm_a"], p["diff"], p["p"]) == ("25.00", "25.00", "+0.00", "0.500")
    assert (p["dlo"], p["dhi"]) != ("+0.00", "+0.00")  # independent resamples of the two runs


def test_sweep_points_are_runs(tmp_path, capsys):
    # returns [points, seeds, updates]; the sweep's final scores are the last returns - 2
    returns = np.zeros((2, 4, 3))
    returns[0, :, -1] = [12, 22, 32, 42]  # scores 10, 20, 30, 40
    returns[1, :, -1] = [27, 37, 47, 57]  # scores 25, 35, 45, 55
    steps = np.cumsum(np.ones((2, 4, 3), dtype=int) * 100, axis=2)
    sw = write_sweep_dir(tmp_path / "sw", {"learning_rate": [0.01, 0.003]}, steps, returns)
    lines = run([sw], capsys)
    # one sweep directory: its points are named by their hyperparameters (final_score_data's labels)
    assert lines[0].startswith("A = learning_rate=0.01:"), lines[0]
    (p,) = pairs(lines)
    # IQM 25 vs mean(35, 45) = 40; P: 25 beats 10, 20; 35 beats 3; 45, 55 beat 4 -> 13 / 16 = 0.8125
    assert (p["b"], p["iqm_b"], p["iqm_a"], p["diff"]) == ("learning_rate=0.003", "40.00", "25.00", "+15.00")
    assert float(p["p"]) == pytest.approx(13 / 16, abs=1e-3)
    # --point picks one point of each sweep: point 1 of the sweep against a train run
    a = write_run(tmp_path / "a", [10, 20, 30, 40])
    (p,) = pairs(run([a, sw, "--point", "1"], capsys))
    assert (p["b"], p["iqm_b"], p["iqm_a"]) == ("sw (learning_rate=0.003)", "40.00", "25.00")


def test_shared_labels_make_environments_tasks(tmp_path, capsys):
    a_cart = write_run(tmp_path / "a_cart", [10, 20, 30, 40], env="CartPole-v1")
    a_acro = write_run(tmp_path / "a_acro", [-100, -90, -80, -70], env="Acrobot-v1")
    b_cart = write_run(tmp_path / "b_cart", [25, 35, 45, 55], env="CartPole-v1")
    b_acro = write_run(tmp_path / "b_acro", [-100, -90, -80, -70], env="Acrobot-v1")
    # the order of the directories does not matter: tasks are matched by env name
    lines = run([a_cart, a_acro, b_acro, b_cart, "--labels", "A,A,B,B"], capsys)
    assert lines[0].startswith("A = A (2 envs):")
    (p,) = pairs(lines)
    # CartPole: 25 beats 10, 20 (2); 35 beats 3; 45, 55 beat 4 -> 13/16. Acrobot: identical runs,
    # 4 ties of 0.5 -> 0.5. P(B > A) = (13/16 + 1/2) / 2 = 21/32 = 0.65625 -> "0.656"
    assert p["p"] == "0.656"
    # IQM over all 8 scores: A sorted (-100, -90, -80, -70, 10, 20, 30, 40) -> middle (-80, -70, 10, 20)
    # = -120 / 4 = -30; B (-100, -90, -80, -70, 25, 35, 45, 55) -> (-80, -70, 25, 35) = -90 / 4 = -22.5
    assert (p["iqm_b"], p["iqm_a"], p["diff"]) == ("-22.50", "-30.00", "+7.50")
    assert (p["nb"], p["na"], p["per"]) == ("4", "4", " per env, 2 envs")


# --------------------------------------------------------------------------------------------
# The profile plot


def test_profile_out_writes_a_png(tmp_path, capsys):
    a = write_run(tmp_path / "a", [10, 20, 30, 40])
    b = write_run(tmp_path / "b", [25, 35, 45, 55, 65])
    out = tmp_path / "plots" / "profile.png"
    (tmp_path / "plots").mkdir()
    lines = run([a, b, "--reps", "100", "--profile-out", out], capsys)
    assert lines[-1] == f"wrote {out}"
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert [p.name for p in out.parent.iterdir()] == ["profile.png"]  # no temporary file left


def test_performance_profiles_of_directories(tmp_path):
    a = write_run(tmp_path / "a", [10, 20, 30, 40])
    returns = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2) * 10
    steps = np.cumsum(np.ones((2, 3, 2), dtype=int), axis=2)
    sw = write_sweep_dir(tmp_path / "sw", {"gamma": [0.9, 0.99]}, steps, returns)
    out = performance_profiles([a, sw], tmp_path / "p.svg", reps=50)
    assert out == tmp_path / "p.svg" and b"<svg" in out.read_bytes()
    out = performance_profiles([sw], tmp_path / "p.png", labels=["mine"], point=1, taus=[0, 10, 20], reps=50)
    assert out.read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="unsupported image format"):
        performance_profiles([a], tmp_path / "p.bmpx")
    with pytest.raises(ValueError, match="no sweep.json or summary.json"):
        performance_profiles([tmp_path], tmp_path / "p.png")
    with pytest.raises(ValueError, match="taus must be"):
        performance_profiles([a], tmp_path / "p.png", taus=[np.inf])
    with pytest.raises(ValueError, match="no score sets"):
        performance_profiles_from_scores([], tmp_path / "p.png")


def test_default_thresholds_draw_the_exact_step_curve():
    from jaxpg.plotting import _profile_taus

    taus = _profile_taus([np.array([3.0, 1.0]), np.array([[2.0], [3.0]])])
    # distinct scores 1, 2, 3 and one beyond each end (5 % of the range 2 = 0.1)
    np.testing.assert_allclose(taus, [0.9, 1, 2, 3, 3.1])
    # on [1, 2) the fraction above tau is the one at tau = 1: (3, 1) -> 1/2 above 1, so "post" steps
    np.testing.assert_allclose(stats.performance_profile([3.0, 1.0], taus), [1, 0.5, 0.5, 0, 0])


# --------------------------------------------------------------------------------------------
# One-line errors


def test_errors_are_one_line(tmp_path, capsys):
    a = write_run(tmp_path / "a", [10, 20, 30, 40])
    b = write_run(tmp_path / "b", [25, 35, 45, 55])
    assert "no-such-dir: no such directory" in error([a, tmp_path / "no-such-dir"], capsys)
    assert "at least 2 runs" in error([a], capsys)
    unevaluated = write_run(tmp_path / "u", [1, 2], evaluated=False)
    assert "has no evaluation scores" in error([a, unevaluated], capsys)
    assert "no sweep.json or summary.json" in error([a, tmp_path], capsys)
    assert "--labels has 1 names for 2 directories" in error([a, b, "--labels", "x"], capsys)
    assert "--labels has an empty name" in error([a, b, "--labels", "x,"], capsys)
    assert "unsupported image format" in error([a, b, "--profile-out", tmp_path / "p.bmpx"], capsys)
    assert "cannot write --profile-out" in error([a, b, "--profile-out", tmp_path / "no" / "p.png"], capsys)
    sw = write_sweep_dir(tmp_path / "sw", {"gamma": [0.9, 0.99]}, np.ones((2, 2, 1), dtype=int), np.ones((2, 2, 1)))
    assert "--point 5 is out of range" in error([sw, a, "--point", "5"], capsys)
    assert not (tmp_path / "p.bmpx").exists()


def test_shared_label_errors(tmp_path, capsys):
    a1 = write_run(tmp_path / "a1", [1, 2], env="CartPole-v1")
    a2 = write_run(tmp_path / "a2", [1, 2], env="Acrobot-v1")
    b1 = write_run(tmp_path / "b1", [1, 2], env="CartPole-v1")
    b2 = write_run(tmp_path / "b2", [1, 2, 3], env="Acrobot-v1")
    b3 = write_run(tmp_path / "b3", [1, 2], env="MountainCar-v0")
    assert "needs the same environments" in error([a1, a2, b1, b3, "--labels", "A,A,B,B"], capsys)
    assert "different numbers of seeds per environment" in error([a1, a2, b1, b2, "--labels", "A,A,B,B"], capsys)
    assert "has two directories on CartPole-v1" in error([a1, b1, "--labels", "A,A"], capsys)
    sw = write_sweep_dir(tmp_path / "sw", {"gamma": [0.9, 0.99]}, np.ones((2, 2, 1), dtype=int), np.ones((2, 2, 1)))
    assert "give --point" in error([a1, sw, b1, "--labels", "A,A,B"], capsys)


def test_bad_flag_values_are_one_line():
    for argv in (["a", "b", "--reps", "0"], ["a", "b", "--point", "-1"], ["--reps", "x", "a"], []):
        with pytest.raises(UsageError) as e:
            parse(argv)
        assert "\n" not in str(e.value)


def test_main_runs_compare_once_registered(tmp_path, capsys):
    from jaxpg.cli import build_parser, main

    try:
        build_parser().parse_args(["compare", "a", "b"])
    except UsageError:
        pytest.skip("jaxpg compare is not registered in jaxpg/cli/__init__.py yet")
    a = write_run(tmp_path / "a", [10, 20, 30, 40])
    b = write_run(tmp_path / "b", [25, 35, 45, 55, 65])
    assert main(["compare", str(a), str(b), "--reps", "200"]) == 0
    assert "P(B > A) = 0.850" in capsys.readouterr().out
    assert main(["compare", str(a)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


# --------------------------------------------------------------------------------------------
# docs/compare.md


def _doc_commands():
    from tests.test_docs import blocks, commands

    path = ROOT / "docs" / "compare.md"
    assert len(path.read_text().splitlines()) <= 80
    langs = [lang for lang, _, _ in blocks(path)]
    assert set(langs) <= {"bash", "text"} and langs.count("bash") == 1, langs
    (text,) = [text for lang, _, text in blocks(path) if lang == "bash"]
    return commands(text)


def test_doc_example_compares_directories_it_trained_first():
    made = set()
    compared = 0
    for words in _doc_commands():
        assert words[0] == "jaxpg" and words[1] in ("train", "compare"), words
        if words[1] == "train":
            made.add(words[words.index("--out") + 1])
        else:
            args = parse(words[2:])
            assert {str(d) for d in args.run_dirs} <= made, (words, made)
            compared += 1
    assert compared >= 1 and {"runs/a", "runs/b"} <= made


@pytest.mark.slow
def test_doc_example_runs(tmp_path, capsys, monkeypatch):
    """The docs block as test_docs runs it (small sizes), `jaxpg compare` through this module."""
    from tests.test_docs import run_bash

    monkeypatch.chdir(tmp_path)
    for words in _doc_commands():
        if words[1] == "compare":
            capsys.readouterr()  # drop train's output
            lines = run(words[2:], capsys)
            assert len(pairs([line for line in lines if not line.startswith("wrote ")])) >= 1, lines
        else:
            run_bash(shlex.join(words), tmp_path, "docs/compare.md")
