"""What every command shares: one-line usage errors (exit 2), argument types, help format."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

from jaxpg.scores import check_metric

EXIT_USAGE = 2
MAX_INT = 2**31 - 1  # counts (seeds, envs, updates, steps...) live in int32 inside the programs
SEED_RANGE = (-(2**63), 2**63 - 1)


class UsageError(Exception):
    """A bad flag value or an unusable input: printed as one line, exit status 2."""


# Other libraries' names for jaxpg's flags (Stable-Baselines3, RL Zoo, CleanRL): a hint, not an alias.
OTHER_NAMES = {
    "--total-timesteps": "--total-steps N (valid env steps per seed; or --updates N)",
    "--timesteps": "--total-steps N (valid env steps per seed; or --updates N)",
    "--n-envs": "--num-envs", "--n-timesteps": "--total-steps N",
    "--learning-rate": "--lr", "--ent-coef": "--entropy-coef", "--vf-coef": "--value-lr (its own optimizer)",
    "--gae-lambda": "--gae-lambda", "--max-grad-norm": "--max-grad-norm", "--env-id": "--env",
    "--device": "jaxpg runs on the device JAX sees: JAX_PLATFORMS=cuda (or cpu) before the command; "
                "--cpu-devices N shards over N CPU devices",
    "--cuda": "jaxpg runs on the device JAX sees: JAX_PLATFORMS=cuda before the command",
    "--seed-index": "--seed-index is taken by eval, render and export; --seed is a root seed",
    "--save-path": "--out", "--log-folder": "--out", "--tensorboard-log": "--tensorboard",
    "--track": "--wandb", "--wandb-project-name": "--wandb-project",
}


def _hint(parser: argparse.ArgumentParser, message: str) -> str:
    """``message`` plus what the user probably meant, for an unrecognized ``--flag``."""
    prefix = "unrecognized arguments: "
    if not message.startswith(prefix):
        return message
    actions = list(parser._actions)  # noqa: SLF001 - the commands' flags live in the subparsers
    for a in parser._actions:  # noqa: SLF001
        if isinstance(a, argparse._SubParsersAction):  # noqa: SLF001
            actions += [b for sub in a.choices.values() for b in sub._actions]  # noqa: SLF001
    known = sorted({o for a in actions for o in a.option_strings if o.startswith("--")})
    hints = []
    for word in message[len(prefix):].split():
        if not word.startswith("--"):
            continue
        given = word.split("=")[0]
        flag = given.replace("_", "-").lower()
        other = OTHER_NAMES.get(flag)
        if other is not None and other != flag:
            hints.append(f"{given} is {other} here" if other.startswith("--") else f"{given}: {other}")
        elif flag in known:
            hints.append(f"write {given} as {flag}")
        else:
            close = difflib.get_close_matches(flag, known, n=1, cutoff=0.75)
            if close:
                hints.append(f"did you mean {close[0]}?")
    return message + (f" ({'; '.join(hints)})" if hints else "")


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(_hint(self, message))


class _Renamed(argparse.Action):
    """A flag that was renamed: using it is a one-line error naming the new flag."""

    def __init__(self, option_strings, dest, new: str = "", **kwargs):
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs="?", help=argparse.SUPPRESS)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        raise UsageError(f"{option_string} was renamed {self.new}")


def renamed(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Makes ``old`` a hidden flag whose use is the one-line error "``old`` was renamed ``new``"."""
    parser.add_argument(old, action=_Renamed, new=new)


# Set by a command whose run a signal stopped while a chunk was still computing (dropped, or queued
# behind the one saved): ``entry`` then leaves with ``os._exit`` once every file is written, since
# tearing the interpreter down under that computation can crash (a segmentation fault, seen on CPU).
LEAVE_AT_ONCE = [False]


def fail(message: str) -> int:
    print(f"jaxpg: error: {message.splitlines()[0] if message else 'failed'}", file=sys.stderr)
    return EXIT_USAGE


def positive_int(text: str) -> int:
    """A positive integer that fits the int32 counters of the compiled programs."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    if value > MAX_INT:
        raise argparse.ArgumentTypeError(f"expected a positive integer up to {MAX_INT:,}, got {text}")
    return value


def step_count(text: str) -> int:
    """A count of env steps as people write it: ``100000``, ``1e6``, ``1_000_000``, ``250k``, ``1.5M``."""
    t = text.strip().replace("_", "")
    scale = {"k": 10**3, "K": 10**3, "m": 10**6, "M": 10**6, "g": 10**9, "G": 10**9}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of env steps such as 100000, 1e6 or 2.5M, "
                                         f"got {text!r}") from None
    if not (value >= 1 and value.is_integer()):
        raise argparse.ArgumentTypeError(f"expected a whole positive number of env steps, got {text!r}")
    return int(value)


def nonneg_int(text: str) -> int:
    if text.strip() == "0":
        return 0
    return positive_int(text)


def seed_int(text: str) -> int:
    """A seed: any integer that fits in 64 bits."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(f"expected an integer that fits in 64 bits, got {text}")
    return value


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        if "," in text:
            try:
                [float(p) for p in text.split(",")]
            except ValueError:
                pass
            else:
                raise argparse.ArgumentTypeError(f"expected one number, got {text!r} (several values are a grid "
                                                 "of points: jaxpg sweep takes them)") from None
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def number_list(text: str) -> list[float]:
    """Comma-separated numbers, e.g. ``1e-3,3e-3`` (a sweep axis)."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(p == "" for p in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 1e-3,3e-3, got {text!r}")
    values = []
    for p in parts:
        try:
            values.append(float(p))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {p!r} in {text!r}") from None
    return values


def number_pair(text: str) -> tuple[float, float]:
    """Two comma-separated numbers, e.g. ``-5,2``."""
    values = number_list(text)
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected two comma-separated numbers LO,HI, got {text!r}")
    return values[0], values[1]


def sizes(text: str) -> tuple[int, ...]:
    """Hidden layer sizes: ``64,64`` (``none`` for a linear policy)."""
    if text.strip().lower() == "none":
        return ()
    if not text.strip():
        raise argparse.ArgumentTypeError("expected comma-separated positive integers like 64,64 "
                                         "(or 'none' for no hidden layer), got ''")
    try:
        out = tuple(int(p.strip()) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers like 64,64, got {text!r}") from None
    if any(s <= 0 for s in out):
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive, got {text!r}")
    if any(s > MAX_INT for s in out):
        raise argparse.ArgumentTypeError(f"hidden sizes must be at most {MAX_INT:,}, got {text!r}")
    return out


def path(text: str) -> Path:
    if text == "":
        raise argparse.ArgumentTypeError("expected a path, got ''")
    try:
        text.encode("utf-8")
    except UnicodeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid UTF-8 path") from None
    return Path(text)


def writable_file(p: Path) -> None:
    """Raises UsageError unless ``p``'s directory exists and is writable."""
    if not p.parent.is_dir() or not os.access(p.parent, os.W_OK):
        raise UsageError(f"cannot write --out {str(p)!r}: its directory does not exist or is not writable")


class HelpFormatter(argparse.HelpFormatter):
    """Shows fixed defaults as ``(default: X)``; per-env defaults are listed by ``jaxpg envs ENV``."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" in text or action.default is argparse.SUPPRESS or action.option_strings == []:
            return text
        if action.default is None or isinstance(action, argparse._StoreTrueAction):
            return text
        return f"{text} (default: %(default)s)"


def metric(text: str) -> str:
    """``--metric``: eval, final, auc or steps-to:T (``jaxpg.scores``)."""
    try:
        return check_metric(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).replace("`metric` ", "")) from None
