"""What devices an LV accepts as PVs and destinations, and the limits it stacks from them.

DESCRIPTION: the reviewer's findings 1, 2 and 3.

- Finding 1: a pemove LV was accepted as a PV or a move destination,
  itself included: a destination inside the locked LE deadlocked the copy,
  one elsewhere in the LV overwrote another LE and then deadlocked the
  flush fan-out, and the self-open pinned the LV so LV_REMOVE said EBUSY
  for ever.  Now any device whose disk is a pemove LV is refused with
  ELOOP, at LV_CREATE and as a destination, before anything is opened for
  good.
- Finding 2: a zoned PV tripped a WARNING in blk_validate_limits on 6.12
  (and was presented as conventional on 6.1).  Zoned PVs and destinations
  are refused with EMEDIUMTYPE; the conftest fails the test on any WARNING.
- Finding 3: limits are stacked at each extent's real offset (partition
  start plus extent start), stable writes propagate on 6.1 too, and a
  destination may not have larger block sizes or DMA alignment, nor need
  stable writes the LV does not promise.
"""

from __future__ import annotations

import errno
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kit.faults import scsi_debug_disk
from pemove import errors, lvs
from pemove.control import Control, Extent
from pemove.wait import wait_until

EXTENT = 8192


def sysfs(disk: str, attr: str) -> str:
    return Path(f"/sys/block/{Path(disk).name}/{attr}").read_text().strip()


def move_returns(ctl: Control, lv: str, le: int, dest: Extent) -> errors.PemoveError:
    """PE_MOVE in a thread; it must fail, and promptly (a deadlock is a failure)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            with Control() as c:
                c.pe_move(lv, le, dest)
        except errors.PemoveError as exc:
            out["error"] = exc

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(60)
    assert not th.is_alive(), f"PE_MOVE of {lv} LE {le} to {dest} hung"
    assert "error" in out, f"PE_MOVE of {lv} LE {le} into a pemove LV succeeded"
    return out["error"]


@pytest.mark.disks(1)
def test_an_lv_is_refused_as_a_pv(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any]
) -> None:
    """Finding 1: LV_CREATE with an extent on a pemove LV is ELOOP, and changes nothing."""
    inner = make_lv(
        "inner", EXTENT, [Extent.from_path(disks[0], i * EXTENT) for i in range(4)]
    )
    with pytest.raises(errors.UnusableDevice) as exc:
        ctl.lv_create("outer", EXTENT, [Extent.from_path(inner.node, 0)])
    assert exc.value.errno == errno.ELOOP
    assert [lv.name for lv in ctl.lv_list()] == ["inner"]
    assert ctl.lv_status("inner").info.open_count == 0, "the refused open pinned the LV"


@pytest.mark.disks(1)
@pytest.mark.parametrize(
    "where", [0, 2 * EXTENT], ids=["inside-the-locked-le", "elsewhere-in-the-lv"]
)
def test_a_move_into_the_lv_itself_is_refused(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any], where: int
) -> None:
    """Finding 1: a destination on the LV's own node is ELOOP at once, not a deadlock.

    Sector 0 of the LV is inside LE 0, the LE being moved (before the fix the
    copy's own write was held by the lock); sector 2*EXTENT is LE 2 (before
    the fix the copy overwrote it, then the destination flush looped back
    into the LV's own flush work).
    """
    lv = make_lv(
        "self", EXTENT, [Extent.from_path(disks[0], i * EXTENT) for i in range(4)]
    )
    before = ctl.lv_status("self").les
    err = move_returns(ctl, "self", 0, Extent.from_path(lv.node, where))
    assert err.errno == errno.ELOOP, err
    status = ctl.lv_status("self")
    assert status.les == before
    assert status.info.pv_count == 1
    # The refused open closed what it opened; udev may probe the closed node a
    # moment, so wait for that, then the LV must go (no self-open pins it).
    lvs.remove_when_released(ctl, "self", timeout=60)


@pytest.mark.disks(2)
def test_an_lv_is_refused_as_a_destination_of_another(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any]
) -> None:
    """Finding 1: a move of one LV's LE into another pemove LV is ELOOP too."""
    other = make_lv("other", EXTENT, [Extent.from_path(disks[1], 0)])
    make_lv("mover", EXTENT, [Extent.from_path(disks[0], 0)])
    err = move_returns(ctl, "mover", 0, Extent.from_path(other.node, 0))
    assert err.errno == errno.ELOOP


@pytest.fixture
def zoned() -> Iterator[str]:
    """A host-managed zoned null_blk disk (4 zones of 256 MiB)."""
    if Path("/sys/module/null_blk").exists():
        pytest.skip("null_blk is loaded already: its parameters would not apply")
    modprobe_args = ["null_blk", "nr_devices=1", "zoned=1", "gb=1", "zone_size=256"]
    subprocess.run(["modprobe", *modprobe_args], check=True)
    try:
        node = wait_until(
            lambda: Path("/dev/nullb0").exists() and "/dev/nullb0", 30, "/dev/nullb0"
        )
        assert sysfs(node, "queue/zoned") == "host-managed"
        yield node
    finally:
        wait_until(
            lambda: (
                subprocess.run(["rmmod", "null_blk"], capture_output=True).returncode
                == 0
            ),
            30,
            "null_blk to unload",
            interval=0.2,
        )


@pytest.mark.disks(1)
def test_a_zoned_device_is_refused(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any], zoned: str
) -> None:
    """Finding 2: a zoned PV is EMEDIUMTYPE at LV_CREATE and as a destination, with no WARNING."""
    with pytest.raises(errors.UnusableDevice) as exc:
        ctl.lv_create("zoned", EXTENT, [Extent.from_path(zoned, 0)])
    assert exc.value.errno == errno.EMEDIUMTYPE
    assert ctl.lv_list() == []
    make_lv("conv", EXTENT, [Extent.from_path(disks[0], 0)])
    with pytest.raises(errors.UnusableDevice) as exc:
        ctl.pe_move("conv", 0, Extent.from_path(zoned, 0))
    assert exc.value.errno == errno.EMEDIUMTYPE
    assert ctl.lv_status("conv").info.pv_count == 1


