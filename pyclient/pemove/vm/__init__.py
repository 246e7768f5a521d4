"""``pemove vm``: boot a real kernel in QEMU with the module and fresh disks.

The pieces, one job each:

- :mod:`pemove.vm.kernels`: which kernel (``6.1``, ``6.12``, a release, a tree);
- :mod:`pemove.vm.build`: the module built for that kernel;
- :mod:`pemove.vm.accel`: KVM or TCG, probed once and remembered;
- :mod:`pemove.vm.runner`: the virtme-ng command line, disks, timeout, results;
- :mod:`pemove.vm.guest`: what runs inside the VM around the user's command;
- :mod:`pemove.vm.kmsg`: the kernel-log scanner shared with the guest tests;
- :mod:`pemove.vm.cli`: the ``pemove vm`` subcommand.
"""
