"""Writers that record, per block or file, what the system acknowledged.

Block writers
-------------
:class:`DirectWriter` writes with ``os.pwrite`` on an ``O_DIRECT`` file
descriptor, from an anonymous ``mmap`` (page aligned, as O_DIRECT needs).
A write is acknowledged only when ``pwrite`` returned the full block: for
O_DIRECT on a block device that is when the bio has completed.

Queue depth: each :class:`DirectWriter` is one thread with one synchronous
write outstanding, and ``os.pwrite`` releases the GIL for the system call,
so N writers keep N bios in flight at once, i.e. queue depth N.  Threads are
chosen over libaio or io_uring because the standard library has them, the
acknowledgement is exactly the return of one system call, and the queue
depth is visible from outside: LV_STATUS shows the LE's in-flight count,
which the in-flight scenario waits for before it moves the LE.

:class:`BufferedWriter` writes a batch of blocks through the page cache and
acknowledges the batch only when ``fsync`` on the device returned.

Every block writer owns a disjoint set of LBAs (:meth:`Ledger.claim`), writes
generations 1, 2, 3... to each, and appends every write to the
:class:`~pemove.workload.ledger.Ledger` with its submission and
acknowledgement times.  Writers stop at a :class:`threading.Event` or at a
deadline, whichever comes first, and always finish the write they started.

File writer
-----------
:class:`FileWriter` rewrites files on a mounted filesystem and acknowledges
a file's content (by its sha256) when ``fsync`` on the file returned.
:class:`Ext4Volume` makes and mounts an ext4 (journal on the same device)
and, at the end, unmounts it, runs ``e2fsck -fn`` and compares every file
with its last acknowledged content.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import random
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pemove.workload import blockfmt
from pemove.workload.blockfmt import BLOCK_SIZE
from pemove.workload.ledger import Ledger, WriteRecord

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "BufferedWriter",
    "DirectWriter",
    "Ext4Volume",
    "FileReport",
    "FileWriter",
    "direct_writers",
    "join_all",
    "partition_lbas",
    "running",
    "write_pass",
]


def partition_lbas(lbas: list[int], writers: int) -> list[list[int]]:
    """Deal ``lbas`` round-robin into ``writers`` disjoint lists."""
    return [lbas[i::writers] for i in range(writers)]


def _issue_next(
    buf: bytearray | mmap.mmap, ledger: Ledger, lba: int, writer_id: int
) -> WriteRecord:
    """Pack the next generation of ``lba`` into ``buf`` and record it as issued now.

    :returns: the ledger's record of the write, to be acknowledged when it completes
    """
    gen = len(ledger.history[lba]) + 1
    blockfmt.pack_into(buf, lba, writer_id, gen)
    return ledger.issue(lba, writer_id, gen, time.monotonic_ns())


class _Writer(threading.Thread):
    """A thread that writes until told to stop; keeps its first error."""

    def __init__(
        self, name: str, stop: threading.Event, deadline_ns: int | None, seed: int
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.stop = stop
        self.deadline_ns = deadline_ns
        self.rng = random.Random(seed)
        self.error: Exception | None = None
        self.writes = 0

    def _more(self) -> bool:
        if self.stop.is_set():
            return False
        return self.deadline_ns is None or time.monotonic_ns() < self.deadline_ns

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 -- join_all() re-raises it
            self.error = exc

    def _run(self) -> None:
        raise NotImplementedError


@dataclass(eq=False, repr=False)
class _BlockWriter(_Writer):
    """A writer of :mod:`~pemove.workload.blockfmt` blocks to the LBAs it owns.

    Its settings are dataclass fields, so that each kind of block writer
    declares only the settings of its own, after these.  Pass every
    setting after ``stop`` by keyword: dataclasses make them keyword-only
    only from Python 3.10, and pemove supports 3.9.

    :param path: the LV's device node
    :param ledger: where issues and acknowledgements are recorded
    :param writer_id: written into every block; must own ``lbas``
    :param lbas: the LBAs (in :data:`~blockfmt.BLOCK_SIZE` units) it owns
    :param stop: set to stop after the current write
    :param deadline_ns: ``time.monotonic_ns()`` after which it stops
    :param seed: seeds the order in which it picks its LBAs
    """

    KIND: ClassVar[str] = "block"

    path: str
    ledger: Ledger
    writer_id: int
    lbas: list[int]
    stop: threading.Event
    deadline_ns: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        super().__init__(
            f"{self.KIND}-{self.writer_id}", self.stop, self.deadline_ns, self.seed
        )
        if not self.lbas:
            raise ValueError("a writer needs at least one LBA")
        self.lbas = list(self.lbas)
        self.ledger.claim(self.lbas, self.writer_id)


@dataclass(eq=False, repr=False)
class DirectWriter(_BlockWriter):
    """One thread writing its LBAs with O_DIRECT, one write in flight.

    Parameters as :class:`_BlockWriter`, plus:

    :param sequential: cycle through ``lbas`` in order instead of at random
    :param tolerate: errnos a write may fail with (injected faults): the
        write stays unacknowledged, counted in ``failed``, and the writer
        goes on; any other error stops it
    """

    KIND: ClassVar[str] = "direct"

    sequential: bool = False
    tolerate: frozenset[int] = frozenset()
    failed: int = field(default=0, init=False)

    def _run(self) -> None:
        buf = mmap.mmap(-1, BLOCK_SIZE)
        fd = os.open(self.path, os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC)
        try:
            i = 0
            while self._more():
                if self.sequential:
                    lba = self.lbas[i % len(self.lbas)]
                    i += 1
                else:
                    lba = self.rng.choice(self.lbas)
                rec = _issue_next(buf, self.ledger, lba, self.writer_id)
                try:
                    done = os.pwrite(fd, buf, lba * BLOCK_SIZE)
                except OSError as exc:
                    if exc.errno not in self.tolerate:
                        raise
                    self.failed += 1
                    continue
                if done == BLOCK_SIZE:
                    rec.ack_ns = time.monotonic_ns()
                self.writes += 1
        finally:
            os.close(fd)
            buf.close()


def direct_writers(
    path: str,
    ledger: Ledger,
    parts: Sequence[list[int]],
    stop: threading.Event,
    *,
    deadline_ns: int | None = None,
    seed: int = 0,
    tolerate: frozenset[int] = frozenset(),
) -> list[DirectWriter]:
    """One :class:`DirectWriter` per part of the LBAs: writer ids 1, 2, ... and seeds ``seed``, ``seed + 1``, ..."""
    return [
        DirectWriter(
            path,
            ledger,
            i + 1,
            lbas,
            stop,
            deadline_ns=deadline_ns,
            seed=seed + i,
            tolerate=tolerate,
        )
        for i, lbas in enumerate(parts)
    ]


@dataclass(eq=False, repr=False)
class BufferedWriter(_BlockWriter):
    """One thread writing batches through the page cache, acknowledged by fsync.

    Parameters as :class:`_BlockWriter`, plus ``batch``: blocks per fsync.
    """

    KIND: ClassVar[str] = "buffered"

    batch: int = 8

    def _run(self) -> None:
        buf = bytearray(BLOCK_SIZE)
        fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            while self._more():
                picked = self.rng.sample(self.lbas, min(self.batch, len(self.lbas)))
                pending = []
                for lba in picked:
                    pending.append(_issue_next(buf, self.ledger, lba, self.writer_id))
                    if os.pwrite(fd, buf, lba * BLOCK_SIZE) != BLOCK_SIZE:
                        raise OSError(f"{self.path}: short buffered write at LBA {lba}")
                os.fsync(fd)
                now = time.monotonic_ns()
                for rec in pending:
                    rec.ack_ns = now
                self.writes += len(pending)
        finally:
            os.close(fd)


@dataclass
class FileReport:
    """What the file check found."""

    files: int = 0
    acked: int = 0
    ok: int = 0
    lost: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    fsck_rc: int | None = None
    fsck_output: str = ""

    @property
    def fsck_clean(self) -> bool:
        """``e2fsck -fn`` found nothing to fix."""
        return self.fsck_rc == 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "files": self.files,
            "acked": self.acked,
            "ok": self.ok,
            "lost": len(self.lost),
            "corrupt": len(self.corrupt),
            "first_lost": self.lost[:8],
            "first_corrupt": self.corrupt[:8],
            "fsck_rc": self.fsck_rc,
            "fsck_clean": self.fsck_clean,
            "fsck_tail": self.fsck_output[-2000:] if not self.fsck_clean else "",
        }


class FileWriter(_Writer):
    """Rewrites files under ``directory``; a content counts once ``fsync`` returned.

    :param directory: a directory on the filesystem under test
    :param files: how many files it cycles through
    :param max_bytes: largest file size; sizes are random multiples of 512
    """

    def __init__(
        self,
        directory: Path,
        stop: threading.Event,
        *,
        files: int = 16,
        max_bytes: int = 64 * 1024,
        deadline_ns: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__("files", stop, deadline_ns, seed)
        self.directory = directory
        self.names = [f"f{i:03d}" for i in range(files)]
        self.max_bytes = max_bytes
        #: file name -> sha256 of every acknowledged content, oldest first
        self.acked: dict[str, list[str]] = {}

    def _run(self) -> None:
        dirfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            while self._more():
                name = self.rng.choice(self.names)
                size = self.rng.randrange(1, self.max_bytes // 512 + 1) * 512
                data = self.rng.randbytes(size)
                new = name not in self.acked
                fd = os.open(
                    self.directory / name,
                    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                    0o644,
                )
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if new:
                    os.fsync(dirfd)  # the name is durable only with its directory
                self.acked.setdefault(name, []).append(hashlib.sha256(data).hexdigest())
                self.writes += 1
        finally:
            os.close(dirfd)

    def check(self, report: FileReport) -> None:
        """Compare every file with its last acknowledged content."""
        report.files = len(self.acked)
        report.acked = sum(len(v) for v in self.acked.values())
        for name, sums in sorted(self.acked.items()):
            path = self.directory / name
            try:
                got = hashlib.sha256(path.read_bytes()).hexdigest()
            except FileNotFoundError:
                report.lost.append(f"{name}: missing")
                continue
            if got == sums[-1]:
                report.ok += 1
            elif got in sums:
                report.lost.append(f"{name}: holds an older acknowledged content")
            else:
                report.corrupt.append(f"{name}: content was never written")


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def _must(argv: list[str]) -> None:
    res = _run(argv)
    if res.returncode != 0:
        raise RuntimeError(
            f"{argv[0]} failed ({res.returncode}): {(res.stderr or res.stdout).strip()}"
        )


class Ext4Volume:
    """An ext4 with its journal on ``device``, mounted at ``mountpoint``.

    Use as a context manager; leaving it unmounts if still mounted.
    """

    def __init__(self, device: str, mountpoint: Path) -> None:
        self.device = device
        self.mountpoint = mountpoint
        self.mounted = False

    def create(self) -> None:
        """mkfs.ext4 (internal journal, no lazy init, so no background writes) and mount."""
        _must(
            [
                "mkfs.ext4", "-q", "-F",
                "-E", "lazy_itable_init=0,lazy_journal_init=0",
                self.device,
            ]
        )  # fmt: skip
        self.mount()

    def mount(self) -> None:
        """Mount the filesystem."""
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        _must(["mount", "-t", "ext4", self.device, str(self.mountpoint)])
        self.mounted = True

    def umount(self) -> None:
        """Unmount it (which writes everything back)."""
        if self.mounted:
            _must(["umount", str(self.mountpoint)])
            self.mounted = False

    def check(self, writer: FileWriter) -> FileReport:
        """Unmount, ``e2fsck -fn``, mount again and compare every file."""
        report = FileReport()
        self.umount()
        res = _run(["e2fsck", "-fn", self.device])
        report.fsck_rc = res.returncode
        report.fsck_output = res.stdout + res.stderr
        self.mount()
        writer.check(report)
        return report

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.umount()
        except RuntimeError:
            pass


#: How often :func:`write_pass` writes one LBA whose writes fail with a
#: tolerated errno before it gives up.
PASS_ATTEMPTS = 20


def write_pass(
    path: str,
    ledger: Ledger,
    writer_id: int,
    lbas: list[int],
    *,
    buffered: bool = False,
    tolerate: frozenset[int] = frozenset(),
) -> None:
    """Write the next generation of each of ``lbas`` once, in order.

    The caller must have claimed ``lbas`` for ``writer_id``.  With O_DIRECT
    (the default) each write is acknowledged when ``pwrite`` returned the
    full block; ``buffered`` writes them all through the page cache and
    acknowledges them together when ``fsync`` returned.  An O_DIRECT write
    that fails with an errno in ``tolerate`` (an injected fault) stays
    unacknowledged, and the LBA is written again with the next generation,
    up to ``PASS_ATTEMPTS`` times, so every LBA leaves the pass known.
    """
    buf = mmap.mmap(-1, BLOCK_SIZE)
    flags = os.O_WRONLY | os.O_CLOEXEC | (0 if buffered else os.O_DIRECT)
    fd = os.open(path, flags)
    try:
        pending = []
        for lba in lbas:
            for attempt in range(1, PASS_ATTEMPTS + 1):
                rec = _issue_next(buf, ledger, lba, writer_id)
                try:
                    done = os.pwrite(fd, buf, lba * BLOCK_SIZE)
                except OSError as exc:
                    if buffered or exc.errno not in tolerate:
                        raise
                    if attempt == PASS_ATTEMPTS:
                        raise OSError(
                            exc.errno,
                            f"{path}: LBA {lba} failed {attempt} writes in a row",
                        ) from exc
                    continue
                if done != BLOCK_SIZE:
                    raise OSError(f"{path}: short write at LBA {lba}")
                break
            if buffered:
                pending.append(rec)
            else:
                rec.ack_ns = time.monotonic_ns()
        if buffered:
            os.fsync(fd)
            now = time.monotonic_ns()
            for rec in pending:
                rec.ack_ns = now
    finally:
        os.close(fd)
        buf.close()


@contextlib.contextmanager
def running(threads: Sequence[_Writer], stop: threading.Event) -> Iterator[None]:
    """Start ``threads`` for the ``with`` block; then set ``stop`` and :func:`join_all`."""
    for t in threads:
        t.start()
    try:
        yield
    finally:
        stop.set()
        join_all(threads)


def join_all(threads: Sequence[_Writer]) -> None:
    """Join ``threads``; raise the first error one of them hit."""
    for t in threads:
        t.join()
    for t in threads:
        if t.error is not None:
            raise RuntimeError(f"writer {t.name} failed: {t.error}") from t.error
