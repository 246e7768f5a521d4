"""`make test` collects tests/ as one rootdir-relative tree without packages.

pytest's default import mode puts each test file in sys.modules under its
basename, so a unit and a guest file of one name stop the whole collection
(CI failed that way: tests/unit/test_metadata.py beside
tests/guest/test_metadata.py).  Checking here fails in seconds, in the tier
that runs first, instead of after the deps install.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_file_basenames_are_unique_across_tiers() -> None:
    seen: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        if "__pycache__" in path.parts:
            continue
        seen[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"rename one of each: {clashes}"
