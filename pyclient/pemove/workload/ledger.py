"""What the workloads issued and what the system acknowledged, and when.

A :class:`Ledger` is the verifier's source of truth.  Each block writer owns
a disjoint set of LBAs and appends to the ledger only for its own LBAs, so
the writers need no lock: each list is only ever appended to by one thread
(CPython makes ``list.append`` and a ``dict`` store atomic).

Times are ``time.monotonic_ns()`` of the process that runs the writers and
the moves, so they compare directly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["Ledger", "MoveEvent", "WriteRecord"]


@dataclass
class WriteRecord:
    """One write of one block.

    :ivar gen: the generation written
    :ivar writer: the writer id
    :ivar submit_ns: when the system call that writes it started
    :ivar ack_ns: when the call that makes it durable returned (``pwrite`` of
        the full length on O_DIRECT, ``fsync`` for buffered IO); None if it
        never did
    """

    gen: int
    writer: int
    submit_ns: int
    ack_ns: int | None = None


@dataclass(frozen=True)
class MoveEvent:
    """One move of one LE: its time window, and the method that made it."""

    lv: str
    le: int
    start_ns: int
    end_ns: int
    method: str


@dataclass
class Ledger:
    """The write history of every tracked LBA of one LV, and its moves.

    :ivar blocks_per_extent: LBAs per LE, to find the LE an LBA lives in
    :ivar history: LBA -> writes in generation order
    :ivar owner: LBA -> writer id that owns it
    :ivar moves: every move of an LE of this LV
    """

    lv: str
    blocks_per_extent: int
    history: dict[int, list[WriteRecord]] = field(default_factory=dict)
    owner: dict[int, int] = field(default_factory=dict)
    moves: list[MoveEvent] = field(default_factory=list)
    _moves_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def claim(self, lbas: list[int], writer: int) -> None:
        """Give ``lbas`` to ``writer``; an LBA has exactly one owner."""
        for lba in lbas:
            if self.owner.setdefault(lba, writer) != writer:
                raise ValueError(
                    f"LBA {lba} already belongs to writer {self.owner[lba]}"
                )
            self.history.setdefault(lba, [])

    def issue(self, lba: int, writer: int, gen: int, submit_ns: int) -> WriteRecord:
        """Record that a write of ``gen`` to ``lba`` is being issued."""
        rec = WriteRecord(gen, writer, submit_ns)
        self.history[lba].append(rec)
        return rec

    def add_move(self, event: MoveEvent) -> None:
        """Record a finished move (thread-safe)."""
        with self._moves_lock:
            self.moves.append(event)

    def le_of(self, lba: int) -> int:
        """The LE that holds ``lba``."""
        return lba // self.blocks_per_extent

    def last_acked(self, lba: int) -> WriteRecord | None:
        """The newest acknowledged write of ``lba``, or None."""
        for rec in reversed(self.history.get(lba, ())):
            if rec.ack_ns is not None:
                return rec
        return None

    @property
    def acked(self) -> int:
        """How many writes were acknowledged."""
        return sum(
            1 for recs in self.history.values() for r in recs if r.ack_ns is not None
        )

    @property
    def issued(self) -> int:
        """How many writes were issued."""
        return sum(len(recs) for recs in self.history.values())
