"""Training throughput of jaxpg against the alternatives, in one run: the ratios.

    python experiments/bench_throughput.py            # full grid (~15 min on 2 CPU cores)
    python experiments/bench_throughput.py --smoke    # a minute: a check that it runs

First ``jaxpg.bench.run_benchmark`` (what ``jaxpg bench`` runs): jaxpg through its
run layer (``jaxpg.runner``) over an N x S grid for each policy size, beside the measured
ceiling. Then the reference trainers of ``experiments/alternatives.py`` (the course's
textbook loop, in torch when it imports and in numpy, gymnasium's vector env with a batched
numpy MLP, a plain JAX scan), one line each, and the ratios: jaxpg's fastest layout that learned
over each alternative's fastest run, and each policy's best fraction of its ceiling.

Writes one JSON, ``<out>/bench-<platform>-<date>[-smoke].json`` (default
``experiments/results/``), atomically after every grid point and every alternative,
``complete: false`` until the end; its keys are ``run_benchmark``'s plus
``alternatives`` and ``ratios``. The alternatives are CartPole-v1 only and need
gymnasium (``pip install "jaxpg[bench]"``); torch is optional.
``jaxpg/bench.py`` says what is measured, ``experiments/PERF.md`` discusses it.
Bad input: one line on stderr, exit 2. Ctrl-C: exit 130, the JSON keeps what was measured.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # ``alternatives`` lives next to this script
    sys.path.insert(0, str(HERE))

LEARNED = 475.0  # CartPole-v1's "solved" level: a layout counts for the ratios once it learned


class UsageError(Exception):
    """Bad input: reported as one line on stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(message)


def _grid(text: str) -> list[tuple[int, int]]:
    points = []
    for item in text.split(","):
        n, sep, s = item.strip().partition("x")
        if not (sep and n.isdigit() and s.isdigit() and int(n) > 0 and int(s) > 0):
            raise argparse.ArgumentTypeError(f"grid point {item!r} is not NxS (positive integers: 256x8)")
        points.append((int(n), int(s)))
    return points


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from jaxpg.bench import POLICIES

    def policies(text: str) -> tuple[str, ...]:
        names = tuple(p.strip() for p in text.split(",") if p.strip())
        for p in names:
            if p not in POLICIES:
                raise argparse.ArgumentTypeError(f"unknown policy {p!r}; choose from {', '.join(POLICIES)}")
        if not names:
            raise argparse.ArgumentTypeError("no policy given")
        return names

    ap = _Parser(prog="bench_throughput.py", description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (a check that it runs)")
    ap.add_argument("--updates", type=_positive_int, default=100, help="updates per grid point")
    ap.add_argument("--grid", type=_grid, default=None,
                    help="NxS points, comma-separated, e.g. 256x8,1024x4 (default: sized for the device)")
    ap.add_argument("--policies", type=policies, default=("course", "default"),
                    help="course (4-16-2 ReLU) and/or default (64-64 tanh), comma-separated")
    ap.add_argument("--no-alternatives", action="store_true", help="time jaxpg only (no ratios)")
    ap.add_argument("--out", type=Path, default=HERE / "results",
                    help="directory for bench-<platform>-<date>.json (default: experiments/results)")
    args = ap.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {str(args.out)!r} is not a directory")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create --out {str(args.out)!r}: {e.strerror or e}") from None
    if not os.access(args.out, os.W_OK):
        raise UsageError(f"--out {str(args.out)!r} is not writable")
    if not args.no_alternatives:
        try:
            import gymnasium  # noqa: F401
        except ImportError:
            raise UsageError('the alternatives need gymnasium: pip install "jaxpg[bench]", '
                             "or add --no-alternatives") from None
    return args


def run_alternatives(smoke: bool, say=print, on_result=None) -> dict:
    """Times each reference trainer of ``alternatives``; ``{name: result}`` without the curves.

    gymnasium's vector env runs at several N (its best is taken for the ratio);
    ``textbook_torch`` only where torch imports. ``on_result(name, result)`` is called
    after each one (to save the record).
    """
    import alternatives as alt

    runs = {}
    if alt.torch_available():
        runs["textbook_torch"] = lambda: alt.textbook(updates=20 if smoke else 1000, backend="torch",
                                                      time_budget_s=5 if smoke else 90)
    runs["textbook_numpy"] = lambda: alt.textbook(updates=20 if smoke else 1000, backend="numpy",
                                                  time_budget_s=5 if smoke else 90)
    for n in [16] if smoke else [256, 1024, 4096]:
        runs[f"gym_vector_N{n}"] = lambda n=n: alt.gym_vector(num_envs=n, updates=3 if smoke else 80)
    runs["jax_scan"] = lambda: alt.jax_scan(num_envs=8 if smoke else 256, seeds=2 if smoke else 16,
                                            updates=3 if smoke else 100)
    out = {}
    for name, fn in runs.items():
        r = fn()
        r.pop("returns", None)
        out[name] = r
        say(f"{name:>16}: {r['valid_steps_per_s']:14,.0f} valid steps/s, "
            f"final return {r['final_return']:.1f} "
            f"({r.get('framework', '')}, {r.get('policy', '')}, N={r.get('num_envs')}, S={r.get('seeds')})")
        if on_result is not None:
            on_result(name, r)
    return out


def ratios(rows: list[dict], alts: dict) -> dict:
    """jaxpg's fastest layout that learned (final return >= 475) over each alternative's
    fastest run (by family: textbook_torch, textbook_numpy, gym_vector, jax_scan), and
    each policy's best fraction of its measured ceiling.

    Where no layout (or no run of a family) learned, the fastest one is taken.
    """
    def best(items):
        items = list(items)
        learned = [r for r in items if r["final_return"] >= LEARNED]
        return max(learned or items, key=lambda r: r["valid_steps_per_s"]) if items else None

    families: dict[str, list[dict]] = {}
    for name, a in alts.items():
        families.setdefault(name.split("_N")[0], []).append(a)
    out = {}
    course = best(r for r in rows if r["policy_kind"] == "course")
    if course is not None:
        for fam, items in families.items():
            fastest = best(items)["valid_steps_per_s"]
            out[f"jaxpg {course['policy']} / {fam}"] = course["valid_steps_per_s"] / fastest
    for kind in dict.fromkeys(r["policy_kind"] for r in rows):
        r = best(x for x in rows if x["policy_kind"] == kind)
        out[f"jaxpg {r['policy']} fastest learning layout / its measured ceiling"] = r["fraction_of_ceiling"]
    return out


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except UsageError as e:
        print(f"bench_throughput.py: error: {e}", file=sys.stderr)
        return 2
    from jaxpg import bench

    say = lambda *a: print(*a, flush=True)  # noqa: E731
    try:
        result = bench.run_benchmark("CartPole-v1", args.updates, args.grid, args.policies, smoke=args.smoke,
                                     out=args.out, say=say)
        if not args.no_alternatives:
            path = bench.result_path(args.out, result)
            result["complete"] = False
            result["alternatives"] = {}

            def save(name, r):
                result["alternatives"][name] = r
                bench.write_json(result, path)

            run_alternatives(args.smoke, say, on_result=save)
            result["ratios"] = ratios(result["rows"], result["alternatives"])
            for k, v in result["ratios"].items():
                say(f"{k}: {v:,.2f}x" if "ceiling" not in k else f"{k}: {100 * v:.0f}%")
            result["complete"] = True
            bench.write_json(result, path)
            say(f"wrote {path}")
    except KeyboardInterrupt:
        print("interrupted: the JSON keeps what was measured so far (complete: false)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
