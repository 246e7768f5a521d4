"""The pemove ioctl interface, read from the kernel module's uapi header.

``kmod/include/uapi/linux/pemove.h`` is the only definition of the ioctl
structs and numbers.  This module reads that header when it is imported and
derives everything from it:

- struct layouts, by handing the struct definitions to cffi in ABI mode
  (``FFI.cdef``), so sizes and offsets are what a C compiler would produce;
- integer constants, from ``#define PEMOVE_<NAME> <integer literal>`` lines;
- ioctl numbers, from ``#define PEMOVE_IOC_<NAME> _IOWR(PEMOVE_IOC_MAGIC, nr,
  struct <type>)`` lines, encoded as Linux's ``_IOC`` does with the size that
  cffi computes for the struct.

Nothing about the layout is written by hand here.  The header is found, in
order, at ``$PEMOVE_UAPI_HEADER``, in the source checkout this package lives
in (``kmod/include/uapi/linux/pemove.h`` next to ``pyclient/``), and in the
copy that ``setup.py`` places in the package when it builds a wheel.

Public names: :data:`ffi`, :data:`const` (``PEMOVE_*`` name to value, also
available as module attributes such as ``uapi.PEMOVE_NAME_LEN``),
:data:`IOC` (short command name such as ``"PE_MOVE"`` to request number,
also ``uapi.PEMOVE_IOC_PE_MOVE``), :data:`IOC_STRUCT` (short command name to
its C struct type), :data:`STRUCTS` and :data:`VERSION`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import cffi

__all__ = [
    "HEADER_ENV",
    "IOC",
    "IOC_STRUCT",
    "STRUCTS",
    "VERSION",
    "Interface",
    "const",
    "ffi",
    "find_header",
    "header_path",
    "ioc_encode",
    "load",
    "parse",
]

HEADER_ENV = "PEMOVE_UAPI_HEADER"

# Linux's generic _IOC layout (include/uapi/asm-generic/ioctl.h), which x86,
# arm64 and riscv use: nr in bits 0-7, type in 8-15, size in 16-29, dir in 30-31.
_IOC_NRBITS = 8
_IOC_TYPEBITS = 8
_IOC_SIZEBITS = 14
_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
_IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS
_IOC_NONE = 0
_IOC_WRITE = 1
_IOC_READ = 2
_IOC_DIRS = {
    "_IO": _IOC_NONE,
    "_IOW": _IOC_WRITE,
    "_IOR": _IOC_READ,
    "_IOWR": _IOC_READ | _IOC_WRITE,
}

# The kernel's fixed-width types, as the header may use them.
_TYPEDEFS = """
typedef uint8_t __u8;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
typedef int8_t __s8;
typedef int16_t __s16;
typedef int32_t __s32;
typedef int64_t __s64;
"""

_COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_DIRECTIVE_RE = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*$", re.MULTILINE)
_CONST_RE = re.compile(
    r"^[ \t]*#[ \t]*define[ \t]+(PEMOVE_\w+)[ \t]+(0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]*[ \t]*$",
    re.MULTILINE,
)
_IOC_RE = re.compile(
    r"^[ \t]*#[ \t]*define[ \t]+PEMOVE_IOC_(\w+)[ \t]+"
    r"(_IO|_IOR|_IOW|_IOWR)\([ \t]*(\w+)[ \t]*,[ \t]*(\w+)[ \t]*"
    r"(?:,[ \t]*struct[ \t]+(\w+)[ \t]*)?\)[ \t]*$",
    re.MULTILINE,
)
_STRUCT_RE = re.compile(r"\bstruct\s+(\w+)\s*\{")
_PEMOVE_NAME_RE = re.compile(r"\bPEMOVE_\w+\b")


class HeaderError(ValueError):
    """The uapi header does not follow the rules this module relies on."""


@dataclass(frozen=True)
class Interface:
    """Everything derived from one uapi header.

    :ivar path: the header that was read
    :ivar ffi: cffi instance that knows every struct in the header
    :ivar const: ``PEMOVE_*`` integer constants by full name
    :ivar ioc: ioctl request numbers by short name (``"PE_MOVE"``)
    :ivar ioc_struct: the C type of each command's argument (``"struct pemove_pe_move"``)
    :ivar structs: the struct types the header defines, in order
    :ivar version: ``(major, minor, patch)`` of the interface
    """

    path: str
    ffi: cffi.FFI
    const: Mapping[str, int]
    ioc: Mapping[str, int]
    ioc_struct: Mapping[str, str | None]
    structs: tuple[str, ...]
    version: tuple[int, int, int]


def ioc_encode(direction: int, type_: int, nr: int, size: int) -> int:
    """Encode an ioctl request number as Linux's ``_IOC()`` macro does.

    :raises ValueError: if a field does not fit its bits
    """
    for value, bits, what in (
        (direction, 2, "direction"),
        (type_, _IOC_TYPEBITS, "type"),
        (nr, _IOC_NRBITS, "nr"),
        (size, _IOC_SIZEBITS, "size"),
    ):
        if not 0 <= value < (1 << bits):
            raise ValueError(f"ioctl {what} {value} does not fit in {bits} bits")
    return (
        (direction << _IOC_DIRSHIFT)
        | (size << _IOC_SIZESHIFT)
        | (type_ << _IOC_TYPESHIFT)
        | (nr << _IOC_NRSHIFT)
    )


def _int_or_const(token: str, consts: Mapping[str, int], where: str) -> int:
    if token in consts:
        return consts[token]
    try:
        return int(token, 0)
    except ValueError:
        raise HeaderError(
            f"{where}: {token!r} is neither an integer nor a PEMOVE_ constant"
        ) from None


def parse(text: str, path: str = "<string>") -> Interface:
    """Derive the interface from the text of a uapi header.

    :param text: the header's contents
    :param path: where it came from, for messages
    :raises HeaderError: if the header uses a construct this parser does not
        accept (an expression in a ``#define``, an ioctl macro it cannot read,
        or C that cffi rejects)
    """
    text = _COMMENT_RE.sub(" ", text)

    consts: dict[str, int] = {}
    for name, literal in _CONST_RE.findall(text):
        consts[name] = int(literal, 0)

    ioc: dict[str, int] = {}
    ioc_struct: dict[str, str | None] = {}
    ioc_raw: list[tuple[str, str, str, str, str]] = []
    for name, macro, type_tok, nr_tok, struct in _IOC_RE.findall(text):
        ioc_raw.append((name, macro, type_tok, nr_tok, struct))

    # Every other PEMOVE_ define must be one of the two forms above, so that
    # a constant written as an expression fails loudly instead of vanishing.
    ioc_names = {f"PEMOVE_IOC_{raw[0]}" for raw in ioc_raw}
    for define in re.findall(
        r"^[ \t]*#[ \t]*define[ \t]+(PEMOVE_\w+)", text, re.MULTILINE
    ):
        if define not in consts and define not in ioc_names:
            raise HeaderError(
                f"{path}: cannot read #define {define}: not an integer literal or an _IO* macro"
            )

    body = _DIRECTIVE_RE.sub("", text)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(0)
        if name not in consts:
            raise HeaderError(
                f"{path}: {name} is used in a declaration but not defined as an integer"
            )
        return str(consts[name])

    body = _PEMOVE_NAME_RE.sub(substitute, body)
    structs = tuple(dict.fromkeys(_STRUCT_RE.findall(body)))

    ffi = cffi.FFI()
    try:
        ffi.cdef(_TYPEDEFS + body)
    except cffi.CDefError as exc:
        raise HeaderError(f"{path}: cffi cannot read the declarations: {exc}") from exc

    for name, macro, type_tok, nr_tok, struct in ioc_raw:
        where = f"{path}: PEMOVE_IOC_{name}"
        size = 0
        if macro == "_IO":
            if struct:
                raise HeaderError(f"{where}: _IO takes no argument type")
        else:
            if not struct:
                raise HeaderError(f"{where}: {macro} needs a struct argument")
            if struct not in structs:
                raise HeaderError(
                    f"{where}: struct {struct} is not defined in the header"
                )
            size = ffi.sizeof(f"struct {struct}")
        try:
            ioc[name] = ioc_encode(
                _IOC_DIRS[macro],
                _int_or_const(type_tok, consts, where),
                _int_or_const(nr_tok, consts, where),
                size,
            )
        except ValueError as exc:
            raise HeaderError(f"{where}: {exc}") from exc
        ioc_struct[name] = f"struct {struct}" if struct else None

    try:
        version = (
            consts["PEMOVE_VERSION_MAJOR"],
            consts["PEMOVE_VERSION_MINOR"],
            consts["PEMOVE_VERSION_PATCH"],
        )
    except KeyError as exc:
        raise HeaderError(f"{path}: {exc.args[0]} is not defined") from None

    return Interface(
        path=path,
        ffi=ffi,
        const=MappingProxyType(consts),
        ioc=MappingProxyType(ioc),
        ioc_struct=MappingProxyType(ioc_struct),
        structs=structs,
        version=version,
    )


def find_header() -> Path:
    """Return the path of the uapi header this package should use.

    :raises FileNotFoundError: with the places that were tried
    """
    override = os.environ.get(HEADER_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise FileNotFoundError(
                f"${HEADER_ENV} points to {override}, which is not a file"
            )
        return path
    here = Path(__file__).resolve().parent
    candidates = [
        here.parent.parent
        / "kmod"
        / "include"
        / "uapi"
        / "linux"
        / "pemove.h",  # source checkout
        here / "_uapi" / "pemove.h",  # copied in by setup.py build_py
    ]
    for path in candidates:
        if path.is_file():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        f"pemove's uapi header was not found (tried {tried}); "
        f"install from a source checkout (pip install -e .) or set ${HEADER_ENV}"
    )


def load(path: str | os.PathLike[str] | None = None) -> Interface:
    """Read and parse a uapi header (by default the one :func:`find_header` finds)."""
    real = Path(path) if path is not None else find_header()
    return parse(real.read_text(encoding="utf-8"), str(real))


_iface = load()

ffi: cffi.FFI = _iface.ffi
const: Mapping[str, int] = _iface.const
IOC: Mapping[str, int] = _iface.ioc
IOC_STRUCT: Mapping[str, str | None] = _iface.ioc_struct
STRUCTS: tuple[str, ...] = _iface.structs
VERSION: tuple[int, int, int] = _iface.version
header_path: str = _iface.path

globals().update(const)
globals().update({f"PEMOVE_IOC_{name}": number for name, number in IOC.items()})
