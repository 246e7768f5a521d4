"""The pemove module of the VM, reloadable with parameters, by syscall (no insmod process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pemove.vm import guest

from kit.cleanup import remove_leftovers

__all__ = ["Module"]

# After its last LV goes, the module's last reference can take a moment to drop.
_UNLOAD_WAIT_S = 10.0


class Module:
    """The pemove module of this VM.

    :ivar ko: path of the .ko built for the running kernel
    :ivar name: the module's name, as /sys/module shows it
    :ivar params: the parameters it was last loaded with
    """

    def __init__(self, ko: Path) -> None:
        self.ko = ko
        self.name = guest.module_name(ko)
        self.params: dict[str, Any] = {}

    @property
    def loaded(self) -> bool:
        return Path("/sys/module", self.name).exists()

    def parameter(self, key: str) -> str:
        """Current value of a module parameter, as sysfs shows it."""
        return Path("/sys/module", self.name, "parameters", key).read_text().strip()

    def unload(self) -> None:
        """Unload it, waiting briefly for a reference that is being dropped.

        :raises OSError: it stayed in use (EWOULDBLOCK) or another errno
        """
        guest.unload_when_released(self.name, _UNLOAD_WAIT_S)

    def reload(self, **params: Any) -> None:
        """Unload and load again with *params* (e.g. ``locked_copy=0``).

        Close every :class:`Control` first: an open control node pins it.
        """
        problems = remove_leftovers()
        if problems:
            raise RuntimeError("cannot unload the module: " + "; ".join(problems))
        if self.loaded:
            self.unload()
        args = [
            f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in params.items()
        ]
        try:
            guest.insert_module(self.ko, args)
        except OSError as exc:
            raise RuntimeError(
                f"loading {self.ko} {' '.join(args)} failed: {exc.strerror}"
            ) from None
        self.params = dict(params)
