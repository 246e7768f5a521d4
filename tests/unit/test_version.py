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


def test_the_module_takes_the_version_file() -> None:
    """Kbuild reads ../VERSION (a build elsewhere passes PEMOVE_RELEASE=) for MODULE_VERSION."""
    from pemove.vm import build

    kbuild = (REPO / "kmod" / "Kbuild").read_text()
    assert "$(src)/../VERSION" in kbuild and "MODULE_VERSION" not in kbuild
    assert (
        "MODULE_VERSION(PEMOVE_RELEASE)" in (REPO / "kmod" / "pemove_ctl.c").read_text()
    )
    assert build.release_version(REPO) == pemove.__version__


def test_dkms_conf_repeats_the_version_file() -> None:
    conf = (REPO / "kmod" / "dkms.conf").read_text()
    (found,) = re.findall(r'^PACKAGE_VERSION="([^"]+)"$', conf, re.MULTILINE)
    assert found == pemove.__version__, "update kmod/dkms.conf with VERSION"
