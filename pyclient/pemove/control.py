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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pemove import errors, uapi
from pemove.errors import InvalidArgument

if TYPE_CHECKING:
    # Only type checkers import this, so the runtime stays 3.9-compatible.
    from typing_extensions import Self

__all__ = [
    "CONTROL_NODE",
    "MODES",
    "Control",
    "EndOp",
    "Extent",
    "LEStatus",
    "LVCounters",
    "LVInfo",
    "LVStatus",
    "Mode",
    "MoveEnd",
    "MoveProgress",
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

_T = TypeVar("_T")


def _bit(word: str, flag: str) -> property:
    """A read-only bool: the uapi constant ``flag`` is set in ``self.<word>``."""
    mask = _C[flag]
    return property(lambda self: bool(getattr(self, word) & mask))


def _from_struct(cls: type[_T], c: Any, **given: Any) -> _T:
    """Dataclass ``cls`` from struct ``c``.

    The uapi names the out fields as the result classes do, so every field
    not in ``given`` is the struct's integer of the same name.
    """
    read = {f.name: int(getattr(c, f.name)) for f in fields(cls) if f.name not in given}
    return cls(**read, **given)


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
    chunk_min_sectors: int = 0
    chunk_max_sectors: int = 0
    chunk_default_sectors: int = 0

    @property
    def version(self) -> tuple[int, int, int]:
        """The module's interface version."""
        return (self.major, self.minor, self.patch)

    #: PE_MOVE (the locked copy) is enabled.
    pe_move = _bit("features", "PEMOVE_FEAT_PE_MOVE")
    #: PE_LOCK, PE_REMAP and PE_UNLOCK are available.
    legacy_lock = _bit("features", "PEMOVE_FEAT_LEGACY_LOCK")
    #: LVs can be created without in-flight tracking.
    notrack = _bit("features", "PEMOVE_FEAT_NOTRACK")
    #: PE_MOVE takes ``mode="live"`` (interface 1.1).
    live_move = _bit("features", "PEMOVE_FEAT_LIVE_MOVE")
    #: PE_MOVE can stop in sync, and PE_MOVE_END finishes it (1.1).
    two_phase = _bit("features", "PEMOVE_FEAT_TWO_PHASE")
    #: LV_CREATE takes a reserved metadata area per PV (1.1).
    pv_reserve = _bit("features", "PEMOVE_FEAT_PV_RESERVE")


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

    #: The LV was created without in-flight tracking.
    notrack = _bit("flags", "PEMOVE_LV_NOTRACK")

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
    reads_held: int = 0
    writes_mirrored: int = 0
    discards: int = 0

    @classmethod
    def _from_c(cls, c: Any) -> LVCounters:
        return _from_struct(cls, c)


class _LEState:
    """What the PEMOVE_LE_* bits in ``self.state`` say about an LE.

    LV_STATUS and MOVE_STATUS report the same bits, so both results read
    them here.
    """

    #: PE_MOVE holds all new bios.
    locked = _bit("state", "PEMOVE_LE_LOCKED")
    #: PE_LOCK holds new writes.
    wrlocked = _bit("state", "PEMOVE_LE_WRLOCKED")
    #: A PE_MOVE owns this LE.
    moving = _bit("state", "PEMOVE_LE_MOVING")
    #: A live move is copying it: writes wait by chunk, reads go on.
    copying = _bit("state", "PEMOVE_LE_COPYING")
    #: A move is in sync: writes reach both PEs until PE_MOVE_END.
    synced = _bit("state", "PEMOVE_LE_SYNCED")
    #: The synced move belongs to no control file (PE_MOVE_END DETACH).
    detached = _bit("state", "PEMOVE_LE_DETACHED")


@dataclass(frozen=True)
class LEStatus(_LEState):
    """One logical extent: where it lives and what is happening to it."""

    le: int
    pe: Extent
    state: int
    inflight: int
    held: int


@dataclass(frozen=True)
class LVStatus:
    """What PEMOVE_IOC_LV_STATUS reports: the LV, its counters and its LEs."""

    info: LVInfo
    counters: LVCounters
    les: list[LEStatus] = field(default_factory=list)


#: The two modes of a locked move (PE_MOVE); see docs/HACKING.md.
Mode = Literal["whole", "live"]
MODES: tuple[Mode, ...] = ("whole", "live")

#: How PE_MOVE_END finishes a move left in sync.
EndOp = Literal["commit", "abort", "detach"]
_END_OPS: dict[str, int] = {
    "commit": _C["PEMOVE_END_COMMIT"],
    "abort": _C["PEMOVE_END_ABORT"],
    "detach": _C["PEMOVE_END_DETACH"],
}


@dataclass(frozen=True)
class MoveStats:
    """What a move did.

    :ivar bytes_copied: bytes copied from the old PE to the new one
    :ivar hold_ns: how long all IO to the LE was held (0 for a live move,
        which never holds the LE as a whole)
    :ivar copy_ns: time spent copying
    :ivar bios_drained: bios in flight that the move waited for (always 0 for
        the legacy move, which does not wait: that is its bug)
    :ivar bios_held: bios held while the LE was locked, or (live) writes
        that waited for their chunk
    :ivar bios_not_waited: legacy move only: bios in flight at PE_LOCK that
        nothing waited for
    :ivar mode: ``"whole"`` or ``"live"`` for PE_MOVE; None for the legacy move
    :ivar chunk_sectors: the chunk size the copy used
    :ivar max_wait_ns: the longest any bio waited because of the move
    :ivar switch_ns: the destination flush plus the map switch
    :ivar writes_mirrored: writes that reached both PEs
    :ivar writes_waited: writes that waited for their chunk's copy
    :ivar synced: the move stopped in sync (``sync_only``): PE_MOVE_END must
        finish it
    """

    bytes_copied: int
    hold_ns: int
    copy_ns: int
    bios_drained: int
    bios_held: int
    bios_not_waited: int = 0
    mode: Mode | None = None
    chunk_sectors: int = 0
    max_wait_ns: int = 0
    switch_ns: int = 0
    writes_mirrored: int = 0
    writes_waited: int = 0
    synced: bool = False


@dataclass(frozen=True)
class MoveEnd:
    """What PE_MOVE_END did.

    :ivar op: ``"commit"``, ``"abort"`` or ``"detach"``
    :ivar dest: the move's destination
    :ivar switch_ns: commit: the map switch, including the wait for the IO
        still in flight to the old PE
    :ivar writes_mirrored: writes that reached both PEs over the whole move
    :ivar max_wait_ns: the longest any bio waited over the whole move
    """

    op: EndOp
    dest: Extent
    switch_ns: int
    writes_mirrored: int
    max_wait_ns: int


@dataclass(frozen=True)
class MoveProgress(_LEState):
    """A move in progress, as MOVE_STATUS reports it (``state`` 0: none).

    :ivar state: the LE's PEMOVE_LE_* bits
    :ivar mode: ``"whole"`` or ``"live"``, None when there is no move
    """

    state: int
    mode: Mode | None
    source: Extent
    dest: Extent
    total_sectors: int
    copied_sectors: int
    chunk_sectors: int
    writes_mirrored: int
    writes_waited: int
    max_wait_ns: int
    elapsed_ns: int

    #: A move owns the LE (the same as :attr:`moving`).
    active = _LEState.moving


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
        major, minor, patch = (int(part) for part in req.hdr.version)
        return _from_struct(VersionInfo, req, major=major, minor=minor, patch=patch)

    def lv_create(
        self,
        name: str,
        extent_sectors: int,
        extents: Sequence[Extent],
        *,
        notrack: bool = False,
        pv_reserved_sectors: int = 0,
    ) -> LVInfo:
        """PEMOVE_IOC_LV_CREATE: create an LV whose LE ``i`` lives at ``extents[i]``.

        The LV's block device appears as ``/dev/<disk_name>``; to wait until
        it is ready, use :func:`pemove.lvs.create` instead of this call.

        :param name: unique name, 1 to PEMOVE_NAME_LEN - 1 bytes
        :param extent_sectors: extent size in 512-byte sectors, a multiple of 8
        :param extents: one PV extent per LE
        :param notrack: create it without in-flight tracking (no moves, no locks)
        :param pv_reserved_sectors: the first sectors of every PV hold
            metadata: no extent, and no destination of a move, may overlap them
        :raises errors.PermissionDenied: EPERM
        :raises errors.InvalidArgument: EINVAL: bad name, extent size or count,
            an extent outside its PV, misaligned or overlapping another
        :raises errors.DeviceNotFound: ENODEV, a PV is not a block device
        :raises errors.UnusableDevice: ELOOP, a PV is a pemove LV;
            EMEDIUMTYPE, a PV is zoned
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
        req.pv_reserved_sectors = pv_reserved_sectors
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

    def pe_move(
        self,
        name: str,
        le: int,
        dest: Extent,
        *,
        mode: Mode = "whole",
        chunk_sectors: int = 0,
        sync_only: bool = False,
    ) -> MoveStats:
        """PEMOVE_IOC_PE_MOVE: move LE ``le`` to ``dest`` with the in-kernel copy.

        ``mode="whole"`` (interface 1.0) holds every bio to the LE while it
        drains, copies, flushes and switches.  ``mode="live"`` never holds
        the LE: reads go to the source, a write waits only while its chunk
        is copied, writes to copied chunks reach both PEs.

        :param chunk_sectors: the copy's chunk size, a power of two within
            :attr:`VersionInfo.chunk_min_sectors` ..
            :attr:`VersionInfo.chunk_max_sectors`; 0 for the module's default
        :param sync_only: stop once the destination is in sync (every write
            mirrored) and return; :meth:`pe_move_end` finishes the move, and
            closing this handle aborts it
        :raises errors.PermissionDenied: EPERM
        :raises errors.NotSupported: ENOTTY, PE_MOVE is off (``locked_copy=0``)
            or missing; EOPNOTSUPP, the LV was created without tracking
        :raises errors.InvalidArgument: EINVAL, LE out of range, a bad
            destination (outside its device, misaligned, in use, in the
            reserved area, larger block sizes or DMA alignment than the LV's,
            stable writes the LV does not promise), a bad chunk size or flags
        :raises errors.LVNotFound: ENOENT
        :raises errors.LVBusy: EBUSY, the LE is being moved or is locked, or
            the destination device is claimed by someone else
        :raises errors.DeviceNotFound: ENODEV, the destination is not a block device
        :raises errors.UnusableDevice: ELOOP, the destination is a pemove LV;
            EMEDIUMTYPE, it is zoned
        :raises errors.MoveIOError: EIO or another block-layer errno: the copy,
            a mirrored write or the flush failed; the map is unchanged
        :raises errors.Interrupted: EINTR, a fatal signal; the map is unchanged
        :raises errors.OutOfMemory: ENOMEM, before anything changed
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        flags = _C["PEMOVE_MOVE_LIVE"] if mode == "live" else 0
        if sync_only:
            flags |= _C["PEMOVE_MOVE_SYNC_ONLY"]

        def fill(req: Any) -> None:
            dest._fill(req.dest)
            req.move_flags = flags
            req.chunk_sectors = chunk_sectors

        req = self._le_call("PE_MOVE", name, le, fill)
        # PE_MOVE waits for every bio in flight: none is left not waited for.
        return _from_struct(
            MoveStats, req, bios_not_waited=0, mode=mode, synced=sync_only
        )

    def pe_move_end(self, name: str, le: int, op: EndOp) -> MoveEnd:
        """PEMOVE_IOC_PE_MOVE_END: finish a move that :meth:`pe_move` left in sync.

        ``commit`` switches the map to the destination; ``abort`` drops the
        destination; ``detach`` lets the move outlive this handle, still
        mirroring, until a ``commit`` or ``abort`` from any handle.

        :raises errors.InvalidArgument: EINVAL, no move in sync on that LE
        :raises errors.LVBusy: EBUSY, another handle owns the move, or it is
            being ended
        :raises errors.MoveIOError: commit: a mirrored write to the
            destination failed; the move was aborted, the map is unchanged
        """
        if op not in _END_OPS:
            raise ValueError(f"op must be one of {', '.join(_END_OPS)}, not {op!r}")

        def fill(req: Any) -> None:
            req.op = _END_OPS[op]

        req = self._le_call("PE_MOVE_END", name, le, fill)
        return _from_struct(MoveEnd, req, op=op, dest=Extent._from_c(req.dest))

    def move_status(self, name: str, le: int) -> MoveProgress:
        """PEMOVE_IOC_MOVE_STATUS: how far the move of LE ``le`` is (state 0: none).

        :raises errors.LVNotFound: ENOENT
        :raises errors.InvalidArgument: EINVAL, LE out of range
        """
        req = self._le_call("MOVE_STATUS", name, le)
        mode: Mode | None = None
        if req.state:
            mode = "live" if int(req.move_flags) & _C["PEMOVE_MOVE_LIVE"] else "whole"
        return _from_struct(
            MoveProgress,
            req,
            mode=mode,
            source=Extent._from_c(req.source),
            dest=Extent._from_c(req.dest),
        )

    def _le_call(
        self, op: str, name: str, le: int, fill: Callable[[Any], None] | None = None
    ) -> Any:
        """Issue ``op`` on LE ``le`` of LV ``name``; ``fill`` sets the other in fields."""
        req = self._new(op)
        req.name = _name_bytes(name, op)
        req.le = le
        if fill is not None:
            fill(req)
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
        return int(self._le_call("PE_LOCK", name, le).bios_inflight)

    def pe_unlock(self, name: str, le: int) -> None:
        """PEMOVE_IOC_PE_UNLOCK: release a PE_LOCK this handle took; held writes proceed.

        :raises errors.PermissionDenied: EPERM
        :raises errors.InvalidArgument: EINVAL, LE out of range or not locked by this handle
        :raises errors.LVNotFound: ENOENT
        """
        self._le_call("PE_UNLOCK", name, le)

    def pe_remap(self, name: str, le: int, dest: Extent) -> None:
        """PEMOVE_IOC_PE_REMAP: point LE ``le`` at ``dest``; only while this handle holds its PE_LOCK.

        :raises errors.PermissionDenied: EPERM
        :raises errors.NotSupported: EOPNOTSUPP, the LV was created without tracking
        :raises errors.InvalidArgument: EINVAL, not locked by this handle, or a bad destination
        :raises errors.LVNotFound: ENOENT
        :raises errors.DeviceNotFound: ENODEV, the destination is not a block device
        """
        self._le_call("PE_REMAP", name, le, lambda req: dest._fill(req.dest))
