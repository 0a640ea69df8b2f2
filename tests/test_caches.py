"""``jaxpg.clear_caches``: a long-lived process can drop the code of the programs it compiled."""

from pathlib import Path

import pytest

import jaxpg
from jaxpg import runner
from jaxpg.runner import population

MAPS = Path("/proc/self/maps")


@pytest.mark.slow  # compiles a run's programs (seconds cold): the slow tier
@pytest.mark.skipif(not MAPS.exists(), reason="counts the process's memory maps (Linux /proc)")
def test_clear_caches_unmaps_the_compiled_programs():
    cfg = jaxpg.Config(env="CartPole-v1", num_envs=2, hidden=(5,), max_steps=10, num_updates=2)
    runner.run(runner.RunSpec(cfg, seeds=1, evaluation=runner.Evaluation(episodes=1)), handle_signals=False)
    assert population._COMPILED  # the run layer keeps its chunk and evaluation programs for reuse
    before = len(MAPS.read_text().splitlines())
    jaxpg.clear_caches()
    after = len(MAPS.read_text().splitlines())
    assert not population._COMPILED and not population._PROGRAMS
    assert before - after > 100, (before, after)  # a small run's programs hold ~1,000 maps of code
