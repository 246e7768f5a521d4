"""The kernel's own copy engine as the move peer: dm-kcopyd under dm-mirror.

A dm-mirror (``mirror core ...``: an in-memory log, every region out of
sync) over the same extent of the two brd disks recovers the second leg
from the first with dm-kcopyd, one region at a time: the engine under LVM2's
pvmove, without LVM2's start-up, polling and metadata commits.

Timing is from the resume that starts the recovery to the table event
dm-raid1 raises when the last region is in sync.  Both the resume and the
event wait are device-mapper ioctls issued from this process
(``DM_DEV_SUSPEND`` without the suspend flag, ``DM_DEV_WAIT``), so no
``dmsetup`` start-up is inside the timed span, and nothing polls: the wait
sleeps in the kernel until the event, and its reply carries the table
status read at that moment.  The ioctls and the timing loop are
:mod:`pemove.bench.dmctl`'s, shared with the dm-clone peer.
"""

from __future__ import annotations

from typing import Any

from pemove.bench.dmctl import DmControl, suspended, time_to_done

__all__ = [
    "DmControl",
    "mirror_table",
    "parse_mirror_status",
    "time_mirror_sync",
]


def mirror_table(
    src: str, dst: str, sectors: int, region_sectors: int, src_off: int, dst_off: int
) -> str:
    """A two-leg dm-mirror with a core log, all regions out of sync: ``dst`` is
    recovered from ``src`` (the first leg is the default mirror)."""
    return (
        f"0 {sectors} mirror core 1 {region_sectors} "
        f"2 {src} {src_off} {dst} {dst_off} 1 handle_errors"
    )


def parse_mirror_status(text: str) -> tuple[int, int]:
    """(regions in sync, regions) from a mirror's status line.

    The line reads ``2 253:0 253:1 31/32 1 AA 1 core``: the legs, then
    ``in_sync/total``.
    """
    parts = text.split()
    legs = int(parts[0])
    done, total = parts[1 + legs].split("/")
    return int(done), int(total)


def time_mirror_sync(
    src: str,
    dst: str,
    sectors: int,
    *,
    region_sectors: int,
    src_off: int = 0,
    dst_off: int = 0,
    timeout: float = 600,
) -> dict[str, Any]:
    """Seconds dm-kcopyd takes to bring ``dst`` in sync with ``src``.

    :returns: ``{"seconds", "bytes", "events", "regions"}``
    :raises TimeoutError: not in sync within ``timeout`` (guest) seconds
    """
    table = mirror_table(src, dst, sectors, region_sectors, src_off, dst_off)
    with suspended("kcopyd", table) as name, DmControl() as ctl:
        got = time_to_done(ctl, name, parse_mirror_status, timeout=timeout)
    return {
        "seconds": got["seconds"],
        "bytes": sectors * 512,
        "events": got["events"],
        "regions": got["regions"],
    }
