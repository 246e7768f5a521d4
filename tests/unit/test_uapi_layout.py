"""The layouts and numbers pemove.uapi derives must be what a C compiler sees.

A C program is generated from the structs, fields and defines that
pemove.uapi found in the header, compiled against the same header with gcc,
and run; every size, offset, constant and ioctl number it prints must equal
Python's.  Because the program is generated, a field added to the header is
checked without touching this test.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pemove import uapi

REPO = Path(__file__).resolve().parents[2]
UAPI_INCLUDE = REPO / "kmod" / "include" / "uapi"
HEADER = UAPI_INCLUDE / "linux" / "pemove.h"


def _fields(ctype: Any, prefix: str = "") -> Iterator[tuple[str, int, int]]:
    """Yield (designator, offset, size) of every field, nested structs included."""
    for name, field in ctype.fields:
        designator = f"{prefix}{name}"
        yield designator, field.offset, uapi.ffi.sizeof(field.type)
        if field.type.kind == "struct":
            for sub, offset, size in _fields(field.type, designator + "."):
                yield sub, field.offset + offset, size


def python_view() -> dict[str, int]:
    """Every fact about the interface, as computed by pemove.uapi."""
    facts: dict[str, int] = {}
    for struct in uapi.STRUCTS:
        ctype = uapi.ffi.typeof(f"struct {struct}")
        facts[f"sizeof struct {struct}"] = uapi.ffi.sizeof(ctype)
        facts[f"alignof struct {struct}"] = uapi.ffi.alignof(ctype)
        for designator, offset, size in _fields(ctype):
            facts[f"offsetof struct {struct} {designator}"] = offset
            facts[f"sizeof struct {struct} {designator}"] = size
    for name, value in uapi.const.items():
        facts[f"const {name}"] = value
    for name, number in uapi.IOC.items():
        facts[f"ioc PEMOVE_IOC_{name}"] = number
    return facts


def c_program() -> str:
    """A C program that prints the same facts as :func:`python_view`, from the compiler."""
    lines = [
        "#include <stddef.h>",
        "#include <stdio.h>",
        "#include <linux/pemove.h>",
        "",
        '#define P(key, value) printf("%s=%llu\\n", key, (unsigned long long)(value))',
        "",
        "int main(void)",
        "{",
    ]
    for struct in uapi.STRUCTS:
        ctype = uapi.ffi.typeof(f"struct {struct}")
        lines.append(f'\tP("sizeof struct {struct}", sizeof(struct {struct}));')
        lines.append(f'\tP("alignof struct {struct}", _Alignof(struct {struct}));')
        for designator, _, _ in _fields(ctype):
            lines.append(
                f'\tP("offsetof struct {struct} {designator}", offsetof(struct {struct}, {designator}));'
            )
            lines.append(
                f'\tP("sizeof struct {struct} {designator}", sizeof(((struct {struct} *)0)->{designator}));'
            )
    for name in uapi.const:
        lines.append(f'\tP("const {name}", {name});')
    for name in uapi.IOC:
        lines.append(f'\tP("ioc PEMOVE_IOC_{name}", PEMOVE_IOC_{name});')
    lines += ["\treturn 0;", "}", ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def c_view(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed (apt-get install build-essential)")
    work = tmp_path_factory.mktemp("uapi")
    source = work / "layout.c"
    binary = work / "layout"
    source.write_text(c_program())
    subprocess.run(
        [
            gcc,
            "-std=gnu11",
            "-Wall",
            "-Werror",
            f"-I{UAPI_INCLUDE}",
            "-o",
            str(binary),
            str(source),
        ],
        check=True,
    )
    out = subprocess.run(
        [str(binary)], check=True, capture_output=True, text=True
    ).stdout
    return {
        key: int(value)
        for key, value in (line.split("=", 1) for line in out.splitlines())
    }


def test_python_reads_the_checkout_header() -> None:
    assert Path(uapi.header_path).resolve() == HEADER.resolve()


def test_every_struct_in_the_header_is_known() -> None:
    text = HEADER.read_text()
    for struct in ("pemove_hdr", "pemove_extent", "pemove_pe_move", "pemove_lv_status"):
        assert f"struct {struct} {{" in text
        assert struct in uapi.STRUCTS
    assert len(uapi.STRUCTS) == text.count("\nstruct ")


def test_every_ioctl_in_the_header_is_known() -> None:
    defined = {
        line.split()[1]
        for line in HEADER.read_text().splitlines()
        if line.startswith("#define PEMOVE_IOC_")
    }
    assert {f"PEMOVE_IOC_{name}" for name in uapi.IOC} == defined - {"PEMOVE_IOC_MAGIC"}


def test_layouts_constants_and_ioctls_match_c(c_view: dict[str, int]) -> None:
    py_view = python_view()
    assert py_view.keys() == c_view.keys()
    mismatches = {
        key: (py_view[key], c_view[key])
        for key in py_view
        if py_view[key] != c_view[key]
    }
    assert not mismatches, f"python != C: {mismatches}"


def test_fact_count_is_plausible(c_view: dict[str, int]) -> None:
    # Guards against a generator that silently emits nothing.
    assert len(c_view) > 100
    assert c_view["ioc PEMOVE_IOC_PE_MOVE"] >> 30 == 3  # _IOWR


def test_version_triple() -> None:
    assert uapi.VERSION == (
        uapi.const["PEMOVE_VERSION_MAJOR"],
        uapi.const["PEMOVE_VERSION_MINOR"],
        uapi.const["PEMOVE_VERSION_PATCH"],
    )


def test_constants_are_module_attributes() -> None:
    assert uapi.PEMOVE_NAME_LEN == uapi.const["PEMOVE_NAME_LEN"]  # type: ignore[attr-defined]
    assert uapi.PEMOVE_IOC_PE_MOVE == uapi.IOC["PE_MOVE"]  # type: ignore[attr-defined]


def test_ioc_encode_matches_known_linux_numbers() -> None:
    # BLKGETSIZE64 = _IOR(0x12, 114, size_t), BLKFLSBUF = _IO(0x12, 97)
    assert uapi.ioc_encode(2, 0x12, 114, 8) == 0x80081272
    assert uapi.ioc_encode(0, 0x12, 97, 0) == 0x1261
    with pytest.raises(ValueError):
        uapi.ioc_encode(3, 0xE7, 0, 1 << 14)


def test_new_field_changes_layout_and_ioctl_number(tmp_path: Path) -> None:
    text = HEADER.read_text()
    start = text.index("struct pemove_pe_move {")
    end = text.index("\n};", start)
    text = text[:end] + "\n\t__u64 extra_field;" + text[end:]
    iface = uapi.parse(text, "modified.h")
    assert (
        iface.ffi.sizeof("struct pemove_pe_move")
        == uapi.ffi.sizeof("struct pemove_pe_move") + 8
    )
    assert iface.ioc["PE_MOVE"] != uapi.IOC["PE_MOVE"]
    assert iface.ioc["LV_CREATE"] == uapi.IOC["LV_CREATE"]


@pytest.mark.parametrize(
    "bad",
    [
        "#define PEMOVE_NAME_LEN (16 * 2)",
        "#define PEMOVE_IOC_BOGUS _IOWR(PEMOVE_IOC_MAGIC, 0x09, struct pemove_nonexistent)",
        "#define PEMOVE_IOC_BOGUS _IOWR(PEMOVE_IOC_MAGIC, 0x09)",
    ],
)
def test_unreadable_defines_fail_loudly(bad: str) -> None:
    text = HEADER.read_text().replace(
        "#endif /* _UAPI_LINUX_PEMOVE_H */", bad + "\n#endif"
    )
    if bad.startswith("#define PEMOVE_NAME_LEN"):
        text = re.sub(r"^#define PEMOVE_NAME_LEN\s+\d+$", "", text, flags=re.MULTILINE)
    with pytest.raises(uapi.HeaderError):
        uapi.parse(text, "bad.h")


def test_header_env_override(tmp_path: Path) -> None:
    copy = tmp_path / "pemove.h"
    text = re.sub(
        r"^(#define PEMOVE_VERSION_MINOR\s+)\d+$",
        r"\g<1>7",
        HEADER.read_text(),
        flags=re.MULTILINE,
    )
    copy.write_text(text)
    code = "from pemove import uapi; print(uapi.header_path, uapi.VERSION[1])"
    env = {"PEMOVE_UAPI_HEADER": str(copy), "PATH": "/usr/bin:/bin"}
    pythonpath = [p for p in sys.path if p]
    env["PYTHONPATH"] = ":".join(pythonpath)
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.split() == [str(copy), "7"]


def _covered(ffi: Any, ctype: Any, base: int, out: set[int]) -> None:
    """Add to ``out`` every byte offset a field of ``ctype`` (at ``base``) occupies."""
    if ctype.kind == "struct":
        for _, f in ctype.fields:
            _covered(ffi, f.type, base + f.offset, out)
    elif ctype.kind == "array":
        for i in range(ctype.length):
            _covered(ffi, ctype.item, base + i * ffi.sizeof(ctype.item), out)
    else:
        out.update(range(base, base + ffi.sizeof(ctype)))


def _padding(ffi: Any, ctype: str) -> int:
    t = ffi.typeof(ctype)
    covered: set[int] = set()
    _covered(ffi, t, 0, covered)
    return int(ffi.sizeof(t)) - len(covered)


def test_structs_have_no_implicit_padding() -> None:
    """Every byte of every uapi struct belongs to a named field.

    So the ``reserved``/``padding`` fields are all the slack there is, which
    is what the guest test of output slack (tests/guest/test_no_leak.py)
    relies on when it checks them for kernel data.
    """
    for ctype in {
        *filter(None, uapi.IOC_STRUCT.values()),
        "struct pemove_lv_info",
        "struct pemove_le_status",
    }:
        assert _padding(uapi.ffi, ctype) == 0, f"{ctype} has implicit padding"


def test_padding_check_sees_implicit_padding() -> None:
    """The check above can fail: a u8 before a u64 leaves 7 bytes of padding."""
    header = (
        "#define PEMOVE_VERSION_MAJOR 1\n#define PEMOVE_VERSION_MINOR 0\n"
        "#define PEMOVE_VERSION_PATCH 0\n"
        "struct pemove_padded { __u8 a; __u64 b; __u8 c[3]; };\n"
    )
    assert _padding(uapi.parse(header).ffi, "struct pemove_padded") == 7 + 5
