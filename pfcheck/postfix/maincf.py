"""main.cf: `name = value` definitions as Postfix's dict_load_fp()/split_nameval() read them.

A main.cf may hold a million parameters (issue #8: 20 MB), so definitions are not kept as
objects. The parser makes one regex pass over the text and records, per definition, where it
sits in the text (four machine integers); `Definition` objects are built when someone asks for
one. Only logical lines that continue over several physical lines, or that are malformed, go
through the general `logical_lines()` / `split_nameval()` path, which is the reference for both.
"""
from __future__ import annotations

import bisect
import itertools
import operator
import re
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence, overload

from pfcheck.excerpt import shortened
from pfcheck.postfix.issues import ConfigIssue
from pfcheck.postfix.lines import LogicalLine, logical_lines
from pfcheck.postfix.lines import POSTFIX_SPACE
from pfcheck.postfix.source import SourceText


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


class MainCf:
    """A parsed main.cf: every definition in file order, the last one of each name, and issues.

    Storage is five arrays of machine integers per definition, plus the text. Names are found
    through a sorted array of (name hash, definition index) keys rather than a dict: a dict of a
    million names with their strings and index objects would be 140 MB, this is 8 MB.
    """

    def __init__(self, path: Path, text: str = "") -> None:
        self.path = path
        self.issues: list[ConfigIssue] = []
        self.present = True
        self._text = text
        # Per definition, in file order: where its logical line starts, its line number, and
        # whether it is the first / last definition of its name. Where the value is, is found
        # again by matching _DEFINITION there when someone reads it.
        self._starts = array("q")
        self._lines = array("i")
        self._flags = array("b")
        #: Definitions that only the general path reads (`name` and `=` on different lines).
        self._general: set[int] = set()
        #: sorted (hash of name << _INDEX_BITS | index) keys; built by _index_names().
        self._keys = array("q")
        self._name_count = 0
        self._found: dict[str, int] = {}
        self._containing: dict[str, list[str]] = {}

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
        text, starts, flags = self._text, self._starts, self._flags
        for index in range(len(starts)):
            if flags[index] & _FIRST:
                yield _NAME.match(text, starts[index]).group()  # type: ignore[union-attr]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._last(name) >= 0

    def get(self, name: str) -> Optional[Definition]:
        index = self._last(name)
        return None if index < 0 else self.definition(index)

    def value(self, name: str) -> Optional[str]:
        """The raw value in force, without building a Definition."""
        index = self._last(name)
        return None if index < 0 else self._value(index)

    def names_containing(self, char: str) -> list[str]:
        """Names whose value in force contains `char`, in file order (one C-speed search per
        definition that has it, not one per definition)."""
        cached = self._containing.get(char)
        if cached is not None:
            return cached
        text, starts, found = self._text, self._starts, []
        position = text.find(char)
        while position >= 0:
            index = bisect.bisect_right(starts, position) - 1
            span = self._value_span(index) if index >= 0 else None
            held = span[0] <= position < span[1] if span is not None else index >= 0 and self._holds(index, position)
            if not held:
                position = text.find(char, position + 1)  # a comment, a name, ...
                continue
            # In a one-line value, `position` is an occurrence of `char`.
            if self._flags[index] & _LAST and (span is not None or char in self._value(index)):
                name = _NAME.match(text, starts[index]).group()  # type: ignore[union-attr]
                found.append(name)
                self._remember_found(name, index)  # callers look these up next
            following = starts[index + 1] if index + 1 < len(starts) else len(text)
            position = text.find(char, max(following, position + 1))
        self._containing[char] = found
        return found

    def names_starting(self, prefix: str) -> list[str]:
        """Defined names that start with `prefix`, in file order, found with a text search."""
        text, starts, found = self._text, self._starts, []
        line_starts = [0] if text.startswith(prefix) else []
        position = text.find("\n" + prefix)
        while position >= 0:
            line_starts.append(position + 1)
            position = text.find("\n" + prefix, position + 1)
        for position in line_starts:
            index = bisect.bisect_right(starts, position) - 1
            if index >= 0 and starts[index] == position and self._flags[index] & _FIRST:
                found.append(_NAME.match(text, position).group())  # type: ignore[union-attr]
        return found

    def logical_line_of(self, name: str) -> Optional[tuple[int, LogicalLine]]:
        """The last definition of `name` (the one Postfix uses) as (text offset of its first
        physical line, its logical line); None when undefined. For edits (`pfcheck --fix`)."""
        index = self._last(name)
        if index < 0:
            return None
        start = self._starts[index]
        end = _DEFINITION.match(self._text, start).end()  # type: ignore[union-attr]
        return start, _logical_line(self._text, start, end, self._lines[index])

    def history(self, name: str) -> list[Definition]:
        return [self.definition(i) for i in self._all_of(name)]

    # -- storage ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._starts)

    def definition(self, index: int) -> Definition:
        start, line = self._starts[index], self._lines[index]
        span = self._value_span(index)
        if span is not None:
            name = _NAME.match(self._text, start).group()  # type: ignore[union-attr]
            return Definition(name, self._text[span[0]:span[1]], self.path, line, 1, line, span[0] - start + 1)
        logical = _logical_line(self._text, start, _DEFINITION.match(self._text, start).end(), line)  # type: ignore[union-attr]
        _, value_offset, name, value = split_nameval(logical.text)
        value_line, value_column = logical.position(value_offset)
        return Definition(name, value, self.path, line, 1, value_line, value_column)

    def _value_span(self, index: int) -> Optional[tuple[int, int]]:
        """(start, end) of a one-line value in the text; None for a value over several lines."""
        if index in self._general:
            return None
        match = _DEFINITION.match(self._text, self._starts[index])
        assert match is not None and match.group(1) is not None
        tail = match.group(3)
        if tail and _CONTINUATION.search(tail):
            return None
        return match.span(2)

    def _value(self, index: int) -> str:
        span = self._value_span(index)
        if span is not None:
            return self._text[span[0]:span[1]]
        return self.definition(index).value

    def _holds(self, index: int, position: int) -> bool:
        """Whether text position lies in the definition's value (or its logical line)."""
        span = self._value_span(index)
        if span is None:
            return position < _DEFINITION.match(self._text, self._starts[index]).end()  # type: ignore[union-attr]
        return span[0] <= position < span[1]

    def _is_named(self, index: int, name: str) -> bool:
        start = self._starts[index]
        end = start + len(name)
        text = self._text
        return text.startswith(name, start) and (end == len(text) or text[end] in _NAME_END)

    def _all_of(self, name: str) -> list[int]:
        """Indexes of every definition of `name`, in file order."""
        keys = self._keys
        prefix = _hash_prefix(name)
        position = bisect.bisect_left(keys, prefix << _INDEX_BITS)
        found = []
        while position < len(keys) and keys[position] >> _INDEX_BITS == prefix:
            index = keys[position] & _INDEX_MASK
            if self._is_named(index, name):
                found.append(index)
            position += 1
        return found

    def _last(self, name: str) -> int:
        """Index of the definition in force, or -1. A few recent answers are kept: expansion
        asks for the same names (myhostname, ...) over and over."""
        found = self._found.get(name)
        if found is None:
            every = self._all_of(name)
            found = every[-1] if every else -1
            self._remember_found(name, found)
        return found

    def _remember_found(self, name: str, index: int) -> None:
        if len(self._found) >= _FOUND_CACHE:
            self._found.clear()  # bounded: a million distinct names must not all stay here
        self._found[name] = index

    def _index_names(self, names: "array[int]") -> None:
        """Sort the (hash, index) keys; mark first and last definitions; report redefinitions."""
        count = len(self._starts)
        if count > _INDEX_MASK:
            raise ValueError(f"{self.path}: more than {_INDEX_MASK} definitions")
        ordered = sorted(names)
        self._keys = array("q", ordered)
        self._flags = array("b", bytes([_FIRST | _LAST])) * count
        # Neighbours with the same hash prefix, found at C speed (map/compress, no Python loop
        # per definition): redefinitions, and the rare different names that share a prefix.
        shift = itertools.repeat(_INDEX_BITS)
        same = list(itertools.compress(itertools.count(), map(
            operator.eq, map(operator.rshift, ordered, shift), map(operator.rshift, itertools.islice(ordered, 1, None), shift))))
        del ordered
        keys, flags = self._keys, self._flags
        run: list[int] = []
        for position in same:
            if run and run[-1] != position:
                self._same_hash([keys[i] & _INDEX_MASK for i in run])
                run = []
            if not run:
                run.append(position)
            run.append(position + 1)
        if run:
            self._same_hash([keys[i] & _INDEX_MASK for i in run])
        packed = flags.tobytes()
        self._name_count = packed.count(_FIRST) + packed.count(_FIRST | _LAST)
        self.issues.sort(key=lambda issue: issue.line)

    def _same_hash(self, indexes: list[int]) -> None:
        """Definitions whose names share a hash prefix: group by name, in file order."""
        groups: dict[str, list[int]] = {}
        for index in indexes:
            name = _NAME.match(self._text, self._starts[index]).group()  # type: ignore[union-attr]
            groups.setdefault(name, []).append(index)
        for name, group in groups.items():
            if len(group) < 2:
                continue
            for earlier, later in zip(group, group[1:]):
                self._flags[earlier] &= ~_LAST
                self._flags[later] &= ~_FIRST
                old_value = self._value(earlier)
                if old_value != self._value(later):
                    self.issues.append(ConfigIssue(
                        self.path, self._lines[later], 1,
                        f"overriding earlier entry at line {self._lines[earlier]}: {name}={old_value}",
                        "duplicate", parameter=name,
                    ))


