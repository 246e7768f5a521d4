"""Benchmark 3: how long IO stalls while an extent moves under it, three ways.

A tracked LV of four LEs lives on brd disk 0.  Four fio jobs run at the same
time, each one O_DIRECT 4k IO at queue depth 1: a random writer and a random
reader on LE 0 (the one that moves) and the same pair on LE 2 (which does
not).  The same probes run for the same time, in one boot:

- ``idle``: on the pemove LV, nothing moving;
- ``whole``: while LE 0 is moved back and forth between disk 0 and disk 1
  with PE_MOVE in mode ``whole``, a short pause between moves;
- ``live``: the same in mode ``live``;
- ``idle-lvm``: on an LVM2 LV of the same layout (four extents of the same
  size on disk 0, made after the pemove LV is gone), nothing moving;
- ``pvmove``: while LVM2's ``pvmove`` moves that LV's extent 0 back and
  forth (dm-raid1 underneath, 2 MiB regions).

fio's completion-latency percentiles of the runs are compared, next to the
longest wait each PE_MOVE reports (pvmove reports none).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

from pemove.bench import devices, fio
from pemove.bench.common import MIB, log
from pemove.bench.lvm import Lvm, LvmError
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


def _bios(ctl: Control) -> int:
    return ctl.lv_status(_LV, le_count=0).counters.bios


def _diskstats_ios(node: str) -> int:
    """Reads plus writes completed on ``node`` (/sys/block/X/stat)."""
    rdev = os.stat(node).st_rdev
    with open(f"/sys/dev/block/{os.major(rdev)}:{os.minor(rdev)}/stat") as f:
        fields = f.read().split()
    return int(fields[0]) + int(fields[4])


def _wait_for_io(
    count: Callable[[], int], proc: subprocess.Popen[str], timeout: float
) -> float:
    """Wait until the device has seen some IO since fio started; return when."""
    first = count()
    try:
        wait_until(
            lambda: proc.poll() is not None or count() > first + 64,
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
    argv: list[str],
    runtime: float,
    move: Callable[[int], dict[str, Any]] | None = None,
    count: Callable[[], int] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run fio; with ``move``, call ``move(n)`` (n = 1, 2, ...) until fio ends."""
    moves: list[dict[str, Any]] = []
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        if move is not None and count is not None:
            # fio takes a while to start its jobs under emulation: move only
            # once IO is reaching the LV, and stop before fio's runtime ends
            # so that no move is cut short.
            start = _wait_for_io(count, proc, timeout=runtime + 60)
            stop = start + runtime * 0.9
            n = 0
            while time.monotonic() < stop and proc.poll() is None:
                n += 1
                t0 = time.monotonic()
                got = move(n)
                moves.append({"seconds": time.monotonic() - t0, **got})
                time.sleep(_GAP_S)
        out, err = proc.communicate(timeout=runtime + 600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise fio.FioError(f"fio exited {proc.returncode}: {err.strip()[:500]}")
    return fio.parse(out), moves


def _pe_move(
    ctl: Control, pvs: list[Extent], where: list[int], mode: str
) -> Callable[[int], dict[str, Any]]:
    """A move of LE 0 to the other of ``pvs``; ``where[0]`` is where it is."""

    def move(n: int) -> dict[str, Any]:
        dest = 1 - where[0]
        st = ctl.pe_move(_LV, 0, pvs[dest], mode=mode)  # type: ignore[arg-type]
        where[0] = dest
        return {
            "mode": mode,
            "hold_ns": st.hold_ns,
            "copy_ns": st.copy_ns,
            "bios_drained": st.bios_drained,
            "bios_held": st.bios_held,
            "max_wait_ns": st.max_wait_ns,
            "switch_ns": st.switch_ns,
            "writes_mirrored": st.writes_mirrored,
            "writes_waited": st.writes_waited,
            "chunk_sectors": st.chunk_sectors,
        }

    return move


def _lvm_runs(
    disks: list[str], extent_mib: int, runtime: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The idle-lvm and pvmove runs on an LVM2 LV laid out like the pemove LV."""
    lvm = Lvm(disks)
    vg = "pemovebenchst"
    lvm.run("pvcreate", "-y", "-ff", *disks)
    try:
        lvm.run("vgcreate", "-y", "-s", f"{extent_mib}m", vg, *disks)
        lvm.run("lvcreate", "-y", "-Zn", "-l", str(_LES), "-n", "lv", vg, f"{disks[0]}")
        node = f"/dev/mapper/{vg}-lv"
        wait_until(lambda: os.path.exists(node), devices.NODE_TIMEOUT, node)
        argv = _argv(node, extent_mib * MIB, runtime)
        log(f"stall: LVM2 LV idle, {runtime:g} s")
        idle, _ = _fio(argv, runtime)

        def move(n: int) -> dict[str, Any]:
            # LE 0 is PE 0 of disk 0; it goes to PE 0 of disk 1 and back.
            src, dst = (disks[0], disks[1]) if n % 2 else (disks[1], disks[0])
            took = lvm.run("pvmove", "-i", "1", f"{src}:0", f"{dst}:0")
            return {"mode": "pvmove", "command_s": took}

        log(
            f"stall: pvmove of the {extent_mib} MiB extent back and forth, {runtime:g} s"
        )
        busy, moves = _fio(argv, runtime, move, lambda: _diskstats_ios(node))
    finally:
        with contextlib.suppress(LvmError):
            lvm.run("vgremove", "-y", "-f", vg)
        with contextlib.suppress(LvmError):
            lvm.run("pvremove", "-y", "-ff", *disks)
    return idle, busy, moves


def run_stall(
    ctl: Control, extent_mib: int, runtime: float, with_pvmove: bool = True
) -> dict[str, Any]:
    """Latency of IO to a moving LE and to a quiet one: idle, whole, live, pvmove."""
    extent = extent_mib * MIB
    disk_mib = _LES * extent_mib + 8
    jobs: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []
    errors: list[str] = []
    held: dict[str, dict[str, int]] = {}
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
        with devices.lv(ctl, _LV, extent_sectors, extents) as (_, node):
            argv = _argv(node, extent, runtime)
            log(f"stall: idle, {runtime:g} s")
            idle, _ = _fio(argv, runtime)
            jobs += [{"phase": "idle", **j} for j in idle]
            where = [0]
            for mode in ("whole", "live"):
                log(f"stall: {mode} moves of the {extent_mib} MiB LE 0, {runtime:g} s")
                before = ctl.lv_status(_LV, le_count=0).counters
                busy, mv = _fio(
                    argv,
                    runtime,
                    _pe_move(ctl, targets, where, mode),
                    lambda: _bios(ctl),
                )
                after = ctl.lv_status(_LV, le_count=0).counters
                jobs += [{"phase": mode, **j} for j in busy]
                moves += mv
                # The LV's counters across the run: bios held, reads among them.
                held[mode] = {
                    "held": after.held - before.held,
                    "reads_held": after.reads_held - before.reads_held,
                }
        if with_pvmove:
            try:
                idle, busy, mv = _lvm_runs(disks, extent_mib, runtime)
                jobs += [{"phase": "idle-lvm", **j} for j in idle]
                jobs += [{"phase": "pvmove", **j} for j in busy]
                moves += mv
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                errors.append(f"pvmove: {exc}")
                log(f"stall: pvmove failed: {exc}")
    return {
        "extent_mib": extent_mib,
        "runtime_s": runtime,
        "gap_s": _GAP_S,
        "jobs": jobs,
        "moves": moves,
        "lv_counters": held,
        "errors": errors,
    }
