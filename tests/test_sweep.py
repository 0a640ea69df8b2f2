"""Sweeps: grid order, equality with training alone, sharding over devices, no recompiles."""

import csv
import io
import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from jaxpg import Config, HParams, make_trainer, runner
from jaxpg import sweep as sw
from jaxpg.cli import main

CFG = Config(env="CartPole-v1", num_envs=4, num_updates=4, max_steps=60)


def _spec(points, seeds, seed=0, episodes=0):
    return runner.RunSpec(CFG, points=points, seeds=seeds, seed=seed, evaluation=runner.Evaluation(episodes=episodes))


def _sweep(points, seeds, seed=0, episodes=3):
    r = runner.run(_spec(points, seeds, seed, episodes), schedule=runner.Schedule(chunk=2), handle_signals=False)
    return r.metrics, r.eval_returns["sampled"]


def test_grid_order_last_axis_fastest():
    pts = sw.grid(learning_rate=[1e-2, 3e-3], gamma=[0.9, 0.99, 1.0])
    assert pts == [
        {"learning_rate": 1e-2, "gamma": 0.9}, {"learning_rate": 1e-2, "gamma": 0.99},
        {"learning_rate": 1e-2, "gamma": 1.0}, {"learning_rate": 3e-3, "gamma": 0.9},
        {"learning_rate": 3e-3, "gamma": 0.99}, {"learning_rate": 3e-3, "gamma": 1.0},
    ]


@pytest.mark.parametrize("axes, match", [
    ({"lr": [1.0]}, "unknown hyperparameter 'lr'"),
    ({"gamma": []}, "non-empty list"),
    ({"gamma": [0.9, 1.5]}, "gamma must be in"),
    ({"learning_rate": [-1.0]}, "learning_rate must be > 0"),
])
def test_grid_rejects_bad_values(axes, match):
    with pytest.raises(ValueError, match=match):
        sw.grid(**axes)


@pytest.mark.slow
def test_sweep_point_equals_training_alone():
    pts = sw.grid(learning_rate=[1e-2, 3e-3], gamma=[0.9, 1.0])
    metrics, ev = _sweep(pts, 3, seed=5)
    assert metrics.mean_return.shape == (4, 3, 4)  # [H, S, updates]
    assert ev.shape == (4, 3, 3)
    train = jax.jit(jax.vmap(make_trainer(CFG).train, in_axes=(0, None)))
    keys = jax.random.split(jax.random.key(5), 3)  # the keys `jaxpg train --seed 5 --seeds 3` uses
    for h, p in enumerate(pts):  # point h of the result is point h of the grid, in order
        _, m = train(keys, HParams(**p))
        np.testing.assert_allclose(metrics.mean_return[h], np.asarray(m.mean_return), rtol=1e-6)
        np.testing.assert_allclose(metrics.loss[h], np.asarray(m.loss), rtol=1e-5, atol=1e-7)
    # Different points really are different runs (the test could fail if points were mixed up).
    assert not np.array_equal(metrics.loss[0], metrics.loss[2])


@pytest.mark.slow
def test_second_sweep_of_same_shape_reuses_the_compiled_program():
    a = runner.Population(_spec(sw.grid(learning_rate=[1e-2, 2e-2]), 2))
    b = runner.Population(_spec(sw.grid(learning_rate=[5e-3, 7e-3]), 2))
    assert a.compiled_chunk() is b.compiled_chunk()
    c = runner.Population(_spec(sw.grid(learning_rate=[5e-3, 7e-3, 1e-3]), 2))  # other shape: own program
    assert c.compiled_chunk() is not a.compiled_chunk()


_FOUR_DEVICES = textwrap.dedent("""
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, numpy as np
    from jaxpg import Config, runner
    from jaxpg.sweep import grid
    assert jax.device_count() == 4
    spec = runner.RunSpec(Config(env="CartPole-v1", num_envs=4, num_updates=4, max_steps=60),
                          points=grid(learning_rate=[1e-2, 3e-3], gamma=[0.9, 1.0, 0.99]), seeds=3, seed=5,
                          evaluation=runner.Evaluation(episodes=3))
    s = runner.Population(spec)
    assert (s.num_runs, s.padded_runs) == (18, 20)  # not a multiple of 4: padded
    r = runner.run(spec, schedule=runner.Schedule(chunk=2), handle_signals=False)
    np.savez(sys.argv[1], ret=r.metrics.mean_return, loss=r.metrics.loss, ev=r.eval_returns["sampled"])
""")


