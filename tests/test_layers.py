"""The package's imports flow one way: no cycles, nothing imports a higher layer or the package root,
and every import inside a function says why it is there.

Every module under ``jaxpg/`` is read with ``ast`` (nothing is imported), every import statement
counted, those inside functions and ``if TYPE_CHECKING:`` blocks included. An import of
``jaxpg.a.b`` is an edge to the module ``jaxpg.a.b``; ``from jaxpg.a import b`` is an edge to
``jaxpg.a.b`` when that is a module, else to ``jaxpg.a``. The parent packages Python runs on the way
(``jaxpg/__init__.py`` for every import) are not edges: the root is checked on its own (no module
imports it), and a package's ``__init__`` is a module like any other.

The checks are plain functions of ``{module name: source}``; the last tests feed them small
synthetic packages, so each kind of fault is shown to be caught.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
import tomllib
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "jaxpg"

# Module-name prefix (relative to jaxpg, dotted) -> layer. The longest prefix wins, by whole name parts:
# "envs" covers jaxpg/envs/__init__.py, jaxpg/envs/*.py and jaxpg/envs/pixelcopter/*; "runner" covers
# jaxpg/runner/* (its parts included). A module may import its own layer or lower ones, never higher.
# jaxpg/__init__.py has no layer: it re-exports from every layer, and no module may import it.
LAYERS = {
    # 0: leaves
    "types": 0, "fileio": 0, "stats": 0, "scores": 0, "devices": 0, "deferred": 0, "compile_cache": 0, "_version": 0,
    # 1: the algorithm's blocks and the environments
    "policies": 1, "heads": 1, "text": 0, "returns": 1, "losses": 1, "rollout": 1, "envs": 1, "defaults": 1,
    # 2: a whole training run as a function; evaluation
    "train": 2, "evaluate": 2,
    # 3: what is saved (checkpoints; the exported policy's files)
    "checkpoint": 3, "safetensors_io": 3,
    # 4: the run layer (jaxpg/runner/) and the run directory it writes and everything above reads
    "runner": 4, "rundir": 4,
    # 5: what runs on top of runs
    "sweep": 5, "tune": 5, "bench": 5, "agent": 5, "export": 5, "plotting": 5, "results": 5, "tune_plots": 5,
    "figures": 5, "render": 5, "distributed": 5, "caches": 5,
    # 6: the command line
    "cli": 6, "__main__": 6,
}

# Packages a function may import where it runs, because jaxpg does not depend on them: import name ->
# the requirement (name[extras]) an extra of pyproject.toml's [project.optional-dependencies] lists.
OPTIONAL = {
    "wandb": "wandb",
    "tensorboardX": "tensorboardX",
    "imageio": "imageio",
    "imageio_ffmpeg": "imageio[ffmpeg]",
    "orbax": "orbax-checkpoint",
    "huggingface_hub": "huggingface_hub",
    "safetensors": "safetensors",
    "gymnasium": "gymnasium",
}
# An import inside a function that is not optional must say why in a comment (on its line or the comment lines
# right above) holding these words; an optional one needs a comment too (which extra provides it).
STARTUP = "start-up order"


class Source(NamedTuple):
    path: str  # shown in messages
    text: str
    is_package: bool  # an __init__.py (relative imports resolve from the package itself)


class Import(NamedTuple):
    module: str  # the importing module, dotted ("jaxpg.export")
    where: str  # "jaxpg/export.py:34"
    statement: str  # the import statement, one line
    target: str  # what is imported: a jaxpg module, or the top-level name of another package
    root_name: str | None  # a name taken from the package root that is no submodule ("" for `import jaxpg`)
    local: bool  # inside a function or method body
    type_checking: bool  # inside `if TYPE_CHECKING:`
    comment: str  # the comments on the statement's lines and the comment lines right above it


# ----------------------------------------------------------------------------------------- reading


def read_package(root: Path = ROOT / PACKAGE) -> dict[str, Source]:
    """``{dotted module name: Source}`` of every ``.py`` file under ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        out[name] = Source(path.relative_to(root.parent).as_posix(), path.read_text(), is_package)
    return out


