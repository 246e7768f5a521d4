"""The kernel-log scanner: real-looking splats fail, ordinary noise passes."""

from __future__ import annotations

import errno
from typing import Any

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


# --- real reports of debug-6.12 -------------------------------------------------
# Captured by tests/guest/test_debug_judge.py on 6.12.117-pemove-debug-045fba4f
# ($PEMOVE_RESULTS/debug-judge/<trigger>.txt), register dumps and most stack
# frames dropped, the checkout's path replaced.

REAL_6_12 = {
    "lockdep": (
        "[ 1046.912720] pemove_trigger: firing lockdep\n"
        "\n"
        "[ 1046.932440] ======================================================\n"
        "[ 1046.932844] WARNING: possible circular locking dependency detected\n"
        "[ 1046.939846] 6.12.117-pemove-debug-045fba4f #1 Tainted: G           O      \n"
        "[ 1046.942435] ------------------------------------------------------\n"
        "[ 1046.943197] python/68 is trying to acquire lock:\n"
        "[ 1046.943561] ffffffffa00195e8 (trigger_lock_a){+.+.}-{3:3}, at: trigger_lockdep+0x50/0x70 [pemove_trigger]\n"
        "[ 1046.945956] \n"
        "               but task is already holding lock:\n"
        "[ 1046.946218] ffffffffa0019528 (trigger_lock_b){+.+.}-{3:3}, at: trigger_lockdep+0x42/0x70 [pemove_trigger]\n"
        "[ 1046.946555] \n"
        "               which lock already depends on the new lock.\n"
        "\n"
        "[ 1046.952893] \n"
        "               the existing dependency chain (in reverse order) is:\n"
        "[ 1046.956505] \n"
        "               -> #1 (trigger_lock_b){+.+.}-{3:3}:\n"
        "[ 1046.959912]        __mutex_lock+0x19f/0x1d40\n"
        "[ 1046.968571]        trigger_lockdep+0x1c/0x70 [pemove_trigger]\n"
        "[ 1046.970198]        trigger_write+0x1b0/0x237 [pemove_trigger]\n"
        "[ 1046.970560]        full_proxy_write+0xf1/0x170\n"
        "[ 1046.970843]        vfs_write+0x22a/0x1220\n"
        "[ 1046.971036]        ksys_write+0xf2/0x1c0\n"
        "[ 1046.971201]        do_syscall_64+0x6d/0x140\n"
        "[ 1046.971364]        entry_SYSCALL_64_after_hwframe+0x4b/0x53\n"
        "[ 1046.971732] \n"
        "               -> #0 (trigger_lock_a){+.+.}-{3:3}:\n"
        "[ 1046.972207]        __lock_acquire+0x2eb8/0x64e0\n"
        "[ 1046.972451]        lock_acquire+0x1ac/0x4f0\n"
        "[ 1046.972652]        __mutex_lock+0x19f/0x1d40\n"
        "[ 1046.972847]        trigger_lockdep+0x50/0x70 [pemove_trigger]\n"
        "[ 1046.973100]        trigger_write+0x1b0/0x237 [pemove_trigger]\n"
        "[ 1046.973302]        full_proxy_write+0xf1/0x170\n"
        "[ 1046.973476]        vfs_write+0x22a/0x1220\n"
        "[ 1046.973643]        ksys_write+0xf2/0x1c0\n"
        "[ 1046.973849]        do_syscall_64+0x6d/0x140\n"
        "[ 1046.974037]        entry_SYSCALL_64_after_hwframe+0x4b/0x53\n"
        "[ 1046.974339] \n"
        "               other info that might help us debug this:\n"
        "\n"
        "[ 1046.978850]  Possible unsafe locking scenario:\n"
        "\n"
        "[ 1046.981709]        CPU0                    CPU1\n"
        "[ 1046.983265]        ----                    ----\n"
        "[ 1046.985180]   lock(trigger_lock_b);\n"
        "[ 1046.986521]                                lock(trigger_lock_a);\n"
        "[ 1046.988720]                                lock(trigger_lock_b);\n"
        "[ 1046.989560]   lock(trigger_lock_a);\n"
        "[ 1046.989843] \n"
        "                *** DEADLOCK ***\n"
        "\n"
        "[ 1046.993037] 2 locks held by python/68:\n"
        "[ 1046.994916]  #0: ffff888005d5c3f0 (sb_writers#9){.+.+}-{0:0}, at: ksys_write+0xf2/0x1c0\n"
        "[ 1046.995764]  #1: ffffffffa0019528 (trigger_lock_b){+.+.}-{3:3}, at: trigger_lockdep+0x42/0x70 [pemove_trigger]\n"
        "[ 1046.996335] \n"
        "               stack backtrace:\n"
        "[ 1046.996916] CPU: 0 UID: 0 PID: 68 Comm: python Tainted: G           O       6.12.117-pemove-debug-045fba4f #1 \n"
        "[ 1046.997490] Tainted: [O]=OOT_MODULE\n"
        "[ 1046.997552] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014\n"
        "[ 1046.997966] Call Trace:\n"
        "[ 1046.998193]  <TASK>\n"
        "[ 1046.998395]  dump_stack_lvl+0x62/0x90\n"
        "[ 1046.998566]  print_circular_bug+0x5a8/0x9a0\n"
        "[ 1047.039571] pemove_trigger: fired lockdep\n"
    ),
    "sleep": (
        "[ 1067.815425] pemove_trigger: firing sleep\n"
        "[ 1067.815969] BUG: sleeping function called from invalid context at /home/user/pemove/build/trigger/6.12.117-pemove-debug-045fba4f/pemove_trigger.c:81\n"
        "[ 1067.816494] in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 68, name: python\n"
        "[ 1067.816791] preempt_count: 1, expected: 0\n"
        "[ 1067.817054] INFO: lockdep is turned off.\n"
        "[ 1067.817306] CPU: 1 UID: 0 PID: 68 Comm: python Tainted: G           O       6.12.117-pemove-debug-045fba4f #1 \n"
        "[ 1067.817442] Tainted: [O]=OOT_MODULE\n"
        "[ 1067.817464] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014\n"
        "[ 1067.817519] Call Trace:\n"
        "[ 1067.817571]  <TASK>\n"
        "[ 1067.817603]  dump_stack_lvl+0x7c/0x90\n"
        "[ 1067.817719]  __might_resched+0x2c1/0x540\n"
        "[ 1067.826655] pemove_trigger: fired sleep\n"
    ),
    "shift": (
        "[ 1341.767789] pemove_trigger: firing shift\n"
        "[ 1341.780309] ------------[ cut here ]------------\n"
        "[ 1341.784583] UBSAN: shift-out-of-bounds in /home/user/pemove/build/trigger/6.12.117-pemove-debug-045fba4f/pemove_trigger.c:98:8\n"
        "[ 1341.790540] shift exponent 40 is too large for 32-bit type 'unsigned int'\n"
        "[ 1341.791053] CPU: 0 UID: 0 PID: 68 Comm: python Tainted: G        W  O       6.12.117-pemove-debug-045fba4f #1 \n"
        "[ 1341.791206] Tainted: [W]=WARN, [O]=OOT_MODULE\n"
        "[ 1341.791234] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014\n"
        "[ 1341.791274] Call Trace:\n"
        "[ 1341.791363]  <TASK>\n"
        "[ 1341.791408]  dump_stack_lvl+0x7c/0x90\n"
        "[ 1341.791572]  __ubsan_handle_shift_out_of_bounds+0x175/0x300\n"
        "[ 1341.816117] ---[ end trace ]---\n"
        "[ 1341.826945] pemove_trigger: shift result 256\n"
        "[ 1341.830630] pemove_trigger: fired shift\n"
    ),
    "kasan": (
        "[ 1347.559043] pemove_trigger: firing kasan\n"
        "[ 1347.583554] ==================================================================\n"
        "[ 1347.588458] BUG: KASAN: slab-use-after-free in trigger_kasan+0x7f/0xa0 [pemove_trigger]\n"
        "[ 1347.591076] Read of size 1 at addr ffff8880097f6b08 by task python/68\n"
        "\n"
        "[ 1347.592802] CPU: 1 UID: 0 PID: 68 Comm: python Tainted: G        W  O       6.12.117-pemove-debug-045fba4f #1 \n"
        "[ 1347.593147] Tainted: [W]=WARN, [O]=OOT_MODULE\n"
        "[ 1347.593178] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014\n"
        "[ 1347.593421] Call Trace:\n"
        "[ 1347.593495]  <TASK>\n"
        "[ 1347.593537]  dump_stack_lvl+0x62/0x90\n"
        "[ 1347.593680]  print_report+0xc4/0x600\n"
        "\n"
        "[ 1347.611701] Allocated by task 68:\n"
        "[ 1347.612777]  kasan_save_stack+0x2f/0x50\n"
        "[ 1347.613522]  kasan_save_track+0x10/0x30\n"
        "[ 1347.613711]  __kasan_kmalloc+0x83/0x90\n"
        "[ 1347.613863]  trigger_kasan+0x32/0xa0 [pemove_trigger]\n"
        "[ 1347.614096]  trigger_write+0x1b0/0x237 [pemove_trigger]\n"
        "[ 1347.614330]  full_proxy_write+0xf1/0x170\n"
        "[ 1347.614516]  vfs_write+0x22a/0x1220\n"
        "[ 1347.614712]  ksys_write+0xf2/0x1c0\n"
        "[ 1347.614878]  do_syscall_64+0x6d/0x140\n"
        "[ 1347.615525]  entry_SYSCALL_64_after_hwframe+0x4b/0x53\n"
        "\n"
        "[ 1347.616994] Freed by task 68:\n"
        "[ 1347.617579]  kasan_save_stack+0x2f/0x50\n"
        "[ 1347.618542]  kasan_save_track+0x10/0x30\n"
        "[ 1347.619151]  kasan_save_free_info+0x37/0x50\n"
        "[ 1347.620501]  __kasan_slab_free+0x33/0x40\n"
        "[ 1347.621625]  kfree+0x11a/0x360\n"
        "[ 1347.622445]  trigger_kasan+0x42/0xa0 [pemove_trigger]\n"
        "[ 1347.622982]  trigger_write+0x1b0/0x237 [pemove_trigger]\n"
        "[ 1347.624079]  full_proxy_write+0xf1/0x170\n"
        "[ 1347.624299]  vfs_write+0x22a/0x1220\n"
        "[ 1347.624488]  ksys_write+0xf2/0x1c0\n"
        "[ 1347.624715]  do_syscall_64+0x6d/0x140\n"
        "[ 1347.625434]  entry_SYSCALL_64_after_hwframe+0x4b/0x53\n"
        "\n"
        "[ 1347.627651] The buggy address belongs to the object at ffff8880097f6b00\n"
        "                which belongs to the cache kmalloc-64 of size 64\n"
        "[ 1347.629729] The buggy address is located 8 bytes inside of\n"
        "                freed 64-byte region [ffff8880097f6b00, ffff8880097f6b40)\n"
        "\n"
        "[ 1347.630448] The buggy address belongs to the physical page:\n"
        "[ 1347.631002] page: refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x97f6\n"
        "[ 1347.631790] flags: 0x4000000000000000(zone=1)\n"
        "[ 1347.632789] page_type: f5(slab)\n"
        "[ 1347.634044] raw: 4000000000000000 ffff8880054418c0 dead000000000100 dead000000000122\n"
        "[ 1347.634464] raw: 0000000000000000 0000000080200020 00000001f5000000 0000000000000000\n"
        "[ 1347.634948] page dumped because: kasan: bad access detected\n"
        "\n"
        "[ 1347.635324] Memory state around the buggy address:\n"
        "[ 1347.636039]  ffff8880097f6a00: 00 00 00 00 00 00 00 fc fc fc fc fc fc fc fc fc\n"
        "[ 1347.636386]  ffff8880097f6a80: 00 00 00 00 00 00 00 fc fc fc fc fc fc fc fc fc\n"
        "[ 1347.636777] >ffff8880097f6b00: fa fb fb fb fb fb fb fb fc fc fc fc fc fc fc fc\n"
        "[ 1347.637347]                       ^\n"
        "[ 1347.637608]  ffff8880097f6b80: fa fb fb fb fb fb fb fb fc fc fc fc fc fc fc fc\n"
        "[ 1347.637917]  ffff8880097f6c00: fa fb fb fb fb fb fb fb fc fc fc fc fc fc fc fc\n"
        "[ 1347.638558] ==================================================================\n"
        "[ 1347.650051] pemove_trigger: read after free: 68\n"
        "[ 1347.653122] pemove_trigger: fired kasan\n"
    ),
    "odebug": (
        "[ 1353.579961] pemove_trigger: firing odebug\n"
        "[ 1353.587329] ------------[ cut here ]------------\n"
        "[ 1353.589017] ODEBUG: free active (active state 0) object: 000000005218b800 object type: timer_list hint: trigger_timer_fn+0x0/0x10 [pemove_trigger]\n"
        "[ 1353.602567] WARNING: CPU: 1 PID: 68 at lib/debugobjects.c:514 debug_print_object+0x19e/0x2a0\n"
        "[ 1353.605732] Modules linked in: pemove_trigger(O) pemove(O)\n"
        "[ 1353.608756] CPU: 1 UID: 0 PID: 68 Comm: python Tainted: G    B   W  O       6.12.117-pemove-debug-045fba4f #1 \n"
        "[ 1353.611742] Tainted: [B]=BAD_PAGE, [W]=WARN, [O]=OOT_MODULE\n"
        "[ 1353.612224] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014\n"
        "[ 1353.620105] Call Trace:\n"
        "[ 1353.620975]  <TASK>\n"
        "[ 1353.621105]  ? trigger_warn+0x10/0x10 [pemove_trigger]\n"
        "[ 1353.621278]  debug_check_no_obj_freed+0x4c0/0x610\n"
        "[ 1353.641663] irq event stamp: 5853137\n"
        "[ 1353.641800] hardirqs last  enabled at (5853137): [<ffffffff82200c06>] asm_sysvec_apic_timer_interrupt+0x16/0x20\n"
        "[ 1353.642055] hardirqs last disabled at (5853136): [<ffffffff820f607a>] sysvec_apic_timer_interrupt+0xa/0x80\n"
        "[ 1353.650136] softirqs last  enabled at (5853132): [<ffffffff8111044e>] irq_exit_rcu+0xbe/0x100\n"
        "[ 1353.650690] softirqs last disabled at (5853107): [<ffffffff8111044e>] irq_exit_rcu+0xbe/0x100\n"
        "[ 1353.651001] ---[ end trace 0000000000000000 ]---\n"
        "[ 1353.651618] pemove_trigger: fired odebug\n"
    ),
    "list": (
        "[ 1359.265457] pemove_trigger: firing list\n"
        "[ 1359.269823] ------------[ cut here ]------------\n"
        "[ 1359.272544] list_add double add: new=ffffc90000397c08, prev=ffffc90000397be8, next=ffffc90000397c08.\n"
        "[ 1359.273192] WARNING: CPU: 0 PID: 68 at lib/list_debug.c:35 __list_add_valid_or_report+0xdd/0x110\n"
        "[ 1359.273675] Modules linked in: pemove_trigger(O) pemove(O)\n"
        "[ 1359.276000] CPU: 0 UID: 0 PID: 68 Comm: python Tainted: G    B   W  O       6.12.117-pemove-debug-045fba4f #1 \n"
        "[ 1359.276479] Tainted: [B]=BAD_PAGE, [W]=WARN, [O]=OOT_MODULE\n"
        "[ 1359.276713] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014\n"
        "[ 1359.285091] Call Trace:\n"
        "[ 1359.285292]  <TASK>\n"
        "[ 1359.285488]  trigger_list+0xbb/0x1a0 [pemove_trigger]\n"
        "[ 1359.285802]  ? trigger_leak+0x130/0x130 [pemove_trigger]\n"
        "[ 1359.344019] irq event stamp: 5853137\n"
        "[ 1359.345690] hardirqs last  enabled at (5853137): [<ffffffff82200c06>] asm_sysvec_apic_timer_interrupt+0x16/0x20\n"
        "[ 1359.350100] hardirqs last disabled at (5853136): [<ffffffff820f607a>] sysvec_apic_timer_interrupt+0xa/0x80\n"
        "[ 1359.352756] softirqs last  enabled at (5853132): [<ffffffff8111044e>] irq_exit_rcu+0xbe/0x100\n"
        "[ 1359.353115] softirqs last disabled at (5853107): [<ffffffff8111044e>] irq_exit_rcu+0xbe/0x100\n"
        "[ 1359.353418] ---[ end trace 0000000000000000 ]---\n"
        "[ 1359.353833] pemove_trigger: fired list\n"
    ),
    "refcount": (
        "[ 1364.265706] pemove_trigger: firing refcount\n"
        "[ 1364.266950] ------------[ cut here ]------------\n"
        "[ 1364.267209] refcount_t: decrement hit 0; leaking memory.\n"
        "[ 1364.267621] WARNING: CPU: 0 PID: 68 at lib/refcount.c:31 refcount_warn_saturate+0x95/0x190\n"
        "[ 1364.268037] Modules linked in: pemove_trigger(O) pemove(O)\n"
        "[ 1364.268582] CPU: 0 UID: 0 PID: 68 Comm: python Tainted: G    B   W  O       6.12.117-pemove-debug-045fba4f #1 \n"
        "[ 1364.269078] Tainted: [B]=BAD_PAGE, [W]=WARN, [O]=OOT_MODULE\n"
        "[ 1364.269377] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014\n"
        "[ 1364.275359] Call Trace:\n"
        "[ 1364.275644]  <TASK>\n"
        "[ 1364.275831]  trigger_refcount+0xae/0xc0 [pemove_trigger]\n"
        "[ 1364.276172]  ? trigger_sleep+0x30/0x30 [pemove_trigger]\n"
        "[ 1364.312536] irq event stamp: 5853137\n"
        "[ 1364.312747] hardirqs last  enabled at (5853137): [<ffffffff82200c06>] asm_sysvec_apic_timer_interrupt+0x16/0x20\n"
        "[ 1364.313191] hardirqs last disabled at (5853136): [<ffffffff820f607a>] sysvec_apic_timer_interrupt+0xa/0x80\n"
        "[ 1364.313589] softirqs last  enabled at (5853132): [<ffffffff8111044e>] irq_exit_rcu+0xbe/0x100\n"
        "[ 1364.315023] softirqs last disabled at (5853107): [<ffffffff8111044e>] irq_exit_rcu+0xbe/0x100\n"
        "[ 1364.320165] ---[ end trace 0000000000000000 ]---\n"
        "[ 1364.321415] pemove_trigger: fired refcount\n"
    ),
    "warn": (
        "[ 1369.639935] pemove_trigger: firing warn\n"
        "[ 1369.643219] ------------[ cut here ]------------\n"
        "[ 1369.648425] WARNING: CPU: 0 PID: 68 at /home/user/pemove/build/trigger/6.12.117-pemove-debug-045fba4f/pemove_trigger.c:150 trigger_warn+0x0/0x10 [pemove_trigger]\n"
        "[ 1369.652507] Modules linked in: pemove_trigger(O) pemove(O)\n"
        "[ 1369.655250] CPU: 0 UID: 0 PID: 68 Comm: python Tainted: G    B   W  O       6.12.117-pemove-debug-045fba4f #1 \n"
        "[ 1369.655728] Tainted: [B]=BAD_PAGE, [W]=WARN, [O]=OOT_MODULE\n"
        "[ 1369.655967] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014\n"
        "[ 1369.670950] Call Trace:\n"
        "[ 1369.671147]  <TASK>\n"
        "[ 1369.671360]  trigger_write+0x1b0/0x237 [pemove_trigger]\n"
        "[ 1369.671721]  ? trigger_refcount+0xc0/0xc0 [pemove_trigger]\n"
        "[ 1369.965507] irq event stamp: 5853137\n"
        "[ 1369.965633] hardirqs last  enabled at (5853137): [<ffffffff82200c06>] asm_sysvec_apic_timer_interrupt+0x16/0x20\n"
        "[ 1369.965903] hardirqs last disabled at (5853136): [<ffffffff820f607a>] sysvec_apic_timer_interrupt+0xa/0x80\n"
        "[ 1369.966142] softirqs last  enabled at (5853132): [<ffffffff8111044e>] irq_exit_rcu+0xbe/0x100\n"
        "[ 1369.975419] softirqs last disabled at (5853107): [<ffffffff8111044e>] irq_exit_rcu+0xbe/0x100\n"
        "[ 1369.975997] ---[ end trace 0000000000000000 ]---\n"
        "[ 1369.976281] pemove_trigger: fired warn\n"
    ),
    "leak": (
        "[ 1376.320308] pemove_trigger: firing leak\n"
        "[ 1376.328515] pemove_trigger: fired leak\n"
        "[ 1415.017428] kmemleak: 8 new suspected memory leaks (see /sys/kernel/debug/kmemleak)\n"
    ),
}


