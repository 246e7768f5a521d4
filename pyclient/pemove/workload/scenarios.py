"""The four scenarios of issue 4, run inside a pemove guest.

Each scenario uses the guest's raw disks as PVs (with a dm-delay table,
named ``pemove-t-*``, where it needs one), makes its own LVs (``pmt-*``),
runs, verifies, tears everything down, and returns one result dict::

    {"name", "method", "acked", "lost", "stale", "corrupt", "moves", "seconds", ...}

``method`` is how extents were moved, as :func:`pemove.move.move_extent`
names it: ``"locked"`` (PE_MOVE), ``"legacy"`` (the 2002 userspace move) or
``"auto"`` (locked, falling back to legacy on ENOTTY); the result names the
method actually taken.

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

Run ``python -m pemove.workload.scenarios --help`` in a guest; ``pemove demo``
runs it there with ``--out demo.json``.  Swap on an LV under memory pressure
is tests/guest/test_memory_pressure.py's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pemove import exitcodes, lvs
from pemove.control import Control, Extent
from pemove.move import METHODS, move_extent
from pemove.vm import guest
from pemove.wait import wait_until
from pemove.workload import dm
from pemove.workload.blockdev import drop_cache, modprobe, zero
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
    "SCENARIOS",
    "fio_oracle",
    "inflight_race",
    "judge",
    "main",
    "move_storm",
    "stale_cache",
]

LV_PREFIX = "pmt-"
MIB_SECTORS = 2048
# Scenarios 1 and 2 need only one small LE: 256 KiB, 64 blocks.  Fewer
# blocks keep them quick under TCG, where each synchronous write costs ms.
SMALL_EXTENT_SECTORS = 512

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- plumbing ----------------------------------------------------------------


class _MoveRecorder:
    """Moves LEs by one method and records each move in the ledgers of its LV."""

    def __init__(self, ctl: Control, method: str) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {method!r}")
        self.ctl = ctl
        self.method = method
        self.taken: set[str] = set()
        self.moves = 0
        self.hold_ns: list[int] = []
        self.not_waited = 0

    def move(
        self, lv: str, le: int, dest: Extent, ledgers: Sequence[Ledger] = ()
    ) -> MoveEvent:
        start = time.monotonic_ns()
        result = move_extent(self.ctl, lv, le, dest, self.method)  # type: ignore[arg-type]
        event = MoveEvent(lv, le, start, time.monotonic_ns(), result.method)
        for led in ledgers:
            led.add_move(event)
        self.taken.add(result.method)
        self.moves += 1
        self.hold_ns.append(result.stats.hold_ns)
        self.not_waited += result.stats.bios_not_waited
        return event

    def method_taken(self) -> str:
        return "+".join(sorted(self.taken)) or self.method

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


def _result(
    name: str,
    mover: _MoveRecorder,
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
        "method": mover.method_taken(),
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
    method: str,
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
    modprobe("dm-delay")
    mover = _MoveRecorder(ctl, method)
    blocks_per_le = extent_sectors * 512 // BLOCK_SIZE
    zero(disks[0], 0, extent_sectors)
    zero(disks[1], 0, extent_sectors)
    with dm.dm_devices() as made:
        src = dm.create(
            "race-src",
            dm.delay_table(disks[0], extent_sectors, read_ms=0, write_ms=write_ms),
        )
        made.append(src)
        dst = Extent.from_path(disks[1], 0)
        pe = Extent(src.major, src.minor, 0)
        with lvs.temporary(ctl, f"{LV_PREFIX}race-{method}", extent_sectors, [pe]) as (
            info,
            node,
        ):
            phases.mark("setup")
            ledger = Ledger(info.name, blocks_per_le)
            stop = threading.Event()
            deadline = time.monotonic_ns() + int(60e9)
            parts = partition_lbas(list(range(blocks_per_le)), writers)
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
                wait_until(
                    lambda: all(
                        any(r.ack_ns for lba in t.lbas for r in ledger.history[lba])
                        for t in threads
                    ),
                    30,
                    "a first acknowledged write per writer",
                    interval=0.005,
                )
                wait_until(
                    lambda: (
                        ctl.lv_status(info.name, le_count=1).les[0].inflight >= writers
                    ),
                    30,
                    f"{writers} writes in flight on LE 0",
                    interval=0.005,
                )
                mover.move(info.name, 0, dst, [ledger])
            finally:
                stop.set()
                join_all(threads)
            phases.mark("write+move")
            report = verify(node, ledger)
            phases.mark("verify")
    phases.mark("teardown")
    log(f"inflight/{mover.method_taken()}: {report.summary()}")
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
    method: str,
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
    mover = _MoveRecorder(ctl, method)
    blocks_per_le = extent_sectors * 512 // BLOCK_SIZE
    zero(disks[0], 0, extent_sectors)
    zero(disks[1], 0, extent_sectors)
    # The raw disks serve as PVs: no dm device means no process to start.
    for disk in disks[:2]:
        drop_cache(disk)
    src = Extent.from_path(disks[0], 0)
    dst = Extent.from_path(disks[1], 0)
    with lvs.temporary(ctl, f"{LV_PREFIX}stale-{method}", extent_sectors, [src]) as (
        info,
        node,
    ):
        phases.mark("setup")
        ledger = Ledger(info.name, blocks_per_le)
        lbas = list(range(blocks_per_le))
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
    log(f"stale/{mover.method_taken()}: {report.summary()}")
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
    method: str = "locked",
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
    mover = _MoveRecorder(ctl, method)
    blocks_per_le = extent_sectors * 512 // BLOCK_SIZE
    a, b = disks[0], disks[1]
    fs_base = block_extents * extent_sectors
    total = (block_extents + fs_extents) * extent_sectors
    zero(a, 0, total)
    zero(b, 0, total)
    blk = _Slots(a, b, 0, extent_sectors, block_extents)
    fs = _Slots(a, b, fs_base, extent_sectors, fs_extents)
    stop = threading.Event()
    deadline = time.monotonic_ns() + int(timeout * 1e9)
    with contextlib.ExitStack() as stack:
        blk_info, blk_node = stack.enter_context(
            lvs.temporary(ctl, f"{LV_PREFIX}storm-blk", extent_sectors, blk.home())
        )
        fs_info, fs_node = stack.enter_context(
            lvs.temporary(ctl, f"{LV_PREFIX}storm-fs", extent_sectors, fs.home())
        )
        mnt = stack.enter_context(tempfile.TemporaryDirectory(prefix="pemove-storm-"))
        vol = stack.enter_context(Ext4Volume(fs_node, Path(mnt)))
        vol.create()
        ledger = Ledger(blk_info.name, blocks_per_le)
        parts = partition_lbas(list(range(block_extents * blocks_per_le)), 5)
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
        f"storm/{mover.method_taken()}: {report.summary()}; files: {file_report.to_json()}"
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
    method: str = "locked",
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
    mover = _MoveRecorder(ctl, method)
    disk = disks[-1]
    span = extents * extent_sectors
    zero(disk, 0, 2 * span)
    slots = _Slots(disk, disk, 0, extent_sectors, extents, b_base=span)
    size_mib = span // MIB_SECTORS
    with contextlib.ExitStack() as stack:
        info, node = stack.enter_context(
            lvs.temporary(ctl, f"{LV_PREFIX}fio", extent_sectors, slots.home())
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
        f"fio/{mover.method_taken()}: {writes} writes, {verified} blocks verified, "
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
        where = f"{r['name']}/{r['method']}"
        if r["method"] == "locked" and (r["lost"] or r["stale"] or r["corrupt"]):
            problems.append(
                f"{where}: the locked move lost data: {r['lost']} lost, "
                f"{r['stale']} stale, {r['corrupt']} corrupt"
            )
        if r["method"] == "legacy" and r["name"] == "inflight" and not r["lost"]:
            problems.append(
                f"{where}: the legacy move lost no write; the race was not reproduced"
            )
        if r["method"] == "legacy" and r["name"] == "stale" and not r["stale"]:
            problems.append(
                f"{where}: the legacy move copied no stale block; the cache was not hit"
            )
        if r.get("error"):
            problems.append(f"{where}: {r['error']}")
    return problems


def _failed(name: str, method: str, seed: int, exc: Exception) -> dict[str, Any]:
    """The result of a scenario that could not run: zero counts and the error."""
    return {
        "name": name,
        "method": method,
        "acked": 0,
        "lost": 0,
        "stale": 0,
        "corrupt": 0,
        "moves": 0,
        "seconds": 0,
        "seed": seed,
        "error": f"{type(exc).__name__}: {exc}",
    }


def run(
    names: Sequence[str],
    methods: Sequence[str],
    disks: Sequence[str],
    *,
    seed: int,
    storm_moves: int = 200,
    log: Log = _stderr,
) -> list[dict[str, Any]]:
    """Run each scenario in ``names`` with each method in ``methods``.

    The storm and fio scenarios run only for ``locked`` and ``auto`` (the
    legacy method would corrupt the filesystem and fio's data on purpose, and
    nothing would be learnt).  A scenario that fails to run is reported with
    an ``error`` key instead of stopping the others.
    """
    results = []
    with Control() as ctl:
        for name in names:
            for method in methods:
                if name in ("storm", "fio") and method == "legacy":
                    continue
                kwargs: dict[str, Any] = {"seed": seed, "log": log}
                if name == "storm":
                    kwargs["moves"] = storm_moves
                    kwargs["timeout"] = max(900.0, storm_moves * 1.5)
                log(f"scenario {name}, method {method}, seed {seed}")
                try:
                    results.append(SCENARIOS[name](ctl, disks, method, **kwargs))
                except Exception as exc:  # noqa: BLE001 -- reported in the results
                    log(f"scenario {name}/{method} failed: {exc!r}")
                    results.append(_failed(name, method, seed, exc))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pemove.workload.scenarios``: run scenarios, print results.

    Exit status: OK, VERIFY when :func:`judge` finds a problem (the JSON
    lists them), USAGE without two disks.
    """
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
        "--method",
        action="append",
        choices=METHODS,
        help="move method (repeatable; default: legacy and locked)",
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
    p.add_argument(
        "--out",
        metavar="FILE",
        help="also write the JSON results to FILE; a relative FILE goes into "
        "$PEMOVE_RESULTS (the directory pemove vm keeps on the host) when that is set",
    )
    args = p.parse_args(argv)
    disks = args.disks.split(":") if args.disks else guest.guest_disks()
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
        args.method or ["legacy", "locked"],
        disks,
        seed=seed,
        storm_moves=args.storm_moves,
    )
    doc = {
        "seed": seed,
        "kernel": os.uname().release,
        "scenarios": results,
        "problems": judge(results),
    }
    if args.out:
        guest.results_file(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        for r in results:
            print(
                f"{r['name']:9} {r['method']:7} acked {r['acked']:6} lost {r['lost']:5} "
                f"stale {r['stale']:5} corrupt {r['corrupt']:5} moves {r['moves']:5} {r['seconds']:7.1f} s"
            )
    for problem in doc["problems"]:
        print(f"pemove scenarios: {problem}", file=sys.stderr)
    return exitcodes.VERIFY if doc["problems"] else exitcodes.OK


if __name__ == "__main__":
    sys.exit(main())
