"""The command-line driver: ``jaxpg train``.

Thin by design: it validates the flags (one-line errors, exit status 2),
builds a ``Config`` and ``HParams``, compiles ``vmap(train)`` over seeds once,
drives it a chunk of updates at a time (dispatching the next chunk before
reading back the last one's metrics) to show progress, evaluates, prints a
per-seed table and writes results atomically.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from jaxpg.types import ADVANTAGES, ENTROPY_SCHEDULES, LOG_STD_MODES, LR_SCHEDULES, SQUASHES, Config, HParams

EXIT_USAGE = 2


class UsageError(Exception):
    """A bad flag value: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _hidden(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers like 64,64, got {text!r}"
        ) from None
    if any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive, got {text!r}")
    return sizes


class _HelpFormatter(argparse.HelpFormatter):
    """Shows every default: fixed ones as ``(default: X)``; per-env ones as
    ``(default: X for CartPole-v1; tuned per env)``."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" in text or action.default is argparse.SUPPRESS or action.option_strings == []:
            return text
        if getattr(action, "per_env", None) is not None:
            return f"{text} (default: {action.per_env} for CartPole-v1; tuned per env, see `jaxpg envs`)"
        if action.default is None or isinstance(action, argparse._StoreTrueAction):
            return text if action.default is None else f"{text} (default: {action.default})"
        return f"{text} (default: %(default)s)"


def _per_env(action: argparse.Action, shown) -> argparse.Action:
    action.per_env = shown
    return action


def _float_list(text: str) -> list[float]:
    """Comma-separated numbers, e.g. ``1e-3,3e-3`` (a sweep axis)."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(p == "" for p in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 1e-3,3e-3, got {text!r}")
    try:
        return [float(p) for p in parts]
    except ValueError:
        bad = next(p for p in parts if not _is_float(p))
        raise argparse.ArgumentTypeError(f"expected a number, got {bad!r} in {text!r}") from None


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _float_pair(text: str) -> tuple[float, float]:
    """Two comma-separated numbers, e.g. ``-5,2``."""
    values = _float_list(text)
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected two comma-separated numbers LO,HI, got {text!r}")
    return values[0], values[1]


def _config_defaults():
    """``Config``'s field defaults without building one (that would import gymnax, which
    starts a JAX backend before ``jax.distributed`` could be initialised)."""
    return argparse.Namespace(**{f.name: f.default for f in dataclasses.fields(Config)})


