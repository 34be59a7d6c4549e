"""Text edits on main.cf and master.cf, computed from the parser's positions (`pfcheck --fix`).

An `Edit` replaces a range of a file's text (offsets into `SourceText.text`, with the 1-based
line and column of its start for messages). A `Fix` is the edits of one fix and the one
parameter whose value it means to change; whether it may be applied is decided elsewhere
(pfcheck/engine/fixing.py proves it first). The constructors here only say *where*: the last
definition of a main.cf name (the one Postfix uses), continuation lines, and master.cf `-o`
tokens in multi-line entries, `-oname=value` and `-o { name = value }` included. Comment lines
between physical lines are kept; a continuation line left blank by an edit is removed whole.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from pfcheck.postfix.lines import POSTFIX_SPACE, LogicalLine, logical_lines, split_braced
from pfcheck.postfix.maincf import MainCf
from pfcheck.postfix.mastercf import MASTER_BLANKS, Service
from pfcheck.postfix.source import SourceText


@dataclass(frozen=True)
class Edit:
    """Replace text[start:end] of the file at `path` with `replacement`."""

    path: Path
    start: int
    end: int
    replacement: str
    line: int
    column: int


@dataclass(frozen=True)
class Fix:
    """The edits of one fix, the parameter whose value they change, and what they do in words."""

    parameter: str
    description: str
    edits: tuple[Edit, ...]

    @property
    def paths(self) -> list[Path]:
        return sorted({edit.path for edit in self.edits})


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """The text with every edit applied (they must not overlap; ValueError otherwise)."""
    ordered = sorted(edits, key=lambda edit: (edit.start, edit.end))
    for earlier, later in zip(ordered, ordered[1:]):
        if later.start < earlier.end:
            raise ValueError(f"overlapping edits at line {later.line}")
    parts: list[str] = []
    position = 0
    for edit in ordered:
        parts.append(text[position:edit.start])
        parts.append(edit.replacement)
        position = edit.end
    parts.append(text[position:])
    return "".join(parts)


def editable_reason(source: Optional[SourceText]) -> Optional[str]:
    """Why a file's text cannot be edited byte for byte (None when it can): a file pfcheck did
    not read whole as text, or one whose NUL bytes Postfix reads differently from the text."""
    if source is None:
        return "there is no such file in the directory (Postfix's default is in use)"
    if not source.checkable:
        return "the file is not checked (PF900)"
    if source.null_started_lines or any("NUL byte" in issue.message for issue in source.issues):
        return "the file holds NUL bytes"
    return None


class _Physical:
    """Where the physical lines of one logical line are in the file's text."""

    def __init__(self, text: str, logical: LogicalLine, base: int) -> None:
        self.text = text
        self.logical = logical
        # File offset of each physical line in logical.numbers (comment lines in between are
        # skipped by the logical line, not by the file).
        self.offsets: list[int] = []
        position, number = base, logical.numbers[0]
        for wanted in logical.numbers:
            while number < wanted:
                position = text.index("\n", position) + 1
                number += 1
            self.offsets.append(position)

    def segment_of(self, logical_offset: int) -> int:
        starts = self.logical.starts
        index = 0
        while index + 1 < len(starts) and starts[index + 1] <= logical_offset:
            index += 1
        return index

    def file_offset(self, logical_offset: int) -> int:
        index = self.segment_of(logical_offset)
        return self.offsets[index] + logical_offset - self.logical.starts[index]

    def segment_end(self, index: int) -> int:
        """Logical offset where segment `index` ends."""
        starts = self.logical.starts
        return starts[index + 1] if index + 1 < len(starts) else len(self.logical.text)

    def replace(self, path: Path, start: int, end: int, replacement: str) -> list[Edit]:
        """Edits that replace logical text [start, end) with `replacement`: the first physical
        line of the range gets it, the range's part of later ones is removed, and a
        continuation line that only whitespace is left on is removed whole (with its newline)."""
        edits: list[Edit] = []
        first = self.segment_of(start)
        for index in range(first, len(self.logical.starts)):
            seg_start, seg_end = self.logical.starts[index], self.segment_end(index)
            if seg_start >= end and index > first:
                break
            low, high = max(start, seg_start), min(end, seg_end)
            text = replacement if index == first else ""
            left = self.logical.text[seg_start:low] + text + self.logical.text[high:seg_end]
            line = self.logical.numbers[index]
            if index > 0 and not left.strip(POSTFIX_SPACE):
                line_start = self.offsets[index]
                newline = self.text.find("\n", line_start)
                line_end = len(self.text) if newline < 0 else newline + 1
                edits.append(Edit(path, line_start, line_end, "", line, 1))
            elif low < high or text:
                offset = self.offsets[index] + low - seg_start
                edits.append(Edit(path, offset, self.offsets[index] + high - seg_start, text, line,
                                  low - seg_start + 1))
        return edits

    def line_ending(self) -> str:
        """The line ending of the logical line's first physical line."""
        newline = self.text.find("\n", self.offsets[0])
        return "\r\n" if newline > 0 and self.text[newline - 1] == "\r" else "\n"


