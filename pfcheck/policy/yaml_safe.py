"""Safe YAML: bytes to text, ruamel.yaml's composer without construction, and limits.

The policy is parsed with ruamel.yaml's round-trip parser and composer (YAML 1.2), and then
validated directly on the composed node graph (validate.py). Nothing is ever *constructed* from
the YAML, so no tag (`!!python/object:...` or any other) can run code, every node keeps its
exact position for error messages, and an alias used many times costs one node, not one copy
per use. The expanded size of the graph is measured before validation, which turns a "billion
laughs" file into a one-line error instead of a hang.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from pfcheck.policy.model import MAX_EXPANDED_NODES, MAX_FLOW_DEPTH, PolicyError


# --------------------------------------------------------------------------------------------
# YAML: reading bytes, composing nodes, measuring expansion


_TAG_PREFIX = "tag:yaml.org,2002:"
TAG_STR, TAG_INT, TAG_FLOAT, TAG_BOOL, TAG_NULL = (_TAG_PREFIX + name for name in ("str", "int", "float", "bool", "null"))
TAG_TIMESTAMP, TAG_MAP, TAG_SEQ, TAG_MERGE = (_TAG_PREFIX + name for name in ("timestamp", "map", "seq", "merge"))
_ALLOWED_TAGS = frozenset({TAG_STR, TAG_INT, TAG_FLOAT, TAG_BOOL, TAG_NULL, TAG_TIMESTAMP, TAG_MAP, TAG_SEQ, TAG_MERGE})


def node_tag(node: Any) -> str:
    tag = node.tag
    return tag if isinstance(tag, str) else str(getattr(tag, "value", tag))


def _tag_display(tag: str) -> str:
    return "!!" + tag[len(_TAG_PREFIX) :] if tag.startswith(_TAG_PREFIX) else tag


def node_position(node: Any) -> tuple[int, int]:
    mark = node.start_mark
    return mark.line + 1, mark.column + 1


def decode_policy_text(data: bytes, where: Union[str, Path, None]) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise PolicyError(where, 1, 1, "policy file is UTF-16 text; save it as UTF-8")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        line, column = _byte_position(data, nul)
        raise PolicyError(where, line, column, "policy file is binary (NUL byte), not YAML text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _byte_position(data, error.start)
        raise PolicyError(
            where, line, column, f"policy file is not UTF-8 text (byte 0x{data[error.start]:02x})"
        ) from None


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return line, column


def _text_position(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def check_flow_depth(text: str, where: Union[str, Path, None]) -> None:
    """Reject flow collections nested deeper than `MAX_FLOW_DEPTH`, in linear time."""
    too_deep = flow_depth_over(text, MAX_FLOW_DEPTH)
    if too_deep is not None:
        line, column = too_deep
        raise PolicyError(where, line, column, f"YAML nested deeper than {MAX_FLOW_DEPTH} levels")


def flow_depth_over(text: str, limit: int) -> Optional[tuple[int, int]]:
    """Where `[`/`{` nesting first exceeds `limit` (1-based line, column), or None.

    An approximation of YAML's lexical rules that never under-counts and over-counts only in
    exotic plain scalars: quoted scalars and comments are skipped, and outside flow context a
    bracket counts only where a value can start (line start, or after ": ", "- ", "? ").
    """
    depth = 0
    line, line_start = 1, 0
    last = ""  # last non-blank character on this line ("" at line start)
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char == "\n":
            line, line_start, last = line + 1, index + 1, ""
            index += 1
            continue
        if char in " \t":
            index += 1
            continue
        blank_before = index == line_start or text[index - 1] in " \t"
        if char == "#" and blank_before:
            newline = text.find("\n", index)
            index = length if newline < 0 else newline
            continue
        at_token_start = (
            last == ""
            or last in "[{,"
            or (last in ":-?" and blank_before)
            or (depth > 0 and last == ":")
        )
        if char in "'\"" and at_token_start:
            index = _skip_quoted(text, index)
            last = char
            continue
        if char in "[{" and (depth > 0 or at_token_start):
            depth += 1
            if depth > limit:
                return line, index - line_start + 1
        elif char in "]}" and depth > 0:
            depth -= 1
        elif depth == 0 and not at_token_start and char != ":":
            # Inside a block-context plain scalar (a key or a value): brackets there are text.
            # Skip to whichever comes first: the line's end, a comment, or a ": " after a key.
            newline = text.find("\n", index)
            newline = length if newline < 0 else newline
            stops = [newline]
            for marker in (" #", ": ", ":\t"):
                found = text.find(marker, index, newline)
                if found >= 0:
                    stops.append(found + 1 if marker[0] == ":" else found)
            if text.endswith(":", index, newline):
                stops.append(newline - 1)
            stop = min(stops)
            index = stop if stop > index else index + 1
            last = "x"
            continue
        last = char
        index += 1
    return None


def _skip_quoted(text: str, start: int) -> int:
    """Index just past the quoted scalar opening at `start` (or the end of the text)."""
    quote = text[start]
    index = start + 1
    while index < len(text):
        char = text[index]
        if quote == '"' and char == "\\":
            index += 2
            continue
        if char == quote:
            if quote == "'" and text.startswith("''", index):
                index += 2
                continue
            return index + 1
        index += 1
    return index


def compose(text: str, where: Union[str, Path, None]) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    yaml = YAML(typ="rt")
    try:
        root = yaml.compose(text)
    except ReaderError as error:
        line, column = _text_position(text, int(getattr(error, "position", 0) or 0))
        character = getattr(error, "character", "")
        if isinstance(character, str) and character:
            character = ord(character[0])
        code = f"U+{character:04X}" if isinstance(character, int) else repr(character)
        raise PolicyError(where, line, column, f"character {code} is not allowed in YAML") from None
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        parts = [part for part in (error.context, error.problem) if part]
        raise PolicyError(where, line, column, "invalid YAML: " + ": ".join(parts)) from None
    except RecursionError:
        raise PolicyError(where, 1, 1, "invalid YAML: nesting is too deep") from None
    except YAMLError as error:
        raise PolicyError(where, 1, 1, "invalid YAML: " + " ".join(str(error).split())) from None
    version = getattr(yaml, "version", None)
    if version is not None and tuple(version) != (1, 2):
        match = re.search(r"(?m)^%YAML\b", text)
        line = text.count("\n", 0, match.start()) + 1 if match else 1
        raise PolicyError(
            where,
            line,
            1,
            f"%YAML {version[0]}.{version[1]} directive: pfcheck reads policies as YAML 1.2 only "
            "(1.1 turns yes/no/on/off into booleans); remove the directive",
        )
    return root


def measure(root: Any, where: Union[str, Path, None]) -> None:
    """Reject disallowed tags, recursive aliases and graphs that expand to too many nodes.

    Sizes are memoised per node object, so a billion-laughs file costs time proportional to
    its text, not to its expansion.
    """
    sizes: dict[int, int] = {}
    on_stack: set[int] = set()
    # Iterative post-order walk: deep nesting must not hit Python's recursion limit.
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_stack.discard(key)
            sizes[key] = min(MAX_EXPANDED_NODES + 1, 1 + sum(sizes[id(child)] for child in _children(node)))
            continue
        if key in sizes:
            continue
        if key in on_stack:
            line, column = node_position(node)
            raise PolicyError(where, line, column, "recursive YAML alias (a node that contains itself)")
        tag = node_tag(node)
        if tag not in _ALLOWED_TAGS:
            line, column = node_position(node)
            raise PolicyError(where, line, column, f'YAML tag "{_tag_display(tag)}" is not allowed in a policy')
        on_stack.add(key)
        stack.append((node, True))
        for child in reversed(list(_children(node))):
            if id(child) in on_stack:
                line, column = node_position(child)
                raise PolicyError(where, line, column, "recursive YAML alias (a node that contains itself)")
            if id(child) not in sizes:
                stack.append((child, False))
    if sizes[id(root)] > MAX_EXPANDED_NODES:
        node = root
        while True:
            bigger = next((child for child in _children(node) if sizes[id(child)] > MAX_EXPANDED_NODES), None)
            if bigger is None:
                break
            node = bigger
        line, column = node_position(node)
        raise PolicyError(
            where,
            line,
            column,
            f"YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes here (an alias bomb?)",
        )


def _children(node: Any) -> Iterator[Any]:
    value = node.value
    if isinstance(value, list):
        for item in value:
            if isinstance(item, tuple):
                yield item[0]
                yield item[1]
            else:
                yield item
