"""Benchmark 1 (IO-path overhead) and the IOPS half of benchmark 4 (scaling).

Candidates, over regions of the same size on two identical brd disks:

- ``raw``: the brd device itself (disk 1, the pemove LVs' disk);
- ``dm-linear``: a device-mapper linear target over disk 0;
- ``pemove-notrack``: a pemove LV created with PEMOVE_LV_NOTRACK (disk 1);
- ``pemove-track``: a pemove LV with in-flight tracking (disk 1).

dm-linear gets its own disk because device-mapper and pemove each claim
their PVs exclusively, with different holders.  All four devices exist for
the whole phase, so each fio call runs one workload on all four candidates
back to back (stonewalled jobs, order rotated per repeat): the ratios are
taken between runs seconds apart, which is what makes them meaningful on a
loaded host.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from pemove.bench import devices, fio
from pemove.bench.common import CANDIDATES, QD32, log
from pemove.control import Control, Extent

__all__ = ["run_iopath", "run_scaling"]

# Extent size of the IO-path LVs: LVM2's default, 4 MiB.
_EXTENT_SECTORS = 8192


def run_iopath(
    ctl: Control,
    disks: Sequence[str],
    *,
    size: int,
    runtime: float,
    ramp: float,
    repeats: int,
    workloads: Sequence[fio.Workload] = fio.WORKLOADS,
) -> dict[str, Any]:
    """Run every workload on every candidate ``repeats`` times.

    :param disks: two brd nodes whose first ``2 * size`` bytes are filled
    :returns: ``{"runs": [...], ...}``: one run per candidate, workload and
        repeat
    """
    runs: list[dict[str, Any]] = []
    slab: dict[str, int] = {}
    sectors = size // 512
    count = sectors // _EXTENT_SECTORS
    pv = Extent.from_path(disks[1])

    def extents(first: int) -> list[Extent]:
        return [
            Extent(pv.major, pv.minor, first + i * _EXTENT_SECTORS)
            for i in range(count)
        ]

    with contextlib.ExitStack() as stack:
        nodes = {"raw": disks[1]}
        nodes["dm-linear"] = stack.enter_context(
            devices.dm_linear("bench", disks[0], sectors)
        )
        _, nodes["pemove-notrack"] = stack.enter_context(
            devices.lv(ctl, "benchnt", _EXTENT_SECTORS, extents(sectors), notrack=True)
        )
        _, nodes["pemove-track"] = stack.enter_context(
            devices.lv(ctl, "benchtr", _EXTENT_SECTORS, extents(0))
        )
        for rep in range(repeats):
            k = rep % len(CANDIDATES)
            order = CANDIDATES[k:] + CANDIDATES[:k]
            log(f"io path: repeat {rep + 1}/{repeats}, order {', '.join(order)}")
            for wl in workloads:
                args = fio.global_args(runtime, ramp)
                for cand in order:
                    args += fio.job_args(cand, nodes[cand], wl, size=size)
                before = devices.meminfo()["Slab"]
                jobs = fio.run(args, len(order) * (runtime + ramp + 30) + 300)
                slab[f"{rep}/{wl.name}"] = devices.meminfo()["Slab"] - before
                for cand, job in zip(order, jobs):
                    runs.append(
                        {"candidate": cand, "workload": wl.name, "rep": rep, **job}
                    )
    return {
        "size_bytes": size,
        "runtime_s": runtime,
        "ramp_s": ramp,
        "repeats": repeats,
        "extent_bytes": _EXTENT_SECTORS * 512,
        "layout": "raw and both pemove LVs on brd disk 1, dm-linear on brd disk 0",
        "workloads": [wl.__dict__ for wl in workloads],
        "runs": runs,
        # Guest-wide Slab growth across each fio call (all four candidates);
        # per-IO allocations outside the mempools would show up here.
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
    """IOPS of tracked LVs of ``size`` bytes split into 1 .. 65,536 LEs.

    The extent size is ``size / les``, so every LV is as big as the others
    and only the number of map entries differs.  The LVs live side by side
    on ``disk`` (LV ``i`` at ``i * size``, filled beforehand) and exist at
    the same time, so each fio call runs one workload on all of them back to
    back.  4k random reads and writes at QD32.
    """
    wls = [w for w in fio.WORKLOADS if w.name in QD32]
    pv = Extent.from_path(disk)
    runs: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        nodes: dict[int, str] = {}
        for i, les in enumerate(le_counts):
            ext = size // 512 // les
            if ext % 8 or ext == 0:
                raise ValueError(
                    f"{size} bytes in {les} LEs is not a multiple of 4 KiB"
                )
            base = i * size // 512
            extents = [Extent(pv.major, pv.minor, base + j * ext) for j in range(les)]
            _, nodes[les] = stack.enter_context(
                devices.lv(ctl, f"benchsc{i}", ext, extents)
            )
        for rep in range(repeats):
            k = rep % len(le_counts)
            order = list(le_counts[k:]) + list(le_counts[:k])
            log(f"scaling: repeat {rep + 1}/{repeats}")
            for wl in wls:
                args = fio.global_args(runtime, ramp)
                for les in order:
                    args += fio.job_args(f"les{les}", nodes[les], wl, size=size)
                jobs = fio.run(args, len(order) * (runtime + ramp + 30) + 300)
                for les, job in zip(order, jobs):
                    runs.append(
                        {
                            "les": les,
                            "extent_bytes": size // les,
                            "workload": wl.name,
                            "rep": rep,
                            **job,
                        }
                    )
    return {"size_bytes": size, "le_counts": list(le_counts), "runs": runs}
