"""Where built kernels live, and how a complete one is told from a partial one.

Layout under the cache root (``$PEMOVE_KERNEL_CACHE``, else
``$XDG_CACHE_HOME/pemove/kernels``, else ``~/.cache/pemove/kernels``)::

    <name>/                 the ``make O=`` tree: bzImage, modules, .config
    <name>/pemove-kernel.json   the completion stamp, written last
    <name>/build.log        make's whole output
    <name>.lock             held while <name> is configured or built
    src/<source name>/      unpacked kernel sources (see :mod:`.source`)

A directory without a readable stamp is never used: an interrupted or
failed build leaves none, and a rebuild removes it before it starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "STAMP",
    "Entry",
    "cache_root",
    "entries",
    "entry_name",
    "locked",
    "matching",
    "read_stamp",
    "remove_stamp",
    "write_stamp",
]

STAMP = "pemove-kernel.json"
LOG = "build.log"
#: Bumped when the layout of a build directory changes, so old ones are ignored.
SCHEMA = 1

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def cache_root(env: dict[str, str] | None = None) -> Path:
    """The directory holding every cached kernel build."""
    env = dict(os.environ) if env is None else env
    if env.get("PEMOVE_KERNEL_CACHE"):
        return Path(env["PEMOVE_KERNEL_CACHE"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pemove" / "kernels"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One complete cached build (the contents of its stamp).

    :ivar path: the build tree, bootable with ``pemove vm --kernel PATH``
    :ivar flavour: ``debug`` or ``base``
    :ivar series: ``6.1``, ``6.12``, ...
    :ivar kernel_version: ``make kernelversion`` of the source, e.g. ``6.12.117``
    :ivar source_version: the Debian package version, or what names a
        user-given source
    :ivar config_digest: hash of the composed config fragments alone
    :ivar key: hash of everything the build depends on (source, config,
        compiler); the directory name ends with its first 12 digits
    :ivar release: ``uname -r`` of the kernel
    """

    path: Path
    flavour: str
    series: str
    kernel_version: str
    source_version: str
    config_digest: str
    key: str
    release: str
    built_at: float = 0.0
    build_seconds: float = 0.0
    objects: int = 0
    compiler: str = ""
    bzimage_bytes: int = 0
    #: seconds per step: unpack, configure, make, modules
    phases: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def spec(self) -> str:
        """The ``--kernel`` SPEC that resolves to builds like this one."""
        return f"{self.flavour}-{self.series}"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["path"] = str(self.path)
        data["schema"] = SCHEMA
        return data


def entry_name(flavour: str, kernel_version: str, key: str) -> str:
    """Directory name of a build: ``debug-6.12.117-<12 hex digits of key>``."""
    name = f"{flavour}-{kernel_version}-{key[:12]}"
    if not _NAME.match(name):
        raise ValueError(f"unusable kernel build name {name!r}")
    return name


def read_stamp(path: Path) -> Entry | None:
    """The entry of build directory *path*, or None if it is not complete."""
    try:
        data = json.loads((path / STAMP).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    fields = {f.name for f in dataclasses.fields(Entry)}
    try:
        values = {k: v for k, v in data.items() if k in fields}
        values["path"] = path
        return Entry(**values)
    except TypeError:
        return None


def write_stamp(entry: Entry) -> None:
    """Mark *entry* complete: write its stamp atomically (the last step)."""
    tmp = entry.path / f".{STAMP}.tmp"
    tmp.write_text(json.dumps(entry.to_json(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, entry.path / STAMP)


def remove_stamp(path: Path) -> None:
    """Mark build directory *path* incomplete before touching it."""
    with contextlib.suppress(FileNotFoundError):
        (path / STAMP).unlink()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` exclusively (blocks while another build holds it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def entries(root: Path | None = None) -> list[Entry]:
    """Every complete build in the cache, oldest first."""
    root = cache_root() if root is None else root
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        if child.is_dir() and child.name != "src":
            entry = read_stamp(child)
            if entry is not None:
                found.append(entry)
    return sorted(found, key=lambda e: e.built_at)


def _version_key(version: str) -> tuple[tuple[int, object], ...]:
    parts = re.split(r"[.\-+~]", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def matching(
    found: list[Entry], flavour: str, series: str, config_digest: str | None = None
) -> list[Entry]:
    """The entries of *flavour* and *series* (and *config_digest*), newest first.

    Newest means the highest kernel version, then the latest build.
    """
    hits = [
        e
        for e in found
        if e.flavour == flavour
        and e.series == series
        and (config_digest is None or e.config_digest == config_digest)
    ]
    return sorted(
        hits, key=lambda e: (_version_key(e.kernel_version), e.built_at), reverse=True
    )
