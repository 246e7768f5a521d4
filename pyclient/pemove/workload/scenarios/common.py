"""What the scenarios share: the move recorder, phase timing, PE pairs, the result dict."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from pemove.control import MODES, Control, Extent
from pemove.move import DEFAULT_MODE, METHODS, move_extent
from pemove.workload.ledger import Ledger, MoveEvent
from pemove.workload.verify import Report

__all__ = [
    "LV_PREFIX",
    "MIB_SECTORS",
    "SMALL_EXTENT_SECTORS",
    "Log",
    "MoveRecorder",
    "Phases",
    "Run",
    "Slots",
    "log_stderr",
]

LV_PREFIX = "pmt-"
MIB_SECTORS = 2048
# Scenarios 1 and 2 need only one small LE: 256 KiB, 64 blocks.  Fewer
# blocks keep them quick under TCG, where each synchronous write costs ms.
SMALL_EXTENT_SECTORS = 512

Log = Callable[[str], None]


def log_stderr(msg: str) -> None:
    """The scenarios' default log: a line on stderr."""
    print(msg, file=sys.stderr, flush=True)


class MoveRecorder:
    """Moves LEs by one method (and mode) and records each move in the ledgers of its LV."""

    def __init__(self, ctl: Control, method: str, mode: str = DEFAULT_MODE) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {method!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.ctl = ctl
        self.method = method
        self.mode = mode
        self.taken: set[str] = set()
        self.moves = 0
        self.hold_ns: list[int] = []
        self.wait_ns: list[int] = []
        self.not_waited = 0

    def move(
        self, lv: str, le: int, dest: Extent, ledgers: Sequence[Ledger] = ()
    ) -> MoveEvent:
        start = time.monotonic_ns()
        result = move_extent(
            self.ctl,
            lv,
            le,
            dest,
            self.method,  # type: ignore[arg-type]
            mode=self.mode,  # type: ignore[arg-type]
        )
        event = MoveEvent(lv, le, start, time.monotonic_ns(), result.method)
        for led in ledgers:
            led.add_move(event)
        self.taken.add(result.method)
        self.moves += 1
        self.hold_ns.append(result.stats.hold_ns)
        self.wait_ns.append(result.stats.max_wait_ns)
        self.not_waited += result.stats.bios_not_waited
        return event

    def method_taken(self) -> str:
        return "+".join(sorted(self.taken)) or self.method

    def mode_taken(self) -> str | None:
        """The locked mode, or None if only the legacy method moved anything."""
        return (
            self.mode if self.taken != {"legacy"} and self.method != "legacy" else None
        )

    def stats(self) -> dict[str, Any]:
        holds = sorted(self.hold_ns)
        return {
            "hold_ms_max": round(holds[-1] / 1e6, 3) if holds else 0,
            "hold_ms_median": round(holds[len(holds) // 2] / 1e6, 3) if holds else 0,
            "wait_ms_max": round(max(self.wait_ns) / 1e6, 3) if self.wait_ns else 0,
            "bios_not_waited": self.not_waited,
        }


class Phases:
    """Seconds spent in each phase of a scenario, reported with its result."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        now = time.monotonic()
        self.seconds[phase] = round(now - self.last, 2)
        self.last = now


class Slots:
    """Each LE has a home PE on disk A and a twin on disk B; a move flips it."""

    def __init__(
        self,
        a: str,
        b: str,
        base: int,
        extent_sectors: int,
        count: int,
        b_base: int | None = None,
    ) -> None:
        b_base = base if b_base is None else b_base
        self.pes = [
            (
                Extent.from_path(a, base + i * extent_sectors),
                Extent.from_path(b, b_base + i * extent_sectors),
            )
            for i in range(count)
        ]
        self.on_b = [False] * count

    def home(self) -> list[Extent]:
        return [pair[0] for pair in self.pes]

    def flip(self, le: int) -> Extent:
        self.on_b[le] = not self.on_b[le]
        return self.pes[le][1 if self.on_b[le] else 0]


class Run:
    """One run of a scenario: its name, seed, timing and moves; it makes the result dict."""

    def __init__(
        self, name: str, ctl: Control, method: str, seed: int, mode: str = DEFAULT_MODE
    ) -> None:
        self.name = name
        self.seed = seed
        self.t0 = time.monotonic()
        self.phases = Phases()
        self.mover = MoveRecorder(ctl, method, mode)

    @property
    def label(self) -> str:
        """``name/method`` or ``name/method/mode``, for logs."""
        mode = self.mover.mode_taken()
        return f"{self.name}/{self.mover.method_taken()}" + (f"/{mode}" if mode else "")

    def result(
        self, *, acked: int, lost: int, stale: int, corrupt: int, **extra: Any
    ) -> dict[str, Any]:
        """The result dict (see :mod:`pemove.workload.scenarios`)."""
        return {
            "name": self.name,
            "method": self.mover.method_taken(),
            "mode": self.mover.mode_taken(),
            "acked": acked,
            "lost": lost,
            "stale": stale,
            "corrupt": corrupt,
            "moves": self.mover.moves,
            "seconds": round(time.monotonic() - self.t0, 2),
            "seed": self.seed,
            **self.mover.stats(),
            **extra,
        }

    def verified(self, report: Report, log: Log, **extra: Any) -> dict[str, Any]:
        """The result of a run judged by one verifier report, logged, with its phases."""
        log(f"{self.label}: {report.summary()}")
        return self.result(
            acked=report.acked,
            lost=report.lost,
            stale=report.stale,
            corrupt=report.corrupt,
            phases=self.phases.seconds,
            verify=report.to_json(),
            **extra,
        )
