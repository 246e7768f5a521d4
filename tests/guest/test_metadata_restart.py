"""LVM2's pvmove-restart scenario against the crash-safe move.

DESCRIPTION: issue 14.  dm-delay slows the destination, ``pemove move`` is
SIGKILLed while it copies (and, in the second case, once its mirror is
detached), every device is force-removed as a reboot would, the PVs come
back, ``pemove activate`` rebuilds the LV from its metadata and
``pemove move --resume`` completes the move.  Every acknowledged write is
read back and the map names the destination.
"""

from __future__ import annotations

import signal
import subprocess
from typing import Any

import pytest
from kit.faults import Load
from kit.figures import Figures
from kit.meta import PEMOVE, fresh_pvs, pemove, pemove_json
from pemove import lvs
from pemove.control import Control, Extent
from pemove.metadata import RESERVED_SECTORS
from pemove.wait import wait_until
from pemove.workload import dm

ES = 8192  # 4 MiB extents
BLOCKS = ES * 512 // 4096
PV_SECTORS = 8 * ES
OFF = 2048

pytestmark = pytest.mark.disks(2)


def _tables(disks: list[str], delay_ms: int) -> tuple[str, str]:
    src = dm.linear_table(disks[0], PV_SECTORS, OFF)
    dst = dm.delay_table(disks[1], PV_SECTORS, read_ms=0, write_ms=delay_ms, offset=OFF)
    return src, dst


def _devices(args: list[str]) -> list[str]:
    return [a for p in args for a in ("--device", p)]


@pytest.mark.parametrize("kill_at", ["copy", "detached"])
def test_pvmove_restart(
    ctl: Control, disks: list[str], make_dm: Any, figures: Figures, kill_at: str
) -> None:
    src_t, dst_t = _tables(disks, 30)
    src, dst = fresh_pvs([make_dm("rsrc", src_t).node, make_dm("rdst", dst_t).node])
    made = pemove_json(
        "create", "rs", "--extent-size", "4M", "--pv", f"{src}:{RESERVED_SECTORS}:2"
    )
    load = Load(made["node"], "rs", BLOCKS, [0, 1], 2, figures=figures, writers=2)
    load.start()
    child = subprocess.Popen(
        [PEMOVE, "move", "rs", "1", "--to", dst, "--chunk", "16K"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def reached() -> bool:
            st = ctl.move_status("rs", 1)
            return st.detached if kill_at == "detached" else st.copied_sectors > 0

        wait_until(
            lambda: reached() or child.poll() is not None,
            600,
            f"the move to reach {kill_at}",
            interval=0.005,
        )
        assert child.poll() is None, "the move finished before it could be killed"
        child.send_signal(signal.SIGKILL)
        child.wait()
        load.wait_writes(100)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        load.stop.set()
    # Every write acknowledged so far is in the ledger; now the "reboot".
    load.finish()
    progress = ctl.move_status("rs", 1)
    if progress.detached:
        ctl.pe_move_end("rs", 1, "abort")  # a reboot forgets the kernel's mirror too
    lvs.remove_when_released(ctl, "rs")
    subprocess.run(
        [
            "dmsetup",
            "remove",
            "--force",
            "--noudevsync",
            "pemove-t-rsrc",
            "pemove-t-rdst",
        ],
        check=True,
    )
    src = make_dm("rsrc", src_t).node
    dst = make_dm("rdst", dst_t).node

    scan = pemove_json("scan", *_devices([src, dst]))
    (lv,) = scan["lvs"]
    assert lv["ok"] and [m["le"] for m in lv["pending_moves"]] == [1], lv
    act = pemove_json("activate", "rs", *_devices([src, dst]))
    node = act["activated"][0]["node"]
    res = pemove("move", "rs", "--resume", "--json")
    assert res.returncode == 0, res.stderr
    assert ctl.lv_status("rs").les[1].pe == Extent.from_path(dst, RESERVED_SECTORS)
    assert pemove_json("scan", *_devices([src, dst]))["lvs"][0]["pending_moves"] == []
    load.node = node
    from pemove.workload.verify import verify

    report = verify(node, load.ledger)
    figures.verified(report)
    assert report.clean and report.checked == 2 * BLOCKS, report.summary()
