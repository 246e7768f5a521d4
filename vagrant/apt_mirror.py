#!/usr/bin/env python3
"""Print the Debian mirror this machine's apt uses for a suite.

The box recipe must not carry a mirror host name in the repository, so it
asks the machine: the first ``deb`` source, in apt's own reading order, that
serves the suite's ``main`` component.  ``PEMOVE_DEBIAN_MIRROR`` overrides it.

Exit status: 0 with the URI on stdout, 1 with a message on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

APT_ETC = Path("/etc/apt")


class Source(NamedTuple):
    """One ``deb`` line: where it comes from and what it serves."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def _one_line_sources(text: str) -> Iterator[Source]:
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # options such as [signed-by=...]
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2:
            yield Source(words[0], (words[1],), tuple(words[2:]))


def _deb822_sources(text: str) -> Iterator[Source]:
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            if raw[0].isspace() and key:  # continuation line
                fields[key] += " " + raw.strip()
                continue
            key, _, value = raw.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" not in fields.get("types", "").split():
            continue
        suites = tuple(fields.get("suites", "").split())
        components = tuple(fields.get("components", "").split())
        for uri in fields.get("uris", "").split():
            yield Source(uri, suites, components)


def sources(etc: Path = APT_ETC) -> Iterator[Source]:
    """Yield every enabled ``deb`` source, in the order apt reads them."""
    main = etc / "sources.list"
    if main.is_file():
        yield from _one_line_sources(main.read_text(errors="replace"))
    parts = etc / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                yield from _one_line_sources(path.read_text(errors="replace"))
            elif path.suffix == ".sources":
                yield from _deb822_sources(path.read_text(errors="replace"))


def mirror_for(suite: str, etc: Path = APT_ETC) -> str | None:
    """Return the URI of the first source serving *suite*'s main component."""
    for src in sources(etc):
        if suite in src.suites and "main" in src.components:
            return src.uri
    return None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", nargs="?", default="bookworm")
    args = parser.parse_args(argv)
    override = os.environ.get("PEMOVE_DEBIAN_MIRROR")
    uri = override or mirror_for(args.suite, APT_ETC)
    if not uri:
        print(
            f"apt_mirror: no 'deb' source for suite {args.suite!r} with component"
            f" 'main' under {APT_ETC}; add one, or set PEMOVE_DEBIAN_MIRROR",
            file=sys.stderr,
        )
        return 1
    print(uri)
    return 0


if __name__ == "__main__":
    sys.exit(main())
