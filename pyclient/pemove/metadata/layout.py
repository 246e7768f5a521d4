"""The fixed on-disk layout of a pemove PV: label, two metadata slots, the data area.

Every PV that carries metadata starts with :data:`RESERVED_SECTORS` (1 MiB)
that no extent may overlap.  In 512-byte sectors:

====================  ======================================================
sectors 0-7           the label (:class:`Label`, one 4 KiB block)
sectors 8-1023        slot 0: a slot header and the metadata body (JSON)
sectors 1024-2039     slot 1: the same
sectors 2040-2047     unused
sectors 2048-         the data area: extents
====================  ======================================================

All integers are little-endian.  Checksums are CRC-32 (``zlib.crc32``).
docs/metadata.md describes every field; this module packs and unpacks them
and checks nothing beyond the framing (magic, version, checksum, bounds).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass

__all__ = [
    "BLOCK",
    "LABEL_MAGIC",
    "RESERVED_SECTORS",
    "SLOT_BYTES",
    "SLOT_COUNT",
    "SLOT_HEADER_SIZE",
    "SLOT_MAGIC",
    "SLOT_SECTORS",
    "VERSION",
    "FramingError",
    "Label",
    "SlotHeader",
    "pack_label",
    "pack_slot",
    "slot_offset",
    "unpack_label",
    "unpack_slot",
]

#: The unit of every metadata read and write (O_DIRECT, any logical block size up to 4 KiB).
BLOCK = 4096
VERSION = 1
LABEL_MAGIC = b"PEMOVEL1"
SLOT_MAGIC = b"PEMOVEM1"
#: Sectors at the start of every PV that hold the label and the slots.
RESERVED_SECTORS = 2048
SLOT_COUNT = 2
#: Where slot 0 starts, in sectors.
SLOT0_SECTOR = 8
SLOT_SECTORS = 1016
SLOT_BYTES = SLOT_SECTORS * 512

# magic, version, label size, pv uuid, reserved sectors, slot0 sector,
# slot sectors, slot count; then zero padding up to the CRC in the block's
# last 4 bytes.
_LABEL = struct.Struct("<8sII16sQQQI")
# magic, version, flags, seqno, body length, body crc, pv uuid, then the
# header crc over everything before it.
_SLOT = struct.Struct("<8sIIQII16s")
SLOT_HEADER_SIZE = _SLOT.size + 4


class FramingError(ValueError):
    """A label or slot whose magic, version, checksum or bounds are wrong."""


@dataclass(frozen=True)
class Label:
    """What block 0 of a PV says: who it is and where its slots are."""

    pv_uuid: uuid.UUID
    reserved_sectors: int = RESERVED_SECTORS
    slot0_sector: int = SLOT0_SECTOR
    slot_sectors: int = SLOT_SECTORS
    slot_count: int = SLOT_COUNT


@dataclass(frozen=True)
class SlotHeader:
    """The header of one metadata slot."""

    seqno: int
    body_len: int
    body_crc: int
    pv_uuid: uuid.UUID


def _crc(data: bytes | memoryview) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def slot_offset(index: int) -> int:
    """The byte offset of slot ``index`` on the PV."""
    if not 0 <= index < SLOT_COUNT:
        raise ValueError(f"slot {index} does not exist")
    return (SLOT0_SECTOR + index * SLOT_SECTORS) * 512


def pack_label(label: Label) -> bytes:
    """The 4 KiB label block."""
    head = _LABEL.pack(
        LABEL_MAGIC,
        VERSION,
        _LABEL.size,
        label.pv_uuid.bytes,
        label.reserved_sectors,
        label.slot0_sector,
        label.slot_sectors,
        label.slot_count,
    )
    block = head + bytes(BLOCK - 4 - len(head))
    return block + struct.pack("<I", _crc(block))


def is_label(block: bytes) -> bool:
    """Block 0 carries the label magic (whether or not the rest is sound)."""
    return block[:8] == LABEL_MAGIC


def unpack_label(block: bytes) -> Label:
    """Parse a label block; the geometry must be exactly this version's.

    :raises FramingError: not a label, or a damaged one
    """
    if len(block) < BLOCK:
        raise FramingError(f"the label is truncated ({len(block)} of {BLOCK} bytes)")
    magic, version, size, raw_uuid, reserved, slot0, slot_sectors, count = (
        _LABEL.unpack_from(block)
    )
    if magic != LABEL_MAGIC:
        raise FramingError("no pemove label (bad magic)")
    (crc,) = struct.unpack_from("<I", block, BLOCK - 4)
    if crc != _crc(block[: BLOCK - 4]):
        raise FramingError("the label's checksum does not match")
    if version != VERSION or size != _LABEL.size:
        raise FramingError(f"label version {version} (size {size}) is not {VERSION}")
    label = Label(uuid.UUID(bytes=raw_uuid), reserved, slot0, slot_sectors, count)
    if label != Label(label.pv_uuid):
        raise FramingError(
            f"the label's geometry ({reserved} reserved, slots of {slot_sectors} sectors "
            f"from {slot0}, {count} slots) is not version {VERSION}'s"
        )
    return label


def pack_slot(seqno: int, pv_uuid: uuid.UUID, body: bytes) -> bytes:
    """A slot image: header and body, zero-padded to whole 4 KiB blocks.

    :raises ValueError: the body does not fit in a slot
    """
    if len(body) > SLOT_BYTES - SLOT_HEADER_SIZE:
        raise ValueError(
            f"the metadata ({len(body)} bytes) does not fit in a slot of {SLOT_BYTES} bytes"
        )
    head = _SLOT.pack(
        SLOT_MAGIC, VERSION, 0, seqno, len(body), _crc(body), pv_uuid.bytes
    )
    image = head + struct.pack("<I", _crc(head)) + body
    return image + bytes(-len(image) % BLOCK)


def unpack_slot(image: bytes) -> tuple[SlotHeader, bytes]:
    """Parse a slot image into its header and body.

    :raises FramingError: bad magic, version, checksum, or a body past the slot
    """
    if len(image) < SLOT_HEADER_SIZE:
        raise FramingError("the slot is truncated before its header ends")
    magic, version, flags, seqno, body_len, body_crc, raw_uuid = _SLOT.unpack_from(
        image
    )
    if magic != SLOT_MAGIC:
        raise FramingError("no metadata in the slot (bad magic)")
    (head_crc,) = struct.unpack_from("<I", image, _SLOT.size)
    if head_crc != _crc(image[: _SLOT.size]):
        raise FramingError("the slot header's checksum does not match")
    if version != VERSION or flags != 0:
        raise FramingError(
            f"slot version {version} flags {flags:#x} are not {VERSION}, 0"
        )
    end = SLOT_HEADER_SIZE + body_len
    if end > min(len(image), SLOT_BYTES):
        raise FramingError(
            f"the slot's body ({body_len} bytes) runs past the slot or the data read"
        )
    body = image[SLOT_HEADER_SIZE:end]
    if _crc(body) != body_crc:
        raise FramingError("the slot body's checksum does not match (a torn write?)")
    return SlotHeader(seqno, body_len, body_crc, uuid.UUID(bytes=raw_uuid)), bytes(body)
