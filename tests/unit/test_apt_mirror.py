"""vagrant/apt_mirror.py: the box's mirror comes from apt's own configuration.

The box recipe must never carry a host name, so it reads the mirror the
way apt does: one-line ``sources.list`` files and deb822 ``.sources`` files,
in apt's order, skipping disabled stanzas, ``deb-src`` and other suites.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "vagrant" / "apt_mirror.py"


@pytest.fixture(scope="module")
def apt_mirror() -> ModuleType:
    spec = importlib.util.spec_from_file_location("apt_mirror", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["apt_mirror"] = module  # NamedTuple needs the module registered
    spec.loader.exec_module(module)
    return module


def _etc(tmp_path: Path, main: str | None = None, **parts: str) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    if main is not None:
        (tmp_path / "sources.list").write_text(main)
    for name, text in parts.items():
        (tmp_path / "sources.list.d" / name.replace("_", ".")).write_text(text)
    return tmp_path


def test_one_line_with_options_and_comments(
    apt_mirror: ModuleType, tmp_path: Path
) -> None:
    etc = _etc(
        tmp_path,
        "# deb http://commented.invalid/debian bookworm main\n"
        "deb-src http://src.invalid/debian bookworm main\n"
        "deb http://other.invalid/debian trixie main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.invalid/debian bookworm main contrib\n",
    )
    assert apt_mirror.mirror_for("bookworm", etc) == "http://one.invalid/debian"


def test_main_component_is_required(apt_mirror: ModuleType, tmp_path: Path) -> None:
    etc = _etc(
        tmp_path,
        "deb http://security.invalid/debian-security bookworm-security main\n"
        "deb http://nonfree.invalid/debian bookworm non-free-firmware\n",
    )
    assert apt_mirror.mirror_for("bookworm", etc) is None


def test_deb822_stanzas(apt_mirror: ModuleType, tmp_path: Path) -> None:
    etc = _etc(
        tmp_path,
        debian_sources=(
            "Types: deb\n"
            "URIs: http://off.invalid/debian\n"
            "Suites: bookworm\n"
            "Components: main\n"
            "Enabled: no\n"
            "\n"
            "Types: deb-src\n"
            "URIs: http://src.invalid/debian\n"
            "Suites: bookworm\n"
            "Components: main\n"
            "\n"
            "# a comment inside the stanza\n"
            "Types: deb deb-src\n"
            "URIs: http://a.invalid/debian\n"
            "  http://b.invalid/debian\n"
            "Suites: bookworm bookworm-updates\n"
            "Components: main\n"
        ),
    )
    found = list(apt_mirror.sources(etc))
    assert [s.uri for s in found] == [
        "http://a.invalid/debian",
        "http://b.invalid/debian",
    ]
    assert apt_mirror.mirror_for("bookworm", etc) == "http://a.invalid/debian"


def test_apt_order_sources_list_first_then_parts_sorted(
    apt_mirror: ModuleType, tmp_path: Path
) -> None:
    etc = _etc(
        tmp_path,
        None,
        b_list="deb http://b.invalid/debian bookworm main\n",
        a_sources="Types: deb\nURIs: http://a.invalid/debian\nSuites: bookworm\nComponents: main\n",
        c_txt="deb http://ignored.invalid/debian bookworm main\n",
    )
    assert [s.uri for s in apt_mirror.sources(etc)] == [
        "http://a.invalid/debian",
        "http://b.invalid/debian",
    ]
    (etc / "sources.list").write_text("deb http://first.invalid/debian bookworm main\n")
    assert apt_mirror.mirror_for("bookworm", etc) == "http://first.invalid/debian"


def test_main_exit_codes(
    apt_mirror: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(apt_mirror, "APT_ETC", _etc(tmp_path, ""))
    monkeypatch.delenv("PEMOVE_DEBIAN_MIRROR", raising=False)
    assert apt_mirror.main(["bookworm"]) == 1
    assert "PEMOVE_DEBIAN_MIRROR" in capsys.readouterr().err
    monkeypatch.setenv("PEMOVE_DEBIAN_MIRROR", "http://override.invalid/debian")
    assert apt_mirror.main(["bookworm"]) == 0
    assert capsys.readouterr().out.strip() == "http://override.invalid/debian"
