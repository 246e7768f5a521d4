"""The pemove control node: one typed method per ioctl.

:class:`Control` opens ``/dev/pemove-control`` and wraps each ioctl of the
module in a method that fills the request struct (its layout comes from
:mod:`pemove.uapi`), calls ``fcntl.ioctl`` on it and returns a small result
object.  A failed ioctl raises the :class:`~pemove.errors.PemoveError`
subclass that :func:`pemove.errors.from_errno` picks for its errno.

Only the ioctls live here.  Moving an extent the way most callers want (PE_MOVE,
or the legacy move when the module has none) is :func:`pemove.move.move_extent`;
creating an LV and waiting for its node is :func:`pemove.lvs.create`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pemove import errors, uapi
from pemove.errors import InvalidArgument

if TYPE_CHECKING:
    # Only type checkers import this, so the runtime stays 3.9-compatible.
    from typing_extensions import Self

__all__ = [
    "CONTROL_NODE",
    "Control",
    "Extent",
    "LEStatus",
    "LVCounters",
    "LVInfo",
    "LVStatus",
    "MoveStats",
    "VersionInfo",
]

CONTROL_NODE = "/dev/pemove-control"

ffi = uapi.ffi
_C = uapi.const
_NAME_LEN = _C["PEMOVE_NAME_LEN"]

# LV_STATUS asks for this many LEs per call; big enough to need one call for
# most LVs, small enough that the buffer stays modest.
_STATUS_BATCH = 4096


@dataclass(frozen=True)
class Extent:
    """A physical extent: a start sector on a block device.

    :ivar major: the device's major number
    :ivar minor: the device's minor number
    :ivar sector: the first 512-byte sector
    """

    major: int
    minor: int
    sector: int = 0

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], sector: int = 0) -> Extent:
        """Return the extent at ``sector`` of the block device node ``path``.

        :raises errors.DeviceNotFound: if ``path`` is not a block device
        """
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise errors.DeviceNotFound(
                errno.ENOENT,
                "stat",
                f"{os.fspath(path)} does not exist; check the device name",
            ) from None
        if not stat.S_ISBLK(st.st_mode):
            raise errors.DeviceNotFound(
                errno.ENOTBLK,
                "stat",
                f"{os.fspath(path)} is not a block device; name a disk such as /dev/vdb",
            )
        return cls(os.major(st.st_rdev), os.minor(st.st_rdev), sector)

    @property
    def devno(self) -> str:
        """``"major:minor"``."""
        return f"{self.major}:{self.minor}"

    def __str__(self) -> str:
        return f"{self.major}:{self.minor}+{self.sector}"

    def _fill(self, c: Any) -> None:
        c.major = self.major
        c.minor = self.minor
        c.sector = self.sector

    @classmethod
    def _from_c(cls, c: Any) -> Extent:
        return cls(int(c.major), int(c.minor), int(c.sector))


@dataclass(frozen=True)
class VersionInfo:
    """What PEMOVE_IOC_VERSION reports about the loaded module."""

    major: int
    minor: int
    patch: int
    features: int
    max_extents: int
    copy_chunk_sectors: int

    @property
    def version(self) -> tuple[int, int, int]:
        """The module's interface version."""
        return (self.major, self.minor, self.patch)

    @property
    def pe_move(self) -> bool:
        """PE_MOVE (the locked copy) is enabled."""
        return bool(self.features & _C["PEMOVE_FEAT_PE_MOVE"])

    @property
    def legacy_lock(self) -> bool:
        """PE_LOCK, PE_REMAP and PE_UNLOCK are available."""
        return bool(self.features & _C["PEMOVE_FEAT_LEGACY_LOCK"])

    @property
    def notrack(self) -> bool:
        """LVs can be created without in-flight tracking."""
        return bool(self.features & _C["PEMOVE_FEAT_NOTRACK"])


