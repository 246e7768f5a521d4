"""Errors raised by the pemove client.

Every failure of an ioctl on ``/dev/pemove-control`` becomes one subclass of
:class:`PemoveError`, chosen by :func:`from_errno`, the only place where an
errno is translated.  The exception keeps the errno, the operation
(``"PE_MOVE"``, ``"LV_CREATE"``, ...), the LV name and LE when they apply,
and a hint that says what to do about it.  The errno contract itself is in
docs/HACKING.md.
"""

from __future__ import annotations

import errno as E
import os

__all__ = [
    "DeviceNotFound",
    "UnusableDevice",
    "Interrupted",
    "InvalidArgument",
    "LVBusy",
    "LVExists",
    "LVNotFound",
    "ModuleNotLoaded",
    "MoveIOError",
    "NodeTimeout",
    "NotSupported",
    "OutOfMemory",
    "PemoveError",
    "PermissionDenied",
    "UdevUnavailable",
    "errno_name",
    "from_errno",
]


def errno_name(err: int | None) -> str:
    """The symbolic name of ``err`` as Linux spells it, e.g. ``"EBUSY"``.

    Python's table names 95 ``ENOTSUP``; Linux and the errno contract
    (docs/HACKING.md) call it ``EOPNOTSUPP``.
    """
    if err == E.EOPNOTSUPP:
        return "EOPNOTSUPP"
    return E.errorcode.get(err or 0, str(err))


