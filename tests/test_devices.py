"""Every usable core as a CPU device (``jaxpg.devices``): the count, who decides, and that the
results per seed do not depend on it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxpg import devices
from jaxpg.cli import main


def _affinity() -> int:
    return len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("files", "cap"), [
    ({"cpu.max": "max 100000\n"}, None),  # no quota: the affinity
    ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs -> 2 cores
    ({"cpu.max": "50000 100000\n"}, 1),  # half a CPU -> 1 core
    ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3),  # cgroup v1: 3 CPUs
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1, no quota
    ({}, None),  # no cgroup files at all
])
def test_usable_cores_is_the_affinity_capped_by_the_cgroup_quota(tmp_path, files, cap):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    want = _affinity() if cap is None else min(_affinity(), cap)
    assert devices.usable_cores(tmp_path) == want


def test_a_count_after_the_backend_started_is_refused_in_one_line(capsys):
    import jax

    assert len(jax.devices("cpu")) == 1  # this test process: JAXPG_CPU_DEVICES=1 (conftest)
    assert devices.configure(1) is None  # the count it has: nothing to do
    with pytest.raises(ValueError, match="already runs 1 device"):
        devices.configure(3)
    assert main(["envs", "--cpu-devices", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--cpu-devices 3: JAX's CPU backend already runs 1 device" in err


def _count(env: dict, code: str = "import jaxpg, jax; print(len(jax.devices('cpu')))") -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("JAXPG_CPU_DEVICES", "XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    r = subprocess.run([sys.executable, "-c", code], env={**base, **env, "JAX_PLATFORMS": "cpu"},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.mark.slow
def test_who_decides_the_count_in_a_fresh_interpreter():
    cores = str(devices.usable_cores())
    assert _count({}) == cores  # the default: every usable core
    assert _count({"JAXPG_CPU_DEVICES": "1"}) == "1"
    assert _count({"JAXPG_CPU_DEVICES": "1", "XLA_FLAGS": "--xla_force_host_platform_device_count=3"}) == "3"
    assert _count({"JAX_NUM_CPU_DEVICES": "3"}) == "3"
    assert _count({}, "import jax; jax.config.update('jax_num_cpu_devices', 3); import jaxpg; "
                      "print(len(jax.devices('cpu')))") == "3"  # the user's own jax.config wins
    assert _count({}, "import jaxpg, jax; jaxpg.devices.configure(3); print(len(jax.devices('cpu')))") == "3"


@pytest.mark.slow
def test_one_device_or_every_core_gives_the_same_seeds(tmp_path):
    """``jaxpg train`` with its default (one device per core) and with ``--cpu-devices 1``: each
    seed's training returns agree to float tolerance (XLA compiles the per-device batch apart)."""
    argv = [sys.executable, "-m", "jaxpg", "train", "--env", "CartPole-v1", "--seeds", "3", "--num-envs", "4",
            "--hidden", "8", "--updates", "6", "--max-steps", "60", "--eval-episodes", "2", "--quiet"]
    base = {k: v for k, v in os.environ.items() if k != "JAXPG_CPU_DEVICES"}
    for name, extra in (("many", ["--cpu-devices", "4"]), ("one", ["--cpu-devices", "1"])):
        r = subprocess.run([*argv, *extra, "--out", str(tmp_path / name)], env=base, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr
    many, one = (json.loads((tmp_path / n / "summary.json").read_text()) for n in ("many", "one"))
    assert many["devices"] == 3 and one["devices"] == 1  # 3 runs on 4 devices: the run takes 3 of them

    def returns(name):
        rows = (tmp_path / name / "metrics.csv").read_text().splitlines()
        col = rows[0].split(",").index("mean_return")
        return np.array([float(r.split(",")[col]) for r in rows[1:]])

    np.testing.assert_allclose(returns("many"), returns("one"), rtol=1e-5)
    np.testing.assert_allclose(many["eval_mean"], one["eval_mean"], rtol=1e-5)
    # fewer runs than devices: the run takes as many devices as it has runs, none padded
    r = subprocess.run([*argv[:7], "1", *argv[8:], "--cpu-devices", "4", "--out", str(tmp_path / "single")], env=base,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    single = json.loads((tmp_path / "single" / "summary.json").read_text())
    assert single["devices"] == 1 and single.get("padded_runs", 1) == 1
