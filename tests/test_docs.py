"""Every fenced code block of README.md and docs/*.md is run here, as a user would paste it.

- ```python blocks run unchanged, in order, one namespace per file (like one interpreter
  session), in a fresh temporary directory.
- ```bash blocks: each command runs in order, in that file's temporary directory:
  * ``jaxpg ...`` runs (in this process, ``jaxpg.cli.main``) with small sizes (``tune``: a tenth of
    ``--updates``, at most 4 trials of 2 slots); ``--updates``
    is divided by 50 (rounded up; 3 when not given), ``--save-every`` likewise, ``--seeds`` at
    most 2, ``--num-envs`` at most 8, ``--eval-episodes`` at most 4; ``bench`` gets ``--smoke``.
    It must exit 0.
  * ``python experiments/X.py ...`` is not run (these regenerate results: minutes to hours);
    the script must exist and its ``--help`` must list every flag the command uses.
  * ``pip install ...`` lines name only this project with extras it declares, or the optional
    packages the docs list; ``python3 -m venv``, ``. .venv/bin/activate`` and
    ``python -m pytest`` (which CI runs itself) are checked for form, not run.
  * Anything else is an error: a docs command this file cannot check must not exist.
- Every other fence must carry a language that is not run (``text``), so none is missed.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = ("python", "bash")
NOT_RUN = ("text",)
OPTIONAL = {"torch==2.13.0", "imageio[ffmpeg]", "tensorboardX", "huggingface_hub"}


def blocks(path: Path) -> list[tuple[str, int, str]]:
    """``(language, line number, text)`` of every fenced block."""
    out, lang, start, body = [], None, 0, []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r"^\s*```(.*)$", line)
        if m and lang is None:
            lang, start, body = m.group(1).strip(), i, []
        elif m:
            out.append((lang, start, "\n".join(body) + "\n"))
            lang = None
        elif lang is not None:
            body.append(line)
    assert lang is None, f"{path.name}: unclosed fence at line {start}"
    return out


def commands(text: str) -> list[list[str]]:
    """The simple commands of a bash block (continuations joined, comments dropped, && split)."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        cmd: list[str] = []
        for w in words:
            if w == "&&":
                out.append(cmd)
                cmd = []
            else:
                cmd.append(w)
        if cmd:
            out.append(cmd)
    return out


def _value(argv: list[str], flag: str) -> str | None:
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def _set(argv: list[str], flag: str, value) -> list[str]:
    out, i = [], 0
    while i < len(argv):
        if argv[i] == flag:
            i += 2
            continue
        if argv[i].startswith(flag + "="):
            i += 1
            continue
        out.append(argv[i])
        i += 1
    return [*out, flag, str(value)]


def shrink(argv: list[str]) -> list[str]:
    """The small-size version of a documented ``jaxpg`` command (see the module docstring)."""
    cmd = argv[0] if argv else ""
    if cmd in ("train", "sweep"):
        resuming = _value(argv, "--resume") is not None
        u = _value(argv, "--updates")
        if u is not None:
            argv = _set(argv, "--updates", math.ceil(int(u) / 50))
        elif _value(argv, "--total-steps") is not None:
            argv = _set(argv, "--total-steps", "2k")
        elif not resuming:
            argv = _set(argv, "--updates", 3)
        for flag in ("--save-every", "--progress-every", "--eval-every", "--extend"):
            v = _value(argv, flag)
            if v is not None:
                argv = _set(argv, flag, math.ceil(int(v) / 50))
        if not resuming:
            argv = _set(argv, "--seeds", min(int(_value(argv, "--seeds") or 8), 2))
            argv = _set(argv, "--num-envs", min(int(_value(argv, "--num-envs") or 8), 8))
            e = _value(argv, "--eval-episodes")
            argv = _set(argv, "--eval-episodes", min(int(e or 4), 4))
    elif cmd == "tune" and _value(argv, "--resume") is None:
        argv = _set(argv, "--updates", math.ceil(int(_value(argv, "--updates") or 40) / 10))
        argv = _set(argv, "--trials", min(int(_value(argv, "--trials") or 4), 4))
        argv = _set(argv, "--population", min(int(_value(argv, "--population") or 2), 2))
        argv = _set(argv, "--seeds", min(int(_value(argv, "--seeds") or 2), 2))
        argv = _set(argv, "--num-envs", min(int(_value(argv, "--num-envs") or 4), 4))
    elif cmd == "eval":
        argv = _set(argv, "--eval-episodes", min(int(_value(argv, "--eval-episodes") or 4), 4))
    elif cmd == "render":
        argv = _set(argv, "--max-frames", min(int(_value(argv, "--max-frames") or 20), 20))
    elif cmd == "bench" and "--smoke" not in argv:
        argv = [*argv, "--smoke"]
    return argv


def _extras() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])


