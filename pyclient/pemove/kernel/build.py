"""Configure and build one guest kernel into the cache, or reuse it.

Steps, under the entry's lock (:func:`pemove.kernel.cache.locked`):

1. locate (and unpack once) the source;
2. compose the fragments; the cache key hashes the source version, the
   composed config and the compiler, so any change gives a new directory;
3. if that directory has a completion stamp, reuse it: nothing is rebuilt;
4. otherwise ``make O=<dir> allnoconfig`` with the composed fragment, then
   ``make olddefconfig``, then check every request (fail with the list);
5. ``make -jN`` (vmlinux, bzImage, modules: the tree is complete for
   external module builds), printing a progress line every few seconds and
   keeping the whole output in ``build.log``;
6. prepare the modules the way virtme-ng expects them in a build tree
   (``virtme-prep-kdir-mods``: ``.virtme_mods/`` with depmod run), so that
   ``modprobe`` works in the guest and no VM boot has to write the tree;
7. write the stamp, last.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from pemove.kernel import cache, config, source

__all__ = [
    "BuildError",
    "Progress",
    "Request",
    "build",
    "compiler_version",
    "compose_for",
    "plan",
]

#: Lines of kbuild's short output that mean one object compiled or assembled.
_OBJECT = re.compile(r"^\s{2}(?:CC|AS)(?: \[M\])?\s+\S+\.o$")
BZIMAGE = Path("arch/x86/boot/bzImage")
PREP_MODS = "virtme-prep-kdir-mods"


class BuildError(Exception):
    """Configuring or building failed; the message names the log to read."""


@dataclasses.dataclass(frozen=True)
class Request:
    """What ``pemove kernel build`` was asked for."""

    series: str | None = "6.12"
    debug: bool = True
    source: Path | None = None
    jobs: int | None = None
    root: Path | None = None
    configs: Path | None = None
    rebuild: bool = False

    @property
    def flavour(self) -> str:
        return "debug" if self.debug else "base"


@dataclasses.dataclass(frozen=True)
class Plan:
    """Where a request's build goes, and what it is made of."""

    src: source.Source
    composed: config.Composed
    key: str
    path: Path
    flavour: str
    compiler: str

    @property
    def release_suffix(self) -> str:
        return f"-pemove-{self.flavour}-{self.key[:8]}"


def compiler_version() -> str:
    """First line of ``gcc --version`` (part of the cache key)."""
    try:
        res = subprocess.run(
            ["gcc", "--version"], capture_output=True, text=True, check=False
        )
    except OSError:
        raise BuildError(
            "gcc is not installed; run 'apt-get install build-essential flex bison bc "
            "libelf-dev libssl-dev'"
        ) from None
    return res.stdout.splitlines()[0].strip() if res.stdout else "unknown"


def compose_for(
    series: str, debug: bool, configs: Path | None = None
) -> config.Composed:
    """The composed fragments of a *series* build (debug or base)."""
    directory = configs or config.config_dir()
    return config.compose(config.fragment_files(directory, series, debug))


