"""Reading config files: bytes to text, and what makes a file impossible to check.

Postfix reads bytes, not text. pfcheck decodes UTF-8 with `surrogateescape`, so a stray Latin-1
byte survives a round trip and never crashes the reader; its position is reported. Files that
are not Postfix configs at all (binary data, templates to be rendered first) are recognised here
so that no rule ever reports nonsense about them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

#: Postfix's ISSPACE: ASCII whitespace only (isascii(c) && isspace(c)).
POSTFIX_SPACE = " \t\n\v\f\r"


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


def detect_template(text: str) -> Optional[tuple[str, int, int]]:
    """Return (language, line, column) of the first template marker outside comments."""
    for line_number, line in enumerate(text.split("\n"), start=1):
        stripped = line.lstrip(POSTFIX_SPACE)
        if not stripped:
            continue
        if stripped.startswith("#"):
            # Jinja comments `{# ... #}` begin with `{`; a Postfix comment can still hold
            # template syntax that renders, e.g. `# {{ ansible_managed }}`.
            if not re.search(r"\{\{|\{%|<%", stripped):
                continue
        for language, pattern in _TEMPLATE_PATTERNS:
            match = pattern.search(line)
            if match:
                return language, line_number, match.start() + 1
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


def read_source(path: Path) -> SourceText:
    """Read a config file; unreadable files and directories become a SourceText with a reason."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        return SourceText(path, unreadable="is a directory, not a file")
    except FileNotFoundError:
        return SourceText(path, unreadable="no such file")
    except PermissionError:
        return SourceText(path, unreadable="permission denied")
    except OSError as error:
        return SourceText(path, unreadable=error.strerror or str(error))
    return decode(path, data)
