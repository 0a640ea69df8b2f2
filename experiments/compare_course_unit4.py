"""``jaxpg compare`` on the course's Unit 4 settings against jaxpg's defaults.

Reads the per-seed final scores of ``experiments/results/course-unit4/scores.csv`` (written by
``python experiments/course_unit4.py``: 32 seeds per env and setting, each evaluated like the
course, 10 sampled episodes, score = mean - std), lays each (env, setting) out as a run
directory ``jaxpg compare`` reads (a ``summary.json`` with ``eval_mean``/``eval_std``/
``eval_score``), and compares jaxpg's defaults (B) with the course's settings (A): per env, and
over both envs as tasks. Prints the comparison and writes it to ``--out`` (default
``experiments/results/course-unit4/compare.txt``) with the performance profiles beside it.

    python experiments/compare_course_unit4.py
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scores", type=Path, default=HERE / "results" / "course-unit4" / "scores.csv")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "course-unit4" / "compare.txt")
    args = ap.parse_args()
    from jaxpg.cli import main as jaxpg

    rows = list(csv.DictReader(args.scores.open()))
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["env"], r["setting"]), []).append(r)
    text = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {}
        for (env, setting), rs in sorted(groups.items()):
            rs.sort(key=lambda r: int(r["seed"]))
            d = Path(tmp) / f"{setting}-{env}"
            d.mkdir()
            (d / "summary.json").write_text(json.dumps({
                "env": env, "seeds": len(rs), "eval_episodes": 10, "eval_greedy": False,
                "eval_mean": [float(r["eval_mean"]) for r in rs], "eval_std": [float(r["eval_std"]) for r in rs],
                "eval_score": [float(r["score"]) for r in rs]}))
            dirs[env, setting] = str(d)
        envs = sorted({e for e, _ in groups})
        calls = [[dirs[e, "course"], dirs[e, "jaxpg"], "--labels", "course,jaxpg"] for e in envs]
        calls.append([*(dirs[e, "course"] for e in envs), *(dirs[e, "jaxpg"] for e in envs), "--labels",
                      ",".join(["course"] * len(envs) + ["jaxpg"] * len(envs)),
                      "--profile-out", str(args.out.with_name("profiles.png"))])
        for argv in calls:
            print(f"$ jaxpg compare {' '.join(Path(a).name if a.startswith(tmp) else a for a in argv)}", file=text)
            with contextlib.redirect_stdout(text):
                code = jaxpg(["compare", *argv])
            if code:
                raise SystemExit(code)
    args.out.write_text(text.getvalue().replace(str(HERE.parent) + "/", ""))
    print(text.getvalue(), end="")
    print(f"wrote {args.out} and {args.out.with_name('profiles.png')}")


if __name__ == "__main__":
    main()
