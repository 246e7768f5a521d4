"""Benchmark 1 (IO-path overhead) and the IOPS half of benchmark 4 (scaling).

Candidates, all over the same filled region of one brd disk:

- ``raw``: the brd device itself;
- ``dm-linear``: a device-mapper linear target over the region;
- ``pemove-notrack``: a pemove LV created with PEMOVE_LV_NOTRACK;
- ``pemove-track``: a pemove LV with in-flight tracking (the default).

Each repeat runs every candidate once, in an order rotated per repeat, so
that drift in the host's load spreads over all of them.  The two pemove LVs
cannot exist at the same time (their extents would overlap), so each
candidate's device is made, measured with every workload, and removed.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from pemove.bench import devices, fio
from pemove.control import Control, Extent

__all__ = ["CANDIDATES", "run_iopath", "run_scaling"]

CANDIDATES = ("raw", "dm-linear", "pemove-notrack", "pemove-track")

# Extent size of the IO-path LVs: LVM2's default, 4 MiB.
_EXTENT_SECTORS = 8192


def _log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _candidate(
    ctl: Control, name: str, disk: str, size: int, extent_sectors: int = _EXTENT_SECTORS
) -> Iterator[str]:
    sectors = size // 512
    if name == "raw":
        yield disk
    elif name == "dm-linear":
        with devices.dm_linear("bench", disk, sectors) as node:
            yield node
    else:
        count = sectors // extent_sectors
        pv = Extent.from_path(disk)
        extents = [Extent(pv.major, pv.minor, i * extent_sectors) for i in range(count)]
        with devices.pemove_lv(
            ctl, "bench", extent_sectors, extents, notrack=name == "pemove-notrack"
        ) as (_, node):
            yield node


def _fio(
    node: str,
    workloads: Sequence[fio.Workload],
    size: int,
    runtime: float,
    ramp: float,
) -> list[dict[str, Any]]:
    args = fio.global_args(runtime, ramp)
    for wl in workloads:
        args += fio.job_args(wl.name, node, wl, size=size)
    timeout = len(workloads) * (runtime + ramp + 20) + 60
    return fio.run(args, timeout)


def run_iopath(
    ctl: Control,
    disk: str,
    *,
    size: int,
    runtime: float,
    ramp: float,
    repeats: int,
    workloads: Sequence[fio.Workload] = fio.WORKLOADS,
) -> dict[str, Any]:
    """Run every workload on every candidate ``repeats`` times.

    :param disk: a brd node whose first ``size`` bytes are already filled
    :returns: ``{"runs": [...], "slab": {...}}``; one run per candidate,
        workload and repeat
    """
    runs: list[dict[str, Any]] = []
    slab: dict[str, int] = {}
    for rep in range(repeats):
        order = (
            CANDIDATES[rep % len(CANDIDATES) :] + CANDIDATES[: rep % len(CANDIDATES)]
        )
        for cand in order:
            _log(f"io path: repeat {rep + 1}/{repeats}, {cand}")
            with _candidate(ctl, cand, disk, size) as node:
                before = devices.meminfo()["Slab"]
                jobs = _fio(node, workloads, size, runtime, ramp)
                after = devices.meminfo()["Slab"]
            if cand == "pemove-track":
                # Slab growth across a whole fio run: per-IO allocations
                # outside the mempools would show up here.
                slab[f"rep{rep}"] = after - before
            for wl, job in zip(workloads, jobs):
                runs.append({"candidate": cand, "workload": wl.name, "rep": rep, **job})
    return {
        "size_bytes": size,
        "runtime_s": runtime,
        "ramp_s": ramp,
        "repeats": repeats,
        "extent_bytes": _EXTENT_SECTORS * 512,
        "workloads": [wl.__dict__ for wl in workloads],
        "runs": runs,
        "slab_delta_during_fio_bytes": slab,
    }


def run_scaling(
    ctl: Control,
    disk: str,
    *,
    size: int,
    le_counts: Sequence[int],
    runtime: float,
    ramp: float,
    repeats: int,
) -> dict[str, Any]:
    """IOPS of a tracked LV of ``size`` bytes split into 1 .. 65,536 LEs.

    The extent size is ``size / les``, so every LV covers the same region
    and only the number of map entries changes.  4k random reads at QD32 and
    4k random writes at QD32.
    """
    wls = [
        w for w in fio.WORKLOADS if w.name in ("randread-4k-qd32", "randwrite-4k-qd32")
    ]
    runs: list[dict[str, Any]] = []
    for rep in range(repeats):
        for les in le_counts:
            ext = size // 512 // les
            if ext % 8 or ext == 0:
                raise ValueError(
                    f"{size} bytes in {les} LEs is not a multiple of 4 KiB"
                )
            _log(f"scaling: repeat {rep + 1}/{repeats}, {les} LEs of {ext // 2} KiB")
            with _candidate(ctl, "pemove-track", disk, size, ext) as node:
                jobs = _fio(node, wls, size, runtime, ramp)
            for wl, job in zip(wls, jobs):
                runs.append(
                    {
                        "les": les,
                        "extent_bytes": ext * 512,
                        "workload": wl.name,
                        "rep": rep,
                        **job,
                    }
                )
    return {"size_bytes": size, "le_counts": list(le_counts), "runs": runs}
