"""``jaxpg compare``: IQM difference and probability of improvement of runs against the first one.

Reads each run's per-seed final scores (``eval_score`` = mean - std of the evaluation returns;
``jaxpg.plotting.final_score_data``) and compares every run with the first by
``jaxpg.stats.compare`` (Agarwal et al. 2021; rliable's comparison tools), printing one line per
pair. Directories that share a ``--labels`` name are one method, each directory one task
(environment).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from jaxpg import rundir, scores, stats
from jaxpg.cli import flags
from jaxpg.cli.common import HelpFormatter, UsageError, metric, nonneg_int, path, positive_int
from jaxpg.plotting import _check_format, final_score_data, performance_profiles_from_scores

CONFIDENCE = 0.95


def _labels(text: str) -> list[str]:
    return [t.strip() for t in text.split(",")]


def add_parsers(sub) -> None:
    c = sub.add_parser("compare", help="compare runs' final scores with the first run's: IQM difference and "
                                       "probability of improvement, 95%% bootstrap CIs",
                       formatter_class=HelpFormatter,
                       description="Compares each run's per-seed final score (mean - std of its evaluation "
                                   "returns) with the first run's: the IQM of each, their difference and the "
                                   "probability of improvement P(B > A), with 95% stratified-bootstrap "
                                   "intervals (Agarwal et al. 2021). A sweep directory gives one run per point.")
    c.add_argument("run_dirs", type=path, nargs="+", metavar="DIR",
                   help="`jaxpg train`/`sweep` --out directories; the first run is the baseline A (at least 2 runs; "
                        "a sweep directory gives one run per point)")
    c.add_argument("--labels", type=_labels, default=None,
                   help="comma-separated, one per DIR; directories with the same label are one method "
                        "whose tasks are their environments")
    c.add_argument("--points", "--point", type=_points, default=None, dest="point", metavar="I,J,...",
                   help="use only these points of each sweep (trials of each tune directory), in this order: "
                        "`compare SWEEP --points 2,0` compares point 0 against point 2 (default: every point)")
    c.add_argument("--metric", type=metric, default="eval",
                   help="a seed's score: eval (mean - std of its evaluation returns), final (mean training "
                        "return, last tenth of the updates), auc (mean training return over the run), "
                        "steps-to:T (valid env steps until the 10-update mean return reaches T; fewer is better)")
    c.add_argument("--reps", type=positive_int, default=2000, help="bootstrap replicates")
    c.add_argument("--profile-out", type=path, default=None, metavar="FILE",
                   help="also draw the performance profiles (fraction of seeds with score > tau) to this "
                        "image (.png, .svg, .pdf)")


def _points(text: str) -> list[int]:
    try:
        out = [nonneg_int(t.strip()) for t in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected point numbers like 1,2, got {text!r}") from None
    if len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"a point is named twice in {text!r}")
    return out


def _name(label: str) -> str:
    """``final_score_data``'s multi-line label on one line: ``"a\\nCartPole-v1"`` -> ``"a (CartPole-v1)"``."""
    first, *rest = label.split("\n")
    return f"{first} ({', '.join(rest)})" if rest else first


def _env(run_dir) -> str | None:
    results = rundir.read_results(run_dir)  # final_score_data has read it already
    if results is None:  # pragma: no cover (final_score_data refuses such a directory)
        return None
    env = results[1].get("env")
    return str(env) if env else None


