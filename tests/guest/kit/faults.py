"""Shared pieces of the fault, concurrency and memory-pressure guest tests.

A fault test needs the same things each time: PVs that are device-mapper
devices (so their table can be swapped for a failing one), an LV on them,
O_DIRECT writers recording into a :class:`~pemove.workload.ledger.Ledger`
while a move runs, and afterwards the verifier plus a check that the map
and the per-LE state are what they should be.  Those pieces live here; the
tables themselves come from :mod:`pemove.workload.dm`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pemove import discovery, errors, lvs
from pemove.control import Control, Extent
from pemove.vm import guest
from pemove.wait import wait_until
from pemove.workload.ledger import Ledger
from pemove.workload.verify import Report, verify
from pemove.workload.writers import (
    direct_writers,
    join_all,
    partition_lbas,
    write_pass,
)

from kit.figures import Figures

__all__ = [
    "ONE_PASS_WRITER",
    "Load",
    "ScsiDebugDisk",
    "abandon_running",
    "clean_les",
    "move_in_thread",
    "scsi_debug_disk",
    "spawn_mover",
]

#: Owns the LBAs of the LEs no writer thread touches; writes each of them once.
ONE_PASS_WRITER = 99

#: Loads started and not yet finished or abandoned.  A test that fails
#: between :meth:`Load.start` and :meth:`Load.finish` would otherwise leave
#: its writers running: the LV stays open, and the cleanup, then every later
#: test, waits for it in vain.
_RUNNING: set[Load] = set()


def abandon_running() -> None:
    """Abandon every load a test left running (the per-test cleanup)."""
    for load in list(_RUNNING):
        load.abandon()


class Load:
    """O_DIRECT writers on chosen LEs of one LV, with a ledger to verify against.

    :param node: the LV's device node
    :param name: the LV's name (for the ledger)
    :param blocks_per_le: LBAs of :data:`BLOCK_SIZE` in one LE
    :param les: the LEs that get writers (every LBA of them)
    :param n_le: LEs of the LV; every LBA of all of them is written once first
    :param figures: the session's figures, which count the bytes verified
    :param writers: writer threads, sharing the LBAs of ``les``
    :param seed: seeds the writers' LBA order
    :param tolerate: errnos the writers' writes may fail with (see
        :class:`~pemove.workload.writers.DirectWriter`); the first pass
        writes such an LBA again, and the verifier retries such a read
    """

    def __init__(
        self,
        node: str,
        name: str,
        blocks_per_le: int,
        les: list[int],
        n_le: int,
        *,
        figures: Figures,
        writers: int = 2,
        seed: int = 0,
        tolerate: frozenset[int] = frozenset(),
    ) -> None:
        self.node = node
        self.figures = figures
        self.tolerate = tolerate
        self.ledger = Ledger(name, blocks_per_le)
        self.stop = threading.Event()
        # The first pass gives every LBA a known generation, written by its
        # owner, so the verifier can also judge LEs nobody writes later.
        busy = [le * blocks_per_le + i for le in les for i in range(blocks_per_le)]
        taken = set(busy)
        quiet = [lba for lba in range(n_le * blocks_per_le) if lba not in taken]
        parts = partition_lbas(busy, writers)
        for wid, lbas in enumerate(parts, start=1):
            self.ledger.claim(lbas, wid)
            write_pass(node, self.ledger, wid, lbas, tolerate=tolerate)
        if quiet:
            self.ledger.claim(quiet, ONE_PASS_WRITER)
            write_pass(node, self.ledger, ONE_PASS_WRITER, quiet, tolerate=tolerate)
        # Writer i (from 1) is seeded seed + i.
        self.threads = direct_writers(
            node, self.ledger, parts, self.stop, seed=seed + 1, tolerate=tolerate
        )

    def start(self) -> None:
        _RUNNING.add(self)
        for t in self.threads:
            t.start()

    def writes(self) -> int:
        return sum(t.writes for t in self.threads)

    def failed(self) -> int:
        """Writes that failed with a tolerated errno (never acknowledged)."""
        return sum(t.failed for t in self.threads)

    def wait_writes(self, at_least: int, timeout: float = 30.0) -> None:
        """Wait until the writers have done ``at_least`` more writes."""
        target = self.writes() + at_least
        wait_until(
            lambda: self.writes() >= target,
            timeout,
            f"the writers to reach {target} writes (at {self.writes()})",
            interval=0.01,
        )

    @contextlib.contextmanager
    def running(self, timeout: float = 120.0) -> Iterator[Load]:
        """The writers run for the ``with`` body; then :meth:`finish` must report clean.

        The report is kept as :attr:`report`.  If the body raises, the
        writers are abandoned instead, so that the LV closes and the body's
        failure is the one reported.
        """
        self.start()
        try:
            yield self
        except BaseException:
            self.abandon()
            raise
        self.report = self.finish(timeout)
        assert self.report.clean, self.report.summary()

    def abandon(self, timeout: float = 60.0) -> None:
        """Stop the writers without verifying: a failed test's cleanup, so the LV closes."""
        _RUNNING.discard(self)
        self.stop.set()
        for t in self.threads:
            if t.ident is not None:
                t.join(timeout)

    def finish(self, timeout: float = 120.0) -> Report:
        """Stop and join the writers (every held write must complete), then verify.

        :raises TimeoutError: a writer is still blocked after ``timeout``
        :raises RuntimeError: a writer's write failed
        """
        _RUNNING.discard(self)
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                raise TimeoutError(f"writer {t.name} still blocked after {timeout} s")
        join_all(self.threads)
        report = verify(self.node, self.ledger, retry=self.tolerate)
        self.figures.verified(report)
        return report


