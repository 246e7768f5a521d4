"""dm-clone's background hydration as a move peer, where the kernel has it.

dm-clone (``clone META DST SRC REGION ...``) copies a read-only source
device into a destination in the background, region by region, with
dm-kcopyd, and raises a table event when the destination is hydrated.  Here
the source and destination are the same brd disks the dm-kcopyd peer
(:mod:`pemove.bench.kcopyd`) copies between, mapped from sector 0 as that
peer maps them: a dm-clone table maps its first ``len`` sectors of each
device, so with the peer's offsets of 0 no dm-linear slice is put between
(its length is the extent's).  The metadata device is a small dm-linear
slice of disk 0 beyond every extent (:func:`metadata_slice`), zeroed before
every sample so that dm-clone formats it afresh: metadata that said the
regions were hydrated would make the next sample copy nothing.

The region size is the kcopyd peer's, LVM2's 2 MiB (4096 sectors).  Two
settings are measured:

- **default** (``dm-clone``): no core arguments, so ``hydration_threshold
  1`` and ``hydration_batch_size 1``: one 2 MiB region, one dm-kcopyd job,
  in flight at a time.  That is exactly dm-raid1's recovery under the kcopyd
  peer (``MAX_RECOVERY 1``, one region per kcopyd job), so the two differ
  in their bookkeeping, not in the copy.
- **tuned** (``dm-clone-tuned``): ``hydration_threshold N
  hydration_batch_size N`` with N the extent's region count: all regions
  batched into one dm-kcopyd job (which kcopyd splits into 8 sub-jobs of
  512 KiB chunks in flight), the most dm-clone's tunables can put in flight.

Timing is :func:`pemove.bench.dmctl.time_to_done`'s: from the resume to the
table event whose status says every region is hydrated, no polling.
dm-clone raises that event only from a metadata commit
(``commit_metadata``: ``if (dm_clone_is_hydration_done(...))
dm_table_event(...)``), and it commits, without a flush from a user, only
when its worker runs and the last commit (or the table's load) is more than
its commit period (``COMMIT_PERIOD``, one second) old.  After the last
region the worker runs again only on its one-second waker.  So:

- with the **default** setting the event comes on a tick of that waker
  (1.0, 2.05, 4.1 and 7.2 s after the resume for 4, 16, 64 and 128 MiB on
  debug-6.12, 2026-12-07, where the tuned copy took 0.22, 1.06, 3.0 and
  6.1 s): 0.8 to 1.1 s after the copy there, and by the code up to two
  commit periods, since the commits made during the copy drift later than
  the ticks.  The figure is what a user
  of dm-clone waits for before it says "hydrated", not the copy alone; at
  small extents that wait is most of it;
- the **tuned** setting has one kcopyd job, hence one completion; the table
  is loaded one commit period before the resume (outside the timed span),
  so that completion's worker run commits at once and the event marks the
  end of the copy.

The status queries carry ``DM_NOFLUSH_FLAG``, so the measurement makes no
commit of its own (a plain status query makes dm-clone commit, which would
move its schedule).

A kernel built without dm-clone (Debian's: ``# CONFIG_DM_CLONE is not set``)
has no figure: :func:`missing` says why, and the move phase records that as
the peer being absent, not as an error.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pemove.bench.dmctl import DmControl, suspended, time_to_done
from pemove.workload import blockdev, dm

__all__ = [
    "COMMIT_PERIOD_S",
    "METADATA_SECTORS",
    "NO_CLONE",
    "Metadata",
    "clone_table",
    "metadata_slice",
    "missing",
    "parse_clone_status",
    "time_hydration",
    "tuned_args",
]

#: What the report says when the kernel has no dm-clone.
NO_CLONE = "no dm-clone in this kernel"

#: dm-clone's commit period (``COMMIT_PERIOD HZ`` in dm-clone-target.c).
COMMIT_PERIOD_S = 1.0

#: The metadata slice: 4 MiB, 1024 metadata blocks of 4 KiB, far more than
#: the superblock, space maps and bitmap of a few hundred regions need.
METADATA_SECTORS = 8192


def clone_table(
    metadata: str,
    dst: str,
    src: str,
    sectors: int,
    region_sectors: int,
    core_args: dict[str, int] | None = None,
) -> str:
    """A dm-clone of ``src`` into ``dst``, no feature arguments, ``core_args``
    (e.g. ``{"hydration_threshold": 8}``) if any."""
    table = f"0 {sectors} clone {metadata} {dst} {src} {region_sectors}"
    if core_args:
        pairs = " ".join(f"{k} {v}" for k, v in core_args.items())
        table += f" 0 {2 * len(core_args)} {pairs}"
    return table


def tuned_args(sectors: int, region_sectors: int) -> dict[str, int]:
    """The tuned setting: every region of the extent in one batch, one kcopyd job."""
    regions = -(-sectors // region_sectors)
    return {"hydration_threshold": regions, "hydration_batch_size": regions}


def parse_clone_status(text: str) -> tuple[int, int]:
    """(hydrated regions, regions) from a dm-clone status line.

    The line reads ``8 72/1024 4096 3/16 1 0 4 hydration_threshold 1
    hydration_batch_size 1 rw``: metadata block size, used/total metadata
    blocks, region size, ``hydrated/total``, regions hydrating, features,
    core arguments, metadata mode.

    :raises OSError: the metadata failed (``Fail``) or went read-only, which
        stops hydration for good
    """
    parts = text.split()
    if not parts or parts[0] == "Fail" or parts[-1] != "rw":
        raise OSError(f"dm-clone metadata is not writable: {text.strip()!r}")
    done, total = parts[3].split("/")
    return int(done), int(total)


def missing() -> str | None:
    """None when the kernel has the ``clone`` target; otherwise why not.

    ``modprobe dm-clone`` first (a module kernel), then the kernel's list of
    target types (``DM_LIST_VERSIONS``), which also has a built-in one.
    """
    try:
        res = subprocess.run(
            ["modprobe", "dm-clone"], capture_output=True, text=True, check=False
        )
        probe = res.stderr.strip() or f"exit status {res.returncode}"
        if res.returncode == 0:
            probe = "loaded"
    except OSError as exc:
        probe = str(exc)
    with DmControl() as ctl:
        if "clone" in ctl.targets():
            return None
    return f"{NO_CLONE}: modprobe dm-clone: {probe}; no clone target registered"


@dataclass(frozen=True)
class Metadata:
    """dm-clone's metadata device: a dm-linear slice of ``disk``."""

    node: str
    disk: str
    sector: int
    sectors: int

    def zero(self) -> None:
        """Zero the slice (through ``disk``, O_DIRECT), so dm-clone formats it anew."""
        blockdev.zero(self.disk, self.sector, self.sectors)


