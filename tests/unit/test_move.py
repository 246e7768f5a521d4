"""move_extent: the method decides who moves the extent; the ENOTTY fallback warns once per handle.

Against /dev/null, whose ioctls all fail with ENOTTY: PE_MOVE then answers
as a module loaded with ``locked_copy=0`` would.  The guest tier shows the
same against pemove (tests/guest/test_lost_writes.py).
"""

from __future__ import annotations

import errno
import warnings
from typing import Any

import pytest
from pemove import errors, uapi
from pemove.control import Control, Extent
from pemove.move import LegacyFallbackWarning, move_extent, pe_move_available

DEST = Extent(7, 0, 0)


def test_auto_falls_back_once_and_never_retries(
    ioctl_spy: Any,
) -> None:
    with Control("/dev/null") as ctl:
        assert pe_move_available(ctl) is None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # The fallback's first step (LV_STATUS) also meets ENOTTY here,
            # which shows that the legacy method really ran.
            with pytest.raises(errors.NotSupported) as info:
                move_extent(ctl, "lv0", 0, DEST)
            assert info.value.op == "LV_STATUS"
            assert ioctl_spy.calls == [uapi.IOC["PE_MOVE"], uapi.IOC["LV_STATUS"]]
            ioctl_spy.calls.clear()
            with pytest.raises(errors.NotSupported):
                move_extent(ctl, "lv0", 1, DEST)
            assert uapi.IOC["PE_MOVE"] not in ioctl_spy.calls
        fallbacks = [w for w in caught if issubclass(w.category, LegacyFallbackWarning)]
        assert len(fallbacks) == 1
        assert "locked_copy=0" in str(fallbacks[0].message)
        assert pe_move_available(ctl) is False
    with Control("/dev/null") as fresh:
        assert pe_move_available(fresh) is None


def test_locked_never_falls_back(
    ioctl_spy: Any,
) -> None:
    with Control("/dev/null") as ctl, warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback warning would raise here
        with pytest.raises(errors.NotSupported) as info:
            move_extent(ctl, "lv0", 0, DEST, "locked")
        assert (info.value.op, info.value.errno) == ("PE_MOVE", errno.ENOTTY)
        assert ioctl_spy.calls == [uapi.IOC["PE_MOVE"]]
        assert pe_move_available(ctl) is False


def test_legacy_never_tries_pe_move(
    ioctl_spy: Any,
) -> None:
    with Control("/dev/null") as ctl:
        with pytest.raises(errors.NotSupported) as info:
            move_extent(ctl, "lv0", 0, DEST, "legacy")
        assert info.value.op == "LV_STATUS"
        assert ioctl_spy.calls == [uapi.IOC["LV_STATUS"]]
        assert pe_move_available(ctl) is None


def test_unknown_method_is_refused() -> None:
    with (
        Control("/dev/null") as ctl,
        pytest.raises(ValueError, match="auto, locked, legacy"),
    ):
        move_extent(ctl, "lv0", 0, DEST, "live")  # type: ignore[arg-type]
