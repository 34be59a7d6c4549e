"""Logical lines exactly as Postfix's `readllines()` builds them (util/readlline.c).

* A physical line that is empty, all whitespace, or whose first non-whitespace character is
  `#` is skipped, and it does NOT end the logical line being built: an indented line after any
  number of comment or blank lines still continues the previous parameter.
* A line that starts with whitespace continues the current logical line. Physical lines are
  joined with no separator (the continuation's own leading whitespace separates).
* A logical line that itself starts with whitespace (nothing before it) is dropped by Postfix
  with the warning "logical line must not start with whitespace".
* Only `\n` ends a physical line; a `\r` before it stays in the text (and is whitespace).
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Iterator

#: C isspace(): what Postfix skips around names, values and fields.
POSTFIX_SPACE = " \t\n\v\f\r"


_SPACE_RUN = re.compile(f"[{re.escape(POSTFIX_SPACE)}]+")


@dataclass(frozen=True)
class LogicalLine:
    """One logical line; `starts` maps text offsets back to physical lines."""

    text: str
    line: int
    starts: tuple[int, ...]
    numbers: tuple[int, ...]

    @property
    def orphan(self) -> bool:
        """True when Postfix drops the line: it starts with whitespace."""
        return self.text[:1] in tuple(POSTFIX_SPACE)

    @property
    def last_line(self) -> int:
        return self.numbers[-1]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a text offset."""
        index = max(bisect.bisect_right(self.starts, offset) - 1, 0)
        return self.numbers[index], offset - self.starts[index] + 1


def _is_comment_or_blank(raw: str) -> bool:
    stripped = raw.lstrip(POSTFIX_SPACE)
    return not stripped or stripped[0] == "#"


def logical_lines(text: str) -> Iterator[LogicalLine]:
    """Yield logical lines, including orphans (callers warn about and skip those)."""
    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    parts: list[str] = []
    starts: list[int] = []
    numbers: list[int] = []
    length = 0
    for number, raw in enumerate(physical, start=1):
        if _is_comment_or_blank(raw):
            continue
        if parts and raw[0] in POSTFIX_SPACE:
            starts.append(length)
            numbers.append(number)
            parts.append(raw)
            length += len(raw)
            continue
        if parts:
            yield LogicalLine("".join(parts), numbers[0], tuple(starts), tuple(numbers))
        parts, starts, numbers, length = [raw], [0], [number], len(raw)
    if parts:
        yield LogicalLine("".join(parts), numbers[0], tuple(starts), tuple(numbers))


#: CHARS_COMMA_SP (global/mail_params.h): the separators of Postfix's lists (restriction lists,
#: match lists, map lists, name masks, smtpd_restriction_classes).
CHARS_COMMA_SP = ", \t\r\n"
_COMMA_SP_RUN = re.compile(f"[{re.escape(CHARS_COMMA_SP)}]+")


def split_comma_space(value: str) -> list[str]:
    """mystrtok(value, CHARS_COMMA_SP): the words of a list, without brace grouping."""
    return [word for word in _COMMA_SP_RUN.split(value) if word]


def strip_postfix_space(text: str) -> str:
    return text.strip(POSTFIX_SPACE)


def collapse_space(text: str) -> str:
    """How postconf displays a value: whitespace runs collapsed to one space."""
    return _SPACE_RUN.sub(" ", text).strip(" ")


def split_braced(value: str, separators: str) -> Iterator[tuple[str, int]]:
    """Postfix's mystrtokq(value, separators, "{}"): (token, offset) pairs, where a `{...}`
    group (even unbalanced, to the end) keeps separators inside one token."""
    position = 0
    length = len(value)
    while position < length:
        while position < length and value[position] in separators:
            position += 1
        if position >= length:
            return
        start = position
        level = 0
        while position < length:
            char = value[position]
            if char == "{":
                level += 1
            elif level > 0 and char == "}":
                level -= 1
            elif level == 0 and char in separators:
                break
            position += 1
        yield value[start:position], start
