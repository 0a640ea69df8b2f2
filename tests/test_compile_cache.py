"""The persistent compilation cache: on by default for the CLI and the run layer, off on request."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaxpg import compile_cache

ROOT = Path(__file__).resolve().parents[1]


def test_requested_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(compile_cache.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compile_cache.requested_dir() == tmp_path / "xdg" / "jaxpg" / "xla"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert compile_cache.requested_dir() == Path.home() / ".cache" / "jaxpg" / "xla"
    for off in ("0", "off", "False", "no", ""):
        monkeypatch.setenv(compile_cache.ENV_VAR, off)
        assert compile_cache.requested_dir() is None
    monkeypatch.setenv(compile_cache.ENV_VAR, str(tmp_path / "mine"))
    assert compile_cache.requested_dir() == tmp_path / "mine"


def test_a_cache_jax_already_has_is_kept():
    import jax

    # conftest.py set the tests' own cache directory: enable() keeps it.
    assert compile_cache.enable("/nonexistent/elsewhere") == Path(jax.config.jax_compilation_cache_dir)


def _train(cache_env: str | None, out: Path, *extra: str, xdg: Path | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_COMPILATION_CACHE_DIR", compile_cache.ENV_VAR)}
    if cache_env is not None:
        env[compile_cache.ENV_VAR] = cache_env
    if xdg is not None:
        env["XDG_CACHE_HOME"] = str(xdg)
    proc = subprocess.run([sys.executable, "-m", "jaxpg", "train", "--seeds", "1", "--num-envs", "2", "--hidden", "4",
                           "--updates", "2", "--max-steps", "20", "--eval-episodes", "1", "--quiet", "--out", str(out),
                           *extra], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_cli_fills_the_cache_and_reads_it_back_unless_turned_off(tmp_path):
    cache = tmp_path / "cache"
    _train(str(cache), tmp_path / "a")
    def programs():  # entry -> last write time (JAX writes an entry only when it compiled it)
        return {p.name: p.stat().st_mtime_ns for p in cache.iterdir() if not p.name.endswith("-atime")}

    first = programs()
    assert first, "the first run wrote no compiled program"
    _train(str(cache), tmp_path / "b")  # same settings: every cached program is read back, none rewritten
    second = programs()
    # JAX caches only programs that took >= MIN_COMPILE_SECONDS to compile: one that compiled just
    # under it in the first run and just over it on a loaded machine in the second is written then
    # (seen once in CI); an entry of the first run must never be rewritten.
    assert {name: second.get(name) for name in first} == first
    a, b = (json.loads((tmp_path / d / "summary.json").read_text()) for d in "ab")
    assert a["eval_mean"] == b["eval_mean"]  # the cached program computes the same thing
    off = tmp_path / "off"
    _train(str(off), tmp_path / "c", "--no-compile-cache")
    assert not off.exists() or not any(off.iterdir())
    xdg = tmp_path / "xdg"
    _train("0", tmp_path / "d", xdg=xdg)  # off: the default directory is not even created
    assert not (xdg / "jaxpg").exists()
    _train(None, tmp_path / "e", xdg=xdg)  # the default: $XDG_CACHE_HOME/jaxpg/xla
    assert any((xdg / "jaxpg" / "xla").iterdir())
