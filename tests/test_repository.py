"""The repository stays lean and self-contained: results are summaries, not checkpoints or logs."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
MAX_RESULTS_BYTES = 2_000_000


def _tracked(under: Path) -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z", str(under.relative_to(ROOT))], cwd=ROOT, capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")  # e.g. an sdist; the clone CI tests is one
    return [ROOT / p for p in out.decode().split("\0") if p]


def test_results_are_small_and_hold_no_checkpoints_or_logs():
    files = _tracked(RESULTS)
    assert files, "experiments/results is empty"
    total = sum(p.stat().st_size for p in files if p.exists())
    assert total <= MAX_RESULTS_BYTES, f"experiments/results tracks {total:,} bytes (limit {MAX_RESULTS_BYTES:,})"
    bad = [str(p.relative_to(ROOT)) for p in files
           if "checkpoints" in p.parts or p.suffix in (".log", ".npz", ".msgpack") or "ocdbt" in str(p)]
    assert not bad, f"checkpoints or logs are tracked: {bad[:5]}"


def test_every_results_directory_says_how_to_regenerate_it():
    for d in sorted(p for p in RESULTS.iterdir() if p.is_dir()):
        readme = d / "README.md"
        assert readme.is_file(), f"{d.relative_to(ROOT)} has no README.md"
        text = readme.read_text()
        assert "python experiments/" in text or "jaxpg " in text, f"{readme.relative_to(ROOT)} names no command"


def test_every_results_json_names_its_script():
    scripts = {p.stem.replace("_", "-") for p in (ROOT / "experiments").glob("*.py")}
    for p in sorted(RESULTS.glob("*.json")):
        # <script name with dashes>-<backend>-<date>.json, e.g. bench-env-cpu-2026-11-24.json
        stem = p.stem.rsplit("-", 4)[0]
        assert stem in scripts | {"bench"}, f"{p.name}: no experiments/{stem.replace('-', '_')}.py makes it"
