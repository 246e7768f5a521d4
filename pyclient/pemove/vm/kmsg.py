"""Find kernel splats in a kernel log: every report a debug kernel prints.

Used on the host (the console log and dmesg of a whole VM run) and in the
guest tests (the log since a per-test marker).  Lines are matched one by
one; the first offending line is what a person needs to start reading.

Each report is classified by the first pattern that matches its line, the
specific ones before the generic ``BUG:``/``WARNING:`` ones:

=================  =========================================================
kind               the kernel printed
=================  =========================================================
kasan, kfence      ``BUG: KASAN: ...``, ``BUG: KFENCE: ...``
ubsan              ``UBSAN: array-index-out-of-bounds in ...`` (framed by
                   ``====`` lines)
odebug             ``ODEBUG: free active (active state 0) object ...``
kmemleak           ``kmemleak: N new suspected memory leaks``, an
                   ``unreferenced object 0x...`` record, or kmemleak
                   switching itself off
lockdep            circular/recursive locking, inconsistent lock state, bad
                   unlock balance, suspicious RCU usage, a full lockdep
                   table (``BUG: MAX_LOCKDEP_CHAINS too low!``), ...
atomic_sleep       ``BUG: sleeping function called from invalid context``,
                   ``BUG: scheduling while atomic``
list_corruption    ``list_add corruption``, ``list_del corruption``,
                   ``list_add double add`` (DEBUG_LIST)
refcount           ``refcount_t: underflow; use-after-free.`` and friends
workqueue_lockup   ``BUG: workqueue lockup``
soft_lockup        ``BUG: soft lockup``, ``hard LOCKUP``
hung_task          ``INFO: task X blocked for more than N seconds``
rcu_stall          ``rcu: INFO: rcu_preempt detected stalls``
oops               Oops, general protection fault, kernel panic
bug                any other ``BUG: ...`` or ``kernel BUG at ...``
warning            any other ``WARNING: ...`` (WARN_ON and friends)
call_trace         a ``Call Trace:`` with no report or allowed line before
                   it (a bare ``dump_stack()``, e.g. a page allocation
                   failure); the line reported is the one before its
                   ``CPU: N PID: ...`` header
=================  =========================================================

Reports a test provokes on purpose (tests/guest/test_debug_judge.py) are
bracketed by ``pemove-kmsg: expect begin <what>`` and ``pemove-kmsg: expect
end <what>`` lines written to /dev/kmsg; :func:`find_splats` skips what is
between them, so the host's judge of the whole run does not fail on them.
A bracket also ends at the next ``pemove-test:`` marker or after
:data:`EXPECT_WINDOW` lines, so a test that dies inside one hides nothing
after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_ALLOW",
    "EXPECT_BEGIN",
    "EXPECT_END",
    "KINDS",
    "Splat",
    "find_splats",
    "first_splat",
    "stack_frames",
]

_LOCKDEP = (
    r"possible (?:recursive|circular) locking (?:dependency )?detected",
    r"(?:INFO|WARNING): inconsistent lock state",
    r"(?:INFO|WARNING): possible irq lock inversion dependency",
    r"WARNING: \S+-safe -> \S+-unsafe lock order detected",
    r"WARNING: bad unlock balance detected",
    r"WARNING: bad contention detected",
    r"WARNING: held lock freed",
    r"WARNING: lock held when returning to user space",
    r"WARNING: Nested lock was not taken",
    r"WARNING: \S+ still has locks held",
    r"WARNING: chain_key collision",
    r"WARNING: suspicious RCU usage",
    r"\bBUG: MAX_\w+ too low",
    r"\bBUG: key \S+ has not been registered",
    r"\bBUG: looking up invalid subclass",
    r"\blockdep\b.*(?:splat|turning off|disabl)",
)

# What counts as the kernel reporting a problem, in the order tried.  The
# printk timestamp ("[   12.345678] ") and syslog prefix ("<4>") are allowed
# in front.
_SPLAT_PATTERNS: tuple[tuple[str, str], ...] = (
    ("kasan", r"\bBUG: KASAN: "),
    ("kfence", r"\bBUG: KFENCE: "),
    ("ubsan", r"\bUBSAN: "),
    ("odebug", r"\bODEBUG: "),
    ("kmemleak", r"\bkmemleak: \d+ new suspected memory leaks?\b"),
    ("kmemleak", r"\bunreferenced object 0x[0-9a-f]+"),
    (
        "kmemleak",
        r"\bkmemleak: (?:Kernel memory leak detector disabled|Memory pool empty"
        r"|Cannot allocate)",
    ),
    *(("lockdep", p) for p in _LOCKDEP),
    ("atomic_sleep", r"\bBUG: sleeping function called from invalid context"),
    ("atomic_sleep", r"\bBUG: scheduling while atomic"),
    ("atomic_sleep", r"\bBUG: using \w+\(\) in preemptible"),
    ("list_corruption", r"\blist_\w+ (?:corruption|double add)\b"),
    ("refcount", r"\brefcount_t: "),
    ("workqueue_lockup", r"\bBUG: workqueue lockup\b"),
    ("soft_lockup", r"\bsoft lockup\b|\bhard LOCKUP\b"),
    ("hung_task", r"blocked for more than \d+ seconds"),
    ("rcu_stall", r"rcu: INFO: rcu_\w+ (?:self-)?detected stalls?\b"),
    ("oops", r"\bOops\b|\bgeneral protection fault\b|\bKernel panic\b"),
    ("bug", r"\bBUG: |\bkernel BUG at\b"),
    ("warning", r"\bWARNING: "),
)
_SPLAT_RE = [(kind, re.compile(p)) for kind, p in _SPLAT_PATTERNS]

#: Every kind :func:`find_splats` can return.
KINDS: tuple[str, ...] = tuple(dict.fromkeys(k for k, _ in _SPLAT_PATTERNS)) + (
    "call_trace",
)

_CALL_TRACE = re.compile(r"\bCall Trace:")
_CPU_HEADER = re.compile(r"\bCPU: \d+ (?:UID: \d+ )?PID: \d+ Comm: ")
_PREFIX = re.compile(r"^(?:<\d+>)?(?:\[\s*\d+\.\d+\]\s?)?")
#: A Call Trace this many lines after a report (or an allowed line) belongs
#: to it; lockdep's longest reports stay well within this.
TRACE_WINDOW = 400

#: Written to /dev/kmsg around a report a test provokes on purpose.
EXPECT_BEGIN = "pemove-kmsg: expect begin"
EXPECT_END = "pemove-kmsg: expect end"
#: An expect bracket never covers more lines than this.
EXPECT_WINDOW = 3000
_EXPECT_CLOSE = re.compile(re.escape(EXPECT_END) + r"|\bpemove-test: (?:begin|end) ")

#: Messages that look alarming but are expected in this harness: I/O errors
#: from dm-flakey/dm-error under a PV are what the fault tests inject, and
#: a FAULT_INJECTION report (with its stack) is printed only for a failure
#: someone armed on purpose (failslab, fail_make_request, fail-nth).
DEFAULT_ALLOW: tuple[str, ...] = (
    r"I/O error, dev ",
    r"Buffer I/O error on dev",
    r"critical (?:medium|target) error",
    r"FAULT_INJECTION: forcing a failure",
)


@dataclass(frozen=True)
class Splat:
    """One offending kernel-log line.

    :ivar kind: one of :data:`KINDS` (``kasan``, ``lockdep``, ``warning``, ...)
    :ivar lineno: 1-based line number within the scanned text
    :ivar line: the line itself, stripped
    """

    kind: str
    lineno: int
    line: str

    def __str__(self) -> str:
        return f"{self.kind} at line {self.lineno}: {self.line}"


def _classify(line: str) -> str | None:
    for kind, rx in _SPLAT_RE:
        if rx.search(line):
            return kind
    return None


def _orphan_trace(lines: Sequence[str], index: int) -> Splat:
    """The splat for a bare Call Trace at *index*: the line before its header."""
    for back in range(index - 1, max(index - 8, -1), -1):
        if _CPU_HEADER.search(lines[back]):
            if back > 0 and _PREFIX.sub("", lines[back - 1]).strip():
                return Splat("call_trace", back, lines[back - 1].strip())
            break
    return Splat("call_trace", index + 1, lines[index].strip())


def find_splats(
    lines: Iterable[str],
    allow: Sequence[str] = DEFAULT_ALLOW,
    *,
    expected: bool = False,
) -> list[Splat]:
    """Return every line of *lines* that reports a kernel problem.

    :param lines: kernel log lines (dmesg, console log, /dev/kmsg records)
    :param allow: regular expressions; a line matching any of them is ignored
        even if it also matches a splat pattern, and a Call Trace following
        it is taken to be part of it
    :param expected: also report what ``pemove-kmsg: expect`` brackets
        (the test that provoked it checks its own reports this way)
    """
    allow_re = [re.compile(a) for a in allow]
    text = [raw.rstrip("\n") for raw in lines]
    found = []
    last_report = -TRACE_WINDOW - 1  # index of the last report or allowed line
    bracket = -1  # index of the open expect-begin line, or -1
    for index, line in enumerate(text):
        if not expected:
            if bracket >= 0 and (
                _EXPECT_CLOSE.search(line) or index - bracket > EXPECT_WINDOW
            ):
                bracket = -1
            elif EXPECT_BEGIN in line:
                bracket = index
            if bracket >= 0:
                last_report = index
                continue
        if any(a.search(line) for a in allow_re):
            last_report = index
            continue
        kind = _classify(line)
        if kind is not None:
            found.append(Splat(kind, index + 1, line.strip()))
            last_report = index
        elif _CALL_TRACE.search(line) and index - last_report > TRACE_WINDOW:
            found.append(_orphan_trace(text, index))
            last_report = index
    return found


def first_splat(text: str, allow: Sequence[str] = DEFAULT_ALLOW) -> Splat | None:
    """Return the first offending line of *text*, or None if it is clean."""
    splats = find_splats(text.splitlines(), allow)
    return splats[0] if splats else None


# A reliable frame of a stack dump.  Frames printed with "? " are stale
# words the unwinder found on the stack, not callers.
_FRAME = re.compile(r"^(?:\[[^\]]*\]\s*)?\s+(\w+)\+0x[0-9a-f]+/0x[0-9a-f]+", re.M)


def stack_frames(text: str, after: str = "") -> list[str]:
    """The reliable frames of the first stack dump in *text*, innermost first.

    The dump is the first ``Call Trace:`` after the first line containing
    *after* (from the start with ``""``), up to its ``</TASK>``.  Frames
    marked ``?`` are left out: they are stale stack words, not callers.
    """
    start = text.find(after) if after else 0
    if start < 0:
        return []
    body = text[start:]
    trace = body.find("Call Trace:")
    if trace < 0:
        return []
    return _FRAME.findall(body[trace:].split("</TASK>", 1)[0])
