"""Plotting libraries that gymnax imports and jaxpg never calls, loaded only when used.

gymnax imports every environment it has, and its Pong and Rooms modules import ``seaborn`` (with
``scipy.stats``) and ``matplotlib.pyplot`` at the top for their ``render`` functions: about 0.8 s
of every ``jaxpg`` command's start on a 2-core CPU (``python -X importtime``), spent before any
training. :func:`defer` puts a stand-in for each of them in ``sys.modules`` when nothing has
imported it yet; the stand-in imports the real module on its first attribute use (and from then
on is replaced by it), so ``import seaborn as sns; sns.color_palette(...)`` works as ever, only
later. A library already imported, or not installed, is left alone.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["defer", "DEFERRED"]

DEFERRED = ("seaborn", "matplotlib.pyplot")


class _StandIn(types.ModuleType):
    """Imports the real module on the first attribute that is not its own, then steps aside."""

    def __getattr__(self, attr: str):
        real = _load(self.__name__)
        return getattr(real, attr)

    def __dir__(self):
        return dir(_load(self.__name__))


def _load(name: str) -> types.ModuleType:
    module = sys.modules.get(name)
    if isinstance(module, _StandIn):
        del sys.modules[name]
        parent, _, child = name.rpartition(".")
        try:
            real = importlib.import_module(name)
        except BaseException:
            sys.modules[name] = module
            raise
        if parent and getattr(sys.modules.get(parent), child, None) is module:
            setattr(sys.modules[parent], child, real)
        return real
    return module if module is not None else importlib.import_module(name)


def defer(names: tuple[str, ...] = DEFERRED) -> list[str]:
    """Puts stand-ins for ``names`` not yet imported (and installed); returns those deferred."""
    done = []
    for name in names:
        if name in sys.modules:
            continue
        try:
            spec = importlib.util.find_spec(name)  # (imports a parent package: matplotlib, cheap)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        stand_in = _StandIn(name)
        stand_in.__spec__ = spec  # the real one: the import system sees an initialised module
        sys.modules[name] = stand_in
        done.append(name)
    return done