#: trigger -> (kind of the first splat, every kind the report yields)
REAL_KINDS = {
    "lockdep": ("lockdep", {"lockdep"}),
    "sleep": ("atomic_sleep", {"atomic_sleep"}),
    "shift": ("ubsan", {"ubsan"}),
    "kasan": ("kasan", {"kasan"}),
    "odebug": ("odebug", {"odebug", "warning"}),
    "list": ("list_corruption", {"list_corruption", "warning"}),
    "refcount": ("refcount", {"refcount", "warning"}),
    "warn": ("warning", {"warning"}),
    "leak": ("kmemleak", {"kmemleak"}),
}


@pytest.mark.parametrize("name", sorted(REAL_KINDS))
def test_real_debug_reports(name):
    lines = REAL_6_12[name].splitlines()
    splats = kmsg.find_splats(lines)
    first, kinds = REAL_KINDS[name]
    assert splats and splats[0].kind == first, splats
    assert {s.kind for s in splats} == kinds  # no stray call_trace, nothing else


@pytest.mark.parametrize("name", sorted(REAL_KINDS))
def test_expect_brackets_hide_provoked_reports(name):
    lines = [
        "[ 1.0] pemove-kmsg: expect begin x 1234",
        *REAL_6_12[name].splitlines(),
        "[ 2.0] pemove-kmsg: expect end x",
    ]
    assert kmsg.find_splats(lines) == []
    seen = [(s.kind, s.line) for s in kmsg.find_splats(lines, expected=True)]
    assert seen == [(s.kind, s.line) for s in kmsg.find_splats(lines[1:-1])]


