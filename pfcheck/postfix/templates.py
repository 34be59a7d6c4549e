"""Template syntax in main.cf / master.cf, judged on what Postfix itself reads.

Postfix skips a physical line whose first non-blank character is `#`, and blank lines
(util/readlline.c); text in those lines can never change what Postfix does, so it never makes a
file a template here. (A `#` after a value is not a comment: `mynetworks = 10/8 # x` is a value
with `#` in it, postconf -n shows it so.) In the lines Postfix reads, two kinds of syntax:

* **control flow** (Jinja `{% if %}`/`{# #}`, ERB `<% %>`, Go `{{ if }}`/`{{ range }}`/
  `{{ end }}`, Mustache sections, an installer's line switch `%{name}` at the start of a line):
  which lines exist depends on the rendering, so no reading of the file is the one Postfix
  will get. The whole file is a template (PF900), located at the first such marker.
* **value placeholders** (`{{ var }}`, `<%= x %>`, `@@NAME@@`, `PH_NAME`, `${UPPER}`,
  `%{name}`, `= %name`): the lines are the lines Postfix reads; the file is judged as Postfix
  reads it literally, and every placeholder line is reported (PF906) so the gate never passes
  silently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from pfcheck.postfix.lines import POSTFIX_SPACE

#: At most this many placeholder lines are kept per file (each becomes a PF906 finding); the
#: rest are counted. A generated 20 MB template must not produce a million findings.
MAX_PLACEHOLDERS = 1000

# `${{` is Postfix's own relational expansion syntax and `inline:{{key = value}}` a Postfix
# table, so a Jinja/Go `{{` counts only when not preceded by `$` or `:`.
_OPEN = r"(?<![$:])\{\{"

#: Markers whose rendering decides which lines exist: (language, fixed text the marker holds,
#: pattern). Ordered: the first match names the language when two match at the same column.
_CONTROL: tuple[tuple[str, str, "re.Pattern[str]"], ...] = (
    ("Go text/template", "{{",
     re.compile(_OPEN + r"-?\s*(?:if|range|end|else|with|define|template|block)\b[^{}\n]*\}\}")),
    ("Mustache", "{{", re.compile(_OPEN + r"[#/^][^{}\n]*\}\}")),
    ("Jinja2", "{%", re.compile(r"\{%[-+]?\s*[a-z]")),
    ("Jinja2", "{#", re.compile(r"\{#")),
    ("ERB", "<%", re.compile(r"<%(?!=)")),
    # modoboa-installer: `%{dovecot_enabled}virtual_transport = ...` renders to `#` or nothing
    # (corpus 010): a switch that comments the line out, not a value.
    ("installer placeholders (%{name})", "%{", re.compile(r"^%\{[a-z_][a-z0-9_]*\}")),
)

#: Markers that stand for text inside a line Postfix reads anyway (same shape as _CONTROL).
_PLACEHOLDER: tuple[tuple[str, str, "re.Pattern[str]"], ...] = (
    ("Go text/template", "{{", re.compile(_OPEN + r"-?\s*\.[A-Za-z_][^{}\n]*\}\}")),
    ("Jinja2", "{{", re.compile(_OPEN + r"[^{}\n]*\}\}")),
    ("ERB", "<%=", re.compile(r"<%=.*?%>|<%=")),
    ("sed placeholders (@@NAME@@)", "@@", re.compile(r"@@[A-Z][A-Z0-9_]*@@")),
    ("sed placeholders (PH_NAME)", "PH_", re.compile(r"\bPH_[A-Z][A-Z0-9_]{2,}")),
    # A quoted "${EXTENSION}" is a shell variable inside a command such as mailbox_command.
    ("envsubst (${UPPER_CASE})", "${", re.compile(r"(?<![\"'])\$\{[A-Z][A-Z0-9_]*\}")),
    # `%{name}` anywhere, or a whole value word `%name` (two letters at least) right after `=`
    # (modoboa: `myhostname = %hostname`). A `%s` or `%d` in a value is Postfix text, not this.
    ("installer placeholders (%{name})", "%",
     re.compile(r"%\{[a-z_][a-z0-9_]*\}|=[ \t]*%[a-z_][a-z0-9_]+(?![^ \t\r\n])")),
)

# A line can only match a pattern above if it holds one of these: each pattern's fixed part,
# loosened. Searching the whole text for them is C-speed; the exact per-line test then runs on
# those lines only, so a 20 MB main.cf costs one regex pass, not one per pattern and line.
_HINT = re.compile(r"\{[{%#]|<%|@@|PH_|\$\{[A-Z]|%\{|%[a-z_]")


@dataclass(frozen=True)
class Marker:
    """A template marker (control flow or value placeholder): its language, 1-based line and
    column, and its text."""

    language: str
    line: int
    column: int
    text: str


@dataclass
class TemplateScan:
    """What a file's Postfix-read lines hold: the first control-flow marker (the file is then a
    template), or its placeholder lines (the first marker of each; `placeholder_lines` counts
    all, `placeholders` keeps MAX_PLACEHOLDERS of them)."""

    control: Optional[Marker] = None
    placeholders: list[Marker] = field(default_factory=list)
    placeholder_lines: int = 0


def is_postfix_comment_or_blank(line: str) -> bool:
    """readllines(): a line Postfix skips (first non-blank is `#`, or nothing but blanks)."""
    stripped = line.lstrip(POSTFIX_SPACE)
    return not stripped or stripped[0] == "#"


def scan_template(text: str) -> TemplateScan:
    """Scan the lines Postfix reads for template markers; stops at the first control marker."""
    scan = TemplateScan()
    line_number, scanned = 1, 0
    position = 0
    while True:
        hint = _HINT.search(text, position)
        if hint is None:
            return scan
        start = text.rfind("\n", 0, hint.start()) + 1
        end = text.find("\n", hint.start())
        end = len(text) if end < 0 else end
        line_number += text.count("\n", scanned, start)
        scanned = start
        line = text[start:end]
        position = end + 1
        if is_postfix_comment_or_blank(line):
            continue
        control = _first_match(_CONTROL, line)
        if control is not None:
            language, offset, marker = control
            scan.control = Marker(language, line_number, offset + 1, marker)
            return scan
        placeholder = _first_match(_PLACEHOLDER, line)
        if placeholder is not None:
            language, offset, marker = placeholder
            if line[0] not in POSTFIX_SPACE and line.rstrip(POSTFIX_SPACE) == marker:
                # `{{ extra_services }}` alone on a line stands for whole lines, not a value.
                scan.control = Marker(language, line_number, 1, marker)
                return scan
            scan.placeholder_lines += 1
            if len(scan.placeholders) < MAX_PLACEHOLDERS:
                scan.placeholders.append(Marker(language, line_number, offset + 1, marker))


def _first_match(patterns: tuple[tuple[str, str, "re.Pattern[str]"], ...],
                 line: str) -> Optional[tuple[str, int, str]]:
    """(language, offset, text) of the leftmost marker of any pattern (the earlier pattern on
    a tie). A pattern is searched only when the line holds its fixed text: a substring test
    costs a tenth of a regex search."""
    best: Optional[tuple[str, int, str]] = None
    for language, needed, pattern in patterns:
        if needed not in line:
            continue
        match = pattern.search(line)
        if match is None or (best is not None and match.start() >= best[1]):
            continue
        offset, marker = match.start(), match.group(0)
        if marker.startswith("="):  # `= %name`: the marker is the word after the `=`
            stripped = marker[1:].lstrip(" \t")
            offset, marker = offset + len(marker) - len(stripped), stripped
        best = (language, offset, marker)
    return best
