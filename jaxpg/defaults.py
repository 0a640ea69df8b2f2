"""Recommended settings per environment.

``recommended(env)`` returns the ``(Config, HParams)`` that ``jaxpg train``
uses when a flag is not given. Environments without an entry use the
``Config``/``HParams`` class defaults (tuned on CartPole-v1). Every entry
says what it was measured to do.
"""

from __future__ import annotations

from jaxpg.types import Config, HParams

__all__ = ["recommended", "TUNED"]

# env name -> (Config overrides, HParams overrides, why)
TUNED: dict[str, tuple[dict, dict, str]] = {
    "CartPole-v1": (
        {},
        {},
        "8 seeds x 16 envs, 150 updates: every seed at eval mean 500 (64/64 over two root keys)",
    ),
    "Pixelcopter-v0": (
        {"num_envs": 128, "num_updates": 8000, "max_steps": 256, "obs_scale": 1 / 24, "hidden": (64, 64),
         "advantage": "value", "obs_norm": True},
        {"learning_rate": 3e-3, "gamma": 0.99, "entropy_coef": 0.01, "gae_lambda": 0.95},
        "Training episodes are cut at 256 steps (evaluation plays to the 10,000-step limit) and the "
        "value baseline bootstraps the cut: an update otherwise waits for the longest of its heavy-tailed "
        "episodes, and only 15-20 percent of simulated steps were valid; with the cut, 285 k valid "
        "steps/s on one core at 2 seeds x 128 envs instead of 46-61 k (same machine). "
        "GAE lambda 0.95 credits a block crash to the ~20 steps before it rather than to the whole "
        "episode: training return 51 "
        "vs 25 at update 700 (no cut, 2 seeds each). 128 envs: block encounters are the scarce "
        "signal. obs_scale 1/24 and obs_norm standardise the pixel-unit observations. gamma 0.99 "
        "looks ~100 steps (~16 pieces, one block) ahead; 64-64 as the course. 8,000 updates: over 8 "
        "seeds x 256 episodes (experiments/pixelcopter_results.py, 2 processes x 4 seeds, one core "
        "each, 33 min wall, ~240 M valid env steps per seed), mean return 389-608 per seed and course "
        "score (mean - std, sampled actions) median 65.7, worst 13.2; greedy: median 96.1, worst 49.0. "
        "Half the steps (~14 min): 64 envs 42.3 / 6.7, 16 envs x 30,400 updates 44.2 / 34.9 "
        "(entropy 0.003: 47.9 / 18.7), training episodes cut at 128 steps 20.9 / 16.9. "
        "(Earlier random stream, Pixelcopter-threefry-v0: 47.4 / 22.1 at 8,000 updates, "
        "21.4 / -3.2 at 4,000.)",
    ),
}
TUNED["Acrobot-v1"] = (
    {"num_envs": 16, "num_updates": 300, "advantage": "value", "obs_norm": True},
    {"learning_rate": 1e-2},
    "value baseline + observation normalisation: 8 seeds, 20 sampled eval episodes each, mean -82.8, "
    "worst seed -87.6 (3.9 M env steps, 24 s on one CPU core; experiments/classic_control.py); "
    "advantage 'normalize' left 1 of 8 seeds at -500 after 200 updates",
)
TUNED["MountainCar-v0"] = (
    {"num_envs": 16, "num_updates": 300, "advantage": "value", "obs_norm": True},
    {"learning_rate": 1e-2},
    "the Acrobot settings: 8 of 8 seeds reach the flag; 20 sampled eval episodes each, mean -115.7, "
    "worst seed -133.2 (5.2 M env steps, 8 s; experiments/classic_control.py). The value baseline "
    "is what makes the rare early successes count: their states stand out against V",
)
TUNED["MountainCarContinuous-v0"] = (
    {"num_envs": 16, "num_updates": 300, "advantage": "value", "obs_norm": True},
    {"learning_rate": 3e-3},
    "Gaussian head (state-independent log-std from 0, actions clipped): the unit-variance start "
    "explores enough to find the goal; value baseline with bootstrapping at the 999-step limit. "
    "8 seeds (gymnasium's dynamics, jaxpg.envs.classic): greedy eval 92.9, worst 92.7 (rl-baselines3-zoo PPO: "
    "88.3); 4.2 M env steps (experiments/continuous_control.py)",
)
TUNED["Pendulum-v1"] = (
    {"num_envs": 64, "num_updates": 1000, "advantage": "value", "obs_norm": True, "value_steps": 4},
    {"learning_rate": 3e-3, "value_learning_rate": 3e-3},
    "Gaussian head, clipped actions; every episode is cut at 200 steps, so the value baseline's "
    "bootstrap at the cut is what makes late steps count. Tuning on 4 seeds x 25-51 M steps: "
    "gamma 0.95/0.9, an entropy bonus, a state-dependent log-std and 256 envs were all worse; "
    "in those runs about 1 seed in 4 stayed at ~-700. These settings, 8 seeds "
    "(experiments/continuous_control.py): greedy eval mean -138.9, worst seed -152.5; sampled -153.2 "
    "(PPO reference -172); 102 M env steps, 260 s on one core",
)
TUNED["Pixelcopter-PLE-v0"] = TUNED["Pixelcopter-threefry-v0"] = TUNED["Pixelcopter-v0"]


def recommended(env: str, **config_overrides) -> tuple[Config, HParams]:
    """The recommended ``Config`` and ``HParams`` for ``env``.

    Args:
      env: environment name.
      **config_overrides: ``Config`` fields to set on top (validated).

    Returns:
      ``(Config, HParams)``.
    """
    cfg, hp, _ = TUNED.get(env, ({}, {}, ""))
    return Config(env=env, **{**cfg, **config_overrides}), HParams(**hp)
