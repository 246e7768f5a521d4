"""Run the guest tier (tests/guest) once per installed kernel, in one boot each.

Each kernel series installed with headers (6.1 and 6.12 on Debian 12) gets
one :func:`pemove.vm.run` boot running ``pytest tests/guest``.  The guest's
pytest output streams through as it runs, each line prefixed with the
release, and the JUnit XML it writes into the run's results directory is
taken from the run's :class:`~pemove.vm.Outcome` to report per-kernel counts.

Environment: ``PEMOVE_VM_TIMEOUT`` (seconds per boot, default 3600),
``PEMOVE_GUEST_PYTEST_ARGS`` (extra arguments for the guest pytest, split on
blanks, e.g. ``-k env``).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TextIO

import pytest
from pemove import vm
from pemove.vm import kernels

REPO = Path(__file__).resolve().parents[1]
KERNELS = kernels.newest_per_series(kernels.installed_kernels())
TIMEOUT = float(os.environ.get("PEMOVE_VM_TIMEOUT", "3600"))
EXTRA = os.environ.get("PEMOVE_GUEST_PYTEST_ARGS", "").split()
_SUMMARY = re.compile(r"^=+ .*\b(passed|failed|error|skipped|no tests ran)\b")


def _missing_requirement() -> str | None:
    if os.geteuid() != 0:
        return "needs root (QEMU reads /boot, insmod in the guest): run 'make test' as root"
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed: run 'make deps'"
    vng = Path(sys.executable).parent / "vng"
    if not vng.exists() and shutil.which("vng") is None:
        return "vng (virtme-ng) is not installed: run 'make deps'"
    return None


class _Prefixed:
    """A binary sink: the guest's output, line by line, prefixed, on a text stream.

    It also keeps pytest's summary lines (``=== 3 passed in 1.0s ===``).
    """

    def __init__(self, prefix: str, out: TextIO) -> None:
        self.prefix = prefix
        self.out = out
        self.summary: list[str] = []
        self._partial = b""
        self._lock = threading.Lock()  # stdout and stderr are pumped by two threads

    def write(self, data: bytes) -> int:
        with self._lock:
            lines = (self._partial + data).split(b"\n")
            self._partial = lines.pop()
            for raw in lines:
                line = raw.decode(errors="replace")
                print(f"{self.prefix} {line}", file=self.out, flush=True)
                if _SUMMARY.match(line):
                    self.summary.append(line.strip())
        return len(data)

    def flush(self) -> None:
        self.out.flush()


def _junit_counts(path: Path) -> dict[str, int]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    keys = ("tests", "failures", "errors", "skipped")
    return {k: sum(int(s.get(k, 0)) for s in suites) for k in keys}


def _junit_failures(path: Path) -> list[str]:
    """One line per failed or errored guest test: its id and the first line of why."""
    lines = []
    for case in ET.parse(path).getroot().iter("testcase"):
        for kind in ("failure", "error"):
            bad = case.find(kind)
            if bad is None:
                continue
            why = (bad.get("message") or bad.text or "").strip().splitlines()
            first = why[0][:300] if why else ""
            lines.append(
                f"{case.get('classname')}::{case.get('name')} ({kind}): {first}"
            )
    return lines


@pytest.mark.vm
@pytest.mark.parametrize("kernel", KERNELS, ids=[k.release for k in KERNELS])
def test_guest_tier(kernel: kernels.Kernel, capsys: pytest.CaptureFixture[str]) -> None:
    """tests/guest passes in a VM running *kernel*, with the module built for it."""
    reason = _missing_requirement()
    if reason:
        pytest.skip(reason)
    command = ["python", "-m", "pytest", "tests/guest", "-v", "-rfEs", *EXTRA]
    with capsys.disabled():
        print(f"\n=== guest tier on {kernel.release}: {' '.join(command)}", flush=True)
        sink = _Prefixed(f"[{kernel.release}]", sys.stdout)
        outcome = vm.run(
            command,
            kernel=kernel,
            timeout=TIMEOUT,
            cwd=REPO,
            stdout=sink,  # type: ignore[arg-type]
            stderr=sink,  # type: ignore[arg-type]
        )
    assert outcome.results is not None, f"the VM run could not start: {outcome.reason}"
    junit = outcome.file(f"junit-{kernel.release}.xml")
    detail = f"console: {outcome.results / 'console.log'}"
    assert junit is not None, (
        f"the guest wrote no JUnit XML in {outcome.results} "
        f"(exit {outcome.code}: {outcome.reason}); {detail}"
    )
    counts = _junit_counts(junit)
    with capsys.disabled():
        print(
            f"=== {kernel.release}: {counts['tests']} tests, {counts['failures']} failed, "
            f"{counts['errors']} errors, {counts['skipped']} skipped; {junit}",
            flush=True,
        )
    failed = _junit_failures(junit)
    assert outcome.ok, (
        f"guest tier on {kernel.release} exited {outcome.code} ({outcome.reason}): "
        f"{sink.summary[-1:]}; {detail}\n" + "\n".join(failed)
    )
    assert counts["tests"] > counts["skipped"], "every guest test was skipped"
