"""The kernel-log judge against real reports of a pemove debug kernel.

Runs only on a kernel built by ``pemove kernel build`` (KASAN, lockdep and
kmemleak in its config), e.g.::

    pemove vm --kernel debug-6.12 -- python -m pytest tests/guest -k debug_judge

The test-only module ``tests/guest/trigger/`` is built on the host by
``pemove kernel build --series 6.12 --debug`` (for a cached kernel, in a
second) into ``build/trigger/<release>/``; without a fresh copy there it is
built in the guest against ``/lib/modules/$(uname -r)/build`` (the tree,
linked by virtme-ng), which takes minutes under TCG.  It is loaded for this
file only and made to produce one report per test.  Each test checks that
:func:`pemove.vm.kmsg.find_splats` classifies the report with the right
kind, and allows exactly that report for the per-test kernel log check.
Each report is bracketed by ``pemove-kmsg: expect`` lines, so that the
judge of the whole run (the host scanning dmesg.txt) does not fail on it.
The raw reports are saved in ``$PEMOVE_RESULTS/debug-judge/``.

Some reports change the rest of the boot: lockdep switches itself off after
its first report, a KASAN report taints the kernel (which switches lockdep
off too), refcount_t warns once per boot and debugobjects five times.  Those
triggers run only when no other test file comes after them in the session,
so that they never cost the module's own tests their checkers.
"""

from __future__ import annotations

import gzip
import os
import platform
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pemove.vm import kmemleak, kmsg

HERE = Path(__file__).resolve().parent
TRIGGER_SRC = HERE / "trigger"
MODULE = "pemove_trigger"
FIRE = Path("/sys/kernel/debug") / MODULE / "fire"
BUILD_TIMEOUT = 900  # seconds; gcc under TCG on a busy host


def kernel_config() -> dict[str, str]:
    """The running kernel's config (/proc/config.gz, else /boot/config-*)."""
    text = ""
    proc = Path("/proc/config.gz")
    boot = Path(f"/boot/config-{platform.release()}")
    if proc.exists():
        text = gzip.decompress(proc.read_bytes()).decode(errors="replace")
    elif boot.exists():
        text = boot.read_text(errors="replace")
    return dict(re.findall(r"^(CONFIG_\w+)=(.*)$", text, re.MULTILINE))


IN_GUEST = os.environ.get("PEMOVE_GUEST") == "1"
CONFIG = kernel_config() if IN_GUEST else {}
DEBUG_OPTIONS = ("CONFIG_KASAN", "CONFIG_PROVE_LOCKING", "CONFIG_DEBUG_KMEMLEAK")
IS_DEBUG = all(CONFIG.get(o) == "y" for o in DEBUG_OPTIONS)

# Outside a VM, conftest.py skips with the command that runs the guest tier.
pytestmark = pytest.mark.skipif(
    IN_GUEST and not IS_DEBUG,
    reason="needs a pemove debug kernel (KASAN, PROVE_LOCKING, DEBUG_KMEMLEAK); "
    "build one with 'make kernel-debug SERIES=6.12' and run "
    "'pemove vm --kernel debug-6.12 -- python -m pytest tests/guest -k debug_judge'",
)


def needs(*options: str) -> pytest.MarkDecorator:
    missing = [o for o in options if CONFIG.get(o) != "y"]
    return pytest.mark.skipif(
        bool(missing) and IS_DEBUG,
        reason=f"this debug kernel lacks {', '.join(missing)}",
    )


def _dmesg() -> list[str]:
    res = subprocess.run(["dmesg"], capture_output=True, text=True, check=True)
    return res.stdout.splitlines()


def _kmsg(text: str) -> None:
    with open("/dev/kmsg", "w") as f:
        f.write(text + "\n")


class Trigger:
    """The loaded trigger module: fire a report, get the kernel log it made."""

    def __init__(self, results: Path | None) -> None:
        self.results = results

    def fire(self, name: str, wait: float = 0.5) -> list[str]:
        """Fire *name*; return the kernel log lines it produced."""
        marker = self.begin(name)
        try:
            with open(FIRE, "w") as f:
                f.write(name)
            time.sleep(wait)  # reports are synchronous; the console catches up
            return self.since(marker, name)
        finally:
            self.end(name)

    @staticmethod
    def begin(name: str) -> str:
        """Open an expect bracket (the run's judge skips what is inside)."""
        marker = f"{kmsg.EXPECT_BEGIN} {name} {uuid.uuid4().hex[:8]}"
        _kmsg(marker)
        return marker

    @staticmethod
    def end(name: str) -> None:
        _kmsg(f"{kmsg.EXPECT_END} {name}")

    def since(self, marker: str, name: str) -> list[str]:
        lines = _dmesg()
        starts = [i for i, line in enumerate(lines) if marker in line]
        assert starts, f"marker {marker!r} not in dmesg"
        out = lines[starts[-1] + 1 :]
        if self.results is not None:
            (self.results / f"{name}.txt").write_text("\n".join(out) + "\n")
        return out


