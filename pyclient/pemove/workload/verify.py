"""Read every tracked block back and say what happened to it.

Each tracked LBA gets exactly one :class:`Verdict`.  Let ``last`` be its
newest acknowledged write, and ``found`` what the block holds now.

OK
    ``found`` is a valid block of this LBA and owner whose generation was
    issued and is not older than ``last`` (a newer, unacknowledged write that
    landed is fine); or nothing was ever acknowledged and the block is zero.

LOST
    A write was acknowledged and is not there: ``found`` is older than
    ``last`` (a zero block counts as generation 0, i.e. no valid header
    where a write was acknowledged) and the first acknowledged write newer
    than ``found`` (call it ``W``) was *in flight during a move* of the LBA's
    LE: the interval from W's submission to its acknowledgement overlaps the
    move's window.  This is the 2002 in-flight race: the copy read the old
    PE, then W landed there.  ``found`` older than ``last`` with no move
    involved at all is LOST too.

STALE
    ``found`` is older than ``last``, W did not overlap any move of the LE,
    and W was acknowledged *before a move of the LE started*: W was durable
    on the old PE before the copy began, yet the copy carried older data.
    That is a cache-incoherent copy (the 2002 buffered copy through the PV's
    page cache).  LOST wins over STALE when both could apply, so the two are
    disjoint.

CORRUPT
    Data was written here but the block is not one we could have written:
    bad magic, bad checksum, wrong filler, wrong LBA (a misdirected write),
    wrong writer id, or a generation that was never issued.

The verifier reads with O_DIRECT from the LV, so no page cache sits between
it and what the PEs hold.
"""

from __future__ import annotations

import enum
import mmap
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pemove.workload import blockfmt
from pemove.workload.blockfmt import BLOCK_SIZE, Check
from pemove.workload.ledger import Ledger, MoveEvent, WriteRecord

__all__ = ["Report", "Verdict", "classify", "read_blocks", "verify"]

#: How many LBAs of each class a report lists.
FIRST_N = 8

# Blocks per O_DIRECT read of a contiguous run.
_READ_BLOCKS = 256


class Verdict(enum.Enum):
    """The class of one tracked block."""

    OK = "ok"
    LOST = "lost"
    STALE = "stale"
    CORRUPT = "corrupt"


def _overlaps(rec: WriteRecord, move: MoveEvent) -> bool:
    assert rec.ack_ns is not None
    return rec.submit_ns < move.end_ns and rec.ack_ns > move.start_ns


def classify(lba: int, data: bytes | memoryview, ledger: Ledger) -> tuple[Verdict, str]:
    """Classify one block read back from ``lba``.

    :returns: the verdict and a short reason a person can read
    """
    history = ledger.history.get(lba, [])
    last = ledger.last_acked(lba)
    state, hdr = blockfmt.check(data)
    if state is Check.ZERO:
        if last is None:
            return Verdict.OK, "never acknowledged, zero"
        # Zero is what the LBA held before generation 1: judge it as gen 0.
        return _older(lba, 0, "zero", ledger)
    if state is not Check.VALID:
        if not history:
            return Verdict.OK, f"never written here ({state.value})"
        return Verdict.CORRUPT, state.value
    if hdr.lba != lba:
        return Verdict.CORRUPT, f"holds the block of LBA {hdr.lba}"
    owner = ledger.owner.get(lba)
    if hdr.writer != owner:
        return Verdict.CORRUPT, f"written by writer {hdr.writer}, owner is {owner}"
    if not any(rec.gen == hdr.generation for rec in history):
        return Verdict.CORRUPT, f"generation {hdr.generation} was never issued"
    if last is None or hdr.generation >= last.gen:
        return Verdict.OK, f"generation {hdr.generation}"
    return _older(lba, hdr.generation, f"generation {hdr.generation}", ledger)


def _older(lba: int, gen: int, found: str, ledger: Ledger) -> tuple[Verdict, str]:
    """``lba`` holds generation ``gen`` (0: zero), older than its last acknowledged write."""
    superseding = next(
        r for r in ledger.history[lba] if r.ack_ns is not None and r.gen > gen
    )
    moves = [m for m in ledger.moves if m.le == ledger.le_of(lba)]
    why = f"{found}, but generation {superseding.gen} was acknowledged"
    if any(_overlaps(superseding, m) for m in moves):
        return Verdict.LOST, why + " while in flight during a move"
    assert superseding.ack_ns is not None
    if any(m.start_ns > superseding.ack_ns for m in moves):
        return Verdict.STALE, why + " before a move began"
    return Verdict.LOST, why