def synthetic(sources: dict[str, str]) -> dict[str, Source]:
    """A made-up package: ``{"jaxpg.a": "from jaxpg import b"}``; a name with children is a package."""
    names = set(sources)
    out = {}
    for name, text in sources.items():
        is_package = name == PACKAGE or any(n.startswith(name + ".") for n in names)
        path = name.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        out[name] = Source(path, text, is_package)
    return out


def _comments(text: str) -> dict[int, tuple[str, bool]]:
    """``{line: (comment text, whether the line holds only the comment)}``."""
    out = {}
    lines = text.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            line = tok.start[0]
            out[line] = (tok.string.lstrip("#").strip(), not lines[line - 1][: tok.start[1]].strip())
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(node: ast.AST, local: bool = False, type_checking: bool = False):
    """Every import statement under ``node``: ``(statement, inside a function, inside TYPE_CHECKING)``."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, local, type_checking
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        for child in node.body:
            yield from _statements(child, local, True)
        for child in node.orelse:
            yield from _statements(child, local, type_checking)
        return
    local = local or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
    for child in ast.iter_child_nodes(node):
        yield from _statements(child, local, type_checking)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module name a ``from ... import`` reads from (resolving ``from . import x``)."""
    if not node.level:
        return node.module or ""
    base = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    return f"{base}.{node.module}" if node.module else base


def imports_of(name: str, src: Source, modules: set[str]) -> list[Import]:
    """One ``Import`` per imported name of every import statement of module ``name``."""
    comments = _comments(src.text)
    out = []
    for node, local, type_checking in _statements(ast.parse(src.text, src.path)):
        trailing = [comments[n][0] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments]
        above, n = [], node.lineno - 1  # the comment just above: the comment-only lines right before it
        while n in comments and comments[n][1]:
            above.insert(0, comments[n][0])
            n -= 1
        comment = " ".join(above + trailing)
        common = dict(module=name, where=f"{src.path}:{node.lineno}", statement=ast.unparse(node), local=local,
                      type_checking=type_checking, comment=comment)
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append(Import(target=alias.name, root_name="" if alias.name == PACKAGE else None, **common))
            continue
        base = _absolute(node, name, src.is_package)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in modules:
                out.append(Import(target=sub, root_name=None, **common))
            else:
                out.append(Import(target=base, root_name=alias.name if base == PACKAGE else None, **common))
    return out


def all_imports(modules: dict[str, Source]) -> list[Import]:
    names = set(modules)
    return [imp for name, src in modules.items() for imp in imports_of(name, src, names)]


@cache
def _package() -> tuple[dict[str, Source], tuple[Import, ...]]:
    modules = read_package()
    return modules, tuple(all_imports(modules))


# ------------------------------------------------------------------------------------------ checks


def layer_of(module: str, layers: dict[str, int] = LAYERS) -> int | None:
    """The layer of ``jaxpg.<rel>``: the longest prefix of ``rel`` (whole parts) in ``layers``."""
    if not module.startswith(PACKAGE + "."):
        return None
    parts = module[len(PACKAGE) + 1:].split(".")
    for n in range(len(parts), 0, -1):
        level = layers.get(".".join(parts[:n]))
        if level is not None:
            return level
    return None


def _edges(modules: dict[str, Source], imports) -> dict[str, dict[str, str]]:
    """``{importer: {imported jaxpg module: where (first statement)}}``; a module importing itself is no edge."""
    graph: dict[str, dict[str, str]] = {m: {} for m in modules}
    for imp in imports:
        if imp.target in modules and imp.target != imp.module:
            graph[imp.module].setdefault(imp.target, imp.where)
    return graph


def find_cycles(modules: dict[str, Source], imports=None) -> list[str]:
    """One line per cycle: the shortest cycle through each module that is on one, with each edge's statement."""
    imports = all_imports(modules) if imports is None else imports
    graph = _edges(modules, imports)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def connect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                connect(v)
    finally:
        sys.setrecursionlimit(limit)
    out = []
    for component in components:
        inside = set(component)
        seen = set()
        for start in component:  # the shortest cycle through each module of the set, each cycle once
            paths = {w: [start, w] for w in sorted(graph[start]) if w in inside}
            frontier = list(paths)
            while start not in paths:
                nxt = []
                for v in frontier:
                    for w in sorted(graph[v]):
                        if w in inside and w not in paths:
                            paths[w] = [*paths[v], w]
                            nxt.append(w)
                frontier = nxt
            cycle = paths[start]
            first = cycle.index(min(cycle[:-1]))
            cycle = [*cycle[first:-1], *cycle[:first], cycle[first]]
            if tuple(cycle) in seen:
                continue
            seen.add(tuple(cycle))
            steps = ", ".join(f"{a} -> {b} at {graph[a][b]}" for a, b in zip(cycle, cycle[1:], strict=False))
            out.append(f"{' -> '.join(cycle)}  ({steps})")
    return out


