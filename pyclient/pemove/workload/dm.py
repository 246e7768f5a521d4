"""Device-mapper tables to put under a PV: linear, delay, flakey, error.

Every device made here is named ``pemove-t<something>`` so that the guest
test fixtures can find and remove leftovers.  Commands are argv lists run
with :func:`subprocess.run`; ``--noudevsync`` because the test guests often
run without udev, and the kernel's devtmpfs provides ``/dev/dm-N`` anyway.
What exists is read from sysfs (:func:`lookup`, :func:`names`), so looking
costs no ``dmsetup`` process.

Tables (lengths and offsets in 512-byte sectors):

- linear:  ``0 LEN linear DEV OFF``
- delay:   ``0 LEN delay DEV OFF READ_MS DEV OFF WRITE_MS`` (reads and writes
  delayed separately; the in-flight scenario delays writes only)
- flakey:  ``0 LEN flakey DEV OFF UP_S DOWN_S [N FEATURES...]``
- error:   ``0 LEN error``
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PREFIX",
    "DmDevice",
    "DmError",
    "create",
    "delay_table",
    "dm_devices",
    "error_table",
    "flakey_table",
    "linear_table",
    "lookup",
    "names",
    "remove",
    "remove_all",
]

PREFIX = "pemove-t"


class DmError(RuntimeError):
    """A dmsetup command failed; the message carries its stderr."""


def _dmsetup(*args: str) -> str:
    argv = ["dmsetup", *args]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise DmError("dmsetup is not installed; install the dmsetup package") from None
    if res.returncode != 0:
        raise DmError(
            f"{' '.join(argv)} failed: {res.stderr.strip() or res.stdout.strip()}"
        )
    return res.stdout


def linear_table(dev: str, length: int, offset: int = 0) -> str:
    """A linear map of ``length`` sectors of ``dev`` from ``offset``."""
    return f"0 {length} linear {dev} {offset}"


def delay_table(
    dev: str, length: int, *, read_ms: int, write_ms: int, offset: int = 0
) -> str:
    """A delay map with separate read and write delays."""
    return f"0 {length} delay {dev} {offset} {read_ms} {dev} {offset} {write_ms}"


def flakey_table(
    dev: str,
    length: int,
    *,
    up_s: int,
    down_s: int,
    features: tuple[str, ...] = (),
    offset: int = 0,
) -> str:
    """A flakey map: ``up_s`` seconds healthy, then ``down_s`` with ``features``
    (e.g. ``("drop_writes",)`` or ``("error_writes",)``; none means all IO fails)."""
    tail = f" {len(features)} {' '.join(features)}" if features else ""
    return f"0 {length} flakey {dev} {offset} {up_s} {down_s}{tail}"


def error_table(length: int) -> str:
    """A map on which every IO fails."""
    return f"0 {length} error"


@dataclass(frozen=True)
class DmDevice:
    """A device-mapper device made by :func:`create`."""

    name: str
    major: int
    minor: int

    @property
    def node(self) -> str:
        """``/dev/dm-N``, which devtmpfs provides with or without udev."""
        return f"/dev/dm-{self.minor}"

    def suspend_noflush(self) -> None:
        """Suspend without flushing: bios in flight stay queued in dm until resume()."""
        _dmsetup("suspend", "--noflush", "--noudevsync", self.name)

    def resume(self) -> None:
        _dmsetup("resume", "--noudevsync", self.name)

    def reload(self, table: str) -> None:
        """Swap in a new table (suspend, load, resume)."""
        _dmsetup("suspend", "--noudevsync", self.name)
        try:
            _dmsetup("load", self.name, "--table", table)
        finally:
            _dmsetup("resume", "--noudevsync", self.name)


def create(name: str, table: str) -> DmDevice:
    """Create ``pemove-t-<name>`` with ``table``.

    :raises DmError: if dmsetup fails (e.g. the target's module is missing:
        ``modprobe dm-delay``)
    """
    full = name if name.startswith(PREFIX) else f"{PREFIX}-{name}"
    _dmsetup("create", "--noudevsync", full, "--table", table)
    return lookup(full)


def _existing(sys_block: Path = Path("/sys/block")) -> list[DmDevice]:
    found = []
    for entry in sorted(sys_block.glob("dm-*")):
        try:
            name = (entry / "dm" / "name").read_text().strip()
            major, minor = (int(x) for x in (entry / "dev").read_text().split(":"))
        except (OSError, ValueError):
            continue  # removed while we looked
        found.append(DmDevice(name, major, minor))
    return found


def lookup(name: str) -> DmDevice:
    """Find an existing device by name through sysfs (no dmsetup process).

    :raises DmError: if there is no such device
    """
    for dev in _existing():
        if dev.name == name:
            return dev
    raise DmError(f"device-mapper device {name} is not in /sys/block; was it created?")


def names(prefix: str = PREFIX) -> list[str]:
    """The devices whose name starts with ``prefix``, from sysfs (no dmsetup process)."""
    return [dev.name for dev in _existing() if dev.name.startswith(prefix)]


def remove(name: str) -> None:
    """Remove one device (``--force`` is not used: an open device stays)."""
    _dmsetup("remove", "--noudevsync", "--retry", name)


def remove_all() -> list[str]:
    """Remove every ``pemove-t*`` device; return one line per device that stayed."""
    problems = []
    for name in names():
        try:
            remove(name)
        except DmError as exc:
            problems.append(f"dm device {name}: {exc}")
    return problems


@contextlib.contextmanager
def dm_devices() -> Iterator[list[DmDevice]]:
    """A list to append devices to; on exit they are removed, newest first."""
    made: list[DmDevice] = []
    try:
        yield made
    finally:
        for dev in reversed(made):
            with contextlib.suppress(DmError):
                remove(dev.name)
