"""Benchmark 3: how long IO stalls while an extent moves under it.

A tracked LV of four LEs lives on brd disk 0.  Four fio jobs run at the same
time, each one O_DIRECT 4k IO at queue depth 1: a random writer and a random
reader on LE 0 (the one that moves) and the same pair on LE 2 (which does
not).  The run is done twice, for the same time: once idle, once while LE 0
is moved back and forth between disk 0 and disk 1 with PE_MOVE, with a
short pause between moves.  fio's completion-latency percentiles of the two
runs are compared, next to the hold time each PE_MOVE reports.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from pemove import lvs
from pemove.bench import devices, fio
from pemove.bench.common import MIB, log
from pemove.control import Control, Extent
from pemove.wait import wait_until

__all__ = ["run_stall"]

_LV = "benchst"
_LES = 4
_JOBS = (
    ("write-moving-le", "randwrite", 0),
    ("read-moving-le", "randread", 0),
    ("write-other-le", "randwrite", 2),
    ("read-other-le", "randread", 2),
)
# Pause between moves: IO gets to run unlocked between two moves.
_GAP_S = 0.05


def _argv(node: str, extent: int, runtime: float) -> list[str]:
    args = ["fio", *fio.global_args(runtime)]
    for name, rw, le in _JOBS:
        wl = fio.Workload(name, rw, "4k", 1)
        args += fio.job_args(
            name, node, wl, size=extent, offset=le * extent, stonewall=False
        )
    return args


def _wait_for_io(ctl: Control, proc: subprocess.Popen[str], timeout: float) -> float:
    """Wait until the LV has seen some IO since fio started; return when."""
    first = ctl.lv_status(_LV, le_count=0).counters.bios
    try:
        wait_until(
            lambda: (
                proc.poll() is not None
                or ctl.lv_status(_LV, le_count=0).counters.bios > first + 64
            ),
            timeout,
            "fio's IO to reach the LV",
            interval=0.05,
        )
    except TimeoutError:
        raise fio.FioError("fio did not start IO on the LV in time") from None
    if proc.poll() is not None:
        raise fio.FioError(
            f"fio exited ({proc.returncode}) before its IO reached the LV"
        )
    return time.monotonic()


def _fio(
    argv: list[str], runtime: float, ctl: Control | None, pvs: list[Extent]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run fio; with ``ctl``, move LE 0 between ``pvs`` until fio ends."""
    moves: list[dict[str, Any]] = []
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        if ctl is not None:
            # fio takes a while to start its jobs under emulation: move only
            # once IO is reaching the LV, and stop before fio's runtime ends
            # so that no move is cut short.
            start = _wait_for_io(ctl, proc, timeout=runtime + 60)
            stop = start + runtime * 0.9
            n = 0
            while time.monotonic() < stop and proc.poll() is None:
                n += 1
                t0 = time.monotonic()
                st = ctl.pe_move(_LV, 0, pvs[n % 2])
                moves.append(
                    {
                        "seconds": time.monotonic() - t0,
                        "hold_ns": st.hold_ns,
                        "copy_ns": st.copy_ns,
                        "bios_drained": st.bios_drained,
                        "bios_held": st.bios_held,
                    }
                )
                time.sleep(_GAP_S)
        out, err = proc.communicate(timeout=runtime + 120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise fio.FioError(f"fio exited {proc.returncode}: {err.strip()[:500]}")
    return fio.parse(out), moves


def run_stall(ctl: Control, extent_mib: int, runtime: float) -> dict[str, Any]:
    """Latency of IO to a moving LE and to a quiet one, idle and during moves."""
    extent = extent_mib * MIB
    disk_mib = _LES * extent_mib + 8
    with devices.brd(2, disk_mib) as disks:
        pv0, pv1 = (Extent.from_path(d) for d in disks)
        extent_sectors = extent // 512
        # LE i at disk 0, slot i + 1; slot 0 of disk 0 and of disk 1 are where
        # LE 0 goes back and forth.
        home = [
            Extent(pv0.major, pv0.minor, (i + 1) * extent_sectors)
            for i in range(_LES - 1)
        ]
        extents = [Extent(pv0.major, pv0.minor, 0), *home]
        targets = [Extent(pv0.major, pv0.minor, 0), Extent(pv1.major, pv1.minor, 0)]
        with lvs.temporary(ctl, _LV, extent_sectors, extents) as (_, node):
            argv = _argv(node, extent, runtime)
            log(f"stall: idle, {runtime:g} s")
            idle, _ = _fio(argv, runtime, None, targets)
            log(f"stall: moving {extent_mib} MiB LE 0 back and forth, {runtime:g} s")
            busy, moves = _fio(argv, runtime, ctl, targets)
    phases = [{"phase": "idle", **j} for j in idle] + [
        {"phase": "moving", **j} for j in busy
    ]
    return {
        "extent_mib": extent_mib,
        "runtime_s": runtime,
        "gap_s": _GAP_S,
        "jobs": phases,
        "moves": moves,
    }
