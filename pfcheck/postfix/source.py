"""Reading config files: bytes to text, and what makes a file impossible to check.

Postfix reads bytes, not text. pfcheck decodes UTF-8 with `surrogateescape`, so a stray Latin-1
byte survives a round trip and never crashes the reader; its position is reported. A NUL byte
outside a comment ends its logical line, as in Postfix. Files that are not Postfix configs at all
(binary data, templates to be rendered first: pfcheck.postfix.templates) are recognised here so
that no rule ever reports nonsense about them.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Optional

if TYPE_CHECKING:
    from pfcheck.postfix.templates import Marker

from pfcheck.postfix.lines import POSTFIX_SPACE
from pfcheck.repository import (
    IS_DIRECTORY, NO_SUCH_FILE, PERMISSION_DENIED, find_repo_root, not_regular_reason, refusal,
)

#: Postfix's ISSPACE: ASCII whitespace only (isascii(c) && isspace(c)).

MIB = 1024 * 1024
#: The largest file pfcheck reads: main.cf, master.cf, and every table or list file. A bigger
#: one is reported as not checked (PF900) or as an unknown table, and is never read whole, so
#: that no input can exhaust memory. Real configs are kilobytes; 64 MiB is 3,000x a large one.
MAX_INPUT_BYTES = 64 * MIB
#: A regular file that grows while read is read on in chunks, stopping at the limit or at the
#: first NUL byte (which makes the file binary anyway).
_CHUNK = MIB


class FileTooLarge(OSError):
    """A file above MAX_INPUT_BYTES; `size` is None when only reading found out (no st_size)."""

    def __init__(self, path: Path, size: Optional[int]) -> None:
        super().__init__(too_large_reason(size))
        self.strerror = too_large_reason(size)
        self.filename = str(path)
        self.size = size


def too_large_reason(size: Optional[int]) -> str:
    """The one wording of the limit, for PF900 and unknown tables."""
    limit = f"{MAX_INPUT_BYTES // MIB} MiB"
    if size is None:
        return f"too large to check (more than {limit})"
    return f"too large to check ({size / MIB:.1f} MiB > {limit})"


class NotRegularFile(OSError):
    """A FIFO, socket, device or directory: never opened (it can block, never end, or have
    side effects on open). `strerror` is the reason (pfcheck.repository.not_regular_reason)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(reason)
        self.strerror = reason
        self.filename = str(path)


def read_bounded(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """A regular file's bytes, or FileTooLarge without reading it whole: the size is checked
    with fstat first, and at most limit + 1 bytes are ever read (files that grow). Anything
    but a regular file is NotRegularFile (IsADirectoryError for a directory), unopened."""
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "Is a directory", str(path))
    reason = not_regular_reason(mode)
    if reason is not None:
        raise NotRegularFile(path, reason)
    # O_NONBLOCK/O_NOCTTY: should a FIFO or a terminal replace the file after the stat, the
    # open neither hangs nor takes a controlling terminal; fstat then refuses it.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(path, flags)
    with os.fdopen(descriptor, "rb", buffering=0) as handle:
        info = os.fstat(descriptor)
        reason = not_regular_reason(info.st_mode)
        if reason is not None:
            raise NotRegularFile(path, reason)
        if info.st_size > limit:
            raise FileTooLarge(path, info.st_size)
        # One read of the expected size (+1 detects growth) avoids copying chunks.
        data = _read_upto(handle, info.st_size + 1)
        if len(data) > info.st_size:
            data += _read_chunked(handle, limit + 1 - len(data))
    if len(data) > limit:
        raise FileTooLarge(path, None)
    return data


def _read_upto(handle: BinaryIO, count: int) -> bytes:
    parts: list[bytes] = []
    while count > 0:
        try:
            part = handle.read(count)
        except BlockingIOError:  # (O_NONBLOCK; regular files never block) what is there is the file
            break
        if not part:  # end of file (None: non-blocking, nothing to read)
            break
        parts.append(part)
        count -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _read_chunked(handle: BinaryIO, count: int) -> bytes:
    """Up to `count` bytes in chunks, stopping once the bytes read are binary by their NUL
    count (more than MAX_TEXT_NULS: /dev/zero stops after one chunk). A few NULs are no reason
    to stop: decode() reads such a file as Postfix does, to its end."""
    parts: list[bytes] = []
    nuls = 0
    while count > 0:
        part = _read_upto(handle, min(_CHUNK, count))
        if not part:
            break
        parts.append(part)
        count -= len(part)
        nuls += part.count(b"\x00")
        if nuls > MAX_TEXT_NULS:
            break
    return b"".join(parts)


@dataclass(frozen=True)
class TextIssue:
    """Something about the bytes of a file, located at 1-based line and column."""

    line: int
    column: int
    message: str