def _add_run_flags(t: argparse.ArgumentParser, sweep: bool) -> None:
    """The flags ``train`` and ``sweep`` share; in a sweep the traced ones take lists."""
    c, h = _config_defaults(), HParams()
    num = _float_list if sweep else _float
    many = " (comma-separated list: a sweep axis)" if sweep else ""
    t.add_argument("--env", default=c.env, help="environment name (see `jaxpg envs`)")
    t.add_argument("--seeds", type=_positive_int, default=8,
                   help="independent runs" + (" per hyperparameter point" if sweep else ", trained at once"))
    t.add_argument("--seed", type=int, default=0, help="root seed; run i uses split(key(seed))[i]")
    _per_env(t.add_argument("--num-envs", type=_positive_int, help="episodes per update"), c.num_envs)
    t.add_argument("--max-steps", type=_positive_int, default=None,
                   help="episode step limit (default: the env's own: 500 for CartPole-v1, "
                        "10,000 for Pixelcopter-v0)")
    _per_env(t.add_argument("--updates", type=_positive_int, help="gradient updates"), c.num_updates)
    _per_env(t.add_argument("--lr", type=num, help="Adam learning rate (> 0)" + many), h.learning_rate)
    _per_env(t.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                            help="constant, or linear decay to 0 over the updates"), c.lr_schedule)
    _per_env(t.add_argument("--entropy-schedule", choices=ENTROPY_SCHEDULES,
                            help="constant, or linear decay of the entropy bonus to 0 over the updates"),
             c.entropy_schedule)
    _per_env(t.add_argument("--gamma", type=num, help="discount, in (0, 1]" + many), h.gamma)
    _per_env(t.add_argument("--entropy-coef", type=num, help="entropy bonus (>= 0)" + many), h.entropy_coef)
    _per_env(t.add_argument("--max-grad-norm", type=num,
                            help="global-norm gradient clip (> 0; inf disables)" + many), h.max_grad_norm)
    _per_env(t.add_argument("--advantage", choices=ADVANTAGES, help="variance reduction of the returns"),
             c.advantage)
    _per_env(t.add_argument("--hidden", type=_hidden, help="hidden layer sizes, comma-separated"),
             ",".join(map(str, c.hidden)))
    _per_env(t.add_argument("--activation", help="tanh, relu, gelu or silu"), c.activation)
    _per_env(t.add_argument("--obs-norm", action=argparse.BooleanOptionalAction, default=None,
                            help="standardise observations with running mean/std kept in the policy"),
             c.obs_norm)
    _per_env(t.add_argument("--value-lr", type=num,
                            help="Adam learning rate of the value baseline (--advantage value)" + many),
             h.value_learning_rate)
    _per_env(t.add_argument("--gae-lambda", type=num,
                            help="GAE lambda in [0, 1] of --advantage value (1: Monte-Carlo G - V)" + many),
             h.gae_lambda)
    _per_env(t.add_argument("--value-hidden", type=_hidden,
                            help="value network hidden sizes (--advantage value; default: --hidden)"),
             "--hidden")
    _per_env(t.add_argument("--value-steps", type=_positive_int,
                            help="value-network gradient steps per update (--advantage value)"),
             c.value_steps)
    _per_env(t.add_argument("--bootstrap-truncated", action=argparse.BooleanOptionalAction, default=None,
                            help="with --advantage value, end a truncated episode's return with "
                                 "gamma*V(next obs)"), c.bootstrap_truncated)
    _per_env(t.add_argument("--log-std", choices=LOG_STD_MODES,
                            help="continuous actions: state-independent (param) or state-dependent log-std"),
             "param")
    _per_env(t.add_argument("--log-std-init", type=_float, help="continuous actions: initial log-std"), 0.0)
    _per_env(t.add_argument("--log-std-bounds", type=_float_pair,
                            help="continuous actions: LO,HI the log-std is clipped into"), "-5,2")
    _per_env(t.add_argument("--squash", choices=SQUASHES,
                            help="continuous actions: clip the Gaussian sample to the bounds, "
                                 "or tanh-squash it"),
             "clip")
    if not sweep:
        t.add_argument("--eval-max-steps", type=_positive_int, default=None,
                       help="step limit of the evaluation episodes (default: the env's own limit, even "
                            "when --max-steps cuts the training episodes shorter)")
    t.add_argument("--eval-episodes", type=_positive_int, default=32,
                   help="evaluation episodes per seed after training")
    t.add_argument("--greedy-eval", action="store_true",
                   help="report argmax-action evaluation (sampled actions otherwise)")
    t.add_argument("--progress-every", type=_positive_int, default=None,
                   help="updates per compiled chunk, one progress line each (default: ~1/10 of the run)")
    t.add_argument("--out", type=Path, default=None,
                   help="directory for " + ("sweep.json" if sweep else "summary.json")
                        + " and metrics.csv (default: write nothing)")
    t.add_argument("--quiet", action="store_true", help="print only the final table")
    if not sweep:
        t.add_argument("--save-every", type=_positive_int, default=None,
                       help="also checkpoint every K updates (a multiple of --progress-every); with --out "
                            "a checkpoint is always saved at the end and on Ctrl-C")
        t.add_argument("--tensorboard", action="store_true",
                       help="also log the per-update metrics to DIR/tensorboard (needs --out and "
                            "`pip install tensorboardX`); metrics.csv stays the record")
        t.add_argument("--resume", type=Path, default=None, metavar="DIR",
                       help="continue the run saved in DIR (its settings; --updates N = total updates)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxpg", description="REINFORCE on thousands of JAX environments.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    t = sub.add_parser("train", help="train seeds in one compiled program", formatter_class=_HelpFormatter)
    _add_run_flags(t, sweep=False)
    w = sub.add_parser("sweep", help="seeds x hyperparameter grid in one compiled program, "
                                     "sharded over every device (and host)",
                       formatter_class=_HelpFormatter)
    _add_run_flags(w, sweep=True)
    w.add_argument("--target", type=_float, default=None,
                   help="stop early once every run's training return has reached this value")
    w.add_argument("--coordinator", default=None,
                   help="jax.distributed coordinator host:port (or JAX_COORDINATOR_ADDRESS); "
                        "with --num-processes and --process-id runs the sweep over several processes")
    w.add_argument("--num-processes", type=_positive_int, default=None,
                   help="processes in the distributed run (or JAX_NUM_PROCESSES)")
    w.add_argument("--process-id", type=int, default=None, help="this process's id (or JAX_PROCESS_ID)")
    w.add_argument("--connect-timeout", type=_positive_int, default=60,
                   help="seconds to wait for every process to join")
    sub.add_parser("envs", help="list environment names (* = tuned defaults)")
    e = sub.add_parser("eval", help="evaluate the checkpoint of a run directory, per seed",
                       formatter_class=_HelpFormatter)
    e.add_argument("run_dir", type=Path, metavar="DIR", help="a `jaxpg train --out` directory")
    e.add_argument("--episodes", type=_positive_int, default=10, help="episodes per seed, played in parallel")
    e.add_argument("--greedy", action="store_true", help="argmax actions (sampled otherwise, as the course)")
    e.add_argument("--seed", type=int, default=0, help="seed of the evaluation episodes")
    e.add_argument("--max-steps", type=_positive_int, default=None,
                   help="episode step limit (default: the env's own, as train's final evaluation, "
                        "even when the run's --max-steps cut its training episodes shorter)")
    r = sub.add_parser("render", help="play one episode with a saved policy and write an animated GIF",
                       formatter_class=_HelpFormatter)
    r.add_argument("run_dir", type=Path, metavar="DIR", help="a `jaxpg train --out` directory")
    r.add_argument("--out", type=Path, required=True, help="replay.gif (or .mp4, needs imageio[ffmpeg])")
    r.add_argument("--seed", type=int, default=0, help="which trained seed of the run plays")
    r.add_argument("--episode-seed", type=int, default=0, help="seed of the episode's randomness")
    r.add_argument("--greedy", action="store_true", help="argmax actions (sampled otherwise)")
    r.add_argument("--max-steps", type=_positive_int, default=None,
                   help="frames at most (default: the run's episode limit, capped at 1000)")
    r.add_argument("--fps", type=_positive_int, default=30, help="frames per second of the animation")
    pl = sub.add_parser("plot", help="learning curves (IQM over seeds, 95%% bootstrap CI) of run "
                                     "directories, or final-score distributions",
                        formatter_class=_HelpFormatter)
    pl.add_argument("run_dirs", type=Path, nargs="+", metavar="DIR",
                    help="`jaxpg train`/`sweep` --out directories")
    pl.add_argument("--out", type=Path, required=True, help="image file (.png, .svg, .pdf)")
    pl.add_argument("--labels", type=lambda t: t.split(","), default=None,
                    help="comma-separated, one per DIR")
    pl.add_argument("--x", choices=("env_steps", "update"), default="env_steps", help="horizontal axis")
    pl.add_argument("--final-scores", action="store_true",
                    help="plot each run's (or sweep point's) per-seed final score (mean - std): dots + box")
    pl.add_argument("--pass-line", type=_float, action="append", default=[], metavar="Y",
                    help="draw a dashed horizontal line at Y (e.g. the course's pass score); repeatable")
    pl.add_argument("--title", default=None, help="plot title")
    b = sub.add_parser("bench", help="training throughput over an N x S grid, the hardware ceiling, and "
                                     "the alternatives (textbook loop, gymnasium vector env, plain JAX scan)",
                       formatter_class=_HelpFormatter)
    b.add_argument("--env", default="CartPole-v1", help="discrete environment to train")
    b.add_argument("--updates", type=_positive_int, default=100, help="updates per grid point")
    b.add_argument("--grid", type=_grid, default=None,
                   help="NxS points, comma-separated, e.g. 256x8,1024x4 (default: sized for the device)")
    b.add_argument("--policies", type=_policy_kinds, default=("course", "default"),
                   help="course (4-16-2 ReLU) and/or default (64-64 tanh), comma-separated")
    b.add_argument("--no-alternatives", action="store_true", help="skip timing the alternatives")
    b.add_argument("--smoke", action="store_true", help="tiny sizes, seconds (a check that it runs)")
    b.add_argument("--out", type=Path, default=Path("experiments/results"),
                   help="directory for bench-<device>-<date>.json")
    return parser


def _grid(text: str) -> list[tuple[int, int]]:
    points = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise argparse.ArgumentTypeError(
                f"grid point {item!r} is not NxS with positive integers (e.g. 256x8)")
        points.append((int(parts[0]), int(parts[1])))
    return points


def _policy_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(","))
    bad = [k for k in kinds if k not in ("course", "default")]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(
            f"unknown policy {bad[0] if bad else text!r}: use course and/or default")
    return kinds


