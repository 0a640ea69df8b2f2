"""Training throughput of jaxpg against the alternatives, in one run (same as ``jaxpg bench``).

    python experiments/bench_throughput.py            # full grid (~15 min on 2 CPU cores)
    python experiments/bench_throughput.py --smoke    # seconds

Prints a table and writes ``experiments/results/bench-<device>-<date>.json``; see
``jaxpg/bench.py`` for what is measured and ``experiments/PERF.md`` for the analysis.
"""

import sys
from pathlib import Path

from jaxpg.cli import main

if __name__ == "__main__":
    out = ["--out", str(Path(__file__).parent / "results")] if "--out" not in sys.argv else []
    sys.exit(main(["bench", *sys.argv[1:], *out]))
