"""``jaxpg eval``, ``jaxpg render`` and ``jaxpg plot``: read run directories (train or sweep)."""

from __future__ import annotations

import argparse
import itertools
import os
import re

import jax
import numpy as np

from jaxpg import checkpoint, plotting
from jaxpg.cli.common import (
    HelpFormatter,
    UsageError,
    nonneg_int,
    number,
    path,
    positive_int,
    renamed,
    seed_int,
    writable_file,
)
from jaxpg.evaluate import summarize
from jaxpg.plotting import _check_format
from jaxpg.tune_plots import tune_figure

# Start-up order: this module is imported when the jaxpg command loads. The run layer (runner), the
# trainer, the renderer and the exporter import gymnax, and importing gymnax starts a JAX backend, which
# must wait until `jaxpg sweep --coordinator ...` has called jax.distributed.initialize (and until the
# number of CPU devices is set): those are imported inside the commands that use them.

RUN_DIR_HELP = "a `jaxpg train` or `jaxpg sweep` --out directory"
POINT_HELP = "which hyperparameter point of a sweep directory (0-based, as in sweep.json)"
BEST_HELP = "each seed's policy at its best evaluation during training (OUT/best, kept by train --keep-best)"


def add_parsers(sub) -> None:
    e = sub.add_parser("eval", help="evaluate the checkpoint of a run directory, per seed",
                       formatter_class=HelpFormatter)
    e.add_argument("run_dir", type=path, metavar="DIR", help=RUN_DIR_HELP)
    e.add_argument("--point", type=nonneg_int, default=None, help=POINT_HELP)
    e.add_argument("--eval-episodes", type=positive_int, default=None,
                   help="episodes per seed, played in parallel (default: as many as the run's final "
                        "evaluation played, 32 if it played none)")
    e.add_argument("--greedy", action="store_true",
                   help="argmax actions (default: the mode the run's final evaluation reported, sampled "
                        "unless train was given --greedy; the other mode is the last column)")
    e.add_argument("--seed", type=seed_int, default=None,
                   help="root seed of the evaluation episodes (default: the run's own --seed, so the "
                        "defaults repeat train's final evaluation)")
    e.add_argument("--eval-max-steps", type=positive_int, default=None,
                   help="episode step limit (default: the one the run's final evaluation used, the env's "
                        "own unless train was given --eval-max-steps)")
    e.add_argument("--best", action="store_true", help=BEST_HELP)
    renamed(e, "--episodes", "--eval-episodes")
    renamed(e, "--max-steps", "--eval-max-steps")
    r = sub.add_parser("render", help="play one episode with a saved policy and write an animated GIF",
                       formatter_class=HelpFormatter)
    r.add_argument("run_dir", type=path, metavar="DIR", help=RUN_DIR_HELP)
    r.add_argument("--out", type=path, required=True, help="replay.gif (or .mp4, needs imageio[ffmpeg])")
    r.add_argument("--point", type=nonneg_int, default=None, help=POINT_HELP)
    r.add_argument("--seed-index", type=nonneg_int, default=0,
                   help="which of the run's trained seeds plays (0-based)")
    r.add_argument("--seed", type=seed_int, default=None,
                   help="root seed of the episode's randomness (default: the run's own --seed)")
    r.add_argument("--greedy", action="store_true", help="argmax actions (sampled otherwise)")
    r.add_argument("--max-frames", type=positive_int, default=None,
                   help="steps at most (default: the env's episode limit, capped at 1000)")
    r.add_argument("--fps", type=positive_int, default=30, help="frames per second of the animation")
    r.add_argument("--best", action="store_true", help=BEST_HELP)
    renamed(r, "--episode-seed", "--seed")
    renamed(r, "--max-steps", "--max-frames")
    x = sub.add_parser("export", help="write a trained seed as a folder ready for the Hugging Face Hub "
                                      "(model card, params.safetensors, results.json, replay)",
                       formatter_class=HelpFormatter)
    x.add_argument("run_dir", type=path, metavar="DIR", help=RUN_DIR_HELP)
    x.add_argument("--out", type=path, required=True, help="the folder to write (created)")
    x.add_argument("--point", type=nonneg_int, default=None, help=POINT_HELP)
    x.add_argument("--seed-index", type=nonneg_int, default=None,
                   help="which trained seed (default: the best final score in summary.json)")
    x.add_argument("--eval-episodes", type=positive_int, default=32,
                   help="fresh evaluation episodes for the card's mean_reward (at least 10)")
    x.add_argument("--greedy", action="store_true", help="evaluate and replay with argmax actions (sampled otherwise)")
    x.add_argument("--seed", type=seed_int, default=None,
                   help="root seed of the fresh evaluation (default: the run's own; the episodes differ from "
                        "the run's final evaluation)")
    x.add_argument("--repo-name", default=None, help="the model's name in the card (default: jaxpg-ENV)")
    x.add_argument("--max-frames", type=positive_int, default=500, help="replay length at most")
    x.add_argument("--fps", type=positive_int, default=30, help="replay frames per second")
    x.add_argument("--best", action="store_true",
                   help=BEST_HELP + "; without --seed-index, the seed whose best evaluation is highest")
    pl = sub.add_parser("plot", help="learning curves (IQM over seeds, 95%% bootstrap CI) of run "
                                     "directories, or final-score distributions",
                        formatter_class=HelpFormatter)
    pl.add_argument("run_dirs", type=path, nargs="+", metavar="DIR", help="`jaxpg train`/`sweep` --out directories")
    pl.add_argument("--out", type=path, default=None,
                    help="image file (.png, .svg, .pdf); default: DIR/curves.png (final-scores.png with "
                         "--final-scores, search.png with --search) in the first directory")
    pl.add_argument("--point", type=nonneg_int, default=None,
                    help="draw only this point of each sweep directory (default: every point)")
    pl.add_argument("--label", "--labels", dest="labels", type=lambda t: t.split(","), action="append", default=None,
                    metavar="NAME", help="legend label of each DIR, in order: repeat the flag (--label A --label B) or "
                                         "separate with commas (default: the directory's name)")
    pl.add_argument("--x", choices=("env_steps", "update"), default="env_steps",
                    help="horizontal axis (env_steps: each seed's own valid env steps)")
    pl.add_argument("--metric", default="mean_return",
                    help="what to draw: mean_return, loss, entropy, grad_norm, mean_length (metrics.csv), eval "
                         "(evaluations during training, --eval-every) or an evals.csv column such as greedy_score")
    pl.add_argument("--smooth", type=positive_int, default=1, metavar="W",
                    help="trailing moving average over W updates (evaluations) per seed")
    pl.add_argument("--log-x", action="store_true", help="logarithmic horizontal axis")
    pl.add_argument("--final-scores", action="store_true",
                    help="plot each run's (or sweep point's) per-seed final score (mean - std): dots + box")
    pl.add_argument("--search", action="store_true",
                    help="draw a search (a `jaxpg tune` directory): each trial's hyperparameters over the updates "
                         "(PBT's lineage) and its score against each hyperparameter")
    pl.add_argument("--pass-line", type=number, action="append", default=[], metavar="Y",
                    help="draw a dashed horizontal line at Y (e.g. the course's pass score); repeatable")
    pl.add_argument("--title", default=None, help="plot title")
    pl.add_argument("--size", type=_plot_size, default=None, metavar="W,H",
                    help="figure width and height in inches, e.g. 3.4,2.4 for one column of a paper "
                         "(default: 7,4.5 for one panel; one panel per env)")
    pl.add_argument("--font-size", type=_plot_font_size, default=None, metavar="PT",
                    help="base font size in points; titles, labels, ticks and legends scale with it (default: 10)")
    pl.add_argument("--ylim", type=_plot_ylim, default=None, metavar="LO,HI",
                    help="y axis range of every panel, e.g. 0,500 (default: fitted to the curves)")
    pl.add_argument("--dpi", type=_plot_dpi, default=None, help="pixels per inch of a .png (default: 120)")
    # A value such as "-5,300" (--ylim) is a value, not a flag: argparse's own test takes only "-5" or "-0.5".
    pl._negative_number_matcher = re.compile(r"^-\.?\d")  # noqa: SLF001


