"""Test-wide JAX settings.

- Implicit rank promotion (a common source of silent shape bugs such as [T, N] + [T])
  raises instead of broadcasting.
- XLA CPU runs single-threaded Eigen (``--xla_cpu_multi_thread_eigen=false``, set before
  JAX starts its backend, and inherited by the CLI subprocesses the tests start): a test
  run on CI once never returned from a vmapped training program, which matches the
  Eigen-thread-pool wedge other projects report on XLA CPU (README, known hang). Tests
  are mostly compile time, so this costs them little; ``pytest -n 2`` (pytest-xdist) puts
  one worker on each core instead.
"""

import os

_EIGEN = "--xla_cpu_multi_thread_eigen=false"
if _EIGEN not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_EIGEN}".strip()

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
