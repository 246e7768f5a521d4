"""Fixtures of the guest tier: tests that run inside a pemove VM.

Outside a VM (no ``PEMOVE_GUEST``) every test here is skipped with the
command that runs it.  Inside, ``pemove vm`` has loaded the module and
attached fresh disks (see docs/HACKING.md, "The guest test environment").

Around every test, as blktests does: a marker goes into the kernel log
before it, and afterwards the log since the marker is scanned for BUG,
WARNING, Oops, lockdep and hung-task reports; then every LV and every
``pemove-t*`` device-mapper device is removed, so the next test starts clean.
A test that expects some kernel message says so with
``@pytest.mark.kmsg_allow(r"regex", ...)``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pemove.vm import kmsg

IN_GUEST = os.environ.get("PEMOVE_GUEST") == "1"
HERE = Path(__file__).resolve().parent
SKIP_REASON = (
    "guest test: runs only inside a pemove VM (PEMOVE_GUEST=1); run it with "
    "'make test-guest KERNEL=6.12' or 'pemove vm -- python -m pytest tests/guest'"
)
WIPE_BYTES = 1 << 20  # old LV metadata or test data must not leak across tests
# Per-test limit (pytest-timeout), so one stuck test fails alone instead of
# the whole VM hitting pemove vm's timeout with no JUnit XML written.
TEST_TIMEOUT = int(os.environ.get("PEMOVE_TEST_TIMEOUT", "600"))
DM_PREFIX = "pemove-t"
LV_BUSY_WAIT = 180.0  # seconds an LV may stay busy (udev probe on slow TCG guests)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kmsg_allow(*regex): kernel log lines this test expects"
    )
    # One JUnit XML file per kernel, next to the run's console log and dmesg.
    results = os.environ.get("PEMOVE_RESULTS")
    if IN_GUEST and results and not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = f"{results}/junit-{platform.release()}.xml"
    if IN_GUEST and config.pluginmanager.hasplugin("timeout"):
        if not getattr(config.option, "timeout", None):
            config.option.timeout = TEST_TIMEOUT


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault, concurrency and fuzz figures of this session, for the record.

    Printed under the summary (so the console log has them) and written to
    ``$PEMOVE_RESULTS/fault-figures.json`` next to the JUnit XML.
    """
    if not IN_GUEST:
        return
    from pemove.workload.faults import TOTALS

    terminalreporter.write_line(f"pemove faults: {TOTALS.line()}")
    results = os.environ.get("PEMOVE_RESULTS")
    if results:
        path = Path(results) / "fault-figures.json"
        path.write_text(json.dumps(dataclasses.asdict(TOTALS), indent=2) + "\n")


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    if IN_GUEST:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(skip)


# --- the kernel log ---------------------------------------------------------


def _kmsg_write(text: str) -> None:
    with open("/dev/kmsg", "w") as f:
        f.write(text + "\n")


def _dmesg_since(marker: str) -> list[str]:
    out = subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    starts = [i for i, line in enumerate(lines) if marker in line]
    return lines[starts[-1] + 1 :] if starts else lines