def unlayered(modules: dict[str, Source], layers: dict[str, int] = LAYERS) -> list[str]:
    return [f"{m} ({src.path})" for m, src in sorted(modules.items())
            if m != PACKAGE and layer_of(m, layers) is None]


def upward_imports(modules: dict[str, Source], layers: dict[str, int] = LAYERS, imports=None) -> list[str]:
    imports = all_imports(modules) if imports is None else imports
    out = []
    for imp in imports:
        if imp.module == PACKAGE or imp.target not in modules or imp.target == imp.module:
            continue  # the package root re-exports every layer
        mine, theirs = layer_of(imp.module, layers), layer_of(imp.target, layers)
        if mine is not None and theirs is not None and theirs > mine:
            out.append(f"{imp.where}: {imp.module} (layer {mine}) imports {imp.target} (layer {theirs}): "
                       f"`{imp.statement}`")
    return out


def root_imports(modules: dict[str, Source], imports=None) -> list[str]:
    imports = all_imports(modules) if imports is None else imports
    out = []
    for imp in imports:
        if imp.module == PACKAGE or imp.root_name is None:
            continue
        what = "the package root" if imp.root_name == "" else f"{imp.root_name!r} from the package root"
        out.append(f"{imp.where}: {imp.module} imports {what}: `{imp.statement}` (import it from the module "
                   "that defines it)")
    return out


_PRAGMA = re.compile(r"\b(noqa(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)?|type:\s*ignore(\[[^\]]*\])?|pragma:[\w ]*)",
                     re.IGNORECASE)


def _says_why(comment: str) -> bool:
    """A comment with words in it besides lint pragmas (``# noqa: F401`` alone says nothing)."""
    return bool(re.search(r"[A-Za-z]{2}", _PRAGMA.sub("", comment)))


def local_import_faults(modules: dict[str, Source], optional=OPTIONAL, imports=None) -> list[str]:
    """Imports inside functions that are neither an optional dependency nor a start-up-order need,
    or that carry no comment saying why."""
    imports = all_imports(modules) if imports is None else imports
    out = set()
    for imp in imports:
        if not imp.local or imp.type_checking:
            continue
        top = imp.target.split(".")[0]
        if top in optional:
            if not _says_why(imp.comment):
                out.add((imp.where, f"`{imp.statement}` (optional dependency) carries no comment saying which "
                                    "extra provides it"))
        elif STARTUP not in imp.comment.lower():
            out.add((imp.where, f"`{imp.statement}` is imported inside a function: move it to the top of the "
                                f"module, or say why it must wait in a '{STARTUP}' comment"))
    return [f"{where}: {what}" for where, what in sorted(out, key=lambda f: _by_place(f[0]))]


def _by_place(where: str) -> tuple[str, int]:
    path, _, line = where.rpartition(":")
    return path, int(line)


# ----------------------------------------------------------------------------- the package itself


def test_every_module_has_a_layer():
    modules, _ = _package()
    missing = unlayered(modules)
    assert not missing, "modules with no layer (add their name or a prefix of it to LAYERS):\n  " + \
        "\n  ".join(missing)


def test_no_import_cycle():
    modules, imports = _package()
    cycles = find_cycles(modules, imports)
    assert not cycles, "import cycles (move what both need into the lower one, or a module of its own):\n  " + \
        "\n  ".join(cycles)


def test_no_module_imports_a_higher_layer():
    modules, imports = _package()
    bad = upward_imports(modules, imports=imports)
    assert not bad, "imports that run back up the layers:\n  " + "\n  ".join(bad)


