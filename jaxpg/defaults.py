"""Recommended settings per environment.

``recommended(env)`` returns the ``(Config, HParams)`` that ``jaxpg train``
uses when a flag is not given. Environments without an entry use the
``Config``/``HParams`` class defaults (tuned on CartPole-v1). Every entry
says what it was measured to do.
"""

from __future__ import annotations

from jaxpg.types import Config, HParams

__all__ = ["recommended", "TUNED", "PROVISIONAL", "QUICK"]

# env name -> (Config overrides, HParams overrides, why)
TUNED: dict[str, tuple[dict, dict, str]] = {
    "CartPole-v1": (
        {},
        {},
        "8 seeds x 16 envs, 150 updates: every seed at eval mean 500 (64/64 over two root keys)",
    ),
    "Pixelcopter-v0": (
        {"num_envs": 16, "num_updates": 30400, "max_steps": 256, "obs_scale": 1 / 24, "hidden": (64, 64),
         "advantage": "value", "obs_norm": True, "frame_stack": 4},
        {"learning_rate": 1e-3, "gamma": 0.99, "entropy_coef": 0.01, "gae_lambda": 0.95},
        "Over 8 seeds x 256 episodes (experiments/pixelcopter_results.py, 2 processes x 4 seeds, one "
        "core each): course score (mean - std, sampled actions) median 104.8, worst 44.4; greedy "
        "134.5 / 54.8; mean return 417-754 per seed; 15 min wall, 120 M valid env steps per seed. "
        "The previous defaults (128 envs x 8,000 updates, no frame stack, lr 3e-3): 65.7 / 13.2 in "
        "241 M steps and 33 min. frame_stack 4: the policy sees the last 4 observations, so it can "
        "infer the slope of the terrain piece the 7 values do not show; with lr 3e-3 3 of 8 seeds "
        "collapsed early to never pressing (median 67.9, worst -1.7), lr 1e-3 none "
        "(experiments/pixelcopter_stuck_seeds.py screens it). 16 envs x 30,400 updates: more "
        "updates of smaller batches use the steps best (64 envs: 42.3 / 6.7 at the same steps, "
        "no frame stack). Training episodes are cut at 256 steps (evaluation plays to the "
        "10,000-step limit) and the value baseline bootstraps the cut. GAE lambda 0.95 credits a "
        "crash to the ~20 steps before it. obs_scale 1/24 and obs_norm standardise the pixel-unit "
        "observations. gamma 0.99 looks ~100 steps ahead; 64-64 as the course. Chosen among 8 "
        "settings on the same 8 seeds; not yet rechecked on fresh seeds (--roots).",
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
TUNED["MemoryChain-bsuite"] = (
    {"policy": "gru", "hidden": (64,), "num_envs": 64, "num_updates": 200, "max_steps": 6},
    {},
    "a GRU carries the context bit from step 0 to the reward 5 steps later; 8 of 8 seeds at eval mean 1.0 by "
    "update ~20 (an mlp stays at chance, 0). Episodes are 6 steps: max_steps 6 sizes the buffers to them "
    "(experiments/memory_chain.py; docs/results.md, Memory)",
)
TUNED["MemoryChain-30-bsuite"] = (
    {"policy": "gru", "hidden": (64,), "num_envs": 256, "num_updates": 600, "max_steps": 31},
    {},
    "30 steps of memory: 256 envs (the 30 uninformative actions make the gradient noisy) x 600 updates; "
    "with the GRU's update gate biased to keep its state (policies.Z_BIAS) 7 of 8 seeds solve it "
    "(5 of 8 without); 6 of 8 fresh seeds (root 1); the others stay at chance. experiments/memory_chain.py",
)
# env -> (command, what it was measured to do): a run that shows the env being learned in minutes
# on 2 CPU cores, where the tuned budget takes longer (`jaxpg envs ENV` prints it).
QUICK: dict[str, tuple[str, str]] = {
    "Pixelcopter-v0": (
        "jaxpg train --env Pixelcopter-v0 --seeds 4 --updates 4000",
        "see it learn in ~2.5 minutes on 2 CPU cores (13 M valid env steps per seed, 1/8 of the tuned "
        "budget; the tuned settings otherwise): the Hugging Face course's bar, a score (mean - std over "
        "32 sampled episodes) >= 5, on 4 of 4 seeds for --seed 0 (scores 81, 60, 36, 27; 2 min 9 s) and "
        "--seed 1 (39, 103, 128, 7; 2 min 23 s with a cold compile). With fewer updates the linear "
        "decay ends before the policy learns: --updates 1500 left every seed's score below 1.",
    ),
}

PROVISIONAL: set[str] = set()  # entries that are a starting point, not tuned (`jaxpg envs` says so)
_MINATAR_WHY = (
    "tuned at a CPU budget, the learning rate only: MinAtar's network (--policy cnn: a 3x3 conv of 16 filters, "
    "then 128 units) with the Pixelcopter recipe (16 envs, training episodes cut at 256 steps and bootstrapped by "
    "the value baseline, GAE 0.95, entropy 0.01), {updates} updates ({steps} valid env steps a seed measured, "
    "sized for 2 CPU cores; the MinAtar paper trains 5 M). Learning rate {lr:g}: {why} "
    "(experiments/minatar_tune.py: 1e-3/3e-3/1e-2 screened on 4 seeds at half the budget, then 3e-3 against 1e-2 "
    "on 8 fresh seeds at the full budget). experiments/minatar.py: the table in docs/results.md; "
    "experiments/accelerator_check.py runs it at 5 M steps"
)
# game -> (updates, env steps a seed measured, learning rate, the evidence: IQM [95% CI] over 8 fresh seeds)
_MINATAR = {
    "Breakout-MinAtar": (150, "62 k", 3e-3, "chosen by the screen (IQM 1.69 against 0.52 at 1e-2) and confirmed: on "
                         "fresh seeds 2.45 [1.45, 4.27] against 0.80 [0.36, 2.80] at 1e-2 (worst seed 1.16 against "
                         "0.00)"),
    "Asterix-MinAtar": (60, "65 k", 3e-3, "the screen's 1e-2 was not confirmed: on fresh seeds 0.68 [0.55, 0.77] "
                        "at 3e-3 against 0.65 [0.45, 0.87] at 1e-2 (no difference; both barely above the random "
                        "policy's 0.44)"),
    "Freeway-MinAtar": (15, "61 k", 1e-2, "on fresh seeds 20.30 [8.52, 25.42] against 6.34 [3.20, 11.58] at 3e-3, "
                        "but 2 of 8 seeds collapse to never crossing (0.00, 0.09; none at 3e-3, worst 0.78)"),
    "SpaceInvaders-MinAtar": (30, "28 k", 1e-2, "on fresh seeds 8.12 [6.04, 9.23] against 6.85 [5.90, 7.75] at "
                              "3e-3 (worst seed 4.25 against 5.56)"),
    "Seaquest-MinAtar": (60, "112 k", 3e-3, "the screen's 1e-2 was not confirmed: on fresh seeds 0.98 [0.58, 1.12] "
                         "at 1e-2 against 0.90 [0.77, 0.98] at 3e-3, the intervals overlapping and one seed at "
                         "1e-2 collapsed to 0 (worst at 3e-3: 0.59)"),
}
for _game, (_updates, _steps, _lr, _why) in _MINATAR.items():
    TUNED[_game] = (
        {"policy": "cnn", "hidden": (128,), "num_envs": 16, "num_updates": _updates, "max_steps": 256,
         "advantage": "value"},
        {"learning_rate": _lr, "entropy_coef": 0.01, "gae_lambda": 0.95},
        _MINATAR_WHY.format(updates=_updates, steps=_steps, lr=_lr, why=_why),
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
