"""``--config FILE.toml``: any flag of ``train``, ``sweep`` or ``tune`` from a file (RL Zoo's
``hyperparams/*.yml`` habit); flags on the command line override the file's.

A key is a flag's name without its dashes (``num-envs`` or ``num_envs``) or a ``Config``/
``HParams`` field (``num_updates``, ``learning_rate``). Values are TOML's: numbers, strings,
``true``/``false`` (a switch given, or its ``--no-`` form) and arrays (``hidden = [64, 64]``; in a
sweep, ``lr = [1e-3, 1e-2]`` is a grid axis)::

    env = "Pixelcopter-v0"
    seeds = 4
    updates = 1500
    lr = 1e-3
    hidden = [64, 64]
    obs-norm = true

The file's flags are placed before the command line's, so a flag given on both wins from the
command line; a run with ``--out DIR`` keeps the file it ran with as ``DIR/config.toml``.
"""

from __future__ import annotations

import argparse
import difflib
import tomllib
from pathlib import Path

from jaxpg.cli import flags
from jaxpg.cli.common import UsageError
from jaxpg.fileio import atomic_write

__all__ = ["COMMANDS", "expand", "keep"]

COMMANDS = ("train", "sweep", "tune")
_NOT_IN_FILE = ("--config", "--resume", "--help")


def _path(argv: list[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "--config":
            if i + 1 >= len(argv):
                raise UsageError("--config: expected a TOML file")
            return argv[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return None


def _value(flag: str, action: argparse.Action, value, key: str) -> list[str]:
    if isinstance(value, bool):
        if isinstance(action, argparse.BooleanOptionalAction):
            return [flag if value else "--no-" + flag[2:]]
        if action.nargs == 0:  # a switch (store_true)
            return [flag] if value else []
        raise UsageError(f"--config: {key} = {str(value).lower()}: {flag} takes a value, not true/false")
    if isinstance(value, list):
        if not value or any(isinstance(v, list | dict) for v in value):
            raise UsageError(f"--config: {key}: expected a non-empty list of values, got {value!r}")
        return [flag, ",".join(_scalar(v) for v in value)]
    if isinstance(value, dict):
        raise UsageError(f"--config: {key}: expected a value, got a table [{key}]")
    return [flag, _scalar(value)]


def _scalar(v) -> str:
    return str(v).lower() if isinstance(v, bool) else repr(v) if isinstance(v, float) else str(v)


def expand(argv: list[str], parser: argparse.ArgumentParser) -> tuple[list[str], Path | None]:
    """``argv`` with the flags of its ``--config`` file inserted after the command (so the command
    line's own flags, parsed later, win), and the file's path (``None``: no ``--config``).

    Raises:
      UsageError: an unreadable or invalid file, an unknown key (with the closest flag), a value
        the flag cannot take, or ``--config`` with ``--resume`` (a resume keeps its saved settings).
    """
    if not argv or argv[0] not in COMMANDS:
        return argv, None
    name = _path(argv[1:])
    if name is None:
        return argv, None
    path = Path(name)
    try:
        table = tomllib.loads(path.read_text())
    except OSError as e:
        raise UsageError(f"--config: cannot read {path}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"--config: {path} is not valid TOML: {e}") from None
    if any(a == "--resume" or a.startswith("--resume=") for a in argv):
        raise UsageError("--config does not apply to --resume: a resumed run keeps the settings it was saved with")
    sub = _subparser(parser, argv[0])
    options = {o: a for a in sub._actions for o in a.option_strings if o.startswith("--")}
    out: list[str] = []
    for key, value in table.items():
        flag = _flag(key, options)
        if flag is None:
            names = sorted(o[2:] for o in options if o not in _NOT_IN_FILE)
            close = difflib.get_close_matches(key.replace("_", "-"), names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f"; keys are flag names: {', '.join(names[:12])}, ..."
            raise UsageError(f"--config: {path}: unknown setting {key!r} for jaxpg {argv[0]}{hint}")
        out += _value(flag, options[flag], value, key)
    return [argv[0], *out, *argv[1:]], path


def _flag(key: str, options: dict) -> str | None:
    flag = "--" + key.replace("_", "-")
    if flag in options and flag not in _NOT_IN_FILE:
        return flag
    f = flags.BY_FIELD.get(key)  # a Config / HParams field: num_updates -> --updates
    return f.flag if f is not None and f.flag in options else None


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]
    raise LookupError("no subcommands")  # pragma: no cover


def keep(path: Path | None, out: Path | None) -> None:
    """Copies the file a run was started from into its directory (``config.toml``), atomically."""
    if path is not None and out is not None and Path(out).is_dir():
        atomic_write(Path(out) / "config.toml", path.read_bytes())
