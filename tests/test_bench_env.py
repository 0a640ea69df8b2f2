import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_env_benchmark_smoke_writes_every_field(tmp_path):
    proc = subprocess.run(
        # Usually ~20 s. Once (CI, 2026-11-25) it never finished; the watchdog dumps every thread's
        # stack to stderr (shown below on failure) instead of the test waiting out its timeout.
        [sys.executable, str(ROOT / "experiments/bench_env.py"), "--smoke", "--out", str(tmp_path),
         "--watchdog", "300"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = tmp_path.glob("bench-env-*-smoke.json")
    data = json.loads(path.read_text())
    assert {"machine", "device", "versions", "rows", "date"} <= set(data)
    kinds = {(r["kind"], r["env"]) for r in data["rows"]}
    assert kinds == {(k, e) for k in ("env", "train") for e in ("CartPole-v1", "Pixelcopter-v0")}
    for r in data["rows"]:
        assert r["compile_s"] > 0 and r["run_s"] > 0
        if r["kind"] == "train":
            assert 0 < r["valid_steps"] <= r["simulated_steps"]
        else:
            assert r["steps_per_s"] > 0
