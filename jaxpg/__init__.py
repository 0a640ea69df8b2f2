"""jaxpg: REINFORCE as pure, jit- and vmap-compiled JAX functions.

A stochastic policy plays whole episodes; each step's log-probability is weighted by the
return that followed it; the parameters move by gradient ascent. Every piece is a pure
function you can jit, vmap and compose. Arrays are time-major: ``[T, N, ...]``.

The blocks, in the order an update uses them::

    env, env_params = jaxpg.envs.make("CartPole-v1")        # gymnax ids, Pixelcopter, probes
    policy = jaxpg.mlp_policy((64, 64), num_actions=2)       # (init, apply) -> logits
    traj, stats = jaxpg.rollout(key, env, env_params, act, num_envs, max_steps)   # Trajectory [T, N]
    discounts = jaxpg.episode_discounts(gamma, traj.terminated, traj.truncated)
    returns = jaxpg.discounted_returns(traj.rewards, discounts)   # G_t = r_t + d_t G_{t+1}
    adv = jaxpg.advantages(returns, traj.valid, "mean")           # none | normalize | mean | value
    loss, aux = jaxpg.reinforce_loss(params, policy.apply, traj.obs, traj.actions, adv, traj.valid, 0.0)

Above the blocks:

- ``jaxpg.Config`` (static: shapes, env, modes; changing it recompiles) and
  ``jaxpg.HParams`` (traced: learning rate, gamma, ...; new values never recompile).
- ``jaxpg.make_trainer(config)``: ``init``/``update``/``train`` with optax, clipping,
  schedules, the value baseline; ``jaxpg.make_train(config)``: a whole run as one pure function
  ``train(key, hparams) -> (TrainState, Metrics)``, to vmap over seeds and hyperparameters.
- ``jaxpg.run(jaxpg.RunSpec(config, points=..., seeds=...))``: the run layer behind the ``jaxpg``
  command (``jaxpg.runner``: sharding, the chunk loop and its parts — checkpoints, signals,
  divergence, evaluation, the run directory); ``jaxpg.resume(dir)``; ``jaxpg.sweep.grid(...)``
  builds points.
- ``jaxpg.load(run_dir, seed_index=i)``: a trained seed's policy (``act``, ``greedy``, ``apply``,
  ``evaluate``) exactly as its run used it, observation scaling and normalisation included.
- ``jaxpg.evaluate``/``jaxpg.summarize``: evaluation episodes and the mean - std score.
- Modules: ``returns``, ``losses``, ``policies``, ``rollout``, ``train``, ``runner``,
  ``sweep``, ``checkpoint``, ``stats`` (IQM, bootstrap CIs), ``plotting``, ``render``,
  ``envs`` (``envs.pixelcopter``), ``compile_cache``.

Shapes and the maths are in each function's docstring; ``docs/`` in the repository has the
algorithm, the environments, results and performance. The command line: ``jaxpg --help``.
"""

import importlib
import warnings
from typing import TYPE_CHECKING

# Modules that do not import gymnax are imported eagerly (a submodule and a function share the
# names `rollout` and `evaluate`: the function must win). `envs`, `train`, `runner` and `sweep`
# import gymnax, and importing gymnax starts a JAX backend; they load on first use (PEP 562) so
# that ``jax.distributed.initialize`` (``jaxpg sweep --coordinator ...``) can run before them.
from jaxpg import deferred, devices, losses, policies, returns
from jaxpg._version import __version__ as __version__  # re-exported; jaxpg/_version.py defines it
from jaxpg.evaluate import EvalSummary, evaluate, summarize
from jaxpg.losses import entropy_loss, policy_gradient_loss, reinforce_loss
from jaxpg.policies import Categorical, Gaussian, Policy, mlp_policy, value_network
from jaxpg.returns import advantages, bootstrap_rewards, discounted_returns, episode_discounts
from jaxpg.rollout import RolloutStats, rollout
from jaxpg.types import Config, HParams, Metrics, TrainState, Trajectory

deferred.defer()  # gymnax's render-only imports (seaborn, pyplot) load when used, not at start

try:  # every usable core as a CPU device, unless the user chose (jaxpg.devices); before any backend starts
    devices.configure()
except ValueError as _e:  # a bad JAXPG_CPU_DEVICES: JAX's own default, said once
    warnings.warn(str(_e), stacklevel=2)

_LAZY = {
    "envs": "jaxpg.envs", "sweep": "jaxpg.sweep",
    "Trainer": "jaxpg.train", "make_optimizer": "jaxpg.train", "make_train": "jaxpg.train",
    "make_trainer": "jaxpg.train", "check_finite": "jaxpg.train", "DivergedError": "jaxpg.train",
    "runner": "jaxpg.runner", "run": "jaxpg.runner", "resume": "jaxpg.runner",
    "Population": "jaxpg.runner", "RunResult": "jaxpg.runner", "RunSpec": "jaxpg.runner",
    "Evaluation": "jaxpg.runner", "Schedule": "jaxpg.runner", "RunError": "jaxpg.runner",
    "load": "jaxpg.agent", "Agent": "jaxpg.agent", "clear_caches": "jaxpg.caches",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jaxpg' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if module.rsplit(".", 1)[1] == name else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover
    from jaxpg import envs, runner, sweep  # noqa: F401
    from jaxpg.agent import Agent, load  # noqa: F401
    from jaxpg.caches import clear_caches  # noqa: F401
    from jaxpg.runner import Evaluation, Population, RunError, RunResult, RunSpec, Schedule, resume, run  # noqa: F401
    from jaxpg.train import (  # noqa: F401
        DivergedError,
        Trainer,
        check_finite,
        make_optimizer,
        make_train,
        make_trainer,
    )

__all__ = [
    "Agent",
    "Categorical",
    "Config",
    "DivergedError",
    "Gaussian",
    "EvalSummary",
    "HParams",
    "Metrics",
    "Policy",
    "Population",
    "RolloutStats",
    "RunResult",
    "TrainState",
    "Trainer",
    "Trajectory",
    "advantages",
    "bootstrap_rewards",
    "check_finite",
    "clear_caches",
    "discounted_returns",
    "runner",
    "RunSpec",
    "Evaluation",
    "Schedule",
    "RunError",
    "entropy_loss",
    "envs",
    "episode_discounts",
    "evaluate",
    "load",
    "losses",
    "make_optimizer",
    "make_train",
    "make_trainer",
    "mlp_policy",
    "policies",
    "policy_gradient_loss",
    "reinforce_loss",
    "resume",
    "returns",
    "run",
    "sweep",
    "rollout",
    "summarize",
    "value_network",
]
