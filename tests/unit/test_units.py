"""Sizes as people type and read them."""

from __future__ import annotations

import argparse

import pytest
from pemove import units


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4M", 4 << 20),
        ("4MiB", 4 << 20),
        ("4MB", 4 << 20),
        ("512k", 512 << 10),
        ("8192s", 8192 * 512),
        ("4096", 4096),
        ("4096b", 4096),
        ("1G", 1 << 30),
        ("4GiB", 4 << 30),
        ("2T", 2 << 40),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert units.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "M", "4X", "-4M", "4.5M", "4 MiBs"])
def test_bad_sizes_say_what_a_size_is(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="unit s \\(sectors\\)"):
        units.parse_size(text)
    with pytest.raises(ValueError):
        units.parse_size(text)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (4 << 20, "4.0 MiB"),
        (3 << 30, "3.0 GiB"),
        (5 << 40, "5120.0 GiB"),
    ],
)
def test_human(n: int, text: str) -> None:
    assert units.human(n) == text
