"""Fixtures of the guest tier: tests that run inside a pemove VM.

Outside a VM (no ``PEMOVE_GUEST``) every test here is skipped with the
command that runs it.  Inside, ``pemove vm`` (or vagrant/guest-test.sh) has
loaded the module and attached fresh disks (see docs/HACKING.md, "The guest
test environment").

Around every test, as blktests does: the kernel log is read from
/dev/kmsg from the test's start and afterwards scanned for BUG, WARNING,
Oops, lockdep and hung-task reports; then every LV and every ``pemove-t*``
device-mapper device is removed, so the next test starts clean.  None of
this starts a process unless something is left to remove: under TCG each
fork costs seconds.

Markers:

- ``@pytest.mark.kmsg_allow(r"regex", ...)``: kernel log lines the test expects;
- ``@pytest.mark.disks(n)``: the test needs ``n`` disks; skipped with fewer.

Fixtures: ``module``, ``ctl``, ``disks``, ``make_lv``, ``make_dm``, ``seed``
(per file), ``figures`` (per session), and ``rig``, which holds the first
six for a move test.

The helpers behind the fixtures are in ``kit/``.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kit.cleanup import KEPT, remove_leftovers, wipe
from kit.figures import Figures
from kit.module import Module
from pemove.vm import devkmsg, guest, kmsg

if TYPE_CHECKING:
    from kit.rig import Rig

IN_GUEST = guest.in_guest()
HERE = Path(__file__).resolve().parent
SKIP_REASON = (
    "guest test: runs only inside a pemove VM (PEMOVE_GUEST=1); run it with "
    "'make test-guest KERNEL=6.12' or 'pemove vm -- python -m pytest tests/guest'"
)
# Per-test limit (pytest-timeout), so one stuck test fails alone instead of
# the whole VM hitting pemove vm's timeout with no JUnit XML written.
TEST_TIMEOUT = int(os.environ.get("PEMOVE_TEST_TIMEOUT", "600"))
FIGURES_FILE = "fault-figures.json"
_FIGURES = pytest.StashKey[Figures]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kmsg_allow(*regex): kernel log lines this test expects"
    )
    config.addinivalue_line(
        "markers", "disks(n): the test needs n disks (skipped with fewer)"
    )
    config.stash[_FIGURES] = Figures()
    # One JUnit XML file per kernel, next to the run's console log and dmesg.
    results = os.environ.get(guest.ENV_RESULTS)
    if IN_GUEST and results and not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = f"{results}/junit-{platform.release()}.xml"
    if IN_GUEST and config.pluginmanager.hasplugin("timeout"):
        if not getattr(config.option, "timeout", None):
            config.option.timeout = TEST_TIMEOUT


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The fault, concurrency and fuzz figures of this session, for the record.

    Printed under the summary (so the console log has them) and written to
    ``$PEMOVE_RESULTS/fault-figures.json`` next to the JUnit XML.
    """
    figures = config.stash.get(_FIGURES, None)
    if not IN_GUEST or figures is None:
        return
    terminalreporter.write_line(f"pemove faults: {figures.line()}")
    results = os.environ.get(guest.ENV_RESULTS)
    if results:
        figures.write(Path(results) / FIGURES_FILE)


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    if IN_GUEST:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(skip)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@pytest.mark.disks(n)``: skip when the VM has fewer disks."""
    need = max((int(m.args[0]) for m in item.iter_markers("disks")), default=0)
    have = len(guest.guest_disks())
    if IN_GUEST and have < need:
        pytest.skip(
            f"needs {need} disks, the VM has {have}: run it with pemove vm --disks {need}"
        )


# --- around every test ------------------------------------------------------


@pytest.fixture(autouse=True)
def _kernel_log_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if the kernel complained while it ran."""
    if not IN_GUEST:
        yield
        return
    with devkmsg.KernelLog() as log:
        devkmsg.write(f"pemove-test: begin {request.node.nodeid}")
        yield
        lines = log.lines()
    devkmsg.write(f"pemove-test: end {request.node.nodeid}")
    allow = list(kmsg.DEFAULT_ALLOW)
    for mark in request.node.iter_markers("kmsg_allow"):
        allow += list(mark.args)
    splats = kmsg.find_splats(lines, allow)
    if splats:
        pytest.fail(
            f"kernel reported a problem during the test: {splats[0].line}"
            + (f" (and {len(splats) - 1} more; see dmesg)" if len(splats) > 1 else ""),
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Remove what a test left behind; a leftover that will not go is an error.

    LVs that a wider fixture owns (``KEPT``) stay for the next test.
    """
    yield
    if IN_GUEST:
        from kit.faults import abandon_running

        # Writers a failed test left running hold its LV open; stopping
        # them first lets that test's failure be the only one.
        abandon_running()
        problems = remove_leftovers(keep=request.config.stash.get(KEPT, set()))
        if problems:
            pytest.fail("cleanup failed: " + "; ".join(problems), pytrace=False)


# --- fixtures for tests -----------------------------------------------------


@pytest.fixture(scope="module")
def seed() -> int:
    """The seed of a test file's random choices: ``$PEMOVE_SEED``, else new; printed."""
    from pemove.workload import seeds

    value = seeds.from_env()
    print(f"pemove seed {value} (set {seeds.ENV}={value} to repeat)")
    return value


@pytest.fixture(scope="session")
def figures(pytestconfig: pytest.Config) -> Figures:
    """The session's fault, move and fuzz figures (printed at the end)."""
    return pytestconfig.stash[_FIGURES]


@pytest.fixture
def module() -> Iterator[Module]:
    """The loaded module; restored to default parameters after the test."""
    ko = os.environ.get(guest.ENV_KO)
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
    nodes = guest.guest_disks()
    wipe(nodes)
    return nodes


@pytest.fixture
def make_lv(ctl: Any) -> Callable[..., Any]:
    """``make_lv(name, extent_sectors, extents, notrack=False) -> LVInfo``.

    The LV is created on ``ctl`` and returned once its node is ready (udev
    done with it); the cleanup after the test removes it.
    """
    from pemove import lvs

    def make(
        name: str, extent_sectors: int, extents: Sequence[Any], *, notrack: bool = False
    ) -> Any:
        info, _node = lvs.create(ctl, name, extent_sectors, extents, notrack=notrack)
        return info

    return make


@pytest.fixture
def make_dm() -> Callable[[str, str], Any]:
    """``make_dm(name, table) -> DmDevice``: a ``pemove-t-<name>`` device.

    The target's module (dm-delay, dm-flakey) is loaded first; the cleanup
    after the test removes the device.
    """
    from pemove.workload import blockdev, dm

    def make(name: str, table: str) -> dm.DmDevice:
        target = table.split()[2]
        if target not in ("linear", "error"):  # those two are dm-mod's own
            blockdev.modprobe(f"dm-{target}")
        return dm.create(name, table)

    return make


@pytest.fixture
def rig(request: pytest.FixtureRequest) -> Rig:
    """A :class:`kit.rig.Rig`: the fixtures its fields name, and a move test's set-up."""
    from dataclasses import fields

    from kit.rig import Rig

    return Rig(**{f.name: request.getfixturevalue(f.name) for f in fields(Rig)})


@pytest.fixture(params=["whole", "live"])
def mode(request: pytest.FixtureRequest) -> str:
    """A locked move's mode: a test that takes this fixture runs in both."""
    return str(request.param)
