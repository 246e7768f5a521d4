"""Finding pemove's devices with pyudev.

- :func:`control_node`: where the control node is, or None if the module is
  not loaded;
- :func:`device_node`: the ``/dev`` node of a block device ``major:minor``;
- :func:`pv_candidates`: whole disks that could hold PVs, with their size and
  logical block size;
- :func:`watch_for_disk`: wait for an LV's block device after LV_CREATE.  The
  monitor is started before the ioctl, so the event cannot be missed::

      with discovery.watch_for_disk() as watch:
          info = ctl.lv_create("lv0", 8192, extents)
          node = watch.wait(info.disk_name, timeout=10)

When udevd runs, :meth:`DiskWatch.wait` returns once udev has finished with
the device (its rules may open it, e.g. to probe for a file system, which
would make an immediate LV_REMOVE fail with EBUSY).  Only an initialisation
after the watch started counts: a device that reuses the name of one just
removed can show that one's udev record until udev has processed the
removal, and that record says nothing about the new device.  Nor does the
record alone say that udev is done: its worker writes it before running the
rest of the event, and holds the device open (with a shared ``flock``, so
that partitioning tools can hold it off) until the very end, so the device
counts only once that lock is free too.  Without udevd, it falls
back to the kernel's own uevents, which is sound only when ``/dev`` is
devtmpfs: the kernel creates the node there before it sends the uevent.
Without either, it raises :class:`~pemove.errors.UdevUnavailable`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pemove import errors

if TYPE_CHECKING:
    # Only type checkers import this, so the runtime stays 3.9-compatible.
    from typing_extensions import Self

__all__ = [
    "CONTROL_SYSPATH",
    "DiskWatch",
    "PVCandidate",
    "control_node",
    "dev_is_devtmpfs",
    "device_node",
    "pemove_block_majors",
    "pv_candidates",
    "udev_holds",
    "udev_running",
    "watch_for_disk",
]

CONTROL_SYSPATH = "/sys/class/misc/pemove-control"
_UDEV_CONTROL = "/run/udev/control"
_LV_PREFIX = "pemove"
_RECHECK_S = 1.0
# Loading libudev is tried this often, LOAD_PAUSE_S apart: in a pemove VM,
# pyudev's search for it (ctypes find_library, which runs ldconfig -p over
# the host's read-only root) has been seen to fail now and then while the
# host rewrites its linker cache.
_LOAD_TRIES = 4
_LOAD_PAUSE_S = 0.5


def _context() -> Any:
    """A pyudev context; :class:`~pemove.errors.UdevUnavailable` if libudev cannot be loaded."""
    for attempt in range(_LOAD_TRIES):
        try:
            import pyudev

            return pyudev.Context()
        except (ImportError, OSError) as exc:
            if attempt + 1 < _LOAD_TRIES:
                time.sleep(_LOAD_PAUSE_S)
                continue
            raise errors.UdevUnavailable(
                errno.ENOENT,
                "pyudev",
                f"libudev cannot be loaded ({exc}); install libudev1 (apt-get install libudev1)",
            ) from None
    raise AssertionError("unreachable")


def udev_running() -> bool:
    """True if udevd is running.

    Its control socket must exist and accept a connection: a socket file
    left behind by a udevd that exited refuses it.
    """
    if not os.path.exists(_UDEV_CONTROL):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(_UDEV_CONTROL)
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            return True  # e.g. EACCES for non-root: it exists, assume it runs
    return True


def dev_is_devtmpfs() -> bool:
    """True if ``/dev`` is a devtmpfs mount, where the kernel makes device nodes itself."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            return any(line.split()[1:3] == ["/dev", "devtmpfs"] for line in mounts)
    except OSError:
        return False