def _build(workdir: Path) -> Path:
    """The trigger module: built on the host if fresh, else here (slow)."""
    from pemove.kernel import trigger

    host_built = trigger.ko_path(platform.release(), HERE.parents[1])
    if trigger.is_fresh(host_built, TRIGGER_SRC):
        return host_built
    kdir = Path(f"/lib/modules/{platform.release()}/build")
    if not (kdir / "Makefile").exists():
        pytest.skip(f"{kdir} is missing: cannot build the trigger module in the guest")
    for src in TRIGGER_SRC.iterdir():
        if src.is_file():
            shutil.copy(src, workdir / src.name)
    # gcc under TCG: minutes.  'pemove kernel build' on the host makes this
    # unnecessary.
    argv = ["make", "-C", str(kdir), f"M={workdir}", "modules"]
    res = subprocess.run(
        argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
    )
    ko = workdir / f"{MODULE}.ko"
    assert res.returncode == 0 and ko.exists(), (
        f"{' '.join(argv)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
    )
    return ko


@pytest.fixture(scope="module")
def trigger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trigger]:
    """The trigger module, built and loaded for this file only."""
    ko = _build(tmp_path_factory.mktemp("trigger"))
    results = None
    if os.environ.get("PEMOVE_RESULTS"):
        results = Path(os.environ["PEMOVE_RESULTS"]) / "debug-judge"
        results.mkdir(exist_ok=True)
    assert kmemleak.available(), "debugfs with kmemleak is needed"
    subprocess.run(["insmod", str(ko)], check=True, capture_output=True)
    try:
        yield Trigger(results)
    finally:
        subprocess.run(["rmmod", MODULE], check=True, capture_output=True)


@pytest.fixture
def boot_wide(request: pytest.FixtureRequest) -> None:
    """Skip a trigger that changes the rest of the boot, unless nothing follows."""
    items = request.session.items
    later = items[items.index(request.node) + 1 :]
    others = sorted({str(i.path.name) for i in later if i.path != request.node.path})
    if others:
        pytest.skip(
            f"this report changes the rest of the boot, and {len(others)} other "
            f"test file(s) run after it ({', '.join(others[:3])}...); run "
            "'-k debug_judge' alone to include it"
        )


def classify(lines: list[str], kind: str, pattern: str) -> kmsg.Splat:
    """The first splat of *lines*: of *kind*, on a line matching *pattern*."""
    splats = kmsg.find_splats(lines, expected=True)
    assert splats, "the judge found nothing in:\n" + "\n".join(lines)
    assert kmsg.find_splats([f"{kmsg.EXPECT_BEGIN} x", *lines]) == []
    first = splats[0]
    assert first.kind == kind, f"classified {first.kind}, not {kind}: {first.line}"
    assert re.search(pattern, first.line), first.line
    return first


def _lockdep_on() -> bool:
    try:
        stats = Path("/proc/lockdep_stats").read_text()
    except OSError:
        return False
    m = re.search(r"debug_locks:\s+(\d+)", stats)
    return bool(m and m.group(1) == "1")


# In this order: lockdep first, since other reports may switch it off.


@needs("CONFIG_PROVE_LOCKING")
@pytest.mark.kmsg_allow(r"WARNING: possible circular locking dependency detected")
def test_lockdep_ab_ba(trigger: Trigger, boot_wide: None) -> None:
    if not _lockdep_on():
        pytest.skip("lockdep is already off in this boot (an earlier report)")
    lines = trigger.fire("lockdep")
    classify(lines, "lockdep", r"possible circular locking dependency")
    assert any("trigger_lock_a" in ln for ln in lines)
    assert not _lockdep_on()


def _report(
    name: str, kind: str, pattern: str, allow: tuple[str, ...], *options: str, id: str
) -> Any:
    """A trigger whose report is only to be classified: ``kind`` on ``pattern``.

    ``allow``: its kernel log lines; ``options``: the config it needs.
    """
    marks = [pytest.mark.kmsg_allow(*allow)]
    if options:
        marks.append(needs(*options))
    return pytest.param(name, kind, pattern, marks=marks, id=id)


