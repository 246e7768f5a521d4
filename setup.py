"""Install the pemove client package (pyclient/pemove) and its ``pemove`` command.

The release version is the one line of ``VERSION`` at the top of the checkout.
The struct layouts and ioctl numbers are read at import time from the kernel
module's uapi header, kmod/include/uapi/linux/pemove.h, the only definition of
the interface.  An editable install (``pip install -e .[all]``, what the
Makefile does) reads it from the checkout.  A regular build copies it into the
package as ``pemove/_uapi/pemove.h``; that copy is generated on every build and
never edited or committed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
UAPI_HEADER = HERE / "kmod" / "include" / "uapi" / "linux" / "pemove.h"
# The project's release version (client and module) is written only in VERSION;
# pemove.__version__ reads the same file in a checkout, and this package's
# metadata when installed from a wheel.  The uapi interface version is another
# thing: the header's PEMOVE_VERSION_*, which the module checks.
VERSION = (HERE / "VERSION").read_text(encoding="ascii").strip()


class BuildPyWithHeader(build_py):
    """build_py that also places a generated copy of the uapi header in the package."""

    def run(self) -> None:
        super().run()
        if not self.dry_run:
            target = Path(self.build_lib) / "pemove" / "_uapi" / "pemove.h"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(UAPI_HEADER, target)


EXTRAS = {
    "test": ["pytest", "hypothesis", "pytest-timeout"],
    "vm": ["virtme-ng"],
    "bench": ["matplotlib"],
    "lint": ["ruff"],
}
EXTRAS["all"] = sorted({req for reqs in EXTRAS.values() for req in reqs})

setup(
    name="pemove",
    version=VERSION,
    description="Extent-mapped LVs with a locked physical-extent move: client, CLI and test harness",
    long_description=(HERE / "README.md").read_text()
    if (HERE / "README.md").exists()
    else "",
    long_description_content_type="text/markdown",
    license="GPL-2.0",
    python_requires=">=3.9",
    package_dir={"": "pyclient"},
    packages=find_packages(where="pyclient"),
    install_requires=["cffi", "pyudev"],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["pemove=pemove.cli:main"]},
    cmdclass={"build_py": BuildPyWithHeader},
    zip_safe=False,
)
