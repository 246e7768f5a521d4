"""KUnit: the module's pure logic, run inside the kernel, one JUnit case per KUnit case.

``pemove_kunit.ko`` (kmod/Kbuild builds it when the kernel has KUnit: the
debug kernels, not Debian's) holds the KUnit suites of pemove_extent.c
(extent arithmetic, overlap keys, chunk sizes) and pemove_track.c (the LE
state machine: claim, begin_io, release, the live window, mirroring).
The module is loaded once, at collection, so that each KUnit case becomes
a test of its own; its KTAP results are read from debugfs, kept in the
results directory (``kunit-<suite>.ktap``) and parsed by :mod:`pemove.vm.ktap`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pemove.vm import guest, ktap

KUNIT_DEBUGFS = Path("/sys/kernel/debug/kunit")
MODULE = "pemove_kunit"
SUITE_PREFIX = "pemove_"


def _kunit_ko() -> Path | None:
    ko = os.environ.get(guest.ENV_KO)
    return Path(ko).with_name(f"{MODULE}.ko") if ko else None


def _debugfs() -> None:
    if not KUNIT_DEBUGFS.parent.joinpath("kunit").exists():
        subprocess.run(
            ["mount", "-t", "debugfs", "debugfs", str(KUNIT_DEBUGFS.parent)],
            capture_output=True,
            check=False,
        )


def run_kunit() -> list[ktap.Case] | str:
    """Load the KUnit module, read its suites' KTAP, unload it; or why not."""
    if not guest.in_guest():
        return "not in a pemove VM"
    ko = _kunit_ko()
    if ko is None:
        return "PEMOVE_KO is not set: the VM was started with --no-module"
    if not ko.exists():
        return (
            f"{ko.name} was not built: this kernel has no CONFIG_KUNIT "
            "(Debian's kernels); run on a debug kernel, e.g. --kernel debug-6.12"
        )
    _debugfs()
    guest.insert_module(ko)
    try:
        texts = []
        for d in sorted(KUNIT_DEBUGFS.glob(f"{SUITE_PREFIX}*")):
            text = (d / "results").read_text(errors="replace")
            guest.results_file(f"kunit-{d.name}.ktap").write_text(text)
            texts.append(text)
    finally:
        guest.unload_when_released(MODULE)
    cases = [case for text in texts for case in ktap.parse(text)]
    return cases or f"{MODULE} ran no suite named {SUITE_PREFIX}* (see dmesg)"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kunit_case" not in metafunc.fixturenames:
        return
    found = run_kunit()
    if isinstance(found, str):
        metafunc.parametrize(
            "kunit_case",
            [pytest.param(None, marks=pytest.mark.skip(reason=found))],
            ids=["kunit"],
        )
        return
    metafunc.parametrize("kunit_case", found, ids=[c.id for c in found])


def test_kunit_case(kunit_case: ktap.Case) -> None:
    if kunit_case.status == "skip":
        pytest.skip(f"KUnit skipped it: {kunit_case.reason}")
    assert kunit_case.status == "pass", "\n".join(kunit_case.diagnostics)
