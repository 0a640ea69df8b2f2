"""The parts the chunk loop calls between chunks (``jaxpg.runner.loop.Part``).

Every run gets, in this order: ``Divergence``, (``StepBudget`` for a run sized by
``Config.total_steps``), ``EvaluateDuring``, ``ProgressReport``, ``Checkpointing``, then the parts
the caller adds (``EarlyStop``, ``KeepBest``, trackers...), then ``FinalEvaluation``.
``docs/development.md`` shows how to write a new one.
"""

from jaxpg.runner.parts.budget import StepBudget, budget_spent, steps_per_run
from jaxpg.runner.parts.checkpointing import Checkpointing
from jaxpg.runner.parts.divergence import Divergence, diverged_points
from jaxpg.runner.parts.early_stop import EarlyStop
from jaxpg.runner.parts.evaluation import EvaluateDuring, FinalEvaluation
from jaxpg.runner.parts.keep_best import KeepBest
from jaxpg.runner.parts.progress import Progress, ProgressReport

__all__ = ["Checkpointing", "Divergence", "diverged_points", "EarlyStop", "EvaluateDuring", "FinalEvaluation",
           "KeepBest", "Progress", "ProgressReport", "StepBudget", "budget_spent", "steps_per_run"]