def _style_check(text: str, count: int, form: str, field: str):
    """``text`` as ``count`` comma-separated numbers, checked by ``plotting.FigureStyle(field=...)``."""
    try:
        values = [float(p) for p in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise argparse.ArgumentTypeError(f"expected {form}, got {text!r}")
    value = values[0] if count == 1 else tuple(values)
    try:
        plotting.FigureStyle(**{field: value})
    except ValueError as e:
        raise argparse.ArgumentTypeError("expected " + str(e).split(" must be ", 1)[-1]) from None
    return value


def _plot_size(text: str) -> tuple[float, float]:
    return _style_check(text, 2, "WIDTH,HEIGHT in inches, e.g. 3.4,2.4", "size")


def _plot_font_size(text: str) -> float:
    return _style_check(text, 1, "a font size in points, e.g. 8", "font_size")


def _plot_ylim(text: str) -> tuple[float, float]:
    return _style_check(text, 2, "LOW,HIGH, e.g. 0,500", "ylim")


def _plot_dpi(text: str) -> float:
    return _style_check(text, 1, "pixels per inch, e.g. 300", "dpi")


def _creatable(out) -> None:
    """Raises UsageError unless ``out`` can be written: its missing directories are created when the
    picture is written, so the nearest one that exists must be a writable directory."""
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        why = "not a directory" if parent is not None and not parent.is_dir() else "not writable"
        raise UsageError(f"cannot write --out {str(out)!r}: {parent} is {why}")


def _load(run_dir, point, best: bool = False):
    """The checkpoint of ``point``; with ``best``, each seed's params those of its best evaluation
    (a seed with none keeps its checkpoint's) and ``meta["best"]`` the seeds' records."""
    try:
        ck = checkpoint.load(run_dir, point)
        if not best:
            return ck
        from jaxpg.runner.parts import keep_best  # start-up order: the run layer imports gymnax (see the top)

        params, records = keep_best.for_point(run_dir, ck, point)
    except checkpoint.CheckpointError as e:
        raise UsageError(str(e)) from None
    return ck._replace(state=ck.state._replace(params=params), meta={**ck.meta, "best": records})


def cmd_eval(args) -> int:
    """``jaxpg eval DIR``: K episodes per seed of the saved policies."""
    ck = _load(args.run_dir, args.point, args.best)
    from jaxpg import runner  # start-up order: the run layer imports gymnax (see the top of this module)

    # The run layer's own population and evaluation program: with the defaults, exactly the
    # numbers train's final evaluation printed (same keys, same compiled program).
    pop = runner.Population(runner.RunSpec(ck.config, ck.hparams, seeds=ck.seeds, seed=ck.root_seed))
    seed = ck.root_seed if args.seed is None else args.seed
    max_steps = args.eval_max_steps or ck.meta.get("eval_max_steps") or None
    episodes = args.eval_episodes or int(ck.meta.get("eval_episodes") or 32)
    from jaxpg.runner import memory  # start-up order: as above

    try:
        memory.check_eval(pop, episodes, max_steps)
    except runner.RunError as e:
        raise UsageError(str(e)) from None
    state, _ = pop.place(ck.state, ck.alive)
    greedy = bool(args.greedy or ck.meta.get("eval_greedy"))
    both = pop.evaluate(state, episodes, seed=seed, max_steps=max_steps)
    mode, other = ("greedy", "sampled") if greedy else ("sampled", "greedy")
    returns, other_returns = both[mode], both[other]
    where = "" if args.point is None else f" point {args.point}"
    best = ck.meta.get("best") if args.best else None
    done = f"{ck.updates_done} updates" if best is None else "each seed's best evaluation (best/)"
    print(f"{ck.config.env}, {args.run_dir}{where}: {done}; {episodes} {mode} episodes per "
          f"seed, root seed {seed} (score = mean - std); last column: {other} actions")
    print(f" seed |      mean |     std |    score | {other} mean")
    for s, r in enumerate(returns):
        m = summarize(r)
        flag = "" if ck.alive[s] else "   (diverged: its last finite state)"
        if best is not None:
            u = best[s].get("update")
            flag = f"   (best at update {u})" if u is not None else "   (no best evaluation: its checkpoint)"
        print(f" {s:>4} | {m.mean:9.2f} | {m.std:7.2f} | {m.score:8.2f} | {other_returns[s].mean():11.2f}{flag}")
    m = summarize(returns.reshape(-1))
    scores = [summarize(r).score for r in returns]
    print(f"  all | {m.mean:9.2f} | {m.std:7.2f} | {m.score:8.2f} | {other_returns.mean():11.2f}   "
          f"(per-seed score: median {np.median(scores):.2f}, worst {min(scores):.2f})")
    return 0


def cmd_render(args) -> int:
    """``jaxpg render DIR --out FILE``."""
    from jaxpg import render  # start-up order: render imports gymnax (see the top of this module)

    suffix = args.out.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise UsageError(f"--out must end in .gif or .mp4, got {str(args.out)!r}")
    if suffix == ".mp4" and not render.mp4_available():
        raise UsageError(render.MP4_HINT)  # before the episode is played
    writable_file(args.out)
    ck = _load(args.run_dir, args.point, args.best)
    if not 0 <= args.seed_index < ck.seeds:
        raise UsageError(f"--seed-index {args.seed_index} is out of range: the run has seeds 0..{ck.seeds - 1}")
    if args.best and ck.meta["best"][args.seed_index].get("update") is None:
        raise UsageError(f"--seed-index {args.seed_index} has no best evaluation (it stopped training before its "
                         "first one)")
    try:
        render.renderer(ck.config.env)
    except ValueError as e:
        raise UsageError(str(e)) from None
    from jaxpg.train import make_trainer  # start-up order: train imports gymnax (see the top of this module)

    trainer = make_trainer(ck.config)
    max_steps = args.max_frames or min(int(trainer.env_params.max_steps_in_episode), 1000)
    params = jax.tree.map(lambda x: x[args.seed_index], ck.state.params)
    seed = ck.root_seed if args.seed is None else args.seed
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), 2), args.seed_index)
    states, length = render.play_episode(key, ck.config.env, trainer.policy, params, max_steps,
                                         args.greedy, dist=trainer.policy.dist,
                                         frame_stack=ck.config.frame_stack)
    states = jax.tree.map(lambda a: a[: length + 1], states)
    images = render.iter_frames(ck.config.env, states)  # drawn a batch at a time as the writer takes them
    first = next(images)
    try:
        written = (render.write_mp4 if suffix == ".mp4" else render.write_gif)(
            itertools.chain([first], images), args.out, fps=args.fps)
    except RuntimeError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot write --out {str(args.out)!r}: {e.strerror or e}") from None
    merged = f" from {length + 1} states (identical consecutive frames merged)" if written != length + 1 else ""
    print(f"wrote {args.out}: seed index {args.seed_index}, {length} steps, {written} frames "
          f"({first.shape[1]}x{first.shape[0]}){merged}")
    return 0


