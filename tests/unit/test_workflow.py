"""The GitHub Actions workflow runs make targets that exist, on the whole matrix.

actionlint (``make lint``, when installed) checks the workflow's syntax;
this checks what actionlint cannot: that it calls this Makefile's targets.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
MAKEFILES = [REPO / "Makefile", REPO / "kernel" / "kernel.mk"]


def _targets() -> set[str]:
    names: set[str] = set()
    for mk in MAKEFILES:
        for line in mk.read_text().splitlines():
            m = re.match(r"^([A-Za-z0-9_.%$()\- ]+?)\s*:(?!=)", line)
            if m:
                names.update(m.group(1).split())
    # kernel.mk spells per-series targets as $(KERNEL_SERIES:%=test-debug-%).
    return names | {"test-debug", "kernel-debug"}


def test_every_make_call_names_a_target():
    text = WORKFLOW.read_text()
    calls = re.findall(r"run: make ([a-z][a-z0-9-]*)", text)
    assert calls, "the workflow runs no make target"
    missing = sorted(set(calls) - _targets())
    assert not missing, f"the workflow calls make targets that do not exist: {missing}"


def test_matrix_covers_both_series_and_both_flavours():
    text = WORKFLOW.read_text()
    assert re.search(r'series: \["6\.1", "6\.12"\]', text)
    assert re.search(r"flavour: \[debian, debug\]", text)
    assert "make test-guest KERNEL=${{ matrix.series }}" in text
    assert "make test-debug DEBUG_SERIES=${{ matrix.series }}" in text
