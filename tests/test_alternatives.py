"""experiments/alternatives.py (the reference trainers jaxpg is timed against) and
experiments/bench_throughput.py (jaxpg, then them, and the ratios), at tiny sizes.

They are benchmark code, not part of the package: the test puts experiments/ on sys.path.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
if str(EXPERIMENTS) not in sys.path:
    sys.path.insert(0, str(EXPERIMENTS))

import alternatives as alt  # noqa: E402
import bench_throughput  # noqa: E402

try:
    import gymnasium  # noqa: F401 - the test extra has it; the alternatives need it
    HAVE_GYM = True
except ImportError:
    HAVE_GYM = False
needs_gym = pytest.mark.skipif(not HAVE_GYM, reason='the alternatives need gymnasium: pip install ".[bench]"')

COMMON = {"name", "framework", "policy", "num_envs", "seeds", "updates_done", "valid_steps",
          "simulated_steps", "compile_s", "run_s", "valid_steps_per_s", "simulated_steps_per_s",
          "final_return", "final_return_kind", "returns"}


def check_result(r: dict, updates: int, max_return: float) -> None:
    assert COMMON <= set(r), COMMON - set(r)
    assert r["updates_done"] == updates == len(r["returns"])
    assert 0 < r["valid_steps"] <= r["simulated_steps"]
    assert r["run_s"] > 0 and math.isfinite(r["valid_steps_per_s"]) and r["valid_steps_per_s"] > 0
    assert r["valid_steps_per_s"] == pytest.approx(r["valid_steps"] / r["run_s"])
    # CartPole pays 1 per step: an episode lasts at least ~8 steps and at most the limit
    assert all(5 <= x <= max_return for x in r["returns"]), r["returns"]
    assert 5 <= r["final_return"] <= max_return and math.isfinite(r["final_return"])
    k = max(1, math.ceil(alt.FINAL_FRACTION * updates))
    assert r["final_return"] == pytest.approx(np.mean(r["returns"][-k:]))


@needs_gym
def test_textbook_numpy_counts_every_step_of_its_episodes():
    r = alt.textbook(updates=5, seed=3, backend="numpy")
    check_result(r, 5, 500)
    assert r["framework"] == "numpy" and r["policy"] == "4-16-2 relu"
    assert r["num_envs"] == 1 and r["seeds"] == 1 and r["compile_s"] == 0
    # one env, one episode per update, no masking: valid = simulated = sum of episode returns
    assert r["valid_steps"] == r["simulated_steps"] == int(sum(r["returns"]))
    again = alt.textbook(updates=5, seed=3, backend="numpy")
    assert again["returns"] == r["returns"]  # seeded: the same episodes


@needs_gym
def test_textbook_time_budget_stops_early():
    r = alt.textbook(updates=10_000, backend="numpy", time_budget_s=0.0)
    assert r["updates_done"] == 1  # stops after the update that crosses the budget


@needs_gym
def test_textbook_backend_checks():
    with pytest.raises(ValueError, match="backend must be"):
        alt.textbook(updates=1, backend="jax")
    if not alt.torch_available():
        with pytest.raises(ValueError, match="needs PyTorch"):
            alt.textbook(updates=1, backend="torch")


@needs_gym
@pytest.mark.skipif(not alt.torch_available(), reason="torch is optional")
def test_textbook_torch():
    r = alt.textbook(updates=3, backend="torch")
    check_result(r, 3, 500)
    assert r["framework"].startswith("torch")


@needs_gym
def test_gym_vector_masks_steps_after_each_first_episode():
    n, updates = 4, 3
    r = alt.gym_vector(num_envs=n, updates=updates, seed=1)
    check_result(r, updates, 500)
    assert r["num_envs"] == n and r["seeds"] == 1 and r["policy"] == "4-16-2 tanh"
    # lockstep: every loop iteration steps all N envs; the longest episode sets the length
    assert r["simulated_steps"] % n == 0
    # each update's return is the mean episode length over the N envs
    assert r["valid_steps"] == pytest.approx(n * sum(r["returns"]))


@needs_gym
def test_gym_vector_max_steps_caps_the_episode():
    r = alt.gym_vector(num_envs=2, updates=2, max_steps=6)
    assert r["simulated_steps"] <= 2 * 2 * 6 and all(x <= 6 for x in r["returns"])


@pytest.mark.slow
def test_jax_scan_simulates_the_whole_fixed_scan():
    n, seeds, updates, limit = 4, 2, 2, 60
    r = alt.jax_scan(num_envs=n, seeds=seeds, updates=updates, max_steps=limit)
    check_result(r, updates, limit)
    assert r["num_envs"] == n and r["seeds"] == seeds and r["compile_s"] > 0
    assert r["simulated_steps"] == seeds * n * limit * updates
    assert len(r["final_return_per_seed"]) == seeds
    # per update, the return is the mean episode length over N envs and S seeds
    assert r["valid_steps"] == pytest.approx(n * seeds * sum(r["returns"]))


def test_numpy_mlp_backward_matches_finite_differences():
    """The hand-written backprop the numpy alternatives learn with (tanh and relu)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4)).astype(np.float64)
    w = rng.normal(size=(5, 2))
    for activation in ("tanh", "relu"):
        net = alt._NumpyMLP((4, 6, 3, 2), activation, 1e-2, np.random.default_rng(1))
        net.params = [p.astype(np.float64) for p in net.params]
        loss = lambda net=net: float((net.forward(x)[0] * w).sum())  # noqa: E731 - d loss / d logits = w
        _, acts = net.forward(x)
        grads = net.backward(acts, w)
        for p, g in zip(net.params, grads, strict=True):
            num = np.zeros_like(p)
            for idx in np.ndindex(p.shape):
                old = p[idx]
                p[idx] = old + 1e-6
                up = loss()
                p[idx] = old - 1e-6
                num[idx] = (up - loss()) / 2e-6
                p[idx] = old
            np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)