@dataclass(frozen=True)
class LVInfo:
    """One LV.

    ``open_count``, ``pv_count`` and ``reserve_bytes`` are None in the
    result of :meth:`Control.lv_create`, which does not report them.
    """

    name: str
    disk_name: str
    disk_major: int
    disk_minor: int
    extent_sectors: int
    extent_count: int
    flags: int
    open_count: int | None = None
    pv_count: int | None = None
    reserve_bytes: int | None = None

    @property
    def notrack(self) -> bool:
        """The LV was created without in-flight tracking."""
        return bool(self.flags & _C["PEMOVE_LV_NOTRACK"])

    @property
    def size_bytes(self) -> int:
        """The LV's size in bytes."""
        return self.extent_sectors * self.extent_count * 512

    @property
    def node(self) -> str:
        """The conventional device node, ``/dev/<disk_name>``."""
        return f"/dev/{self.disk_name}"

    @classmethod
    def _from_c(cls, c: Any) -> LVInfo:
        return cls(
            name=_str(c.name),
            disk_name=_str(c.disk_name),
            disk_major=int(c.disk_major),
            disk_minor=int(c.disk_minor),
            extent_sectors=int(c.extent_sectors),
            extent_count=int(c.extent_count),
            flags=int(c.lv_flags),
            open_count=int(c.open_count),
            pv_count=int(c.pv_count),
            reserve_bytes=int(c.reserve_bytes),
        )


@dataclass(frozen=True)
class LVCounters:
    """Whole-LV counters since the LV was created."""

    bios: int
    splits: int
    flushes: int
    held: int
    moves: int
    moves_failed: int
    bytes_moved: int
    remaps: int

    @classmethod
    def _from_c(cls, c: Any) -> LVCounters:
        return cls(
            bios=int(c.bios),
            splits=int(c.splits),
            flushes=int(c.flushes),
            held=int(c.held),
            moves=int(c.moves),
            moves_failed=int(c.moves_failed),
            bytes_moved=int(c.bytes_moved),
            remaps=int(c.remaps),
        )


@dataclass(frozen=True)
class LEStatus:
    """One logical extent: where it lives and what is happening to it."""

    le: int
    pe: Extent
    state: int
    inflight: int
    held: int

    @property
    def locked(self) -> bool:
        """PE_MOVE holds all new bios."""
        return bool(self.state & _C["PEMOVE_LE_LOCKED"])

    @property
    def wrlocked(self) -> bool:
        """PE_LOCK holds new writes."""
        return bool(self.state & _C["PEMOVE_LE_WRLOCKED"])

    @property
    def moving(self) -> bool:
        """A PE_MOVE owns this LE."""
        return bool(self.state & _C["PEMOVE_LE_MOVING"])


@dataclass(frozen=True)
class LVStatus:
    """What PEMOVE_IOC_LV_STATUS reports: the LV, its counters and its LEs."""

    info: LVInfo
    counters: LVCounters
    les: list[LEStatus] = field(default_factory=list)


@dataclass(frozen=True)
class MoveStats:
    """What a move did.

    :ivar bytes_copied: bytes copied from the old PE to the new one
    :ivar hold_ns: how long IO to the LE was held
    :ivar copy_ns: time spent copying
    :ivar bios_drained: bios in flight that the move waited for (always 0 for
        the legacy move, which does not wait: that is its bug)
    :ivar bios_held: bios held while the LE was locked
    :ivar bios_not_waited: legacy move only: bios in flight at PE_LOCK that
        nothing waited for
    """

    bytes_copied: int
    hold_ns: int
    copy_ns: int
    bios_drained: int
    bios_held: int
    bios_not_waited: int = 0


def _str(c_array: Any) -> str:
    return ffi.string(c_array).decode("utf-8", "replace")


def _name_bytes(name: str, op: str) -> bytes:
    raw = name.encode("utf-8")
    if not raw or len(raw) >= _NAME_LEN or b"\0" in raw:
        raise InvalidArgument(
            errno.EINVAL,
            op,
            f"An LV name is 1 to {_NAME_LEN - 1} bytes of UTF-8 without NUL",
            lv=name,
        )
    return raw


