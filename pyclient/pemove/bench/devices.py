"""The block devices the benchmarks run on: brd RAM disks, dm-linear, pemove LVs.

brd is used throughout so that the disk itself costs (almost) nothing and the
figures show the layers above it.  brd allocates its pages on first write, so
every region a benchmark reads or overwrites is filled first
(:func:`pemove.workload.blockdev.fill`): otherwise the first candidate would
pay for the allocation and reads of never-written pages would be cheaper
than real ones.  pemove LVs come from :func:`pemove.lvs.temporary`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Sequence

from pemove import lvs
from pemove.bench.common import MIB
from pemove.control import Control, Extent, LVInfo
from pemove.vm import guest
from pemove.wait import wait_until
from pemove.workload import blockdev, dm

__all__ = ["NODE_TIMEOUT", "brd", "dm_linear", "lv", "meminfo", "slab_bytes"]

#: Seconds (guest time) to wait for a new LV's node.  Long, because in a
#: deterministic boot (``-icount ...,sleep=off``) the guest clock jumps ahead
#: whenever the guest idles, e.g. while udev waits for the host's 9p file
#: server: the default 60 s ran out in the runs of 2026-12-02.
NODE_TIMEOUT = 900.0


def _run(argv: Sequence[str]) -> None:
    res = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}"
        )


@contextlib.contextmanager
def brd(count: int, size_mib: int, *, filled: int | None = None) -> Iterator[list[str]]:
    """Load brd with ``count`` disks of ``size_mib`` MiB; unload it afterwards.

    :param filled: bytes at the start of each disk to fill with a non-zero
        pattern first (None: the whole disk), so no candidate pays for brd
        allocating its pages; 0 fills nothing

    Unloading frees every page the disks allocated, so phases do not add up
    in guest memory.
    """
    with contextlib.suppress(OSError):  # a brd left by an earlier phase or run
        guest.delete_module("brd")
    _run(["modprobe", "brd", f"rd_nr={count}", f"rd_size={size_mib * 1024}"])
    nodes = [f"/dev/ram{i}" for i in range(count)]
    wait_until(
        lambda: all(os.path.exists(n) for n in nodes), 10, f"{', '.join(nodes)} in /dev"
    )
    try:
        for node in nodes:
            blockdev.fill(node, 0, size_mib * MIB if filled is None else filled)
        yield nodes
    finally:
        # udev's blkid may still have a disk open for a moment.
        with contextlib.suppress(OSError):
            guest.unload_when_released("brd", timeout=10)


@contextlib.contextmanager
def dm_linear(name: str, dev: str, sectors: int, offset: int = 0) -> Iterator[str]:
    """A dm-linear device over ``dev``; yields its node."""
    with contextlib.suppress(dm.DmError):
        dm.remove(f"{dm.PREFIX}-{name}")
    d = dm.create(name, dm.linear_table(dev, sectors, offset))
    try:
        yield d.node
    finally:
        dm.remove(d.name)


def lv(
    ctl: Control,
    name: str,
    extent_sectors: int,
    extents: Sequence[Extent],
    *,
    notrack: bool = False,
) -> contextlib.AbstractContextManager[tuple[LVInfo, str]]:
    """:func:`pemove.lvs.temporary` with the bench's node and removal timeouts."""
    return lvs.temporary(
        ctl,
        name,
        extent_sectors,
        extents,
        notrack=notrack,
        timeout=NODE_TIMEOUT,
        remove_timeout=NODE_TIMEOUT,
    )


def slab_bytes() -> dict[str, int]:
    """Bytes in use per slab cache, from /proc/slabinfo (active objects x size)."""
    out: dict[str, int] = {}
    with open("/proc/slabinfo") as f:
        for line in f:
            if line.startswith(("slabinfo", "#")):
                continue
            parts = line.split()
            if len(parts) > 3:
                out[parts[0]] = int(parts[1]) * int(parts[3])
    return out


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    out: dict[str, int] = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            fields = rest.split()
            if fields:
                out[key] = int(fields[0]) * (1024 if fields[1:] == ["kB"] else 1)
    return out