@contextlib.contextmanager
def metadata_slice(
    disk: str, sector: int, sectors: int = METADATA_SECTORS
) -> Iterator[Metadata]:
    """A dm-linear metadata device over ``sectors`` of ``disk`` from ``sector``.

    It holds ``disk`` while it exists (pemove and LVM2 then cannot claim it),
    so it lives only as long as the dm-clone samples.
    """
    name = f"{dm.PREFIX}-clone-meta"
    with contextlib.suppress(dm.DmError):
        dm.remove(name)
    d = dm.create(name, dm.linear_table(disk, sectors, sector))
    try:
        yield Metadata(d.node, disk, sector, sectors)
    finally:
        dm.remove(d.name)


def time_hydration(
    src: str,
    dst: str,
    sectors: int,
    *,
    region_sectors: int,
    metadata: Metadata,
    tuned: bool = False,
    timeout: float = 600,
) -> dict[str, Any]:
    """Seconds from the resume to dm-clone's "hydrated" event, ``sectors`` of
    ``src`` into ``dst``.

    :param tuned: the tuned setting (:func:`tuned_args`), and the table loaded
        one commit period before the resume; else dm-clone's defaults, resumed
        at once as the kcopyd peer is
    :returns: ``{"seconds", "bytes", "events", "regions", "region_sectors",
        "core_args", "status"}``
    :raises TimeoutError: not hydrated within ``timeout`` (guest) seconds
    """
    core = tuned_args(sectors, region_sectors) if tuned else {}
    table = clone_table(metadata.node, dst, src, sectors, region_sectors, core)
    metadata.zero()
    with suspended("clone", table) as name, DmControl() as ctl:
        if tuned:
            # The load's constructor set the last commit; a completion within
            # a commit period of it would wait for the waker (see above).
            time.sleep(COMMIT_PERIOD_S + 0.05)
        got = time_to_done(ctl, name, parse_clone_status, timeout=timeout, noflush=True)
    return {
        "seconds": got["seconds"],
        "bytes": sectors * 512,
        "events": got["events"],
        "regions": got["regions"],
        "region_sectors": region_sectors,
        "core_args": core,
        "status": got["status"],
    }
