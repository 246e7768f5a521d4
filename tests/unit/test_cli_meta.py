"""``pemove deactivate``'s metadata check: the LV's own PVs first, then every device."""

from __future__ import annotations

import errno
from types import SimpleNamespace
from typing import Any

import pytest
from pemove.cli import meta
from pemove.control import Extent
from pemove.metadata.errors import MetadataError


class _Ctl:
    def lv_status(self, name: str) -> Any:
        les = [SimpleNamespace(pe=Extent(8, 16, s)) for s in (2048, 4096)]
        les.append(SimpleNamespace(pe=Extent(8, 32, 2048)))
        return SimpleNamespace(les=les)


@pytest.fixture
def finds(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    monkeypatch.setattr(meta.discovery, "device_node", lambda ma, mi: f"/dev/{ma}:{mi}")
    calls: list[Any] = []
    return calls


def _find(calls: list[Any], answers: dict[Any, Any]) -> Any:
    def find(name: str, devices: Any = None) -> Any:
        key = tuple(devices) if devices is not None else None
        calls.append(key)
        got = answers[key]
        if isinstance(got, Exception):
            raise got
        return got

    return find


def test_own_pvs_decide_when_another_lv_of_the_name_is_elsewhere(finds, monkeypatch):
    own = ("/dev/8:16", "/dev/8:32")
    two = MetadataError(errno.EUCLEAN, "load", "two different LVs are named bad")
    monkeypatch.setattr(meta.Store, "find", _find(finds, {own: object(), None: two}))
    assert meta._recorded(_Ctl(), "bad") is True
    assert finds == [own]


def test_every_device_is_read_when_the_own_pvs_miss_one(finds, monkeypatch):
    own = ("/dev/8:16", "/dev/8:32")
    missing = MetadataError(errno.EUCLEAN, "load", "PV x is missing")
    monkeypatch.setattr(
        meta.Store, "find", _find(finds, {own: missing, None: object()})
    )
    assert meta._recorded(_Ctl(), "lv0") is True
    assert finds == [own, None]


def test_no_metadata_anywhere_is_not_recorded(finds, monkeypatch):
    own = ("/dev/8:16", "/dev/8:32")
    monkeypatch.setattr(meta.Store, "find", _find(finds, {own: None}))
    assert meta._recorded(_Ctl(), "raw") is False
