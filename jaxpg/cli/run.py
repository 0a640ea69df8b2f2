"""``jaxpg train`` and ``jaxpg sweep``: both are populations run by ``jaxpg.driver``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from jaxpg import scores
from jaxpg.cli import flags, tracking
from jaxpg.cli.common import (
    LEAVE_AT_ONCE,
    HelpFormatter,
    UsageError,
    metric,
    nonneg_int,
    number,
    path,
    positive_int,
    renamed,
    seed_int,
)
from jaxpg.evaluate import summarize
from jaxpg.text import count
from jaxpg.types import point_label


def add_parsers(sub) -> None:
    t = sub.add_parser("train", help="train seeds of one setting in one compiled program, sharded over "
                                     "every device", formatter_class=HelpFormatter)
    _add_run_flags(t, sweep=False)
    t.add_argument("--target", type=number, default=None,
                   help="stop early once every seed's training return has reached this value")
    t.add_argument("--resume", type=path, default=None, metavar="DIR",
                   help="continue the run (train or sweep) saved in DIR with its saved settings; "
                        "--updates N = total updates")
    _add_extend(t)
    tracking.add_flags(t, sweep=False)
    w = sub.add_parser("sweep", help="seeds x hyperparameter grid in one compiled program, sharded over "
                                     "every device (and host)", formatter_class=HelpFormatter)
    _add_run_flags(w, sweep=True)
    tracking.add_flags(w, sweep=True)
    w.add_argument("--target", type=number, default=None,
                   help="stop early once every run's training return has reached this value")
    w.add_argument("--resume", type=path, default=None, metavar="DIR",
                   help="continue the sweep saved in DIR; --updates N = total updates")
    _add_extend(w)
    w.add_argument("--metric", type=metric, default="eval",
                   help="rank points by: eval (mean - std of the evaluation returns), final (mean training "
                        "return, last tenth of the updates), auc (mean training return over the run), steps-to:T "
                        "(valid env steps until the 10-update mean return reaches T; fewer is better)")
    w.add_argument("--coordinator", default=None,
                   help="jax.distributed coordinator host:port (or JAX_COORDINATOR_ADDRESS); "
                        "with --num-processes and --process-id runs the sweep over several processes")
    w.add_argument("--num-processes", type=positive_int, default=None,
                   help="processes in the distributed run (or JAX_NUM_PROCESSES)")
    w.add_argument("--process-id", type=int, default=None, help="this process's id (or JAX_PROCESS_ID)")
    w.add_argument("--connect-timeout", type=positive_int, default=60,
                   help="seconds to wait for every process to join")


def _add_extend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--extend", type=positive_int, default=None, metavar="N",
                   help="with --resume: N more updates for a finished run; linear schedules restart, decaying "
                        "from their full values to 0 over the N (--updates past a linear schedule's end is refused: "
                        "the learning rate is 0 there)")


def _add_run_flags(p: argparse.ArgumentParser, sweep: bool) -> None:
    p.add_argument("--seeds", type=positive_int, default=8,
                   help="independent runs" + (" per hyperparameter point" if sweep else ", trained at once"))
    p.add_argument("--seed", type=seed_int, default=0, help="root seed; seed i uses split(key(seed))[i]")
    flags.add_table_flags(p, sweep)
    p.add_argument("--eval-episodes", type=nonneg_int, default=None,
                   help="evaluation episodes per seed after training, sampled and greedy (default: 32; "
                        "0: none)")
    p.add_argument("--greedy", action="store_true", default=None,
                   help="report (and rank by) the argmax-action evaluation; sampled actions otherwise")
    renamed(p, "--greedy-eval", "--greedy")
    p.add_argument("--eval-every", type=positive_int, default=None, metavar="K",
                   help="also evaluate every K updates during training (--eval-episodes episodes, sampled and "
                        "greedy): OUT/evals.csv, `jaxpg plot --metric eval`")
    p.add_argument("--keep-best", action="store_true",
                   help="with --eval-every K and --out: keep each seed's policy at its best evaluation (its mean in "
                        "the mode the run reports) in OUT/best; `jaxpg eval DIR --best`, jaxpg.load(DIR, best=True)")
    p.add_argument("--eval-max-steps", type=positive_int, default=None,
                   help="step limit of the evaluation episodes (default: the env's own limit, even when "
                        "--max-steps cuts the training episodes shorter)")
    p.add_argument("--max-memory", type=number, default=None, metavar="BYTES",
                   help="memory budget, e.g. 8e9 (default: what the device has free); a population whose one "
                        "program does not fit trains in waves of the largest number of runs that fits")
    p.add_argument("--progress-every", type=positive_int, default=None,
                   help="updates per progress line (default: ~1/10 of the run)")
    p.add_argument("--chunk-seconds", type=number, default=30.0, metavar="S",
                   help="about how long one compiled chunk trains (default 30): SIGTERM or SIGHUP at any moment "
                        "saves the last chunk finished, so a stop loses at most about S seconds of training")
    p.add_argument("--save-every", type=positive_int, default=None,
                   help="also checkpoint every K updates; with --out a checkpoint is always saved at the end "
                        "and on Ctrl-C, SIGTERM or SIGHUP")
    p.add_argument("--out", type=path, default=None,
                   help="run directory (checkpoint, metrics.csv, " + ("sweep.json" if sweep else "summary.json")
                        + "); default: write nothing")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run --out holds (removed once the new run has saved its first checkpoint)")
    p.add_argument("--quiet", action="store_true", help="print only the final table")


_RESUME_REFUSES = ("--seeds", "--seed", "--out", "--overwrite")


def _or(value, default):
    return default if value is None else value


def _log(args):
    return None if args.quiet else (lambda text: print(text, flush=True))


def _schedule(args):
    from jaxpg.runner import Schedule  # start-up order: jax.distributed must start before gymnax loads

    return Schedule(chunk=args.progress_every, save_every=args.save_every, max_memory=args.max_memory,
                    chunk_seconds=args.chunk_seconds)


def _extra_parts(args, tr) -> list:
    from jaxpg import rundir  # start-up order: jax.distributed must start before gymnax loads
    from jaxpg.runner import EarlyStop, KeepBest  # start-up order: as above

    target = getattr(args, "target", None)
    saved = {}  # a resumed run keeps its best if it did (its checkpoint says so)
    if args.resume is not None:
        try:
            saved = rundir.read_json(Path(args.resume) / "checkpoint.json") or {}
        except ValueError:
            saved = {}  # the resume says what is wrong with it
    keep = args.keep_best or "keep_best" in saved
    missing = [f for f, v in (("--eval-every K", args.eval_every or saved.get("eval_every")),
                              ("--out DIR", args.out or args.resume)) if not v]
    if keep and missing:
        raise UsageError(f"--keep-best keeps each seed's best evaluation during training in OUT/best: give "
                         f"{' and '.join(missing)}")
    return [*([KeepBest()] if keep else []), *([EarlyStop(target)] if target is not None else []),
            *([tr] if tr else [])]


def _resume(args, argv: list[str]):
    # start-up order: jax.distributed must start before gymnax (and so the run layer) loads
    from jaxpg import checkpoint, rundir, runner

    if args.extend is not None and args.updates is not None:
        raise UsageError("give --updates N (resume to N in total) or --extend N (N more updates), not both")
    refused = [f for f in flags.given_flags(argv) if f != "--updates"]
    refused += [f for f in _RESUME_REFUSES if any(a == f or a.startswith(f + "=") for a in argv)]
    if refused:
        raise UsageError(f"--resume continues a run with its saved settings; drop {', '.join(refused)}")
    try:
        saved = rundir.read_json(Path(args.resume) / "checkpoint.json")
    except ValueError:
        saved = None  # the resume says what is wrong with it
    kind = saved.get("kind", "train") if isinstance(saved, dict) else None
    if isinstance(saved, dict) and "search" in saved:
        raise UsageError(f"{args.resume} holds a search: continue it with jaxpg tune --resume {args.resume}")
    if kind in ("train", "sweep") and kind != args.command:
        raise UsageError(f"{args.resume} holds a {kind} run: continue it with jaxpg {kind} --resume {args.resume}")
    tr = tracking.Trackers([])
    if args.wandb or getattr(args, "tensorboard", False):
        try:
            rundir.check_no_symlinks(args.resume)
            meta = checkpoint.load(args.resume, whole=True).meta
        except (checkpoint.CheckpointError, rundir.RunDirError) as e:
            raise UsageError(str(e)) from None
        if args.out is None:
            args.out = args.resume  # trackers write beside the run they continue
        tr = tracking.trackers(args, {**_tracked_settings(meta), "resumed_at": meta.get("updates_done")})
    evaluation = {"episodes": args.eval_episodes, "greedy": args.greedy, "max_steps": args.eval_max_steps,
                  "every": args.eval_every}
    try:
        result = runner.resume(args.resume, updates=args.updates, extend=args.extend, schedule=_schedule(args),
                               evaluation=evaluation, parts=_extra_parts(args, tr), log=_log(args))
    except ValueError as e:
        raise UsageError(flags.speak(str(e))) from None
    if result is None:
        done = checkpoint.load(args.resume, whole=True).updates_done
        print(f"{args.resume}: all {done} updates are done; nothing to do "
              "(--extend N adds N more updates)")
    return result


def _run(args, config, hparams, points=None, axes=None):
    from jaxpg import runner  # start-up order: jax.distributed must start before gymnax loads

    try:
        spec = runner.RunSpec(config, hparams, points, axes, args.seeds, args.seed, runner.Evaluation(
            _or(args.eval_episodes, 32), bool(args.greedy), args.eval_max_steps, args.eval_every))
        tr = tracking.trackers(args, _run_settings(spec))
        return runner.run(spec, args.out, schedule=_schedule(args), parts=_extra_parts(args, tr), log=_log(args),
                          overwrite=args.overwrite)
    except ValueError as e:
        raise UsageError(flags.speak(str(e))) from None


def _nothing_trained(result) -> bool:
    """A stop before any update finished: one line, no tables. (Any stop by a signal also marks the
    process to leave at once: a chunk may still be computing.)"""
    if result.interrupted:
        LEAVE_AT_ONCE[0] = True
    if not (result.interrupted and result.trained_updates == 0):
        return False
    where = f"; {result.out} is still at update {result.updates_done}" if result.updates_done else ""
    print(f"jaxpg: interrupted ({result.interrupted}) before any update finished: nothing was trained{where}",
          file=sys.stderr, flush=True)
    return True


def _needs_resume(args) -> None:
    if args.extend is not None and args.resume is None:
        raise UsageError("--extend N adds updates to a saved run: give it with --resume DIR")


def cmd_train(args, argv: list[str]) -> int:
    _needs_resume(args)
    if args.resume is not None:
        result = _resume(args, argv)
        if result is None:
            return 0
    else:
        config, hparams, _ = flags.settings(args)  # the run checks the env (one build)
        result = _run(args, config, hparams)
    if _nothing_trained(result):
        tracking.finish_pending()
        return result.exit_code
    _print_train(result)
    tracking.finish_pending()  # after the table: W&B prints its end-of-run block as it finishes
    if result.diverged:
        raise UsageError(flags.speak(next(iter(result.diverged.values()))))
    return result.exit_code


def _print_train(result) -> None:

    m = result.metrics
    meta_greedy = result.spec.evaluation.greedy
    if result.eval_returns is not None:
        mode, other = ("greedy", "sampled") if meta_greedy else ("sampled", "greedy")
        ev, ev_other = result.eval_returns[mode][0], result.eval_returns[other][0]
        finite = ~np.isnan(m.mean_return[0])
        last = np.array([row[f][-1] if f.any() else np.nan for row, f in zip(m.mean_return[0], finite,
                                                                              strict=True)])
        print(f"\nevaluation: {ev.shape[1]} {mode} episodes per seed (score = mean - std); "
              f"last column: {other} actions")
        print(" seed | train return | eval mean |   std |  score | " + f"{other} mean")
        for s in range(ev.shape[0]):
            x = summarize(ev[s])
            print(f" {s:>4} | {last[s]:12.1f} | {x.mean:9.1f} | {x.std:5.1f} | {x.score:6.1f} | "
                  f"{ev_other[s].mean():11.1f}")
        per = [summarize(e) for e in ev]  # the all row: the median over seeds of each column
        med = {k: float(np.median([getattr(x, k) for x in per])) for k in ("mean", "std", "score")}
        print(f"  all | {np.nanmedian(last):12.1f} | {med['mean']:9.1f} | {med['std']:5.1f} | {med['score']:6.1f} | "
              f"{np.median(ev_other.mean(axis=1)):11.1f}   (all: the median over seeds of each column)")
    print(_timing_line(result))
    if result.out is not None:
        name = "summary.json" if result.kind == "train" else "sweep.json"
        print(f"wrote {result.out / name} and {result.out / 'metrics.csv'} "
              f"(checkpoint at update {result.updates_done})")


def _print_ranking(result, metric: str) -> None:
    """The points ranked by the mean over seeds of each seed's score by ``metric``."""
    pop = result.population
    if metric == "eval":
        greedy = result.spec.evaluation.greedy
        ev = result.eval_returns["greedy" if greedy else "sampled"]
        per = np.array([[summarize(r).score for r in ev[h]] for h in range(pop.num_points)])
        what = (f"mean - std over {ev.shape[2]} {'greedy' if greedy else 'sampled'} evaluation episodes")
        never, evals = np.zeros(pop.num_points, int), ev.mean(axis=(1, 2))
    else:
        m = result.metrics
        steps = np.cumsum(np.asarray(m.env_steps, np.int64), axis=-1)
        got = [scores.seed_scores(m.mean_return[h], steps[h], metric) for h in range(pop.num_points)]
        per, never = np.array([g[0] for g in got]), np.array([g[1] for g in got])
        cap = scores.censor([per], [steps[..., -1]])
        what = scores.describe(metric) + (f" (a seed that never did counts as {cap:,.0f} steps, the most any "
                                          "seed ran)" if never.any() else "")
        evals = (result.eval_returns["greedy" if result.spec.evaluation.greedy else "sampled"].mean(axis=(1, 2))
                 if result.eval_returns is not None else np.full(pop.num_points, np.nan))
    print(f"\nranked by the mean over {count(pop.seeds, 'seed')} of each seed's score = {metric}: {what}; "
          "spread = std across seeds")
    print(" rank | point | score mean | spread |  worst | eval mean | hyperparameters")
    ranked = sorted((h for h in range(pop.num_points) if h not in result.diverged), key=lambda h: -per[h].mean())
    for rank, h in enumerate(ranked, 1):
        miss = f"   ({never[h]} of {count(pop.seeds, 'seed')} never reached it)" if never[h] else ""
        print(f" {rank:>4} | {h:>5} | {per[h].mean():10.1f} | {per[h].std():6.1f} | {per[h].min():6.1f} | "
              f"{evals[h]:9.1f} | {point_label(pop.points[h])}{miss}")


