"""``jaxpg envs`` and ``jaxpg bench``."""

from __future__ import annotations

import argparse
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

from jaxpg.cli.common import HelpFormatter, UsageError, path, positive_int
from jaxpg.cli.flags import TABLE
from jaxpg.defaults import PROVISIONAL, QUICK, TUNED, recommended
from jaxpg.types import CONTINUOUS_ONLY

# Start-up order: this module is imported when the jaxpg command loads. `jaxpg.envs` imports gymnax, and
# importing gymnax starts a JAX backend, which must wait until `jaxpg sweep --coordinator ...` has called
# jax.distributed.initialize (and until the number of CPU devices is set): the commands import it (and the
# benchmark, which runs the run layer) when they run.


def add_parsers(sub) -> None:
    e = sub.add_parser("envs", help="list environment names (* = tuned settings); with ENV, its settings")
    e.add_argument("env", nargs="?", default=None, metavar="ENV", help="print this env's tuned settings")
    b = sub.add_parser("bench", help="training throughput over an N x S grid and the hardware ceiling "
                                     "(the alternatives: python experiments/bench_throughput.py)",
                       formatter_class=HelpFormatter)
    b.add_argument("--env", default="CartPole-v1", help="discrete environment to train")
    b.add_argument("--updates", type=positive_int, default=100, help="updates per grid point")
    b.add_argument("--grid", type=_grid, default=None,
                   help="NxS points, comma-separated, e.g. 256x8,1024x4 (default: sized for the device)")
    b.add_argument("--policies", type=_policy_kinds, default=("course", "default"),
                   help="course (4-16-2 ReLU) and/or default (64-64 tanh), comma-separated")
    b.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (a check that it runs)")
    b.add_argument("--out", type=path, default=Path("experiments/results"),
                   help="directory for bench-<device>-<date>.json")


def _grid(text: str) -> list[tuple[int, int]]:
    points = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != 2 or not all(p.isdigit() and 0 < int(p) < 2**31 for p in parts):
            raise argparse.ArgumentTypeError(
                f"grid point {item!r} is not NxS with positive integers (e.g. 256x8)")
        points.append((int(parts[0]), int(parts[1])))
    return points


def _policy_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(","))
    bad = [k for k in kinds if k not in ("course", "default")]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"unknown policy {bad[0] if bad else text!r}: use course and/or default")
    return kinds


def cmd_envs(args) -> int:
    from jaxpg import envs  # start-up order: envs imports gymnax (see the top of this module)

    if args.env is None:
        for name in envs.names():
            print(f"{name} (provisional)" if name in PROVISIONAL else f"{name} *" if name in TUNED else name)
        return 0
    if args.env not in envs.names():
        raise UsageError(envs.unknown_message(args.env))
    config, hparams = recommended(args.env)
    kind = ("provisional settings, not tuned" if args.env in PROVISIONAL else "tuned" if args.env in TUNED
            else "the CartPole-tuned class defaults")
    env, env_params = envs.make(args.env)
    discrete = envs.is_discrete(env, env_params)
    print(f"{args.env}: {kind} (what train and sweep use for every flag not given)")
    skipped: dict[str, list[str]] = {"continuous actions": [], "--advantage value": []}
    for f in TABLE:
        if f.field == "env":
            continue
        if discrete and f.field in CONTINUOUS_ONLY:
            skipped["continuous actions"].append(f.flag)
        elif config.advantage != "value" and f.field in VALUE_ONLY:
            skipped["--advantage value"].append(f.flag)
        else:
            print(f"  {f.flag:<22} {_readable(getattr(config if f.owner == 'config' else hparams, f.field))}")
    for reason, flags in skipped.items():
        if flags:
            print(f"  (not shown, they apply only with {reason}: {', '.join(flags)})")
    why = TUNED.get(args.env, (None, None, ""))[2]
    if why:
        label = "note" if args.env in PROVISIONAL else "measured"
        print(textwrap.fill(f"{label}: {why}", width=100, subsequent_indent="  "))
    if args.env in QUICK:
        command, note = QUICK[args.env]
        print(f"quick recipe: {command}")
        print(textwrap.fill(f"  {note}", width=100, subsequent_indent="  "))
    return 0


# Settings that mean nothing unless the run has a value baseline.
VALUE_ONLY = ("value_hidden", "value_steps", "value_learning_rate", "gae_lambda", "bootstrap_truncated")


def _readable(value) -> str:
    """A setting as a person writes it: ``64,64``, ``none``, ``1/24`` for 0.041666..., ``0.003``."""
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    if value is None:
        return "default"
    if isinstance(value, float) and not value.is_integer():
        frac = Fraction(value).limit_denominator(1000)
        if frac.numerator == 1 and abs(float(frac) - value) < 1e-12 and len(repr(value)) > 8:
            return f"1/{frac.denominator}"
        return f"{value:g}"
    return str(value)


def cmd_bench(args) -> int:
    from jaxpg import envs  # start-up order: envs imports gymnax (see the top of this module)

    try:
        env, env_params = envs.make(args.env)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if not envs.is_discrete(env, env_params):
        raise UsageError(f"{args.env} has a continuous action space; jaxpg bench needs a discrete one")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot write to --out {str(args.out)!r}: {e.strerror or e}") from None
    from jaxpg.bench import run_benchmark  # start-up order: the benchmark runs the run layer (gymnax)

    try:
        run_benchmark(args.env, args.updates, args.grid, args.policies, smoke=args.smoke, out=args.out,
                      say=lambda *a: print(*a, flush=True))
    except KeyboardInterrupt:
        print("interrupted: the JSON keeps the points finished so far (complete: false)", file=sys.stderr)
        return 130
    return 0
