"""The house plan's sizes: small rooms, a short loop, and no train/sweep branches in the run layer.

Read with ``ast`` (nothing imported): no module of ``jaxpg/`` over 600 lines, no class over 250,
no function with more than 12 parameters; the chunk loop (``jaxpg.runner.loop.drive``) at most 80
lines; and the run layer never asks which kind of run it runs, outside ``runner/kinds.py`` (the two
kinds) and ``runner/spec.py`` (which decodes the recorded kind).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "jaxpg"
MAX_MODULE, MAX_CLASS, MAX_PARAMS, MAX_LOOP = 600, 250, 12, 80


def _sizes(path: Path) -> list[str]:
    src = path.read_text()
    out = []
    if src.count("\n") > MAX_MODULE:
        out.append(f"{path}: {src.count(chr(10))} lines (> {MAX_MODULE})")
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS:
            out.append(f"{path}: class {node.name} has {node.end_lineno - node.lineno + 1} lines (> {MAX_CLASS})")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
            if n > MAX_PARAMS:
                out.append(f"{path}: {node.name}() takes {n} parameters (> {MAX_PARAMS})")
    return out


def test_no_room_grew_past_the_plan():
    found = [msg for p in sorted(ROOT.rglob("*.py")) for msg in _sizes(p)]
    assert not found, "\n".join(found)


def test_the_size_check_can_fail(tmp_path):
    big = tmp_path / "big.py"
    params = ", ".join(f"a{i}" for i in range(13))
    body = "\n".join(f"    x{i} = {i}" for i in range(251))
    big.write_text(f"def f({params}):\n    pass\n\n\nclass C:\n{body}\n" + "\n" * 400)
    msgs = _sizes(big)
    assert any("lines (> 600)" in m for m in msgs)
    assert any("class C has" in m for m in msgs)
    assert any("f() takes 13 parameters" in m for m in msgs)


def test_the_chunk_loop_reads_top_to_bottom():
    tree = ast.parse((ROOT / "runner" / "loop.py").read_text())
    drive = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "drive")
    assert drive.end_lineno - drive.lineno + 1 <= MAX_LOOP


def _kind_checks(src: str) -> list[int]:
    """Lines that compare something with the string "train" or "sweep"."""
    hits = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Compare):
            consts = [c for c in (node.left, *node.comparators) if isinstance(c, ast.Constant)]
            if any(c.value in ("train", "sweep") for c in consts):
                hits.append(node.lineno)
    return hits


def test_the_run_layer_does_not_branch_on_the_kind_of_run():
    found = [f"{p}:{ln}" for p in sorted((ROOT / "runner").rglob("*.py")) if p.name not in ("kinds.py", "spec.py")
             for ln in _kind_checks(p.read_text())]
    tree = ast.parse((ROOT / "rundir.py").read_text())
    writer = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Writer")
    found += [f"jaxpg/rundir.py Writer:{ln}" for ln in _kind_checks(ast.unparse(writer))]
    assert not found, found
    assert _kind_checks('if settings["kind"] == "train":\n    pass\n') == [1]  # the check can fail