_FIRST = 1
_LAST = 2
_INDEX_BITS = 26  # 64 MiB of `a=\n` lines is 22 M definitions
_INDEX_MASK = (1 << _INDEX_BITS) - 1
_HASH_MASK = (1 << (63 - _INDEX_BITS)) - 1
_NAME_END = frozenset(" \t\v\f\r\n=")
_FOUND_CACHE = 1 << 18


def _hash_prefix(name: str) -> int:
    return hash(name) & _HASH_MASK


class _Params(Mapping[str, Definition]):
    """MainCf.params: a read-only view that builds each Definition when it is read."""

    def __init__(self, main: MainCf) -> None:
        self._main = main

    def __getitem__(self, name: str) -> Definition:
        found = self._main.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._main

    def __iter__(self) -> Iterator[str]:
        return self._main.names()

    def __len__(self) -> int:
        return self._main._name_count


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
    shown = shortened(logical.text, 30)
    return ConfigIssue(
        path, logical.line, 1,
        f'logical line must not start with whitespace: "{shown}"; Postfix ignores it',
        "orphan-line",
    )


def _general(result: MainCf, keys: "array[int]", logical: LogicalLine, start: int, end: int) -> None:
    """A logical line the fast path does not take: continued, or not `name = value`."""
    if logical.orphan:
        result.issues.append(_orphan_issue(result.path, logical))
        return
    error, _, name, _ = split_nameval(logical.text)
    if error is not None:
        shown = shortened(logical.text, 60)
        result.issues.append(ConfigIssue(
            result.path, logical.line, 1,
            f'{error}: "{shown}"; every Postfix program exits with this fatal error',
            "missing-equals" if "'='" in error else "missing-name",
            fatal=True,
        ))
        return
    keys.append(_hash_prefix(name) << _INDEX_BITS | len(result))
    result._general.add(len(result))
    result._starts.append(start)
    result._lines.append(logical.line)


