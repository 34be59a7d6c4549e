"""A tiny reader for the plain YAML the built-in policy is written in, without ruamel.yaml.

A run without a policy file needs only `pfcheck/policy/default.yaml`; importing ruamel.yaml and
composing that file costs ~15 ms of a ~140 ms run. `compose_plain(text)` builds the same nodes
ruamel.yaml's composer builds (the `tag`, `value` and `start_mark.line/column` the validator
reads) for a strict subset of YAML 1.2:

* block mappings of `key: value` (keys: plain words or double-quoted without escapes), nested
  by indentation, and block sequences of scalars (`- item`);
* scalars: plain words (str; `true`/`false` in YAML 1.2's three spellings are bool, `null`/`~`
  null), unsigned decimal integers, and quoted text without escapes;
* one-line flow mappings of such scalars (`PF801: {severity: off}`) and one-line flow
  sequences of them (`allowed: ["127.0.0.0/8", "[::1]/128"]`, as policy files write lists);
* comments on their own line or after a value.

Anything else (tabs, anchors, tags, block scalars, nested flow collections, empty values, a key
without a nested block, ...) returns None, and the caller composes the text with ruamel.yaml. So the
subset only has to be right where it answers: tests/engine/test_policy_tiny_yaml.py compares
its nodes with ruamel.yaml's on default.yaml and on generated documents.
"""
from __future__ import annotations

import re
from typing import Any, Optional

_TAG = "tag:yaml.org,2002:"
STR, INT, BOOL, NULL, MAP, SEQ = (_TAG + name for name in ("str", "int", "bool", "null", "map", "seq"))

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_INT = re.compile(r"0|[1-9][0-9]*")
_KEY = re.compile(r'(?:([A-Za-z_][A-Za-z0-9_\-]*)|"([^"\\]*)")(:)(?= |$)')
#: ASCII characters YAML 1.2 does not allow in a stream (ruamel.yaml's reader refuses them).
#: Beyond ASCII, what YAML allows is tested per distinct character (_printable_beyond_ascii):
#: one pattern for all of Unicode cost ~2 ms to compile on every run.
_NOT_PRINTABLE_ASCII = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable_beyond_ascii(text: str) -> bool:
    """Whether every non-ASCII character of `text` is one YAML 1.2 allows in a stream
    (#x85, #xA0-#xD7FF, #xE000-#xFFFD, #x10000-#x10FFFF)."""
    for character in set(text):
        point = ord(character)
        if point > 0x7F and not (point == 0x85 or 0xA0 <= point <= 0xD7FF or 0xE000 <= point <= 0xFFFD
                                 or point >= 0x10000):
            return False
    return True
#: Deeper block nesting is left to ruamel.yaml (and its error for very deep documents).
MAX_DEPTH = 32
_BOOLS = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})
_NULLS = frozenset({"null", "Null", "NULL", "~"})


class Mark:
    __slots__ = ("line", "column")

    def __init__(self, line: int, column: int) -> None:
        self.line, self.column = line, column


class Node:
    """What the validator reads of a ruamel.yaml node: tag, value, start_mark."""

    __slots__ = ("tag", "value", "start_mark")

    def __init__(self, tag: str, value: Any, line: int, column: int) -> None:
        self.tag, self.value, self.start_mark = tag, value, Mark(line, column)


class _Unsupported(Exception):
    """Outside the subset: ruamel.yaml reads the text."""


def _scalar(text: str, line: int, column: int, flow: bool = False) -> Node:
    """One scalar token (already cut at its end), at (line, column)."""
    if text[:1] in "\"'":
        quote = text[0]
        if len(text) < 2 or text[-1] != quote or quote in text[1:-1] or "\\" in text:
            raise _Unsupported
        return Node(STR, text[1:-1], line, column)
    if flow and any(c in text for c in "{}[],"):
        raise _Unsupported
    if text in _BOOLS:
        return Node(BOOL, text, line, column)
    if text in _NULLS:
        return Node(NULL, text, line, column)
    if _INT.fullmatch(text):
        return Node(INT, text, line, column)
    if _WORD.fullmatch(text):
        return Node(STR, text, line, column)
    raise _Unsupported


def _value_text(rest: str) -> str:
    """A value's text without a trailing comment (` #...`) and trailing spaces."""
    if rest[:1] in "\"'":
        end = rest.find(rest[0], 1)
        if end < 0:
            raise _Unsupported
        tail = rest[end + 1:]
        if tail.strip() and not tail.lstrip().startswith("#") or (tail and not tail[0].isspace()):
            raise _Unsupported
        return rest[: end + 1]
    cut = rest.find(" #")
    value = (rest if cut < 0 else rest[:cut]).rstrip()
    if "#" in value:
        raise _Unsupported
    return value