def control_node() -> str | None:
    """Return the path of ``/dev/pemove-control``, or None if the module is not loaded."""
    if not os.path.isdir(CONTROL_SYSPATH):
        return None
    try:
        import pyudev

        device = pyudev.Devices.from_path(_context(), CONTROL_SYSPATH)
    except (ImportError, errors.UdevUnavailable):
        # No libudev: the node is where devtmpfs puts it.
        fallback = "/dev/pemove-control"
        return fallback if os.path.exists(fallback) else None
    except pyudev.DeviceNotFoundError:
        return None
    node = device.device_node
    return str(node) if node else None


def pemove_block_majors() -> set[int]:
    """Block majors registered as ``pemove`` in /proc/devices."""
    majors: set[int] = set()
    try:
        with open("/proc/devices", encoding="utf-8") as devices:
            in_block = False
            for line in devices:
                if line.startswith("Block devices:"):
                    in_block = True
                    continue
                fields = line.split()
                if in_block and len(fields) == 2 and fields[1].startswith(_LV_PREFIX):
                    majors.add(int(fields[0]))
    except OSError:
        pass
    return majors


def device_node(major: int, minor: int) -> str:
    """Return the ``/dev`` node of block device ``major:minor``.

    It reads ``DEVNAME`` from ``/sys/dev/block/M:m/uevent``, which the kernel
    fills in whether or not udev runs.

    :raises errors.DeviceNotFound: if there is no such block device or node
    """
    uevent = Path(f"/sys/dev/block/{major}:{minor}/uevent")
    try:
        lines = uevent.read_text().splitlines()
    except FileNotFoundError:
        raise errors.DeviceNotFound(
            errno.ENODEV,
            "lookup",
            f"There is no block device {major}:{minor}; check the PV",
        ) from None
    for line in lines:
        key, _, value = line.partition("=")
        if key == "DEVNAME" and value:
            node = f"/dev/{value}"
            if os.path.exists(node):
                return node
            raise errors.DeviceNotFound(
                errno.ENOENT,
                "lookup",
                f"Block device {major}:{minor} has no node {node}; is /dev populated?",
            )
    raise errors.DeviceNotFound(errno.ENODEV, "lookup", f"{uevent} names no DEVNAME")


@dataclass(frozen=True)
class PVCandidate:
    """A whole disk that could hold PVs.

    :ivar node: its device node, e.g. ``/dev/vdb``
    :ivar name: its kernel name, e.g. ``vdb``
    :ivar size_bytes: its size
    :ivar logical_block_size: its logical block size in bytes
    :ivar read_only: the kernel marks it read-only
    """

    node: str
    name: str
    major: int
    minor: int
    size_bytes: int
    logical_block_size: int
    read_only: bool

    @property
    def sectors(self) -> int:
        """Size in 512-byte sectors."""
        return self.size_bytes // 512


def pv_candidates(*, include_read_only: bool = False) -> list[PVCandidate]:
    """Whole disks that could hold PVs, sorted by name.

    pemove's own LVs, empty devices and (unless ``include_read_only``)
    read-only ones such as CD-ROMs are left out.
    """
    lv_majors = pemove_block_majors()
    found: list[PVCandidate] = []
    for device in _context().list_devices(subsystem="block", DEVTYPE="disk"):
        name = device.sys_name
        major, minor = os.major(device.device_number), os.minor(device.device_number)
        if name.startswith(_LV_PREFIX) or major in lv_majors or not device.device_node:
            continue
        attrs = device.attributes
        try:
            size = attrs.asint("size") * 512
            queue = Path(device.sys_path, "queue")
            lbs = int((queue / "logical_block_size").read_text())
            read_only = attrs.asint("ro") != 0
        except (KeyError, OSError, ValueError):
            continue
        if size == 0 or (read_only and not include_read_only):
            continue
        found.append(
            PVCandidate(
                str(device.device_node), name, major, minor, size, lbs, read_only
            )
        )
    return sorted(found, key=lambda c: c.name)


