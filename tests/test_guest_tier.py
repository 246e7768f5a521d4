"""Run the guest tier (tests/guest) once per installed kernel, in one boot each.

Each kernel series installed with headers (6.1 and 6.12 on Debian 12) gets
one :func:`pemove.vm.run` boot running ``pytest tests/guest``.  The guest's
pytest output streams through as it runs, each line prefixed with the
release, and the JUnit XML it writes into the run's results directory is
taken from the run's :class:`~pemove.vm.Outcome` to report per-kernel counts.

Environment: ``PEMOVE_VM_TIMEOUT`` (seconds per boot, default 3600),
``PEMOVE_GUEST_PYTEST_ARGS`` (extra arguments for the guest pytest, split on
blanks, e.g. ``-k env``), ``PEMOVE_GUEST_JOBS`` (VMs per kernel, default 1:
the test files are dealt by :mod:`pemove.vm.shard` and the VMs run at once),
``PEMOVE_GUEST_KERNELS`` (kernel SPECs, e.g. ``debug-6.12``, instead of the
installed Debian kernels: ``make test-debug``), ``PEMOVE_GUEST_FILES`` (the
guest test files to run, instead of all of tests/guest: the debug tier's),
and the guest tests' own knobs in :data:`GUEST_ENV`, passed into the guest
when set (``.ci/run`` sets ``PEMOVE_REPLAY_POINTS``).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pytest
from pemove import vm
from pemove.vm import kernels, shard

REPO = Path(__file__).resolve().parents[1]
_SPECS = os.environ.get("PEMOVE_GUEST_KERNELS", "").split()
KERNELS = (
    [kernels.resolve(spec) for spec in _SPECS]
    if _SPECS
    else kernels.newest_per_series(kernels.installed_kernels())
)
#: The guest test files to run (default: every one in tests/guest).
FILES = os.environ.get("PEMOVE_GUEST_FILES", "").split()
TIMEOUT = float(os.environ.get("PEMOVE_VM_TIMEOUT", "3600"))
EXTRA = os.environ.get("PEMOVE_GUEST_PYTEST_ARGS", "").split()
#: VMs per kernel, each running a shard of the guest test files (make test JOBS=N).
JOBS = int(os.environ.get("PEMOVE_GUEST_JOBS", "1"))
#: Host variables the guest tests read, forwarded when set.
GUEST_ENV = ("PEMOVE_REPLAY_POINTS",)
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


def _shards(jobs: int, release: str) -> list[list[str]]:
    """The guest test files in *jobs* shards (one: the whole directory)."""
    if jobs <= 1:
        return [FILES or ["tests/guest"]]
    files = FILES or sorted(
        str(p.relative_to(REPO)) for p in (REPO / "tests" / "guest").glob("test_*.py")
    )
    costs = shard.recorded_costs(REPO / "results" / "vm", release)
    return shard.plan(files, jobs, costs)


@dataclass
class _Shard:
    label: str
    files: list[str]
    sink: _Prefixed
    outcome: vm.Outcome | None = None
    error: BaseException | None = None


def _run_shard(kernel: kernels.Kernel, job: _Shard) -> None:
    env = [f"{k}={os.environ[k]}" for k in GUEST_ENV if os.environ.get(k)]
    command = ["python", "-m", "pytest", *job.files, "-v", "-rfEs", *EXTRA]
    if env:
        command = ["env", *env, *command]
    try:
        job.outcome = vm.run(
            command,
            kernel=kernel,
            timeout=TIMEOUT,
            cwd=REPO,
            stdout=job.sink,  # type: ignore[arg-type]
            stderr=job.sink,  # type: ignore[arg-type]
        )
    except BaseException as exc:  # reported by the test, in the main thread
        job.error = exc


@pytest.mark.vm
@pytest.mark.parametrize("kernel", KERNELS, ids=[k.release for k in KERNELS])
def test_guest_tier(kernel: kernels.Kernel, capsys: pytest.CaptureFixture[str]) -> None:
    """tests/guest passes in a VM running *kernel* (JOBS VMs at once), module built for it."""
    reason = _missing_requirement()
    if reason:
        pytest.skip(reason)
    shards = _shards(JOBS, kernel.release)
    with capsys.disabled():
        jobs = []
        for i, files in enumerate(shards):
            label = kernel.release if len(shards) == 1 else f"{kernel.release}#{i + 1}"
            print(f"\n=== guest tier on {label}: pytest {' '.join(files)}", flush=True)
            jobs.append(_Shard(label, files, _Prefixed(f"[{label}]", sys.stdout)))
        threads = [
            threading.Thread(target=_run_shard, args=(kernel, job)) for job in jobs
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    problems: list[str] = []
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for job in jobs:
        if job.error is not None:
            raise job.error
        outcome = job.outcome
        assert outcome is not None
        if outcome.results is None:
            problems.append(
                f"{job.label}: the VM run could not start: {outcome.reason}"
            )
            continue
        junit = outcome.file(f"junit-{kernel.release}.xml")
        detail = f"console: {outcome.results / 'console.log'}"
        if junit is None:
            problems.append(
                f"{job.label}: the guest wrote no JUnit XML in {outcome.results} "
                f"(exit {outcome.code}: {outcome.reason}); {detail}"
            )
            continue
        counts = _junit_counts(junit)
        for k in total:
            total[k] += counts[k]
        with capsys.disabled():
            print(
                f"=== {job.label}: {counts['tests']} tests, {counts['failures']} failed, "
                f"{counts['errors']} errors, {counts['skipped']} skipped; {junit}",
                flush=True,
            )
        if not outcome.ok:
            problems.append(
                f"guest tier on {job.label} exited {outcome.code} ({outcome.reason}): "
                f"{job.sink.summary[-1:]}; {detail}\n"
                + "\n".join(_junit_failures(junit))
            )
    assert not problems, "\n".join(problems)
    assert total["tests"] > total["skipped"], "every guest test was skipped"
