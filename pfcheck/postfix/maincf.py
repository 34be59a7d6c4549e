"""main.cf: `name = value` definitions as Postfix's dict_load_fp()/split_nameval() read them.

A main.cf may hold a million parameters (issue #8: 20 MB), so definitions are not kept as
objects. The parser makes one regex pass over the text and records, per definition, where it
sits in the text (four machine integers); `Definition` objects are built when someone asks for
one. Only logical lines that continue over several physical lines, or that are malformed, go
through the general `logical_lines()` / `split_nameval()` path, which is the reference for both.
"""
from __future__ import annotations

import re
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence, overload

from pfcheck.postfix.issues import ConfigIssue
from pfcheck.postfix.lines import LogicalLine, logical_lines
from pfcheck.postfix.source import POSTFIX_SPACE, SourceText


@dataclass(frozen=True)
class Definition:
    """One `name = value` logical line. `line`/`column` locate the name, `value_*` the value."""

    name: str
    value: str
    path: Path
    line: int
    column: int
    value_line: int
    value_column: int


# One logical line that starts at column 1 (anything else is a comment, a blank line, a
# continuation or an orphan): group 1 the name and group 2 the value of a one-line `name = value`
# (trailing whitespace excluded), or neither for a line split_nameval() must judge; group 3 the
# physical lines that follow up to the next logical line (blank, comment or continuation lines).
_SPACE = "[ \\t\\v\\f\\r]"
_DEFINITION = re.compile(
    rf"^(?:([^ \t\v\f\r\n#=][^ \t\v\f\r\n=]*){_SPACE}*={_SPACE}*((?:[^\n]*[^ \t\v\f\r\n])?){_SPACE}*"
    rf"|[^ \t\v\f\r\n#][^\n]*)"
    rf"((?:\n(?![^ \t\v\f\r\n#])[^\n]*)*)",
    re.M,
)
# A physical line that continues the logical line: indented, not blank, not a comment.
_CONTINUATION = re.compile(rf"\n{_SPACE}+[^ \t\v\f\r\n#]")
_NAME = re.compile(r"[^ \t\v\f\r\n=]*")
# Marks a definition whose value spans continuation lines: it is rebuilt from the text.
_MULTI_LINE = -1


class MainCf:
    """A parsed main.cf: every definition in file order, the last one of each name, and issues."""

    def __init__(self, path: Path, text: str = "") -> None:
        self.path = path
        self.issues: list[ConfigIssue] = []
        self.present = True
        self._text = text
        # Per definition, in file order: logical line start, its line, and the value's span
        # (for a multi-line value: the logical line's end, and _MULTI_LINE).
        self._starts = array("q")
        self._lines = array("q")
        self._value_starts = array("q")
        self._value_ends = array("q")
        #: name -> index of its last definition (Postfix: the last one wins).
        self._last: dict[str, int] = {}

    # -- the interface rules use ------------------------------------------------------------

    @property
    def params(self) -> "Mapping[str, Definition]":
        """name -> the definition in force (the last one), built on access."""
        return _Params(self)

    @property
    def definitions(self) -> "Sequence[Definition]":
        """Every definition in file order, redefinitions included, built on access."""
        return _Definitions(self)

    def names(self) -> "Iterator[str]":
        """Defined names, in the order of their first definition (no Definition is built)."""
        return iter(self._last)

    def __contains__(self, name: str) -> bool:
        return name in self._last

    def get(self, name: str) -> Optional[Definition]:
        index = self._last.get(name)
        return None if index is None else self.definition(index)

    def value(self, name: str) -> Optional[str]:
        """The raw value in force, without building a Definition."""
        index = self._last.get(name)
        return None if index is None else self._value(index)

    def history(self, name: str) -> list[Definition]:
        return [d for d in self.definitions if d.name == name]

    # -- storage ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._starts)

    def definition(self, index: int) -> Definition:
        start, line, value_end = self._starts[index], self._lines[index], self._value_ends[index]
        if value_end != _MULTI_LINE:
            value_start = self._value_starts[index]
            name = _NAME.match(self._text, start).group()  # type: ignore[union-attr]
            return Definition(name, self._text[value_start:value_end], self.path, line, 1, line,
                              value_start - start + 1)
        logical = _logical_line(self._text, start, self._value_starts[index], line)
        _, value_offset, name, value = split_nameval(logical.text)
        value_line, value_column = logical.position(value_offset)
        return Definition(name, value, self.path, line, 1, value_line, value_column)

    def _value(self, index: int) -> str:
        value_end = self._value_ends[index]
        if value_end != _MULTI_LINE:
            return self._text[self._value_starts[index]:value_end]
        return self.definition(index).value

    def _add(self, name: str, start: int, line: int, value_start: int, value_end: int) -> None:
        index = len(self._starts)
        self._starts.append(start)
        self._lines.append(line)
        self._value_starts.append(value_start)
        self._value_ends.append(value_end)
        earlier = self._last.get(name)
        self._last[name] = index
        if earlier is not None:
            self._redefined(name, earlier, index)

    def _redefined(self, name: str, earlier: int, index: int) -> None:
        old_value = self._value(earlier)
        if old_value != self._value(index):
            self.issues.append(ConfigIssue(
                self.path, self._lines[index], 1,
                f"overriding earlier entry at line {self._lines[earlier]}: {name}={old_value}",
                "duplicate", parameter=name,
            ))


