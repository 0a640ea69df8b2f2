"""Every usable CPU core as a JAX device, set before JAX starts its backend.

On a CPU, JAX gives a process one device, and XLA runs programs as small as jaxpg's chunks on
about one core. With one CPU device per usable core the run layer shards the population over
them as it does over accelerators, and a single process uses the whole machine (measured in
``docs/performance.md``). ``import jaxpg`` calls :func:`configure` once, and the ``jaxpg``
command again with its ``--cpu-devices``; both must run before the first JAX computation (on
this jax, importing gymnax starts the backend), after which the count can no longer change.

Who decides, first match wins:

1. ``--cpu-devices N`` (the command line) or ``configure(N)``;
2. the user's own setting: ``XLA_FLAGS=--xla_force_host_platform_device_count=N``,
   ``JAX_NUM_CPU_DEVICES=N``, or ``jax.config.update("jax_num_cpu_devices", N)`` made earlier;
3. ``JAXPG_CPU_DEVICES=N`` in the environment (``1``: the one device JAX gives by default);
4. the usable cores: the CPUs this process may run on (its affinity), capped by a cgroup CPU
   quota (a container's ``--cpus``), not ``os.cpu_count()``.

Only the CPU backend is affected: on a GPU or TPU the runs use the accelerator as before.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import jax
from jax._src import xla_bridge

__all__ = ["usable_cores", "user_setting", "configure", "cpu_device_count", "ENV_VAR"]

ENV_VAR = "JAXPG_CPU_DEVICES"
_XLA_FLAG = re.compile(r"--xla_force_host_platform_device_count[= ](\d+)")


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the cgroup quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), or None."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def usable_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup quota (rounded up)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def user_setting() -> str | None:
    """Where the user chose the number of CPU devices themselves, or None."""
    flags = os.environ.get("XLA_FLAGS", "")
    if _XLA_FLAG.search(flags):
        return "XLA_FLAGS --xla_force_host_platform_device_count"
    if os.environ.get("JAX_NUM_CPU_DEVICES"):
        return "JAX_NUM_CPU_DEVICES"
    if jax.config.jax_num_cpu_devices >= 0 and not _ours[0]:
        return "jax.config jax_num_cpu_devices"
    return None


_ours = [False]  # jax_num_cpu_devices was set by configure, not by the user


def _env_count() -> int | None:
    text = os.environ.get(ENV_VAR)
    if text is None or text.strip() == "":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{ENV_VAR} must be a positive integer, got {text!r}")
    return n


def configure(n: int | None = None) -> int | None:
    """Sets the number of CPU devices (``n``, or as the module doc says) if JAX's backend has not
    started; returns the count set, or None where it was left alone (the user's own setting, or a
    backend already running).

    Raises:
      ValueError: ``n`` (or ``JAXPG_CPU_DEVICES``) is not a positive integer, or ``n`` differs from
        the devices of a backend that has already started.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"`cpu_devices` must be a positive integer, got {n!r}")
    if xla_bridge.backends_are_initialized():
        if n is not None and n != cpu_device_count():
            raise ValueError(f"`cpu_devices` {n}: JAX's CPU backend already runs {cpu_device_count()} device(s) in "
                             "this process; choose the count before the first JAX computation")
        return None
    if n is None:
        if user_setting() is not None:
            return None
        n = _env_count() or usable_cores()
    jax.config.update("jax_num_cpu_devices", n)
    _ours[0] = True
    return n


def cpu_device_count() -> int:
    """The CPU devices JAX has (this starts the backend if it has not started)."""
    return len(jax.devices("cpu"))