def test_nothing_inside_the_package_imports_the_package_root():
    modules, imports = _package()
    bad = root_imports(modules, imports)
    assert not bad, "imports of the package root (only jaxpg/__init__.py re-exports):\n  " + "\n  ".join(bad)


def test_imports_inside_functions_are_optional_dependencies_or_say_why():
    modules, imports = _package()
    bad = local_import_faults(modules, imports=imports)
    assert not bad, f"imports inside functions ({len(bad)}):\n  " + "\n  ".join(bad)


def _requirement(text: str) -> tuple[str, frozenset[str]]:
    """``"imageio[ffmpeg]>=2.16"`` -> ``("imageio", {"ffmpeg"})``, the name normalised (PEP 503)."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", text)
    assert m, text
    extras = frozenset(e.strip().lower() for e in (m.group(2) or "").split(",") if e.strip())
    return re.sub(r"[-_.]+", "-", m.group(1)).lower(), extras


def test_optional_dependencies_are_extras_not_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    hard = {_requirement(r)[0] for r in project["dependencies"]}
    extras = [_requirement(r) for reqs in project["optional-dependencies"].values() for r in reqs]
    bad = []
    for module, requirement in OPTIONAL.items():
        name, wanted = _requirement(requirement)
        if name in hard:
            bad.append(f"{module}: {name} is in [project].dependencies, so it is no optional dependency")
        elif not any(n == name and wanted <= got for n, got in extras):
            bad.append(f"{module}: no extra in [project.optional-dependencies] provides {requirement}")
    assert not bad, "\n".join(bad)


def test_version_module_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / PACKAGE / "_version.py").read_text()
    assert re.search(r'^__version__ = "([^"]+)"$', text, re.M).group(1) == project["version"]


def test_loading_the_command_line_starts_no_jax_backend():
    """What the local imports of jaxpg/cli wait for: until a command runs, no module has started a JAX
    backend (gymnax does on import), so `jaxpg sweep --coordinator ...` can still join jax.distributed."""
    code = ("import sys, jaxpg.cli\n"
            "from jax._src import xla_bridge\n"
            "assert 'gymnax' not in sys.modules, 'gymnax imported'\n"
            "assert not xla_bridge._backends, f'backend started: {list(xla_bridge._backends)}'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.strip().splitlines()[-1:]


# ------------------------------------------------------------------------- the checker catches faults


def test_checker_finds_a_cycle_of_two_and_of_three():
    two = synthetic({"jaxpg": "", "jaxpg.a": "from jaxpg import b\n",
                     "jaxpg.b": "def f():\n    from jaxpg.a import x\n"})
    assert find_cycles(two) == ["jaxpg.a -> jaxpg.b -> jaxpg.a  (jaxpg.a -> jaxpg.b at jaxpg/a.py:1, "
                                "jaxpg.b -> jaxpg.a at jaxpg/b.py:2)"]
    three = synthetic({"jaxpg": "", "jaxpg.a": "import jaxpg.b\n", "jaxpg.b": "from jaxpg.c import y\n",
                       "jaxpg.c": "from . import a\n"})
    assert [c.split("  ")[0] for c in find_cycles(three)] == ["jaxpg.a -> jaxpg.b -> jaxpg.c -> jaxpg.a"]
    # same layer, inside a subpackage, through its __init__
    sub = synthetic({"jaxpg": "", "jaxpg.envs": "from jaxpg.envs.x import X\n",
                     "jaxpg.envs.x": "from jaxpg import envs\n"})
    assert len(find_cycles(sub)) == 1
    assert find_cycles(synthetic({"jaxpg": "", "jaxpg.a": "from jaxpg import b\n", "jaxpg.b": "import numpy\n"})) == []


def test_checker_finds_an_upward_import_and_a_module_with_no_layer():
    layers = {"low": 0, "high": 1, "pkg": 0}
    mods = synthetic({"jaxpg": "", "jaxpg.low": "def f():\n    from jaxpg.high import g  # start-up order\n",
                      "jaxpg.high": "from jaxpg import low\n", "jaxpg.pkg": "", "jaxpg.pkg.deep": "import jaxpg.high\n",
                      "jaxpg.stray": "from jaxpg.low import x\n"})
    assert upward_imports(mods, layers) == [
        "jaxpg/low.py:2: jaxpg.low (layer 0) imports jaxpg.high (layer 1): `from jaxpg.high import g`",
        "jaxpg/pkg/deep.py:1: jaxpg.pkg.deep (layer 0) imports jaxpg.high (layer 1): `import jaxpg.high`",
    ]
    assert unlayered(mods, layers) == ["jaxpg.stray (jaxpg/stray.py)"]
    assert layer_of("jaxpg.run.population", {"run": 4, "rundir": 5}) == 4
    assert layer_of("jaxpg.rundir", {"run": 4, "rundir": 5}) == 5
    assert layer_of("jaxpg.envs.pixelcopter.env", {"envs": 1, "envs.pixelcopter": 2}) == 2


def test_checker_finds_imports_of_the_package_root():
    mods = synthetic({"jaxpg": "from jaxpg._version import __version__\n", "jaxpg._version": "__version__ = '0'\n",
                      "jaxpg.export": "from jaxpg import __version__, checkpoint\n", "jaxpg.checkpoint": "",
                      "jaxpg.sub": "", "jaxpg.sub.m": "def f():\n    import jaxpg\n    from .. import Config\n"})
    assert sorted(root_imports(mods)) == [
        "jaxpg/export.py:1: jaxpg.export imports '__version__' from the package root: "
        "`from jaxpg import __version__, checkpoint` (import it from the module that defines it)",
        "jaxpg/sub/m.py:2: jaxpg.sub.m imports the package root: `import jaxpg` (import it from the module that "
        "defines it)",
        "jaxpg/sub/m.py:3: jaxpg.sub.m imports 'Config' from the package root: `from .. import Config` (import it "
        "from the module that defines it)",
    ]
    # submodules of the root are fine, and the root itself may import anything
    assert root_imports(synthetic({"jaxpg": "import jaxpg.a\nfrom jaxpg import a\n", "jaxpg.a": "",
                                   "jaxpg.b": "from jaxpg import a\nimport jaxpg.a\n"})) == []


def test_checker_finds_uncommented_and_unexplained_local_imports():
    mods = synthetic({"jaxpg": "", "jaxpg.a": '''
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy

def uncommented():
    import numpy as np
    return np

def pragma_only():
    import imageio  # noqa: F401

def optional():
    # optional dependency: video
    import imageio.v2 as iio
    from wandb import init  # optional dependency: wandb
    return iio, init

def startup():
    # start-up order: gymnax starts a JAX backend
    from jaxpg import b
    from jaxpg.b import c  # Start-up order: the same
    return b, c

def not_startup():
    from jaxpg import b  # just because
    x = 1  # a comment on the line above that is not a comment line
    from jaxpg import b as b2
    return b, b2, x

class K:
    def method(self):
        if True:
            from json import dumps
            return dumps
''', "jaxpg.b": "c = 1\n"})
    faults = local_import_faults(mods)
    # numpy uncommented, imageio with only a pragma, two imports with no start-up-order comment
    # (a trailing comment of the line above is not theirs), json in a method; in file order
    assert [int(f.split(":")[1]) for f in faults] == [9, 13, 28, 30, 36]
    assert all(f.startswith("jaxpg/a.py:") for f in faults)
    assert "(optional dependency) carries no comment" in next(f for f in faults if ":13:" in f)
    assert "import numpy as np" in next(f for f in faults if ":9:" in f)


@pytest.mark.parametrize("fault, check", [
    ({"jaxpg.a": "from jaxpg import b\n", "jaxpg.b": "from jaxpg import a\n"}, "cycles"),
    ({"jaxpg.types": "from jaxpg import train\n", "jaxpg.train": ""}, "upward"),
    ({"jaxpg.export": "from jaxpg import __version__\n"}, "root"),
    ({"jaxpg.stats": "def f():\n    import numpy\n"}, "local"),
])
def test_each_kind_of_fault_fails_its_check(fault, check):
    mods = synthetic({"jaxpg": "", **fault})
    found = {"cycles": find_cycles, "upward": upward_imports, "root": root_imports, "local": local_import_faults}
    assert found[check](mods), f"the {check} check missed {fault}"
    # and the other checks do not report it as their kind
    assert all(not fn(mods) for kind, fn in found.items() if kind != check)