class Control:
    """An open handle on the pemove control node.

    Use it as a context manager::

        with Control() as ctl:
            print(ctl.lv_list())

    PE_LOCKs belong to the handle that took them: closing it unlocks them.

    :param path: the control node; by default the one :mod:`pemove.discovery`
        finds, else ``/dev/pemove-control``
    :raises errors.ModuleNotLoaded: if the node does not exist
    :raises errors.PermissionDenied: if it cannot be opened (not root)
    """

    def __init__(self, path: str | None = None) -> None:
        if path is None:
            from pemove import discovery

            path = discovery.control_node() or CONTROL_NODE
        self.path = path
        try:
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise errors.from_errno(
                exc.errno or errno.EIO, "open", detail=path
            ) from None

    # -- handle lifetime -------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Close the handle, dropping every PE_LOCK it holds."""
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            os.close(fd)

    def fileno(self) -> int:
        """The file descriptor of the control node."""
        if self._fd is None:
            raise ValueError("the pemove control handle is closed")
        return self._fd

    # -- plumbing ---------------------------------------------------------

    def raw_ioctl(self, cmd: int, buf: Any = 0) -> int:
        """Issue any ioctl on the control node, for tests that send arbitrary bytes.

        :param cmd: the request number
        :param buf: a mutable buffer (``bytearray``, ``ffi.buffer(...)``),
            updated in place with what the kernel writes back, or an int
        :returns: the ioctl's return value
        :raises PemoveError: the subclass for the errno, with op ``ioctl 0x...``
        """
        try:
            if isinstance(buf, int):
                return fcntl.ioctl(self.fileno(), cmd, buf)
            return fcntl.ioctl(self.fileno(), cmd, buf, True)
        except OSError as exc:
            raise errors.from_errno(
                exc.errno or errno.EIO, f"ioctl 0x{cmd:08x}"
            ) from None

    def _new(self, op: str) -> Any:
        ctype = uapi.IOC_STRUCT[op]
        assert ctype is not None
        req = ffi.new(ctype + " *")
        for i, part in enumerate(uapi.VERSION):
            req.hdr.version[i] = part
        return req

    def _call(
        self, op: str, req: Any, *, lv: str | None = None, le: int | None = None
    ) -> None:
        try:
            fcntl.ioctl(self.fileno(), uapi.IOC[op], ffi.buffer(req), True)
        except OSError as exc:
            err = exc.errno or errno.EIO
            detail = None
            kernel = tuple(int(req.hdr.version[i]) for i in range(3))
            if err == errno.EINVAL and kernel != uapi.VERSION and any(kernel):
                detail = (
                    f"interface version mismatch: module {'.'.join(map(str, kernel))}, "
                    f"client {'.'.join(map(str, uapi.VERSION))}; use a client and module from the same checkout"
                )
            raise errors.from_errno(err, op, lv=lv, le=le, detail=detail) from None

    # -- one method per ioctl ----------------------------------------------

    def version(self) -> VersionInfo:
        """PEMOVE_IOC_VERSION: the module's interface version and features.

        :raises errors.PermissionDenied: EPERM, not CAP_SYS_ADMIN
        :raises errors.InvalidArgument: EINVAL, the interface major versions differ
        """
        req = self._new("VERSION")
        self._call("VERSION", req)
        return VersionInfo(
            major=int(req.hdr.version[0]),
            minor=int(req.hdr.version[1]),
            patch=int(req.hdr.version[2]),
            features=int(req.features),
            max_extents=int(req.max_extents),
            copy_chunk_sectors=int(req.copy_chunk_sectors),
        )

    def lv_create(
        self,
        name: str,
        extent_sectors: int,
        extents: Sequence[Extent],
        *,
        notrack: bool = False,
    ) -> LVInfo:
        """PEMOVE_IOC_LV_CREATE: create an LV whose LE ``i`` lives at ``extents[i]``.

        The LV's block device appears as ``/dev/<disk_name>``; to wait until
        it is ready, use :func:`pemove.lvs.create` instead of this call.

        :param name: unique name, 1 to PEMOVE_NAME_LEN - 1 bytes
        :param extent_sectors: extent size in 512-byte sectors, a multiple of 8
        :param extents: one PV extent per LE
        :param notrack: create it without in-flight tracking (no moves, no locks)
        :raises errors.PermissionDenied: EPERM
        :raises errors.InvalidArgument: EINVAL: bad name, extent size or count,
            an extent outside its PV, misaligned or overlapping another
        :raises errors.DeviceNotFound: ENODEV, a PV is not a block device
        :raises errors.LVExists: EEXIST, the name is taken
        :raises errors.OutOfMemory: ENOMEM
        """
        op = "LV_CREATE"
        raw = _name_bytes(name, op)
        pes = ffi.new("struct pemove_extent[]", max(len(extents), 1))
        for i, ext in enumerate(extents):
            ext._fill(pes[i])
        req = self._new(op)
        req.name = raw
        req.extent_sectors = extent_sectors
        req.extents = int(ffi.cast("uintptr_t", pes))
        req.extent_count = len(extents)
        req.lv_flags = _C["PEMOVE_LV_NOTRACK"] if notrack else 0
        self._call(op, req, lv=name)
        return LVInfo(
            name=name,
            disk_name=_str(req.disk_name),
            disk_major=int(req.disk_major),
            disk_minor=int(req.disk_minor),
            extent_sectors=extent_sectors,
            extent_count=len(extents),
            flags=int(req.lv_flags),
        )

    def lv_remove(self, name: str) -> None:
        """PEMOVE_IOC_LV_REMOVE: remove an LV and its block device.

        :raises errors.PermissionDenied: EPERM
        :raises errors.LVNotFound: ENOENT
        :raises errors.LVBusy: EBUSY, the LV is open or a move or lock is in progress
        :raises errors.InvalidArgument: EINVAL, a bad name
        """
        op = "LV_REMOVE"
        req = self._new(op)
        req.name = _name_bytes(name, op)
        self._call(op, req, lv=name)

    def lv_list(self) -> list[LVInfo]:
        """PEMOVE_IOC_LV_LIST: every LV, in the module's order.

        :raises errors.PermissionDenied: EPERM
        """
        op = "LV_LIST"
        capacity = 0
        while True:
            arr = ffi.new("struct pemove_lv_info[]", max(capacity, 1))
            req = self._new(op)
            req.lvs = int(ffi.cast("uintptr_t", arr)) if capacity else 0
            req.capacity = capacity
            self._call(op, req)
            count = int(req.count)
            if count <= capacity:
                return [LVInfo._from_c(arr[i]) for i in range(count)]
            capacity = count + 4  # LVs created between the two calls

    def lv_status(
        self, name: str, *, le_first: int = 0, le_count: int | None = None
    ) -> LVStatus:
        """PEMOVE_IOC_LV_STATUS: an LV's info, counters and per-LE state.

        :param le_first: first LE to report
        :param le_count: how many LEs to report; None for all from ``le_first``
            on, 0 for none
        :raises errors.PermissionDenied: EPERM
        :raises errors.LVNotFound: ENOENT
        :raises errors.InvalidArgument: EINVAL, ``le_first`` out of range
        """
        op = "LV_STATUS"
        raw = _name_bytes(name, op)
        les: list[LEStatus] = []
        first = le_first
        while True:
            want = (
                _STATUS_BATCH
                if le_count is None
                else min(_STATUS_BATCH, le_count - len(les))
            )
            arr = ffi.new("struct pemove_le_status[]", max(want, 1))
            req = self._new(op)
            req.name = raw
            req.les = int(ffi.cast("uintptr_t", arr)) if want else 0
            req.le_first = first
            req.le_capacity = want
            self._call(op, req, lv=name, le=first if want else None)
            got = int(req.le_count)
            les.extend(
                LEStatus(
                    le=first + i,
                    pe=Extent._from_c(arr[i].pe),
                    state=int(arr[i].state),
                    inflight=int(arr[i].inflight),
                    held=int(arr[i].held),
                )
                for i in range(got)
            )
            first += got
            past_end = first >= int(req.info.extent_count)
            if got == 0 or past_end or (le_count is not None and len(les) >= le_count):
                return LVStatus(
                    LVInfo._from_c(req.info), LVCounters._from_c(req.counters), les
                )

    def pe_move(self, name: str, le: int, dest: Extent) -> MoveStats:
        """PEMOVE_IOC_PE_MOVE: move LE ``le`` to ``dest`` with the locked in-kernel copy.

        The LE is locked, in-flight bios are drained, the PE is copied and
        flushed, the map is switched and held bios go to the new PE.

        :raises errors.PermissionDenied: EPERM
        :raises errors.NotSupported: ENOTTY, PE_MOVE is off (``locked_copy=0``)
            or missing; EOPNOTSUPP, the LV was created without tracking
        :raises errors.InvalidArgument: EINVAL, LE out of range or a bad destination
        :raises errors.LVNotFound: ENOENT
        :raises errors.LVBusy: EBUSY, the LE is being moved or is locked
        :raises errors.DeviceNotFound: ENODEV, the destination is not a block device
        :raises errors.MoveIOError: EIO or another block-layer errno: the copy
            failed, the map is unchanged
        :raises errors.Interrupted: EINTR, a fatal signal during the drain
        """
        op = "PE_MOVE"
        req = self._new(op)
        req.name = _name_bytes(name, op)
        req.le = le
        dest._fill(req.dest)
        self._call(op, req, lv=name, le=le)
        return MoveStats(
            bytes_copied=int(req.bytes_copied),
            hold_ns=int(req.hold_ns),
            copy_ns=int(req.copy_ns),
            bios_drained=int(req.bios_drained),
            bios_held=int(req.bios_held),
        )

    def _lock_call(self, op: str, name: str, le: int, dest: Extent | None) -> Any:
        req = self._new(op)
        req.name = _name_bytes(name, op)
        req.le = le
        if dest is not None:
            dest._fill(req.dest)
        self._call(op, req, lv=name, le=le)
        return req

    def pe_lock(self, name: str, le: int) -> int:
        """PEMOVE_IOC_PE_LOCK (2002 semantics): write back the LV's page cache, hold new writes to ``le``.

        It does not wait for bios already in flight; it returns how many
        there were.  The lock belongs to this handle.

        :returns: bios in flight on the LE that the lock did not wait for
        :raises errors.PermissionDenied: EPERM
        :raises errors.NotSupported: EOPNOTSUPP, the LV was created without tracking
        :raises errors.InvalidArgument: EINVAL, LE out of range
        :raises errors.LVNotFound: ENOENT
        :raises errors.LVBusy: EBUSY, the LE is already locked or being moved
        """
        return int(self._lock_call("PE_LOCK", name, le, None).bios_inflight)

    def pe_unlock(self, name: str, le: int) -> None:
        """PEMOVE_IOC_PE_UNLOCK: release a PE_LOCK this handle took; held writes proceed.

        :raises errors.PermissionDenied: EPERM
        :raises errors.InvalidArgument: EINVAL, LE out of range or not locked by this handle
        :raises errors.LVNotFound: ENOENT
        """
        self._lock_call("PE_UNLOCK", name, le, None)

    def pe_remap(self, name: str, le: int, dest: Extent) -> None:
        """PEMOVE_IOC_PE_REMAP: point LE ``le`` at ``dest``; only while this handle holds its PE_LOCK.

        :raises errors.PermissionDenied: EPERM
        :raises errors.NotSupported: EOPNOTSUPP, the LV was created without tracking
        :raises errors.InvalidArgument: EINVAL, not locked by this handle, or a bad destination
        :raises errors.LVNotFound: ENOENT
        :raises errors.DeviceNotFound: ENODEV, the destination is not a block device
        """
        self._lock_call("PE_REMAP", name, le, dest)