def _flow_mapping(text: str, line: int, column: int) -> Node:
    """`{key: value, key: value}` on one line (text starts at `{`, at column)."""
    if not text.endswith("}") or text.count("{") != 1 or text.count("}") != 1:
        raise _Unsupported
    items = []
    inner_start = column + 1
    body = text[1:-1]
    offset = 0
    for part in body.split(","):
        stripped = part.strip()
        if not stripped:
            raise _Unsupported
        start = inner_start + offset + (len(part) - len(part.lstrip()))
        key, sep, value = stripped.partition(": ")
        if not sep or not value.strip() or ":" in value:
            raise _Unsupported
        value_start = start + len(key) + 2 + (len(value) - len(value.lstrip()))
        items.append((_scalar(key, line, start, flow=True), _scalar(value.strip(), line, value_start, flow=True)))
        offset += len(part) + 1
    if not items:
        raise _Unsupported
    return Node(MAP, items, line, column)


def compose_plain(text: str) -> Optional[Node]:
    """The root node of `text`, or None when the text is outside the subset (or empty)."""
    if "\t" in text or "\r" in text or _NOT_PRINTABLE_ASCII.search(text) \
            or not (text.isascii() or _printable_beyond_ascii(text)):
        return None
    lines = []
    for number, raw in enumerate(text.split("\n")):
        stripped = raw.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        if raw.rstrip() != raw:
            return None  # trailing spaces: not worth the subtleties
        if stripped[0] in "&*!|>[?%@`" or stripped.startswith("---") or stripped.startswith("..."):
            return None
        lines.append((number, len(raw) - len(stripped), stripped))
    if not lines:
        return None
    try:
        node, end = _block(lines, 0, lines[0][1])
    except (_Unsupported, IndexError):
        return None
    return node if end == len(lines) else None


def _flow_sequence(text: str, line: int, column: int) -> Node:
    """`[item, item]` on one line (text starts at `[`, at column): scalars only, quoted ones
    may hold commas and brackets; `[]` is an empty sequence, a trailing comma is declined."""
    if not text.endswith("]"):
        raise _Unsupported
    end = len(text) - 1
    items: list[Node] = []
    position = _past_spaces(text, 1, end)
    while position < end:
        if text[position] in "\"'":
            close = text.find(text[position], position + 1)
            if close < 0 or close >= end:
                raise _Unsupported
            token_end = close + 1
        else:
            token_end = text.find(",", position)
            token_end = end if token_end < 0 else token_end
        items.append(_scalar(text[position:token_end].rstrip(" "), line, column + position, flow=True))
        position = _past_spaces(text, token_end, end)
        if position < end:
            if text[position] != ",":
                raise _Unsupported
            position = _past_spaces(text, position + 1, end)
            if position == end:
                raise _Unsupported  # `[a, ]`: a trailing comma
    return Node(SEQ, items, line, column)


def _past_spaces(text: str, position: int, end: int) -> int:
    while position < end and text[position] == " ":
        position += 1
    return position


def _block(lines: list[tuple[int, int, str]], index: int, indent: int, depth: int = 0) -> tuple[Node, int]:
    """The block collection starting at lines[index], whose entries are at `indent`."""
    number, column, text = lines[index]
    if column != indent or depth > MAX_DEPTH:
        raise _Unsupported
    if text.startswith("- ") or text == "-":
        return _sequence(lines, index, indent)
    items: list[tuple[Node, Node]] = []
    start = (number, column)
    while index < len(lines):
        number, column, text = lines[index]
        if column < indent:
            break
        if column > indent or text.startswith("-"):
            raise _Unsupported
        match = _KEY.match(text)
        if match is None:
            raise _Unsupported
        key = Node(STR, match.group(1) if match.group(1) is not None else match.group(2), number, column)
        rest = text[match.end():].lstrip(" ")
        value_column = column + len(text) - len(rest)
        index += 1
        if rest and not rest.startswith("#"):
            value = _value_text(rest)
            if value.startswith("{"):
                node = _flow_mapping(value, number, value_column)
            elif value.startswith("["):
                node = _flow_sequence(value, number, value_column)
            else:
                node = _scalar(value, number, value_column)
        else:
            # A nested block: deeper, or a sequence at the key's own indentation.
            if index >= len(lines):
                raise _Unsupported
            nested_indent = lines[index][1]
            is_sequence = lines[index][2].startswith("- ")
            if not (nested_indent > indent or (nested_indent == indent and is_sequence)):
                raise _Unsupported  # an empty value: null, positioned oddly by ruamel
            node, index = _block(lines, index, nested_indent, depth + 1)
        items.append((key, node))
    return Node(MAP, items, *start), index


def _sequence(lines: list[tuple[int, int, str]], index: int, indent: int) -> tuple[Node, int]:
    number, column, _text = lines[index]
    items: list[Node] = []
    start = (number, column)
    while index < len(lines):
        number, column, text = lines[index]
        if column < indent or not text.startswith("- "):
            break
        if column > indent:
            raise _Unsupported
        rest = text[2:].lstrip(" ")
        if not rest or rest.startswith("#") or _KEY.match(rest) or rest.startswith(("- ", "{")):
            raise _Unsupported
        items.append(_scalar(_value_text(rest), number, column + len(text) - len(rest)))
        index += 1
    return Node(SEQ, items, *start), index
