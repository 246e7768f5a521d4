"""One release version, in one place: the checkout's VERSION file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pemove

REPO = Path(__file__).resolve().parents[2]


def test_package_version_is_the_version_file() -> None:
    text = (REPO / "VERSION").read_text(encoding="ascii")
    assert re.fullmatch(r"\d+\.\d+\.\d+\n", text), "VERSION holds one x.y.z line"
    assert pemove.__version__ == text.strip()


def test_setup_py_reads_the_version_file() -> None:
    res = subprocess.run(
        [sys.executable, "setup.py", "--version"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert res.stdout.strip().splitlines()[-1] == pemove.__version__
