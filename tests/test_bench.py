"""jaxpg.bench: the counters and formulas the throughput table rests on, ``train_point``
through the driver, and ``run_benchmark``'s record. (The ``jaxpg bench`` command is tested
with the CLI; the alternatives and the ratios in tests/test_alternatives.py.)"""

import json
import math

import jax
import jax.numpy as jnp
import pytest

from jaxpg import bench


def test_policy_flops_hand_computed():
    # 4-16-2: 2*(4*16 + 16*2) = 2*(64 + 32) = 192
    assert bench.policy_flops(4, (16,), 2) == 192
    # 4-64-64-2: 2*(4*64 + 64*64 + 64*2) = 2*(256 + 4096 + 128) = 8960
    assert bench.policy_flops(4, (64, 64), 2) == 8960


def test_bytes_per_step_hand_computed():
    # CartPole, obs_dim 4: rollout writes 16 + 4 + 4 + 2 = 26; returns 4 + 2 + 4 = 10;
    # loss reads 16 + 4 + 4 = 24  ->  60
    assert bench.bytes_per_step(4) == 60


def test_compile_counter_sees_a_new_compilation():
    before = bench.compile_count()
    jax.jit(lambda x: x * 3.0 + 1.25)(jnp.arange(7.0)).block_until_ready()
    assert bench.compile_count() > before
    same = bench.compile_count()
    jax.jit(lambda x: x * 3.0 + 1.25)  # not called: nothing compiled
    assert bench.compile_count() == same


@pytest.mark.slow
def test_train_point_counts_and_zero_recompiles():
    r = bench.train_point("CartPole-v1", 8, 2, (8,), "tanh", updates=4, chunks=2)
    assert r["recompiles"] == 0  # chunks 2.. reuse the compiled program
    assert 0 < r["valid_steps"] <= r["simulated_steps"]
    assert r["simulated_steps"] % (8 * 2) == 0  # whole loop iterations over N x S envs
    assert r["policy"] == "4-8-2" and r["compile_s"] > 0 and r["run_s"] > 0
    assert r["compile_cached"] is False and r["diverged_seeds"] == 0
    # CartPole pays 1 per valid step: 4 updates x 8 episodes x 2 seeds of mean length >= 8
    assert 8 <= r["final_return"] <= 500 and r["final_return_min_seed"] <= r["final_return"]
    assert r["valid_steps"] >= 4 * 8 * 2 * 8
    # the valid count is exactly what training reports: re-run the same key, same program
    again = bench.train_point("CartPole-v1", 8, 2, (8,), "tanh", updates=4, chunks=2)
    assert again["valid_steps"] == r["valid_steps"] and again["final_return"] == r["final_return"]
    # the run layer keeps the compiled chunk: the repeat compiles nothing and says so
    assert again["compile_cached"] is True and again["compile_s"] < r["compile_s"]

    # and it is what the run layer reports for the same config and seeds (the same compiled chunk)
    from jaxpg import runner
    from jaxpg.defaults import recommended

    config, hp = recommended("CartPole-v1", num_envs=8, hidden=(8,), activation="tanh", num_updates=4)
    res = runner.run(runner.RunSpec(config, hp, seeds=2, seed=0, evaluation=runner.Evaluation(episodes=0)),
                     schedule=runner.Schedule(chunk=2), handle_signals=False)
    assert r["valid_steps"] == int(res.metrics.env_steps.sum())
    assert r["simulated_steps"] == int(res.metrics.sim_steps.sum())
    assert math.isclose(r["final_return"], float(res.metrics.mean_return[0, :, -1].mean()), rel_tol=1e-6)


def test_train_point_rejects_uneven_chunks():
    with pytest.raises(ValueError, match="multiple of chunks"):
        bench.train_point("CartPole-v1", 8, 1, (8,), "tanh", updates=5, chunks=2)


def test_run_benchmark_rejects_an_unknown_policy_before_running(tmp_path):
    with pytest.raises(ValueError, match="unknown policy 'huge'"):
        bench.run_benchmark(policies=("huge",), smoke=True, out=tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_run_benchmark_smoke_writes_a_complete_record(tmp_path):
    lines = []
    data = bench.run_benchmark("CartPole-v1", policies=("course",), grid=[(8, 2)], smoke=True,
                               out=tmp_path, say=lines.append)
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [bench.result_path(tmp_path, data).name]
    assert files[0].name.startswith("bench-") and files[0].name.endswith("-smoke.json")
    # the record returned is the one written
    assert json.loads(files[0].read_text()) == json.loads(json.dumps(data))
    assert data["complete"] is True and len(data["rows"]) == 1 and data["updates"] == 4
    assert "alternatives" not in data and "ratios" not in data
    row = data["rows"][0]
    assert row["num_envs"] == 8 and row["seeds"] == 2 and row["policy"] == "4-16-2" and row["chunks"] == 2
    # the course spec reaches the run: a Config field and an HParams field
    assert row["advantage"] == "normalize" and row["learning_rate"] == pytest.approx(3e-2)
    assert row["recompiles"] == 0 and row["flops_per_step"] == 4 * 192 and row["bytes_per_step"] == 60
    ceil = data["ceilings"]["course"]
    # the parts add up: 1/(1/mlp + 1/env) is below each part
    assert 0 < ceil["steps_per_s"] < min(ceil["mlp_samples_per_s"], ceil["env_steps_per_s"])
    assert row["fraction_of_ceiling"] == pytest.approx(row["valid_steps_per_s"] / ceil["steps_per_s"])
    assert row["fraction_of_flop_bound"] == pytest.approx(
        row["valid_steps_per_s"] * row["flops_per_step"] / (data["matmul_gflops"] * 1e9))
    for key in ("machine", "device", "versions", "matmul_gflops", "memory_gbps", "date"):
        assert key in data
    assert any("valid" in line and "4-16-2" in line for line in lines)


def test_write_json_takes_a_str_path_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "sub" / "r.json"
    bench.write_json({"a": [1, 2]}, str(target))  # a str, as experiments pass it; the folder is made
    assert json.loads(target.read_text()) == {"a": [1, 2]}
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]
