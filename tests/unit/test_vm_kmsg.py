"""The kernel-log scanner: real-looking splats fail, ordinary noise passes."""

from __future__ import annotations

import pytest
from pemove.vm import kmsg

CLEAN = """\
[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)
[    1.234567] virtio_blk virtio8: [vda] 2097152 512-byte logical blocks (1.07 GB/1.00 GiB)
[    5.100000] pemove: loading out-of-tree module taints kernel.
[    5.100001] pemove: module verification failed: signature and/or required key missing - tainting kernel
[    9.000000] EXT4-fs (dm-0): mounted filesystem with ordered data mode.
[   12.000000] I/O error, dev dm-1, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2
[   12.000001] Buffer I/O error on dev dm-1, logical block 256, lost async page write
"""

SPLATS = {
    "bug": "[   20.1] BUG: kernel NULL pointer dereference, address: 0000000000000008",
    "warning": "[   20.1] WARNING: CPU: 1 PID: 312 at drivers/block/pemove/pemove_move.c:120 pe_move+0x1d/0x30 [pemove]",
    "oops": "[   20.1] Oops: 0002 [#1] PREEMPT SMP NOPTI",
    "lockdep": "[   20.1] WARNING: possible circular locking dependency detected",
    "hung_task": "[  150.2] INFO: task fio:412 blocked for more than 30 seconds.",
}


def test_clean_log_passes():
    assert kmsg.find_splats(CLEAN.splitlines()) == []


@pytest.mark.parametrize("kind", sorted(SPLATS))
def test_splat_is_found_with_its_line(kind):
    text = CLEAN + SPLATS[kind] + "\n[   20.2] Call Trace:\n"
    splat = kmsg.first_splat(text)
    assert splat is not None
    assert splat.lineno == len(CLEAN.splitlines()) + 1
    assert splat.line == SPLATS[kind].strip()
    if kind != "lockdep":  # a lockdep report's header is also a WARNING
        assert splat.kind == kind


@pytest.mark.parametrize(
    "line",
    [
        "[    3.0] ============================================",
        "[    3.0] WARNING: possible recursive locking detected",
        "[    3.0] INFO: inconsistent lock state",
        "[    3.0] general protection fault, probably for non-canonical address 0xdead",
        "[    3.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [kworker/0:1:33]",
        "[    3.0] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
        "<4>[    3.0] WARNING: test",  # /dev/kmsg-style record from echo > /dev/kmsg
    ],
)
def test_other_reports(line):
    if set(line.split()[-1]) == {"="}:
        assert kmsg.first_splat(line) is None
    else:
        assert kmsg.first_splat(line) is not None


def test_first_of_several_is_reported():
    text = SPLATS["warning"] + "\n" + SPLATS["bug"] + "\n"
    splats = kmsg.find_splats(text.splitlines())
    assert [s.kind for s in splats] == ["warning", "bug"]
    assert kmsg.first_splat(text).kind == "warning"


def test_allow_list_suppresses_expected_lines():
    line = "[ 1.0] WARNING: CPU: 0 PID: 1 at lib/expected.c:1 expected_path+0x0/0x10"
    assert kmsg.first_splat(line) is not None
    assert kmsg.first_splat(line, allow=[r"lib/expected\.c"]) is None


def test_words_inside_ordinary_text_are_not_splats():
    text = (
        "[ 1.0] Bugs in the firmware table are worked around\n"
        "[ 1.0] debug: lock held warning count 0\n"
        "[ 1.0] Oopsie is not a word the kernel prints\n"
    )
    assert kmsg.first_splat(text) is None