@dataclass
class SourceText:
    """A config file's text, or the reason it cannot be checked (`unreadable` / `template`)."""

    path: Path
    text: str = ""
    unreadable: Optional[str] = None
    template: Optional[str] = None
    template_line: int = 1
    template_column: int = 1
    issues: list[TextIssue] = field(default_factory=list)
    crlf_line: Optional[int] = None
    #: Value placeholders in the lines Postfix reads (pfcheck.postfix.templates; PF906), the
    #: first MAX_PLACEHOLDERS of them, and how many lines hold one.
    placeholders: list[Marker] = field(default_factory=list)
    placeholder_lines: int = 0
    #: Lines where a logical line starts with a NUL byte: Postfix reads an empty logical line
    #: there (main.cf: "missing attribute name", master.cf: "bad field count"); the text has
    #: the line blanked, so the parsers report these from here.
    null_started_lines: tuple[int, ...] = ()

    @property
    def checkable(self) -> bool:
        return self.unreadable is None and self.template is None


def _first_undecodable(data: bytes) -> tuple[int, int, int]:
    """(line, column, byte) of the first byte that is not valid UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        return line, column, data[error.start]
    raise AssertionError("data decodes")


#: More NUL bytes than this and the file is binary data, not a config with a stray NUL: no
#: editor accident leaves that many, and every binary format (Berkeley DB/LMDB maps, UTF-16
#: text, archives) holds far more.
MAX_TEXT_NULS = 8


def _is_binary(data: bytes) -> bool:
    """Binary data rather than a text file Postfix would read: many NUL bytes, or a NUL in
    bytes that are not UTF-8 either (encrypted or compressed data: git-crypt starts with one)."""
    nuls = data.count(b"\x00")
    if nuls == 0:
        return False
    if nuls > MAX_TEXT_NULS:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _binary_reason(data: bytes) -> str:
    line = data[: data.index(b"\x00")].count(b"\n") + 1
    return f"binary data (NUL byte at line {line}), not a Postfix configuration file"


def _as_postfix_reads_nul(source: SourceText) -> None:
    """Make a text with NUL bytes read as Postfix reads it (util/readlline.c, 3.7): a comment
    line is dropped whole, NUL or not; elsewhere a logical line is a C string, so it ends at
    its first NUL. The text after the NUL is cut and the logical line's later continuation
    lines are blanked (line numbers stay); each cut is reported (PF001)."""
    lines = source.text.split("\n")
    cut = False  # the current logical line already ended at a NUL
    started_empty: list[int] = []
    for index, line in enumerate(lines):
        stripped = line.lstrip(POSTFIX_SPACE)
        if not stripped or stripped[0] == "#":
            continue  # skipped by Postfix, and it does not end the logical line
        continuation = line[0] in POSTFIX_SPACE
        if continuation and cut:
            lines[index] = ""
            continue
        if not continuation:
            cut = False
        offset = line.find("\x00")
        if offset < 0:
            continue
        cut = True
        lines[index] = line[:offset]
        source.issues.append(TextIssue(
            index + 1, offset + 1,
            "NUL byte: Postfix reads this logical line only up to it and ignores the rest of it",
        ))
        if offset == 0:
            started_empty.append(index + 1)
    source.text = "\n".join(lines)
    source.null_started_lines = tuple(started_empty)


def decode(path: Path, data: bytes) -> SourceText:
    """Turn a file's bytes into a SourceText (never raises): the text as Postfix reads it."""
    from pfcheck.postfix.templates import scan_template

    if _is_binary(data):
        return SourceText(path, unreadable=_binary_reason(data))
    source = SourceText(path)
    try:
        source.text = data.decode("utf-8")
    except UnicodeDecodeError:
        line, column, byte = _first_undecodable(data)
        source.text = data.decode("utf-8", "surrogateescape")
        source.issues.append(
            TextIssue(line, column, f"byte 0x{byte:02x} is not UTF-8; Postfix passes such bytes through unchanged")
        )
    crlf = source.text.find("\r\n")
    if crlf >= 0:
        source.crlf_line = source.text.count("\n", 0, crlf) + 1
    if "\x00" in source.text:
        _as_postfix_reads_nul(source)
    scan = scan_template(source.text)
    if scan.control is not None:
        control = scan.control
        source.template, source.template_line, source.template_column = control.language, control.line, control.column
    else:
        source.placeholders, source.placeholder_lines = scan.placeholders, scan.placeholder_lines
    return source


def read_source(path: Path, root: Optional[Path] = None) -> SourceText:
    """Read a config file; a file pfcheck must not or cannot read becomes a SourceText with the
    reason (PF900): its real path leaves the repository `root` (default: the repository of the
    path as named, `find_repo_root`), it is not a regular file, it cannot be read, it is too
    large. The reason names nothing but the path as given."""
    if root is None:
        root = find_repo_root(Path(os.path.abspath(path)).parent)
    real, reason = refusal(path, root)
    if real is None:
        return SourceText(path, unreadable=reason)
    try:
        data = read_bounded(real)
    except FileTooLarge as error:
        return SourceText(path, unreadable=error.strerror)
    except IsADirectoryError:
        return SourceText(path, unreadable=IS_DIRECTORY)
    except FileNotFoundError:
        return SourceText(path, unreadable=NO_SUCH_FILE)
    except PermissionError:
        return SourceText(path, unreadable=PERMISSION_DENIED)
    except OSError as error:
        return SourceText(path, unreadable=error.strerror or str(error))
    return decode(path, data)
