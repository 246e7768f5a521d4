"""The block devices the benchmarks run on: brd RAM disks, dm-linear, pemove LVs.

brd is used throughout so that the disk itself costs (almost) nothing and the
figures show the layers above it.  brd allocates its pages on first write, so
every region a benchmark reads or overwrites is filled first
(:func:`fill`): otherwise the first candidate would pay for the allocation
and reads of never-written pages would be cheaper than real ones.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator, Sequence

from pemove import discovery
from pemove.control import Control, Extent, LVInfo
from pemove.workload import dm

__all__ = [
    "MIB",
    "brd",
    "dm_linear",
    "fill",
    "meminfo",
    "pemove_lv",
    "slab_bytes",
]

MIB = 1 << 20


def _run(argv: Sequence[str]) -> None:
    res = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}"
        )


@contextlib.contextmanager
def brd(count: int, size_mib: int) -> Iterator[list[str]]:
    """Load brd with ``count`` disks of ``size_mib`` MiB; unload it afterwards.

    Unloading frees every page the disks allocated, so phases do not add up
    in guest memory.
    """
    subprocess.run(["rmmod", "brd"], capture_output=True, check=False)
    _run(["modprobe", "brd", f"rd_nr={count}", f"rd_size={size_mib * 1024}"])
    nodes = [f"/dev/ram{i}" for i in range(count)]
    deadline = time.monotonic() + 10
    while not all(os.path.exists(n) for n in nodes):
        if time.monotonic() > deadline:
            raise RuntimeError(f"brd loaded but {nodes} did not appear in /dev")
        time.sleep(0.05)
    try:
        yield nodes
    finally:
        for _ in range(50):
            if subprocess.run(["rmmod", "brd"], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)  # udev's blkid may still have a disk open


def fill(path: str, offset: int, length: int) -> None:
    """Write a non-zero pattern over ``[offset, offset + length)`` with O_DIRECT."""
    import mmap

    chunk = 4 * MIB
    buf = mmap.mmap(-1, chunk)
    buf.write(bytes(range(256)) * (chunk // 256))
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC)
    try:
        done = 0
        while done < length:
            n = min(chunk, length - done)
            with memoryview(buf)[:n] as view:
                os.pwrite(fd, view, offset + done)
            done += n
    finally:
        os.close(fd)
        buf.close()


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


def _disk_watch() -> discovery.DiskWatch:
    """A started :class:`~pemove.discovery.DiskWatch`, retried a few times.

    In the guest, pyudev's search for libudev (ctypes ``find_library``,
    which runs ``ldconfig -p`` over the host's read-only root) has been
    seen to fail now and then while the host updates its linker cache;
    one failed lookup should not cost a whole benchmark phase.
    """
    for attempt in range(5):
        watch = discovery.watch_for_disk()
        try:
            watch.start()
            return watch
        except ImportError:
            if attempt == 4:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def pemove_lv(
    ctl: Control,
    name: str,
    extent_sectors: int,
    extents: Sequence[Extent],
    *,
    notrack: bool = False,
) -> Iterator[tuple[LVInfo, str]]:
    """Create a pemove LV, wait for its node, yield ``(info, node)``, remove it."""
    with contextlib.suppress(OSError):
        ctl.lv_remove(name)
    watch = _disk_watch()
    try:
        info = ctl.lv_create(name, extent_sectors, list(extents), notrack=notrack)
        try:
            node = watch.wait(info.disk_name, timeout=30)
        except BaseException:
            ctl.lv_remove(name)
            raise
    finally:
        watch.stop()
    try:
        yield info, node
    finally:
        ctl.lv_remove_when_released(name, timeout=20)


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
