"""jaxpg: REINFORCE as pure, jit- and vmap-compiled JAX functions."""

from jaxpg import envs, losses, policies, returns
from jaxpg.evaluate import EvalSummary, evaluate, summarize
from jaxpg.losses import entropy_loss, policy_gradient_loss, reinforce_loss
from jaxpg.policies import Policy, mlp_policy
from jaxpg.returns import advantages, discounted_returns, episode_discounts
from jaxpg.rollout import RolloutStats, rollout
from jaxpg.train import Trainer, make_optimizer, make_train, make_trainer
from jaxpg.types import Config, HParams, Metrics, TrainState, Trajectory

__version__ = "0.1.0"

__all__ = [
    "Config",
    "EvalSummary",
    "HParams",
    "Metrics",
    "Policy",
    "RolloutStats",
    "TrainState",
    "Trainer",
    "Trajectory",
    "advantages",
    "discounted_returns",
    "entropy_loss",
    "envs",
    "episode_discounts",
    "evaluate",
    "losses",
    "make_optimizer",
    "make_train",
    "make_trainer",
    "mlp_policy",
    "policies",
    "policy_gradient_loss",
    "reinforce_loss",
    "returns",
    "rollout",
    "summarize",
]