def test_expect_bracket_ends_at_the_next_test_or_after_a_window():
    warn = SPLATS["warning"]
    unclosed = ["pemove-kmsg: expect begin x", warn, "pemove-test: end t::x", warn]
    assert [s.lineno for s in kmsg.find_splats(unclosed)] == [4]
    filler = ["ordinary"] * (kmsg.EXPECT_WINDOW + 1)
    assert len(kmsg.find_splats(["pemove-kmsg: expect begin x", *filler, warn])) == 1


_INJECTED = """\
[  884.752629] FAULT_INJECTION: forcing a failure.
[  884.752629] name failslab, interval 1, probability 0, space 0, times -1
[  884.753551] CPU: 0 UID: 0 PID: 67 Comm: python Tainted: G           O     N 6.12.117
[  884.758028] Call Trace:
[  884.758094]  <TASK>
[  884.758132]  dump_stack_lvl+0x7c/0x90
[  884.758268]  should_fail_ex+0x4b4/0x590
[  884.758328]  ? percpu_ref_init+0xc8/0x330
[  884.758432]  __kmalloc_cache_noprof+0x56/0x350
[  884.758506]  ? pemove_map_switch+0x800/0x800 [pemove]
[  884.758691]  percpu_ref_init+0xc8/0x330
[  884.758776]  pemove_pv_get+0x18a/0x8c0 [pemove]
[  884.758883]  pemove_lv_create+0x733/0x1500 [pemove]
[  884.403]  </TASK>
[  885.000000] Call Trace:
[  885.000001]  other_function+0x1/0x2
"""


