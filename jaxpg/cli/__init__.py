"""The ``jaxpg`` command line: one small module per command, run flags from one table.

- ``train``, ``sweep``: ``jaxpg.cli.run`` (both call the run layer, ``jaxpg.runner``)
- ``eval``, ``render``, ``plot``, ``export``: ``jaxpg.cli.inspect`` (read run directories)
- ``compare``: ``jaxpg.cli.compare`` (IQM difference, probability of improvement, profiles)
- ``--wandb``/``--tensorboard`` of train and sweep: ``jaxpg.cli.tracking``
- ``envs``, ``bench``: ``jaxpg.cli.tools``
- ``tune``: ``jaxpg.cli.tune`` (random search, successive halving, PBT)

Every error from bad input is one line on stderr and exit status 2.
"""

from __future__ import annotations

import os
import sys

from jaxpg import compile_cache, devices
from jaxpg._version import __version__
from jaxpg.cli import compare, config_file, flags, inspect, run, tools, tune
from jaxpg.cli.common import EXIT_USAGE, LEAVE_AT_ONCE, Parser, UsageError, fail, positive_int

__all__ = ["main", "entry", "build_parser", "UsageError"]


def build_parser() -> Parser:
    parser = Parser(prog="jaxpg", description="REINFORCE on thousands of JAX environments.")
    parser.add_argument("--version", action="version", version=f"jaxpg {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    run.add_parsers(sub)
    tools.add_parsers(sub)
    inspect.add_parsers(sub)
    compare.add_parsers(sub)
    tune.add_parsers(sub)
    for name in config_file.COMMANDS:
        sub.choices[name].add_argument(
            "--config", default=None, metavar="FILE.toml",
            help="settings from a TOML file, keys = flag names (num-envs = 16, lr = 1e-3, hidden = [64, 64]); "
                 "flags on the command line win; --out DIR keeps the file as DIR/config.toml")
    for command in sub.choices.values():
        command.add_argument("--cpu-devices", type=positive_int, default=None, metavar="N",
                             help="CPU devices (JAX's) to shard the runs over (default: one per usable core; "
                                  "JAXPG_CPU_DEVICES=N or XLA's own flag does the same; no effect on a GPU/TPU)")
        command.add_argument("--no-compile-cache", action="store_true",
                             help="do not use the persistent compilation cache (~/.cache/jaxpg/xla; "
                                  "JAXPG_COMPILE_CACHE=0 does the same, =DIR moves it)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        argv, config_path = config_file.expand(argv, parser)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        try:
            devices.configure(args.cpu_devices)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if args.no_compile_cache:
            compile_cache.disable()
        else:
            compile_cache.enable()
        commands = {
            "train": lambda: run.cmd_train(args, argv), "sweep": lambda: run.cmd_sweep(args, argv),
            "envs": lambda: tools.cmd_envs(args), "bench": lambda: tools.cmd_bench(args),
            "eval": lambda: inspect.cmd_eval(args), "render": lambda: inspect.cmd_render(args),
            "plot": lambda: inspect.cmd_plot(args), "compare": lambda: compare.cmd_compare(args),
            "export": lambda: inspect.cmd_export(args), "tune": lambda: tune.cmd_tune(args, argv),
        }
        code = commands[args.command]()
        config_file.keep(config_path, getattr(args, "out", None))
        return code
    except UsageError as e:
        return fail(flags.speak(str(e)))  # the library names settings; the command line speaks its flags


def entry() -> None:
    """The ``jaxpg`` command: ``main``, then the exit status. After a signal stopped a run (its
    files written), the process exits at once (``os._exit``) instead of waiting for, or tearing
    down under, the chunk still computing."""
    try:
        code = main()
    except BrokenPipeError:  # the reader of the output left (`jaxpg envs | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        code = 1
    if LEAVE_AT_ONCE[0]:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
