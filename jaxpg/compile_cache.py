"""JAX's persistent compilation cache, on by default for jaxpg's command line and driver.

Compiling a training program takes seconds to tens of seconds (most of a short run's wall
time on CPU); running the same program again in a new process then costs only reading it
back from disk. :func:`enable` points JAX's persistent compilation cache at a directory:

* ``JAXPG_COMPILE_CACHE`` unset: ``$XDG_CACHE_HOME/jaxpg/xla`` (``~/.cache/jaxpg/xla``);
* ``JAXPG_COMPILE_CACHE=DIR``: that directory;
* ``JAXPG_COMPILE_CACHE=0`` (or ``off``, ``false``, ``no``, empty): no cache
  (``jaxpg --no-compile-cache ...`` does the same for one command).

If JAX already has a cache directory (``JAX_COMPILATION_CACHE_DIR``, or your own
``jax.config.update("jax_compilation_cache_dir", ...)``) that one is kept. A directory that
cannot be created leaves the cache off; nothing fails because of it. The cache is keyed by
the program, the jax/jaxlib version, the backend and the device, so a stale entry is never
used; delete the directory to reclaim its space.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

__all__ = ["ENV_VAR", "default_dir", "disable", "enable", "requested_dir"]

ENV_VAR = "JAXPG_COMPILE_CACHE"
_OFF = {"0", "off", "false", "no", ""}
# Programs that compile faster than this are not written (reading one back costs about as much).
MIN_COMPILE_SECONDS = 0.5

_enabled: Path | None = None
_disabled = False


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jaxpg" / "xla"


def requested_dir() -> Path | None:
    """The directory ``JAXPG_COMPILE_CACHE`` asks for (``None``: turned off)."""
    value = os.environ.get(ENV_VAR)
    if value is None:
        return default_dir()
    if value.strip().lower() in _OFF:
        return None
    return Path(value).expanduser()


def disable() -> None:
    """Makes every later :func:`enable` in this process a no-op (``--no-compile-cache``).

    A cache JAX already uses (set earlier in the process) is not switched off.
    """
    global _disabled
    _disabled = True


def enable(path: str | os.PathLike | None = None) -> Path | None:
    """Turns on JAX's persistent compilation cache; returns the directory in use (or ``None``).

    Args:
      path: the cache directory (default: :func:`requested_dir`, which honours
        ``JAXPG_COMPILE_CACHE``). An explicit path wins over the variable but not over a
        cache directory already set in JAX.
    """
    global _enabled
    if _disabled:
        return None
    current = jax.config.jax_compilation_cache_dir
    if current:
        return Path(current)
    target = Path(path).expanduser() if path is not None else requested_dir()
    if target is None:
        return None
    try:
        target.mkdir(parents=True, exist_ok=True)
        if not os.access(target, os.W_OK | os.X_OK):
            return None
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(target))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    _enabled = target
    return target
