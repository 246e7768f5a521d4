"""An LV's life beyond single ioctls: ready to use after creation, removed once released.

- :func:`create`: LV_CREATE, then wait until the LV's block device is ready:
  with udevd running, until udev has finished with it (its rules open the
  device to probe it, so using or removing it earlier races that probe);
  without udevd, until devtmpfs shows the node.  See
  :class:`pemove.discovery.DiskWatch`.
- :func:`remove_when_released`: LV_REMOVE, retried while the LV is busy.
- :func:`remove_all`: every LV, for cleaning up after a test or a crash.
- :func:`temporary`: a context manager around :func:`create` and the removal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence

from pemove import discovery, errors
from pemove.control import Control, Extent, LVInfo
from pemove.wait import wait_until

__all__ = ["create", "remove_all", "remove_when_released", "temporary"]

#: Seconds :func:`create` waits for the node by default.
NODE_TIMEOUT = 60.0


def create(
    ctl: Control,
    name: str,
    extent_sectors: int,
    extents: Sequence[Extent],
    *,
    notrack: bool = False,
    timeout: float | None = NODE_TIMEOUT,
    pv_reserved_sectors: int = 0,
) -> tuple[LVInfo, str]:
    """Create an LV and return it with its device node, once that is ready.

    The device watch starts before LV_CREATE, so the event cannot be missed.

    :param pv_reserved_sectors: the metadata area at the start of every PV,
        which the module then refuses as an extent or a move destination
        (0: none, the default; raw PVs)

    :param timeout: seconds to wait for the node; None: do not wait, and
        return the conventional ``/dev/<disk_name>``
    :raises errors.NodeTimeout: the node was not ready in time; the LV exists
    :raises errors.UdevUnavailable: neither udevd nor devtmpfs makes nodes
    :raises PemoveError: as :meth:`Control.lv_create`
    """

    def lv_create() -> LVInfo:
        return ctl.lv_create(
            name,
            extent_sectors,
            list(extents),
            notrack=notrack,
            pv_reserved_sectors=pv_reserved_sectors,
        )

    if timeout is None:
        info = lv_create()
        return info, info.node
    with discovery.watch_for_disk() as watch:
        info = lv_create()
        return info, watch.wait(info.disk_name, timeout=timeout)


def remove_when_released(ctl: Control, name: str, timeout: float = 10.0) -> None:
    """LV_REMOVE, retried while the LV is busy, for at most ``timeout`` seconds.

    Removing an open LV, or one with a move or lock in progress, is EBUSY by
    contract; whoever holds it (udev's probe, a writer closing, a move
    finishing) usually lets go within moments.

    :raises errors.LVBusy: still busy after ``timeout`` seconds
    :raises PemoveError: as :meth:`Control.lv_remove`
    """
    busy: list[errors.LVBusy] = []

    def removed() -> bool:
        try:
            ctl.lv_remove(name)
        except errors.LVBusy as exc:
            busy[:] = [exc]
            return False
        return True

    try:
        wait_until(removed, timeout, f"LV {name} to be released", interval=0.1)
    except TimeoutError:
        raise busy[-1] from None


def remove_all(
    ctl: Control, timeout: float = 10.0, keep: Collection[str] = ()
) -> list[str]:
    """Remove every LV but those named in *keep*, each retried while busy.

    :returns: one line per LV that stayed
    """
    problems = []
    for info in ctl.lv_list():
        if info.name in keep:
            continue
        try:
            remove_when_released(ctl, info.name, timeout)
        except errors.LVNotFound:
            continue  # removed meanwhile
        except errors.PemoveError as exc:
            problems.append(f"LV {info.name}: {exc}")
    return problems


@contextlib.contextmanager
def temporary(
    ctl: Control,
    name: str,
    extent_sectors: int,
    extents: Sequence[Extent],
    *,
    notrack: bool = False,
    timeout: float = NODE_TIMEOUT,
    remove_timeout: float = 20.0,
) -> Iterator[tuple[LVInfo, str]]:
    """An LV for the duration of a ``with`` block: yields ``(info, node)``.

    An LV of the same name left by an interrupted run is removed first; the
    LV is removed afterwards, also when its node never became ready.
    """
    with contextlib.suppress(errors.PemoveError):
        ctl.lv_remove(name)
    try:
        info, node = create(
            ctl, name, extent_sectors, extents, notrack=notrack, timeout=timeout
        )
    except (errors.NodeTimeout, KeyboardInterrupt):
        with contextlib.suppress(errors.PemoveError):
            remove_when_released(ctl, name, remove_timeout)
        raise
    try:
        yield info, node
    finally:
        remove_when_released(ctl, name, remove_timeout)
