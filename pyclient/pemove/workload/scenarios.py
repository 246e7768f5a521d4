"""The four scenarios of issue 4, run inside a pemove guest.

Each scenario uses the guest's raw disks as PVs (with a dm-delay table,
named ``pemove-t-*``, where it needs one), makes its own LVs (``pmt-*``),
runs, verifies, tears everything down, and returns one result dict::

    {"name", "path", "acked", "lost", "stale", "corrupt", "moves", "seconds", ...}

``path`` is how extents were moved: ``"locked"`` (PE_MOVE), ``"legacy"``
(the 2002 userspace move, :func:`pemove.legacy.legacy_move`) or ``"auto"``
(:meth:`Control.move_pe`, which falls back to legacy on ENOTTY; the result
then names the path actually taken).

1. ``inflight``: writes to the source PV are delayed by dm-delay (reads are
   not).  Four O_DIRECT writers keep four writes in flight on one LE; once
   LV_STATUS shows all four in flight, the LE is moved, and the writers are
   told to stop after the write they have in flight.  The legacy move locks
   without waiting, copies at once (reads are not delayed), remaps, and the
   four delayed writes then land on the old PE: exactly one lost write per
   writer, every run.  PE_MOVE waits for them first: none lost.
2. ``stale``: generation 1 of every block of an LE is written through the LV;
   a buffered read of the source PV's node caches it; generation 2 is written
   through the LV (O_DIRECT, acknowledged); the LE is moved.  The legacy copy
   reads the source PV through its page cache and carries generation 1: every
   block stale.  PE_MOVE reads the disk: none.
3. ``storm``: every PE of two LVs moves back and forth between two disks
   while O_DIRECT writers, a buffered+fsync writer and an ext4 file writer
   run; then blocks are verified, ext4 is unmounted and checked with
   ``e2fsck -fn``, and every file is compared with its last fsynced content.
4. ``fio``: fio writes with ``verify=crc32c``, ``verify_backlog`` and
   ``serialize_overlap=1`` while extents are moved, then a ``--verify_only``
   pass reads everything back.

Run ``python -m pemove.workload.scenarios --help`` in a guest.  Swap on an
LV under memory pressure is not implemented.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import mmap
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pemove import discovery, exitcodes, legacy
from pemove.control import Control, Extent, LVInfo
from pemove.workload import dm
from pemove.workload.blockfmt import BLOCK_SIZE
from pemove.workload.ledger import Ledger, MoveEvent
from pemove.workload.verify import verify
from pemove.workload.writers import (
    BufferedWriter,
    DirectWriter,
    Ext4Volume,
    FileWriter,
    join_all,
    partition_lbas,
    write_pass,
)

__all__ = [
    "PATHS",
    "SCENARIOS",
    "fio_oracle",
    "inflight_race",
    "judge",
    "main",
    "move_storm",
    "stale_cache",
]

PATHS = ("legacy", "locked", "auto")
LV_PREFIX = "pmt-"
MIB_SECTORS = 2048
# Scenarios 1 and 2 need only one small LE: 256 KiB, 64 blocks.  Fewer
# blocks keep them quick under TCG, where each synchronous write costs ms.
SMALL_EXTENT_SECTORS = 512

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- plumbing ----------------------------------------------------------------


_loaded: set[str] = set()


def _modprobe(*modules: str) -> None:
    # Once per process: under TCG every exec costs seconds.
    for mod in modules:
        if mod not in _loaded:
            subprocess.run(["modprobe", mod], capture_output=True, check=False)
            _loaded.add(mod)


# BLKFLSBUF, _IO(0x12, 97): write back and drop a block device's page cache.
_BLKFLSBUF = 0x1261


def _drop_cache(path: str) -> None:
    """Empty the page cache of block device ``path``, so no earlier run's pages remain."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, _BLKFLSBUF)
    finally:
        os.close(fd)


def _zero(path: str, sector: int, sectors: int) -> None:
    """Write zeros over a range with O_DIRECT, so no earlier run's blocks remain."""
    chunk = 1 << 20
    buf = mmap.mmap(-1, chunk)
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC)
    try:
        done, total = 0, sectors * 512
        while done < total:
            n = min(chunk, total - done)
            with memoryview(buf)[:n] as view:
                os.pwrite(fd, view, sector * 512 + done)
            done += n
    finally:
        os.close(fd)
        buf.close()


