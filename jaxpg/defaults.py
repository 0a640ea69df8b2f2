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
        {"num_envs": 32, "num_updates": 1000, "obs_scale": 1 / 24, "hidden": (64, 64)},
        {"learning_rate": 1e-2, "gamma": 0.99},
        "obs_scale 1/24 brings the pixel-unit observations to O(1) for the tanh MLP; gamma 0.99 "
        "(the course's) looks ~100 steps (~16 pieces) ahead, which is what dodging the next block "
        "needs; 64-64 as the course. lr 1e-2 beat 3e-3 at equal updates (train return 16 vs 13 "
        "after 300 updates, 8 seeds). Episode lengths are heavy-tailed, so 32 envs per seed keep "
        "the gradient estimate stable while the slowest episode sets the update's cost. "
        "--advantage value at the same settings, 8 seeds x 16 eval episodes: eval mean 19.4 vs 16.9, "
        "median course score 2.3 vs 1.8 (experiments/results/pixelcopter-value-cpu/ vs "
        "pixelcopter-default-cpu/); 618 s of training on one core. It is not the default: twice in CI "
        "its first execution (2 seeds x 32 envs, in bench_env.py --smoke) never finished: jitting init "
        "and the updates as one program (make_train) hangs in ~1 of 4 processes on XLA CPU (README, "
        "known hang). More data per update buys more: "
        "128 envs, lr 3e-3, entropy 0.01, obs_norm reached training return 70 after 1,400 updates "
        "(69 M steps, 2 seeds, ~50 min on one core), eval means 193 and 32 over 10 episodes.",
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
    "8 seeds: greedy eval 92.5, worst 89.8 (rl-baselines3-zoo PPO: 88.3); 4.8 M env steps, 27 s",
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
TUNED["Pixelcopter-PLE-v0"] = TUNED["Pixelcopter-v0"]


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
