"""How a run stops on a signal, with nothing lost.

SIGINT (Ctrl-C) is *graceful*: the chunk that is running finishes, is read back and saved. SIGTERM
and SIGHUP (what job schedulers send before a kill), or a second SIGINT, are *urgent*: the last
chunk already read back is saved at once and the running one is dropped. Any further signal is
reported and deferred until the checkpoint and the result files are written.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

import jax

__all__ = ["Signals", "wait"]


class Signals:
    """A context that installs the handlers (main thread only) and records what arrived.

    ``signals()`` is true once any stop was requested; ``signals.urgent`` once it is urgent;
    ``signals.received`` is the first signal's name (``"SIGINT"``...) or ``None``.
    """

    NAMES = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self, lead: bool, enabled: bool = True):
        self.received: str | None = None
        self.urgent = False
        self._log = (lambda text: print(text, file=sys.stderr, flush=True)) if lead else (lambda text: None)
        self._old: dict = {}
        self._enabled = enabled and threading.current_thread() is threading.main_thread()

    def __call__(self) -> bool:
        return self.received is not None

    def _handler(self, signum, frame):
        name = signal.Signals(signum).name
        first = self.received is None
        if first:
            self.received = name
        if name != "SIGINT" or not first:
            if not self.urgent:
                self.urgent = True
                self._log(f"interrupted ({name}): saving the last finished chunk now and stopping "
                          "(the chunk that is running is dropped; further signals are deferred until "
                          "the files are written)")
            else:
                self._log(f"interrupted again ({name}): already stopping; the files are being written")
        else:
            self._log(f"interrupted ({name}): finishing the running chunk, then saving and stopping "
                      "(Ctrl-C again: save the last finished chunk now)")

    def __enter__(self):
        if self._enabled:
            for name in self.NAMES:
                sig = getattr(signal, name, None)
                if sig is not None:
                    self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def wait(tree, signals: Signals) -> bool:
    """Waits for every array of ``tree``; False as soon as an urgent stop is requested."""
    leaves = [x for x in jax.tree.leaves(tree) if isinstance(x, jax.Array)
              and not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)]
    while not all(x.is_ready() for x in leaves):
        if signals.urgent:
            return False
        time.sleep(0.02)
    return True
