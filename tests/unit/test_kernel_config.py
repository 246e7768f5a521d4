"""Config fragments: parsing, composing per series, and the .config check."""

from __future__ import annotations

from pathlib import Path

import pytest
from pemove.kernel import config

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "kernel" / "configs"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    d = tmp_path / "configs"
    d.mkdir()
    write(d / "base.config", "# base\nCONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\n")
    write(d / "debug.config", 'CONFIG_KASAN=y\nCONFIG_BITS=16\nCONFIG_S="x y"\n')
    write(d / "series-6.1.config", "CONFIG_B=y\n")
    write(
        d / "series-6.1-debug.config",
        "# unavailable: CONFIG_KASAN not on this old series\n",
    )
    return d


def test_fragment_lines_are_parsed_with_their_origin(tmp_path: Path) -> None:
    frag = config.parse_fragment(
        "CONFIG_A=y\n\n# comment\n# CONFIG_B is not set\nCONFIG_N=0x10\n",
        tmp_path / "f.config",
        allow_unavailable=False,
    )
    assert [(s.name, s.value) for s in frag.settings] == [
        ("CONFIG_A", "y"),
        ("CONFIG_B", "n"),
        ("CONFIG_N", "0x10"),
    ]
    assert frag.settings[1].origin.endswith("f.config:4")


@pytest.mark.parametrize(
    "line",
    ["CONFIG_A=yes", "A=y", "CONFIG_S=unquoted text", "CONFIG_A y"],
)
def test_malformed_lines_are_refused_with_the_line(tmp_path: Path, line: str) -> None:
    with pytest.raises(config.ConfigError, match=r"f\.config:1: not a config line"):
        config.parse_fragment(line + "\n", tmp_path / "f.config", False)


def test_unavailable_needs_a_reason_and_a_series_file(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="needs a reason"):
        config.parse_fragment("# unavailable: CONFIG_A\n", tmp_path / "s", True)
    with pytest.raises(config.ConfigError, match="series-X.Y.config"):
        config.parse_fragment("# unavailable: CONFIG_A why\n", tmp_path / "b", False)


def test_files_per_series_and_flavour(configs: Path) -> None:
    names = [p.name for p in config.fragment_files(configs, "6.1", debug=True)]
    assert names == [
        "base.config",
        "debug.config",
        "series-6.1.config",
        "series-6.1-debug.config",
    ]
    names = [p.name for p in config.fragment_files(configs, "6.1", debug=False)]
    assert names == ["base.config", "series-6.1.config"]
    assert [p.name for p in config.fragment_files(configs, "6.12", debug=False)] == [
        "base.config"
    ]


def test_later_fragments_win_and_unavailable_drops(configs: Path) -> None:
    composed = config.compose(config.fragment_files(configs, "6.1", debug=True))
    values = {n: s.value for n, s in composed.settings.items()}
    assert values == {
        "CONFIG_A": "y",
        "CONFIG_B": "y",
        "CONFIG_C": "n",
        "CONFIG_BITS": "16",
        "CONFIG_S": '"x y"',
    }
    assert composed.unavailable == {"CONFIG_KASAN": "not on this old series"}
    text = composed.text(extra={"CONFIG_LOCALVERSION": '"-t"'})
    assert "CONFIG_B=y\n" in text and "# CONFIG_C is not set\n" in text
    assert text.rstrip().endswith('CONFIG_LOCALVERSION="-t"')
    assert "CONFIG_KASAN" not in text


def test_unavailable_of_an_unrequested_option_is_ignored(configs: Path) -> None:
    base = config.compose(config.fragment_files(configs, "6.1", debug=False))
    assert base.unavailable == {}  # CONFIG_KASAN is a debug request only


def test_repository_unavailable_lines_are_not_stale() -> None:
    """Each '# unavailable:' line of a series file drops a real debug request."""
    for path in sorted(REPO_CONFIGS.glob("series-*.config")):
        series = path.stem.removeprefix("series-").removesuffix("-debug")
        frag = config.parse_fragment(path.read_text(), path, allow_unavailable=True)
        files = config.fragment_files(REPO_CONFIGS, series, debug=True)
        without = config.compose([f for f in files if f != path])
        for name, _reason, origin in frag.unavailable:
            assert name in without.settings, f"{origin}: nothing requests {name}"