def _methods(args, never: dict[str, int]) -> list[tuple[str, object]]:
    """``(name, [seeds, tasks] scores)`` of every method, in the order given; ``never`` gets, by
    name, the seeds that never reached a ``steps-to`` threshold."""
    dirs, labels = args.run_dirs, args.labels
    if labels is not None and len(labels) != len(dirs):
        raise UsageError(f"--labels has {len(labels)} names for {len(dirs)} directories")
    if labels is not None and "" in labels:
        raise UsageError(f"--labels has an empty name: {','.join(labels)!r}")
    try:
        if labels is None or len(set(labels)) == len(labels):
            columns = final_score_data(dirs, labels, args.point, args.metric)
            scores.censor([c["scores"] for c in columns], [c["ran"] for c in columns])
            never.update({_name(c["label"]): c["never"] for c in columns})
            return [(_name(c["label"]), c["scores"][:, None]) for c in columns]
        # Shared labels: one method per label, one task (column) per directory, matched by env.
        groups: dict[str, dict[str, np.ndarray]] = {}
        missed: dict[str, int] = {}
        every: list[dict] = []
        for d, label in zip(dirs, labels, strict=True):
            columns = final_score_data([d], [label], args.point, args.metric)
            every += columns
            if len(columns) != 1:
                raise UsageError(f"{d}: a sweep of {len(columns)} points; give --points to compare one of them "
                                 "when directories share a label")
            env = _env(d)
            if env is None:
                raise UsageError(f"{d}: its JSON names no env, so it cannot be matched to the other labels' tasks")
            if env in groups.setdefault(label, {}):
                raise UsageError(f"label {label!r} has two directories on {env}: give them different labels")
            groups[label][env] = columns[0]["scores"]
            missed[label] = missed.get(label, 0) + columns[0]["never"]
        scores.censor([c["scores"] for c in every], [c["ran"] for c in every])
    except ValueError as e:
        raise UsageError(flags.speak(str(e).splitlines()[0])) from None
    first, *others = groups
    envs = sorted(groups[first])
    for label in others:
        if sorted(groups[label]) != envs:
            raise UsageError(f"label {label!r} has environments {', '.join(sorted(groups[label]))} but {first!r} "
                             f"has {', '.join(envs)}: every label needs the same environments")
    out = []
    for label, by_env in groups.items():
        seeds = {env: by_env[env].size for env in envs}
        if len(set(seeds.values())) > 1:
            raise UsageError(f"label {label!r} has different numbers of seeds per environment "
                             f"({', '.join(f'{e}: {n}' for e, n in seeds.items())}); each label needs the same "
                             "number on every environment")
        out.append((f"{label} ({len(envs)} envs)", np.stack([by_env[env] for env in envs], axis=1)))
        never[out[-1][0]] = missed[label]
    return out


def _check_profile_out(out) -> None:
    try:
        _check_format(out)
    except ValueError as e:
        raise UsageError(f"--profile-out: {e}") from None
    if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
        raise UsageError(f"cannot write --profile-out {str(out)!r}: its directory does not exist or is not writable")


def cmd_compare(args) -> int:
    """``jaxpg compare A B [C ...]``: one line per run against A."""
    if args.profile_out is not None:
        _check_profile_out(args.profile_out)
    never: dict[str, int] = {}
    methods = _methods(args, never)
    if len(methods) < 2:
        raise UsageError(f"compare needs at least 2 runs (the baseline first; a sweep directory gives one per "
                         f"point), got 1: {methods[0][0]}")
    (name_a, a), tasks = methods[0], methods[0][1].shape[1]
    per = f" per env, {tasks} envs" if tasks > 1 else ""
    print(f"A = {name_a}: score per seed = {args.metric}: {scores.describe(args.metric)}; "
          f"[{CONFIDENCE:.0%} stratified-bootstrap interval, {args.reps} replicates]")
    if any(never.values()):
        print("seeds that never reached the threshold count as the most env steps any compared seed ran: "
              + ", ".join(f"{k}: {v}" for k, v in never.items() if v))
    for name_b, b in methods[1:]:
        c = stats.compare(b, a, reps=args.reps, confidence=CONFIDENCE, seed=0)
        (dlo, dhi), (plo, phi) = c.iqm_diff_ci, c.prob_improvement_ci
        print(f"B = {name_b} vs A: IQM {c.iqm_x:.2f} vs {c.iqm_y:.2f}, "
              f"B - A {c.iqm_diff:+.2f} [{dlo:+.2f}, {dhi:+.2f}]; "
              f"P(B > A) = {c.prob_improvement:.3f} [{plo:.3f}, {phi:.3f}]; seeds {c.runs_x} vs {c.runs_y}{per}")
    if args.profile_out is not None:
        try:
            out = performance_profiles_from_scores(methods, args.profile_out, reps=args.reps)
        except ValueError as e:
            raise UsageError(str(e).splitlines()[0]) from None
        print(f"wrote {out}")
    return 0
