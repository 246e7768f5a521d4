"""The one exception of the metadata package."""

from __future__ import annotations

import errno

from pemove.errors import PemoveError

__all__ = ["MetadataError"]


class MetadataError(PemoveError):
    """The on-disk metadata is missing, damaged, inconsistent, or names absent PVs.

    ``errno`` is EUCLEAN (damaged or inconsistent), ENODEV (a PV is missing),
    ENOENT (no such LV in any metadata) or EEXIST (a name already taken).
    It takes :class:`~pemove.errors.PemoveError`'s arguments; the metadata
    code passes ``lv`` at most, never ``le``.
    """


EUCLEAN = errno.EUCLEAN