def udev_holds(node: str) -> bool:
    """udevd's worker still has ``node`` open for an event.

    While it processes an event for a whole disk, the worker holds a shared
    ``flock`` on it (systemd's "locking block device access" protocol), and
    it writes the device's udev record before it is done, so a record alone
    can show a device that is still open.  An exclusive, non-blocking lock
    taken and dropped at once tells: it fails exactly while such a shared
    lock is held.  A worker that starts meanwhile finds our lock and retries
    its event later, as the protocol says.

    A node that cannot be opened (gone, or being removed) counts as held; one
    the caller may not open is not probed and counts as free.
    """
    try:
        fd = os.open(node, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except PermissionError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # and with it our lock
    return False


class DiskWatch:
    """Waits for a block device to be ready; see :func:`watch_for_disk`."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._monitor: Any = None
        self._context: Any = None
        self._started_us = 0
        self.source = "udev" if udev_running() else "kernel"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start listening; call before the action that creates the device.

        :raises errors.UdevUnavailable: udevd is not running and /dev is not devtmpfs
        """
        if self.source == "kernel" and not dev_is_devtmpfs():
            raise errors.UdevUnavailable(
                errno.ENOENT,
                "watch",
                f"udevd is not running ({_UDEV_CONTROL} is missing) and /dev is not devtmpfs, so nothing "
                "creates device nodes; start systemd-udevd or mount devtmpfs on /dev",
            )
        self._context = _context()  # loads pyudev and libudev, or says why not
        import pyudev

        self._monitor = pyudev.Monitor.from_netlink(self._context, source=self.source)
        self._monitor.filter_by("block")
        self._monitor.start()
        # udev's USEC_INITIALIZED is CLOCK_MONOTONIC, as time.monotonic_ns() is.
        self._started_us = time.monotonic_ns() // 1000

    def stop(self) -> None:
        """Stop listening."""
        self._monitor = None

    def _ready(self, name: str) -> str | None:
        import pyudev

        try:
            device = pyudev.Devices.from_name(self._context, "block", name)
        except pyudev.DeviceNotFoundError:
            return None
        node = device.device_node
        if not node or not os.path.exists(node):
            return None
        if self.source == "udev" and (
            not self._initialized_since_start(device) or udev_holds(str(node))
        ):
            return None
        return str(node)

    def _initialized_since_start(self, device: Any) -> bool:
        """udev has processed the device, and not an earlier one of the same name."""
        if not device.is_initialized:
            return False
        since = device.properties.get("USEC_INITIALIZED")
        return since is None or int(since) >= self._started_us

    def wait(self, name: str | None = None, timeout: float = 10.0) -> str:
        """Return the node of block device ``name`` once it is ready.

        It returns at once if the device is already there (and, with udev,
        initialised since :meth:`start`); otherwise it waits for its ``add``
        or ``change`` event.  It is meant for a device created after
        :meth:`start`: one that udev initialised earlier never counts.

        :param name: the kernel name, e.g. ``LVInfo.disk_name``; defaults to
            the name given to :func:`watch_for_disk`
        :param timeout: seconds
        :raises errors.NodeTimeout: the device was not ready in time
        """
        name = name or self.name
        if not name:
            raise ValueError("DiskWatch.wait needs the disk name")
        if self._monitor is None:
            raise RuntimeError("DiskWatch.wait called before start()")
        deadline = time.monotonic() + timeout
        node = self._ready(name)
        while node is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise errors.NodeTimeout(
                    errno.ETIMEDOUT,
                    "watch",
                    f"/dev/{name} was not ready after {timeout:g} s (events from {self.source}); "
                    "check dmesg and that udevd is processing events",
                )
            # Poll in short slices and look again after each one, so that
            # an event lost to a full socket buffer costs a second, not the
            # whole timeout.
            event = self._monitor.poll(min(remaining, _RECHECK_S))
            if event is None or (
                event.sys_name == name and event.action in ("add", "change")
            ):
                node = self._ready(name)
        return node


def watch_for_disk(name: str | None = None) -> DiskWatch:
    """A context manager that starts listening for block device events at once.

    Enter it before the ioctl that creates the device, then call
    :meth:`DiskWatch.wait` after it.

    :param name: the disk to wait for, if known in advance
    """
    return DiskWatch(name)
