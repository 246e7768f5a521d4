"""Workloads that remember what was acknowledged, and the verifier that checks it.

- :mod:`.blockfmt`: the self-describing 4 KiB block every block writer writes;
- :mod:`.ledger`: what was issued and acknowledged, and when; the moves made;
- :mod:`.writers`: O_DIRECT, buffered+fsync and ext4 file writers;
- :mod:`.verify`: reads the blocks back and classifies them;
- :mod:`.dm`: device-mapper tables placed under a PV (delay, flakey, error);
- :mod:`.scenarios`: the four scenarios of issue 4, runnable in a guest.
"""
