"""Shared pieces of the metadata guest tests: the pemove command, PVs as dm slices, disk hashes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pemove.metadata import RESERVED_SECTORS, device

PEMOVE = str(Path(sys.executable).parent / "pemove")

__all__ = ["PEMOVE", "first_mib_hashes", "fresh_pvs", "pemove", "pemove_json", "poke"]


def pemove(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run the ``pemove`` command; never raises on its exit code."""
    if not Path(PEMOVE).exists():
        pytest.fail(f"{PEMOVE} not found: pip install -e . into the test's Python")
    return subprocess.run(
        [PEMOVE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def fresh_pvs(nodes: list[str]) -> list[str]:
    """Wipe the label and slots of each node (dm slices of the test disks); return them.

    The guest's disks live for the whole boot, and the slices of one test
    sit where an earlier test's did: a deactivated LV's metadata left there
    would make ``create`` refuse the PEs it names (and ``scan`` list it).
    """
    for node in nodes:
        device.wipe(node)
    return nodes


def pemove_json(*args: str, code: int = 0) -> Any:
    """Run ``pemove ARGS --json``, check its exit code, return the parsed output."""
    res = pemove(*args, "--json")
    assert res.returncode == code, f"exit {res.returncode}: {res.stderr}{res.stdout}"
    return json.loads(res.stdout)


def first_mib_hashes(nodes: list[str]) -> dict[str, str]:
    """SHA-256 of each node's metadata area, read with O_DIRECT-free plain reads after a cache drop."""
    out = {}
    for node in nodes:
        fd = os.open(node, os.O_RDONLY | os.O_DIRECT)
        try:
            import mmap

            buf = mmap.mmap(-1, RESERVED_SECTORS * 512)
            os.preadv(fd, [buf], 0)
            out[node] = hashlib.sha256(buf).hexdigest()
            buf.close()
        finally:
            os.close(fd)
    return out


def poke(node: str, offset: int, data: bytes) -> None:
    """Overwrite bytes of a device (to damage metadata on purpose)."""
    fd = os.open(node, os.O_RDWR)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("1")
