"""The two kinds of run: everything that differs between ``jaxpg train`` and ``jaxpg sweep``.

A train run is one point × S seeds and reports per seed (``summary.json``); when a seed
diverges, the run stops. A sweep is H points × S seeds and ranks points (``sweep.json``); when a
seed diverges, its point is dropped and the others go on. Nothing else in the run layer asks
which kind it runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxpg.text import count

__all__ = ["Train", "Sweep", "kind_of", "TRAIN", "SWEEP"]


class Train:
    name = "train"
    results_file = "summary.json"
    other_file = "sweep.json"

    def describe(self, pop) -> str:
        return count(pop.seeds, "seed")

    def csv_axes(self, axes) -> None:
        """A train run's CSV rows have no point columns."""
        return None

    def diverged(self, board, point: int, message: str) -> None:
        board.say(f"  {message}")
        board.freeze(np.repeat(np.arange(board.pop.num_points) == point, board.pop.seeds))
        board.request_stop("diverged")

    def evaluates(self, diverged: dict) -> bool:
        """A train run that diverged is not evaluated."""
        return not diverged

    def finished(self, result) -> bool:
        return result.interrupted is None and not result.diverged

    def results(self, common: dict, rows: list[dict], result) -> dict[str, Any]:
        row = rows[0]
        return {**common, "hparams": row["hparams"], "diverged": row["diverged"],
                **{k: row.get(k) for k in ("eval_mean", "eval_std", "eval_score", "eval_mean_other_mode")}}


class Sweep:
    name = "sweep"
    results_file = "sweep.json"
    other_file = "summary.json"

    def describe(self, pop) -> str:
        return f"{count(pop.num_points, 'point')} x {count(pop.seeds, 'seed')} = {count(pop.num_runs, 'run')}"

    def csv_axes(self, axes) -> list[str]:
        """A sweep's CSV rows start with the point and its swept values."""
        return list(axes)

    def diverged(self, board, point: int, message: str) -> None:
        board.say(f"  point {point} diverged: {message}")
        board.freeze(np.repeat(np.arange(board.pop.num_points) == point, board.pop.seeds))

    def evaluates(self, diverged: dict) -> bool:
        """A sweep evaluates the points that did not diverge."""
        return True

    def finished(self, result) -> bool:
        return result.interrupted is None

    def results(self, common: dict, rows: list[dict], result) -> dict[str, Any]:
        pop, axes = result.population, result.spec.axes
        return {**common, "axes": {a: list(dict.fromkeys(p.get(a) for p in pop.points)) for a in axes},
                "points": rows, "runs": pop.num_runs, "padded_runs": pop.padded_runs,
                "stopped_early": result.stopped_early}


TRAIN, SWEEP = Train(), Sweep()


def kind_of(spec) -> Train | Sweep:
    return SWEEP if spec.is_sweep else TRAIN