def parse_main_cf(source: SourceText) -> MainCf:
    """Parse main.cf text. Never raises: problems become ConfigIssues."""
    text = source.text
    result = MainCf(source.path, text)
    keys = array("q")
    line, counted = 1, 0
    leading_done = False
    # The loop runs once per definition (a million times for 20 MB): bound methods, no calls.
    add_key, add_start, add_line = keys.append, result._starts.append, result._lines.append
    count_lines = text.count
    for match in _DEFINITION.finditer(text):
        start = match.start()
        if not leading_done:
            leading_done = True
            _leading_orphans(result, text[:start])
        line += count_lines("\n", counted, start)
        counted = start
        name = match.group(1)
        if name is not None:
            # `name =` on the first line: the name and validity are known, the value is found
            # again when someone reads it.
            add_key((hash(name) & _HASH_MASK) << _INDEX_BITS | len(keys))
            add_start(start)
            add_line(line)
            continue
        end = match.end()
        _general(result, keys, _logical_line(text, start, end, line), start, end)
    if not leading_done:
        _leading_orphans(result, text)
    for empty in source.null_started_lines:
        # The logical line is the empty C string before the NUL (source._as_postfix_reads_nul).
        result.issues.append(ConfigIssue(
            result.path, empty, 1,
            'missing attribute name: ""; every Postfix program exits with this fatal error', "missing-name", fatal=True,
        ))
    if source.null_started_lines:
        result.issues.sort(key=lambda issue: issue.line)  # Postfix stops at the first one
    result._index_names(keys)
    del keys  # (the sorted copy is kept)
    return result


def _leading_orphans(result: MainCf, text: str) -> None:
    """What comes before the first logical line at column 1: comments, blank lines and at most
    one orphan (indented lines continue it up to there)."""
    if text:
        for orphan in logical_lines(text):
            result.issues.append(_orphan_issue(result.path, orphan))
