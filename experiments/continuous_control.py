"""Continuous classic control (Gaussian head) with jaxpg's tuned defaults: Pendulum-v1 and
MountainCarContinuous-v0.

REINFORCE with the learned value baseline (``advantage="value"``, bootstrapping the
200/999-step time limits), observation normalisation and a state-independent log-std,
actions clipped to the bounds. 8 seeds per env, each evaluated over 20 episodes (sampled,
and greedy = the Gaussian's mean, which is how the PPO reference evaluates). Writes
``experiments/results/continuous-control-<backend>-<date>.json``.

    python experiments/continuous_control.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from classic_control import main  # noqa: E402

if __name__ == "__main__":
    main("Pendulum-v1,MountainCarContinuous-v0", "continuous-control", __doc__)