def test_standardised_discounted_returns_hand_computed():
    g = alt._standardised_discounted_returns([1.0, 1.0, 1.0], gamma=0.5)  # G = 1.75, 1.5, 1
    raw = np.array([1.75, 1.5, 1.0])
    np.testing.assert_allclose(g, (raw - raw.mean()) / (raw.std(ddof=1) + np.finfo(np.float32).eps))


def _row(kind, policy, rate, ret, frac=0.5):
    return {"policy_kind": kind, "policy": policy, "valid_steps_per_s": rate, "final_return": ret,
            "fraction_of_ceiling": frac}


def test_ratios_take_the_fastest_layout_that_learned():
    rows = [_row("course", "4-16-2", 9e6, 100.0, 0.9),  # fastest, but did not learn: ignored
            _row("course", "4-16-2", 4e6, 500.0, 0.4),
            _row("course", "4-16-2", 2e6, 490.0, 0.2),
            _row("default", "4-64-64-2", 1e6, 480.0, 0.6)]
    alts = {"textbook_numpy": {"valid_steps_per_s": 4e4, "final_return": 480.0},
            "gym_vector_N256": {"valid_steps_per_s": 1e6, "final_return": 499.0},
            "gym_vector_N1024": {"valid_steps_per_s": 2e6, "final_return": 498.0},
            "gym_vector_N4096": {"valid_steps_per_s": 3e6, "final_return": 200.0}}  # did not learn
    r = bench_throughput.ratios(rows, alts)
    assert r == {
        "jaxpg 4-16-2 / textbook_numpy": pytest.approx(100.0),
        "jaxpg 4-16-2 / gym_vector": pytest.approx(2.0),
        "jaxpg 4-16-2 fastest learning layout / its measured ceiling": 0.4,
        "jaxpg 4-64-64-2 fastest learning layout / its measured ceiling": 0.6,
    }


def test_ratios_fall_back_to_the_fastest_when_nothing_learned():
    rows = [_row("course", "4-16-2", 3e6, 20.0, 0.3), _row("course", "4-16-2", 1e6, 30.0)]
    r = bench_throughput.ratios(rows, {"jax_scan": {"valid_steps_per_s": 1e6, "final_return": 25.0}})
    assert r == {"jaxpg 4-16-2 / jax_scan": pytest.approx(3.0),
                 "jaxpg 4-16-2 fastest learning layout / its measured ceiling": 0.3}


@pytest.mark.parametrize("argv, message", [
    (["--grid", "256x"], "grid point '256x' is not NxS"),
    (["--grid", "0x4"], "grid point '0x4' is not NxS"),
    (["--policies", "huge"], "unknown policy 'huge'"),
    (["--updates", "-3"], "'-3' is not a positive integer"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_bench_throughput_bad_input_is_one_line_exit_2(argv, message, capsys, tmp_path):
    assert bench_throughput.main([*argv, "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and message in captured.err, captured.err
    assert captured.out == "" and not list(tmp_path.iterdir())


def test_bench_throughput_out_must_be_a_directory(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    assert bench_throughput.main(["--out", str(f)]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_bench_throughput_does_not_import_the_cli():
    assert "jaxpg.cli" not in (EXPERIMENTS / "bench_throughput.py").read_text()


@needs_gym
@pytest.mark.slow
def test_bench_throughput_smoke_writes_one_complete_json(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(EXPERIMENTS / "bench_throughput.py"), "--smoke", "--policies", "course",
         "--grid", "8x2", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name.startswith("bench-") and files[0].name.endswith("-smoke.json")
    data = json.loads(files[0].read_text())
    assert data["complete"] is True and data["benchmark"] == "bench_throughput"
    (row,) = data["rows"]
    assert row["policy"] == "4-16-2" and row["num_envs"] == 8 and row["seeds"] == 2 and row["recompiles"] == 0
    assert {"textbook_numpy", "gym_vector_N16", "jax_scan"} <= set(data["alternatives"])
    for name, a in data["alternatives"].items():
        assert a["valid_steps_per_s"] > 0 and "returns" not in a, name
    families = {name.split("_N")[0] for name in data["alternatives"]}
    assert set(data["ratios"]) == {f"jaxpg 4-16-2 / {fam}" for fam in families} | {
        "jaxpg 4-16-2 fastest learning layout / its measured ceiling"}
    assert data["ratios"]["jaxpg 4-16-2 / jax_scan"] == pytest.approx(
        row["valid_steps_per_s"] / data["alternatives"]["jax_scan"]["valid_steps_per_s"])
    for key in ("machine", "device", "versions", "ceilings", "matmul_gflops", "memory_gbps"):
        assert key in data
    assert "jaxpg 4-16-2 / jax_scan" in proc.stdout
