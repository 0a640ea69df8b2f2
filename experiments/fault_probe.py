"""Bad-input probe of the ``jaxpg`` command line: every flag of every command with values a user
could type by mistake, each run in-process; a case is *handled* when it exits 2 with exactly one
line on stderr starting ``jaxpg: error:``, no traceback, and writes nothing.

    python experiments/fault_probe.py            # ~1 min on 2 CPU cores; prints a table
    python experiments/fault_probe.py --out experiments/results

The flags come from the CLI's own table (``jaxpg.cli.flags.TABLE``) and parser, so a new flag is
probed without editing this file. Writes ``fault-probe-<platform>-<date>.json`` (every case with its
outcome). The faults that need a run (signals, corruption, symlinks, memory) are tests:
``tests/test_reliability.py``; ``docs/reliability.md`` lists both.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

HUGE = "99999999999999999999"


def cases() -> list[list[str]]:
    from jaxpg.cli import build_parser
    from jaxpg.cli.flags import TABLE

    out: list[list[str]] = []
    for cmd in ("train", "sweep"):
        for f in TABLE:
            if f.boolean:
                out.append([cmd, f"{f.flag}=maybe"])
                continue
            bad = ["x", ""]
            if f.type is not None and f.type.__name__ in ("positive_int",):
                bad += ["0", "-1", HUGE, "1.5"]
            elif f.choices:
                bad += ["nope"]
            elif f.type is not None and f.type.__name__ in ("number", "number_pair"):
                bad += ["nan", "-inf"] + ([] if f.field == "max_grad_norm" else ["1e999"])  # inf: no clip
            elif f.type is not None and f.type.__name__ == "sizes":
                bad += ["0", "-4", "64,", HUGE]
            elif f.field == "env":
                bad += ["NoSuchEnv-v0", "cartpole-v1"]
            out += [[cmd, f.flag, v] for v in bad]
        for flag in ("--seeds", "--progress-every", "--save-every", "--eval-max-steps", "--eval-every"):
            out += [[cmd, flag, v] for v in ("0", "-3", HUGE, "x")]
        out += [[cmd, "--seed", v] for v in (HUGE, "-" + HUGE, "x")]
        out += [[cmd, "--eval-episodes", v] for v in ("-1", HUGE, "x")]
        out += [[cmd, "--chunk-seconds", v] for v in ("0", "-1", "nan", "inf", "x")]
        out += [[cmd, "--out", ""], [cmd, "--bogus"],
                [cmd, "--save-every", "2"], [cmd, "--resume", "no-such-dir"],
                [cmd, "--eval-every", "2", "--eval-episodes", "0"], [cmd, "--wandb-project", "p"],
                [cmd, "--wandb-tags", "a", "--wandb-entity", "e"]]
    out += [["sweep", "--lr", "1e-3,,x"], ["sweep", "--lr", "0,1e-3"], ["sweep", "--gamma", "0.9,2"],
            ["sweep", "--target", "x"], ["sweep", "--num-processes", "0"], ["sweep", "--connect-timeout", "0"],
            ["train", "--env", "Pendulum-v1", "--log-std-bounds", "2,-5"], ["train", "--squash", "tanh"],
            ["train", "--resume", ".", "--lr", "0.1"], ["train", "--tensorboard"]]
    for cmd in ("eval", "render"):
        out += [[cmd], [cmd, "no-such-dir"], [cmd, "no-such-dir", "--point", "-1"],
                [cmd, "no-such-dir", "--max-steps", "0"], [cmd, "no-such-dir", "--seed", HUGE]]
    out += [["eval", "no-such-dir", "--eval-episodes", v] for v in ("0", HUGE, "x")]
    out += [["render", ".", "--out", "x.png"], ["render", ".", "--out", "/no/such/dir/x.gif"],
            ["render", ".", "--out", "x.gif", "--fps", "0"]]
    out += [["plot", "no-such-dir", "--out", "x.png"], ["plot", ".", "--out", "x.bmpx"], ["plot", "."],
            ["plot", ".", "--out", "x.png", "--x", "time"], ["plot", ".", "--out", "x.png", "--labels", "a,b"],
            ["plot", ".", "--out", "x.png", "--pass-line", "x"]]
    out += [["plot", ".", "--out", "x.png", "--smooth", v] for v in ("0", "-2", "x")]
    out += [["plot", ".", "--out", "x.png", "--metric", "bogus"], ["plot", ".", "--out", "x.png", "--metric", "eval"]]
    out += [["compare"], ["compare", "no-such-dir"], ["compare", "no-such-dir", "other-dir"], ["compare", ".", "."],
            ["compare", "a", "b", "--reps", "0"], ["compare", "a", "b", "--labels", "x"],
            ["compare", "a", "b", "--profile-out", "x.bmpx"], ["compare", "a", "b", "--point", "-1"]]
    out += [["compare", "a", "b", "--metric", v] for v in ("best", "steps-to:", "steps-to:x", "steps-to:nan")]
    out += [["compare", "a", "--points", v] for v in ("1,,2", "x", "1,1", "-1")]
    out += [["sweep", "--lr", "1e-3,1e-2", "--metric", "steps-to:x"], ["plot", ".", "--search", "--out", "x.png"],
            ["plot", "a", "b", "--search", "--out", "x.png"]]
    # the search: ranges, schedulers, metrics and resume
    t = ["tune", "--lr", "1e-3..1e-1"]
    out += [["tune"], [*t, "--trials", "0"], [*t, "--trials", "4", "--population", "9"], [*t, "--population", "0"],
            [*t, "--eta", "1"],
            [*t, "--scheduler", "pbt"], [*t, "--scheduler", "nope"], [*t, "--fraction", "0.9"],
            [*t, "--fraction", "nan"], [*t, "--interval", "0"], [*t, "--min-updates", "-1"],
            [*t, "--metric", "eval"], [*t, "--metric", "steps-to:"], [*t, "--confirm-seeds", "-1"],
            [*t, "--seeds", "0"], [*t, "--chunk-seconds", "0"], [*t, "--resume", "no-such-dir"],
            ["tune", "--lr", "1..x"], ["tune", "--lr", "0..1e-1"], ["tune", "--lr", "1e-1..1e-3"],
            ["tune", "--gamma", "0.9..2"], ["tune", "--hidden", "4..8"], ["tune", "--lr", "1e-3,,x"],
            ["tune", "--resume", ".", "--lr", "0.1"]]
    out += [["export"], ["export", "no-such-dir"], ["export", "no-such-dir", "--out", "h"]]
    out += [["export", ".", "--out", "h", "--eval-episodes", v] for v in ("0", HUGE, "x", "5")]
    out += [["export", ".", "--out", "h", "--seed-index", "-1"], ["export", ".", "--out", "h", "--fps", "0"]]
    out += [["bench", "--env", "bad", "--out", "bo"], ["bench", "--env", "Pendulum-v1"], ["bench", "--grid", "0x4"],
            ["bench", "--grid", "256x"], ["bench", "--policies", "huge"], ["bench", "--updates", HUGE]]
    out += [["envs", "NoSuchEnv"], ["fly"], ["train", "--env"]]
    build_parser()  # the parser itself must build
    return out


def run_case(argv: list[str]) -> dict:
    from jaxpg.cli import main

    with tempfile.TemporaryDirectory() as d:
        cwd = os.getcwd()
        os.chdir(d)
        err, out = io.StringIO(), io.StringIO()
        t = time.perf_counter()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                try:
                    code = main(list(argv))
                except SystemExit as e:
                    code = e.code
                except Exception as e:  # noqa: BLE001 - a traceback is what the probe looks for
                    code, err_text = "exception", f"{type(e).__name__}: {e}"
                    err.write(err_text)
            written = sorted(str(p.relative_to(d)) for p in Path(d).rglob("*"))
        finally:
            os.chdir(cwd)
    text = err.getvalue()
    one_line = text.count("\n") == 1 and text.startswith("jaxpg: error: ")
    handled = code == 2 and one_line and "Traceback" not in text and not written
    return {"argv": argv, "exit": code, "stderr": text.strip()[:300], "written": written,
            "handled": handled, "seconds": round(time.perf_counter() - t, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="directory for the JSON record")
    args = ap.parse_args(argv)
    results = [run_case(c) for c in cases()]
    bad = [r for r in results if not r["handled"]]
    for r in bad:
        print(f"NOT HANDLED: jaxpg {' '.join(r['argv'])} -> exit {r['exit']}: {r['stderr'][:160]!r} "
              f"written={r['written']}")
    print(f"bad inputs tried: {len(results)}, handled (one line, exit 2, nothing written): "
          f"{len(results) - len(bad)}")
    if args.out is not None:
        from jaxpg.bench import machine_info, write_json

        info = machine_info()
        path = args.out / f"fault-probe-{info['device']['platform']}-{info['date']}.json"
        write_json({"tried": len(results), "handled": len(results) - len(bad), "cases": results, **info}, path)
        print(f"wrote {path}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
