"""Benchmark 2: move throughput, and the move-time half of benchmark 4.

One extent of P MiB is copied between the same two brd disks by:

- ``pemove-whole``: PE_MOVE (mode ``whole``) of LE 0 of a tracked LV,
  with no foreground IO.  Two more LEs, one on each disk, stay where they
  are, so the LV holds both PVs throughout and a move opens and closes no
  PV: the figure is the copy, not the PV's release;
- ``pemove-live``: the same in mode ``live`` (the module's default chunk);
- the PV release: the same moves of a one-extent LV, each of which empties
  its source PV.  The module closes an emptied PV before PE_MOVE returns
  (an evacuated disk is free at once), and the close waits for the PV's IO
  through a percpu_ref, whose kill costs one RCU grace period: 11.4 ms of a
  16.8 ms 4 MiB move in a deterministic 6.12 boot (ftrace,
  function_graph on pemove_pv_put: the wait_for_completion after
  call_rcu_hurry).  An evacuation pays it once per disk, not per extent, so
  it is reported beside the copy (``release_ms``) and left out of the
  copy's ratios;
- ``kcopyd``: dm-kcopyd alone, as dm-mirror's recovery with a core log and
  LVM2's 2 MiB regions, timed by the table event (:mod:`pemove.bench.kcopyd`);
- ``dm-clone`` and ``dm-clone-tuned``: dm-clone's background hydration of
  disk 1 from disk 0 (2 MiB regions; dm-clone's default one region in
  flight, and all regions in one kcopyd job), timed by its "hydrated" table
  event (:mod:`pemove.bench.clone`).  Only where the kernel has dm-clone:
  elsewhere both are recorded under ``absent`` with the reason, not as an
  error;
- ``dd`` ("userspace copy"): ``dd bs=1M iflag=direct oflag=direct conv=fsync``, the practical
  limit of a userspace copy (conv=fsync because PE_MOVE flushes its
  destination too; on brd a flush costs nothing);
- ``pvmove``: LVM2's ``pvmove -i 1`` of a P MiB LV in a VG with P MiB
  extents, timed as the whole command (its start-up, mirror set-up, copy,
  polling at 1 s intervals and metadata commit: what a user waits for).

The device limit is what a copy between the two disks can reach: fio
reading disk 0 and writing disk 1 at the same time (two jobs, 1 MiB,
libaio, for the same time) at several queue depths; per depth the lower of
the two rates, and the best depth's figure is the limit.

Samples alternate direction (disk 0 to 1, then back), so every candidate
copies in both directions equally often.  Both disks are filled first so no
candidate pays for brd allocating pages.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Sequence
from typing import Any

from pemove.bench import clone, devices, fio, kcopyd
from pemove.bench.common import CLONE_TOOLS, COPY_TOOLS, MIB, log
from pemove.bench.lvm import Lvm, LvmError
from pemove.control import Control, Extent

__all__ = ["run_moves"]

# Room for the LVM2 label, metadata area and 1 MiB data alignment.
_LVM_SLACK_MIB = 8


#: dm-raid1's region size under LVM2's pvmove (lvm.conf raid_region_size).
REGION_SECTORS = 4096

#: Queue depths the device-limit run tries.
LIMIT_QDS = (1, 4, 16)


def _pemove(
    ctl: Control,
    disks: Sequence[str],
    mib: int,
    repeats: int,
    mode: str,
    *,
    empties: bool = False,
) -> list[dict[str, Any]]:
    """``repeats`` moves of LE 0 between the disks' first extents.

    :param empties: a one-extent LV, so every move empties (and closes) its
        source PV; otherwise LEs 1 and 2 sit on the disks' second extents and
        keep both PVs held
    """
    sectors = mib * MIB // 512
    pvs = [Extent.from_path(d) for d in disks]
    extents = [pvs[0]]
    if not empties:
        extents += [Extent.from_path(d, sectors) for d in disks]
    out = []
    with devices.lv(ctl, "benchmv", sectors, extents):
        for rep in range(repeats):
            dest = pvs[(rep + 1) % 2]
            t0 = time.monotonic()
            stats = ctl.pe_move("benchmv", 0, dest, mode=mode)  # type: ignore[arg-type]
            took = time.monotonic() - t0
            out.append(
                {
                    "seconds": took,
                    "bytes": stats.bytes_copied,
                    "hold_ns": stats.hold_ns,
                    "copy_ns": stats.copy_ns,
                    "bios_drained": stats.bios_drained,
                    "bios_held": stats.bios_held,
                    "mode": stats.mode,
                    "chunk_sectors": stats.chunk_sectors,
                    "max_wait_ns": stats.max_wait_ns,
                    "switch_ns": stats.switch_ns,
                    "empties_source": empties,
                }
            )
    return out


def _kcopyd(disks: Sequence[str], mib: int, repeats: int) -> list[dict[str, Any]]:
    out = []
    for rep in range(repeats):
        src, dst = (disks[0], disks[1]) if rep % 2 == 0 else (disks[1], disks[0])
        got = kcopyd.time_mirror_sync(
            src, dst, mib * MIB // 512, region_sectors=REGION_SECTORS
        )
        out.append({**got, "region_sectors": REGION_SECTORS})
    return out


def _clone(
    disks: Sequence[str], mib: int, repeats: int, meta_sector: int, tuned: bool
) -> list[dict[str, Any]]:
    out = []
    # The metadata slice holds disk 0, so it lives only for these samples.
    with clone.metadata_slice(disks[0], meta_sector) as meta:
        for rep in range(repeats):
            src, dst = (disks[0], disks[1]) if rep % 2 == 0 else (disks[1], disks[0])
            got = clone.time_hydration(
                src,
                dst,
                mib * MIB // 512,
                region_sectors=REGION_SECTORS,
                metadata=meta,
                tuned=tuned,
            )
            out.append(got)
    return out


def device_limit(
    disks: Sequence[str], size: int, runtime: float, qds: Sequence[int] = LIMIT_QDS
) -> dict[str, Any]:
    """fio reading ``disks[0]`` while writing ``disks[1]``, 1 MiB, per queue depth.

    :returns: ``{"runs": [{"qd", "read_bps", "write_bps", "limit_bps"}],
        "limit_bps", "best_qd"}``
    """
    runs = []
    for qd in qds:
        args = fio.global_args(runtime)
        args += fio.job_args(
            "read-src", disks[0], fio.Workload("r", "read", "1M", qd),
            size=size, stonewall=False,
        )  # fmt: skip
        args += fio.job_args(
            "write-dst", disks[1], fio.Workload("w", "write", "1M", qd),
            size=size, stonewall=False,
        )  # fmt: skip
        rd, wr = fio.run(args, runtime * 4 + 300)
        runs.append(
            {
                "qd": qd,
                "read_bps": rd["bw_bytes"],
                "write_bps": wr["bw_bytes"],
                "limit_bps": min(rd["bw_bytes"], wr["bw_bytes"]),
            }
        )
    best = max(runs, key=lambda r: r["limit_bps"])
    return {
        "runtime_s": runtime,
        "bs": "1M",
        "runs": runs,
        "limit_bps": best["limit_bps"],
        "best_qd": best["qd"],
    }


def _dd(disks: Sequence[str], mib: int, repeats: int) -> list[dict[str, Any]]:
    out = []
    for rep in range(repeats):
        src, dst = (disks[0], disks[1]) if rep % 2 == 0 else (disks[1], disks[0])
        argv = [
            "dd", f"if={src}", f"of={dst}", "bs=1M", f"count={mib}",
            "iflag=direct", "oflag=direct", "conv=fsync,notrunc", "status=none",
        ]  # fmt: skip
        t0 = time.monotonic()
        res = subprocess.run(argv, capture_output=True, text=True, check=False)
        took = time.monotonic() - t0
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {res.stderr.strip()}")
        out.append({"seconds": took, "bytes": mib * MIB})
    return out


def _pvmove(disks: Sequence[str], mib: int, repeats: int) -> list[dict[str, Any]]:
    lvm = Lvm(disks)
    vg = "pemovebench"
    out = []
    lvm.run("pvcreate", "-y", "-ff", *disks)
    try:
        lvm.run("vgcreate", "-y", "-s", f"{mib}m", vg, *disks)
        # -Zn: the LV keeps the pattern blockdev.fill() wrote, so real data moves.
        lvm.run("lvcreate", "-y", "-Zn", "-L", f"{mib}m", "-n", "lv", vg, disks[0])
        for rep in range(repeats):
            src, dst = (disks[0], disks[1]) if rep % 2 == 0 else (disks[1], disks[0])
            took = lvm.run("pvmove", "-i", "1", src, dst)
            out.append({"seconds": took, "bytes": mib * MIB})
    finally:
        with contextlib.suppress(LvmError):
            lvm.run("vgremove", "-y", "-f", vg)
        with contextlib.suppress(LvmError):
            lvm.run("pvremove", "-y", "-ff", *disks)
    return out


def run_moves(
    ctl: Control,
    sizes_mib: Sequence[int],
    repeats: int,
    with_pvmove: bool = True,
    limit_runtime: float = 2.0,
) -> dict[str, Any]:
    """Move ``sizes_mib`` extents with every copy tool, ``repeats`` samples each,
    and measure the device limit.

    It loads brd itself: two disks just big enough for the largest extent.
    A copy tool the kernel lacks (dm-clone) is left out and named under
    ``absent`` with the reason.
    """
    samples: list[dict[str, Any]] = []
    errors: list[str] = []
    absent: dict[str, str] = {}
    limit: dict[str, Any] = {}
    # Two extents per disk: the moving LE's slot and a pinned LE.
    disk_mib = 2 * max(sizes_mib) + _LVM_SLACK_MIB
    # dm-clone's metadata: the last few MiB of disk 0, in the slack.
    meta_sector = (disk_mib * MIB // 512) - clone.METADATA_SECTORS
    skip: set[str] = set()
    try:
        why_no_clone = clone.missing()
    except OSError as exc:
        errors.append(f"dm-clone: cannot list the kernel's targets: {exc}")
        skip.update(CLONE_TOOLS)
    else:
        if why_no_clone is not None:
            log(f"move: dm-clone left out: {why_no_clone}")
            absent.update({tool: why_no_clone for tool in CLONE_TOOLS})
            skip.update(CLONE_TOOLS)
    with devices.brd(2, disk_mib) as disks:
        log(f"move: device limit, fio 1M read + write at QD {LIMIT_QDS}")
        try:
            limit = device_limit(disks, max(sizes_mib) * MIB, limit_runtime)
        except fio.FioError as exc:
            errors.append(f"device limit: {exc}")
        for mib in sizes_mib:
            for tool in COPY_TOOLS:
                if (tool == "pvmove" and not with_pvmove) or tool in skip:
                    continue
                log(f"move: {mib} MiB by {tool}, {repeats} samples")
                try:
                    if tool.startswith("pemove-"):
                        mode = tool[len("pemove-") :]
                        got = _pemove(ctl, disks, mib, repeats, mode)
                        got += _pemove(ctl, disks, mib, repeats, mode, empties=True)
                    elif tool == "kcopyd":
                        got = _kcopyd(disks, mib, repeats)
                    elif tool in CLONE_TOOLS:
                        tuned = tool == "dm-clone-tuned"
                        got = _clone(disks, mib, repeats, meta_sector, tuned)
                    elif tool == "dd":
                        got = _dd(disks, mib, repeats)
                    else:
                        got = _pvmove(disks, mib, repeats)
                except (
                    OSError,
                    RuntimeError,
                    subprocess.SubprocessError,
                ) as exc:
                    errors.append(f"{tool} {mib} MiB: {exc}")
                    log(f"move: {tool} {mib} MiB failed: {exc}")
                    continue
                for rep, s in enumerate(got):
                    # "method" is the samples' name for the copy tool (COPY_TOOLS).
                    samples.append({"method": tool, "pe_mib": mib, "rep": rep, **s})
    return {
        "device": "brd",
        "sizes_mib": list(sizes_mib),
        "repeats": repeats,
        "samples": samples,
        "device_limit": limit,
        "absent": absent,
        "errors": errors,
    }
