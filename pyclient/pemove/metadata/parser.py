"""The metadata body: JSON text that names the LVs of one PV, parsed strictly.

:func:`encode` writes a body, :func:`parse` reads one and refuses anything
:func:`encode` would not have written: unknown or missing keys, wrong types,
names the kernel would refuse, extents inside the reserved area, misaligned
or overlapping, PV indices out of range, a PV that does not list itself.
Every refusal is a :class:`BodyError` with a message naming the field.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from pemove.metadata.layout import RESERVED_SECTORS
from pemove.metadata.model import MOVE_STATES, PE, LVRecord, PendingMove

__all__ = ["FORMAT", "MAX_EXTENTS", "BodyError", "encode", "parse"]

FORMAT = "pemove-metadata"
BODY_VERSION = 1
NAME_LEN = 32  # PEMOVE_NAME_LEN: names are 1..31 bytes
MAX_EXTENTS = 1 << 20
MAX_EXTENT_SECTORS = 1 << 31
_SECTOR_LIMIT = 1 << 62


class BodyError(ValueError):
    """A metadata body that is not one :func:`encode` could have written."""


def _pe_json(pe: PE) -> list[int]:
    return [pe.pv, pe.sector]


def _lv_json(lv: LVRecord) -> dict[str, Any]:
    return {
        "name": lv.name,
        "uuid": lv.uuid.hex,
        "generation": lv.generation,
        "extent_sectors": lv.extent_sectors,
        "notrack": lv.notrack,
        "pvs": [p.hex for p in lv.pvs],
        "map": [_pe_json(pe) for pe in lv.map],
        "moves": [
            {"le": m.le, "state": m.state, "other": _pe_json(m.other)} for m in lv.moves
        ],
    }


def encode(pv_uuid: uuid.UUID, lvs: Sequence[LVRecord]) -> bytes:
    """The body of the metadata of PV ``pv_uuid``, holding ``lvs``."""
    doc = {
        "format": FORMAT,
        "version": BODY_VERSION,
        "pv": pv_uuid.hex,
        "lvs": [_lv_json(lv) for lv in sorted(lvs, key=lambda lv: lv.name)],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


# -- parsing -------------------------------------------------------------------


def _obj(value: Any, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BodyError(f"{where}: expected an object")
    if set(value) != keys:
        extra = sorted(set(value) - keys)
        missing = sorted(keys - set(value))
        raise BodyError(f"{where}: unknown keys {extra}, missing keys {missing}")
    return value


def _int(value: Any, where: str, low: int = 0, high: int = _SECTOR_LIMIT) -> int:
    if type(value) is not int or not low <= value <= high:
        raise BodyError(f"{where}: expected an integer in {low}..{high}, got {value!r}")
    return value


def _uuid(value: Any, where: str) -> uuid.UUID:
    if not isinstance(value, str) or len(value) != 32:
        raise BodyError(f"{where}: expected 32 hex digits")
    try:
        parsed = uuid.UUID(hex=value)
    except ValueError:
        raise BodyError(f"{where}: expected 32 hex digits") from None
    if parsed.hex != value:
        raise BodyError(f"{where}: expected 32 lower-case hex digits")
    return parsed


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BodyError(f"{where}: expected a string")
    raw = value.encode("utf-8", "surrogatepass")
    if not raw or len(raw) >= NAME_LEN or "\0" in value or not value.isprintable():
        raise BodyError(f"{where}: an LV name is 1-{NAME_LEN - 1} printable bytes")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError(f"{where}: not valid UTF-8") from None
    return value


def _pe(value: Any, n_pvs: int, extent_sectors: int, where: str) -> PE:
    if not isinstance(value, list) or len(value) != 2:
        raise BodyError(f"{where}: expected [pv, sector]")
    pv = _int(value[0], f"{where} pv", 0, n_pvs - 1)
    sector = _int(value[1], f"{where} sector", RESERVED_SECTORS)
    if sector % 8:
        raise BodyError(f"{where}: sector {sector} is not on a 4 KiB boundary")
    if sector + extent_sectors > _SECTOR_LIMIT:
        raise BodyError(f"{where}: the extent ends past any device")
    return PE(pv, sector)


def _no_overlap(pes: list[tuple[PE, str]], extent_sectors: int, lv: str) -> None:
    ordered = sorted(pes)
    for (a, wa), (b, wb) in zip(ordered, ordered[1:]):
        if a.pv == b.pv and b.sector < a.sector + extent_sectors:
            raise BodyError(f"LV {lv}: {wa} and {wb} overlap")


def _lv(value: Any, where: str) -> LVRecord:
    keys = {
        "name",
        "uuid",
        "generation",
        "extent_sectors",
        "notrack",
        "pvs",
        "map",
        "moves",
    }
    doc = _obj(value, keys, where)
    name = _name(doc["name"], f"{where} name")
    where = f"LV {name}"
    es = _int(doc["extent_sectors"], f"{where} extent_sectors", 8, MAX_EXTENT_SECTORS)
    if es % 8:
        raise BodyError(f"{where}: extent_sectors {es} is not a multiple of 8")
    if type(doc["notrack"]) is not bool:
        raise BodyError(f"{where} notrack: expected true or false")
    raw_pvs = doc["pvs"]
    if not isinstance(raw_pvs, list) or not raw_pvs:
        raise BodyError(f"{where} pvs: expected a non-empty list")
    pvs = tuple(_uuid(p, f"{where} pvs[{i}]") for i, p in enumerate(raw_pvs))
    if len(set(pvs)) != len(pvs):
        raise BodyError(f"{where} pvs: a PV is listed twice")
    raw_map = doc["map"]
    if not isinstance(raw_map, list) or not 1 <= len(raw_map) <= MAX_EXTENTS:
        raise BodyError(f"{where} map: expected 1-{MAX_EXTENTS} extents")
    pes = [_pe(v, len(pvs), es, f"{where} LE {i}") for i, v in enumerate(raw_map)]
    raw_moves = doc["moves"]
    if not isinstance(raw_moves, list):
        raise BodyError(f"{where} moves: expected a list")
    moves: list[PendingMove] = []
    for i, m in enumerate(raw_moves):
        mw = f"{where} moves[{i}]"
        md = _obj(m, {"le", "state", "other"}, mw)
        le = _int(md["le"], f"{mw} le", 0, len(pes) - 1)
        if md["state"] not in MOVE_STATES:
            raise BodyError(f"{mw} state: expected one of {', '.join(MOVE_STATES)}")
        if any(p.le == le for p in moves):
            raise BodyError(f"{mw}: LE {le} has two pending moves")
        moves.append(PendingMove(le, md["state"], _pe(md["other"], len(pvs), es, mw)))
    _no_overlap(
        [(pe, f"LE {i}") for i, pe in enumerate(pes)]
        + [(m.other, f"the pending move of LE {m.le}") for m in moves],
        es,
        name,
    )
    used = {pe.pv for pe in pes} | {m.other.pv for m in moves}
    if used != set(range(len(pvs))):
        raise BodyError(f"{where} pvs: lists a PV that no extent uses")
    return LVRecord(
        name=name,
        uuid=_uuid(doc["uuid"], f"{where} uuid"),
        generation=_int(doc["generation"], f"{where} generation", 1),
        extent_sectors=es,
        pvs=pvs,
        map=tuple(pes),
        moves=tuple(moves),
        notrack=doc["notrack"],
    )


def parse(body: bytes, pv_uuid: uuid.UUID) -> tuple[LVRecord, ...]:
    """The LV records of the body of PV ``pv_uuid``'s metadata.

    :raises BodyError: anything :func:`encode` would not have written
    """
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BodyError(f"the body is not JSON text: {exc}") from None
    doc = _obj(doc, {"format", "version", "pv", "lvs"}, "the body")
    if doc["format"] != FORMAT or doc["version"] != BODY_VERSION:
        raise BodyError(f"the body is not {FORMAT} version {BODY_VERSION}")
    if _uuid(doc["pv"], "the body's pv") != pv_uuid:
        raise BodyError("the body names another PV than its label")
    if not isinstance(doc["lvs"], list):
        raise BodyError("lvs: expected a list")
    lvs = tuple(_lv(v, f"lvs[{i}]") for i, v in enumerate(doc["lvs"]))
    names = [lv.name for lv in lvs]
    if len(set(names)) != len(names):
        raise BodyError("two LVs of one PV have the same name")
    for lv in lvs:
        if pv_uuid not in lv.pvs:
            raise BodyError(f"LV {lv.name} is stored on a PV it does not use")
    return lvs
