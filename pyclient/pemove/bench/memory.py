"""The memory half of benchmark 4: what one LV costs, by its own account and by the slab.

For each LE count a tracked LV is created over the same region and removed
again.  Recorded per LV:

- ``reserve_bytes``: the module's own accounting (LV_STATUS), which covers
  the LV struct, the LE map, the two bio_set pools and the copy buffers;
- the change in bytes held by slab caches (/proc/slabinfo, active objects
  times object size) and in /proc/meminfo's Slab, VmallocUsed and MemFree
  across the creation.  These include what the block layer and sysfs
  allocate for any new disk, and whatever else the guest did meanwhile, so
  they are an upper bound, not the module's figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pemove.bench import devices
from pemove.bench.common import log
from pemove.control import Control, Extent

__all__ = ["run_memory"]

_MEMINFO_KEYS = ("Slab", "SUnreclaim", "VmallocUsed", "MemFree")


def _drop_caches() -> None:
    # Fewer reclaimable objects coming and going during the measurement.
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def run_memory(
    ctl: Control, disk: str, size: int, le_counts: Sequence[int]
) -> dict[str, Any]:
    """Memory per tracked LV for each LE count (and one untracked LV of 1 LE)."""
    pv = Extent.from_path(disk)
    rows: list[dict[str, Any]] = []
    cases = [(n, False) for n in le_counts] + [(min(le_counts), True)]
    for les, notrack in cases:
        ext = size // 512 // les
        extents = [Extent(pv.major, pv.minor, i * ext) for i in range(les)]
        log(f"memory: {'untracked' if notrack else 'tracked'} LV of {les} LEs")
        _drop_caches()
        slab0, mem0 = devices.slab_bytes(), devices.meminfo()
        with devices.lv(ctl, "benchmem", ext, extents, notrack=notrack):
            slab1, mem1 = devices.slab_bytes(), devices.meminfo()
            info = ctl.lv_status("benchmem", le_count=0).info
        deltas = {
            k: slab1.get(k, 0) - slab0.get(k, 0)
            for k in set(slab0) | set(slab1)
            if slab1.get(k, 0) != slab0.get(k, 0)
        }
        top = sorted(deltas.items(), key=lambda kv: -abs(kv[1]))[:6]
        rows.append(
            {
                "les": les,
                "notrack": notrack,
                "extent_bytes": ext * 512,
                "reserve_bytes": info.reserve_bytes,
                "slab_delta_bytes": sum(deltas.values()),
                "top_slab_deltas": [{"cache": k, "bytes": v} for k, v in top],
                "meminfo_delta_bytes": {
                    k: mem1[k] - mem0[k] for k in _MEMINFO_KEYS if k in mem0
                },
            }
        )
    return {"size_bytes": size, "lvs": rows}
