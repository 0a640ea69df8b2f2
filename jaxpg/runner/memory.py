"""Memory: what a population needs, what the machine has, and the waves plan (changes nothing).

``plan`` measures the compiled programs (XLA's memory analysis of programs compiled from
abstract shapes: nothing is allocated) against the memory available and returns a ``Plan``:
one program holding every run, or **waves** — the same compiled program run on ``wave_runs``
runs at a time, in turn, each chunk (and the evaluation), so every run advances in lockstep and
gets exactly what one program would give it. A population whose single run per device does not
fit is refused (``RunError``, one line). ``oom_as_error`` turns an out-of-memory error that still
happens into one line.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
from typing import NamedTuple

import jax
from jax.sharding import Mesh

from jaxpg.runner.population import Population
from jaxpg.runner.spec import RunError

__all__ = ["Plan", "plan", "needed", "check_eval", "available_memory", "oom_as_error", "gib"]


class Plan(NamedTuple):
    """``wave_runs``: runs per program (``None``: one program holds every run); ``need``: bytes per
    process of the planned program; ``available``: bytes (``None``: unknown); ``text``: the plan
    as one line, or ``None`` when nothing changes."""

    wave_runs: int | None
    need: int | None
    available: int | None
    text: str | None = None


def gib(n: float) -> str:
    if n >= 2**28:
        return f"{n / 2**30:,.1f} GiB"
    return f"{n / 2**20:,.0f} MiB" if n >= 2**22 else f"{n / 2**10:,.0f} KiB"


def needed(pop: Population, eval_episodes: int = 0, eval_max_steps: int | None = None, train: bool = True) -> dict:
    """Bytes per device one program of ``pop`` needs, from XLA's memory analysis.

    ``train``: arguments + outputs + temporaries of the chunk program (its metrics buffer holds
    ``pop.capacity`` updates), less what donation aliases;
    ``eval``: the same for the evaluation program (its trajectory buffers can dominate: K
    episodes x the env's step limit). ``peak``: the larger (they run one after the other).
    """
    out = {"train": None, "eval": None}
    try:
        if train:
            ma = pop.compiled_chunk().memory_analysis()
            out["train"] = int(ma.argument_size_in_bytes + ma.output_size_in_bytes + ma.temp_size_in_bytes
                               - ma.alias_size_in_bytes)
    except Exception:  # noqa: BLE001 - backends without memory analysis
        pass
    if eval_episodes:
        try:
            ema = pop.compiled_eval(int(eval_episodes), eval_max_steps).memory_analysis()
            out["eval"] = int(ema.argument_size_in_bytes + ema.output_size_in_bytes + ema.temp_size_in_bytes)
        except Exception:  # noqa: BLE001 - backends without memory analysis
            pass
    out["peak"] = max([v for v in out.values() if v is not None], default=None)
    return out


def plan(pop: Population, eval_episodes: int = 0, eval_max_steps: int | None = None,
         budget: int | None = None) -> Plan:
    """How ``pop`` fits the memory available (``budget`` bytes if given): see the module doc.

    The wave is the largest multiple of the device count whose program fits, then evened out (as
    few waves as fit: 4,096 runs that fit 2,772 at a time run as 2 of 2,048).

    Raises:
      RunError: not even one run per device fits.
    """
    avail, what = available_memory(pop.mesh, budget)
    local = sum(1 for d in pop.mesh.devices.flat if d.process_index == jax.process_index())
    factor = local if pop.mesh.devices.flat[0].platform == "cpu" else 1

    def per_process(p: Population):
        need = needed(p, eval_episodes, eval_max_steps)
        return need, (None if need["peak"] is None else need["peak"] * factor)

    need, per = per_process(pop)
    if per is None or avail is None or per <= avail:
        return Plan(None, per, avail)
    whole, n_dev, n = per, pop.n_dev, pop.num_runs
    # a first guess from the whole program's size; memory is not linear in the runs (the loss is
    # chunked per program), so the guess is only a start and a wave of one run per device is
    # always measured before the run is refused (the message then gives its real need)
    w = max(int(avail / (per / pop.program_runs)) // n_dev * n_dev, n_dev)
    while w >= n_dev:
        need, per = per_process(pop.with_waves(w))
        if per <= avail:
            waves = math.ceil(n / w)
            even = math.ceil(math.ceil(n / waves) / n_dev) * n_dev
            if even < w:
                w = even
                need, per = per_process(pop.with_waves(w))
            return Plan(w, per, avail, f"{n:,} runs need ~{gib(whole)} in one program, {gib(avail)} is "
                                       f"available ({what}): {math.ceil(n / w)} waves of {w:,} runs, ~{gib(per)} each")
        w = (w // 2) // n_dev * n_dev
    which = "evaluation" if need["eval"] and need["eval"] == need["peak"] else "training"
    cfg = pop.config
    raise RunError(
        f"this run needs ~{gib(per)} ({which}: {n_dev} of {n} runs x {cfg.num_envs} envs, "
        f"{cfg.max_steps or pop.trainer.max_steps} steps, hidden {list(cfg.hidden)}) but {gib(avail)} is "
        f"available ({what}), even in waves of one run per device; lower `num_envs`, `max_steps`, `hidden`"
        + (" or `eval_episodes`" if which == "evaluation" else "") + ", or use more devices")


def check_eval(pop: Population, episodes: int, max_steps: int | None = None, budget: int | None = None) -> None:
    """Refuses (``RunError``, one line) an evaluation whose program does not fit the memory available
    (its trajectory buffers: ``episodes`` x the step limit per run), before anything is allocated."""
    avail, what = available_memory(pop.mesh, budget)
    local = sum(1 for d in pop.mesh.devices.flat if d.process_index == jax.process_index())
    factor = local if pop.mesh.devices.flat[0].platform == "cpu" else 1
    need = needed(pop, episodes, max_steps, train=False)["eval"]
    if need is not None and avail is not None and need * factor > avail:
        raise RunError(f"this evaluation needs ~{gib(need * factor)} ({pop.num_runs} runs x {episodes:,} episodes x "
                       f"{pop.eval_limit(max_steps):,} steps) but {gib(avail)} is available ({what}); lower "
                       "`eval_episodes` or `eval_max_steps`")


def available_memory(mesh: Mesh | None = None, budget: int | None = None) -> tuple[int | None, str]:
    """``(bytes, what)``: the memory a run may use on this process's devices.

    ``budget`` (``max_memory``), then ``JAXPG_MAX_MEMORY`` (bytes) win; an accelerator reports
    its free memory; on CPU it is the smallest of the host's available memory, the cgroup's limit
    less its usage, and the address-space limit less the process's size.
    """
    if budget is not None:
        return int(budget), "`max_memory`"
    env = os.environ.get("JAXPG_MAX_MEMORY")
    if env:
        try:
            return int(float(env)), "JAXPG_MAX_MEMORY"
        except ValueError:
            raise RunError(f"JAXPG_MAX_MEMORY must be a number of bytes, got {env!r}") from None
    dev = (mesh.devices.flat[0] if mesh is not None else jax.devices()[0])
    if dev.platform != "cpu":
        try:
            st = dev.memory_stats() or {}
            if "bytes_limit" in st:
                return int(st["bytes_limit"] - st.get("bytes_in_use", 0)), f"free on {dev.device_kind}"
        except Exception:  # noqa: BLE001
            pass
        return None, "unknown"
    return _host_memory()


def _host_memory() -> tuple[int | None, str]:
    found: list[tuple[int, str]] = []
    with contextlib.suppress(OSError):
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                found.append((int(line.split()[1]) * 1024, "host memory available"))
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            lim = open(limit_file).read().strip()
            if lim != "max" and int(lim) < 2**60:
                found.append((int(lim) - int(open(usage_file).read().strip()), "cgroup memory limit"))
            break
        except (OSError, ValueError):
            continue
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            size = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
            found.append((soft - size, "address-space limit (ulimit -v)"))
        except (OSError, ValueError):
            found.append((soft, "address-space limit (ulimit -v)"))
    return min(found) if found else (None, "unknown")


@contextlib.contextmanager
def oom_as_error():
    """Turns an out-of-memory error into a one-line ``RunError``."""
    try:
        yield
    except Exception as exc:
        text = str(exc)
        if isinstance(exc, MemoryError) or "RESOURCE_EXHAUSTED" in text or "Out of memory" in text:
            first = next((ln for ln in text.splitlines() if ln.strip()), type(exc).__name__)
            raise RunError(f"out of memory: {first.strip()[:160]}; lower `seeds`, `num_envs`, `max_steps` "
                           "or `hidden`, or use more devices") from None
        raise
