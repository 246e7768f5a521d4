"""errno -> exception class and message, and the client plumbing that raises them.

The Control tests run against /dev/null, a real character device whose ioctls
all fail with ENOTTY: that exercises fcntl, the struct buffers and the errno
translation without the module.  The guest tier proves the same against
pemove itself.
"""

from __future__ import annotations

import errno
import fcntl
import os
from typing import Any

import pytest
from pemove import errors, uapi
from pemove.control import Control, Extent

CASES = [
    (errno.EPERM, "LV_LIST", errors.PermissionDenied, "root"),
    (errno.EACCES, "open", errors.PermissionDenied, "CAP_SYS_ADMIN"),
    (errno.ENOTTY, "PE_MOVE", errors.NotSupported, "locked_copy=0"),
    (errno.ENOTTY, "LV_LIST", errors.NotSupported, "older than this client"),
    (errno.EOPNOTSUPP, "PE_MOVE", errors.NotSupported, "--no-track"),
    (errno.EINVAL, "LV_CREATE", errors.InvalidArgument, "multiple of 8"),
    (errno.EINVAL, "PE_MOVE", errors.InvalidArgument, "overlaps no PE"),
    (errno.EINVAL, "PE_REMAP", errors.InvalidArgument, "PE_LOCK"),
    (errno.EINVAL, "VERSION", errors.InvalidArgument, "versions match"),
    (errno.EEXIST, "LV_CREATE", errors.LVExists, "another name"),
    (errno.ENOENT, "LV_STATUS", errors.LVNotFound, "pemove list"),
    (errno.ENOENT, "open", errors.ModuleNotLoaded, "modprobe pemove"),
    (errno.EBUSY, "LV_REMOVE", errors.LVBusy, "Close every user"),
    (errno.EBUSY, "PE_MOVE", errors.LVBusy, "wait"),
    (errno.ENODEV, "LV_CREATE", errors.DeviceNotFound, "major:minor"),
    (errno.ENXIO, "LV_CREATE", errors.DeviceNotFound, "major:minor"),
    (errno.ENODEV, "open", errors.ModuleNotLoaded, "insmod kmod/pemove.ko"),
    (errno.EIO, "PE_MOVE", errors.MoveIOError, "map is unchanged"),
    (errno.ENOSPC, "PE_MOVE", errors.MoveIOError, "still on the old PE"),
    (errno.EIO, "legacy move", errors.MoveIOError, "map is unchanged"),
    (errno.EINTR, "PE_MOVE", errors.Interrupted, "nothing changed"),
    (errno.ENOMEM, "LV_CREATE", errors.OutOfMemory, "free memory"),
    (errno.EFAULT, "LV_CREATE", errors.PemoveError, "client bug"),
    (errno.EXDEV, "LV_CREATE", errors.PemoveError, "dmesg"),
]


@pytest.mark.parametrize(("err", "op", "cls", "hint"), CASES)
def test_errno_maps_to_class_and_hint(
    err: int, op: str, cls: type[errors.PemoveError], hint: str
) -> None:
    exc = errors.from_errno(err, op, lv="lv0", le=3)
    assert type(exc) is cls
    assert isinstance(exc, OSError)
    assert exc.errno == err
    assert exc.op == op
    assert hint in exc.hint
    text = str(exc)
    name = "EOPNOTSUPP" if err == errno.EOPNOTSUPP else errno.errorcode[err]
    assert text.startswith(f"{op} lv0 LE 3: {os.strerror(err)} ({name})")
    assert hint in text


def test_message_without_lv_or_le() -> None:
    exc = errors.from_errno(errno.EPERM, "LV_LIST")
    assert str(exc).startswith("LV_LIST: Operation not permitted (EPERM). Run as root")


def test_detail_is_in_the_message() -> None:
    exc = errors.from_errno(
        errno.EINVAL, "VERSION", detail="module 2.0.0, client 1.0.0"
    )
    assert "module 2.0.0, client 1.0.0" in str(exc)


def test_oserror_handlers_still_catch_it() -> None:
    with pytest.raises(OSError) as info:
        raise errors.from_errno(errno.EBUSY, "LV_REMOVE", lv="lv0")
    assert info.value.errno == errno.EBUSY


def test_missing_control_node_is_module_not_loaded(tmp_path: Any) -> None:
    with pytest.raises(errors.ModuleNotLoaded) as info:
        Control(str(tmp_path / "pemove-control"))
    assert "modprobe pemove" in str(info.value)


def test_bad_lv_name_is_rejected_before_the_ioctl() -> None:
    with Control("/dev/null") as ctl:
        for name in ("", "x" * uapi.const["PEMOVE_NAME_LEN"], "a\0b"):
            with pytest.raises(errors.InvalidArgument):
                ctl.lv_remove(name)


def test_each_ioctl_reaches_the_kernel_and_translates_enotty(
    ioctl_spy: Any,
) -> None:
    dest = Extent(7, 0, 0)
    with Control("/dev/null") as ctl:
        calls = {
            "VERSION": ctl.version,
            "LV_CREATE": lambda: ctl.lv_create("lv0", 8, [dest]),
            "LV_REMOVE": lambda: ctl.lv_remove("lv0"),
            "LV_LIST": ctl.lv_list,
            "LV_STATUS": lambda: ctl.lv_status("lv0"),
            "PE_MOVE": lambda: ctl.pe_move("lv0", 0, dest),
            "PE_LOCK": lambda: ctl.pe_lock("lv0", 0),
            "PE_UNLOCK": lambda: ctl.pe_unlock("lv0", 0),
            "PE_REMAP": lambda: ctl.pe_remap("lv0", 0, dest),
            "PE_MOVE_END": lambda: ctl.pe_move_end("lv0", 0, "commit"),
            "MOVE_STATUS": lambda: ctl.move_status("lv0", 0),
        }
        assert set(calls) == set(uapi.IOC), "a command without a Control method"
        for op, call in calls.items():
            ioctl_spy.calls.clear()
            with pytest.raises(errors.NotSupported) as info:
                call()
            assert info.value.errno == errno.ENOTTY
            assert info.value.op == op
            assert ioctl_spy.calls == [uapi.IOC[op]]


def test_raw_ioctl_sends_arbitrary_bytes() -> None:
    with Control("/dev/null") as ctl:
        with pytest.raises(errors.NotSupported) as info:
            ctl.raw_ioctl(
                uapi.IOC["VERSION"], bytearray(uapi.ffi.sizeof("struct pemove_version"))
            )
        assert info.value.errno == errno.ENOTTY
        assert info.value.op == f"ioctl 0x{uapi.IOC['VERSION']:08x}"


def test_version_mismatch_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel writes its version back on EINVAL; the message must say so."""

    def fake_kernel(fd: int, request: int, buf: Any, mutate: bool = False) -> int:
        view = uapi.ffi.from_buffer("struct pemove_hdr *", buf)
        view.version[0] = uapi.VERSION[0] + 1
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(fcntl, "ioctl", fake_kernel)
    with Control("/dev/null") as ctl, pytest.raises(errors.InvalidArgument) as info:
        ctl.version()
    assert "interface version mismatch" in str(info.value)
    assert f"module {uapi.VERSION[0] + 1}." in str(info.value)


def test_extent_from_path_rejects_non_block_devices(tmp_path: Any) -> None:
    with pytest.raises(errors.DeviceNotFound):
        Extent.from_path(tmp_path / "missing")
    with pytest.raises(errors.DeviceNotFound) as info:
        Extent.from_path("/dev/null")
    assert "not a block device" in str(info.value)
