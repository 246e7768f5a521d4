"""The benchmark PNGs: one per phase present, none for a phase without data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pemove.bench import plots

pytest.importorskip("matplotlib")


def _phase(metric: str) -> dict[str, Any]:
    """An aggregated candidate phase: two workloads, two candidates, one missing row."""
    wls, cands = ["randread", "randwrite"], ["raw", "pemove-track"]
    rows = [
        {
            "workload": wl,
            "candidate": c,
            metric: {"median": 2.0, "min": 1.0, "max": 3.0},
        }
        for wl in wls
        for c in cands
        if (wl, c) != ("randwrite", "raw")
    ]
    return {"workloads": wls, "candidates": cands, "rows": rows, "ios": 100}


def test_candidate_phases_are_plotted(tmp_path: Path) -> None:
    agg = {
        "kernel": "6.1",
        "iocost": _phase("ns_per_io"),
        "iopath": _phase("vs_raw"),
        "move": {},
    }
    written = plots.write_plots(agg, tmp_path / "run")
    assert [p.name for p in written] == ["run-iocost.png", "run-iopath.png"]
    for path in written:
        assert path.read_bytes().startswith(b"\x89PNG")
