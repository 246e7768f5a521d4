"""Record a workload under dm-log-writes and replay it point by point (xfstests generic/482 style).

One log-writes device ``L`` (data on one disk, log on another) carries
every PV as a dm-linear slice, metadata areas included, so a single log
orders every write to every PV.  A :class:`Checkpoints` thread ties ledger
time to log position: it notes ``t0``, fsyncs a PV (a flush of ``L``: every
write completed before ``t0`` is logged before that flush) and then logs a
mark.  At a replay point after mark ``k``, every write acknowledged before
``t0[k]`` must be on the replayed devices.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from pemove.workload.ledger import Ledger, WriteRecord

__all__ = ["Checkpoints", "ack_cut", "dm_mark", "zero"]


def dm_mark(dm_name: str, text: str) -> None:
    """Log a mark in the dm-log-writes device ``dm_name``."""
    subprocess.run(["dmsetup", "message", dm_name, "0", "mark", text], check=True)


def zero(node: str, length: int) -> None:
    """Write zeros over the first ``length`` bytes of ``node`` and fsync."""
    chunk = bytes(1 << 20)
    fd = os.open(node, os.O_WRONLY)
    try:
        pos = 0
        while pos < length:
            pos += os.pwrite(fd, chunk[: min(len(chunk), length - pos)], pos)
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Checkpoints:
    """Every ``interval`` s: ``t0``, a flush through ``pv_node``, then mark ``c<k>`` in ``dm_name``."""

    dm_name: str
    pv_node: str
    interval: float = 0.04
    times: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    errors: list[BaseException] = field(default_factory=list)

    def once(self) -> str:
        t0 = time.monotonic_ns()
        fd = os.open(self.pv_node, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        name = f"c{len(self.times)}"
        dm_mark(self.dm_name, name)
        self.times[name] = t0
        return name

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self.once()
        except BaseException as exc:  # reported by stop()
            self.errors.append(exc)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="checkpoints", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.errors:
            raise self.errors[0]


def ack_cut(ledger: Ledger, cutoff_ns: int) -> Ledger:
    """The ledger as of ``cutoff_ns``: writes acknowledged later count as unacknowledged.

    Every write issued stays, so a newer generation that reached the disk
    before the point is still a valid block.
    """
    view = Ledger(ledger.lv, ledger.blocks_per_extent)
    view.owner = ledger.owner
    view.moves = list(ledger.moves)
    for lba, recs in ledger.history.items():
        view.history[lba] = [
            WriteRecord(
                r.gen,
                r.writer,
                r.submit_ns,
                r.ack_ns if r.ack_ns is not None and r.ack_ns < cutoff_ns else None,
            )
            for r in recs
        ]
    return view


def acked_before(ledger: Ledger, cutoff_ns: int) -> int:
    """How many writes were acknowledged before ``cutoff_ns``."""
    return sum(
        1
        for recs in ledger.history.values()
        for r in recs
        if r.ack_ns is not None and r.ack_ns < cutoff_ns
    )


def _even(points: list[int], want: int) -> set[int]:
    if len(points) <= want:
        return set(points)
    step = len(points) / want
    return {points[int(i * step)] for i in range(want)} | {points[-1]}


def spread(
    points: list[int], total: int, inside: Iterable[int], inside_max: int
) -> list[int]:
    """At least ``total`` of ``points``: up to ``inside_max`` of ``inside`` (the moves'
    windows), the rest spread evenly over the whole run."""
    chosen = _even(sorted(set(inside) & set(points)), inside_max)
    want = total - len(chosen)
    while len(chosen) < min(total, len(points)):
        chosen |= _even(points, want)
        want += total - len(chosen)
    return sorted(chosen)
