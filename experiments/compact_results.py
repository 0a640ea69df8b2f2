"""Shrinks a results tree to what is worth keeping in git: summaries, thinned metrics, small JSON.

Under ROOT (default ``experiments/results``) this:

- removes every ``checkpoints/`` directory (the saved training states; rerun the command
  that a result's README gives to get them back);
- replaces every ``X.log`` by ``X.tail.txt``, holding only the log's final summary: the
  lines from the last one that starts with ``evaluation`` to the end or, when there is
  none, the last ``--tail-lines`` (12) lines;
- thins every ``metrics.csv`` / ``metrics.csv.gz`` into ``metrics-thinned.csv.gz`` and
  deletes the original: the rows of each group (one per value of the columns among
  ``point``, ``seed``, ``env``, ``setting`` that exist) are split, in update order, into at
  most ``--rows`` (200) consecutive windows of ``ceil(rows / --rows)`` updates (the last one
  may be shorter), and each window becomes one row: ``update`` and ``env_steps`` hold the
  window's last value, every other numeric column the window's mean (6 significant
  digits); the header is kept as it was;
- thins every ``curves.csv.gz`` (``experiments/course_unit4.py``) in place the same way,
  with groups env, setting, seed and ``update``, ``episodes``, ``env_steps`` taking the
  window's last value.

Gzip output is written with compresslevel 9 and a zero mtime, so equal content gives equal
bytes. Running it again changes nothing: the thinned files are not thinned again (and a
``curves.csv.gz`` that is already thinned is left alone). It prints what it changed and
the total size of the files under ROOT before and after.

    python experiments/compact_results.py                # experiments/results
    python experiments/compact_results.py --dry-run      # only report
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np

GROUP_COLUMNS = ("point", "seed", "env", "setting")
METRICS_LAST = ("update", "env_steps")
CURVES_LAST = ("update", "episodes", "env_steps")
METRICS_NAMES = ("metrics.csv", "metrics.csv.gz")
METRICS_OUT = "metrics-thinned.csv.gz"
CURVES_NAME = "curves.csv.gz"


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def thin_rows(header: list[str], rows: list[list[str]], rows_per_group: int = 200,
              last: tuple[str, ...] = METRICS_LAST,
              groups: tuple[str, ...] = GROUP_COLUMNS) -> list[list[str]]:
    """The rows of a metrics table, thinned to at most ``rows_per_group`` rows per group.

    A group is one value of the columns of ``groups`` that ``header`` has. Its rows, sorted
    by ``update`` (stable), are split into consecutive windows of ``ceil(n / rows_per_group)``
    rows; each window gives one row: group columns and the columns of ``last`` hold the
    window's last value (as written), every other column its mean formatted with ``%.6g``
    when all its values are numbers, else its last value. Groups come out in the order they
    first appear. Values are strings (as ``csv.reader`` gives them).
    """
    if rows_per_group < 1:
        raise ValueError(f"rows_per_group must be >= 1, got {rows_per_group}")
    gidx = [header.index(c) for c in groups if c in header]
    keep_last = set(gidx) | {header.index(c) for c in last if c in header}
    u = header.index("update") if "update" in header else None
    by_group: dict[tuple[str, ...], list[list[str]]] = {}
    for r in rows:
        by_group.setdefault(tuple(r[i] for i in gidx), []).append(r)
    out = []
    for grows in by_group.values():
        if u is not None:
            grows = sorted(grows, key=lambda r: float(r[u]))
        w = math.ceil(len(grows) / rows_per_group)
        for start in range(0, len(grows), w):
            win = grows[start:start + w]
            row = []
            for j in range(len(header)):
                col = [r[j] for r in win]
                if j in keep_last or not all(_is_number(x) for x in col):
                    row.append(col[-1])
                else:
                    row.append(f"{float(np.mean(np.asarray(col, dtype=np.float64))):.6g}")
            out.append(row)
    return out


def thin_csv_text(text: str, rows_per_group: int = 200, last: tuple[str, ...] = METRICS_LAST,
                  groups: tuple[str, ...] = GROUP_COLUMNS) -> str:
    """``thin_rows`` on the text of a CSV file (header line first); returns CSV text."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    rows = [r for r in reader if r]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(thin_rows(header, rows, rows_per_group, last, groups))
    return buf.getvalue()


