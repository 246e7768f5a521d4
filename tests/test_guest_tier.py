"""Run the guest tier (tests/guest) once per installed kernel, in one boot each.

Each kernel series installed with headers (6.1 and 6.12 on Debian 12) gets
one ``pemove vm`` boot running ``pytest tests/guest``.  The guest's pytest
output streams through as it runs, and its JUnit XML lands in the run's
results directory (``results/vm/<time>-<release>/junit-<release>.xml``),
which the test reads back to report per-kernel counts.

Environment: ``PEMOVE_VM_TIMEOUT`` (seconds per boot, default 3600),
``PEMOVE_GUEST_PYTEST_ARGS`` (extra arguments for the guest pytest, split on
blanks, e.g. ``-k env``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pemove.vm import kernels

REPO = Path(__file__).resolve().parents[1]
KERNELS = kernels.newest_per_series(kernels.installed_kernels())
TIMEOUT = os.environ.get("PEMOVE_VM_TIMEOUT", "3600")
EXTRA = os.environ.get("PEMOVE_GUEST_PYTEST_ARGS", "").split()


def _missing_requirement() -> str | None:
    if os.geteuid() != 0:
        return "needs root (QEMU reads /boot, insmod in the guest): run 'make test' as root"
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed: run 'make deps'"
    vng = Path(sys.executable).parent / "vng"
    if not vng.exists() and shutil.which("vng") is None:
        return "vng (virtme-ng) is not installed: run 'make deps'"
    return None


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
    argv = [
        sys.executable,
        "-m",
        "pemove.vm.cli",
        "--kernel",
        kernel.release,
        "--timeout",
        TIMEOUT,
        "--",
        "python",
        "-m",
        "pytest",
        "tests/guest",
        "-v",
        "-rfEs",
        *EXTRA,
    ]
    results_dir = None
    summary = []
    with capsys.disabled():
        print(f"\n=== guest tier on {kernel.release}: {' '.join(argv[1:])}", flush=True)
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            print(f"[{kernel.release}] {line}", end="", flush=True)
            m = re.search(r"results in (\S+)", line)
            if m:
                results_dir = Path(m.group(1))
            if re.match(r"^=+ .*\b(passed|failed|error|skipped|no tests ran)\b", line):
                summary.append(line.strip())
        rc = proc.wait()
    assert results_dir is not None, "pemove vm did not report its results directory"
    junit = results_dir / f"junit-{kernel.release}.xml"
    detail = f"console: {results_dir / 'console.log'}"
    assert junit.exists(), f"the guest wrote no JUnit XML ({junit}); {detail}"
    counts = _junit_counts(junit)
    with capsys.disabled():
        print(
            f"=== {kernel.release}: {counts['tests']} tests, {counts['failures']} failed, "
            f"{counts['errors']} errors, {counts['skipped']} skipped; {junit}",
            flush=True,
        )
    failed = _junit_failures(junit)
    assert rc == 0, (
        f"guest tier on {kernel.release} exited {rc}: {summary[-1:]}; {detail}\n"
        + "\n".join(failed)
    )
    assert counts["tests"] > counts["skipped"], "every guest test was skipped"