def cmd_export(args) -> int:
    """``jaxpg export DIR --out FOLDER``."""
    from jaxpg.export import export  # start-up order: export imports gymnax (see the top of this module)

    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {str(args.out)!r} is a file, not a folder")
    try:
        r = export(args.run_dir, args.out, seed=args.seed_index, point=args.point, episodes=args.eval_episodes,
                   greedy=args.greedy, eval_seed=args.seed, repo_name=args.repo_name,
                   replay_frames=args.max_frames, fps=args.fps, best=args.best)
    except (checkpoint.CheckpointError, ValueError) as e:
        raise UsageError(str(e).splitlines()[0]) from None
    except OSError as e:
        raise UsageError(f"cannot write --out {str(args.out)!r}: {e.strerror or e}") from None
    name = args.repo_name or f"jaxpg-{r['env_id']}"
    print(f"wrote {args.out}: seed {r['seed_index']}, mean_reward {r['mean_reward']:.2f} +/- {r['std_reward']:.2f} "
          f"over {r['n_evaluation_episodes']} fresh episodes")
    print(f"upload it with:  hf upload YOUR_HF_NAME/{name} {args.out} .   (pip install huggingface_hub; hf auth login)")
    return 0


def cmd_plot(args) -> int:
    """``jaxpg plot DIR ... --out FILE``."""
    labels = None if args.labels is None else [name for names in args.labels for name in names]
    if labels is not None and len(labels) != len(args.run_dirs):
        raise UsageError(f"--label has {len(labels)} names for {len(args.run_dirs)} directories "
                         "(one per DIR, in order)")
    if args.out is None:
        name = "search.png" if args.search else "final-scores.png" if args.final_scores else "curves.png"
        args.out = args.run_dirs[0] / name
    _creatable(args.out)
    hlines = {f"pass line {y:g}": y for y in args.pass_line} or None
    style = plotting.FigureStyle(size=args.size, font_size=args.font_size, ylim=args.ylim, dpi=args.dpi)
    try:
        if args.search:
            if len(args.run_dirs) != 1:
                raise UsageError(f"--search draws one search directory, got {len(args.run_dirs)}")
            if style != plotting.FigureStyle():
                raise UsageError("--size, --font-size, --ylim and --dpi style learning curves and --final-scores, "
                                 "not --search")
            out = tune_figure(args.run_dirs[0], args.out, title=args.title)
        elif args.final_scores:
            out = plotting.final_scores(args.run_dirs, args.out, labels=labels, hlines=hlines,
                                        title=args.title, point=args.point, style=style)
        else:
            _check_format(args.out)
            curves = plotting.learning_curve_data(args.run_dirs, labels, x=args.x, point=args.point,
                                                  metric=args.metric, smoothing=args.smooth)
            fig = plotting.learning_curve_figure(curves, hlines, args.title, args.log_x, style)
            out = plotting.save_figure(fig, args.out)
    except ValueError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    except OSError as e:
        raise UsageError(f"cannot write --out {str(args.out)!r}: {e.strerror or e}") from None
    print(f"wrote {out}")
    return 0