class PemoveError(OSError):
    """Base class of every pemove client error.

    :ivar errno: the errno the kernel (or the client) reported
    :ivar op: the operation that failed, e.g. ``"PE_MOVE"`` or ``"open"``
    :ivar lv: the LV name, when the operation names one
    :ivar le: the logical extent, when the operation names one
    :ivar hint: what a person can do about it
    """

    def __init__(
        self,
        err: int,
        op: str,
        hint: str,
        *,
        lv: str | None = None,
        le: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(err, os.strerror(err) if err else "error")
        self.op = op
        self.lv = lv
        self.le = le
        self.hint = hint
        self.detail = detail

    @property
    def errno_name(self) -> str:
        """The symbolic errno, e.g. ``"EBUSY"`` (see :func:`errno_name`)."""
        return errno_name(self.errno)

    def __str__(self) -> str:
        where = self.op
        if self.lv is not None:
            where += f" {self.lv}"
        if self.le is not None:
            where += f" LE {self.le}"
        text = f"{where}: {self.strerror} ({self.errno_name})"
        if self.detail:
            text += f": {self.detail}"
        if self.hint:
            text += f". {self.hint}"
        return text


class PermissionDenied(PemoveError):
    """EPERM/EACCES: the caller lacks CAP_SYS_ADMIN or cannot open the node."""


class NotSupported(PemoveError):
    """ENOTTY or EOPNOTSUPP: the module cannot do this (see the hint)."""


class InvalidArgument(PemoveError):
    """EINVAL: the request breaks one of the interface's rules."""


class LVExists(PemoveError):
    """EEXIST: an LV with that name already exists."""


class LVNotFound(PemoveError):
    """ENOENT: no LV has that name."""


class LVBusy(PemoveError):
    """EBUSY: the LV is open, or the LE is being moved or is locked."""


class DeviceNotFound(PemoveError):
    """ENODEV/ENXIO: a PV major:minor is not a block device that exists."""


class UnusableDevice(PemoveError):
    """ELOOP or EMEDIUMTYPE: the device exists but cannot be a PV.

    ELOOP: it is a pemove LV (an LV on an LV, or a move into itself, would
    deadlock).  EMEDIUMTYPE: it is zoned (host-managed), which the remapping
    bio path does not support.
    """


class MoveIOError(PemoveError):
    """EIO and friends from a move: the map is unchanged, the data is on the old PE."""


class Interrupted(PemoveError):
    """EINTR: a fatal signal interrupted the drain; nothing changed."""


class OutOfMemory(PemoveError):
    """ENOMEM: the kernel could not allocate the LV."""


class ModuleNotLoaded(PemoveError):
    """The control node does not exist: the pemove module is not loaded."""


class UdevUnavailable(PemoveError):
    """udev is not running and /dev is not devtmpfs, so device nodes cannot be found."""


class NodeTimeout(PemoveError):
    """A device node did not appear within the timeout."""


# Errnos a failed copy or flush can come back with, from the block layer.
_IO_ERRNOS = frozenset(
    {
        E.EIO,
        E.ENOSPC,
        E.EREMOTEIO,
        E.ETIMEDOUT,
        E.ENOLINK,
        E.EILSEQ,
        E.ENODATA,
        E.EAGAIN,
    }
)

_MODULE_HINT = "Load the module: 'modprobe pemove' or 'insmod kmod/pemove.ko' (build it with 'make kmod')"
_ROOT_HINT = "Run as root (the control node needs CAP_SYS_ADMIN)"
_NO_DEVICE_HINT = (
    "A PV major:minor is not an existing block device; check the device names"
)

_EINVAL_HINTS = {
    "LV_CREATE": (
        "Check the rules: the name is 1-31 bytes; extent_sectors is a non-zero multiple of 8 (4 KiB) "
        "up to 2^31; 1..PEMOVE_MAX_EXTENTS extents; each extent lies inside its PV, is aligned to the "
        "PV's logical block size (which must not exceed the extent size) and overlaps no extent of any LV"
    ),
    "PE_MOVE": (
        "Check that the LE is inside the LV and that the destination lies inside its device, is aligned "
        "to 4 KiB and to its logical block size, lies past the PV's metadata area, overlaps no PE in use "
        "by any LV (the LE's own PE included) and no destination of a move in progress, and has no larger "
        "logical or physical block size or DMA alignment than the LV (and no stable-writes need the LV "
        "lacks); a chunk size must be a power of two within the module's limits ('pemove version')"
    ),
    "PE_MOVE_END": "There is no move in sync on that LE (PE_MOVE with sync_only leaves one)",
    "PE_LOCK": "Check that the LE is inside the LV",
    "PE_REMAP": (
        "PE_REMAP needs a PE_LOCK taken on this same handle; the destination must lie inside its device, "
        "be aligned, and overlap no PE in use"
    ),
    "PE_UNLOCK": "PE_UNLOCK needs a PE_LOCK taken on this same handle",
    "LV_STATUS": "Check that le_first is inside the LV",
}
_EINVAL_DEFAULT = (
    "The request was rejected: check hdr.flags and reserved fields are zero, "
    "names are NUL-terminated, and the client and module interface versions match"
)

_ENOTTY_HINTS = {
    "PE_MOVE": (
        "This module has no locked copy: it was loaded with locked_copy=0, or it is a kernel without the "
        "patch; reload it with 'rmmod pemove; insmod pemove.ko locked_copy=1' or use the legacy move"
    ),
}
_ENOTTY_DEFAULT = (
    "The module does not know this command: it is older than this client or is not pemove; "
    "rebuild and reload kmod/pemove.ko"
)

_EBUSY_HINTS = {
    "LV_REMOVE": "Close every user of the LV's block device (umount, stop IO) and wait for moves to finish",
    "PE_MOVE": "The LE is being moved or is locked; wait for that to finish and retry",
    "PE_LOCK": "The LE is being moved or is locked; wait for that to finish and retry",
    "PE_MOVE_END": (
        "Another control handle owns this move, or it is being ended; detached moves can be ended from "
        "any handle"
    ),
}
_EBUSY_DEFAULT = (
    "Close the device or wait for the move in progress to finish, then retry"
)


# Errnos whose class and hint do not depend on the operation.
_BY_ERRNO: dict[int, tuple[type[PemoveError], str]] = {
    E.EPERM: (PermissionDenied, _ROOT_HINT),
    E.EACCES: (PermissionDenied, _ROOT_HINT),
    E.EOPNOTSUPP: (
        NotSupported,
        "The LV was created with --no-track (PEMOVE_LV_NOTRACK), which has no in-flight tracking and "
        "cannot move or lock extents; create it without --no-track",
    ),
    E.EEXIST: (
        LVExists,
        "Choose another name, or remove the existing LV first ('pemove remove NAME')",
    ),
    E.ENOENT: (
        LVNotFound,
        "No LV has that name; 'pemove list' shows the LVs that exist",
    ),
    E.ELOOP: (
        UnusableDevice,
        "The device is a pemove LV: an LV cannot be a PV or a move destination, of itself or of another "
        "LV; use the disk underneath",
    ),
    E.EMEDIUMTYPE: (
        UnusableDevice,
        "The device is zoned (host-managed); pemove LVs need conventional devices",
    ),
    E.ENODEV: (DeviceNotFound, _NO_DEVICE_HINT),
    E.ENXIO: (DeviceNotFound, _NO_DEVICE_HINT),
    E.EINTR: (Interrupted, "A fatal signal stopped the move; nothing changed, retry"),
    E.ENOMEM: (
        OutOfMemory,
        "The kernel could not allocate what the command needs (an LV, or a move's buffers); nothing "
        "changed; free memory, or use fewer or larger extents",
    ),
    E.EFAULT: (
        PemoveError,
        "The kernel could not read or write the request: a client bug, please report it",
    ),
}

# Errnos whose hint depends on the operation: the class, the hints by
# operation, and the hint for any other operation.
_BY_OP: dict[int, tuple[type[PemoveError], dict[str, str], str]] = {
    E.ENOTTY: (NotSupported, _ENOTTY_HINTS, _ENOTTY_DEFAULT),
    E.EINVAL: (InvalidArgument, _EINVAL_HINTS, _EINVAL_DEFAULT),
    E.EBUSY: (LVBusy, _EBUSY_HINTS, _EBUSY_DEFAULT),
}

_MOVE_OPS = ("PE_MOVE", "PE_MOVE_END", "legacy move")


def _hint(err: int, op: str) -> tuple[type[PemoveError], str]:
    """Choose the exception class and the hint for ``err`` from ``op``."""
    # A missing control node: the module is not loaded, whatever the errno.
    if op == "open" and err in (E.ENOENT, E.ENODEV, E.ENXIO):
        return ModuleNotLoaded, _MODULE_HINT
    if err in _BY_ERRNO:
        return _BY_ERRNO[err]
    if err in _BY_OP:
        cls, hints, default = _BY_OP[err]
        return cls, hints.get(op, default)
    if err in _IO_ERRNOS and op in _MOVE_OPS:
        return MoveIOError, (
            "The copy, a mirrored write to the destination or the destination flush failed; the map is "
            "unchanged and the data is still on the old PE. Check the destination device (dmesg) and retry "
            "with another destination"
        )
    if err in _IO_ERRNOS:
        return MoveIOError, "An IO error occurred; check the devices (dmesg)"
    return PemoveError, "Unexpected error; check dmesg"


def from_errno(
    err: int,
    op: str,
    *,
    lv: str | None = None,
    le: int | None = None,
    detail: str | None = None,
) -> PemoveError:
    """Translate an errno from ``op`` into the matching :class:`PemoveError`.

    :param err: the errno
    :param op: the operation: an ioctl's short name (``"PE_MOVE"``) or ``"open"``
        for opening the control node
    :param lv: the LV the operation named, if any
    :param le: the LE the operation named, if any
    :param detail: extra facts for the message (e.g. version numbers)
    :returns: the exception, to be raised by the caller
    """
    cls, hint = _hint(err, op)
    return cls(err, op, hint, lv=lv, le=le, detail=detail)
