"""The four data-loss scenarios, run inside a pemove guest.

Each scenario takes a :class:`Setting` (the control node, the disks, the
method, the mode, the seed and the log) and its own keyword options, uses
the guest's raw disks as PVs (with a dm-delay table, named ``pemove-t-*``,
where it needs one), makes its own LVs (``pmt-*``), runs, verifies, tears
everything down, and returns one result dict::

    {"name", "method", "mode", "acked", "lost", "stale", "corrupt", "moves", "seconds", ...}

``method`` is how extents were moved, as :func:`pemove.move.move_extent`
names it: ``"locked"`` (PE_MOVE), ``"legacy"`` (the 2002 userspace move) or
``"auto"`` (locked, falling back to legacy on ENOTTY); the result names the
method actually taken.  ``mode`` is the locked move's mode, ``"live"`` or
``"whole"`` (null for legacy): every locked scenario runs in each mode asked
for.

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

One module per scenario (:mod:`.inflight`, :mod:`.stale`, :mod:`.storm`,
:mod:`.fio`), what they share in :mod:`.common`, the command line in
:mod:`.cli`: run ``python -m pemove.workload.scenarios --help`` in a guest;
``pemove demo`` runs it there with ``--out demo.json``.  Swap on an LV under
memory pressure is tests/guest/test_memory_pressure.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pemove.control import Control
from pemove.move import DEFAULT_MODE
from pemove.workload.scenarios.common import Log, Setting, log_stderr
from pemove.workload.scenarios.fio import fio_oracle
from pemove.workload.scenarios.inflight import inflight_race
from pemove.workload.scenarios.stale import stale_cache
from pemove.workload.scenarios.storm import move_storm

__all__ = [
    "SCENARIOS",
    "Setting",
    "fio_oracle",
    "inflight_race",
    "judge",
    "move_storm",
    "run",
    "stale_cache",
]

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
        where = f"{r['name']}/{r['method']}" + (
            f"/{r['mode']}" if r.get("mode") else ""
        )
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


def _failed(
    name: str, method: str, mode: str | None, seed: int, exc: Exception
) -> dict[str, Any]:
    """The result of a scenario that could not run: zero counts and the error."""
    return {
        "name": name,
        "method": method,
        "mode": mode,
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
    modes: Sequence[str] = (DEFAULT_MODE,),
    storm_moves: int = 200,
    log: Log = log_stderr,
) -> list[dict[str, Any]]:
    """Run each scenario in ``names`` with each method in ``methods``.

    The locked and auto methods run once per mode in ``modes``; legacy has
    no mode and runs once.  The storm and fio scenarios run only for
    ``locked`` and ``auto`` (the legacy method would corrupt the filesystem
    and fio's data on purpose, and nothing would be learnt).  A scenario that
    fails to run is reported with an ``error`` key instead of stopping the
    others.
    """
    results = []
    with Control() as ctl:
        for name in names:
            for method in methods:
                if name in ("storm", "fio") and method == "legacy":
                    continue
                for mode in modes if method != "legacy" else (DEFAULT_MODE,):
                    shown = None if method == "legacy" else mode
                    setting = Setting(ctl, disks, method, seed, mode, log)
                    kwargs: dict[str, Any] = {}
                    if name == "storm":
                        kwargs["moves"] = storm_moves
                        kwargs["timeout"] = max(900.0, storm_moves * 1.5)
                    label = f"{name}/{method}" + (f"/{shown}" if shown else "")
                    log(f"scenario {label}, seed {seed}")
                    try:
                        results.append(SCENARIOS[name](setting, **kwargs))
                    except Exception as exc:  # noqa: BLE001 -- reported in the results
                        log(f"scenario {label} failed: {exc!r}")
                        results.append(_failed(name, method, shown, seed, exc))
    return results
