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


# --- debug-kernel reports ------------------------------------------------------

ALLOC_FAILURE = """\
[   40.000000] pemove-test: begin 1234
[   41.000000] python3: page allocation failure: order:9, mode:0x40cc0(GFP_KERNEL|__GFP_COMP), nodemask=(null)
[   41.000001] CPU: 1 UID: 0 PID: 312 Comm: python3 Tainted: G           O       6.12.117-pemove-debug-1 #1
[   41.000002] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   41.000003] Call Trace:
[   41.000004]  <TASK>
[   41.000005]  dump_stack_lvl+0x5d/0x80
[   41.000006]  warn_alloc+0x1a4/0x1f0
"""


def test_call_trace_without_a_report_names_the_line_before_it():
    splats = kmsg.find_splats(ALLOC_FAILURE.splitlines())
    assert [(s.kind, s.lineno) for s in splats] == [("call_trace", 2)]
    assert "page allocation failure" in splats[0].line


def test_call_trace_of_a_report_or_an_allowed_line_is_not_reported_again():
    text = SPLATS["warning"] + "\n" + ALLOC_FAILURE
    assert [s.kind for s in kmsg.find_splats(text.splitlines())] == ["warning"]
    allowed = kmsg.find_splats(
        ALLOC_FAILURE.splitlines(), allow=[r"allocation failure"]
    )
    assert allowed == []


def test_far_away_call_trace_is_reported():
    filler = [f"[ 30.{i:06d}] ordinary line {i}" for i in range(kmsg.TRACE_WINDOW + 5)]
    lines = [SPLATS["warning"], *filler, *ALLOC_FAILURE.splitlines()]
    assert [s.kind for s in kmsg.find_splats(lines)] == ["warning", "call_trace"]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (
            "BUG: KASAN: slab-use-after-free in trigger_kasan+0x9e/0xc0 [pemove_trigger]",
            "kasan",
        ),
        ("BUG: KFENCE: out-of-bounds read in test_alloc+0x10/0x20", "kfence"),
        ("UBSAN: array-index-out-of-bounds in drivers/md/pemove.c:12:3", "ubsan"),
        (
            "ODEBUG: free active (active state 0) object: 000000007a2b object type: timer_list hint: f+0x0/0x10",
            "odebug",
        ),
        (
            "kmemleak: 3 new suspected memory leaks (see /sys/kernel/debug/kmemleak)",
            "kmemleak",
        ),
        (
            "kmemleak: 1 new suspected memory leak (see /sys/kernel/debug/kmemleak)",
            "kmemleak",
        ),
        ("unreferenced object 0xffff888004a1d800 (size 1024):", "kmemleak"),
        ("kmemleak: Kernel memory leak detector disabled", "kmemleak"),
        ("WARNING: possible circular locking dependency detected", "lockdep"),
        ("WARNING: possible recursive locking detected", "lockdep"),
        ("WARNING: inconsistent lock state", "lockdep"),
        ("WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected", "lockdep"),
        ("WARNING: bad unlock balance detected!", "lockdep"),
        ("WARNING: held lock freed!", "lockdep"),
        ("WARNING: kworker/0:1/33 still has locks held!", "lockdep"),
        ("WARNING: suspicious RCU usage", "lockdep"),
        ("BUG: MAX_LOCKDEP_CHAINS too low!", "lockdep"),
        (
            "BUG: sleeping function called from invalid context at mm/slab.h:739",
            "atomic_sleep",
        ),
        ("BUG: scheduling while atomic: fio/412/0x00000002", "atomic_sleep"),
        (
            "list_add corruption. prev->next should be next (ffff8880), but was 0000. (prev=ffff8880).",
            "list_corruption",
        ),
        ("list_del corruption, ffff888004a1d800->next is NULL", "list_corruption"),
        (
            "list_add double add: new=ffff88800bbd7c60, prev=ffff88800bbd7c60, next=ffff88800bbd7c50.",
            "list_corruption",
        ),
        ("refcount_t: underflow; use-after-free.", "refcount"),
        (
            "BUG: workqueue lockup - pool cpus=1 node=0 flags=0x0 nice=0 stuck for 41s!",
            "workqueue_lockup",
        ),
        (
            "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [kworker/0:1:33]",
            "soft_lockup",
        ),
        ("rcu: INFO: rcu_preempt self-detected stall on CPU", "rcu_stall"),
        ("kernel BUG at drivers/md/pemove.c:120!", "bug"),
        ("BUG: unable to handle page fault for address: ffffc90000a3f000", "bug"),
    ],
)
def test_debug_reports_are_classified(line, kind):
    splat = kmsg.first_splat(f"[   20.100000] {line}\n")
    assert splat is not None and splat.kind == kind, splat
    assert kind in kmsg.KINDS