def _timing_line(result) -> str:
    t, steps = result.timings, result.env_steps
    setup = t["wall_s"] - t["compile_s"] - t["train_s"] - t["eval_s"]
    return (f"env steps (valid, training): {steps:,}   wall {t['wall_s']:.1f} s (compile {t['compile_s']:.1f}, "
            f"train {t['train_s']:.1f}, eval {t['eval_s']:.1f}, setup {setup:.1f})   "
            f"{steps / max(t['train_s'], 1e-9):,.0f} steps/s")


def _run_settings(spec) -> dict:
    """What a tracker records as the run's config (as ``checkpoint.json`` does)."""
    return _tracked_settings(spec.record())


def _tracked_settings(meta: dict) -> dict:
    keys = ("kind", "env", "seeds", "root_seed", "config", "hparams", "points", "eval_episodes", "eval_greedy",
            "eval_every")
    return {k: meta.get(k) for k in keys}


def cmd_sweep(args, argv: list[str]) -> int:
    """Runs ``jaxpg sweep``: every (point, seed) in one compiled, sharded program."""
    _needs_resume(args)
    distributed = args.coordinator or args.num_processes or args.process_id is not None
    distributed = distributed or os.environ.get("JAX_COORDINATOR_ADDRESS")
    if args.resume is None:
        # range checks before any peer waits; the run builds and checks the env
        config, hparams, lists = flags.settings(args, sweep=True)
    if distributed:
        # start-up order: jax.distributed.initialize must run before any JAX backend starts
        from jaxpg.distributed import initialize_distributed

        try:
            initialize_distributed(args.coordinator, args.num_processes, args.process_id, args.connect_timeout)
        except (ValueError, RuntimeError) as e:
            raise UsageError(str(e)) from None
    import jax  # start-up order: after jax.distributed.initialize

    if args.resume is not None:
        result = _resume(args, argv)
        if result is None:
            return 0
    else:
        from jaxpg.sweep import grid  # start-up order: after jax.distributed.initialize

        order = [flags.BY_FLAG[f].field for f in flags.given_flags(argv) if flags.BY_FLAG[f].field in lists]
        points = grid(**{n: lists[n] for n in order})
        if jax.process_index() != 0:
            args.wandb = False  # one process logs
        result = _run(args, config, hparams, points, order)
    if jax.process_index() == 0 and not _nothing_trained(result):
        _print_sweep(result, args.metric)
    tracking.finish_pending()  # after the table: W&B prints its end-of-run block as it finishes
    return result.exit_code


def _print_sweep(result, metric: str = "eval") -> None:

    pop = result.population
    if metric != "eval" or result.eval_returns is not None:
        _print_ranking(result, metric)
    for h, msg in sorted(result.diverged.items()):
        print(f"  not ranked: point {h} ({point_label(pop.points[h])}) diverged: {msg}")
    print(_timing_line(result))
    if result.out is not None:
        print(f"wrote {result.out / 'sweep.json'} and {result.out / 'metrics.csv'} "
              f"(checkpoint at update {result.updates_done})")
    sys.stdout.flush()
