"""``jaxpg tune``: random search, successive halving and PBT over the traced hyperparameters.

A hyperparameter flag given a range ``LOW..HIGH`` or choices ``A,B,C`` is searched (``--lr`` and the
other learning rates and ``--max-grad-norm`` log-uniformly); a single value fixes it. Static
settings (``--env``, ``--hidden``...) shape the compiled program: one search per static setting.
"""

from __future__ import annotations

import math
import sys

from jaxpg.cli import flags
from jaxpg.cli.common import (
    LEAVE_AT_ONCE,
    HelpFormatter,
    UsageError,
    nonneg_int,
    number,
    path,
    positive_int,
    seed_int,
)
from jaxpg.scores import describe
from jaxpg.text import count


def add_parsers(sub) -> None:
    t = sub.add_parser("tune", help="random search, successive halving or PBT over hyperparameter ranges, in one "
                                    "compiled program", formatter_class=HelpFormatter)
    t.add_argument("--seeds", type=positive_int, default=2, help="seeds per trial")
    t.add_argument("--seed", type=seed_int, default=0, help="root seed: the same seed, the same trials and lineage")
    flags.add_table_flags(t, "tune")
    t.add_argument("--trials", type=positive_int, default=16, help="trials in all (pbt: the population)")
    t.add_argument("--population", type=positive_int, default=8, help="trials trained at once (the program's width)")
    t.add_argument("--scheduler", choices=("none", "halving", "pbt"), default="none",
                   help="none: random search; halving: asynchronous successive halving, stopped slots refilled; "
                        "pbt: population-based training")
    t.add_argument("--eta", type=positive_int, default=3, help="halving: keep the top 1/eta at each rung")
    t.add_argument("--min-updates", type=positive_int, default=None,
                   help="halving: the first rung, in a trial's updates (default: a ninth of --updates)")
    t.add_argument("--interval", type=positive_int, default=None,
                   help="pbt: exploit and explore every K updates (default: a tenth of --updates)")
    t.add_argument("--fraction", type=number, default=0.25, help="pbt: the share of the population exploited")
    t.add_argument("--metric", default="final",
                   help="ranking: final (mean return, last tenth), auc (mean return over the run), steps-to:T "
                        "(valid env steps until the return reaches T)")
    t.add_argument("--confirm-seeds", type=nonneg_int, default=0,
                   help="retrain the winner from scratch on this many fresh seeds and report that score")
    t.add_argument("--out", type=path, default=None, help="run directory (checkpoint, metrics.csv, tune.json)")
    t.add_argument("--resume", type=path, default=None, metavar="DIR", help="continue the search saved in DIR")
    t.add_argument("--progress-every", type=positive_int, default=None, help="updates per progress line")
    t.add_argument("--chunk-seconds", type=number, default=30.0, metavar="S",
                   help="about how long one compiled chunk trains (a SIGTERM loses at most about this)")
    t.add_argument("--quiet", action="store_true", help="print only the final table")


def _search(args, argv):
    from jaxpg.runner.space import Space  # start-up order: the run layer imports gymnax
    from jaxpg.tune import TuneSpec  # start-up order: as above

    config, hparams, given = flags.settings(args, tune=True)
    spaces = [Space.parse(field, text) for field, text in given.items() if ".." in text or "," in text]
    fixed = {f: float(t) for f, t in given.items() if not (".." in t or "," in t)}
    hparams = hparams.replace(**fixed)
    budget = config.num_updates
    default_min = max(1, budget // args.eta**2)
    search = TuneSpec(tuple(spaces), args.trials, args.population, args.scheduler, args.eta,
                      args.min_updates or (default_min if args.scheduler == "halving" else None),
                      args.interval or (max(1, budget // 10) if args.scheduler == "pbt" else None), args.fraction,
                      args.metric)
    return config, hparams, search


def cmd_tune(args, argv: list[str]) -> int:
    from jaxpg.runner import Schedule  # start-up order: the run layer imports gymnax
    from jaxpg.tune import tune, tune_resume  # start-up order: as above

    log = None if args.quiet else (lambda text: print(text, flush=True))
    try:
        schedule = Schedule(chunk=args.progress_every, chunk_seconds=args.chunk_seconds)
        if args.resume is not None:
            given = [f for f in flags.given_flags(argv) if f != "--updates"]
            if given or args.out is not None:
                raise UsageError(f"--resume continues a search with its saved settings; drop "
                                 f"{', '.join(given + (['--out'] if args.out is not None else []))}")
            result = tune_resume(args.resume, schedule=schedule, confirm_seeds=args.confirm_seeds, log=log)
            if result is None:
                print(f"{args.resume}: the search is done; nothing to do")
                return 0
        else:
            config, hparams, search = _search(args, argv)
            result = tune(config, search, hparams=hparams, seeds=args.seeds, seed=args.seed, out=args.out,
                          schedule=schedule, confirm_seeds=args.confirm_seeds, log=log)
    except ValueError as e:
        raise UsageError(str(e).splitlines()[0]) from None
    _print(result.record)
    if result.run is not None and result.run.interrupted:
        LEAVE_AT_ONCE[0] = True  # a chunk may still be computing (see jaxpg.cli.entry)
    return result.run.exit_code if result.run is not None else 0


def _print(rec: dict) -> None:
    metric = rec["metric"]
    what = describe(metric)
    print(f"\n{rec['scheduler']['scheduler']} search, {count(len(rec['trials']), 'trial')} x "
          f"{count(rec['seeds'], 'seed')}; "
          f"score = {metric}: {what}; trials that trained fewer updates rank below")
    print(" rank | trial | updates |   score |  env steps | status   | hyperparameters")
    for rank, i in enumerate(rec["ranking"][:10], 1):
        t = rec["trials"][i]
        hp = " ".join(f"{k}={v:.3g}" for k, v in t["hparams"].items())
        sc = f"{t['score']:7.1f}" if math.isfinite(t["score"]) else "  never"
        print(f" {rank:>4} | {i:>5} | {t['updates']:>7} | {sc} | {t['env_steps']:>10,} | {t['status']:<8} | {hp}")
    if len(rec["ranking"]) > 10:
        print(f"  ... {len(rec['ranking']) - 10} more in tune.json")
    for t in rec["trials"]:
        if t["status"] == "diverged":
            print(f"  not ranked: trial {t['index']} diverged")
    print(f"env steps (valid, all trials): {rec['env_steps']:,}")
    if "confirm" in rec:
        c = rec["confirm"]
        print(f"winner (trial {rec['best']}) retrained on {c['seeds']} fresh seeds (root {c['root_seed']}): "
              f"{metric} {c['score']:.1f}; evaluation score (mean - std) per seed "
              + ", ".join(f"{x:.1f}" for x in c["eval_score_per_seed"]))
    sys.stdout.flush()