@pytest.mark.disks(1)
def test_limits_are_stacked_at_the_real_offset(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any]
) -> None:
    """Finding 3: an extent one sector past a 4 KiB physical block shows as misaligned.

    scsi_debug with physblk_exp=3 has 512-byte logical and 4 KiB physical
    blocks.  An extent at sector 1 starts 512 bytes into a physical block,
    so the LV's alignment_offset is 3584; stacked at offset 0, as before the
    fix, it was 0.
    """
    with scsi_debug_disk(ctl, "dev_size_mb=64", "physblk_exp=3") as disk:
        assert sysfs(disk.node, "queue/physical_block_size") == "4096"
        aligned = make_lv("al", EXTENT, [Extent.from_path(disk.node, 8)])
        off = make_lv("mis", EXTENT, [Extent.from_path(disk.node, 2 * EXTENT + 1)])
        assert sysfs(aligned.node, "alignment_offset") == "0"
        assert sysfs(off.node, "alignment_offset") == "3584"
        assert sysfs(off.node, "queue/physical_block_size") == "4096"
        # A 4 KiB-physical destination for an LV that promised 512: refused.
        make_lv("small", EXTENT, [Extent.from_path(disks[0], 0)])
        with pytest.raises(errors.InvalidArgument):
            ctl.pe_move("small", 0, Extent.from_path(disk.node, 5 * EXTENT))
        assert ctl.lv_status("small").info.pv_count == 1


@pytest.mark.disks(1)
def test_a_destination_with_larger_logical_blocks_is_refused(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any]
) -> None:
    """Finding 3: a 4 KiB-sector destination for a 512-byte LV is EINVAL."""
    make_lv("lbs", EXTENT, [Extent.from_path(disks[0], 0)])
    with scsi_debug_disk(ctl, "dev_size_mb=64", "sector_size=4096") as disk:
        with pytest.raises(errors.InvalidArgument):
            ctl.pe_move("lbs", 0, Extent.from_path(disk.node, 0))
        assert ctl.lv_status("lbs").info.pv_count == 1


@pytest.fixture
def stable_disk(disks: list[str]) -> Iterator[str]:
    """The second disk, asking for stable pages while written (reset afterwards)."""
    knob = Path(f"/sys/block/{Path(disks[1]).name}/queue/stable_writes")
    knob.write_text("1\n")
    try:
        yield disks[1]
    finally:
        knob.write_text("0\n")


@pytest.mark.disks(2)
def test_stable_writes_propagate_and_are_checked_at_move_time(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any], stable_disk: str
) -> None:
    """Finding 3: an LV on a stable-writes PV asks for stable writes (6.1 included);
    a destination that needs them is refused for an LV that does not promise them."""
    stable = make_lv("st", EXTENT, [Extent.from_path(stable_disk, 0)])
    assert sysfs(stable.node, "queue/stable_writes") == "1"
    plain = make_lv("pl", EXTENT, [Extent.from_path(disks[0], 0)])
    assert sysfs(plain.node, "queue/stable_writes") == "0"
    with pytest.raises(errors.InvalidArgument):
        ctl.pe_move("pl", 0, Extent.from_path(stable_disk, 4 * EXTENT))
    # The other way round is fine: the LV already keeps its pages stable.
    ctl.pe_move("st", 0, Extent.from_path(disks[0], 4 * EXTENT))