@dataclass
class Report:
    """Counts and first LBAs of each class."""

    checked: int = 0
    acked: int = 0
    counts: dict[Verdict, int] = field(
        default_factory=lambda: dict.fromkeys(Verdict, 0)
    )
    first: dict[Verdict, list[tuple[int, str]]] = field(
        default_factory=lambda: {v: [] for v in Verdict}
    )

    def add(self, lba: int, verdict: Verdict, why: str) -> None:
        """Count one classified block."""
        self.checked += 1
        self.counts[verdict] += 1
        if verdict is not Verdict.OK and len(self.first[verdict]) < FIRST_N:
            self.first[verdict].append((lba, why))

    @property
    def lost(self) -> int:
        """Blocks classified LOST."""
        return self.counts[Verdict.LOST]

    @property
    def stale(self) -> int:
        """Blocks classified STALE."""
        return self.counts[Verdict.STALE]

    @property
    def corrupt(self) -> int:
        """Blocks classified CORRUPT."""
        return self.counts[Verdict.CORRUPT]

    @property
    def clean(self) -> bool:
        """Nothing lost, stale or corrupt."""
        return self.lost == self.stale == self.corrupt == 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "checked": self.checked,
            "acked": self.acked,
            **{v.value: self.counts[v] for v in Verdict},
            "first": {
                v.value: [{"lba": lba, "why": why} for lba, why in self.first[v]]
                for v in Verdict
                if v is not Verdict.OK
            },
        }

    def summary(self) -> str:
        """One line per non-empty bad class, for a terminal."""
        lines = [
            (
                f"checked {self.checked} blocks, {self.acked} writes acknowledged: "
                f"{self.lost} lost, {self.stale} stale, {self.corrupt} corrupt"
            )
        ]
        for v in (Verdict.LOST, Verdict.STALE, Verdict.CORRUPT):
            for lba, why in self.first[v]:
                lines.append(f"  {v.value:7} LBA {lba}: {why}")
        return "\n".join(lines)


def _runs(lbas: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted LBAs as (first, count) runs of at most _READ_BLOCKS."""
    runs: list[tuple[int, int]] = []
    for lba in sorted(set(lbas)):
        if runs and runs[-1][0] + runs[-1][1] == lba and runs[-1][1] < _READ_BLOCKS:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((lba, 1))
    return runs


def _read_run(fd: int, view: memoryview, offset: int, retry: frozenset[int]) -> int:
    """preadv ``view`` at ``offset``, again after an errno in ``retry``."""
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            return os.preadv(fd, [view], offset)
        except OSError as exc:
            if exc.errno not in retry or attempt == READ_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


#: How often a read that fails with a retried errno is tried.
READ_ATTEMPTS = 20


def read_blocks(
    path: str, lbas: Iterable[int], *, retry: frozenset[int] = frozenset()
) -> dict[int, bytes]:
    """Read ``lbas`` of the device ``path`` with O_DIRECT.

    A read that fails with an errno in ``retry`` (an injected fault: reading
    changes nothing) is tried again, up to ``READ_ATTEMPTS`` times.

    :raises OSError: if the device cannot be opened or read
    """
    out: dict[int, bytes] = {}
    buf = mmap.mmap(-1, _READ_BLOCKS * BLOCK_SIZE)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    try:
        for first, count in _runs(lbas):
            want = count * BLOCK_SIZE
            view = memoryview(buf)[:want]
            got = _read_run(fd, view, first * BLOCK_SIZE, retry)
            if got != want:
                raise OSError(
                    f"{path}: short read at LBA {first}: {got} of {want} bytes"
                )
            for i in range(count):
                out[first + i] = bytes(view[i * BLOCK_SIZE : (i + 1) * BLOCK_SIZE])
            view.release()
    finally:
        os.close(fd)
        buf.close()
    return out


def verify(path: str, ledger: Ledger, *, retry: frozenset[int] = frozenset()) -> Report:
    """Read back every LBA the ledger tracks from ``path`` and classify it.

    ``retry``: errnos after which a read is tried again (:func:`read_blocks`).
    """
    report = Report(acked=ledger.acked)
    blocks = read_blocks(path, ledger.history, retry=retry)
    for lba in sorted(blocks):
        verdict, why = classify(lba, blocks[lba], ledger)
        report.add(lba, verdict, why)
    return report
