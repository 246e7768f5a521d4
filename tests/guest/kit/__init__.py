"""The guest tier's test kit: what several guest tests need, in one place each.

- :mod:`kit.faults`: O_DIRECT load with a ledger, dm PVs whose tables can be
  swapped, a scsi_debug disk with error injection, a move in a thread;
- :mod:`kit.figures`: the session's fault, move and fuzz figures;
- :mod:`kit.module`: the pemove module, reloadable with parameters;
- :mod:`kit.cleanup`: removing what a test left behind, without forking a
  tool unless something is there.
- :mod:`kit.rig`: a move test's usual set-up (an LV on disk 0, a plain or
  dm-delay destination on disk 1, a seeded Load), behind the ``rig`` fixture.

The fixtures built on them (``module``, ``ctl``, ``disks``, ``figures``,
``make_lv``, ``make_dm``, ``rig``) and the markers (``disks(n)``,
``kmsg_allow``) are in tests/guest/conftest.py.  Waiting is :func:`pemove.wait.wait_until`; an
LV's node is ready when :func:`pemove.lvs.create` returns.
"""