@contextlib.contextmanager
def _lv(
    ctl: Control, name: str, extent_sectors: int, extents: Sequence[Extent]
) -> Iterator[tuple[LVInfo, str]]:
    """Create an LV, wait for its node, and remove it afterwards."""
    with contextlib.suppress(OSError):
        ctl.lv_remove(name)  # a leftover of an interrupted run
    with discovery.watch_for_disk() as watch:
        info = ctl.lv_create(name, extent_sectors, list(extents))
        try:
            node = watch.wait(info.disk_name)
        except BaseException:
            ctl.lv_remove(name)
            raise
    try:
        yield info, node
    finally:
        ctl.lv_remove_when_released(name, timeout=10)


class _Mover:
    """Moves LEs by one path and records each move in the ledgers of its LV."""

    def __init__(self, ctl: Control, path: str) -> None:
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, not {path!r}")
        self.ctl = ctl
        self.path = path
        self.taken: set[str] = set()
        self.moves = 0
        self.hold_ns: list[int] = []
        self.not_waited = 0

    def move(
        self, lv: str, le: int, dest: Extent, ledgers: Sequence[Ledger] = ()
    ) -> MoveEvent:
        start = time.monotonic_ns()
        if self.path == "locked":
            stats = self.ctl.pe_move(lv, le, dest)
            taken = "locked"
        elif self.path == "legacy":
            stats = legacy.legacy_move(self.ctl, lv, le, dest)
            taken = "legacy"
        else:
            result = self.ctl.move_pe(lv, le, dest)
            stats, taken = result.stats, result.method
        event = MoveEvent(lv, le, start, time.monotonic_ns(), taken)
        for led in ledgers:
            led.add_move(event)
        self.taken.add(taken)
        self.moves += 1
        self.hold_ns.append(stats.hold_ns)
        self.not_waited += stats.bios_not_waited
        return event

    def path_taken(self) -> str:
        return "+".join(sorted(self.taken)) or self.path

    def stats(self) -> dict[str, Any]:
        holds = sorted(self.hold_ns)
        return {
            "hold_ms_max": round(holds[-1] / 1e6, 3) if holds else 0,
            "hold_ms_median": round(holds[len(holds) // 2] / 1e6, 3) if holds else 0,
            "bios_not_waited": self.not_waited,
        }


class _Phases:
    """Seconds spent in each phase of a scenario, reported with its result."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        now = time.monotonic()
        self.seconds[phase] = round(now - self.last, 2)
        self.last = now


def _wait_for(what: str, cond: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.005)


def _result(
    name: str,
    mover: _Mover,
    acked: int,
    lost: int,
    stale: int,
    corrupt: int,
    t0: float,
    seed: int,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "path": mover.path_taken(),
        "acked": acked,
        "lost": lost,
        "stale": stale,
        "corrupt": corrupt,
        "moves": mover.moves,
        "seconds": round(time.monotonic() - t0, 2),
        "seed": seed,
        **mover.stats(),
        **extra,
    }


# -- scenario 1: in-flight race ------------------------------------------------


def inflight_race(
    ctl: Control,
    disks: Sequence[str],
    path: str,
    *,
    seed: int,
    writers: int = 4,
    write_ms: int = 1000,
    extent_sectors: int = SMALL_EXTENT_SECTORS,
    log: Log = _stderr,
) -> dict[str, Any]:
    """Scenario 1: O_DIRECT writes in flight (delayed by dm-delay) when the LE moves.

    :param disks: at least two raw disks
    :param writers: O_DIRECT writer threads, i.e. writes in flight at the move
    :param write_ms: dm-delay's write delay on the source PV
    """
    t0 = time.monotonic()
    phases = _Phases()
    _modprobe("dm-delay")
    mover = _Mover(ctl, path)
    bpe = extent_sectors * 512 // BLOCK_SIZE
    _zero(disks[0], 0, extent_sectors)
    _zero(disks[1], 0, extent_sectors)
    with dm.dm_devices() as made:
        src = dm.create(
            "race-src",
            dm.delay_table(disks[0], extent_sectors, read_ms=0, write_ms=write_ms),
        )
        made.append(src)
        dst = Extent.from_path(disks[1], 0)
        pe = Extent(src.major, src.minor, 0)
        with _lv(ctl, f"{LV_PREFIX}race-{path}", extent_sectors, [pe]) as (info, node):
            phases.mark("setup")
            ledger = Ledger(info.name, bpe)
            stop = threading.Event()
            deadline = time.monotonic_ns() + int(60e9)
            parts = partition_lbas(list(range(bpe)), writers)
            threads = [
                DirectWriter(
                    node,
                    ledger,
                    i + 1,
                    parts[i],
                    stop,
                    deadline_ns=deadline,
                    seed=seed + i,
                )
                for i in range(writers)
            ]
            for t in threads:
                t.start()
            try:
                # First let each writer have a write acknowledged, so the LE
                # holds data; then move while all of them have one in flight.
                _wait_for(
                    "a first acknowledged write per writer",
                    lambda: all(
                        any(r.ack_ns for lba in t.lbas for r in ledger.history[lba])
                        for t in threads
                    ),
                    timeout=30,
                )
                _wait_for(
                    f"{writers} writes in flight on LE 0",
                    lambda: (
                        ctl.lv_status(info.name, le_count=1).les[0].inflight >= writers
                    ),
                    timeout=30,
                )
                mover.move(info.name, 0, dst, [ledger])
            finally:
                stop.set()
                join_all(threads)
            phases.mark("write+move")
            report = verify(node, ledger)
            phases.mark("verify")
    phases.mark("teardown")
    log(f"inflight/{mover.path_taken()}: {report.summary()}")
    return _result(
        "inflight",
        mover,
        report.acked,
        report.lost,
        report.stale,
        report.corrupt,
        t0,
        seed,
        writers=writers,
        write_delay_ms=write_ms,
        phases=phases.seconds,
        verify=report.to_json(),
    )


# -- scenario 2: stale page cache ----------------------------------------------


def stale_cache(
    ctl: Control,
    disks: Sequence[str],
    path: str,
    *,
    seed: int,
    extent_sectors: int = SMALL_EXTENT_SECTORS,
    log: Log = _stderr,
) -> dict[str, Any]:
    """Scenario 2: the source PV's page cache holds old data when the LE moves.

    :param disks: at least two raw disks
    """
    t0 = time.monotonic()
    phases = _Phases()
    mover = _Mover(ctl, path)
    bpe = extent_sectors * 512 // BLOCK_SIZE
    _zero(disks[0], 0, extent_sectors)
    _zero(disks[1], 0, extent_sectors)
    # The raw disks serve as PVs: no dm device means no process to start.
    for disk in disks[:2]:
        _drop_cache(disk)
    src = Extent.from_path(disks[0], 0)
    dst = Extent.from_path(disks[1], 0)
    with _lv(ctl, f"{LV_PREFIX}stale-{path}", extent_sectors, [src]) as (info, node):
        phases.mark("setup")
        ledger = Ledger(info.name, bpe)
        lbas = list(range(bpe))
        random.Random(seed).shuffle(lbas)
        ledger.claim(lbas, 1)
        write_pass(node, ledger, 1, lbas)
        # Read the PE through the PV's node: its page cache now holds
        # generation 1.  Keep the node open so the cache is not dropped on
        # last close, whatever else holds the PV.
        cache_fd = os.open(disks[0], os.O_RDONLY | os.O_CLOEXEC)
        try:
            got = os.pread(cache_fd, extent_sectors * 512, 0)
            if len(got) != extent_sectors * 512:
                raise OSError(f"{disks[0]}: short read while filling the page cache")
            write_pass(node, ledger, 1, lbas)
            mover.move(info.name, 0, dst, [ledger])
        finally:
            os.close(cache_fd)
        phases.mark("write+move")
        report = verify(node, ledger)
        phases.mark("verify")
    phases.mark("teardown")
    log(f"stale/{mover.path_taken()}: {report.summary()}")
    return _result(
        "stale",
        mover,
        report.acked,
        report.lost,
        report.stale,
        report.corrupt,
        t0,
        seed,
        phases=phases.seconds,
        verify=report.to_json(),
    )


# -- scenario 3: move storm ------------------------------------------------------


class _Slots:
    """Each LE has a home PE on disk A and a twin on disk B; a move flips it."""

    def __init__(
        self,
        a: str,
        b: str,
        base: int,
        extent_sectors: int,
        count: int,
        b_base: int | None = None,
    ) -> None:
        b_base = base if b_base is None else b_base
        self.pes = [
            (
                Extent.from_path(a, base + i * extent_sectors),
                Extent.from_path(b, b_base + i * extent_sectors),
            )
            for i in range(count)
        ]
        self.on_b = [False] * count

    def home(self) -> list[Extent]:
        return [pair[0] for pair in self.pes]

    def flip(self, le: int) -> Extent:
        self.on_b[le] = not self.on_b[le]
        return self.pes[le][1 if self.on_b[le] else 0]


def move_storm(
    ctl: Control,
    disks: Sequence[str],
    path: str = "locked",
    *,
    seed: int,
    moves: int = 200,
    block_extents: int = 8,
    fs_extents: int = 32,
    extent_sectors: int = MIB_SECTORS,
    timeout: float = 900,
    log: Log = _stderr,
) -> dict[str, Any]:
    """Scenario 3: every PE of two LVs moves back and forth under mixed load.

    LV ``pmt-storm-blk`` carries four O_DIRECT writers and one buffered+fsync
    writer; LV ``pmt-storm-fs`` carries ext4 (journal inside) and a file
    writer.  LEs of both LVs are moved in turn, A to B and back, until
    ``moves`` moves are done.

    :param disks: at least two raw disks
    """
    t0 = time.monotonic()
    mover = _Mover(ctl, path)
    bpe = extent_sectors * 512 // BLOCK_SIZE
    a, b = disks[0], disks[1]
    fs_base = block_extents * extent_sectors
    total = (block_extents + fs_extents) * extent_sectors
    _zero(a, 0, total)
    _zero(b, 0, total)
    blk = _Slots(a, b, 0, extent_sectors, block_extents)
    fs = _Slots(a, b, fs_base, extent_sectors, fs_extents)
    stop = threading.Event()
    deadline = time.monotonic_ns() + int(timeout * 1e9)
    with contextlib.ExitStack() as stack:
        blk_info, blk_node = stack.enter_context(
            _lv(ctl, f"{LV_PREFIX}storm-blk", extent_sectors, blk.home())
        )
        fs_info, fs_node = stack.enter_context(
            _lv(ctl, f"{LV_PREFIX}storm-fs", extent_sectors, fs.home())
        )
        mnt = stack.enter_context(tempfile.TemporaryDirectory(prefix="pemove-storm-"))
        vol = stack.enter_context(Ext4Volume(fs_node, Path(mnt)))
        vol.create()
        ledger = Ledger(blk_info.name, bpe)
        parts = partition_lbas(list(range(block_extents * bpe)), 5)
        threads: list[Any] = [
            DirectWriter(
                blk_node,
                ledger,
                i + 1,
                parts[i],
                stop,
                deadline_ns=deadline,
                seed=seed + i,
            )
            for i in range(4)
        ]
        threads.append(
            BufferedWriter(
                blk_node, ledger, 5, parts[4], stop, deadline_ns=deadline, seed=seed + 4
            )
        )
        files = FileWriter(Path(mnt), stop, deadline_ns=deadline, seed=seed + 5)
        threads.append(files)
        order = [(blk_info.name, le, blk, [ledger]) for le in range(block_extents)]
        order += [(fs_info.name, le, fs, []) for le in range(fs_extents)]
        for t in threads:
            t.start()
        try:
            i = 0
            while mover.moves < moves and time.monotonic_ns() < deadline:
                lv, le, slots, ledgers = order[i % len(order)]
                mover.move(lv, le, slots.flip(le), ledgers)
                i += 1
                if mover.moves % 50 == 0:
                    log(
                        f"storm: {mover.moves}/{moves} moves, {ledger.acked} block writes acknowledged"
                    )
        finally:
            stop.set()
            join_all(threads)
        report = verify(blk_node, ledger)
        file_report = vol.check(files)
        vol.umount()
    log(
        f"storm/{mover.path_taken()}: {report.summary()}; files: {file_report.to_json()}"
    )
    return _result(
        "storm",
        mover,
        report.acked + file_report.acked,
        report.lost + len(file_report.lost),
        report.stale,
        report.corrupt
        + len(file_report.corrupt)
        + (0 if file_report.fsck_clean else 1),
        t0,
        seed,
        moves_wanted=moves,
        writes=sum(t.writes for t in threads),
        verify=report.to_json(),
        files=file_report.to_json(),
        fsck_clean=file_report.fsck_clean,
    )


# -- scenario 4: fio as an external oracle ------------------------------------------


def _fio_argv(
    node: str, size_mib: int, seed: int, out: str, verify_only: bool
) -> list[str]:
    argv = [
        "fio",
        "--name=pemove-oracle",
        f"--filename={node}",
        "--direct=1",
        "--ioengine=libaio",
        "--iodepth=8",
        "--rw=randwrite",
        "--bs=4k",
        f"--size={size_mib}M",
        "--verify=crc32c",
        "--verify_backlog=64",
        "--verify_fatal=1",
        "--serialize_overlap=1",
        "--verify_state_save=0",
        f"--randseed={seed}",
        "--output-format=json",
        f"--output={out}",
    ]
    if verify_only:
        argv.append("--verify_only")
    return argv


def _fio_job(out: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(out).read_text())
        return dict(doc["jobs"][0])
    except (OSError, ValueError, KeyError, IndexError):
        return {}


def fio_oracle(
    ctl: Control,
    disks: Sequence[str],
    path: str = "locked",
    *,
    seed: int,
    extents: int = 8,
    extent_sectors: int = MIB_SECTORS,
    timeout: float = 900,
    log: Log = _stderr,
) -> dict[str, Any]:
    """Scenario 4: fio verifies its own writes while extents keep moving.

    :param disks: one or more raw disks; the last one is used
    """
    t0 = time.monotonic()
    mover = _Mover(ctl, path)
    disk = disks[-1]
    span = extents * extent_sectors
    _zero(disk, 0, 2 * span)
    slots = _Slots(disk, disk, 0, extent_sectors, extents, b_base=span)
    size_mib = span // MIB_SECTORS
    with contextlib.ExitStack() as stack:
        info, node = stack.enter_context(
            _lv(ctl, f"{LV_PREFIX}fio", extent_sectors, slots.home())
        )
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="pemove-fio-"))
        write_out = f"{tmp}/write.json"
        verify_out = f"{tmp}/verify.json"
        proc = subprocess.Popen(
            _fio_argv(node, size_mib, seed, write_out, verify_only=False),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp,
        )
        deadline = time.monotonic() + timeout
        i = 0
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                mover.move(info.name, i % extents, slots.flip(i % extents))
                i += 1
        finally:
            if proc.poll() is None:
                proc.kill()
            _, write_err = proc.communicate()
        res = subprocess.run(
            _fio_argv(node, size_mib, seed, verify_out, verify_only=True),
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp,
        )
        write_job, verify_job = _fio_job(write_out), _fio_job(verify_out)
    errors = int(proc.returncode != 0) + int(res.returncode != 0)
    errors += int(bool(write_job.get("error"))) + int(bool(verify_job.get("error")))
    writes = int(write_job.get("write", {}).get("total_ios", 0))
    verified = int(verify_job.get("read", {}).get("total_ios", 0))
    log(
        f"fio/{mover.path_taken()}: {writes} writes, {verified} blocks verified, "
        f"{mover.moves} moves, rc {proc.returncode}/{res.returncode}"
    )
    return _result(
        "fio",
        mover,
        writes,
        0,
        0,
        errors,
        t0,
        seed,
        verified=verified,
        fio_rc=[proc.returncode, res.returncode],
        fio_stderr=((write_err or "") + res.stderr)[-2000:],
    )


SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {
    "inflight": inflight_race,
    "stale": stale_cache,
    "storm": move_storm,
    "fio": fio_oracle,
}


def judge(results: Sequence[dict[str, Any]]) -> list[str]:
    """What the results fail to show; empty when the harness proved its point.

    Legacy must lose writes in ``inflight`` and copy stale blocks in
    ``stale`` (otherwise the detector went blind); locked must have zero
    lost, stale and corrupt everywhere.
    """
    problems = []
    for r in results:
        where = f"{r['name']}/{r['path']}"
        if r["path"] == "locked" and (r["lost"] or r["stale"] or r["corrupt"]):
            problems.append(
                f"{where}: the locked move lost data: {r['lost']} lost, "
                f"{r['stale']} stale, {r['corrupt']} corrupt"
            )
        if r["path"] == "legacy" and r["name"] == "inflight" and not r["lost"]:
            problems.append(
                f"{where}: the legacy move lost no write; the race was not reproduced"
            )
        if r["path"] == "legacy" and r["name"] == "stale" and not r["stale"]:
            problems.append(
                f"{where}: the legacy move copied no stale block; the cache was not hit"
            )
        if r.get("error"):
            problems.append(f"{where}: {r['error']}")
    return problems


def run(
    names: Sequence[str],
    paths: Sequence[str],
    disks: Sequence[str],
    *,
    seed: int,
    storm_moves: int = 200,
    log: Log = _stderr,
) -> list[dict[str, Any]]:
    """Run each scenario in ``names`` for each path in ``paths``.

    The storm and fio scenarios run only for ``locked`` and ``auto`` (the
    legacy path would corrupt the filesystem and fio's data on purpose, and
    nothing would be learnt).  A scenario that fails to run is reported with
    an ``error`` key instead of stopping the others.
    """
    results = []
    with Control() as ctl:
        for name in names:
            for path in paths:
                if name in ("storm", "fio") and path == "legacy":
                    continue
                kwargs: dict[str, Any] = {"seed": seed, "log": log}
                if name == "storm":
                    kwargs["moves"] = storm_moves
                    kwargs["timeout"] = max(900.0, storm_moves * 1.5)
                log(f"scenario {name}, path {path}, seed {seed}")
                try:
                    results.append(SCENARIOS[name](ctl, disks, path, **kwargs))
                except Exception as exc:  # noqa: BLE001 -- reported in the results
                    log(f"scenario {name}/{path} failed: {exc!r}")
                    results.append(
                        {
                            "name": name,
                            "path": path,
                            "acked": 0,
                            "lost": 0,
                            "stale": 0,
                            "corrupt": 0,
                            "moves": 0,
                            "seconds": 0,
                            "seed": seed,
                            "error": f"{type(exc).__name__}: {exc}",
                        }
                    )
    return results


def guest_disks() -> list[str]:
    """The raw disks the VM runner attached (``PEMOVE_DISKS``)."""
    return [d for d in os.environ.get("PEMOVE_DISKS", "").split(":") if d]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pemove.workload.scenarios``: run scenarios, print results."""
    p = argparse.ArgumentParser(
        prog="python -m pemove.workload.scenarios",
        description="Run the pemove data-loss scenarios (in a guest, as root, module loaded).",
    )
    p.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help="scenario to run (repeatable; default: inflight and stale)",
    )
    p.add_argument(
        "--path",
        action="append",
        choices=PATHS,
        help="move path (repeatable; default: legacy and locked)",
    )
    p.add_argument("--disks", help="colon-separated raw disks (default: $PEMOVE_DISKS)")
    p.add_argument(
        "--seed",
        type=int,
        help="seed for every random choice (default: random, printed)",
    )
    p.add_argument(
        "--storm-moves", type=int, default=200, help="moves in the storm scenario"
    )
    p.add_argument(
        "--json", action="store_true", help="print the results as JSON on stdout"
    )
    p.add_argument("--out", help="also write the JSON results to this file")
    args = p.parse_args(argv)
    disks = args.disks.split(":") if args.disks else guest_disks()
    if len(disks) < 2:
        print(
            "pemove scenarios: need at least two raw disks; pass --disks /dev/vdb:/dev/vdc "
            "or run under `pemove vm --disks 3`",
            file=sys.stderr,
        )
        return exitcodes.USAGE
    seed = (
        args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    )
    print(f"pemove scenarios: seed {seed}", file=sys.stderr)
    results = run(
        args.scenario or ["inflight", "stale"],
        args.path or ["legacy", "locked"],
        disks,
        seed=seed,
        storm_moves=args.storm_moves,
    )
    doc = {"seed": seed, "scenarios": results, "problems": judge(results)}
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        for r in results:
            print(
                f"{r['name']:9} {r['path']:7} acked {r['acked']:6} lost {r['lost']:5} "
                f"stale {r['stale']:5} corrupt {r['corrupt']:5} moves {r['moves']:5} {r['seconds']:7.1f} s"
            )
    for problem in doc["problems"]:
        print(f"pemove scenarios: {problem}", file=sys.stderr)
    return exitcodes.VERIFY if doc["problems"] else exitcodes.OK


if __name__ == "__main__":
    sys.exit(main())
