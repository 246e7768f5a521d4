"""The crash-safe move's order of ioctls and metadata writes, and what resume does in each state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from pemove import errors, recorded
from pemove.control import Extent, MoveEnd, MoveProgress, MoveStats
from pemove.metadata.model import PE, LVRecord, PendingMove

A, B = uuid.UUID(int=1), uuid.UUID(int=2)
DEVS = {A: (254, 16), B: (254, 32)}


def _ext(pv: uuid.UUID, sector: int) -> Extent:
    return Extent(*DEVS[pv], sector)


@dataclass
class FakeStore:
    record: LVRecord
    log: list[Any]

    def pe(self, extent: Extent) -> tuple[LVRecord, PE]:
        pv = next(u for u, d in DEVS.items() if d == (extent.major, extent.minor))
        rec, index = self.record.pv_index(pv)
        return rec, PE(index, extent.sector)

    def extent(self, pe: PE) -> Extent:
        return _ext(self.record.pvs[pe.pv], pe.sector)

    def update(self, record: LVRecord) -> None:
        self.record = record.compacted()
        self.log.append(
            (
                "meta",
                [str(self.extent(p)) for p in self.record.map],
                [(m.le, m.state) for m in self.record.moves],
            )
        )


@dataclass
class FakeControl:
    log: list[Any]
    state: int = 0
    pe_now: dict[int, Extent] = field(default_factory=dict)
    fail_commit: bool = False

    def pe_move(self, lv: str, le: int, dest: Extent, **kw: Any) -> MoveStats:
        self.log.append(("PE_MOVE", le, str(dest), kw["sync_only"]))
        self.state = 0x4 | 0x10
        self._dest = dest
        return MoveStats(1 << 20, 0, 1, 0, 0, synced=True)

    def pe_move_end(self, lv: str, le: int, op: str) -> MoveEnd:
        self.log.append(("END", op))
        if op == "detach":
            self.state |= 0x20
        elif op == "commit":
            if self.fail_commit:
                # The module keeps a failed detached move, writes held, for ABORT.
                raise errors.MoveIOError(5, "PE_MOVE_END", "")
            self.state = 0
            self.pe_now[le] = self._dest
        elif op == "abort":
            self.state = 0
        return MoveEnd(op, self._dest, 0, 0, 0)  # type: ignore[arg-type]

    def move_status(self, lv: str, le: int) -> MoveProgress:
        e = Extent(0, 0, 0)
        return MoveProgress(
            self.state, "live" if self.state else None, e, e, 0, 0, 0, 0, 0, 0, 0
        )

    def lv_status(self, lv: str) -> Any:
        class S:
            les = [
                type("L", (), {"pe": self.pe_now.get(i, Extent(0, 0, 0))})
                for i in range(2)
            ]

        return S()


def _record() -> LVRecord:
    return LVRecord("lv", uuid.UUID(int=9), 1, 2048, (A,), (PE(0, 2048), PE(0, 4096)))


def test_the_order_of_the_crash_safe_move() -> None:
    log: list[Any] = []
    store = FakeStore(_record(), log)
    ctl = FakeControl(log)
    recorded.move_recorded(ctl, store, 1, _ext(B, 2048))  # type: ignore[arg-type]
    src, dst = str(_ext(A, 4096)), str(_ext(B, 2048))
    assert log == [
        ("meta", [str(_ext(A, 2048)), src], [(1, "copying")]),
        ("PE_MOVE", 1, dst, True),
        ("END", "detach"),
        ("meta", [str(_ext(A, 2048)), dst], [(1, "switched")]),
        ("END", "commit"),
        ("meta", [str(_ext(A, 2048)), dst], []),
    ]
    assert store.record.pvs == (A, B) and store.record.generation == 4


def test_a_failed_commit_rolls_the_metadata_back() -> None:
    log: list[Any] = []
    store = FakeStore(_record(), log)
    ctl = FakeControl(log, fail_commit=True)
    with pytest.raises(errors.MoveIOError):
        recorded.move_recorded(ctl, store, 1, _ext(B, 2048))  # type: ignore[arg-type]
    # The source is recorded again before ABORT lets the held writes go to it.
    assert log[-3:] == [
        ("END", "commit"),
        ("meta", [str(_ext(A, 2048)), str(_ext(A, 4096))], []),
        ("END", "abort"),
    ]
    assert store.record.pvs == (A,) and ctl.state == 0


def test_resume_in_each_state() -> None:
    log: list[Any] = []
    rec = _record()
    # copying, nothing in the kernel: the whole extent is copied again
    copying = LVRecord(
        **{
            **rec.__dict__,
            "pvs": (A, B),
            "moves": (PendingMove(1, "copying", PE(1, 2048)),),
        }
    )
    store = FakeStore(copying, log)
    ctl = FakeControl(log)
    done = recorded.resume(ctl, store)  # type: ignore[arg-type]
    assert "copied again" in done[0] and ("PE_MOVE", 1, str(_ext(B, 2048)), True) in log
    assert store.record.moves == ()
    # switched, the kernel already maps the destination: only the old PE is freed
    log.clear()
    switched = LVRecord(
        **{
            **rec.__dict__,
            "pvs": (A, B),
            "map": (PE(0, 2048), PE(1, 2048)),
            "moves": (PendingMove(1, "switched", PE(0, 4096)),),
        }
    )
    store = FakeStore(switched, log)
    ctl = FakeControl(log, pe_now={1: _ext(B, 2048)})
    done = recorded.resume(ctl, store)  # type: ignore[arg-type]
    assert "freed" in done[0] and [e[0] for e in log] == ["meta"]
    # switched, a detached mirror: commit, then free
    log.clear()
    store = FakeStore(switched, log)
    ctl = FakeControl(log, state=0x4 | 0x10 | 0x20)
    ctl._dest = _ext(B, 2048)
    done = recorded.resume(ctl, store)  # type: ignore[arg-type]
    assert log[0] == ("END", "commit") and store.record.moves == ()


def test_resume_of_a_detached_mirror_whose_destination_failed_rolls_back() -> None:
    log: list[Any] = []
    rec = _record()
    switched = LVRecord(
        **{
            **rec.__dict__,
            "pvs": (A, B),
            "map": (PE(0, 2048), PE(1, 2048)),
            "moves": (PendingMove(1, "switched", PE(0, 4096)),),
        }
    )
    store = FakeStore(switched, log)
    ctl = FakeControl(log, state=0x4 | 0x10 | 0x20, fail_commit=True)
    ctl._dest = _ext(B, 2048)
    done = recorded.resume(ctl, store)  # type: ignore[arg-type]
    assert "rolled back" in done[0] and "EIO" in done[0]
    assert [e[0] if e[0] == "meta" else e[1] for e in log] == [
        "commit",
        "meta",
        "abort",
    ]
    assert store.record.map[1] == PE(0, 4096) and store.record.moves == ()
