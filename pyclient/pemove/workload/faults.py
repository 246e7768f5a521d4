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
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pemove import errors, lvs
from pemove.control import Control, Extent
from pemove.workload import dm
from pemove.workload.blockfmt import BLOCK_SIZE
from pemove.workload.ledger import Ledger
from pemove.workload.verify import Report, verify
from pemove.workload.writers import DirectWriter, join_all, partition_lbas, write_pass

__all__ = [
    "TOTALS",
    "Load",
    "Totals",
    "clean_les",
    "linear_pv",
    "move_in_thread",
    "scsi_debug_disk",
    "settle",
    "wait_node",
]


def settle() -> None:
    """Let udev finish probing new nodes, so that it does not hold them open."""
    subprocess.run(["udevadm", "settle", "--timeout=60"], check=False)


def wait_node(path: str, timeout: float = 10.0) -> None:
    """Wait for the LV's node to appear in devtmpfs.

    :raises TimeoutError: naming the node if it did not appear
    """
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout:.0f} s")
        time.sleep(0.05)


@dataclass
class Totals:
    """The closing figures, summed over one pytest session (printed at its end)."""

    injected: list[str] = field(default_factory=list)
    moves_attempted: int = 0
    moves_failed: int = 0
    bytes_verified: int = 0
    fuzz_payloads: int = 0

    def line(self) -> str:
        return (
            f"injected={len(self.injected)} ({', '.join(self.injected)}) "
            f"moves attempted={self.moves_attempted} failed={self.moves_failed} "
            f"bytes verified={self.bytes_verified} fuzz payloads={self.fuzz_payloads}"
        )


TOTALS = Totals()
QUIET_WRITER = 99  # writes the first pass of LEs without a writer


class Load:
    """O_DIRECT writers on chosen LEs of one LV, with a ledger to verify against.

    :param node: the LV's device node
    :param name: the LV's name (for the ledger)
    :param blocks_per_le: LBAs of :data:`BLOCK_SIZE` in one LE
    :param les: the LEs that get writers (every LBA of them)
    :param n_le: LEs of the LV; every LBA of all of them is written once first
    :param writers: writer threads, sharing the LBAs of ``les``
    :param seed: seeds the writers' LBA order
    """

    def __init__(
        self,
        node: str,
        name: str,
        blocks_per_le: int,
        les: list[int],
        n_le: int,
        *,
        writers: int = 2,
        seed: int = 0,
    ) -> None:
        self.node = node
        self.ledger = Ledger(name, blocks_per_le)
        self.stop = threading.Event()
        # The first pass gives every LBA a known generation, written by
        # writer 0, so the verifier can also judge LEs nobody writes later.
        busy = [le * blocks_per_le + i for le in les for i in range(blocks_per_le)]
        taken = set(busy)
        quiet = [lba for lba in range(n_le * blocks_per_le) if lba not in taken]
        self.threads: list[DirectWriter] = []
        parts = partition_lbas(busy, writers)
        for wid, lbas in enumerate(parts, start=1):
            self.ledger.claim(lbas, wid)
            write_pass(node, self.ledger, wid, lbas)
        if quiet:
            self.ledger.claim(quiet, QUIET_WRITER)
            write_pass(node, self.ledger, QUIET_WRITER, quiet)
        for wid, lbas in enumerate(parts, start=1):
            self.threads.append(
                DirectWriter(node, self.ledger, wid, lbas, self.stop, seed=seed + wid)
            )

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def writes(self) -> int:
        return sum(t.writes for t in self.threads)

    def wait_writes(self, at_least: int, timeout: float = 30.0) -> None:
        """Wait until the writers have done ``at_least`` more writes."""
        target = self.writes() + at_least
        deadline = time.monotonic() + timeout
        while self.writes() < target:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"writers made {self.writes()} writes, wanted {target}"
                )
            time.sleep(0.01)

    def abandon(self, timeout: float = 60.0) -> None:
        """Stop the writers without verifying: a failed test's cleanup, so the LV closes."""
        self.stop.set()
        for t in self.threads:
            if t.ident is not None:
                t.join(timeout)

    def finish(self, timeout: float = 120.0) -> Report:
        """Stop and join the writers (every held write must complete), then verify.

        :raises TimeoutError: a writer is still blocked after ``timeout``
        :raises RuntimeError: a writer's write failed
        """
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                raise TimeoutError(f"writer {t.name} still blocked after {timeout} s")
        join_all(self.threads)
        report = verify(self.node, self.ledger)
        TOTALS.bytes_verified += len(self.ledger.history) * BLOCK_SIZE
        return report


def clean_les(status: Any) -> bool:
    """True if no LE is locked, moving, holding or has IO in flight."""
    return all(le.state == 0 and le.inflight == 0 and le.held == 0 for le in status.les)


def linear_pv(name: str, disk: str, sectors: int, offset: int = 0) -> dm.DmDevice:
    """A linear dm device over part of ``disk``: a PV whose table can be swapped."""
    return dm.create(name, dm.linear_table(disk, sectors, offset))


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
def scsi_debug_disk(ctl: Any, *params: str) -> Iterator[ScsiDebugDisk]:
    """Load scsi_debug with ``params``; yield its one disk; unload it afterwards.

    Every LV is removed before the unload, because an LV with an extent on the
    disk holds it open.  Debugfs is mounted for the error file if it is not.
    """
    if os.path.exists("/sys/module/scsi_debug"):
        raise RuntimeError(
            "scsi_debug is loaded already: its parameters would not apply"
        )
    subprocess.run(["modprobe", "scsi_debug", *params], check=True)
    mounted = False
    try:
        pattern = "/sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block/*"
        deadline = time.monotonic() + 30
        while not (found := glob.glob(pattern)):
            if time.monotonic() > deadline:
                raise TimeoutError("scsi_debug made no disk within 30 s")
            time.sleep(0.1)
        settle()
        if not os.path.ismount("/sys/kernel/debug"):
            subprocess.run(
                ["mount", "-t", "debugfs", "none", "/sys/kernel/debug"], check=True
            )
            mounted = True
        hctl = Path(found[0]).parent.parent.name  # .../<h:c:t:l>/block/sdX
        yield ScsiDebugDisk("/dev/" + os.path.basename(found[0]), hctl)
    finally:
        settle()
        for info in ctl.lv_list():
            lvs.remove_when_released(ctl, info.name, timeout=30)
        if mounted:
            subprocess.run(["umount", "/sys/kernel/debug"], check=False)
        res = subprocess.run(["rmmod", "scsi_debug"], capture_output=True, text=True)
        if res.returncode:
            raise RuntimeError(f"rmmod scsi_debug failed: {res.stderr.strip()}")


def move_in_thread(
    lv: str, le: int, dest: Extent
) -> tuple[threading.Thread, dict[str, Any]]:
    """PE_MOVE of ``lv`` LE ``le`` on its own control file, in a started thread.

    The returned dict gets ``stats`` (MoveStats) or ``error`` (PemoveError).
    """
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            with Control() as ctl:
                out["stats"] = ctl.pe_move(lv, le, dest)
        except errors.PemoveError as exc:
            out["error"] = exc

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, out
