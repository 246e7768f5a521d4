"""Workloads that remember what was acknowledged, and the verifier that checks it.

- :mod:`.blockfmt`: the self-describing 4 KiB block every block writer writes;
- :mod:`.ledger`: what was issued and acknowledged, and when; the moves made;
- :mod:`.writers`: O_DIRECT, buffered+fsync and ext4 file writers;
- :mod:`.verify`: reads the blocks back and classifies them;
- :mod:`.blockdev`: fill, zero, drop a device's page cache, load modules;
- :mod:`.dm`: device-mapper tables placed under a PV (delay, flakey, error);
- :mod:`.seeds`: the seed of every random choice;
- :mod:`.scenarios`: the four data-loss scenarios, runnable in a guest.

The guest tests' own helpers (fault injection, figures) are not here: they
are tests/guest/kit.
"""
