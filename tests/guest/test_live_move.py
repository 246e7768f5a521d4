"""The live move: no IO is held for a copy, a write waits at most for its chunk.

DESCRIPTION: issue "a live move that never holds IO for a copy".  A live
PE_MOVE sends reads to the source until the switch, lets one chunk (two,
double-buffered) into its window at a time, and mirrors every write to a
copied chunk to both PEs.  Each test here shows one promise against the real
module, most with the seed's whole-extent move beside it so the difference
is measured in the same boot: reads held, a write to the chunk being copied,
a destination failing while writes are mirrored, SIGKILL mid-copy, two LEs
of one LV at once, the two-phase end, and evacuating a shared disk.
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kit.directio import read_direct, write_direct, write_in_thread
from kit.faults import clean_les, move_in_thread, spawn_mover
from kit.rig import EXTENT, LE_BLOCKS, Rig, at
from pemove import errors, uapi
from pemove.control import Control, Extent
from pemove.wait import wait_until
from pemove.workload import blockfmt, dm
from pemove.workload.blockfmt import BLOCK_SIZE

CHUNK = 64  # 32 KiB chunks: many windows per LE


def read_block(node: str, sector: int) -> bytes:
    return read_direct(node, sector * 512, BLOCK_SIZE)


def evacuate(disk: str, timeout: float) -> Any:
    """``pemove evacuate DISK --json``: its summary (it must exit 0)."""
    pemove = os.path.join(os.path.dirname(sys.executable), "pemove")
    res = subprocess.run(
        [pemove, "evacuate", disk, "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


class Readers:
    """O_DIRECT readers looping over one LE until stopped; they count their reads."""

    def __init__(self, node: str, le: int, n: int = 2) -> None:
        self.stop = threading.Event()
        self.reads = 0
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._run, args=(node, le, i), daemon=True)
            for i in range(n)
        ]

    def _run(self, node: str, le: int, i: int) -> None:
        buf = mmap.mmap(-1, BLOCK_SIZE)
        fd = os.open(node, os.O_RDONLY | os.O_DIRECT)
        try:
            block = i
            while not self.stop.is_set():
                os.preadv(fd, [buf], (le * LE_BLOCKS + block % LE_BLOCKS) * BLOCK_SIZE)
                self.reads += 1
                block += 7
        except BaseException as exc:  # reported by finish()
            self.errors.append(exc)
        finally:
            os.close(fd)

    def __enter__(self) -> Readers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)
        assert not self.errors, self.errors


@pytest.mark.disks(2)
def test_reads_are_never_held(rig: Rig) -> None:
    """Readers and writers on the moving LE: the live move holds no read; the whole move does."""
    ctl = rig.ctl
    slow = rig.slow(write_ms=20)
    lv = rig.lv("rd")
    with rig.load(lv).running(), Readers(lv.node, 0) as readers:
        before = ctl.lv_status("rd").counters
        live = ctl.pe_move("rd", 0, slow, mode="live", chunk_sectors=256)
        mid = ctl.lv_status("rd").counters
        assert readers.reads > 0
        whole = ctl.pe_move("rd", 0, rig.pe(0, 2 * EXTENT), mode="whole")
        after = ctl.lv_status("rd").counters
    print(f"live: {live}\nwhole: {whole}")
    assert mid.reads_held - before.reads_held == 0, "the live move held a read"
    assert live.hold_ns == 0 and live.writes_mirrored > 0
    assert after.reads_held - mid.reads_held > 0, (
        "the whole move held no read (no readers?)"
    )
    assert whole.hold_ns > 0


@pytest.mark.disks(2)
def test_a_write_to_the_chunk_being_copied_waits_and_lands_on_both(rig: Rig) -> None:
    """A write to the chunk in the window waits for it, then reaches both PEs."""
    ctl = rig.ctl
    slow = rig.delayed(write_ms=800)
    src = rig.pe(0)
    lv = rig.make_lv("wc", EXTENT, [src])
    dest = at(slow)
    out: dict[str, Any] = {}

    def mover() -> None:
        try:
            with Control() as c:
                out["stats"] = c.pe_move(
                    "wc", 0, dest, mode="live", chunk_sectors=CHUNK, sync_only=True
                )
                out["end"] = c.pe_move_end("wc", 0, "detach")
        except errors.PemoveError as exc:
            out["error"] = exc

    th = threading.Thread(target=mover, daemon=True)
    th.start()
    # Chunk 2 is being written to the destination once chunks 0 and 1 are copied.
    wait_until(
        lambda: ctl.move_status("wc", 0).copied_sectors >= 2 * CHUNK, 120, "2 chunks"
    )
    target = ctl.move_status("wc", 0).copied_sectors  # the chunk in the window now
    lba = target * 512 // BLOCK_SIZE
    data = blockfmt.pack(lba, 1, 42)
    with write_in_thread(lv.node, lba * BLOCK_SIZE, data) as writer:
        wait_until(
            lambda: ctl.lv_status("wc").les[0].held >= 1, 30, "the write to wait"
        )
        assert writer.is_alive(), "the write went through while its chunk was copied"
    th.join(300)
    assert "error" not in out, out
    assert out["stats"].writes_waited >= 1 and out["stats"].max_wait_ns > 0
    # Both PEs hold it: the source (authoritative until the switch) and the copy.
    assert read_block(rig.disks[0], src.sector + target) == data
    assert read_block(slow.node, target) == data
    with Control() as c:
        c.pe_move_end("wc", 0, "commit")
    assert read_block(lv.node, target) == data
    assert ctl.lv_status("wc").les[0].pe == dest


@pytest.mark.disks(2)
@pytest.mark.kmsg_allow(r"I/O error", r"Buffer I/O error", r"pemove: .*move of LE")
def test_destination_fails_during_mirrored_writes(rig: Rig) -> None:
    """The destination dies while writes are mirrored: they still succeed, COMMIT is EIO,
    the map is unchanged, the destination is released, nothing is lost."""
    ctl = rig.ctl
    dst = rig.linear("dst")
    lv = rig.lv("mf")
    load = rig.load(lv)
    with load.running():
        load.wait_writes(10)
        stats = ctl.pe_move("mf", 0, at(dst), mode="live", sync_only=True)
        assert stats.synced
        assert ctl.lv_status("mf").les[0].synced
        mirrored = ctl.lv_status("mf").counters.writes_mirrored
        load.wait_writes(20)
        assert ctl.lv_status("mf").counters.writes_mirrored > mirrored
        dst.reload(dm.error_table(4 * EXTENT))
        load.wait_writes(30)  # the writers go on: the source completes them
        with pytest.raises(errors.MoveIOError) as exc:
            ctl.pe_move_end("mf", 0, "commit")
        assert exc.value.errno == errno.EIO
        load.wait_writes(10)
    status = ctl.lv_status("mf")
    assert status.les[0].pe == rig.pe(0)
    assert status.info.pv_count == 1 and clean_les(status)
    assert status.counters.moves_failed == 1


@pytest.mark.disks(2)
def test_a_detached_mirrors_failed_destination_holds_writes_until_abort(
    rig: Rig,
) -> None:
    """Once detached, userspace may have recorded the destination as the LE's home.

    So when the destination then fails, no write may be acknowledged from
    the source alone: the write whose destination leg failed, and every
    write after it, waits; COMMIT fails with EIO and leaves the move; ABORT
    (sent once the metadata names the source again) completes them on the
    source.  Without the hold (the module before it) the write completed at
    once, and a crash then, with the metadata naming the destination, lost it.
    """
    ctl = rig.ctl
    dst = rig.linear("hold")
    lv = rig.lv("hd")
    source = rig.pe(0)
    wrlocked = uapi.const["PEMOVE_LE_WRLOCKED"]
    write_direct(lv.node, 0, b"\x11" * BLOCK_SIZE)
    stats = ctl.pe_move("hd", 0, at(dst), mode="live", sync_only=True)
    assert stats.synced
    ctl.pe_move_end("hd", 0, "detach")
    try:
        dst.reload(dm.error_table(4 * EXTENT))
        new = b"\x22" * BLOCK_SIZE
        with (
            write_in_thread(lv.node, 0, new, timeout=60) as first,
            write_in_thread(lv.node, 8 * BLOCK_SIZE, new, timeout=60) as second,
        ):
            first.join(3)
            second.join(0.5)
            assert first.is_alive() and second.is_alive(), (
                "a write was acknowledged from the source alone while the "
                "detached mirror's destination had failed"
            )
            le = ctl.lv_status("hd").les[0]
            assert le.state & wrlocked and le.held == 2, le
            with pytest.raises(errors.MoveIOError) as exc:
                ctl.pe_move_end("hd", 0, "commit")
            assert exc.value.errno == errno.EIO
            assert ctl.move_status("hd", 0).detached, "COMMIT let the failed move go"
            assert first.is_alive() and second.is_alive()
            ctl.pe_move_end("hd", 0, "abort")
    finally:
        if ctl.move_status("hd", 0).active:
            ctl.pe_move_end("hd", 0, "abort")
    assert read_block(lv.node, 0) == new and read_block(lv.node, 64) == new
    status = ctl.lv_status("hd")
    assert status.les[0].pe == source and clean_les(status)
    assert status.info.pv_count == 1 and status.counters.moves_failed == 1


@pytest.mark.disks(2)
def test_sigkill_mid_copy(rig: Rig) -> None:
    """SIGKILL while a live move copies: it stops at the next chunk, the map is unchanged."""
    ctl = rig.ctl
    dest = rig.slow(write_ms=100)
    lv = rig.lv("sk")
    load = rig.load(lv)
    with load.running():
        with spawn_mover("sk", 0, dest, "live", chunk_sectors=64) as mover:
            wait_until(
                lambda: ctl.move_status("sk", 0).copied_sectors >= 4 * 64,
                120,
                "4 chunks",
            )
            load.wait_writes(10)
            mover.send_signal(signal.SIGKILL)
            assert mover.wait(60) == -signal.SIGKILL
        load.wait_writes(10)
    status = ctl.lv_status("sk")
    assert status.les[0].pe == rig.pe(0)
    assert clean_les(status) and status.info.pv_count == 1


@pytest.mark.disks(3)
def test_two_les_of_one_lv_move_at_once(rig: Rig) -> None:
    """LE 0 copies slowly; LE 1 moves meanwhile and finishes first: neither waits on the other."""
    ctl, figures = rig.ctl, rig.figures
    slow = rig.slow(write_ms=50)
    lv = rig.lv("two", 2)
    with rig.load(lv).running():
        th, out = move_in_thread("two", 0, slow, figures, mode="live")
        wait_until(lambda: ctl.move_status("two", 0).active, 60, "LE 0 to start moving")
        t0 = time.monotonic()
        with figures.move():
            fast = ctl.pe_move("two", 1, rig.pe(2), mode="live")
        took = time.monotonic() - t0
        still = ctl.move_status("two", 0)
        assert still.active, "LE 0's move ended before LE 1's: the test proves nothing"
        held_on_1 = ctl.lv_status("two").les[1].held
        th.join(600)
    assert "stats" in out, out
    print(f"LE 1 moved in {took:.2f} s while LE 0 copied: {fast}")
    assert held_on_1 == 0
    assert clean_les(ctl.lv_status("two"))


@pytest.mark.disks(2)
def test_two_phase_end_close_aborts_detach_survives(rig: Rig) -> None:
    """A synced move: closing its control file aborts it; a detached one outlives it."""
    ctl = rig.ctl
    src = rig.pe(0)
    dest = rig.pe(1)
    rig.make_lv("tp", EXTENT, [src])
    with Control() as c:
        c.pe_move("tp", 0, dest, mode="live", sync_only=True)
        assert ctl.lv_status("tp").les[0].synced
        with pytest.raises(errors.LVBusy):
            ctl.pe_move_end("tp", 0, "commit")  # another handle owns it
    st = ctl.lv_status("tp")
    assert st.les[0].pe == src and clean_les(st), "closing the owner did not abort"
    assert st.info.pv_count == 1

    with Control() as c:
        c.pe_move("tp", 0, dest, mode="whole", sync_only=True)
        c.pe_move_end("tp", 0, "detach")
    st = ctl.lv_status("tp")
    assert st.les[0].synced and st.les[0].detached and st.les[0].pe == src
    with pytest.raises(errors.LVBusy):
        ctl.lv_remove("tp")
    end = ctl.pe_move_end("tp", 0, "commit")
    assert end.dest == dest
    st = ctl.lv_status("tp")
    assert st.les[0].pe == dest and clean_les(st) and st.info.pv_count == 1


@pytest.mark.disks(4)
def test_evacuate_a_shared_disk_under_io_then_reuse_it(rig: Rig) -> None:
    """``pemove evacuate`` empties a PV shared by two LVs while both are written; dm claims it."""
    ctl = rig.ctl
    src = rig.disks[0]
    a = rig.make_lv("ea", EXTENT, [rig.pe(0), rig.pe(0, EXTENT), rig.pe(1)])
    b = rig.make_lv("eb", EXTENT, [rig.pe(0, 2 * EXTENT), rig.pe(2)])
    load_a = rig.load(a, [0, 1])
    load_b = rig.load(b, [0], seed=rig.seed + 10)
    with load_a.running(), load_b.running():
        summary = evacuate(src, timeout=600)
        load_a.wait_writes(10)
        load_b.wait_writes(10)
    assert summary["complete"] and summary["released"], summary
    assert len(summary["moved"]) == 3
    assert all(m["mode"] == "live" for m in summary["moved"])
    for name in ("ea", "eb"):
        pes = {(le.pe.major, le.pe.minor) for le in ctl.lv_status(name).les}
        s = Extent.from_path(src)
        assert (s.major, s.minor) not in pes
    sectors = int(Path(f"/sys/class/block/{os.path.basename(src)}/size").read_text())
    user = dm.create("claim", dm.linear_table(src, sectors))
    dm.remove(user.name)
    # Nothing left to do: a second run is a no-op.
    assert evacuate(src, timeout=600)["planned"] == 0


@pytest.mark.disks(2)
@pytest.mark.parametrize("mode", ["whole", "live"])
def test_a_write_in_flight_when_the_move_starts_reaches_the_destination(
    rig: Rig, mode: str
) -> None:
    """A write issued before the move claimed the LE is drained before its chunk is read.

    Found by the fio oracle (blocks read back as zeros after live moves).
    The source PV delays writes by 1.5 s and not reads, so a write issued
    just before PE_MOVE is still on its way to the source when the copier
    reads that chunk.  The whole-extent move drains every bio in flight
    before it copies; a live move that only drained the writes it had
    routed itself copied the chunk without the write, and the write landed
    on the old PE after the switch: lost.
    """
    ctl = rig.ctl
    slow = rig.delayed(write_ms=1500, name="ssrc", disk=0)
    lv = rig.make_lv("wf", EXTENT, [at(slow)])
    dest = rig.pe(1)
    lba = 3
    data = blockfmt.pack(lba, 1, 7)
    with write_in_thread(lv.node, lba * BLOCK_SIZE, data):
        wait_until(
            lambda: ctl.lv_status("wf").les[0].inflight >= 1, 30, "the write in flight"
        )
        stats = ctl.pe_move("wf", 0, dest, mode=mode, chunk_sectors=CHUNK)  # type: ignore[arg-type]
    assert stats.bios_drained >= 1, "the write was not in flight when the move began"
    assert ctl.lv_status("wf").les[0].pe == dest
    assert read_block(lv.node, lba * BLOCK_SIZE // 512) == data, "the write was lost"