def test_stack_frames_skips_stale_words_and_stops_at_the_dump_end() -> None:
    frames = kmsg.stack_frames(_INJECTED, after="FAULT_INJECTION")
    assert frames == [
        "dump_stack_lvl",
        "should_fail_ex",
        "__kmalloc_cache_noprof",
        "percpu_ref_init",
        "pemove_pv_get",
        "pemove_lv_create",
    ]
    assert kmsg.stack_frames(_INJECTED, after="no such line") == []
    assert kmsg.stack_frames("no trace here") == []


def test_an_injected_failure_and_its_stack_are_no_splat() -> None:
    assert kmsg.first_splat(_INJECTED) is None


@pytest.mark.parametrize(
    ("text", "continues"),
    [
        ("Call Trace:", True),
        (" <TASK>", True),
        ("  dump_stack_lvl+0x7c/0x90", True),
        ("CPU: 1 UID: 0 PID: 67 Comm: python Tainted: G W O 6.12.118 #1", True),
        ("Tainted: [W]=WARN, [O]=OOT_MODULE", True),
        ("Hardware name: QEMU Standard PC (Q35 + ICH9, 2009)", True),
        ("RAX: ffffffffffffffda RBX: 00000000c090e701", True),
        ("R13: 0000000000000001 R14: 00007ffe771c3dc0", True),
        ("FAULT_INJECTION: forcing a failure.", False),
        ("WARNING: CPU: 1 PID: 67 at lib/list_debug.c:35", False),
        ("BUG: sleeping function called from invalid context", False),
        ("pemove-test: end tests/guest/test_x.py::test_y", False),
    ],
)
def test_continues_report_after_lost_records(text: str, continues: bool) -> None:
    """After the ring buffer lost records, the rest of a cut report is skipped, not judged."""
    from pemove.vm import devkmsg

    assert devkmsg.continues_report(text) is continues