def plan(req: Request, say: Callable[[str], None] = lambda _: None) -> Plan:
    """Locate the source and compute the cache entry of *req*.

    Unpacks the source the first time; builds nothing.
    """
    root = req.root or cache.cache_root()
    src = source.locate(req.series, req.source, root, say=say)
    composed = compose_for(src.series, req.debug, req.configs)
    compiler = compiler_version()
    key = hashlib.sha256(
        json.dumps(
            {
                "schema": cache.SCHEMA,
                "source": src.version,
                "kernel": src.kernel_version,
                "tree": str(src.tree) if req.source is not None else "",
                "config": composed.digest(),
                "compiler": compiler,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    name = cache.entry_name(req.flavour, src.kernel_version, key)
    return Plan(src, composed, key, root / name, req.flavour, compiler)


class Progress:
    """Counts compiled objects in make's output; reports every *interval* s.

    :param expected: objects a previous build of the same kind compiled
        (for a percentage), or 0
    """

    def __init__(
        self,
        say: Callable[[str], None],
        interval: float = 10.0,
        expected: int = 0,
        clock: Callable[[], float] = time.monotonic,
        tree: Path | None = None,
    ) -> None:
        self.say = say
        self.prefix = f"{tree}/" if tree is not None else None
        self.interval = interval
        self.expected = expected
        self.clock = clock
        self.started = clock()
        self.last = self.started
        self.objects = 0
        self.current = ""

    def feed(self, line: str) -> None:
        """Account one line of make's output."""
        if _OBJECT.match(line):
            self.objects += 1
            self.current = line.split()[-1]
            if self.prefix and self.current.startswith(self.prefix):
                self.current = self.current[len(self.prefix) :]
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self.say(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = (self.clock() if now is None else now) - self.started
        done = f"{self.objects} objects"
        if self.expected:
            pct = min(99, 100 * self.objects // self.expected)
            done = f"{self.objects}/~{self.expected} objects ({pct}%)"
        return f"  {_minsec(elapsed)}  {done}  {self.current}"


def _minsec(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}m{s % 60:02d}s"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # The release name comes from CONFIG_LOCALVERSION alone.
    for var in (
        "LOCALVERSION",
        "KBUILD_OUTPUT",
        "ARCH",
        "CROSS_COMPILE",
        "KCONFIG_CONFIG",
    ):
        env.pop(var, None)
    env["LC_ALL"] = "C"
    return env


def _run_logged(
    argv: Sequence[str],
    log: IO[str],
    progress: Progress | None,
    cwd: Path | None = None,
) -> int:
    """Run *argv*, appending its output to *log* (and feeding *progress*)."""
    log.write(f"\n$ {' '.join(argv)}\n")
    log.flush()
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if progress is not None:
                progress.feed(line.rstrip("\n"))
        code = proc.wait()
    log.flush()
    return code


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errors = [ln for ln in text if re.search(r"\berror\b|\*\*\*", ln)]
    return "\n".join((errors or text)[-lines:])


def _prep_mods_script() -> str | None:
    local = Path(sys.executable).parent / PREP_MODS
    return str(local) if local.exists() else shutil.which(PREP_MODS)


def _configure(p: Plan, log: IO[str], log_path: Path) -> None:
    fragment = p.path / "pemove.config"
    composed = p.composed.with_setting(
        "CONFIG_LOCALVERSION", f'"{p.release_suffix}"', "pemove (cache key)"
    )
    fragment.write_text(composed.text())
    make = ["make", "-C", str(p.src.tree), f"O={p.path}"]
    for target in ("allnoconfig", "olddefconfig"):
        extra = [f"KCONFIG_ALLCONFIG={fragment}"] if target == "allnoconfig" else []
        code = _run_logged([*make, *extra, target], log, None)
        if code != 0:
            raise BuildError(
                f"'make {target}' failed (exit {code}); see {log_path}\n{_tail(log_path)}"
            )
    dotconfig = p.path / ".config"
    bad = config.verify(composed, config.parse_dotconfig(dotconfig.read_text()))
    if bad:
        raise BuildError(
            config.format_mismatches(config.explain(bad, p.src.tree), dotconfig)
        )


def _expected_objects(root: Path, flavour: str, series: str) -> int:
    previous = cache.matching(cache.entries(root), flavour, series)
    return previous[0].objects if previous else 0


def build(
    req: Request, say: Callable[[str], None] = print, interval: float = 10.0
) -> tuple[cache.Entry, bool]:
    """Build *req* into the cache unless it is there already.

    :returns: the complete entry, and whether it was reused from the cache
    :raises BuildError, source.SourceError, config.ConfigError: with the
        reason and, for make failures, the log to read
    """
    started = time.monotonic()
    phases: dict[str, float] = {}
    p = plan(req, say)
    phases["unpack"] = round(time.monotonic() - started, 1)
    root = p.path.parent
    with cache.locked(p.path):
        entry = cache.read_stamp(p.path)
        if entry is not None and not req.rebuild:
            return entry, True
        cache.remove_stamp(p.path)
        p.path.mkdir(parents=True, exist_ok=True)
        log_path = p.path / cache.LOG
        jobs = req.jobs or os.cpu_count() or 1
        say(
            f"pemove kernel: building {p.flavour} {p.src.kernel_version} "
            f"({p.src.version}) with {jobs} jobs into {p.path}"
        )
        say(f"pemove kernel: full log in {log_path}")
        with open(log_path, "w") as log:
            step = time.monotonic()
            _configure(p, log, log_path)
            phases["configure"] = round(time.monotonic() - step, 1)
            say(f"pemove kernel: configured and checked in {phases['configure']:.0f} s")
            progress = Progress(
                say,
                interval,
                _expected_objects(root, p.flavour, p.src.series),
                tree=p.path,
            )
            argv = ["make", "-C", str(p.src.tree), f"O={p.path}", f"-j{jobs}", "all"]
            step = time.monotonic()
            code = _run_logged(argv, log, progress)
            phases["make"] = round(time.monotonic() - step, 1)
            if code != 0:
                raise BuildError(
                    f"the kernel build failed (make exit {code}) after "
                    f"{_minsec(time.monotonic() - started)}; see {log_path}\n"
                    f"{_tail(log_path)}"
                )
            say(progress.line())
            step = time.monotonic()
            _prepare_modules(p, log, log_path, say)
            phases["modules"] = round(time.monotonic() - step, 1)
        release = (p.path / "include/config/kernel.release").read_text().strip()
        entry = cache.Entry(
            path=p.path,
            flavour=p.flavour,
            series=p.src.series,
            kernel_version=p.src.kernel_version,
            source_version=p.src.version,
            config_digest=p.composed.digest(),
            key=p.key,
            release=release,
            built_at=time.time(),
            build_seconds=round(time.monotonic() - started, 1),
            objects=progress.objects,
            compiler=p.compiler,
            bzimage_bytes=(p.path / BZIMAGE).stat().st_size,
            phases=phases,
        )
        cache.write_stamp(entry)
        return entry, False


def _prepare_modules(
    p: Plan, log: IO[str], log_path: Path, say: Callable[[str], None]
) -> None:
    """``.virtme_mods/``: the tree's modules as virtme-ng loads them in a guest."""
    if not (p.path / "modules.order").exists():
        return
    script = _prep_mods_script()
    if script is None:
        say(
            f"pemove kernel: {PREP_MODS} (virtme-ng) not found; vng will prepare "
            "the modules at the first boot"
        )
        return
    code = _run_logged([script], log, None, cwd=p.path)
    if code != 0:
        raise BuildError(
            f"{PREP_MODS} failed (exit {code}) in {p.path}; see {log_path}\n"
            f"{_tail(log_path)}"
        )
