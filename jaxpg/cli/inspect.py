"""``jaxpg eval``, ``jaxpg render`` and ``jaxpg plot``: read run directories (train or sweep)."""

from __future__ import annotations

from jaxpg.cli.common import (
    HelpFormatter,
    UsageError,
    nonneg_int,
    number,
    path,
    positive_int,
    seed_int,
    writable_file,
)

RUN_DIR_HELP = "a `jaxpg train` or `jaxpg sweep` --out directory"
POINT_HELP = "which hyperparameter point of a sweep directory (0-based, as in sweep.json)"


def add_parsers(sub) -> None:
    e = sub.add_parser("eval", help="evaluate the checkpoint of a run directory, per seed",
                       formatter_class=HelpFormatter)
    e.add_argument("run_dir", type=path, metavar="DIR", help=RUN_DIR_HELP)
    e.add_argument("--point", type=nonneg_int, default=None, help=POINT_HELP)
    e.add_argument("--episodes", type=positive_int, default=32,
                   help="episodes per seed, played in parallel (as train's final evaluation)")
    e.add_argument("--greedy", action="store_true", help="argmax actions (sampled otherwise, as the course)")
    e.add_argument("--seed", type=seed_int, default=0, help="seed of the evaluation episodes")
    e.add_argument("--max-steps", type=positive_int, default=None,
                   help="episode step limit (default: the env's own, as train's final evaluation, "
                        "even when the run's --max-steps cut its training episodes shorter)")
    r = sub.add_parser("render", help="play one episode with a saved policy and write an animated GIF",
                       formatter_class=HelpFormatter)
    r.add_argument("run_dir", type=path, metavar="DIR", help=RUN_DIR_HELP)
    r.add_argument("--out", type=path, required=True, help="replay.gif (or .mp4, needs imageio[ffmpeg])")
    r.add_argument("--point", type=nonneg_int, default=None, help=POINT_HELP)
    r.add_argument("--seed", type=nonneg_int, default=0, help="which trained seed of the run plays")
    r.add_argument("--episode-seed", type=seed_int, default=0, help="seed of the episode's randomness")
    r.add_argument("--greedy", action="store_true", help="argmax actions (sampled otherwise)")
    r.add_argument("--max-steps", type=positive_int, default=None,
                   help="frames at most (default: the run's episode limit, capped at 1000)")
    r.add_argument("--fps", type=positive_int, default=30, help="frames per second of the animation")
    pl = sub.add_parser("plot", help="learning curves (IQM over seeds, 95%% bootstrap CI) of run "
                                     "directories, or final-score distributions",
                        formatter_class=HelpFormatter)
    pl.add_argument("run_dirs", type=path, nargs="+", metavar="DIR", help="`jaxpg train`/`sweep` --out directories")
    pl.add_argument("--out", type=path, required=True, help="image file (.png, .svg, .pdf)")
    pl.add_argument("--point", type=nonneg_int, default=None,
                    help="draw only this point of each sweep directory (default: every point)")
    pl.add_argument("--labels", type=lambda t: t.split(","), default=None, help="comma-separated, one per DIR")
    pl.add_argument("--x", choices=("env_steps", "update"), default="env_steps", help="horizontal axis")
    pl.add_argument("--final-scores", action="store_true",
                    help="plot each run's (or sweep point's) per-seed final score (mean - std): dots + box")
    pl.add_argument("--pass-line", type=number, action="append", default=[], metavar="Y",
                    help="draw a dashed horizontal line at Y (e.g. the course's pass score); repeatable")
    pl.add_argument("--title", default=None, help="plot title")


def _load(run_dir, point):
    from jaxpg import checkpoint

    try:
        return checkpoint.load(run_dir, point)
    except checkpoint.CheckpointError as e:
        raise UsageError(str(e)) from None


def cmd_eval(args) -> int:
    """``jaxpg eval DIR``: K episodes per seed of the saved policies."""
    ck = _load(args.run_dir, args.point)
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
    where = "" if args.point is None else f" point {args.point}"
    print(f"{ck.config.env}, {args.run_dir}{where}: {ck.updates_done} updates; "
          f"{args.episodes} {mode} episodes per seed (score = mean - std)")
    print(" seed |      mean |     std |    score")
    for s, r in enumerate(returns):
        m = summarize(r)
        flag = "" if ck.alive[s] else "   (diverged: its last finite state)"
        print(f" {s:>4} | {m.mean:9.2f} | {m.std:7.2f} | {m.score:8.2f}{flag}")
    m = summarize(returns.reshape(-1))
    scores = [summarize(r).score for r in returns]
    print(f"  all | {m.mean:9.2f} | {m.std:7.2f} | {m.score:8.2f}   "
          f"(per-seed score: median {np.median(scores):.2f}, worst {min(scores):.2f})")
    return 0


def cmd_render(args) -> int:
    """``jaxpg render DIR --out FILE``."""
    from jaxpg import render

    suffix = args.out.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise UsageError(f"--out must end in .gif or .mp4, got {str(args.out)!r}")
    writable_file(args.out)
    ck = _load(args.run_dir, args.point)
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
    """``jaxpg plot DIR ... --out FILE``."""
    from jaxpg import plotting

    if args.labels is not None and len(args.labels) != len(args.run_dirs):
        raise UsageError(f"--labels has {len(args.labels)} names for {len(args.run_dirs)} directories")
    writable_file(args.out)
    hlines = {f"pass line {y:g}": y for y in args.pass_line} or None
    try:
        if args.final_scores:
            out = plotting.final_scores(args.run_dirs, args.out, labels=args.labels, hlines=hlines,
                                        title=args.title, point=args.point)
        else:
            out = plotting.learning_curves(args.run_dirs, args.out, labels=args.labels, x=args.x,
                                           hlines=hlines, title=args.title, point=args.point)
    except ValueError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    except OSError as e:
        raise UsageError(f"cannot write --out {str(args.out)!r}: {e.strerror or e}") from None
    print(f"wrote {out}")
    return 0
