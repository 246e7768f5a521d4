"""Guest kernels built from Debian's kernel sources: ``pemove kernel``.

A debug kernel (KASAN, lockdep, kmemleak, UBSAN, debug objects, fault
injection) is built from ``linux-source-6.1`` or ``linux-source-6.12`` with a
small config kept in the checkout (``kernel/configs/``), out of tree, into a
cache directory that ``pemove vm --kernel`` boots directly.

- :mod:`.source`: find the source package's tarball and unpack it once;
- :mod:`.config`: compose the config fragments, check the final ``.config``;
- :mod:`.cache`: name, lock, stamp and list the cached builds;
- :mod:`.build`: configure and run make with a progress line;
- :mod:`.cli`: the ``pemove kernel`` command (``build``, ``list``, ``path``).
"""

from __future__ import annotations
