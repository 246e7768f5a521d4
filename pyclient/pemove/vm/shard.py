"""Split the guest test files across N VMs, for ``make test JOBS=N``.

Each shard is one VM boot running pytest on its files.  The files are
dealt longest first to the shard with the least work so far (the greedy
LPT rule), with a file's cost taken from the last run's JUnit times when
there is one and its size otherwise, so that the boots end at about the
same time.  A file is never split: the tests of one file share fixtures and
module state.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

__all__ = ["costs_from_junit", "plan", "recorded_costs"]


def costs_from_junit(paths: Iterable[Path]) -> dict[str, float]:
    """Seconds per test file (``tests/guest/test_x.py``) in JUnit reports.

    *paths* oldest first: a file's cost is its time in the newest report
    that ran it, not a sum over reports (a file in every report would then
    outweigh one in a single shard's report).
    """
    costs: dict[str, float] = {}
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError):
            continue
        run: dict[str, float] = {}
        for case in root.iter("testcase"):
            cls = case.get("classname") or ""
            # pytest's classname: tests.guest.test_x (or tests.guest.test_x.Class)
            parts = cls.split(".")
            name = next((p for p in parts if p.startswith("test_")), None)
            if name is None:
                continue
            key = "/".join(parts[: parts.index(name)] + [name]) + ".py"
            run[key] = run.get(key, 0.0) + float(case.get("time") or 0.0)
        costs.update(run)
    return costs


def recorded_costs(results: Path, release: str, last: int = 10) -> dict[str, float]:
    """Seconds per test file from the newest *last* runs under *results*.

    Runs on kernel *release* are used when there are any: a debug kernel
    does not slow every file alike (fault injection and lockdep cost more
    than CLI start-up), so another kernel's times would misdeal its files.
    """
    runs = sorted(results.glob(f"*/junit-{release}.xml")) or sorted(
        results.glob("*/junit-*.xml")
    )
    return costs_from_junit(runs[-last:])


def plan(
    files: Sequence[str], jobs: int, costs: Mapping[str, float] | None = None
) -> list[list[str]]:
    """*files* dealt into at most *jobs* non-empty shards of about equal cost.

    :param costs: seconds per file; a file without one costs its size in
        bytes scaled to the median known cost (or its size alone)
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    known = dict(costs or {})

    def size(f: str) -> float:
        try:
            return float(Path(f).stat().st_size)
        except OSError:
            return 1.0

    if known:
        ratio = sorted(known[f] / size(f) for f in files if f in known and size(f))
        scale = ratio[len(ratio) // 2] if ratio else 1.0
    else:
        scale = 1.0
    cost = {f: known.get(f, size(f) * scale) for f in files}
    shards: list[list[str]] = [[] for _ in range(min(jobs, len(files)) or 1)]
    load = [0.0] * len(shards)
    for f in sorted(files, key=lambda f: (-cost[f], f)):
        i = min(range(len(shards)), key=lambda i: (load[i], i))
        shards[i].append(f)
        load[i] += cost[f]
    return [sorted(s) for s in shards if s]
