"""The bad-input probe (experiments/fault_probe.py) as a test: every flag of every command, with
values typed by mistake, is one line, exit 2, nothing written (~10 s; no case compiles)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))

import fault_probe  # noqa: E402


def test_every_bad_input_of_the_probe_is_handled():
    cases = fault_probe.cases()
    assert len(cases) > 300  # generated from the flag table: every flag of train and sweep
    bad = [r for r in map(fault_probe.run_case, cases) if not r["handled"]]
    assert not bad, bad[:5]


def test_the_probe_can_tell_a_handled_case_from_one_that_is_not(tmp_path):
    assert fault_probe.run_case(["train", "--seeds", "0"])["handled"]
    ok = fault_probe.run_case(["envs"])  # exits 0: not a handled *error*
    assert not ok["handled"] and ok["exit"] == 0