def test_digest_follows_requests_not_comments(configs: Path) -> None:
    files = config.fragment_files(configs, "6.12", debug=True)
    before = config.compose(files).digest()
    write(configs / "base.config", "# reworded\nCONFIG_A=y\nCONFIG_B=m\n"
          "# CONFIG_C is not set\n")  # fmt: skip
    assert config.compose(files).digest() == before
    write(configs / "base.config", "CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\n")
    assert config.compose(files).digest() != before
    debug_digest = config.compose(files).digest()
    assert config.compose(files[:1]).digest() != debug_digest


def test_verify_lists_each_request_kconfig_dropped(configs: Path) -> None:
    composed = config.compose(config.fragment_files(configs, "6.12", debug=True))
    final = config.parse_dotconfig(
        "CONFIG_A=y\nCONFIG_B=m\nCONFIG_C=y\n# CONFIG_KASAN is not set\n"
        'CONFIG_BITS=15\nCONFIG_S="x y"\n'
    )
    bad = {m.name: (m.wanted, m.got) for m in config.verify(composed, final)}
    assert bad == {
        "CONFIG_C": ("n", "y"),
        "CONFIG_KASAN": ("y", "n"),
        "CONFIG_BITS": ("16", "15"),
    }


def test_explain_names_definition_and_dependencies(tmp_path: Path) -> None:
    tree = tmp_path / "linux"
    (tree / "lib").mkdir(parents=True)
    write(
        tree / "lib" / "Kconfig.debug",
        'if UBSAN\nconfig FOO\n\tbool "foo"\n\tdepends on BAR && !BAZ\n\thelp\n'
        "\t  depends on nothing, this is help text\n\nendif\nconfig OTHER\n\tbool\n",
    )
    mism = [
        config.Mismatch("CONFIG_FOO", "y", "n", "base.config:3"),
        config.Mismatch("CONFIG_NOPE", "y", "n", "base.config:4"),
    ]
    foo, nope = config.explain(mism, tree)
    assert "lib/Kconfig.debug:2" in foo.why
    assert "depends on BAR && !BAZ" in foo.why
    assert "inside 'if UBSAN'" in foo.why
    assert "nothing, this is help" not in foo.why
    assert "no such option" in nope.why
    msg = config.format_mismatches([foo, nope], tree / ".config")
    assert "2 requested option(s)" in msg
    assert "CONFIG_FOO: wanted =y, got not set (requested at base.config:3)" in msg


@pytest.mark.parametrize("series", ["6.1", "6.12"])
@pytest.mark.parametrize("debug", [True, False])
def test_the_repository_fragments_compose(series: str, debug: bool) -> None:
    files = config.fragment_files(REPO_CONFIGS, series, debug)
    composed = config.compose(files)
    want = composed.settings
    assert want["CONFIG_MODULES"].value == "y"
    assert want["CONFIG_BLK_DEV_DM"].value == "m"
    assert want["CONFIG_9P_FS"].value == "y"
    if debug:
        for name in ("CONFIG_KASAN", "CONFIG_PROVE_LOCKING", "CONFIG_DEBUG_KMEMLEAK"):
            assert want[name].value == "y", name
    else:
        assert "CONFIG_KASAN" not in want


def test_repository_series_differ_where_kconfig_does() -> None:
    old = config.compose(config.fragment_files(REPO_CONFIGS, "6.1", True))
    new = config.compose(config.fragment_files(REPO_CONFIGS, "6.12", True))
    assert "CONFIG_FAULT_INJECTION_CONFIGFS" in old.unavailable
    assert new.settings["CONFIG_FAULT_INJECTION_CONFIGFS"].value == "y"
    assert old.settings["CONFIG_INET"].value == "y"  # 9p needs it before 6.2
    assert old.digest() != new.digest()
