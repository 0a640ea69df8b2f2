"""jaxpg.bench: the counters and formulas the throughput table rests on, and `jaxpg bench`."""

import json

import jax
import jax.numpy as jnp
import pytest

from jaxpg import bench
from jaxpg.cli import main


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


def test_train_point_counts_and_zero_recompiles():
    r = bench.train_point("CartPole-v1", 8, 2, (8,), "tanh", updates=4, chunks=2)
    assert r["recompiles"] == 0  # chunks 2.. reuse the compiled program
    assert 0 < r["valid_steps"] <= r["simulated_steps"]
    assert r["simulated_steps"] % (8 * 2) == 0  # whole loop iterations over N x S envs
    assert r["policy"] == "4-8-2" and r["compile_s"] > 0 and r["run_s"] > 0
    # the valid count is exactly what training reports: re-run the same key, same program
    again = bench.train_point("CartPole-v1", 8, 2, (8,), "tanh", updates=4, chunks=2)
    assert again["valid_steps"] == r["valid_steps"] and again["final_return"] == r["final_return"]


def test_train_point_rejects_uneven_chunks():
    with pytest.raises(ValueError, match="multiple of chunks"):
        bench.train_point("CartPole-v1", 8, 1, (8,), "tanh", updates=5, chunks=2)


@pytest.mark.parametrize("argv, message", [
    (["bench", "--grid", "256x"], "grid point '256x' is not NxS"),
    (["bench", "--grid", "0x4"], "grid point '0x4' is not NxS"),
    (["bench", "--policies", "huge"], "unknown policy 'huge'"),
    (["bench", "--env", "Pendulum-v1"], "Pendulum-v1 has a continuous action space"),
    (["bench", "--env", "Acrobot-v1"], "the alternatives are CartPole-v1 only"),
])
def test_bench_bad_input(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_bench_smoke_writes_complete_json(tmp_path, capsys):
    assert main(["bench", "--smoke", "--no-alternatives", "--policies", "course", "--grid", "8x2",
                 "--out", str(tmp_path)]) == 0
    files = list(tmp_path.glob("bench-*-smoke.json"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    data = json.loads(files[0].read_text())
    assert data["complete"] is True and len(data["rows"]) == 1
    row = data["rows"][0]
    assert row["num_envs"] == 8 and row["seeds"] == 2 and row["policy"] == "4-16-2"
    ceil = data["ceilings"]["course"]
    # the parts add up: 1/(1/mlp + 1/env) is below each part
    assert 0 < ceil["steps_per_s"] < min(ceil["mlp_samples_per_s"], ceil["env_steps_per_s"])
    assert row["fraction_of_ceiling"] == pytest.approx(row["valid_steps_per_s"] / ceil["steps_per_s"])
    for key in ("machine", "device", "versions", "matmul_gflops", "memory_gbps"):
        assert key in data
    assert "valid" in capsys.readouterr().out


def test_write_json_takes_a_str_path_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "sub" / "r.json"
    bench.write_json({"a": [1, 2]}, str(target))  # a str, as experiments pass it; the folder is made
    assert json.loads(target.read_text()) == {"a": [1, 2]}
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]
