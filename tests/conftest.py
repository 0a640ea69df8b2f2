"""Test-wide JAX settings.

- Implicit rank promotion (a common source of silent shape bugs such as [T, N] + [T])
  raises instead of broadcasting.
- JAX's persistent compilation cache, in this checkout's ``.pytest_cache/xla`` (or
  ``JAXPG_TEST_COMPILE_CACHE``): the two pytest-xdist workers and the fresh interpreters some
  tests start share every program either has compiled, and a second run of the suite reads
  them back instead of compiling. It is per checkout, so a fresh clone starts cold.
- One CPU device per test process (``JAXPG_CPU_DEVICES=1``, inherited by the fresh
  interpreters): each pytest-xdist worker already has a core of its own, and the golden outputs
  were recorded on one device. The default (one device per usable core) and the sharded runs
  are tested in fresh interpreters that set their own count (``test_devices.py``,
  ``test_sweep.py``, ``test_waves.py``).
"""

import os
from pathlib import Path

os.environ.setdefault("JAXPG_CPU_DEVICES", "1")  # before jaxpg is imported (see the module doc)

import jax  # noqa: E402
import pytest  # noqa: E402

_HERE = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("JAXPG_TEST_COMPILE_CACHE") or _HERE / ".pytest_cache" / "xla")
CACHE.mkdir(parents=True, exist_ok=True)
os.environ["JAXPG_COMPILE_CACHE"] = str(CACHE)  # subprocesses running jaxpg use it too
jax.config.update("jax_compilation_cache_dir", str(CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_numpy_rank_promotion", "raise")


MAPS = Path("/proc/self/maps")
MAPS_KEPT = 20_000  # memory maps a worker may hold before its programs are dropped


@pytest.fixture(autouse=True, scope="module")
def _unmap_programs_after_each_file():
    """A test worker compiles hundreds of programs; XLA:CPU maps each one's code (about 1,000
    memory maps per small run), and a worker past Linux's ``vm.max_map_count`` (65,530) dies
    (a slow-tier worker crashed so in CI, at 65,223 maps measured locally). After a file that
    leaves the worker over ``MAPS_KEPT`` maps, its programs are dropped (``jaxpg.clear_caches``);
    the next file reads what it shares from the persistent cache. Below it nothing is dropped:
    programs shared across files stay compiled (the fast tier's workers stay below it)."""
    yield
    if MAPS.exists() and len(MAPS.read_text().splitlines()) > MAPS_KEPT:
        from jaxpg.caches import clear_caches  # start-up order: after the test file imported what it needs

        clear_caches()


# One small trained run shared by every test that reads a run directory (load, export, ...):
# 3 seeds of CartPole with observation scaling and normalisation on (the settings a policy
# rebuilt by hand gets wrong). Session-scoped: trained once per pytest worker.
NORMED_RUN = ["train", "--env", "CartPole-v1", "--seeds", "3", "--seed", "4", "--num-envs", "4", "--hidden", "8",
              "--max-steps", "50", "--eval-episodes", "3", "--updates", "2", "--obs-norm", "--obs-scale", "0.5",
              "--quiet"]


@pytest.fixture(scope="session")
def normed_run(tmp_path_factory):
    from jaxpg.cli import main

    out = tmp_path_factory.mktemp("normed") / "run"
    assert main([*NORMED_RUN, "--out", str(out)]) == 0
    return out
