"""THE flag table: every ``Config`` and ``HParams`` field, its flag, type and help, once.

``train`` and ``sweep`` are built from it (in a sweep the ``HParams`` flags take
comma-separated lists: the grid axes), and so is the mapping back from parsed
arguments to ``(Config, HParams)``. A test checks it against the dataclasses.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from jaxpg.cli.common import (
    UsageError,
    nonneg_int,
    number,
    number_list,
    number_pair,
    positive_int,
    sizes,
    step_count,
)
from jaxpg.defaults import recommended
from jaxpg.types import (
    ACTIVATIONS,
    ADVANTAGES,
    ENTROPY_SCHEDULES,
    LOG_STD_MODES,
    LR_SCHEDULES,
    POLICIES,
    SQUASHES,
    Config,
    HParams,
)


class Flag(NamedTuple):
    """One ``Config``/``HParams`` field on the command line."""

    flag: str
    field: str
    owner: str  # "config" or "hparams"
    help: str
    type: Callable | None = None
    choices: tuple | None = None
    boolean: bool = False


_C, _H = "config", "hparams"

TABLE: tuple[Flag, ...] = (
    Flag("--env", "env", _C, "environment name (`jaxpg envs` lists them)", str),
    Flag("--num-envs", "num_envs", _C, "episodes per update", positive_int),
    Flag("--max-steps", "max_steps", _C, "training episode step limit (default: the env's own)", positive_int),
    Flag("--updates", "num_updates", _C, "gradient updates", positive_int),
    Flag("--total-steps", "total_steps", _C, "size the run in valid env steps per seed instead of updates "
         "(e.g. 1e6, 500k): each seed stops after the update that reaches it, linear schedules decay over it",
         step_count),
    Flag("--hidden", "hidden", _C, "policy hidden layer sizes, comma-separated ('none': linear)", sizes),
    Flag("--activation", "activation", _C, "hidden activation", str, ACTIVATIONS),
    Flag("--advantage", "advantage", _C, "variance reduction of the returns", str, ADVANTAGES),
    Flag("--lr-schedule", "lr_schedule", _C, "constant, or linear decay to 0 over the updates", str,
         LR_SCHEDULES),
    Flag("--schedule-start", "schedule_start", _C,
         "update where the linear schedules start to decay (0; `--resume DIR --extend N` sets it)", nonneg_int),
    Flag("--entropy-schedule", "entropy_schedule", _C,
         "constant, or linear decay of the entropy bonus to 0 over the updates", str, ENTROPY_SCHEDULES),
    Flag("--obs-scale", "obs_scale", _C, "observations are multiplied by this inside the policy", number),
    Flag("--obs-norm", "obs_norm", _C, "standardise observations with running mean/std kept in the policy",
         boolean=True),
    Flag("--policy", "policy", _C, "network torso: mlp (observations flattened), cnn (image observations "
         "[H, W, C], e.g. MinAtar: a 3x3 conv of 16 filters before --hidden), gru / cnn-gru (the same, then a "
         "GRU as wide as the last hidden layer: memory across the episode)", str, POLICIES),
    Flag("--frame-stack", "frame_stack", _C, "the policy sees the last K observations (1: the env's own; "
         "obs-norm statistics are per frame feature)", positive_int),
    Flag("--rollout-chunk", "rollout_chunk", _C,
         "steps between two 'has every episode ended?' checks (speed only)", positive_int),
    Flag("--loss-chunk", "loss_chunk", _C,
         "steps per iteration of the return/gradient loops (speed only; default on CPU: about 2^19 "
         "hidden activations per seed, 512 elsewhere)",
         positive_int),
    Flag("--value-hidden", "value_hidden", _C, "value network hidden sizes (--advantage value; "
         "default: --hidden)", sizes),
    Flag("--value-steps", "value_steps", _C, "value-network gradient steps per update (--advantage value)",
         positive_int),
    Flag("--bootstrap-truncated", "bootstrap_truncated", _C,
         "with --advantage value, end a truncated episode's return with gamma*V(next obs)", boolean=True),
    Flag("--log-std", "log_std", _C, "continuous actions: state-independent (param) or state-dependent "
         "log-std", str, LOG_STD_MODES),
    Flag("--log-std-init", "log_std_init", _C, "continuous actions: initial log-std", number),
    Flag("--log-std-bounds", "log_std_bounds", _C, "continuous actions: LO,HI the log-std is clipped into",
         number_pair),
    Flag("--squash", "squash", _C, "continuous actions: clip the Gaussian sample to the bounds, or "
         "tanh-squash it", str, SQUASHES),
    Flag("--lr", "learning_rate", _H, "Adam learning rate (> 0)", number),
    Flag("--gamma", "gamma", _H, "discount, in (0, 1]", number),
    Flag("--entropy-coef", "entropy_coef", _H, "entropy bonus (>= 0)", number),
    Flag("--max-grad-norm", "max_grad_norm", _H, "global-norm gradient clip (> 0; inf disables)", number),
    Flag("--value-lr", "value_learning_rate", _H, "Adam learning rate of the value baseline", number),
    Flag("--gae-lambda", "gae_lambda", _H, "GAE lambda in [0, 1] of --advantage value (1: G - V)", number),
)

BY_FIELD = {f.field: f for f in TABLE}
BY_FLAG = {f.flag: f for f in TABLE}

# The run layer's own settings (``RunSpec``, ``Evaluation``, ``Schedule``, ``run``/``resume``
# arguments), by the name the library's messages give them, and their flags.
RUN_FIELDS = {
    "seeds": "--seeds", "seed": "--seed", "out": "--out", "updates": "--updates", "chunk": "--progress-every",
    "save_every": "--save-every", "max_memory": "--max-memory", "eval_episodes": "--eval-episodes",
    "eval_greedy": "--greedy", "eval_max_steps": "--eval-max-steps", "eval_every": "--eval-every",
    "target": "--target", "overwrite": "--overwrite", "point": "--point", "resume": "--resume",
    "chunk_seconds": "--chunk-seconds", "seed_index": "--seed-index", "trials": "--trials",
    "population": "--population", "scheduler": "--scheduler", "eta": "--eta", "min_updates": "--min-updates",
    "interval": "--interval", "fraction": "--fraction", "metric": "--metric", "confirm_seeds": "--confirm-seeds",
    "cpu_devices": "--cpu-devices", "extend": "--extend", "keep_best": "--keep-best",
}
SPOKEN = {**{f.field: f.flag for f in TABLE}, **RUN_FIELDS}


def speak(text: str) -> str:
    """A library message in the command line's words: each setting the library names between
    backticks (```learning_rate```) becomes its flag (``--lr``); other text is kept."""
    return re.sub(r"`([A-Za-z_]+)`", lambda m: SPOKEN.get(m.group(1), m.group(0)), text)


def dest(f: Flag) -> str:
    return f.flag.lstrip("-").replace("-", "_")


def add_table_flags(parser: argparse.ArgumentParser, sweep: bool | str) -> None:
    """Adds every table flag; in a sweep the ``HParams`` ones take comma-separated lists, in a
    tune (``sweep="tune"``) a range LOW..HIGH, choices A,B,C or one value."""
    group = parser.add_argument_group(
        "settings (default: the env's tuned settings; `jaxpg envs ENV` prints them)")
    for f in TABLE:
        if f.boolean:
            group.add_argument(f.flag, dest=dest(f), action=argparse.BooleanOptionalAction, default=None,
                               help=f.help)
            continue
        if sweep == "tune" and f.owner == _H:
            group.add_argument(f.flag, dest=dest(f), type=str, default=None,
                               help=f.help + " (LOW..HIGH or A,B,C: searched; one value: fixed)")
            continue
        typ = number_list if (sweep and f.owner == _H) else f.type
        help_text = f.help + (" (comma-separated: a sweep axis)" if sweep and f.owner == _H else "")
        group.add_argument(f.flag, dest=dest(f), type=typ, choices=f.choices, default=None, help=help_text)


def given_flags(argv: list[str]) -> list[str]:
    """Table flags present in ``argv`` (``--flag``, ``--flag=v``, ``--no-flag``), in order."""
    found = []
    for tok in argv:
        name = tok.split("=", 1)[0]
        if name.startswith("--no-"):
            name = "--" + name[5:]
        if name in BY_FLAG and name not in found:
            found.append(name)
    return found


def settings(args: argparse.Namespace, sweep: bool = False, tune: bool = False) -> tuple[Config, HParams, dict]:
    """``(Config, base HParams, sweep lists)``: the env's recommended settings with every given
    flag on top; in a sweep, list-valued ``HParams`` flags are returned as axes instead. The
    checks that need the env (its name, continuous-only options) are the run's: it builds the
    env once (``jaxpg.runner.run``), and a multi-process run must start ``jax.distributed``
    before gymnax starts a JAX backend.

    Raises:
      UsageError: a value the dataclasses reject (one line).
    """
    try:
        config, hparams = recommended("CartPole-v1" if args.env is None else args.env)
        c_over: dict[str, Any] = {}
        h_over: dict[str, Any] = {}
        lists: dict[str, list] = {}
        for f in TABLE:
            v = getattr(args, dest(f))
            if v is None or f.field == "env":
                continue
            if f.owner == _C:
                c_over[f.field] = v
            elif tune:
                lists[f.field] = str(v)  # the search parses ranges and choices
            elif sweep:
                for x in v:
                    HParams(**{f.field: x})  # range check, one value at a time
                lists[f.field] = v
            else:
                h_over[f.field] = v
        if "total_steps" in c_over and "num_updates" in c_over:
            raise ValueError("give --updates N or --total-steps N (a run is sized by one of them), not both")
        config = config.replace(**c_over)
        hparams = hparams.replace(**h_over)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return config, hparams, lists


def config_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(Config)}


def hparams_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(HParams)}
