"""The part of ``pemove bench`` that runs inside the VM.

``python -m pemove.bench.guest [--quick] [--deterministic] [--only PHASE,...]
[--out FILE]`` runs the phases in order: io cost (a fixed number of IOs per
candidate), io path (time based), move, stall, scaling (memory, then IOPS
against the LE count).  ``--deterministic`` says the boot counts
instructions (``-icount``): it is recorded in the document, and the default
phases are then :data:`~pemove.bench.common.DETERMINISTIC_PHASES`.  It writes the whole document after every phase, to
``$PEMOVE_RESULTS/bench-guest.json`` by default, so a run cut short by the
VM's timeout still leaves the phases that finished.  A phase that fails is
recorded under ``errors`` and the next one runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pemove.bench import devices, fio, iocost, iopath, memory, move, stall
from pemove.bench.common import DETERMINISTIC_PHASES, GUEST_RESULT, MIB, PHASES, log
from pemove.control import CONTROL_NODE, Control
from pemove.vm import guest
from pemove.workload import blockdev

__all__ = ["PROFILES", "main"]

#: Sizes, run times and repeats.  "full" is meant to take well under 20
#: minutes under TCG on a quiet 2-core host; "quick" about a third of that.
PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "iocost": {"size_mib": 32, "ios": 10000, "repeats": 4},
        "iopath": {"size_mib": 128, "runtime": 2, "ramp": 0.5, "repeats": 6},
        "move": {"sizes_mib": [4, 16, 64, 128], "repeats": 3, "limit_runtime": 1.0},
        "stall": {"extent_mib": 64, "runtime": 10},
        "scaling": {
            "size_mib": 256,
            "le_counts": [1, 16, 256, 4096, 65536],
            "runtime": 2,
            "ramp": 0.5,
            "repeats": 4,
        },
    },
    "quick": {
        "iocost": {"size_mib": 32, "ios": 5000, "repeats": 3},
        "iopath": {"size_mib": 128, "runtime": 1.5, "ramp": 0, "repeats": 3},
        "move": {"sizes_mib": [4, 32], "repeats": 2, "limit_runtime": 0.5},
        "stall": {"extent_mib": 32, "runtime": 4},
        "scaling": {
            "size_mib": 256,
            "le_counts": [1, 256, 65536],
            "runtime": 1.5,
            "ramp": 0,
            "repeats": 3,
        },
    },
}


def _fio_timing(p: dict[str, Any]) -> dict[str, Any]:
    """A profile's fio run time, ramp and repeats, as run_iopath/run_scaling take them."""
    return {k: p[k] for k in ("runtime", "ramp", "repeats")}


def _phase(ctl: Control, name: str, p: dict[str, Any]) -> dict[str, Any]:
    if name == "iocost":
        size = p["size_mib"] * MIB
        # Disk 0: dm-linear.  Disk 1: raw, the tracked LV, the untracked LV
        # and a spare extent the live move uses.
        with devices.brd(2, 2 * p["size_mib"] + 8, filled=2 * size + 4 * MIB) as disks:
            return iocost.run_iocost(
                ctl, disks, size=size, ios=p["ios"], repeats=p["repeats"]
            )
    if name == "iopath":
        size = p["size_mib"] * MIB
        # Disk 0 for dm-linear, disk 1 for raw and both pemove LVs.
        with devices.brd(2, 2 * p["size_mib"] + 4, filled=2 * size) as disks:
            return iopath.run_iopath(ctl, disks, size=size, **_fio_timing(p))
    if name == "move":
        return move.run_moves(
            ctl, p["sizes_mib"], p["repeats"], limit_runtime=p["limit_runtime"]
        )
    if name == "stall":
        return stall.run_stall(ctl, p["extent_mib"], p["runtime"])
    if name == "scaling":
        size = p["size_mib"] * MIB
        n = len(p["le_counts"])
        with devices.brd(1, n * p["size_mib"] + 4, filled=n * size) as (disk,):
            mem = memory.run_memory(ctl, disk, size, p["le_counts"])
            try:
                iops = iopath.run_scaling(
                    ctl, disk, size=size, le_counts=p["le_counts"], **_fio_timing(p)
                )
            except fio.FioError as exc:
                # Keep the memory figures; the caller records the error.
                return {"memory": mem, "iops": {}, "error": f"scaling IOPS: {exc}"}
        return {"memory": mem, "iops": iops}
    raise ValueError(f"unknown phase {name!r}; phases are {', '.join(PHASES)}")


def _versions() -> dict[str, str]:
    out = {}
    for tool, argv in (("fio", ["fio", "--version"]), ("lvm", ["lvm", "version"])):
        try:
            res = subprocess.run(argv, capture_output=True, text=True, check=False)
            out[tool] = res.stdout.strip().splitlines()[0] if res.stdout.strip() else ""
        except OSError:
            out[tool] = "missing"
    return out


def run(
    profile: str, phases: Sequence[str], out: Path, deterministic: bool = False
) -> dict[str, Any]:
    """Run ``phases`` with the ``profile`` settings; write and return the document."""
    params = PROFILES[profile]
    doc: dict[str, Any] = {
        "kernel": platform.release(),
        "profile": profile,
        # "virtual": the boot counted instructions (-icount shift=0), so
        # every guest ns is one instruction; "wall": guest ns are host time.
        "clock": "virtual" if deterministic else "wall",
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "cpus": os.cpu_count(),
        "memory_bytes": devices.meminfo().get("MemTotal"),
        "tools": _versions(),
        "params": {k: params[k] for k in phases},
        "errors": [],
        "seconds": {},
    }
    blockdev.modprobe("dm-mod", "dm-mirror")
    # The node devtmpfs makes; discovery (pyudev) only when it is elsewhere.
    node = CONTROL_NODE if os.path.exists(CONTROL_NODE) else None
    with Control(node) as ctl:
        doc["module"] = ".".join(map(str, ctl.version().version))
        for name in phases:
            log(f"phase {name}")
            t0 = time.monotonic()
            try:
                doc[name] = _phase(ctl, name, params[name])
                if "error" in doc[name]:
                    doc["errors"].append(f"{name}: {doc[name]['error']}")
            except Exception as exc:  # noqa: BLE001 - recorded; the next phase still runs
                doc["errors"].append(f"{name}: {exc}")
                log(f"phase {name} failed:\n{traceback.format_exc()}")
            doc["seconds"][name] = round(time.monotonic() - t0, 1)
            out.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pemove.bench.guest``."""
    p = argparse.ArgumentParser(
        prog="python -m pemove.bench.guest", description=__doc__
    )
    p.add_argument("--quick", action="store_true", help="the quick profile")
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="the boot counts instructions (-icount): recorded, and the default "
        f"phases are {','.join(DETERMINISTIC_PHASES)}",
    )
    p.add_argument(
        "--only",
        help="comma-separated phases to run (default: "
        f"{','.join(PHASES)}; deterministic: {','.join(DETERMINISTIC_PHASES)})",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path(GUEST_RESULT),
        help="result file; a relative one goes into $PEMOVE_RESULTS when that is set "
        "(default: %(default)s)",
    )
    args = p.parse_args(argv)
    default = DETERMINISTIC_PHASES if args.deterministic else PHASES
    phases = [x for x in (args.only or ",".join(default)).split(",") if x]
    bad = [x for x in phases if x not in PHASES]
    if bad:
        p.error(f"unknown phase(s) {', '.join(bad)}; choose from {', '.join(PHASES)}")
    out = guest.results_file(args.out)
    doc = run("quick" if args.quick else "full", phases, out, args.deterministic)
    log(f"wrote {out}")
    return 1 if doc["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
