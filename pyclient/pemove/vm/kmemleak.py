"""kmemleak in the guest: scan on demand, return the suspected leaks.

A debug kernel (``pemove kernel build``) has kmemleak without background
scans.  The guest entry scans after the suite and after the final rmmod
(see :func:`check`); a suspected leak fails the run, and the records are
kept in the results directory.

How kmemleak decides (Documentation/dev-tools/kmemleak.rst): an object is
reported only once it is older than 5 s and has not changed between two
scans, so :func:`scan` waits for the objects to age and scans twice.  The
report lists each object once; ``clear`` greys the ones reported so far,
so that they are not reported again (what :func:`baseline` does at boot).

A record in ``/sys/kernel/debug/kmemleak`` (6.12; 6.1 prints the addresses
in the backtrace and no crc)::

    unreferenced object 0xffff888004a1d800 (size 1024):
      comm "python3", pid 265, jiffies 4294937953
      hex dump (first 32 bytes):
        70 65 6d 6f 76 65 2d 74 72 69 67 67 65 72 00 00  pemove-trigger..
      backtrace (crc 5d3e4a21):
        __kmalloc_cache_noprof+0x2a/0x60
        pemove_trigger_write+0x1a4/0x300 [pemove_trigger]
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "KMEMLEAK",
    "Leak",
    "KmemleakError",
    "available",
    "baseline",
    "check",
    "clear",
    "parse",
    "scan",
]

DEBUGFS = Path("/sys/kernel/debug")
KMEMLEAK = DEBUGFS / "kmemleak"
#: kmemleak does not report objects younger than this (MSECS_MIN_AGE).
MIN_AGE = 5.0
REPORT_FILE = "kmemleak-{label}.txt"

_HEADER = re.compile(r"^unreferenced object (0x[0-9a-f]+) \(size (\d+)\):$")
_COMM = re.compile(
    r'^\s+comm "(.*)", pid (\d+), jiffies (\d+)(?: \(age (\d+\.\d+)s\))?$'
)
_FRAME = re.compile(r"^\s+(?:\[<[0-9a-f]+>\] )?(\S.*)$")
# Allocator frames at the top of a backtrace, skipped to name the caller.
_ALLOCATOR = re.compile(
    r"^(?:__)?(?:kmalloc|kmem_cache|kmemleak|slab|kvmalloc|kzalloc|krealloc|vmalloc"
    r"|__vmalloc|alloc_pages|__alloc|pcpu_alloc|mempool_alloc|kmalloc_trace)"
)


class KmemleakError(Exception):
    """kmemleak cannot be used (not in this kernel, or switched off)."""


@dataclasses.dataclass(frozen=True)
class Leak:
    """One suspected leak: an object no pointer in the kernel refers to.

    :ivar address: the object's address, e.g. ``0xffff888004a1d800``
    :ivar size: its size in bytes
    :ivar comm: the task that allocated it
    :ivar backtrace: the allocation's stack, innermost first
        (``pemove_trigger_write+0x1a4/0x300 [pemove_trigger]``)
    :ivar text: the record as kmemleak printed it
    """

    address: str
    size: int
    comm: str
    pid: int
    jiffies: int
    backtrace: tuple[str, ...]
    hexdump: tuple[str, ...]
    text: str

    @property
    def caller(self) -> str:
        """The first frame of the backtrace outside the allocators."""
        for frame in self.backtrace:
            if not _ALLOCATOR.match(frame):
                return frame
        return self.backtrace[0] if self.backtrace else "?"

    def involves(self, module: str) -> bool:
        """True if a frame of the allocation is in *module* (``[pemove]``)."""
        return any(f.endswith(f"[{module}]") for f in self.backtrace)


def parse(text: str) -> list[Leak]:
    """The records in the text of ``/sys/kernel/debug/kmemleak``."""
    leaks = []
    block: list[str] = []
    for line in text.splitlines() + [""]:
        if _HEADER.match(line) or not line.strip():
            if block:
                leaks.append(_parse_block(block))
            block = [line] if line.strip() else []
        elif block:
            block.append(line)
    return leaks


def _parse_block(block: list[str]) -> Leak:
    head = _HEADER.match(block[0])
    assert head is not None
    comm, pid, jiffies = "", 0, 0
    backtrace: list[str] = []
    hexdump: list[str] = []
    section = ""
    for line in block[1:]:
        m = _COMM.match(line)
        if m:
            comm, pid, jiffies = m.group(1), int(m.group(2)), int(m.group(3))
            continue
        stripped = line.strip()
        if stripped.startswith("hex dump"):
            section = "hex"
        elif stripped.startswith("backtrace"):
            section = "bt"
        elif section == "hex":
            hexdump.append(stripped)
        elif section == "bt":
            f = _FRAME.match(line)
            if f:
                backtrace.append(f.group(1).strip())
    return Leak(
        address=head.group(1),
        size=int(head.group(2)),
        comm=comm,
        pid=pid,
        jiffies=jiffies,
        backtrace=tuple(backtrace),
        hexdump=tuple(hexdump),
        text="\n".join(block),
    )


def _ensure_debugfs() -> None:
    if DEBUGFS.joinpath("kmemleak").exists() or not DEBUGFS.is_dir():
        return
    with open("/proc/mounts") as f:
        if any(line.split()[1:2] == [str(DEBUGFS)] for line in f):
            return
    subprocess.run(
        ["mount", "-t", "debugfs", "debugfs", str(DEBUGFS)],
        capture_output=True,
        check=False,
    )


def available(path: Path = KMEMLEAK) -> bool:
    """True if this kernel has kmemleak (debugfs is mounted if needed)."""
    if path == KMEMLEAK:
        _ensure_debugfs()
    return path.exists()


def _write(path: Path, command: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(command + "\n")
    except OSError as e:
        # EPERM/EBUSY: kmemleak switched itself off (e.g. its pool ran out).
        raise KmemleakError(
            f"writing {command!r} to {path} failed ({e}); kmemleak is off "
            "(see dmesg for 'kmemleak:' lines)"
        ) from None


def scan(
    path: Path = KMEMLEAK,
    *,
    min_age: float = MIN_AGE,
    scans: int = 2,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Leak]:
    """Scan now and return every suspected leak kmemleak lists.

    Waits *min_age* (plus a second) first, so objects allocated just before
    the call are old enough, then scans *scans* times (kmemleak reports an
    object only when it did not change between two scans).

    :raises KmemleakError: no kmemleak in this kernel, or it is off
    """
    if not available(path):
        raise KmemleakError(f"{path} does not exist: the kernel has no kmemleak")
    if min_age > 0:
        sleep(min_age + 1.0)
    for _ in range(scans):
        _write(path, "scan")
    return parse(path.read_text(errors="replace"))


def clear(path: Path = KMEMLEAK) -> None:
    """Forget the leaks reported so far (they are not reported again)."""
    _write(path, "clear")


def baseline(path: Path = KMEMLEAK) -> list[Leak]:
    """At boot: scan, then clear, so only leaks from now on are reported.

    :returns: what was found (the kernel's own boot-time suspects)
    """
    if not available(path):
        return []
    leaks = scan(path, min_age=0.0)
    clear(path)
    return leaks


def check(
    results: Path, label: str, path: Path = KMEMLEAK, min_age: float = MIN_AGE
) -> str | None:
    """Scan; keep the records in ``<results>/kmemleak-<label>.txt``.

    For the guest entry (after the command, after the final rmmod).

    :returns: None if kmemleak is absent or found nothing, else a one-line
        error naming the file with the backtraces
    """
    if not available(path):
        return None
    try:
        leaks = scan(path, min_age=min_age)
    except KmemleakError as e:
        return str(e)
    if not leaks:
        return None
    report = results / REPORT_FILE.format(label=label)
    report.write_text("\n\n".join(leak.text for leak in leaks) + "\n")
    first = leaks[0]
    return (
        f"kmemleak: {len(leaks)} suspected memory leak(s) {label}, first "
        f"{first.size} bytes allocated by {first.comm!r} at {first.caller}; "
        f"backtraces in {report}"
    )
