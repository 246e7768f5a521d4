"""LVM2 in a throw-away configuration, for the pvmove comparison.

The guest sees the host's root read-only and may run without udev rules for
LVM, so every command gets its own system directory (``LVM_SYSTEM_DIR``)
with an lvm.conf that: scans only the brd disks (no devices file, no udev
device list), creates device nodes itself instead of waiting for udev, keeps
no metadata backups or archives, polls pvmove itself (no lvmpolld) and keeps
its locks in the same directory.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Sequence

__all__ = ["Lvm", "LvmError"]

_CONF = """\
devices {{
    use_devicesfile = 0
    obtain_device_list_from_udev = 0
    external_device_info_source = "none"
    filter = [ {filters}, "r|.*|" ]
}}
activation {{
    udev_sync = 0
    udev_rules = 0
    verify_udev_operations = 1
    monitoring = 0
}}
global {{
    use_lvmpolld = 0
    locking_dir = "{root}/lock"
}}
backup {{
    backup = 0
    archive = 0
}}
"""


class LvmError(RuntimeError):
    """An LVM2 command failed; the message carries its output."""


class Lvm:
    """Runs LVM2 commands that see only ``disks``.

    :param disks: block device nodes LVM may use
    """

    def __init__(self, disks: Sequence[str]) -> None:
        self.root = tempfile.mkdtemp(prefix="pemove-bench-lvm-")
        os.makedirs(os.path.join(self.root, "lock"), exist_ok=True)
        filters = ", ".join(f'"a|^{d}$|"' for d in disks)
        with open(os.path.join(self.root, "lvm.conf"), "w") as f:
            f.write(_CONF.format(filters=filters, root=self.root))
        self.env = {
            **os.environ,
            "LVM_SYSTEM_DIR": self.root,
            "LVM_SUPPRESS_FD_WARNINGS": "1",
        }

    def run(self, *args: str, timeout: float = 600) -> float:
        """Run ``lvm ARGS``; return its wall-clock time in seconds.

        :raises LvmError: on a non-zero exit
        """
        argv = ["lvm", *args]
        t0 = time.monotonic()
        res = subprocess.run(
            argv,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        took = time.monotonic() - t0
        if res.returncode != 0:
            raise LvmError(
                f"{' '.join(argv)} exited {res.returncode}: "
                f"{(res.stderr or res.stdout).strip()[:600]}"
            )
        return took