@pytest.fixture(autouse=True)
def _kernel_log_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if the kernel complained while it ran."""
    if not IN_GUEST:
        yield
        return
    marker = f"pemove-test: begin {uuid.uuid4().hex[:8]} {request.node.nodeid}"
    _kmsg_write(marker)
    yield
    allow = list(kmsg.DEFAULT_ALLOW)
    for mark in request.node.iter_markers("kmsg_allow"):
        allow += list(mark.args)
    splats = kmsg.find_splats(_dmesg_since(marker), allow)
    _kmsg_write(f"pemove-test: end {request.node.nodeid}")
    if splats:
        pytest.fail(
            f"kernel reported a problem during the test: {splats[0].line}"
            + (f" (and {len(splats) - 1} more; see dmesg)" if len(splats) > 1 else ""),
            pytrace=False,
        )


# --- cleanup ------------------------------------------------------------------


def _remove_lvs() -> list[str]:
    """Remove every LV; return the errors for those that would not go."""
    try:
        from pemove.control import Control
    except ImportError:  # the client is not there yet: nothing to clean
        return []
    if not os.path.exists("/dev/pemove-control"):
        return []
    # udev probes a new or closed LV (blkid) and keeps it open meanwhile,
    # so an LV is busy for a moment after a test: settle, then retry.
    _udev_settle()
    deadline = time.monotonic() + LV_BUSY_WAIT
    while True:
        problems = []
        with Control() as ctl:
            for lv in ctl.lv_list():
                try:
                    ctl.lv_remove(lv.name)
                except Exception as e:  # keep going: clean as much as possible
                    problems.append(f"LV {lv.name}: {e}")
        if not problems or time.monotonic() >= deadline:
            return problems
        time.sleep(0.5)


def _udev_settle() -> None:
    if shutil.which("udevadm"):
        subprocess.run(["udevadm", "settle", "--timeout=30"], check=False)


def _remove_dm_devices() -> list[str]:
    res = subprocess.run(["dmsetup", "ls"], capture_output=True, text=True, check=False)
    problems = []
    for line in res.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(DM_PREFIX):
            continue
        rm = subprocess.run(
            ["dmsetup", "remove", "--retry", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if rm.returncode != 0:
            problems.append(f"dm device {name}: {rm.stderr.strip()}")
    return problems


def cleanup() -> list[str]:
    """Remove LVs, then the dm devices under them, then LVs again (stacked)."""
    problems = _remove_lvs()
    problems += _remove_dm_devices()
    if problems:
        problems = _remove_lvs() + _remove_dm_devices()
    return problems


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    """Remove what a test left behind; a leftover that will not go is an error."""
    yield
    if IN_GUEST:
        problems = cleanup()
        if problems:
            pytest.fail("cleanup failed: " + "; ".join(problems), pytrace=False)


# --- fixtures for tests -----------------------------------------------------


class Module:
    """The pemove module of this VM, reloadable with parameters.

    :ivar ko: path of the .ko built for the running kernel
    :ivar params: the parameters it was last loaded with
    """

    def __init__(self, ko: Path) -> None:
        self.ko = ko
        self.name = ko.name.removesuffix(".ko").replace("-", "_")
        self.params: dict[str, Any] = {}

    @property
    def loaded(self) -> bool:
        return Path("/sys/module", self.name).exists()

    def parameter(self, key: str) -> str:
        """Current value of a module parameter, as sysfs shows it."""
        return Path("/sys/module", self.name, "parameters", key).read_text().strip()

    def reload(self, **params: Any) -> None:
        """rmmod and insmod with *params* (e.g. ``locked_copy=0``).

        Close every :class:`Control` first: an open control node pins it.
        """
        problems = cleanup()
        if problems:
            raise RuntimeError("cannot unload the module: " + "; ".join(problems))
        if self.loaded:
            subprocess.run(["rmmod", self.name], check=True, capture_output=True)
        argv = ["insmod", str(self.ko)]
        argv += [
            f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in params.items()
        ]
        res = subprocess.run(argv, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {res.stderr.strip()}")
        self.params = dict(params)


@pytest.fixture
def module() -> Iterator[Module]:
    """The loaded module; restored to default parameters after the test."""
    ko = os.environ.get("PEMOVE_KO")
    if not ko:
        pytest.skip("PEMOVE_KO is not set: the VM was started with --no-module")
    m = Module(Path(ko))
    if not m.loaded:
        m.reload()
    yield m
    if m.params or not m.loaded:
        m.reload()


@pytest.fixture
def ctl(module: Module) -> Iterator[Any]:
    """An open :class:`pemove.control.Control`."""
    from pemove.control import Control

    with Control() as c:
        yield c


@pytest.fixture
def disks() -> list[str]:
    """The VM's fresh disks (``PEMOVE_DISKS``), first MiBs zeroed."""
    nodes = [d for d in os.environ.get("PEMOVE_DISKS", "").split(":") if d]
    zeros = bytes(WIPE_BYTES)
    for node in nodes:
        fd = os.open(node, os.O_WRONLY)
        try:
            os.write(fd, zeros)
            os.fsync(fd)
        finally:
            os.close(fd)
    return nodes