# None of these changes the rest of the boot; each needs only classifying.
PLAIN_REPORTS = [
    _report(
        "sleep",
        "atomic_sleep",
        r"sleeping function called from invalid context",
        (r"BUG: sleeping function called from invalid context at .*pemove_trigger\.c",),
        "CONFIG_DEBUG_ATOMIC_SLEEP",
        id="sleep_in_atomic",
    ),
    _report(
        "shift",
        "ubsan",
        r"UBSAN: shift-out-of-bounds in .*pemove_trigger",
        (r"UBSAN: shift-out-of-bounds in .*pemove_trigger\.c",),
        "CONFIG_UBSAN_SHIFT",
        id="ubsan_shift",
    ),
    _report(
        "list",
        "list_corruption",
        r"list_add double add",
        (r"list_add double add", r"WARNING: CPU: \d+ PID: \d+ at lib/list_debug\.c"),
        "CONFIG_DEBUG_LIST",
        id="list_double_add",
    ),
    _report(
        "warn",
        "warning",
        r"WARNING: CPU: .*pemove_trigger\.c:\d+ trigger_warn",
        (r"WARNING: CPU: \d+ PID: \d+ at .*pemove_trigger\.c:\d+ trigger_warn",),
        id="warn_on",
    ),
]


@pytest.mark.parametrize(("name", "kind", "pattern"), PLAIN_REPORTS)
def test_report_is_classified(
    trigger: Trigger, name: str, kind: str, pattern: str
) -> None:
    classify(trigger.fire(name), kind, pattern)


@needs("CONFIG_UBSAN_BOUNDS")
@pytest.mark.kmsg_allow(r"UBSAN: array-index-out-of-bounds in .*pemove_trigger\.c")
def test_ubsan_array_index(trigger: Trigger) -> None:
    lines = trigger.fire("ubsan")
    classify(lines, "ubsan", r"UBSAN: array-index-out-of-bounds in .*pemove_trigger")
    assert any("index 4 is out of range for type 'int [4]'" in ln for ln in lines)


@needs("CONFIG_KASAN")
@pytest.mark.kmsg_allow(r"BUG: KASAN: [\w-]+ in trigger_kasan")
def test_kasan_use_after_free(trigger: Trigger, boot_wide: None) -> None:
    lines = trigger.fire("kasan")
    classify(lines, "kasan", r"BUG: KASAN: (?:slab-)?use-after-free in trigger_kasan")
    assert any(re.search(r"Freed by task \d+", ln) for ln in lines)


@needs("CONFIG_DEBUG_OBJECTS_TIMERS", "CONFIG_DEBUG_OBJECTS_FREE")
@pytest.mark.kmsg_allow(
    r"ODEBUG: free active .*timer_list.* trigger_timer_fn",
    r"WARNING: CPU: \d+ PID: \d+ at lib/debugobjects\.c",
)
def test_debugobjects_free_active_timer(trigger: Trigger, boot_wide: None) -> None:
    lines = trigger.fire("odebug")
    splat = classify(lines, "odebug", r"ODEBUG: free active")
    assert "object type: timer_list" in splat.line


@pytest.mark.kmsg_allow(
    r"refcount_t: decrement hit 0",
    r"WARNING: CPU: \d+ PID: \d+ at lib/refcount\.c",
)
def test_refcount_decrement_to_zero(trigger: Trigger, boot_wide: None) -> None:
    lines = trigger.fire("refcount")
    classify(lines, "refcount", r"refcount_t: decrement hit 0")


@needs("CONFIG_DEBUG_KMEMLEAK")
@pytest.mark.kmsg_allow(r"kmemleak: \d+ new suspected memory leaks")
def test_kmemleak_finds_the_lost_objects(trigger: Trigger) -> None:
    marker = trigger.begin("leak")
    try:
        with open(FIRE, "w") as f:
            f.write("leak")
        leaks = kmemleak.scan()
        lines = trigger.since(marker, "leak")
        if trigger.results is not None:
            text = "".join(leak.text + "\n" for leak in leaks)
            (trigger.results / "kmemleak.txt").write_text(text)
    finally:
        kmemleak.clear()  # the harness's own scan must not see them; rmmod frees them
        trigger.end("leak")
    ours = [leak for leak in leaks if leak.involves(MODULE)]
    assert ours, "kmemleak did not report the trigger's objects:\n" + "\n".join(
        leak.text for leak in leaks
    )
    assert ours[0].caller.startswith("trigger_leak")
    assert any("pemove-trigger-l" in row for row in ours[0].hexdump)
    classify(lines, "kmemleak", r"kmemleak: \d+ new suspected memory leaks")
