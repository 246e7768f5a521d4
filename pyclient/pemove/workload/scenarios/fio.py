"""Scenario 4, ``fio``: fio verifies its own writes while extents keep moving."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from pemove import lvs
from pemove.workload.blockdev import zero
from pemove.workload.scenarios.common import LV_PREFIX, MIB_SECTORS, Run, Setting, Slots

__all__ = ["fio_oracle"]


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
    setting: Setting,
    *,
    extents: int = 8,
    extent_sectors: int = MIB_SECTORS,
    timeout: float = 900,
) -> dict[str, Any]:
    """Scenario 4: fio verifies its own writes while extents keep moving.

    :param setting: ``setting.disks`` needs one or more raw disks; the last
        one is used
    """
    run = Run("fio", setting)
    ctl, seed = setting.ctl, setting.seed
    mover = run.mover
    disk = setting.disks[-1]
    span = extents * extent_sectors
    zero(disk, 0, 2 * span)
    slots = Slots(disk, disk, 0, extent_sectors, extents, b_base=span)
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
    setting.log(
        f"{run.label}: {writes} writes, {verified} blocks verified, "
        f"{mover.moves} moves, rc {proc.returncode}/{res.returncode}"
    )
    return run.result(
        acked=writes,
        lost=0,
        stale=0,
        corrupt=errors,
        verified=verified,
        fio_rc=[proc.returncode, res.returncode],
        fio_stderr=((write_err or "") + res.stderr)[-2000:],
    )
