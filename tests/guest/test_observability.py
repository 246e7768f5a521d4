"""iostat and blktrace see a pemove LV.

DESCRIPTION: the reviewer's finding 9.  Before the fix a pemove LV showed
nothing in /proc/diskstats (zero reads after an 8 MiB O_DIRECT read), so
iostat and sar were blind, and blktrace on the LV did not show where its
bios went.  Now each piece a bio is split into is accounted on the LV, as
bio-based drivers do, and every clone emits the block_bio_remap
tracepoint, as device-mapper does.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kit.directio import read_direct
from pemove.control import Control, Extent

EXTENT = 8192
MIB = 1 << 20


def diskstats(name: str) -> list[int]:
    """The fields of ``name``'s /proc/diskstats line (reads completed first)."""
    for line in Path("/proc/diskstats").read_text().splitlines():
        fields = line.split()
        if fields[2] == name:
            return [int(f) for f in fields[3:]]
    raise AssertionError(f"{name} is not in /proc/diskstats")


@pytest.mark.disks(2)
def test_diskstats_count_the_lvs_io(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any]
) -> None:
    """Finding 9: an 8 MiB O_DIRECT read shows up as reads and 16384 sectors."""
    lv = make_lv(
        "st",
        EXTENT,
        [Extent.from_path(disks[i % 2], (i // 2) * EXTENT) for i in range(4)],
    )
    before = diskstats(lv.disk_name)
    read_direct(lv.node, 0, 8 * MIB)
    after = diskstats(lv.disk_name)
    reads, sectors_read = after[0] - before[0], after[2] - before[2]
    assert reads >= 2, f"diskstats counted {reads} reads"
    assert sectors_read == 8 * MIB // 512
    # iostat reads the same file; where sysstat is installed, it names the LV.
    if shutil.which("iostat"):
        res = subprocess.run(
            ["iostat", "-d", "-k", lv.disk_name], capture_output=True, text=True
        )
        assert res.returncode == 0 and lv.disk_name in res.stdout, res


@pytest.fixture
def remap_trace() -> Iterator[Path]:
    """The block_bio_remap tracepoint, on, with an empty buffer; off afterwards."""
    root = Path("/sys/kernel/tracing")
    mounted = False
    if not (root / "trace").exists():
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(root)], check=True)
        mounted = True
    enable = root / "events/block/block_bio_remap/enable"
    (root / "trace").write_text("")
    enable.write_text("1\n")
    try:
        yield root / "trace"
    finally:
        enable.write_text("0\n")
        (root / "trace").write_text("")
        if mounted:
            subprocess.run(["umount", str(root)], check=False)


@pytest.mark.disks(1)
def test_blktrace_sees_the_remaps(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any], remap_trace: Path
) -> None:
    """Finding 9: a read of the LV is traced as a remap from the LV to its PV."""
    pv = Extent.from_path(disks[0], 0)
    lv = make_lv("tr", EXTENT, [Extent.from_path(disks[0], 4 * EXTENT)])
    read_direct(lv.node, 0, MIB)
    trace = remap_trace.read_text()
    # e.g. "254,16 R 32768 + 2048 <- (252,0) 0"
    ours = [
        line
        for line in trace.splitlines()
        if f"<- ({lv.disk_major},{lv.disk_minor})" in line
        and f"{pv.major},{pv.minor} " in line
    ]
    assert ours, f"no remap from {lv.disk_name} to {disks[0]} in:\n{trace[-2000:]}"
    assert any(f" {4 * EXTENT} + " in line for line in ours), ours[:5]