def test_read_after_lost_records_skips_the_cut_report_and_judges_the_rest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """/dev/kmsg answers EPIPE when records were overwritten, then resumes mid-report.

    Without the resync the orphan ``Call Trace:`` is read and judged a splat
    (what failed the fail-nth walk on debug-6.12); with it, the cut report's
    rest is skipped and a real report after it is still found.
    """
    from pemove.vm import devkmsg

    stream: list[bytes | OSError] = [
        OSError(errno.EPIPE, "Broken pipe"),
        b"4,900,659918118,-;Call Trace:\n",
        b"4,901,659918130,-; <TASK>\n",
        b"4,902,659918140,-;  dump_stack_lvl+0x7c/0x90\n",
        b"4,903,659919000,-;kobject: kobject_add_internal failed\n",
        b"4,904,659919500,-;WARNING: CPU: 1 PID: 67 at lib/list_debug.c:35\n",
    ]

    def fake_read(fd: int, size: int) -> bytes:
        if not stream:
            raise BlockingIOError
        item = stream.pop(0)
        if isinstance(item, OSError):
            raise item
        return item

    kmsg_file = tmp_path / "kmsg"
    kmsg_file.write_bytes(b"")
    log = devkmsg.KernelLog(path=str(kmsg_file))
    monkeypatch.setattr(devkmsg.os, "read", fake_read)
    try:
        texts = [r.text for r in log.read()]
    finally:
        monkeypatch.undo()
        log.close()
    assert texts == [
        "kobject: kobject_add_internal failed",
        "WARNING: CPU: 1 PID: 67 at lib/list_debug.c:35",
    ]
    splats = kmsg.find_splats([f"[  659.9] {t}" for t in texts], kmsg.DEFAULT_ALLOW)
    assert [s.line for s in splats] == [
        "[  659.9] WARNING: CPU: 1 PID: 67 at lib/list_debug.c:35"
    ]
