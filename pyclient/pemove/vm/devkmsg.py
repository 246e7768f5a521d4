"""The kernel log read from ``/dev/kmsg``: no ``dmesg`` process, no marker search.

Inside a pemove VM every fork costs seconds under TCG, so the guest entry
(saving ``dmesg.txt``) and the guest tests (the log of each test) read the
records directly.  A :class:`KernelLog` opened "from now" sees exactly the
records logged after it was opened; one opened "from the start" sees the
whole ring buffer, as ``dmesg`` does.  What counts as a kernel problem in
those lines is :mod:`pemove.vm.kmsg`'s business.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["DEV_KMSG", "KernelLog", "Record", "continues_report", "parse", "write"]

DEV_KMSG = "/dev/kmsg"
_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")
_READ_SIZE = 8192  # larger than any record (the kernel's limit is 1 KiB + dict)
# The records after a report's first line: dump_stack's header, the trace,
# its frames and registers.  Each is a record of its own.
_CONTINUATION = re.compile(
    r"^(\s|CPU: |Tainted: |Hardware name: |Call Trace:|Modules linked in:|"
    r"RIP: |Code: |R[A-Z0-9]{1,2}: |---\[ end trace)"
)


def continues_report(text: str) -> bool:
    """Whether a record's text continues a report (a stack dump) begun before it."""
    return bool(_CONTINUATION.match(text))


@dataclass(frozen=True)
class Record:
    """One kernel log record.

    :ivar level: syslog priority and facility (``prio`` field)
    :ivar seq: the record's sequence number
    :ivar usec: microseconds since boot
    :ivar text: the message, unescaped; it may hold newlines
    """

    level: int
    seq: int
    usec: int
    text: str

    def lines(self) -> list[str]:
        """The record as ``dmesg`` prints it: ``[   12.345678] text``, one line per line."""
        stamp = f"[{self.usec // 1_000_000:5d}.{self.usec % 1_000_000:06d}]"
        return [f"{stamp} {line}" for line in self.text.split("\n")]


def parse(raw: bytes) -> Record | None:
    """Parse one ``/dev/kmsg`` record (``prio,seq,usec,flags;text\\n KEY=value...``)."""
    head, sep, rest = raw.partition(b";")
    fields = head.split(b",")
    if not sep or len(fields) < 3:
        return None
    try:
        level, seq, usec = (int(f) for f in fields[:3])
    except ValueError:
        return None
    message = rest.split(b"\n", 1)[0]  # continuation lines are key=value metadata
    text = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), message)
    return Record(level, seq, usec, text.decode("utf-8", "replace"))


def write(text: str, path: str = DEV_KMSG) -> None:
    """Add a line to the kernel log (root only), e.g. a test's begin marker."""
    with open(path, "w", encoding="utf-8") as kmsg:
        kmsg.write(text + "\n")


class KernelLog:
    """Records of the kernel log, read without blocking.

    :param from_start: see the whole ring buffer; by default only the records
        logged after opening
    """

    def __init__(self, *, from_start: bool = False, path: str = DEV_KMSG) -> None:
        self._fd: int | None = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        if not from_start:
            os.lseek(self._fd, 0, os.SEEK_END)

    def read(self) -> list[Record]:
        """Every record not read yet; records the ring buffer lost meanwhile are skipped.

        So is the rest of a report whose start was lost: its stack trace
        alone would read as a report of its own (a fail-nth walk logs a
        trace per injected failure, megabytes in one test).  The VM's
        console keeps every line for the run's own judge.
        """
        if self._fd is None:
            raise ValueError("the kernel log is closed")
        records = []
        resync = False
        while True:
            try:
                raw = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return records
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # overwritten before we read it
                    resync = True
                    continue
                raise
            if not raw:
                return records
            record = parse(raw)
            if record is None or (resync and continues_report(record.text)):
                continue
            resync = False
            records.append(record)

    def lines(self) -> list[str]:
        """:meth:`read`, as ``dmesg`` lines."""
        return [line for record in self.read() for line in record.lines()]

    def close(self) -> None:
        """Stop reading."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
