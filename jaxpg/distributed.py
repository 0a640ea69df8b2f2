"""Joining a multi-process (multi-host) JAX run, kept free of heavy imports.

``jax.distributed.initialize`` must run before anything starts a JAX backend;
importing gymnax does, so this module imports nothing but jax.
"""

from __future__ import annotations

import os
import socket
import time

import jax

__all__ = ["initialize_distributed"]


def initialize_distributed(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_s: int = 60,
) -> None:
    """Starts ``jax.distributed`` from arguments or the standard environment variables.

    Missing arguments are read from ``JAX_COORDINATOR_ADDRESS``,
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``. Must run before any JAX
    computation. Fails (a ``RuntimeError`` naming the coordinator) if the
    processes cannot all connect within ``timeout_s`` seconds.
    """
    coordinator = coordinator or os.environ.get("JAX_COORDINATOR_ADDRESS")
    if num_processes is None and os.environ.get("JAX_NUM_PROCESSES"):
        num_processes = int(os.environ["JAX_NUM_PROCESSES"])
    if process_id is None and os.environ.get("JAX_PROCESS_ID"):
        process_id = int(os.environ["JAX_PROCESS_ID"])
    if coordinator is None or num_processes is None or process_id is None:
        raise ValueError("distributed runs need a coordinator address, a number of processes and a "
                         "process id (flags or JAX_COORDINATOR_ADDRESS/JAX_NUM_PROCESSES/JAX_PROCESS_ID)")
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process id must be in [0, {num_processes}), got {process_id}")
    if process_id != 0:
        _wait_for_coordinator(coordinator, timeout_s)
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator, num_processes=num_processes, process_id=process_id,
            initialization_timeout=int(timeout_s),
        )
    except Exception as e:  # noqa: BLE001 - jax raises several kinds here
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RuntimeError(
            f"could not join the distributed run at {coordinator} as process {process_id} of "
            f"{num_processes} within {timeout_s} s: {first}"
        ) from None


def _wait_for_coordinator(address: str, timeout_s: float) -> None:
    """Polls ``host:port`` until it accepts a TCP connection; a clear error after ``timeout_s``.

    JAX itself aborts the whole process (a C++ fatal error and a stack dump) when
    the coordinator cannot be reached, so processes other than 0 check first.
    """
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"coordinator address must be host:port, got {address!r}")
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
                return
        except OSError as e:
            last = e.strerror or str(e)
            time.sleep(0.2)
    raise RuntimeError(f"the coordinator {address} could not be reached within {timeout_s:g} s ({last})")
