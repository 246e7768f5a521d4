"""The 4 KiB block that the block writers write and the verifier reads back.

Layout (little endian), at the start of every block::

    offset size field
         0    8 magic       b"PEMOVEB1"
         8    8 lba         block number on the LV, in BLOCK_SIZE units
        16    4 writer      id of the writer that owns the block
        20    4 reserved    zero
        24    8 generation  1 for the first write of the LBA, then +1
        32    4 checksum    zlib.crc32 of the whole block, this field zeroed
        36    4 reserved    zero

The remaining bytes are a pattern derived from ``(lba, generation)`` only, so
a block from another LBA or generation cannot pass as this one even if its
header were rewritten.
"""

from __future__ import annotations

import enum
import hashlib
import mmap
import struct
import zlib
from dataclasses import dataclass

__all__ = [
    "BLOCK_SIZE",
    "HEADER",
    "MAGIC",
    "Block",
    "Check",
    "check",
    "pack",
    "pack_into",
    "payload",
    "unpack",
]

BLOCK_SIZE = 4096
MAGIC = b"PEMOVEB1"
HEADER = struct.Struct("<8sQIIQII")
_CSUM_OFFSET = 32
_CSUM = struct.Struct("<I")
_ZERO_CSUM = bytes(_CSUM.size)
_PAYLOAD_LEN = BLOCK_SIZE - HEADER.size
_ZERO_BLOCK = bytes(BLOCK_SIZE)


def payload(lba: int, generation: int) -> bytes:
    """The deterministic filler after the header for ``(lba, generation)``."""
    seed = hashlib.sha256(struct.pack("<QQ", lba, generation)).digest()
    reps = -(-_PAYLOAD_LEN // len(seed))
    return (seed * reps)[:_PAYLOAD_LEN]


def _crc(block: bytes | bytearray | memoryview) -> int:
    view = memoryview(block)
    crc = zlib.crc32(view[:_CSUM_OFFSET])
    crc = zlib.crc32(_ZERO_CSUM, crc)
    return zlib.crc32(view[_CSUM_OFFSET + _CSUM.size :], crc)


def pack_into(
    buf: bytearray | memoryview | mmap.mmap, lba: int, writer: int, generation: int
) -> None:
    """Fill ``buf`` (exactly :data:`BLOCK_SIZE` bytes, e.g. an mmap) with a block."""
    view = memoryview(buf)
    if len(view) != BLOCK_SIZE:
        raise ValueError(f"a block is {BLOCK_SIZE} bytes, not {len(view)}")
    HEADER.pack_into(view, 0, MAGIC, lba, writer, 0, generation, 0, 0)
    view[HEADER.size :] = payload(lba, generation)
    _CSUM.pack_into(view, _CSUM_OFFSET, _crc(view))


def pack(lba: int, writer: int, generation: int) -> bytes:
    """Return a block for ``lba`` written by ``writer`` at ``generation``."""
    buf = bytearray(BLOCK_SIZE)
    pack_into(buf, lba, writer, generation)
    return bytes(buf)


@dataclass(frozen=True)
class Block:
    """The header fields of a block read back."""

    magic: bytes
    lba: int
    writer: int
    generation: int
    checksum: int


def unpack(block: bytes | bytearray | memoryview) -> Block:
    """Decode the header of ``block`` without checking anything."""
    magic, lba, writer, _res, gen, csum, _res2 = HEADER.unpack_from(block, 0)
    return Block(magic, lba, writer, gen, csum)


class Check(enum.Enum):
    """What :func:`check` found in a block."""

    VALID = "valid"  # a well-formed block; compare lba/writer/generation next
    ZERO = "zero"  # all zero: never written (or written with zeros)
    BAD_MAGIC = "bad magic"
    BAD_CHECKSUM = "bad checksum"
    BAD_PAYLOAD = "bad payload"  # header fine, filler not the one for (lba, gen)


def check(block: bytes | bytearray | memoryview) -> tuple[Check, Block]:
    """Validate ``block``: magic, checksum and filler.

    :returns: the verdict and the decoded header (meaningful only if VALID)
    """
    view = memoryview(block)
    if len(view) != BLOCK_SIZE:
        raise ValueError(f"a block is {BLOCK_SIZE} bytes, not {len(view)}")
    hdr = unpack(view)
    if hdr.magic != MAGIC:
        if view == _ZERO_BLOCK:
            return Check.ZERO, hdr
        return Check.BAD_MAGIC, hdr
    if _crc(view) != hdr.checksum:
        return Check.BAD_CHECKSUM, hdr
    if view[HEADER.size :] != payload(hdr.lba, hdr.generation):
        return Check.BAD_PAYLOAD, hdr
    return Check.VALID, hdr
