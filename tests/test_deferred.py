"""gymnax's render-only imports (seaborn, pyplot) are deferred by ``import jaxpg`` and still work."""

import subprocess
import sys
import types

import pytest

from jaxpg import deferred


def test_a_stand_in_loads_the_real_module_on_first_use(monkeypatch):
    monkeypatch.delitem(sys.modules, "json.tool", raising=False)  # a stdlib module nothing here has imported
    assert deferred.defer(("json.tool", "no_such_module_xyz")) == ["json.tool"]
    stand_in = sys.modules["json.tool"]
    assert type(stand_in).__name__ == "_StandIn" and stand_in.__spec__.name == "json.tool"
    assert callable(stand_in.main)  # first use: the real module is imported ...
    real = sys.modules["json.tool"]
    assert isinstance(real, types.ModuleType) and type(real) is not type(stand_in)  # ... and replaces it
    assert deferred.defer(("json.tool",)) == []  # already imported: left alone


@pytest.mark.slow
def test_seaborn_and_pyplot_work_after_import_jaxpg():
    code = ("import sys, jaxpg, jaxpg.envs\n"
            "assert type(sys.modules['seaborn']).__name__ == '_StandIn', 'seaborn was loaded at start'\n"
            "assert 'scipy.stats' not in sys.modules\n"
            "import seaborn as sns, matplotlib.pyplot as plt\n"
            "assert len(sns.color_palette('cubehelix', 3)) == 3\n"
            "fig = plt.figure(); plt.close(fig)\n"
            "import gymnax\n"
            "env, params = gymnax.make('Pong-misc')\n"  # the gymnax module that imports seaborn
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