def _main_line(main: MainCf, source: SourceText, name: str) -> Optional[tuple[_Physical, int, int]]:
    """The last definition of `name`: its physical lines and the logical offsets of its value."""
    found = main.logical_line_of(name)
    if found is None:
        return None
    base, logical = found
    physical = _Physical(source.text, logical, base)
    text = logical.text
    equals = text.find("=")
    if equals < 0:
        return None
    value_start = equals + 1
    while value_start < len(text) and text[value_start] in POSTFIX_SPACE:
        value_start += 1
    value_end = len(text.rstrip(POSTFIX_SPACE))
    return physical, value_start, max(value_end, value_start)


def set_main_value(main: MainCf, source: SourceText, name: str, value: str, description: str) -> Optional[Fix]:
    """Set the value of the last main.cf definition of `name` in place."""
    found = _main_line(main, source, name)
    if found is None:
        return None
    physical, start, end = found
    return Fix(name, description, tuple(physical.replace(source.path, start, end, value)))


def append_main(source: SourceText, name: str, value: str, description: str) -> Fix:
    """Add `name = value` as the last line of main.cf (in the file's line ending style)."""
    text = source.text
    ending = "\r\n" if "\r\n" in text else "\n"
    prefix = "" if not text or text.endswith("\n") else ending
    line = text.count("\n") + 1 + (1 if prefix else 0) if text else 1
    return Fix(name, description, (Edit(source.path, len(text), len(text), f"{prefix}{name} = {value}{ending}", line, 1),))


def trailing_comment(value: str) -> Optional[int]:
    """Where a `#` that a reader takes for a comment starts in a value (after whitespace, with
    text before it), or None. Postfix keeps it in the value: it has whole-line comments only."""
    for index, char in enumerate(value):
        if char == "#" and index > 0 and value[index - 1] in POSTFIX_SPACE and value[:index].strip(POSTFIX_SPACE):
            return index
    return None


def move_comment_above(main: MainCf, source: SourceText, name: str, description: str) -> Optional[Fix]:
    """Move the trailing `# comment` of the last definition of `name` onto its own line above
    the definition. None when the value has none, or when the comment spans several lines."""
    found = _main_line(main, source, name)
    if found is None:
        return None
    physical, start, end = found
    value = physical.logical.text[start:end]
    hash_at = trailing_comment(value)
    if hash_at is None:
        return None
    comment_start = start + hash_at
    if physical.segment_of(comment_start) != physical.segment_of(end - 1):
        return None
    kept_end = start + len(value[:hash_at].rstrip(POSTFIX_SPACE))
    comment = physical.logical.text[comment_start:end]
    line = physical.logical.numbers[0]
    above = Edit(source.path, physical.offsets[0], physical.offsets[0], comment + physical.line_ending(), line, 1)
    return Fix(name, description, (above, *physical.replace(source.path, kept_end, end, "")))


# --- master.cf -o ------------------------------------------------------------------------


