"""The ``pemove`` command against the real module: JSON, exit codes, failure reports.

DESCRIPTION: scripts drive pemove through its command line, so what they
rely on is checked here, in the VM: every reporting command's ``--json``
parses and says what LV_STATUS says, and a move that fails exits 1 and
reads the LE back from the module to say where it lives now and, on
EBUSY, what owns it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pemove import exitcodes
from pemove.control import Control, Extent
from pemove.workload import dm

EXTENT_SECTORS = 2048  # 1 MiB extents
PEMOVE = str(Path(sys.executable).parent / "pemove")

pytestmark = pytest.mark.disks(2)


def pemove(*args: str) -> subprocess.CompletedProcess[str]:
    if not Path(PEMOVE).exists():
        pytest.fail(
            f"{PEMOVE} not found: install the package (pip install -e .) into "
            "the Python that runs the tests"
        )
    return subprocess.run(
        [PEMOVE, *args], capture_output=True, text=True, timeout=120, check=False
    )


def pemove_json(*args: str) -> Any:
    res = pemove(*args, "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.fixture
def lv(ctl: Control, disks: list[str]) -> str:
    # pemove create returns once udev is done with the node (--wait).
    res = pemove(
        "create",
        "cli",
        "--no-metadata",
        "--extent-size",
        "1M",
        "--pv",
        f"{disks[0]}:0:3",
    )
    assert res.returncode == 0, res.stderr
    return "cli"


def test_create_list_status_move_remove(
    ctl: Control, disks: list[str], lv: str
) -> None:
    (listed,) = pemove_json("list")
    assert listed["name"] == lv and listed["extent_count"] == 3
    status = pemove_json("status", lv, "--les")
    first = Extent.from_path(disks[0], 0)
    assert status["les"][0]["pe"] == {
        "major": first.major,
        "minor": first.minor,
        "sector": 0,
    }

    moved = pemove_json("move", lv, "0-1", "--to", f"{disks[1]}:{8 * EXTENT_SECTORS}")
    assert [m["le"] for m in moved["moves"]] == [0, 1]
    assert moved["error"] is None and moved["failed"] is None
    assert all(
        m["stats"]["bytes_copied"] == EXTENT_SECTORS * 512 for m in moved["moves"]
    )
    les = ctl.lv_status(lv).les
    assert [le.pe for le in les[:2]] == [
        Extent.from_path(disks[1], 8 * EXTENT_SECTORS),
        Extent.from_path(disks[1], 9 * EXTENT_SECTORS),
    ]

    res = pemove("remove", lv)
    assert res.returncode == 0, res.stderr
    assert ctl.lv_list() == []


@pytest.mark.kmsg_allow(r"pemove: .*move of LE", r"I/O error", r"Buffer I/O error")
def test_failed_move_reports_the_le_unchanged(
    ctl: Control, lv: str, make_dm: Any
) -> None:
    failing = make_dm("cli", dm.error_table(16 * EXTENT_SECTORS))
    before = ctl.lv_status(lv).les[1].pe
    res = pemove("move", lv, "1", "--to", failing.node, "--json")
    assert res.returncode == exitcodes.FAILED, res.stderr
    out = json.loads(res.stdout)
    assert out["moves"] == [] and "EIO" in out["error"]
    failed = out["failed"]
    assert failed["le"] == 1 and failed["errno"] == "EIO"
    assert failed["unchanged"] is True and failed["state"] == []
    assert Extent(**failed["pe_now"]) == before
    assert f"{lv} LE 1 is still on {before}: the map is unchanged" in res.stderr
    assert ctl.lv_status(lv).les[1].pe == before


def test_busy_move_names_the_owner(ctl: Control, disks: list[str], lv: str) -> None:
    with Control() as other:
        other.pe_lock(lv, 2)
        res = pemove("move", lv, "2", "--to", f"{disks[1]}:0")
        assert res.returncode == exitcodes.FAILED, res.stderr
        assert "EBUSY" in res.stderr
        assert "now: a PE_LOCK (legacy move) holds its writes" in res.stderr
    assert ctl.lv_status(lv).les[2].state == 0
