"""Saved outputs of a few small runs, so that a refactor of the run layer can show it moved no number.

Each scenario runs through the command line (whose flags a refactor keeps), then every file a
run directory holds is read back as arrays: ``metrics.csv`` and ``evals.csv`` (as text),
``summary.json``/``sweep.json`` (timings, versions and the run id dropped) and the newest
checkpoint's ``state.npz`` (every array: parameters, optimiser state, keys, metrics, alive).

    python tests/golden_runs.py            # rewrites tests/data/golden_runs.npz from this checkout
    python tests/golden_runs.py resume     # rewrites only the named scenarios' arrays in it

The file was first written from main before the run layer was split into parts (the commit
that added this file); ``tests/test_golden_runs.py`` compares a fresh run with it: bitwise on
a machine of the recorded kind (same CPU model and jax version), to float tolerance elsewhere.
"""

from __future__ import annotations

import contextlib
import io
import json
import platform
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "data" / "golden_runs.npz"

SMALL = ["--env", "CartPole-v1", "--num-envs", "8", "--hidden", "16", "--max-steps", "100", "--quiet"]
# a budget (bytes) that holds a program of 2 runs of SMALL but not one of 6: the sweep runs in waves
WAVES_BUDGET = "6e5"
VOLATILE = {"wall_seconds", "compile_seconds", "train_seconds", "eval_seconds", "jax_version", "python",
            "run_id", "backend", "devices", "processes"}

# (name, [argv, ...], expected exit code of the last command)
SCENARIOS = [
    ("train", [["train", *SMALL, "--seeds", "3", "--seed", "5", "--updates", "12", "--progress-every", "3",
                "--save-every", "6", "--eval-episodes", "4", "--eval-every", "6"]], 0),
    ("sweep_diverged", [["sweep", *SMALL, "--seeds", "2", "--updates", "8", "--progress-every", "2",
                         "--lr", "1e-2,3e38", "--lr-schedule", "constant", "--eval-episodes", "4"]], 0),
    ("waves", [["sweep", *SMALL, "--seeds", "3", "--updates", "6", "--progress-every", "2",
                "--lr", "1e-2,3e-2", "--eval-episodes", "3", "--max-memory", WAVES_BUDGET]], 0),
    ("resume", [["train", *SMALL, "--seeds", "2", "--seed", "1", "--updates", "6", "--progress-every", "3",
                 "--eval-episodes", "0"],
                ["train", "--resume", "{out}", "--extend", "6", "--quiet"]], 0),
    ("train_diverged", [["train", *SMALL, "--seeds", "2", "--updates", "8", "--progress-every", "2",
                         "--lr", "3e38", "--lr-schedule", "constant", "--eval-episodes", "2"]], 2),
]


def fingerprint() -> str:
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu} | jax {jax.__version__} | {jax.default_backend()}"


def _read(out: Path, name: str) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for f in ("metrics.csv", "evals.csv"):
        if (out / f).is_file():
            arrays[f"{name}/{f}"] = np.asarray((out / f).read_text())
    for f in ("summary.json", "sweep.json"):
        if (out / f).is_file():
            d = {k: v for k, v in json.loads((out / f).read_text()).items() if k not in VOLATILE}
            arrays[f"{name}/{f}"] = np.asarray(json.dumps(d, sort_keys=True))
    meta = json.loads((out / "checkpoint.json").read_text())
    keep = {k: meta.get(k) for k in ("kind", "env", "seeds", "root_seed", "points", "axes", "config", "hparams",
                                     "eval_episodes", "eval_greedy", "eval_max_steps", "eval_every",
                                     "updates_done", "diverged")}
    arrays[f"{name}/checkpoint.json"] = np.asarray(json.dumps(keep, sort_keys=True))
    with np.load(out / meta["step_dir"] / "state.npz") as z:
        for k in z.files:
            if k != "meta.json":  # the settings saved with the state (issue 28): checkpoint.json's, run id included
                arrays[f"{name}/state.npz/{k}"] = z[k]
    return arrays


def produce(work: Path, only: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Runs every scenario (or those named in ``only``) in ``work``; returns the arrays to compare."""
    from jaxpg.cli import main

    arrays: dict[str, np.ndarray] = {}
    for name, commands, want in SCENARIOS:
        if only and name not in only:
            continue
        out = work / name
        rc = None
        for i, argv in enumerate(commands):
            argv = [a.format(out=out) for a in argv]
            if i == 0:
                argv = [*argv, "--out", str(out)]
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
                rc = main(argv)
            if i + 1 < len(commands):
                assert rc == 0, (name, argv, err.getvalue())
        assert rc == want, (name, rc, err.getvalue())
        arrays.update(_read(out, name))
    return arrays


if __name__ == "__main__":
    import jax

    jax.config.update("jax_numpy_rank_promotion", "raise")
    only = sys.argv[1:]
    with tempfile.TemporaryDirectory() as d:
        got = produce(Path(d), only)
    if only:  # the other scenarios' arrays are kept as recorded
        with np.load(FIXTURE) as old:
            if str(old["fingerprint"]) != fingerprint():
                sys.exit(f"{FIXTURE} was recorded on {old['fingerprint']}: rewrite it whole on this machine")
            got = {**{k: old[k] for k in old.files if k.split("/")[0] not in only}, **got}
    got["fingerprint"] = np.asarray(fingerprint())
    FIXTURE.parent.mkdir(exist_ok=True)
    np.savez_compressed(FIXTURE, **got)
    print(f"wrote {FIXTURE} ({len(got)} arrays, {FIXTURE.stat().st_size:,} bytes)", file=sys.stderr)
