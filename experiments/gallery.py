"""Regenerates the figures of docs/gallery.md: trains a few small runs with the jaxpg command line,
then draws every picture with the ``jaxpg plot`` command the page shows under it::

    python experiments/gallery.py               # trains (about a minute on 2 CPU cores), then draws
    python experiments/gallery.py --skip-train  # draws again from the runs already in runs/gallery/

The commands run from the repository root, in this process (``jaxpg.cli.main``): the runs go to
``runs/gallery/`` (git ignores ``runs/``; ``--overwrite`` replaces the previous ones) and the
pictures to ``docs/gallery/``. ``COMMANDS`` is the list docs/gallery.md shows, in the same order
(``tests/test_plotting.py`` checks that they agree). The training runs are small on purpose (a
few seeds, tens of updates): the pictures show what ``jaxpg plot`` draws, not results.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "gallery"

TRAIN = [
    "jaxpg train --env CartPole-v1 --seeds 8 --updates 60 --eval-every 6 --eval-episodes 8 "
    "--out runs/gallery/cartpole --overwrite --quiet",
    "jaxpg train --env CartPole-v1 --seeds 8 --updates 60 --eval-every 6 --eval-episodes 8 --lr 3e-3 "
    "--out runs/gallery/cartpole-lr3e-3 --overwrite --quiet",
    "jaxpg train --env Pixelcopter-v0 --seeds 4 --updates 300 --eval-episodes 8 "
    "--out runs/gallery/pixelcopter --overwrite --quiet",
]
PLOTS = [
    "jaxpg plot runs/gallery/cartpole --pass-line 475 --dpi 100 --out docs/gallery/cartpole.png",
    "jaxpg plot runs/gallery/cartpole runs/gallery/pixelcopter --smooth 5 --dpi 100 --out docs/gallery/two-envs.png",
    "jaxpg plot runs/gallery/cartpole --metric eval --dpi 100 --out docs/gallery/eval.png",
    "jaxpg plot runs/gallery/cartpole runs/gallery/cartpole-lr3e-3 --label 'lr 1e-2' --label 'lr 3e-3' "
    "--size 3.4,2.4 --font-size 7 --ylim 0,520 --dpi 200 --out docs/gallery/column.png",
]
COMMANDS = TRAIN + PLOTS


def run(command: str) -> None:
    """Runs one ``jaxpg ...`` command line in this process; a non-zero exit stops the script."""
    from jaxpg.cli import main  # start-up order: after --help has been answered, and after the chdir

    argv = shlex.split(command)
    assert argv[0] == "jaxpg", command
    t0 = time.perf_counter()
    code = main(argv[1:])
    if code != 0:
        sys.exit(f"gallery: `{command}` exited {code}")
    print(f"[{time.perf_counter() - t0:5.1f} s] {command}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-train", action="store_true",
                        help="draw from the runs already in runs/gallery/ (default: train them first)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    OUT.mkdir(parents=True, exist_ok=True)
    for command in ([] if args.skip_train else TRAIN) + PLOTS:
        run(command)
    print("wrote:")
    for command in PLOTS:
        png = ROOT / shlex.split(command)[shlex.split(command).index("--out") + 1]
        print(f"  {png.relative_to(ROOT)}  {png.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