def gzip_bytes(text: str) -> bytes:
    """``text`` as UTF-8, gzip level 9, mtime 0 (the same text gives the same bytes)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as f:
        f.write(text.encode())
    return buf.getvalue()


def read_text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", newline="") as f:
            return f.read()
    return path.read_text()


def log_tail(text: str, tail_lines: int = 12) -> str:
    """The final summary of a log: from its last line that starts with ``evaluation`` to the
    end, or its last ``tail_lines`` lines when no line does."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("evaluation")]
    kept = lines[starts[-1]:] if starts else lines[-tail_lines:]
    return "\n".join(kept) + "\n" if kept else ""


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def compact(root: Path, rows: int = 200, tail_lines: int = 12, dry_run: bool = False) -> list[tuple]:
    """Does (or, with ``dry_run``, only plans) the changes; returns ``(action, path, bytes
    before, bytes after)`` for each."""
    changes = []
    for d in sorted(p for p in root.rglob("checkpoints") if p.is_dir()):
        changes.append(("rm checkpoints/", d, tree_size(d), 0))
        if not dry_run:
            shutil.rmtree(d)
    for log in sorted(root.rglob("*.log")):
        if not log.is_file():
            continue
        tail = log_tail(log.read_text(errors="replace"), tail_lines).encode()
        out = log.with_name(log.name[:-len(".log")] + ".tail.txt")
        changes.append((f"log -> {out.name}", log, log.stat().st_size, len(tail)))
        if not dry_run:
            _atomic_write(out, tail)
            log.unlink()
    for name in METRICS_NAMES:
        for m in sorted(root.rglob(name)):
            data = gzip_bytes(thin_csv_text(read_text(m), rows, METRICS_LAST))
            out = m.with_name(METRICS_OUT)
            changes.append((f"thin -> {METRICS_OUT}", m, m.stat().st_size, len(data)))
            if not dry_run:
                _atomic_write(out, data)
                m.unlink()
    for c in sorted(root.rglob(CURVES_NAME)):
        text = read_text(c)
        thinned = thin_csv_text(text, rows, CURVES_LAST)
        if thinned == text:
            continue  # already thinned
        data = gzip_bytes(thinned)
        changes.append(("thin in place", c, c.stat().st_size, len(data)))
        if not dry_run:
            _atomic_write(c, data)
    return changes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("root", nargs="?", type=Path, default=Path("experiments/results"),
                    help="results directory (default: experiments/results)")
    ap.add_argument("--rows", type=int, default=200,
                    help="at most this many rows per group in thinned metrics (default 200)")
    ap.add_argument("--tail-lines", type=int, default=12,
                    help="lines kept of a log that has no 'evaluation' line (default 12)")
    ap.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    args = ap.parse_args(argv)
    if args.rows < 1 or args.tail_lines < 1:
        ap.error("--rows and --tail-lines must be >= 1")
    if not args.root.is_dir():
        ap.error(f"{args.root}: not a directory")
    before = tree_size(args.root)
    changes = compact(args.root, args.rows, args.tail_lines, args.dry_run)
    width = max([len(str(p.relative_to(args.root))) for _, p, _, _ in changes] + [4])
    print(f"{'change':<32} {'path':<{width}} {'before':>10} {'after':>10}")
    for action, path, b, a in changes:
        print(f"{action:<32} {str(path.relative_to(args.root)):<{width}} {b:>10,} {a:>10,}")
    after = before - sum(b - a for _, _, b, a in changes) if args.dry_run else tree_size(args.root)
    verb = "would be" if args.dry_run else "now"
    print(f"{len(changes)} changes; files under {args.root}: {before:,} bytes before, {after:,} {verb}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
