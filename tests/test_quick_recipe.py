"""The Pixelcopter quick recipe (``jaxpg envs Pixelcopter-v0``, docs/environments.md) does what
it says: the Hugging Face course's bar, a score (mean − std over sampled episodes) of at least 5,
on at least 3 of its 4 seeds. A file of its own: it is the longest learning run of the slow tier
(~3 minutes on 2 cores), so pytest-xdist can run it beside the others."""

import json
import shlex

import pytest

from jaxpg.cli import main
from jaxpg.defaults import QUICK


@pytest.mark.slow
def test_the_pixelcopter_quick_recipe_passes_the_course_bar(tmp_path):
    argv = shlex.split(QUICK["Pixelcopter-v0"][0])
    assert argv[:2] == ["jaxpg", "train"]
    assert main([*argv[1:], "--out", str(tmp_path / "pc"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "pc" / "summary.json").read_text())
    assert summary["eval_episodes"] >= 10 and not summary["eval_greedy"]  # sampled actions, as the course
    scores = summary["eval_score"]
    assert sum(s >= 5 for s in scores) >= 3, scores