def cmd_eval(args) -> int:
    """Runs ``jaxpg eval DIR``: K episodes per seed of the saved policies."""
    from jaxpg import checkpoint

    try:
        ck = checkpoint.load(args.run_dir)
    except checkpoint.CheckpointError as e:
        raise UsageError(str(e)) from None
    import jax
    import numpy as np

    from jaxpg.evaluate import evaluate, summarize
    from jaxpg.train import make_trainer

    trainer = make_trainer(ck.config)
    max_steps = args.max_steps or int(trainer.env_params.max_steps_in_episode)
    keys = jax.random.split(jax.random.key(args.seed), ck.seeds)
    returns = np.asarray(jax.jit(jax.vmap(lambda k, p: evaluate(
        k, trainer.env, trainer.env_params, trainer.policy.apply, p, args.episodes, max_steps,
        greedy=args.greedy, dist=trainer.policy.dist)))(keys, ck.state.params))
    mode = "greedy" if args.greedy else "sampled"
    print(f"{ck.config.env}, {args.run_dir}: {ck.updates_done} updates; "
          f"{args.episodes} {mode} episodes per seed (score = mean - std)")
    print(" seed |      mean |     std |    score")
    for s, r in enumerate(returns):
        m = summarize(r)
        print(f" {s:>4} | {m.mean:9.2f} | {m.std:7.2f} | {m.score:8.2f}")
    m = summarize(returns.reshape(-1))
    scores = [summarize(r).score for r in returns]
    print(f"  all | {m.mean:9.2f} | {m.std:7.2f} | {m.score:8.2f}   "
          f"(per-seed score: median {np.median(scores):.2f}, worst {min(scores):.2f})")
    return 0


def cmd_render(args) -> int:
    """Runs ``jaxpg render DIR --out FILE``."""
    from jaxpg import checkpoint, render

    suffix = args.out.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise UsageError(f"--out must end in .gif or .mp4, got {str(args.out)!r}")
    if not args.out.parent.is_dir() or not os.access(args.out.parent, os.W_OK):
        raise UsageError(f"cannot write --out {str(args.out)!r}: "
                         "its directory does not exist or is not writable")
    try:
        ck = checkpoint.load(args.run_dir)
    except checkpoint.CheckpointError as e:
        raise UsageError(str(e)) from None
    if not 0 <= args.seed < ck.seeds:
        raise UsageError(f"--seed {args.seed} is out of range: the run has seeds 0..{ck.seeds - 1}")
    try:
        render.renderer(ck.config.env)
    except ValueError as e:
        raise UsageError(str(e)) from None
    import jax

    from jaxpg.train import make_trainer

    trainer = make_trainer(ck.config)
    max_steps = args.max_steps or min(trainer.max_steps, 1000)
    params = jax.tree.map(lambda x: x[args.seed], ck.state.params)
    states, length = render.play_episode(jax.random.key(args.episode_seed), ck.config.env,
                                         trainer.policy.apply, params, max_steps, args.greedy)
    states = jax.tree.map(lambda a: a[: length + 1], states)
    images = render.frames(ck.config.env, states)
    try:
        (render.write_mp4 if suffix == ".mp4" else render.write_gif)(images, args.out, fps=args.fps)
    except RuntimeError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot write --out {str(args.out)!r}: {e.strerror or e}") from None
    print(f"wrote {args.out}: seed {args.seed}, {length} steps, {len(images)} frames "
          f"({images.shape[2]}x{images.shape[1]})")
    return 0


def cmd_plot(args) -> int:
    """Runs ``jaxpg plot DIR ... --out FILE``."""
    from jaxpg import plotting

    if args.labels is not None and len(args.labels) != len(args.run_dirs):
        raise UsageError(f"--labels has {len(args.labels)} names for {len(args.run_dirs)} directories")
    if not args.out.parent.is_dir() or not os.access(args.out.parent, os.W_OK):
        raise UsageError(f"cannot write --out {str(args.out)!r}: "
                         "its directory does not exist or is not writable")
    hlines = {f"pass line {y:g}": y for y in args.pass_line} or None
    try:
        if args.final_scores:
            path = plotting.final_scores(args.run_dirs, args.out, labels=args.labels, hlines=hlines,
                                         title=args.title)
        else:
            path = plotting.learning_curves(args.run_dirs, args.out, labels=args.labels, x=args.x,
                                            hlines=hlines, title=args.title)
    except ValueError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    except OSError as e:
        raise UsageError(f"cannot write --out {str(args.out)!r}: {e.strerror or e}") from None
    print(f"wrote {path}")
    return 0