def _service_line(source: SourceText, service: Service) -> Optional[_Physical]:
    """The physical lines of a master.cf entry. The entries' logical lines and the offsets of
    the physical lines are found once per text (a master.cf may have 100,000 entries, each
    with a fixable finding)."""
    index = source.__dict__.get("_entries_for_edits")
    if index is None or index[0] is not source.text:
        by_line = {logical.line: logical for logical in logical_lines(source.text)}
        line_starts = [0]
        position = source.text.find("\n")
        while position >= 0:
            line_starts.append(position + 1)
            position = source.text.find("\n", position + 1)
        index = source.__dict__["_entries_for_edits"] = (source.text, by_line, line_starts)
    _text, by_line, line_starts = index
    logical = by_line.get(service.line)
    if logical is None or service.line > len(line_starts):
        return None
    return _Physical(source.text, logical, line_starts[service.line - 1])


def _override_tokens(physical: _Physical, service: Service, name: str) -> list[tuple[int, int, str, bool]]:
    """Every `-o` of `name` in the entry: (token offset, token end, token text, attached form
    `-oname=value`) in logical offsets; the token is the `name=value` word (or `{...}` group)."""
    logical = physical.logical
    tokens = list(split_braced(logical.text, MASTER_BLANKS))
    found: list[tuple[int, int, str, bool]] = []
    for override in service.overrides:
        if override.name != name:
            continue
        try:
            segment = logical.numbers.index(override.line)
        except ValueError:
            return []
        offset = logical.starts[segment] + override.column - 1
        match = None
        for index, (text, start) in enumerate(tokens):
            if start == offset and index > 0 and tokens[index - 1][0] == "-o":
                match = (start, start + len(text), text, False)
            elif start + 2 == offset and text.startswith("-o") and len(text) > 2:
                match = (start, start + len(text), text, True)
        if match is None:
            return []  # a grouped form such as `-vo name=value`: not edited
        found.append(match)
    return found


def _overrides_of(source: SourceText, service: Service,
                  name: str) -> Optional[tuple[_Physical, list[tuple[int, int, str, bool]]]]:
    """The entry's physical lines and its `-o name=...` tokens; None when there are none."""
    physical = _service_line(source, service)
    if physical is None:
        return None
    tokens = _override_tokens(physical, service, name)
    return (physical, tokens) if tokens else None


def set_override_value(source: SourceText, service: Service, name: str, value: str, description: str) -> Optional[Fix]:
    """Set the value of the service's last `-o name=...` in place (plain, attached or braced)."""
    found = _overrides_of(source, service, name)
    if found is None:
        return None
    physical, tokens = found
    start, end, text, attached = tokens[-1]
    equals = text.find("=")
    if equals < 0:
        return None
    value_start = equals + 1
    value_end = len(text)
    if text.startswith("{"):
        while value_start < len(text) and text[value_start] in POSTFIX_SPACE:
            value_start += 1
        close = text.rfind("}")
        value_end = len(text[:close].rstrip(POSTFIX_SPACE)) if close > 0 else len(text)
    return Fix(name, description, tuple(physical.replace(source.path, start + value_start, start + max(value_end, value_start), value)))


def drop_overrides(source: SourceText, service: Service, name: str, description: str) -> Optional[Fix]:
    """Remove every `-o name=...` of the service, with the blank before it (and the line, when
    the option was alone on a continuation line)."""
    found = _overrides_of(source, service, name)
    if found is None:
        return None
    physical, tokens = found
    text = physical.logical.text
    edits: list[Edit] = []
    for start, end, _word, attached in tokens:
        option = start if attached else text.rfind("-o", 0, start)
        segment = physical.segment_of(option)
        segment_start, segment_end = physical.logical.starts[segment], physical.segment_end(segment)
        begin, finish = option, end
        while begin > segment_start and text[begin - 1] in POSTFIX_SPACE:
            begin -= 1
        following = finish
        while following < segment_end and text[following] in POSTFIX_SPACE:
            following += 1
        if begin == segment_start and segment > 0 and following < segment_end:
            # First on a continuation line with more after it: keep the line's indentation.
            begin, finish = option, following
        edits.extend(physical.replace(source.path, begin, finish, ""))
    return Fix(name, description, tuple(edits))