@pytest.mark.slow
def test_sharded_over_four_cpu_devices_equals_one_device(tmp_path):
    out = tmp_path / "four.npz"
    subprocess.run([sys.executable, "-c", _FOUR_DEVICES, str(out)], check=True, timeout=300,
                   env={**os.environ, "JAX_PLATFORMS": "cpu"})
    four = np.load(out)
    pts = sw.grid(learning_rate=[1e-2, 3e-3], gamma=[0.9, 1.0, 0.99])
    s = runner.Population(_spec(pts, 3, seed=5))
    assert s.padded_runs == s.num_runs == 18  # one device here
    metrics, ev = _sweep(pts, 3, seed=5)
    np.testing.assert_allclose(four["ret"], metrics.mean_return, rtol=1e-6)
    # the loss is a mean over a batch whose float summation order depends on the per-device batch
    np.testing.assert_allclose(four["loss"], metrics.loss, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(four["ev"], ev, rtol=1e-6)


@pytest.mark.slow
def test_cli_sweep_writes_points_in_order(tmp_path, capsys):
    rc = main(["sweep", "--env", "CartPole-v1", "--seeds", "2", "--gamma", "0.9,1.0", "--lr", "1e-2,3e-3",
               "--updates", "4", "--num-envs", "4", "--max-steps", "60", "--eval-episodes", "2",
               "--out", str(tmp_path), "--quiet", "--metric", "auc"])
    assert rc == 0
    printed = capsys.readouterr().out
    res = json.loads((tmp_path / "sweep.json").read_text())
    got = [(p["hparams"]["gamma"], p["hparams"]["learning_rate"]) for p in res["points"]]
    assert got == [(0.9, 1e-2), (0.9, 3e-3), (1.0, 1e-2), (1.0, 3e-3)]  # --gamma first, --lr fastest
    assert all(len(p["eval_mean"]) == 2 for p in res["points"])
    rows = (tmp_path / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4 * 2 * 4  # header + points x seeds x updates
    # --metric auc ranks by the mean over seeds of each seed's mean training return (metrics.csv)
    assert "score = auc: mean training return over every update" in printed
    table = [line.split("|") for line in printed.splitlines() if line.strip()[:1].isdigit() and "|" in line]
    by_point = {}
    for r in csv.DictReader(io.StringIO((tmp_path / "metrics.csv").read_text())):
        by_point.setdefault(int(r["point"]), []).append(float(r["mean_return"]))
    auc = {p: np.mean(v) for p, v in by_point.items()}  # equal updates per seed: the mean of seed means
    assert [int(c[1]) for c in table] == sorted(auc, key=lambda p: -auc[p])
    assert [float(c[2]) for c in table] == pytest.approx(sorted(auc.values(), reverse=True), abs=0.06)


@pytest.mark.parametrize("argv, match", [
    (["--lr", "1e-3,,x"], "expected comma-separated numbers"),
    (["--lr", "1e-3,x"], "expected a number, got 'x'"),
    (["--gamma", "0.9,2"], "gamma must be in"),
    (["--lr", "0,1e-3"], "learning_rate must be > 0"),
])
def test_cli_sweep_bad_grid_values_are_one_line_errors(argv, match, capsys):
    assert main(["sweep", "--env", "CartPole-v1", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


SWEEP_ARGS = ["--env", "CartPole-v1", "--seeds", "3", "--lr", "1e-2,3e-3", "--updates", "4",
              "--num-envs", "4",
              "--max-steps", "60", "--eval-episodes", "2", "--quiet"]


@pytest.mark.slow
def test_two_processes_under_jax_distributed_run_one_sweep(tmp_path):
    port = _free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "jaxpg", "sweep", *SWEEP_ARGS, "--out", str(tmp_path / "dist"),
             "--coordinator", f"localhost:{port}", "--num-processes", "2", "--process-id", str(i),
             "--connect-timeout", "60"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i in range(2)
    ]
    try:
        outs = [p.communicate(timeout=240)[0] for p in procs]  # bounded even if a peer dies
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], outs
    dist = json.loads((tmp_path / "dist" / "sweep.json").read_text())
    assert dist["processes"] == 2 and dist["devices"] == 2
    assert main(["sweep", *SWEEP_ARGS, "--out", str(tmp_path / "one")]) == 0
    one = json.loads((tmp_path / "one" / "sweep.json").read_text())
    assert [p["hparams"] for p in dist["points"]] == [p["hparams"] for p in one["points"]]
    np.testing.assert_allclose([p["eval_mean"] for p in dist["points"]],
                               [p["eval_mean"] for p in one["points"]], rtol=1e-6)
    a, b = (np.loadtxt(tmp_path / d / "metrics.csv", delimiter=",", skiprows=1) for d in ("dist", "one"))
    assert a.shape == b.shape == (2 * 3 * 4, 10)  # points x seeds x updates rows; 10 columns
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)  # losses differ in float summation order


@pytest.mark.slow
def test_unreachable_coordinator_is_a_one_line_error_in_bounded_time():
    port = _free_port()  # nothing listens there
    r = subprocess.run(
        [sys.executable, "-m", "jaxpg", "sweep", *SWEEP_ARGS, "--coordinator", f"localhost:{port}",
         "--num-processes", "2", "--process-id", "1", "--connect-timeout", "2"],
        env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 2
    assert "could not be reached within 2 s" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_initialising_more_than_128_runs_does_not_hang():
    # A jitted vmap of `init` over > 128 runs used to hang on the XLA CPU backend (jax 0.10.2: the
    # batched LAPACK QR of flax's orthogonal init; jaxpg.policies.orthogonal has no LAPACK call).
    # The driver now vmaps init over every run. A subprocess with a timeout keeps a regression
    # from hanging the suite.
    code = textwrap.dedent("""
        import jax
        from jaxpg import Config, runner
        from jaxpg.sweep import grid
        pts = grid(learning_rate=[1e-3, 3e-3, 1e-2], gamma=[0.99, 1.0])
        s = runner.Population(runner.RunSpec(Config(env="CartPole-v1"), points=pts, seeds=32))
        state, alive = s.init()
        assert alive.shape == (192,)
        assert jax.tree.leaves(state.params)[0].shape[0] == 192
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   env={**os.environ, "JAX_PLATFORMS": "cpu"})
