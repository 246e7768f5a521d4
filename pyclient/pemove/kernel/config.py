"""Compose the guest kernel config from fragments, and check what Kconfig made.

Fragments live in ``kernel/configs/`` of the checkout and use the syntax of
a ``.config`` (``CONFIG_X=y``, ``CONFIG_X=m``, ``CONFIG_X=123``,
``CONFIG_X="text"``, ``# CONFIG_X is not set``), applied in order, later
lines winning:

1. ``base.config``: what every pemove guest kernel needs;
2. ``debug.config``: the checkers (only for a debug build);
3. ``series-<X.Y>.config``, if there is one: per-series changes to the
   base, then ``series-<X.Y>-debug.config`` (debug builds only).  Only in
   these may ``# unavailable: CONFIG_X <reason>`` drop a requirement that
   the series cannot meet (the option does not exist or cannot be chosen).

The composed text is handed to ``make allnoconfig`` (``KCONFIG_ALLCONFIG``)
and then ``make olddefconfig`` runs.  Kconfig silently drops a request whose
dependencies are not met, so :func:`verify` compares every request with the
final ``.config`` and :func:`explain` says why one was dropped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "Composed",
    "ConfigError",
    "Mismatch",
    "compose",
    "config_dir",
    "explain",
    "fragment_files",
    "parse_dotconfig",
    "parse_fragment",
    "verify",
]

_SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")
_UNAVAILABLE = re.compile(r"^#\s*unavailable:\s*(CONFIG_[A-Za-z0-9_]+)\s*(.*)$")
_VALUE = re.compile(r'^(?:[ymn]|-?\d+|0x[0-9a-fA-F]+|"(?:[^"\\]|\\.)*")$')


class ConfigError(Exception):
    """A fragment is malformed, or the final .config lacks requested options."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """One requested option: its value (``n`` for "is not set") and origin."""

    name: str
    value: str
    origin: str  # "path:line"


@dataclasses.dataclass(frozen=True)
class Fragment:
    """A parsed fragment file."""

    path: Path
    settings: tuple[Setting, ...]
    unavailable: tuple[tuple[str, str, str], ...]  # (name, reason, origin)


@dataclasses.dataclass(frozen=True)
class Composed:
    """The requests of several fragments merged in order.

    :ivar settings: option name -> the winning :class:`Setting`
    :ivar unavailable: option name -> reason, for requests dropped on purpose
    :ivar files: the fragments, in the order applied
    """

    settings: dict[str, Setting]
    unavailable: dict[str, str]
    files: tuple[Path, ...]

    def text(self, extra: dict[str, str] | None = None) -> str:
        """The merged fragment for KCONFIG_ALLCONFIG (plus *extra* settings)."""
        lines = [f"# composed by pemove from: {', '.join(p.name for p in self.files)}"]
        values = {n: s.value for n, s in self.settings.items()}
        values.update(extra or {})
        for name, value in values.items():
            lines.append(f"# {name} is not set" if value == "n" else f"{name}={value}")
        return "\n".join(lines) + "\n"

    def digest(self) -> str:
        """Hash of what the fragments request (not of where they came from)."""
        h = hashlib.sha256(self.text().split("\n", 1)[1].encode())
        for name, reason in sorted(self.unavailable.items()):
            h.update(f"unavailable {name} {reason}\n".encode())
        return h.hexdigest()

    def with_setting(self, name: str, value: str, origin: str) -> Composed:
        """A copy with one more request (e.g. the generated LOCALVERSION)."""
        settings = dict(self.settings)
        settings[name] = Setting(name, value, origin)
        return dataclasses.replace(self, settings=settings)


def config_dir() -> Path:
    """``kernel/configs`` of the checkout (``$PEMOVE_SRC`` overrides)."""
    env = os.environ.get("PEMOVE_SRC")
    root = Path(env) if env else Path(__file__).resolve().parents[3]
    path = root / "kernel" / "configs"
    if not (path / "base.config").is_file():
        raise ConfigError(
            f"no kernel config fragments in {path}: pemove kernel needs a source "
            "checkout; install with 'pip install -e .' or set PEMOVE_SRC to it"
        )
    return path


def fragment_files(directory: Path, series: str, debug: bool) -> list[Path]:
    """The fragments of a *series* build, in the order they apply."""
    files = [directory / "base.config"]
    if debug:
        files.append(directory / "debug.config")
    for path in files:
        if not path.is_file():
            raise ConfigError(f"config fragment {path} is missing")
    for name in (f"series-{series}.config", f"series-{series}-debug.config"):
        if name.endswith("-debug.config") and not debug:
            continue
        if (directory / name).is_file():
            files.append(directory / name)
    return files


def parse_fragment(text: str, path: Path, allow_unavailable: bool) -> Fragment:
    """Parse fragment *text* (from *path*, for messages).

    :raises ConfigError: a line is neither a setting, a comment nor blank,
        or an ``unavailable:`` line has no reason or is not allowed here
    """
    settings = []
    unavailable = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        origin = f"{path}:{lineno}"
        m = _UNAVAILABLE.match(line)
        if m:
            if not allow_unavailable:
                raise ConfigError(
                    f"{origin}: 'unavailable:' belongs in a series-X.Y.config"
                )
            if not m.group(2).strip():
                raise ConfigError(
                    f"{origin}: 'unavailable: {m.group(1)}' needs a reason"
                )
            unavailable.append((m.group(1), m.group(2).strip(), origin))
            continue
        m = _UNSET.match(line)
        if m:
            settings.append(Setting(m.group(1), "n", origin))
            continue
        if not line or line.startswith("#"):
            continue
        m = _SET.match(line)
        if not m or not _VALUE.match(m.group(2)):
            raise ConfigError(
                f"{origin}: not a config line: {raw!r} (want CONFIG_X=y|m|n|<number>|"
                '"<text>" or # CONFIG_X is not set)'
            )
        settings.append(Setting(m.group(1), m.group(2), origin))
    return Fragment(path, tuple(settings), tuple(unavailable))


def compose(files: Sequence[Path]) -> Composed:
    """Merge the fragments *files* in order (later settings win).

    :raises ConfigError: a fragment is malformed
    """
    settings: dict[str, Setting] = {}
    unavailable: dict[str, str] = {}
    for path in files:
        frag = parse_fragment(
            path.read_text(), path, allow_unavailable=path.name.startswith("series-")
        )
        for s in frag.settings:
            settings.pop(s.name, None)  # keep the order of the last request
            settings[s.name] = s
        for name, reason, _origin in frag.unavailable:
            # A base build requests none of the debug options a series
            # file may mark: only a request that is there is dropped.
            if settings.pop(name, None) is not None:
                unavailable[name] = reason
    return Composed(settings, unavailable, tuple(files))


def parse_dotconfig(text: str) -> dict[str, str]:
    """The options set in a ``.config``: name -> value (unset ones absent)."""
    values = {}
    for line in text.splitlines():
        m = _SET.match(line.strip())
        if m:
            values[m.group(1)] = m.group(2)
    return values


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """A request that the final .config does not honour."""

    name: str
    wanted: str
    got: str  # "n" when not set
    origin: str
    why: str = ""

    def __str__(self) -> str:
        got = "not set" if self.got == "n" else f"={self.got}"
        want = "not set" if self.wanted == "n" else f"={self.wanted}"
        text = f"{self.name}: wanted {want}, got {got} (requested at {self.origin})"
        return f"{text}\n    {self.why}" if self.why else text


def verify(composed: Composed, final: dict[str, str]) -> list[Mismatch]:
    """Every request of *composed* that the final config *final* does not meet."""
    bad = []
    for name, setting in composed.settings.items():
        got = final.get(name, "n")
        if got != setting.value:
            bad.append(Mismatch(name, setting.value, got, setting.origin))
    return bad


# --- why Kconfig dropped an option --------------------------------------------

_CONFIG_DEF = re.compile(r"^\s*(?:menu)?config\s+([A-Za-z0-9_]+)\s*$")
# What ends the attributes of a config entry (its help text included).
_BLOCK_END = re.compile(
    r"^\s*(?:(?:menu)?config|menu|endmenu|choice|endchoice|if|endif|source|comment"
    r"|help|---help---)\b"
)
_DEPENDS = re.compile(r"^\s*depends\s+on\s+(.*)$")
_IF = re.compile(r"^if\s+(.*)$")
_ENDIF = re.compile(r"^endif\b")


def _kconfig_files(tree: Path) -> Iterable[Path]:
    for path in sorted(tree.rglob("Kconfig*")):
        rel = path.relative_to(tree).parts
        if rel and rel[0] in ("Documentation", "tools", "scripts"):
            continue
        if path.is_file():
            yield path


def kconfig_definitions(tree: Path, names: Iterable[str]) -> dict[str, list[str]]:
    """For each option in *names*: where it is defined and what it depends on.

    Lists the ``depends on`` lines of the definition and the ``if`` blocks
    around it (per file; an ``if`` around a ``source`` line is not seen).
    """
    wanted = {n.removeprefix("CONFIG_") for n in names}
    found: dict[str, list[str]] = {}
    for path in _kconfig_files(tree):
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        current = None
        ifs: list[str] = []
        for lineno, line in enumerate(lines, 1):
            m = _CONFIG_DEF.match(line)
            if m:
                current = m.group(1) if m.group(1) in wanted else None
                if current:
                    found.setdefault(current, []).append(
                        f"{path.relative_to(tree)}:{lineno}"
                    )
                    found[current] += [f"inside 'if {cond}'" for cond in ifs]
                continue
            cond = _IF.match(line)
            if cond:
                ifs.append(cond.group(1).strip())
            elif _ENDIF.match(line) and ifs:
                ifs.pop()
            if current is None:
                continue
            if _BLOCK_END.match(line):
                current = None
                continue
            d = _DEPENDS.match(line)
            if d:
                found[current].append(f"depends on {d.group(1).strip()}")
    return found


def explain(mismatches: Sequence[Mismatch], tree: Path) -> list[Mismatch]:
    """*mismatches* with ``why`` filled in from the Kconfig files of *tree*."""
    defs = kconfig_definitions(tree, [m.name for m in mismatches])
    out = []
    for m in mismatches:
        info = defs.get(m.name.removeprefix("CONFIG_"))
        if not info:
            why = (
                "no such option in this kernel (renamed or removed?): change the "
                "fragment or add '# unavailable: "
                f"{m.name} <reason>' to series-X.Y.config"
            )
        else:
            where = [
                i for i in info if ":" in i and not i.startswith(("depends", "inside"))
            ]
            deps = [i for i in info if i.startswith(("depends on", "inside"))]
            why = f"defined at {', '.join(where)}"
            if deps:
                why += "; " + "; ".join(deps)
            why += " (a dependency is not met, or the option has no prompt)"
        out.append(dataclasses.replace(m, why=why))
    return out


def format_mismatches(mismatches: Sequence[Mismatch], dotconfig: Path) -> str:
    """The message of a failed check: each dropped request and why."""
    lines = [
        f"{len(mismatches)} requested option(s) are not as requested in {dotconfig} "
        "after 'make olddefconfig' (Kconfig dropped them):"
    ]
    lines += [f"  {m}" for m in mismatches]
    lines.append(
        "Fix the fragments in kernel/configs/ (add the missing dependency, or mark "
        "the option '# unavailable: CONFIG_X <reason>' in series-X.Y.config)."
    )
    return "\n".join(lines)