class _Params(Mapping[str, Definition]):
    """MainCf.params: a read-only view that builds each Definition when it is read."""

    def __init__(self, main: MainCf) -> None:
        self._main = main

    def __getitem__(self, name: str) -> Definition:
        return self._main.definition(self._main._last[name])

    def __contains__(self, name: object) -> bool:
        return name in self._main._last

    def __iter__(self) -> Iterator[str]:
        return iter(self._main._last)

    def __len__(self) -> int:
        return len(self._main._last)


class _Definitions(Sequence[Definition]):
    """MainCf.definitions: every definition in file order, built when read."""

    def __init__(self, main: MainCf) -> None:
        self._main = main

    @overload
    def __getitem__(self, index: int) -> Definition: ...

    @overload
    def __getitem__(self, index: slice) -> list[Definition]: ...

    def __getitem__(self, index: "int | slice") -> "Definition | list[Definition]":
        if isinstance(index, slice):
            return [self._main.definition(i) for i in range(len(self._main))[index]]
        if index < 0:
            index += len(self._main)
        if not 0 <= index < len(self._main):
            raise IndexError(index)
        return self._main.definition(index)

    def __len__(self) -> int:
        return len(self._main)


def split_nameval(text: str) -> tuple[Optional[str], int, str, str]:
    """Postfix's split_nameval(): (error, value offset, name, value). Error is None when valid."""
    start = len(text) - len(text.lstrip(POSTFIX_SPACE))
    if start == len(text) or text[start] == "=":
        return "missing attribute name", start, "", ""
    end = start
    while end < len(text) and text[end] not in POSTFIX_SPACE and text[end] != "=":
        end += 1
    equals = end
    while equals < len(text) and text[equals] in POSTFIX_SPACE:
        equals += 1
    if equals >= len(text) or text[equals] != "=":
        return "missing '=' after attribute name", start, "", ""
    value_start = equals + 1
    while value_start < len(text) and text[value_start] in POSTFIX_SPACE:
        value_start += 1
    return None, value_start, text[start:end], text[value_start:].rstrip(POSTFIX_SPACE)


def _logical_line(text: str, start: int, end: int, line: int) -> LogicalLine:
    """The logical line that starts at column 1 at `start` (physical line `line`) and whose
    physical lines end at `end`, exactly as logical_lines() builds it."""
    logical = next(logical_lines(text[start:end]))
    shift = line - 1
    return LogicalLine(logical.text, line, logical.starts, tuple(n + shift for n in logical.numbers))


def _orphan_issue(path: Path, logical: LogicalLine) -> ConfigIssue:
    shown = logical.text[:30] + ("..." if len(logical.text) > 30 else "")
    return ConfigIssue(
        path, logical.line, 1,
        f'logical line must not start with whitespace: "{shown}"; Postfix ignores it',
        "orphan-line",
    )


def _general(result: MainCf, logical: LogicalLine, start: int, end: int) -> None:
    """A logical line the fast path does not take: continued, or not `name = value`."""
    if logical.orphan:
        result.issues.append(_orphan_issue(result.path, logical))
        return
    error, _, name, _ = split_nameval(logical.text)
    if error is not None:
        shown = logical.text if len(logical.text) <= 60 else logical.text[:60] + "..."
        result.issues.append(ConfigIssue(
            result.path, logical.line, 1,
            f'{error}: "{shown}"; every Postfix program exits with this fatal error',
            "missing-equals" if "'='" in error else "missing-name",
            fatal=True,
        ))
        return
    result._add(name, start, logical.line, end, _MULTI_LINE)


def parse_main_cf(source: SourceText) -> MainCf:
    """Parse main.cf text. Never raises: problems become ConfigIssues."""
    text = source.text
    result = MainCf(source.path, text)
    line, counted = 1, 0
    leading_done = False
    for match in _DEFINITION.finditer(text):
        start = match.start()
        if not leading_done:
            leading_done = True
            _leading_orphans(result, text[:start])
        line += text.count("\n", counted, start)
        counted = start
        name, tail = match.group(1), match.group(3)
        if name is not None and not (tail and _CONTINUATION.search(tail)):
            value_start, value_end = match.span(2)
            result._add(name, start, line, value_start, value_end)
            continue
        end = match.end()
        _general(result, _logical_line(text, start, end, line), start, end)
    if not leading_done:
        _leading_orphans(result, text)
    return result


def _leading_orphans(result: MainCf, text: str) -> None:
    """What comes before the first logical line at column 1: comments, blank lines and at most
    one orphan (indented lines continue it up to there)."""
    if text:
        for orphan in logical_lines(text):
            result.issues.append(_orphan_issue(result.path, orphan))
