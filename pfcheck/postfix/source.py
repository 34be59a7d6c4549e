"""Reading config files: bytes to text, and what makes a file impossible to check.

Postfix reads bytes, not text. pfcheck decodes UTF-8 with `surrogateescape`, so a stray Latin-1
byte survives a round trip and never crashes the reader; its position is reported. Files that
are not Postfix configs at all (binary data, templates to be rendered first) are recognised here
so that no rule ever reports nonsense about them.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Optional

from pfcheck.repository import (
    IS_DIRECTORY, NO_SUCH_FILE, PERMISSION_DENIED, find_repo_root, not_regular_reason, refusal,
)

#: Postfix's ISSPACE: ASCII whitespace only (isascii(c) && isspace(c)).
POSTFIX_SPACE = " \t\n\v\f\r"

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
    """Up to `count` bytes in chunks, stopping after a chunk with a NUL byte: decode() only
    needs the bytes before the first NUL to report the file as binary."""
    parts: list[bytes] = []
    while count > 0:
        part = _read_upto(handle, min(_CHUNK, count))
        if not part:
            break
        parts.append(part)
        count -= len(part)
        if b"\x00" in part:
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

    @property
    def checkable(self) -> bool:
        return self.unreadable is None and self.template is None


# Ordered: the first match names the template language. `${{` is Postfix's own relational
# expansion syntax and `inline:{{key = value}}` a Postfix table, so a Jinja/Go `{{` counts only
# when not preceded by `$` or `:`.
_TEMPLATE_PATTERNS: tuple[tuple[str, "re.Pattern[str]"], ...] = (
    ("Go text/template", re.compile(r"(?<![$:])\{\{-?\s*(?:\.[A-Za-z_]|if |range |end\b|else\b|with )[^{}\n]*\}\}")),
    ("Jinja2", re.compile(r"(?<![$:])\{\{[^{}\n]*\}\}|\{%-?\s*(?:if|for|set|else|elif|endif|endfor|macro|include|raw)\b|\{#")),
    ("ERB", re.compile(r"<%[=#-]?")),
    ("sed placeholders (@@NAME@@)", re.compile(r"@@[A-Z][A-Z0-9_]*@@")),
    ("sed placeholders (PH_NAME)", re.compile(r"\bPH_[A-Z][A-Z0-9_]{2,}")),
    # A quoted "${EXTENSION}" is a shell variable inside a command such as mailbox_command.
    ("envsubst (${UPPER_CASE})", re.compile(r"(?<![\"'])\$\{[A-Z][A-Z0-9_]*\}")),
    ("installer placeholders (%{name})", re.compile(r"(?m)(?:^|[\s=,])%\{?[a-z_][a-z0-9_]*\}?")),
)


# A line can only match a _TEMPLATE_PATTERNS entry if it holds one of these: each pattern's
# fixed part, loosened. Searching the whole text for them is C-speed; the exact per-line test
# then runs on those lines only, so a 20 MB main.cf costs one regex pass, not 7 per line.
_TEMPLATE_HINT = re.compile(r"\{[{%#]|<%|@@|PH_|\$\{[A-Z]|%\{?[a-z_]")
_COMMENT_WITH_TEMPLATE = re.compile(r"\{\{|\{%|<%")


def detect_template(text: str) -> Optional[tuple[str, int, int]]:
    """Return (language, line, column) of the first template marker outside comments."""
    line_number, scanned = 1, 0
    position = 0
    while True:
        hint = _TEMPLATE_HINT.search(text, position)
        if hint is None:
            return None
        start = text.rfind("\n", 0, hint.start()) + 1
        end = text.find("\n", hint.start())
        end = len(text) if end < 0 else end
        line_number += text.count("\n", scanned, start)
        scanned = start
        found = _template_in_line(text[start:end])
        if found is not None:
            return found[0], line_number, found[1]
        position = end + 1


def _template_in_line(line: str) -> Optional[tuple[str, int]]:
    """(language, column) of a template marker in one physical line that is not a comment."""
    stripped = line.lstrip(POSTFIX_SPACE)
    if not stripped:
        return None
    if stripped.startswith("#"):
        # Jinja comments `{# ... #}` begin with `{`; a Postfix comment can still hold
        # template syntax that renders, e.g. `# {{ ansible_managed }}`.
        if not _COMMENT_WITH_TEMPLATE.search(stripped):
            return None
    for language, pattern in _TEMPLATE_PATTERNS:
        match = pattern.search(line)
        if match:
            return language, match.start() + 1
    return None


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


def decode(path: Path, data: bytes) -> SourceText:
    """Turn a file's bytes into a SourceText (never raises)."""
    if b"\x00" in data:
        offset = data.index(b"\x00")
        before = data[:offset]
        line = before.count(b"\n") + 1
        return SourceText(
            path,
            unreadable=f"binary data (NUL byte at line {line}), not a Postfix configuration file",
        )
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
    template = detect_template(source.text)
    if template is not None:
        source.template, source.template_line, source.template_column = template
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
