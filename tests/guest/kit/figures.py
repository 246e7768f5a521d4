"""The closing figures of a guest session: faults injected, moves, bytes verified.

One :class:`Figures` per pytest session (the ``figures`` fixture); the
conftest prints it under the summary and writes it to
``$PEMOVE_RESULTS/fault-figures.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pemove.workload.blockfmt import BLOCK_SIZE
from pemove.workload.verify import Report

__all__ = ["Figures"]


@dataclass
class Figures:
    """What the fault, concurrency, memory and fuzz tests did, summed over a session."""

    injected: list[str] = field(default_factory=list)
    moves_attempted: int = 0
    moves_failed: int = 0
    bytes_verified: int = 0
    fuzz_payloads: int = 0

    def inject(self, what: str) -> None:
        """Record a fault the test injects."""
        self.injected.append(what)

    def count_move(self, *, failed: bool) -> None:
        """Record one move attempt and whether it failed."""
        self.moves_attempted += 1
        self.moves_failed += int(failed)

    @contextlib.contextmanager
    def move(self) -> Iterator[None]:
        """Count the move made in the ``with`` block; failed if the block raises."""
        try:
            yield
        except BaseException:
            self.count_move(failed=True)
            raise
        self.count_move(failed=False)

    def verified(self, report: Report) -> None:
        """Record the blocks a verifier report read back."""
        self.bytes_verified += report.checked * BLOCK_SIZE

    def line(self) -> str:
        """One line for the terminal summary: each kind of fault once, with its count."""
        kinds = ", ".join(
            what if n == 1 else f"{what} x{n}"
            for what, n in Counter(self.injected).items()
        )
        return (
            f"injected={len(self.injected)} ({kinds}) "
            f"moves attempted={self.moves_attempted} failed={self.moves_failed} "
            f"bytes verified={self.bytes_verified} fuzz payloads={self.fuzz_payloads}"
        )

    def write(self, path: Path) -> None:
        """Save the figures as JSON."""
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")
