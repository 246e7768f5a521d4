"""KTAP, the test output of KUnit: parse it into one result per test case.

KUnit prints (and keeps in ``/sys/kernel/debug/kunit/<suite>/results``) a
suite as a KTAP list whose cases are indented one level below it
(Documentation/dev-tools/ktap.rst)::

    KTAP version 1
    # Subtest: pemove_extent
    1..2
        ok 1 pemove_test_devt
            # pemove_test_overlap: EXPECTATION FAILED at .../pemove_kunit_tests.c:40
            Expected a == b, but
        not ok 2 pemove_test_overlap
    # pemove_extent: pass:1 fail:1 skip:0 total:2
    not ok 1 pemove_extent

A result line closes every deeper result printed since the last line at its
own depth: those are its subtests.  Lines that are not results are the
diagnostics of the next result line at their depth or above.  Only the
leaves are cases; a parameterised case's parameters are leaves too, named
``case/param``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

__all__ = ["Case", "parse", "strip_kmsg"]

_RESULT = re.compile(
    r"^(?P<ok>ok|not ok)\s+(?P<num>\d+)(?:\s+-)?\s*(?P<name>[^#]*?)\s*"
    r"(?:#\s*(?P<directive>\S+)\s*(?P<reason>.*))?$"
)
_HEADER = re.compile(r"^(?:K?TAP version \d+|\d+\.\.\d+|# Subtest: .*)$")
#: A printk timestamp in front of a kernel-log line.
_STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


@dataclasses.dataclass(frozen=True)
class Case:
    """One leaf test of a KTAP run.

    :ivar suite: the top-level test (the KUnit suite)
    :ivar name: the case, ``case/param`` for a parameter of a case
    :ivar status: ``pass``, ``fail`` or ``skip``
    :ivar reason: the SKIP/TODO reason, if any
    :ivar diagnostics: the lines KUnit printed for this case (failures)
    """

    suite: str
    name: str
    status: str
    reason: str = ""
    diagnostics: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.suite}.{self.name}"


@dataclasses.dataclass
class _Node:
    name: str
    status: str
    reason: str
    diagnostics: list[str]
    children: list[_Node]


def strip_kmsg(lines: Iterable[str]) -> list[str]:
    """Kernel-log lines without their printk timestamps."""
    return [_STAMP.sub("", line.rstrip("\n")) for line in lines]


def _status(ok: str, directive: str | None) -> str:
    if directive and directive.upper() == "SKIP":
        return "skip"
    return "pass" if ok == "ok" else "fail"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _nodes(text: str) -> list[_Node]:
    pending: dict[int, list[_Node]] = {}
    notes: list[tuple[int, str]] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        depth, line = _indent(raw), raw.strip()
        m = _RESULT.match(line)
        if m is None:
            if not _HEADER.match(line):
                notes.append((depth, line))
            continue
        children: list[_Node] = []
        for deeper in sorted(d for d in pending if d > depth):
            children += pending.pop(deeper)
        mine = [note for d, note in notes if d >= depth]
        notes = [(d, note) for d, note in notes if d < depth]
        pending.setdefault(depth, []).append(
            _Node(
                name=m.group("name").strip(),
                status=_status(m.group("ok"), m.group("directive")),
                reason=(m.group("reason") or "").strip(),
                diagnostics=mine,
                children=children,
            )
        )
    return [node for depth in sorted(pending) for node in pending[depth]]


def _leaves(node: _Node, path: str) -> Iterable[tuple[str, _Node]]:
    if not node.children:
        yield path, node
        return
    for child in node.children:
        yield from _leaves(child, f"{path}/{child.name}" if path else child.name)


def parse(text: str) -> list[Case]:
    """Every case of the KTAP *text*, in the order KUnit ran them.

    A suite with no cases (all skipped at suite level, or it failed to
    initialise) is one case named after the suite itself.
    """
    cases: list[Case] = []
    for suite in _nodes(text):
        if not suite.children:
            cases.append(
                Case(
                    suite.name,
                    suite.name,
                    suite.status,
                    suite.reason,
                    tuple(suite.diagnostics),
                )
            )
            continue
        for name, leaf in _leaves(suite, ""):
            cases.append(
                Case(
                    suite.name, name, leaf.status, leaf.reason, tuple(leaf.diagnostics)
                )
            )
    return cases