def cmd_bench(args) -> int:
    """Runs ``jaxpg bench`` (see ``jaxpg.bench``)."""
    _check_out_dir(args.out)
    from jaxpg import envs

    try:
        env, env_params = envs.make(args.env)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if not envs.is_discrete(env, env_params):
        raise UsageError(f"{args.env} has a continuous action space; jaxpg bench needs a discrete one")
    if args.env != "CartPole-v1" and not args.no_alternatives:
        raise UsageError("the alternatives are CartPole-v1 only; add --no-alternatives for other envs")
    if not args.no_alternatives:
        try:
            import gymnasium  # noqa: F401
        except ImportError:
            raise UsageError('the alternatives need gymnasium: pip install "jaxpg[bench]", '
                             "or add --no-alternatives") from None
    from jaxpg.bench import run_benchmark

    try:
        run_benchmark(args.env, args.updates, args.grid, args.policies, not args.no_alternatives,
                      args.smoke, args.out, say=lambda *a: print(*a, flush=True))
    except KeyboardInterrupt:
        print("interrupted: the JSON keeps the points finished so far (complete: false)", file=sys.stderr)
        return 130
    return 0


def _fail(message: str) -> int:
    print(f"jaxpg: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _atomic_write(path: Path, text: str) -> None:
    """Writes ``text`` to a temporary file beside ``path``, then renames it over."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _check_out_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as e:
        raise UsageError(f"cannot write to --out {str(out)!r}: {e.strerror or e}") from None


def _divisor_near(n: int, target: int) -> int:
    """The divisor of n closest to target (so every chunk has the same static length)."""
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), d))


def _dispatch_ahead(run_c, state, hparams, num_chunks: int, hold=None, stop=None):
    """Yields ``(i, state, metrics)`` of each compiled chunk, chunk i+1 dispatched before chunk i
    is handed over, so the device never waits for the host to read metrics back.

    ``hold(i)``: chunk i's state is needed intact (e.g. to save it): chunk i+1 is dispatched
    only after the caller has used it (the train state is donated to each chunk).
    ``stop()``: once true, nothing more is dispatched; a chunk already running is still
    yielded, so the last state yielded is always intact.
    """
    pending = run_c(state, hparams)
    for i in range(num_chunks):
        state, m = pending
        last = i + 1 >= num_chunks or (stop is not None and stop())
        ahead = not last and not (hold is not None and hold(i))
        if ahead:
            pending = run_c(state, hparams)
        yield i, state, m
        if last:
            return
        if not ahead:
            if stop is not None and stop():
                return
            pending = run_c(state, hparams)


def _eta(elapsed: float, done: int, total: int) -> str:
    """``"[#####-----] eta 1m05s"``: a progress bar and the time left at the rate so far."""
    width = 20
    filled = round(width * done / max(total, 1))
    left = elapsed / max(done, 1) * (total - done)
    m, sec = divmod(int(round(left)), 60)
    return f"[{'#' * filled}{'-' * (width - filled)}] eta {f'{m}m{sec:02d}s' if m else f'{sec}s'}"


class _GracefulStop:
    """While active, the first Ctrl-C only sets ``requested`` (the run stops after the chunk
    that is running); a second one raises KeyboardInterrupt as usual."""

    def __init__(self, message: str):
        self.requested = False
        self._message = message
        self._old = None

    def __call__(self) -> bool:
        return self.requested

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(self._message, file=sys.stderr, flush=True)

    def __enter__(self):
        import signal

        try:
            self._old = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: plain KeyboardInterrupt semantics
            self._old = None
        return self

    def __exit__(self, *exc):
        import signal

        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _metrics_csv(metrics, seeds: int, updates_done: int) -> str:
    import numpy as np

    buf = io.StringIO()
    w = csv.writer(buf)
    fields = ["seed", "update", "env_steps", "mean_return", "loss", "mean_length", "entropy",
              "grad_norm"]
    w.writerow(fields)
    cum = np.cumsum(metrics["env_steps"].astype(np.int64), axis=1)
    for s in range(seeds):
        for u in range(updates_done):
            w.writerow([
                s, u + 1, int(cum[s, u]), f"{metrics['mean_return'][s, u]:.6g}",
                f"{metrics['loss'][s, u]:.6g}", f"{metrics['mean_length'][s, u]:.6g}",
                f"{metrics['entropy'][s, u]:.6g}", f"{metrics['grad_norm'][s, u]:.6g}",
            ])
    return buf.getvalue()


def _config_flags(args) -> dict:
    """The ``Config`` fields the command line set."""
    kv = dict(
        num_envs=args.num_envs, max_steps=args.max_steps, hidden=args.hidden, num_updates=args.updates,
        advantage=args.advantage, activation=args.activation, lr_schedule=args.lr_schedule,
        entropy_schedule=args.entropy_schedule,
        obs_norm=args.obs_norm, value_hidden=args.value_hidden, value_steps=args.value_steps,
        bootstrap_truncated=args.bootstrap_truncated, log_std=args.log_std, log_std_init=args.log_std_init,
        log_std_bounds=args.log_std_bounds, squash=args.squash,
    )
    return {k: v for k, v in kv.items() if v is not None}


def resolve_settings(args) -> tuple[Config, HParams]:
    """The env's recommended settings, overridden by every flag that was given."""
    from jaxpg.defaults import recommended

    config, hparams = recommended(args.env)
    given = lambda **kv: {k: v for k, v in kv.items() if v is not None}  # noqa: E731
    config = config.replace(**_config_flags(args))
    hparams = hparams.replace(**given(
        learning_rate=args.lr, gamma=args.gamma, entropy_coef=args.entropy_coef,
        max_grad_norm=args.max_grad_norm, value_learning_rate=args.value_lr,
        gae_lambda=args.gae_lambda,
    ))
    return config, hparams


_RUN_FLAGS = ("--env", "--seeds", "--seed", "--num-envs", "--max-steps", "--lr", "--lr-schedule",
              "--entropy-schedule", "--gamma", "--entropy-coef", "--max-grad-norm", "--advantage",
              "--hidden", "--activation", "--out", "--obs-norm", "--no-obs-norm", "--value-lr",
              "--gae-lambda", "--value-hidden", "--value-steps", "--bootstrap-truncated",
              "--no-bootstrap-truncated", "--log-std", "--log-std-init", "--log-std-bounds", "--squash")


def cmd_train(args, t_start: float | None = None, argv: list[str] | None = None) -> int:
    """Runs ``jaxpg train``; ``t_start`` (perf_counter) is when the command began."""
    t_start = time.perf_counter() if t_start is None else t_start
    # Validate everything before importing/compiling anything heavy.
    resumed = None
    if args.resume is not None:
        given = [f for f in _RUN_FLAGS if any(a == f or a.startswith(f + "=") for a in (argv or []))]
        if given:
            raise UsageError(f"--resume continues a run with its saved settings; drop {', '.join(given)}")
        from jaxpg import checkpoint

        try:
            resumed = checkpoint.load(args.resume)
        except checkpoint.CheckpointError as e:
            raise UsageError(str(e)) from None
        config, hparams = resumed.config, resumed.hparams
        args.seed, args.seeds, args.out = resumed.root_seed, resumed.seeds, Path(args.resume)
        target = args.updates if args.updates is not None else config.num_updates
        if target < resumed.updates_done:
            raise UsageError(f"--updates {target} is below the {resumed.updates_done} updates already done")
    else:
        try:
            config, hparams = resolve_settings(args)
        except ValueError as e:
            raise UsageError(str(e)) from None
        target = config.num_updates
    if args.save_every is not None and args.out is None:
        raise UsageError("--save-every needs --out (the directory the checkpoints go to)")
    tb_writer = None
    if args.tensorboard:
        if args.out is None:
            raise UsageError("--tensorboard needs --out (the logs go to OUT/tensorboard)")
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise UsageError("--tensorboard needs tensorboardX: pip install tensorboardX") from None
    if args.out is not None:
        _check_out_dir(args.out)

    import jax
    import numpy as np

    from jaxpg.evaluate import evaluate, summarize
    from jaxpg.train import DivergedError, check_finite, make_trainer

    say = (lambda *a, **k: None) if args.quiet else (lambda *a, **k: print(*a, **k, flush=True))
    trainer = make_trainer(config, seed_axis="seeds")
    base = 0 if resumed is None else resumed.updates_done
    remaining = target - base
    chunk = args.progress_every or _divisor_near(max(remaining, 1), max(1, remaining // 10))
    if remaining % chunk:
        raise UsageError(
            f"--progress-every {chunk} must divide the {remaining} updates to run "
            "(every compiled chunk has the same length)"
        )
    if args.save_every is not None and args.save_every % chunk:
        raise UsageError(f"--save-every {args.save_every} must be a multiple of the chunk of {chunk} updates "
                         "(--progress-every)")
    if resumed is not None and target > config.num_updates and config.lr_schedule == "linear":
        print(f"note: the linear learning-rate schedule of this run ends at update {config.num_updates}; "
              "the updates past it run at learning rate 0", file=sys.stderr)
    keys = jax.random.split(jax.random.key(args.seed), args.seeds)
    # lax.map in batches of 64: a jitted vmap of `init` over more than 128 seeds hangs on the
    # XLA CPU backend (jax 0.10.2).
    init = jax.jit(lambda ks, hp: jax.lax.map(lambda k: trainer.init(k, hp), ks, batch_size=64))
    run = jax.jit(
        jax.vmap(trainer.run, in_axes=(0, None, None), axis_name=trainer.seed_axis),
        static_argnums=2, donate_argnums=0
    )
    from jaxpg import checkpoint
    from jaxpg.types import Metrics

    verb = f"resuming {args.out} at update {base}: " if resumed is not None else ""
    say(f"jaxpg train: {verb}{config.env}, {args.seeds} seeds x {config.num_envs} envs, "
        f"{target} updates, backend {jax.default_backend()}")
    t0 = time.perf_counter()
    state = init(keys, hparams) if resumed is None else resumed.state
    run_c = run.lower(state, hparams, chunk).compile()
    compile_s = time.perf_counter() - t0
    say(f"compiled in {compile_s:.1f} s")

    chunks_total = remaining // chunk
    collected: list = [] if resumed is None else [Metrics(**resumed.metrics)]
    steps_done = 0 if resumed is None else int(resumed.metrics["env_steps"].astype(np.int64).sum())
    steps_before = steps_done
    saved_at = None

    def save(st):
        nonlocal saved_at
        metrics_so_far = checkpoint.metrics_dict(collected) if collected else None
        # the state and the metrics must describe the same update (an abort can split them)
        if args.out is not None and metrics_so_far is not None and \
                metrics_so_far["loss"].shape[1] == int(np.asarray(st.update)[0]):
            checkpoint.save(args.out, st, metrics_so_far, config, hparams, args.seed)
            saved_at = int(np.asarray(st.update)[0])

    def hold(i):  # a periodic save after chunk i needs its state before the next chunk takes it
        return args.save_every is not None and (base + (i + 1) * chunk) % args.save_every == 0

    if args.tensorboard:
        tb_writer = SummaryWriter(str(args.out / "tensorboard"))

    def log_tb(m, first_update):
        if tb_writer is None:
            return
        for u in range(m.loss.shape[1]):
            step = first_update + u + 1
            for field in ("mean_return", "loss", "entropy", "grad_norm", "mean_length"):
                vals = np.asarray(getattr(m, field))[:, u]
                tb_writer.add_scalar(f"all/{field}", float(vals.mean()), step)
                for s in range(vals.shape[0]):
                    tb_writer.add_scalar(f"seed{s}/{field}", float(vals[s]), step)

    t_train = time.perf_counter()
    graceful = _GracefulStop("interrupted: finishing the running chunk, then keeping the finished updates"
                             + (" and saving a checkpoint" if args.out else "") + " (Ctrl-C again to abort)")
    aborted = False
    diverged = None
    with graceful:
        try:
            for i, latest, m in _dispatch_ahead(run_c, state, hparams, chunks_total, hold, graceful):
                m = jax.tree.map(np.asarray, m)
                try:
                    check_finite(m, base + i * chunk)
                except DivergedError as e:
                    diverged = str(e)  # keep the last finite state and checkpoint; stop here
                    break
                state = latest  # what evaluation uses: the last chunk read back
                collected.append(m)
                log_tb(m, base + i * chunk)
                steps_done += int(m.env_steps.sum())
                elapsed = time.perf_counter() - t_train
                say(f"  update {base + (i + 1) * chunk:>5}/{target}  "
                    f"return {m.mean_return[:, -1].mean():8.2f}  "
                    f"env steps {steps_done:>11,}  {(steps_done - steps_before) / elapsed:,.0f} steps/s  "
                    f"{_eta(elapsed, i + 1, chunks_total)}")
                if hold(i) and i + 1 < chunks_total and not graceful.requested:
                    save(state)
        except KeyboardInterrupt:  # a second Ctrl-C: stop now; a chunk may have taken the state
            aborted = True
            print("aborted: keeping the updates read back so far", file=sys.stderr)
    interrupted = graceful.requested or aborted or diverged is not None
    if tb_writer is not None:
        tb_writer.close()
    train_s = time.perf_counter() - t_train
    leaves = jax.tree.leaves(state)
    intact = not any(getattr(x, "is_deleted", lambda: False)() for x in leaves)
    if collected and intact and saved_at != int(np.asarray(state.update)[0]):
        save(state)
    elif collected and not intact:
        print("no checkpoint saved: the last state was handed to a chunk that was aborted", file=sys.stderr)

    metrics = checkpoint.metrics_dict(collected) if collected else None
    updates_done = 0 if metrics is None else metrics["loss"].shape[1]

    eval_mean = eval_std = eval_score = other_mean = None
    eval_s = 0.0
    if not interrupted:
        t0 = time.perf_counter()

        eval_max_steps = args.eval_max_steps or int(trainer.env_params.max_steps_in_episode)

        def both(k, p):  # the reported mode and the other one, in one compiled call
            k1, k2 = jax.random.split(k)
            run = lambda kk, g: evaluate(kk, trainer.env, trainer.env_params, trainer.policy.apply,  # noqa: E731
                                          p, args.eval_episodes, eval_max_steps, greedy=g,
                                          dist=trainer.policy.dist)
            return run(k1, args.greedy_eval), run(k2, not args.greedy_eval)

        eval_keys = jax.random.split(jax.random.fold_in(jax.random.key(args.seed), 1), args.seeds)
        returns, other = jax.jit(jax.vmap(both))(eval_keys, state.params)
        returns, other = np.asarray(returns), np.asarray(other)
        eval_s = time.perf_counter() - t0
        summaries = [summarize(r) for r in returns]
        eval_mean = [s.mean for s in summaries]
        eval_std = [s.std for s in summaries]
        eval_score = [s.score for s in summaries]
        other_mean = [float(r.mean()) for r in other]

    wall = time.perf_counter() - t_start
    if eval_mean is not None:
        last = metrics["mean_return"][:, -1]
        mode, other_mode = ("greedy", "sampled") if args.greedy_eval else ("sampled", "greedy")
        everything = np.concatenate(list(returns))
        print(f"\nevaluation: {args.eval_episodes} {mode} episodes per seed "
              f"(score = mean - std); last column: {other_mode} actions")
        print(f" seed | train return | eval mean |   std |  score | {other_mode} mean")
        for s in range(args.seeds):
            print(f" {s:>4} | {last[s]:12.1f} | {eval_mean[s]:9.1f} | {eval_std[s]:5.1f} |"
                  f" {eval_score[s]:6.1f} | {other_mean[s]:11.1f}")
        print(f"  all | {last.mean():12.1f} | {everything.mean():9.1f} | {everything.std():5.1f} |"
              f" {everything.mean() - everything.std():6.1f} | {np.mean(other_mean):11.1f}")
    print(f"env steps (valid, training): {steps_done:,}   wall {wall:.1f} s "
          f"(compile {compile_s:.1f}, train {train_s:.1f}, eval {eval_s:.1f}, "
          f"setup {wall - compile_s - train_s - eval_s:.1f})   "
          f"{steps_done / max(train_s, 1e-9):,.0f} steps/s")

    if args.out is not None:
        summary = {
            "env": config.env,
            "seeds": args.seeds,
            "root_seed": args.seed,
            "eval_mean": eval_mean,
            "eval_std": eval_std,
            "eval_score": eval_score,
            "eval_episodes": args.eval_episodes,
            "eval_max_steps": args.eval_max_steps or int(trainer.env_params.max_steps_in_episode),
            "eval_greedy": args.greedy_eval,
            "eval_mean_other_mode": other_mean,
            "wall_seconds": wall,
            "compile_seconds": compile_s,
            "train_seconds": train_s,
            "eval_seconds": eval_s,
            "env_steps": steps_done,
            "updates_done": updates_done,
            "interrupted": interrupted,
            "diverged": diverged,
            "config": dataclasses.asdict(config),
            "hparams": hparams.to_dict(),
            "backend": jax.default_backend(),
            "jax_version": jax.__version__,
            "python": platform.python_version(),
        }
        if metrics is not None:
            _atomic_write(args.out / "metrics.csv", _metrics_csv(metrics, args.seeds, updates_done))
        _atomic_write(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
        print(f"wrote {args.out / 'summary.json'} and {args.out / 'metrics.csv'}")
    if diverged is not None:
        raise UsageError(diverged)
    return 130 if interrupted else 0


_SWEEP_FLAGS = {"--lr": "learning_rate", "--gamma": "gamma", "--entropy-coef": "entropy_coef",
                "--max-grad-norm": "max_grad_norm", "--value-lr": "value_learning_rate",
                "--gae-lambda": "gae_lambda"}


def _axis_order(argv: list[str]) -> list[str]:
    """HParams fields of the list flags, in the order they appear on the command line."""
    order = []
    for tok in argv:
        name = _SWEEP_FLAGS.get(tok.split("=", 1)[0])
        if name is not None and name not in order:
            order.append(name)
    return order


def _sweep_metrics_csv(metrics, points, updates_done: int) -> str:
    import numpy as np

    buf = io.StringIO()
    w = csv.writer(buf)
    axes = list(points[0]) if points else []
    w.writerow(["point", *axes, "seed", "update", "env_steps", "mean_return", "loss", "mean_length",
                "entropy", "grad_norm"])
    cum = np.cumsum(metrics.env_steps.astype(np.int64), axis=2)
    H, S = cum.shape[:2]
    for h in range(H):
        vals = [f"{points[h][a]:g}" for a in axes]
        for s_ in range(S):
            for u in range(updates_done):
                w.writerow([
                    h, *vals, s_, u + 1, int(cum[h, s_, u]), f"{metrics.mean_return[h, s_, u]:.6g}",
                    f"{metrics.loss[h, s_, u]:.6g}", f"{metrics.mean_length[h, s_, u]:.6g}",
                    f"{metrics.entropy[h, s_, u]:.6g}", f"{metrics.grad_norm[h, s_, u]:.6g}",
                ])
    return buf.getvalue()


def cmd_sweep(args, argv: list[str], t_start: float) -> int:
    """Runs ``jaxpg sweep``: every (point, seed) in one compiled, sharded program."""
    # jax.distributed must start before anything touches a JAX backend (building an env does).
    distributed = args.coordinator or args.num_processes or args.process_id is not None
    distributed = distributed or os.environ.get("JAX_COORDINATOR_ADDRESS")
    if distributed:
        from jaxpg.distributed import initialize_distributed

        try:
            for name, values in (("learning_rate", args.lr), ("gamma", args.gamma),
                                 ("entropy_coef", args.entropy_coef), ("max_grad_norm", args.max_grad_norm),
                                 ("value_learning_rate", args.value_lr), ("gae_lambda", args.gae_lambda)):
                for v in values or ():
                    HParams(**{name: v})  # range checks first: a bad value never waits on peers
            initialize_distributed(args.coordinator, args.num_processes, args.process_id,
                                   args.connect_timeout)
        except (ValueError, RuntimeError) as e:
            raise UsageError(str(e)) from None

    from jaxpg.defaults import recommended

    config, base = recommended(args.env)
    try:
        config = config.replace(**_config_flags(args))
        lists = {"learning_rate": args.lr, "gamma": args.gamma, "entropy_coef": args.entropy_coef,
                 "max_grad_norm": args.max_grad_norm, "value_learning_rate": args.value_lr,
                 "gae_lambda": args.gae_lambda}
        order = [n for n in _axis_order(argv) if lists[n] is not None]
        from jaxpg.sweep import grid

        points = grid(**{n: lists[n] for n in order})
    except ValueError as e:
        raise UsageError(str(e)) from None
    chunk = args.progress_every or _divisor_near(config.num_updates, max(1, config.num_updates // 10))
    if config.num_updates % chunk:
        raise UsageError(f"--progress-every {chunk} must divide --updates {config.num_updates} "
                         "(every compiled chunk has the same length)")

    import jax
    import numpy as np

    from jaxpg import envs
    from jaxpg.evaluate import summarize
    from jaxpg.sweep import Sweep, point_label

    env_probe, env_params_probe = envs.make(config.env)
    if not envs.is_discrete(env_probe, env_params_probe):
        raise UsageError(f"{config.env} has a continuous action space; jaxpg sweep needs a discrete one")
    lead = jax.process_index() == 0
    if args.out is not None and lead:
        _check_out_dir(args.out)
    say = (lambda *a, **k: None) if (args.quiet or not lead) else (lambda *a, **k: print(*a, **k, flush=True))
    sweep = Sweep(config, points, args.seeds, base=base, seed=args.seed)
    n_dev = sweep.mesh.devices.size
    say(f"jaxpg sweep: {config.env}, {len(points)} points x {args.seeds} seeds = {sweep.num_runs} runs, "
        f"{config.num_updates} updates, {n_dev} {jax.default_backend()} device(s) "
        f"in {jax.process_count()} process(es)")
    if sweep.padded_runs != sweep.num_runs:
        say(f"  {sweep.num_runs} runs do not divide over {n_dev} devices: padded to {sweep.padded_runs} "
            "(the padding repeats the last run and is dropped from the results)")
    t0 = time.perf_counter()
    state = sweep.init()
    run_c = sweep.compile(chunk, state)
    hp = sweep.hparams()
    compile_s = time.perf_counter() - t0
    say(f"compiled in {compile_s:.1f} s")

    from jaxpg.types import Metrics

    def stacked(parts):
        return Metrics(*(np.concatenate([getattr(m, f) for m in parts], axis=2) for f in Metrics._fields))

    def point_rows(metrics, returns):
        rows = []
        for h, p in enumerate(points):
            row = {"hparams": base.replace(**p).to_dict(), "env_steps": None if metrics is None else int(
                metrics.env_steps[h].astype(np.int64).sum())}
            if returns is not None:
                sums = [summarize(r) for r in returns[h]]
                row.update(eval_mean=[x.mean for x in sums], eval_std=[x.std for x in sums],
                           eval_score=[x.score for x in sums])
            rows.append(row)
        return rows

    def write(metrics, rows, **extra):
        """Atomically (re)writes sweep.json and metrics.csv: after every chunk and at the end."""
        if args.out is None or not lead:
            return
        out = {
            "env": config.env, "seeds": args.seeds, "root_seed": args.seed,
            "axes": {n: lists[n] for n in order}, "points": rows,
            "eval_episodes": args.eval_episodes, "eval_greedy": args.greedy_eval,
            "compile_seconds": compile_s, "env_steps": steps_done,
            "updates_done": 0 if metrics is None else metrics.loss.shape[2], **extra,
            "runs": sweep.num_runs, "padded_runs": sweep.padded_runs, "devices": n_dev,
            "processes": jax.process_count(), "config": dataclasses.asdict(config),
            "backend": jax.default_backend(), "jax_version": jax.__version__,
            "python": platform.python_version(),
        }
        if metrics is not None:
            _atomic_write(args.out / "metrics.csv", _sweep_metrics_csv(metrics, points, out["updates_done"]))
        _atomic_write(args.out / "sweep.json", json.dumps(out, indent=2) + "\n")

    chunks_total = config.num_updates // chunk
    collected: list = []
    steps_done = 0
    interrupted = stopped_early = False
    t_train = time.perf_counter()
    try:
        for i, latest, m in _dispatch_ahead(run_c, state, hp, chunks_total):
            state = latest  # what evaluation uses: the last chunk read back
            m = sweep.gather(m)
            collected.append(m)
            steps_done += int(m.env_steps.astype(np.int64).sum())
            if i + 1 < chunks_total:  # results so far, in case the run is cut off
                write(stacked(collected), point_rows(None, None), finished=False)
            last = m.mean_return[:, :, -1]
            elapsed = time.perf_counter() - t_train
            say(f"  update {(i + 1) * chunk:>5}/{config.num_updates}  return mean {last.mean():8.2f} "
                f"min {last.min():8.2f}  env steps {steps_done:>12,}  {steps_done / elapsed:,.0f} steps/s  "
                f"{_eta(elapsed, i + 1, chunks_total)}")
            if args.target is not None and np.all(last >= args.target):
                stopped_early = i + 1 < chunks_total
                if stopped_early:  # the chunk already dispatched is dropped: state matches metrics
                    say(f"every run reached --target {args.target:g}: stopping early")
                break
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: keeping the finished updates", file=sys.stderr)
    train_s = time.perf_counter() - t_train
    metrics = stacked(collected) if collected else None

    eval_s, returns = 0.0, None
    if not interrupted:
        t0 = time.perf_counter()
        returns = sweep.evaluate(state, args.eval_episodes, args.greedy_eval)
        eval_s = time.perf_counter() - t0
    wall = time.perf_counter() - t_start

    rows = point_rows(metrics, returns)
    if returns is not None and lead:
        mode = "greedy" if args.greedy_eval else "sampled"
        print(f"\nranked by mean over {args.seeds} seeds of the final score (mean - std over "
              f"{args.eval_episodes} {mode} episodes); spread = std across seeds")
        print(" rank | point | score mean | spread |  worst | eval mean | hyperparameters")
        ranked = sorted(range(len(rows)), key=lambda i: -np.mean(rows[i]["eval_score"]))
        for rank, i in enumerate(ranked, 1):
            sc = np.asarray(rows[i]["eval_score"])
            print(f" {rank:>4} | {i:>5} | {sc.mean():10.1f} | {sc.std():6.1f} | {sc.min():6.1f} | "
                  f"{np.mean(rows[i]['eval_mean']):9.1f} | {point_label(points[i])}")
    if lead:
        print(f"env steps (valid, training): {steps_done:,}   wall {wall:.1f} s (compile {compile_s:.1f}, "
              f"train {train_s:.1f}, eval {eval_s:.1f})   {steps_done / max(train_s, 1e-9):,.0f} steps/s")
    write(metrics, rows, finished=not interrupted, wall_seconds=wall, train_seconds=train_s,
          eval_seconds=eval_s, interrupted=interrupted, stopped_early=stopped_early)
    if args.out is not None and lead:
        print(f"wrote {args.out / 'sweep.json'} and {args.out / 'metrics.csv'}")
    return 130 if interrupted else 0


def main(argv=None) -> int:
    t_start = time.perf_counter()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if args.command == "envs":
            from jaxpg import envs
            from jaxpg.defaults import TUNED

            for name in envs.names():
                print(f"{name} *" if name in TUNED else name)
            return 0
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "render":
            return cmd_render(args)
        if args.command == "plot":
            return cmd_plot(args)
        if args.command == "sweep":
            return cmd_sweep(args, list(sys.argv[1:] if argv is None else argv), t_start)
        return cmd_train(args, t_start, list(sys.argv[1:] if argv is None else argv))
    except UsageError as e:
        return _fail(str(e))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
