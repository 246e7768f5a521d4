"""The progress of a multi-LE ``pemove move``: a bar on a terminal, one line per LE otherwise."""

from __future__ import annotations

from typing import TextIO

from pemove.control import Extent
from pemove.move import MoveResult

__all__ = ["Progress"]

_WIDTH = 30


class Progress:
    """Progress of ``total`` LE moves, drawn on ``stream``.

    :meth:`bytes` is the :data:`~pemove.move.ProgressCallback` of the LE being
    moved; :meth:`moved` is called once each LE is done.
    """

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.done = 0
        self.drawn = False

    def bytes(self, done: int, total: int) -> None:
        """The LE being moved has ``done`` of ``total`` bytes copied."""
        if self.tty:
            self._draw(self.done + (done / total if total else 1))

    def moved(self, le: int, dest: Extent, result: MoveResult) -> None:
        """LE ``le`` is now on ``dest``."""
        self.done += 1
        if self.tty:
            self._draw(self.done)
        elif self.total > 1:
            print(
                f"[{self.done}/{self.total}] LE {le} -> {dest} ({result.method}"
                f"{', ' + result.mode if result.mode else ''}, held "
                f"{result.stats.hold_ns / 1e6:.1f} ms, longest wait "
                f"{result.stats.max_wait_ns / 1e6:.1f} ms)",
                file=self.stream,
                flush=True,
            )

    def _draw(self, position: float) -> None:
        filled = int(_WIDTH * position / self.total)
        whole = int(position)
        part = position - whole
        now = f" ({part:.0%} of LE {whole + 1})" if part else ""
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (_WIDTH - filled)}] {whole}/{self.total} LEs{now}  "
        )
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """End the bar's line (on a terminal, if anything was drawn)."""
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
