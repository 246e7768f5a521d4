"""What the scenarios share: their setting, the move recorder, phase timing, PE pairs, the result dict."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pemove import lvs
from pemove.control import MODES, Control, Extent
from pemove.move import DEFAULT_MODE, METHODS, move_extent
from pemove.workload.blockfmt import BLOCK_SIZE
from pemove.workload.ledger import Ledger, MoveEvent
from pemove.workload.verify import Report, verify

__all__ = [
    "LV_PREFIX",
    "MIB_SECTORS",
    "SMALL_EXTENT_SECTORS",
    "Log",
    "MoveRecorder",
    "Phases",
    "Race",
    "Run",
    "Setting",
    "Slots",
    "log_stderr",
]

LV_PREFIX = "pmt-"
MIB_SECTORS = 2048
# Scenarios 1 and 2 need only one small LE: 256 KiB, 64 blocks.  Fewer
# blocks keep them quick under TCG, where each synchronous write costs ms.
SMALL_EXTENT_SECTORS = 512

Log = Callable[[str], None]

#: What scenarios 1 and 2 do on their LE between setup and verify: write and
#: move it, given the LV's name, its node and the ledger of the LE (which
#: holds ``ledger.blocks_per_extent`` blocks, LBAs from 0).
Race = Callable[[str, str, Ledger], None]


def log_stderr(msg: str) -> None:
    """The scenarios' default log: a line on stderr."""
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Setting:
    """What every scenario runs with; the rest of its arguments are its own.

    :func:`pemove.workload.scenarios.run` makes one for each scenario, method
    and mode it runs, and :class:`Run` takes the name of the scenario with it.

    :ivar ctl: the open control node
    :ivar disks: raw disks the scenario uses as PVs (each says how many)
    :ivar method: how LEs are moved, one of :data:`pemove.move.METHODS`
    :ivar seed: seeds every random choice of the scenario
    :ivar mode: a locked move's mode, one of :data:`pemove.control.MODES`
    :ivar log: where progress and the summary line go
    """

    ctl: Control
    disks: Sequence[str]
    method: str
    seed: int
    mode: str = DEFAULT_MODE
    log: Log = log_stderr


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
    """One run of a scenario: its name, setting, timing and moves; it makes the result dict."""

    def __init__(self, name: str, setting: Setting) -> None:
        self.name = name
        self.setting = setting
        self.t0 = time.monotonic()
        self.phases = Phases()
        self.mover = MoveRecorder(setting.ctl, setting.method, setting.mode)

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
            "seed": self.setting.seed,
            **self.mover.stats(),
            **extra,
        }

    def one_le(self, label: str, pe: Extent, extent_sectors: int, race: Race) -> Report:
        """Scenarios 1 and 2: a one-LE LV on ``pe``; ``race`` writes and moves it; verify.

        The LV is ``pmt-<label>-<method>-<mode>``.  The phases ``setup``,
        ``write+move`` and ``verify`` are marked here; ``teardown`` is marked
        by :meth:`verified`, so the caller's own teardown counts in it.

        :returns: the verifier's report on the LE, taken before the LV goes
        """
        s = self.setting
        name = f"{LV_PREFIX}{label}-{s.method}-{s.mode}"
        with lvs.temporary(s.ctl, name, extent_sectors, [pe]) as (info, node):
            self.phases.mark("setup")
            ledger = Ledger(info.name, extent_sectors * 512 // BLOCK_SIZE)
            race(info.name, node, ledger)
            self.phases.mark("write+move")
            report = verify(node, ledger)
            self.phases.mark("verify")
        return report

    def verified(self, report: Report, **extra: Any) -> dict[str, Any]:
        """The result of a run judged by one verifier report, logged, with its phases.

        Called once everything is torn down: the time since the last mark is
        the teardown's.
        """
        self.phases.mark("teardown")
        self.setting.log(f"{self.label}: {report.summary()}")
        return self.result(
            acked=report.acked,
            lost=report.lost,
            stale=report.stale,
            corrupt=report.corrupt,
            phases=self.phases.seconds,
            verify=report.to_json(),
            **extra,
        )
