"""On-disk metadata: each PV carries a label and the maps of the LVs that use it.

The kernel module parses none of it; this package owns it:

- :mod:`.layout`: the label and the two slots (magic, version, CRC-32,
  sequence number), and the 1 MiB reserved at the start of every PV;
- :mod:`.model`: LV records (PVs by UUID, the map, pending moves);
- :mod:`.parser`: the JSON body of a slot, parsed strictly;
- :mod:`.device`: O_DIRECT reads, FUA writes of one PV's label and slots;
- :mod:`.assemble`: scan devices, pick each LV's newest record, check it;
- :mod:`.store`: change one LV's record on all its PVs in a crash-safe order.

docs/metadata.md describes the format and the move protocol.
"""

from __future__ import annotations

from pemove.metadata.layout import RESERVED_SECTORS

__all__ = ["RESERVED_SECTORS"]
