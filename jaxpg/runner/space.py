"""Search spaces: ranges and choices of the traced hyperparameters, and how trials are drawn.

A ``Space`` is one ``HParams`` field: a range ``low..high`` (drawn log-uniformly for scale
parameters — the learning rates and the gradient clip — uniformly otherwise) or a list of
choices. Trial ``t`` of a search with root seed ``seed`` is drawn from its own generator
(``numpy.random.default_rng([seed, t])``), so the same key gives the same trials in any order
and after any resume. Static settings (the env, the network) shape the compiled program and
cannot be searched within one; run one search per static setting.

Example::

    spaces = [Space.parse("learning_rate", "1e-4..1e-1"), Space.parse("gamma", "0.95,0.99,1")]
    draw(spaces, seed=0, trial=3)      # {"learning_rate": 0.0071..., "gamma": 0.99}
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from jaxpg.runner.spec import HPARAM_FIELDS, RunError
from jaxpg.types import HParams

__all__ = ["Space", "draw", "explore_rng", "LOG_FIELDS"]

LOG_FIELDS = ("learning_rate", "value_learning_rate", "max_grad_norm")  # drawn on a log scale
_DRAW_SALT = 0x7475  # "tu": trial draws
_EXPLORE_SALT = 0x6578  # "ex": PBT's perturbations


@dataclasses.dataclass(frozen=True)
class Space:
    """One searchable field: ``low..high`` (``log``: log-uniform) or ``choices``."""

    field: str
    low: float | None = None
    high: float | None = None
    choices: tuple[float, ...] | None = None
    log: bool = False

    def __post_init__(self):
        if self.field not in HPARAM_FIELDS:
            raise RunError(f"`{self.field}` is not searchable in one program (static settings shape it); "
                           f"searchable: {', '.join(HPARAM_FIELDS)}")
        values = self.choices if self.choices is not None else (self.low, self.high)
        for v in values:
            try:
                HParams(**{self.field: v})  # the field's own range check
            except ValueError as e:
                raise RunError(str(e)) from None
        if self.choices is None and not self.low < self.high:
            raise RunError(f"`{self.field}` range {self.low:g}..{self.high:g} is empty: "
                           "write LOW..HIGH with LOW < HIGH")
        if self.log and self.choices is None and self.low <= 0:
            raise RunError(f"`{self.field}` is drawn log-uniformly: its range must be above 0")

    @classmethod
    def parse(cls, field: str, text: str) -> Space:
        """``"LOW..HIGH"`` (a range) or ``"A,B,C"`` (choices)."""
        try:
            if ".." in text:
                lo, hi = (float(x) for x in text.split(".."))
                choices = None
            else:
                lo = hi = None
                choices = tuple(float(x) for x in text.split(","))
        except ValueError:
            raise RunError(f"`{field}` takes LOW..HIGH or A,B,C, got {text!r}") from None
        return cls(field, lo, hi, choices, log=choices is None and field in LOG_FIELDS)

    def sample(self, rng: np.random.Generator) -> float:
        if self.choices is not None:
            return float(self.choices[int(rng.integers(len(self.choices)))])
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def perturb(self, value: float, rng: np.random.Generator) -> float:
        """PBT's explore: ×0.8 or ×1.2, clipped into the range; or a neighbouring choice."""
        if self.choices is not None:
            i = int(np.argmin([abs(c - value) for c in self.choices]))
            return float(self.choices[int(np.clip(i + (1 if rng.random() < 0.5 else -1), 0, len(self.choices) - 1))])
        factor = 0.8 if rng.random() < 0.5 else 1.2
        return float(np.clip(value * factor, self.low, self.high))

    def record(self) -> dict:
        return {"field": self.field, "low": self.low, "high": self.high,
                "choices": None if self.choices is None else list(self.choices), "log": self.log}

    @classmethod
    def from_record(cls, d: dict) -> Space:
        return cls(d["field"], d["low"], d["high"], None if d["choices"] is None else tuple(d["choices"]), d["log"])


def draw(spaces: Sequence[Space], seed: int, trial: int) -> dict[str, float]:
    """Trial ``trial``'s hyperparameters (its own generator: the same key, the same trials)."""
    rng = np.random.default_rng([int(seed) % 2**63, _DRAW_SALT, int(trial)])
    return {s.field: s.sample(rng) for s in spaces}


def explore_rng(seed: int, update: int, slot: int) -> np.random.Generator:
    """The generator of PBT's choices at ``update`` for ``slot`` (deterministic: same key, same lineage)."""
    return np.random.default_rng([int(seed) % 2**63, _EXPLORE_SALT, int(update), int(slot)])