def check_pip(words: list[str]) -> None:
    assert words[:2] == ["pip", "install"], words
    for req in words[2:]:
        if req == "-e":  # an editable install of this project (development)
            continue
        if req.startswith("-"):
            raise AssertionError(f"pip flag {req!r} in the docs")
        if req == ".":
            continue
        m = re.fullmatch(r"\.\[([a-z0-9,]+)\]", req)
        if m:
            unknown = set(m.group(1).split(",")) - _extras()
            assert not unknown, f"extras {unknown} are not in pyproject.toml"
            continue
        assert req in OPTIONAL, f"pip install {req!r}: not this project or a documented optional package"


def check_experiment(words: list[str]) -> None:
    script = ROOT / words[1]
    assert script.is_file() and script.parent.name == "experiments", words
    proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    # a bare ``--``: what follows goes to ``jaxpg train`` (the experiments that train say so)
    own, train = (words[:words.index("--")], words[words.index("--") + 1:]) if "--" in words else (words, [])
    for w in own[2:]:
        if w.startswith("--"):
            assert w.split("=")[0] in proc.stdout, f"{words[1]} --help does not list {w}"
    if train:
        where = " ".join(proc.stdout.split())
        assert "jaxpg train" in where, f"{words[1]} --help does not say where the args after -- go"
        helptext = subprocess.run([sys.executable, "-m", "jaxpg", "train", "--help"], capture_output=True,
                                  text=True, timeout=300, cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"})
        for w in train:
            if w.startswith("--"):
                assert w.split("=")[0] in helptext.stdout, f"jaxpg train --help does not list {w}"


def run_bash(text: str, cwd: Path, where: str) -> None:
    from jaxpg.cli import main

    for words in commands(text):
        env = {}
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            k, v = words.pop(0).split("=", 1)
            env[k] = v
        head = words[0]
        if head == "jaxpg" or words[:3] == ["python", "-m", "jaxpg"]:
            argv = shrink(words[1:] if head == "jaxpg" else words[3:])
            old = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            here = os.getcwd()
            try:
                os.chdir(cwd)
                code = main(argv)
            finally:
                os.chdir(here)
                for k, v in old.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            assert code == 0, f"{where}: `jaxpg {' '.join(argv)}` exited {code}"
        elif head == "pip":
            check_pip(words)
        elif words[:3] == ["python3", "-m", "venv"] or words[:2] in ([".", ".venv/bin/activate"],
                                                                        ["source", ".venv/bin/activate"]):
            continue
        elif words[:3] == ["python", "-m", "pytest"]:
            continue
        elif head == "python" and len(words) > 1 and words[1].startswith("experiments/"):
            check_experiment(words)
        else:
            raise AssertionError(f"{where}: no test knows how to run {' '.join(words)!r}")


def test_every_fence_has_a_language():
    for path in DOCS:
        for lang, line, _ in blocks(path):
            assert lang in RUN + NOT_RUN, f"{path.name}:{line}: fence language {lang!r} (use one of {RUN + NOT_RUN})"


def test_docs_do_not_point_outside_the_repository():
    for path in [*DOCS, *ROOT.joinpath("jaxpg").rglob("*.py")]:
        assert "../shared" not in path.read_text() and "shared/specs" not in path.read_text(), path


def test_shrink_keeps_the_command_and_makes_it_small():
    # The resume example: 150 updates saved every 30 -> 3 saved every 1; extend by 150 -> by 3.
    assert shrink(["train", "--env", "CartPole-v1", "--updates", "150", "--save-every", "30", "--out", "r"]) == [
        "train", "--env", "CartPole-v1", "--out", "r", "--updates", "3", "--save-every", "1", "--seeds", "2",
        "--num-envs", "8", "--eval-episodes", "4"]
    assert shrink(["train", "--resume", "r", "--updates", "300"]) == ["train", "--resume", "r", "--updates", "6"]
    assert shrink(["train", "--resume", "r", "--extend", "150"]) == ["train", "--resume", "r", "--extend", "3"]
    small = shrink(["train", "--total-steps", "200k", "--out", "r"])  # a budget run: a smaller budget, no --updates
    assert small[:5] == ["train", "--out", "r", "--total-steps", "2k"] and "--updates" not in small
    assert shrink(["bench"]) == ["bench", "--smoke"]
    assert commands("a b \\\n  c  # note\nd && e f\n") == [["a", "b", "c"], ["d"], ["e", "f"]]


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_doc_blocks_run(path, tmp_path):
    (tmp_path / "docs").mkdir()  # commands run "from the repository root" write pictures here
    namespace: dict = {"__name__": "__docs__"}
    for lang, line, text in blocks(path):
        where = f"{path.relative_to(ROOT)}:{line}"
        if lang == "python":
            here = os.getcwd()
            try:
                os.chdir(tmp_path)
                exec(compile(text, where, "exec"), namespace)  # noqa: S102 - the docs' own code
            finally:
                os.chdir(here)
        elif lang == "bash":
            run_bash(text, tmp_path, where)
