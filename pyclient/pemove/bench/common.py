"""What the host side and the guest side of ``pemove bench`` both need to know.

The phase names, the guest's result file, the candidates and workloads the
report groups by, and the one log helper.  This module imports nothing of the
measurement code, so :mod:`pemove.bench.cli` (host) can use it without
loading the guest side.
"""

from __future__ import annotations

import sys

__all__ = [
    "CANDIDATES",
    "CLONE_TOOLS",
    "COPY_TOOLS",
    "DETERMINISTIC_PHASES",
    "STALL_RUNS",
    "GUEST_RESULT",
    "MIB",
    "PHASES",
    "QD32",
    "log",
]

MIB = 1 << 20

#: The benchmark phases, in the order the guest runs them.
PHASES = ("iocost", "iopath", "move", "stall", "scaling")

#: The phases a deterministic boot runs by default: every time there is an
#: instruction count, so the time-based (wall-clock) IO-path phase is left
#: to a wall-clock boot (``--no-deterministic --only iopath``).
DETERMINISTIC_PHASES = ("iocost", "move", "stall", "scaling")

#: The file the guest writes in ``$PEMOVE_RESULTS`` after every phase.
GUEST_RESULT = "bench-guest.json"

#: IO-path candidates: raw brd, dm-linear, pemove LVs without and with tracking.
CANDIDATES = ("raw", "dm-linear", "pemove-notrack", "pemove-track")

#: The queue-depth-32 workloads the tracking and scaling targets are judged on.
QD32 = ("randread-4k-qd32", "randwrite-4k-qd32")

#: dm-clone's background hydration, with its default settings and tuned:
#: measured only on kernels that have dm-clone (:mod:`pemove.bench.clone`).
CLONE_TOOLS = ("dm-clone", "dm-clone-tuned")

#: What copies one extent in the move phase: PE_MOVE whole and live,
#: dm-kcopyd (dm-mirror recovery), dm-clone hydration, dd O_DIRECT, LVM2's
#: pvmove.  The raw samples call this their ``method`` (a field name kept for
#: the result files already written; their ``pemove`` is today's
#: ``pemove-whole``); it is not :data:`pemove.move.METHODS`.
COPY_TOOLS = ("pemove-whole", "pemove-live", "kcopyd", *CLONE_TOOLS, "dd", "pvmove")

#: The stall phase's runs: idle and moving, pemove LV then LVM2 LV.
STALL_RUNS = ("idle", "whole", "live", "idle-lvm", "pvmove")


def log(msg: str) -> None:
    """A progress line on stderr, prefixed ``bench:``."""
    print(f"bench: {msg}", file=sys.stderr, flush=True)
