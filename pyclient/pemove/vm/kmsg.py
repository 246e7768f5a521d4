"""Find kernel splats in a kernel log: BUG, WARNING, Oops, lockdep, hung tasks.

Used on the host (the console log and dmesg of a whole VM run) and in the
guest tests (the log since a per-test marker).  Lines are matched one by one;
the first offending line is what a person needs to start reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_ALLOW", "Splat", "find_splats", "first_splat"]

# What counts as the kernel reporting a problem.  The printk timestamp
# ("[   12.345678] ") and syslog prefix ("<4>") are allowed in front.
_SPLAT_PATTERNS: tuple[tuple[str, str], ...] = (
    ("bug", r"\bBUG: "),
    ("warning", r"\bWARNING: "),
    ("oops", r"\bOops\b|\bgeneral protection fault\b|\bKernel panic\b"),
    ("lockdep", r"possible recursive locking detected"),
    ("lockdep", r"possible circular locking dependency detected"),
    ("lockdep", r"INFO: inconsistent lock state"),
    ("lockdep", r"INFO: possible irq lock inversion dependency"),
    ("lockdep", r"\blockdep\b.*(?:splat|turning off|disabl)"),
    ("lockdep", r"WARNING: suspicious RCU usage"),
    ("hung_task", r"blocked for more than \d+ seconds"),
    ("rcu_stall", r"rcu: INFO: rcu_\w+ (?:self-)?detected stalls"),
    ("soft_lockup", r"\bsoft lockup\b|\bhard LOCKUP\b"),
)
_SPLAT_RE = [(kind, re.compile(p)) for kind, p in _SPLAT_PATTERNS]

#: Messages that look alarming but are expected in this harness: I/O errors
#: from dm-flakey/dm-error under a PV are what the fault tests inject.
DEFAULT_ALLOW: tuple[str, ...] = (
    r"I/O error, dev ",
    r"Buffer I/O error on dev",
    r"critical (?:medium|target) error",
)


@dataclass(frozen=True)
class Splat:
    """One offending kernel-log line.

    :ivar kind: ``bug``, ``warning``, ``oops``, ``lockdep``, ``hung_task``, ...
    :ivar lineno: 1-based line number within the scanned text
    :ivar line: the line itself, stripped
    """

    kind: str
    lineno: int
    line: str

    def __str__(self) -> str:
        return f"{self.kind} at line {self.lineno}: {self.line}"


def find_splats(
    lines: Iterable[str], allow: Sequence[str] = DEFAULT_ALLOW
) -> list[Splat]:
    """Return every line of *lines* that reports a kernel problem.

    :param lines: kernel log lines (dmesg, console log, /dev/kmsg records)
    :param allow: regular expressions; a line matching any of them is ignored
        even if it also matches a splat pattern
    """
    allow_re = [re.compile(a) for a in allow]
    found = []
    for lineno, raw in enumerate(lines, 1):
        line = raw.rstrip("\n")
        if any(a.search(line) for a in allow_re):
            continue
        for kind, rx in _SPLAT_RE:
            if rx.search(line):
                found.append(Splat(kind, lineno, line.strip()))
                break
    return found


def first_splat(text: str, allow: Sequence[str] = DEFAULT_ALLOW) -> Splat | None:
    """Return the first offending line of *text*, or None if it is clean."""
    splats = find_splats(text.splitlines(), allow)
    return splats[0] if splats else None