def clean_les(status: Any) -> bool:
    """True if no LE is locked, moving, holding or has IO in flight."""
    return all(le.state == 0 and le.inflight == 0 and le.held == 0 for le in status.les)


@dataclass(frozen=True)
class ScsiDebugDisk:
    """The disk ``modprobe scsi_debug`` made, and its per-command fault file."""

    node: str
    hctl: str

    @property
    def error_file(self) -> Path:
        """scsi_debug's per-device error injection rules (Linux 6.7+, debugfs)."""
        return Path("/sys/kernel/debug/scsi_debug") / self.hctl / "error"


@contextlib.contextmanager
def scsi_debug_disk(ctl: Control, *params: str) -> Iterator[ScsiDebugDisk]:
    """Load scsi_debug with ``params``; yield its one disk; unload it afterwards.

    Every LV is removed before the unload, because an LV with an extent on the
    disk holds it open.  Debugfs is mounted for the error file if it is not.
    """
    if os.path.exists("/sys/module/scsi_debug"):
        raise RuntimeError(
            "scsi_debug is loaded already: its parameters would not apply"
        )
    pattern = "/sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block/*"
    with discovery.watch_for_disk() as watch:
        subprocess.run(["modprobe", "scsi_debug", *params], check=True)
        mounted = False
        try:
            found = wait_until(
                lambda: glob.glob(pattern), 30, "scsi_debug's disk", interval=0.1
            )
            disk = os.path.basename(found[0])
            watch.wait(disk, timeout=60)  # udev has probed it and let it go
            if not os.path.ismount("/sys/kernel/debug"):
                subprocess.run(
                    ["mount", "-t", "debugfs", "none", "/sys/kernel/debug"], check=True
                )
                mounted = True
            hctl = Path(found[0]).parent.parent.name  # .../<h:c:t:l>/block/sdX
            yield ScsiDebugDisk("/dev/" + disk, hctl)
        finally:
            problems = lvs.remove_all(ctl, timeout=30)
            if mounted:
                subprocess.run(["umount", "/sys/kernel/debug"], check=False)
            if problems:
                raise RuntimeError("; ".join(problems))
            guest.unload_when_released("scsi_debug", timeout=30)


def move_in_thread(
    lv: str, le: int, dest: Extent, figures: Figures, mode: str = "whole"
) -> tuple[threading.Thread, dict[str, Any]]:
    """PE_MOVE of ``lv`` LE ``le`` in ``mode`` on its own control file, in a started thread.

    The returned dict gets ``stats`` (MoveStats) or ``error`` (PemoveError);
    ``figures`` counts the move.
    """
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            with Control() as ctl, figures.move():
                out["stats"] = ctl.pe_move(lv, le, dest, mode=mode)  # type: ignore[arg-type]
        except errors.PemoveError as exc:
            out["error"] = exc

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, out


_MOVER = """
import sys
from pemove.control import Control, Extent
lv, le, major, minor, sector, mode, chunk = sys.argv[1:8]
with Control() as ctl:
    print("moving", flush=True)
    ctl.pe_move(lv, int(le), Extent(int(major), int(minor), int(sector)),
                mode=mode, chunk_sectors=int(chunk))
"""


@contextlib.contextmanager
def spawn_mover(
    lv: str, le: int, dest: Extent, mode: str = "whole", chunk_sectors: int = 0
) -> Iterator[subprocess.Popen[str]]:
    """PE_MOVE in a process of its own, for a test that kills the mover.

    Yields once the process is about to issue the ioctl; killed (SIGKILL)
    and reaped on the way out if it still runs.
    """
    argv = [sys.executable, "-c", _MOVER, lv, str(le), str(dest.major)]
    argv += [str(dest.minor), str(dest.sector), mode, str(chunk_sectors)]
    mover = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert mover.stdout is not None and mover.stdout.readline() == "moving\n"
        yield mover
    finally:
        if mover.poll() is None:
            mover.send_signal(signal.SIGKILL)
            mover.wait()
