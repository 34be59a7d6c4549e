"""The fast path of `$` expansion: values made only of `$name`, `${name}` and `$$`, down to the
values they reference, with the limits and the error type the whole expander shares.

Restated from Postfix 3.7.11 (`util/mac_parse.c`, `util/mac_expand.c`); the engine for
everything else, and the behaviour model, are in pfcheck.postfix.expand.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from pfcheck.postfix.source import MAX_INPUT_BYTES

Lookup = Callable[[str], Optional[str]]

# mac_expand_callback(): `if (mc->level++ > 100)` -> a piece at level 101 is an error.
MAX_NESTING = 100

# Protection for pfcheck itself against configurations that would make Postfix run out of
# memory or time as well (exponential `$a$a` ladders: Postfix has no limit of its own and
# grows one buffer until malloc fails). No real expansion is larger than the largest file
# pfcheck reads; simple values are measured against it before any text is built.
MAX_RESULT_CHARS = MAX_INPUT_BYTES


# Error messages quote whole strings with "%s"; cap that for pfcheck's display.
_QUOTE_LIMIT = 1000


class ExpansionError(Exception):
    """A value that Postfix refuses to expand (postconf/daemons exit with a fatal error)."""

    def __init__(self, message: str, name: Optional[str], offset: int) -> None:
        super().__init__(message)
        self.message = message
        #: parameter whose raw value contains the problem (None: the top-level value)
        self.name = name
        #: 0-based offset in that raw value where the problem is detected
        self.offset = offset
        # For the expansion engine (expand.py _Engine.relational): what Postfix still does
        # after this first complaint: whether the process exits on the spot (`terminal`), the
        # text a failed operand context had produced so far (`partial`), and whether the
        # process crashes (`crash`).
        self.terminal = False
        self.partial = ""
        self.crash = False

    def __repr__(self) -> str:
        return f"ExpansionError({self.message!r}, name={self.name!r}, offset={self.offset})"


# -- the fast path: only `$name`, `${name}` and `$$` ----------------------------------------
#
# Most values (`$myhostname`, `$config_directory/x`, `${a} ${b}`) contain nothing else, down
# to the values they reference. For them the result does not depend on the nesting level, so
# each name is measured once per expansion: the depth of its deepest piece and its result's
# length. That decides Postfix's nesting error (the first piece, in Postfix's order, at a
# level above MAX_NESTING) and pfcheck's size limit before any text is built: a 10,000-deep
# chain costs 101 lookups, a `$a$a` ladder 2**39 characters long one lookup per name. Only
# then is the text built, at most MAX_NESTING + 1 values deep. Both walks run on an explicit
# stack. Anything else (a `?`/`:`, a relational, `$(`, a bare `$`) raises NotSimple and the
# engine expands the value from the start.

# One `$` piece: `$$`, `$name`, `${name}`; the empty alternative marks anything else.
_SIMPLE_PIECE = re.compile(r"\$(?:(\$)|([A-Za-z0-9_]+)|\{([A-Za-z0-9_]+)\}|)")


class NotSimple(Exception):
    """The value needs the engine."""


def _simple_pieces(value: str) -> Iterator[Tuple[int, int, Optional[str]]]:
    """mac_parse() on a simple value: (start, end, name) for a reference, (start, end, None)
    for a literal run (text and `$$` pairs, one piece for Postfix)."""
    literal_start = 0
    for piece in _SIMPLE_PIECE.finditer(value):
        if piece.group(1) is not None:
            continue  # `$$` belongs to the literal run
        name = piece.group(2) or piece.group(3)
        if name is None:
            raise NotSimple()
        if piece.start() > literal_start:
            yield literal_start, piece.start(), None
        yield piece.start(), piece.end(), name
        literal_start = piece.end()
    if literal_start < len(value):
        yield literal_start, len(value), None


# Pieces of short values are kept: a chain of 10,000 `$x` values walked 101 deep from each
# of its names parses every value a hundred times.
_KEPT_PIECES_CHARS = 256


@lru_cache(maxsize=1 << 16)
def _kept_pieces(value: str) -> Optional[Tuple[Tuple[int, int, Optional[str]], ...]]:
    try:
        return tuple(_simple_pieces(value))
    except NotSimple:
        return None


def _pieces_of(value: str) -> Iterator[Tuple[int, int, Optional[str]]]:
    if len(value) > _KEPT_PIECES_CHARS:
        return _simple_pieces(value)
    pieces = _kept_pieces(value)
    if pieces is None:
        raise NotSimple()
    return iter(pieces)


def _literal_text(value: str, start: int, end: int) -> str:
    return value[start:end].replace("$$", "$")


class _Frame:
    """A value being walked: whose it is, its pieces, and what it has added up so far."""

    __slots__ = ("name", "value", "pieces", "depth", "height", "length", "output")

    def __init__(self, name: Optional[str], value: str, depth: int, output: Optional[List[str]]) -> None:
        self.name = name
        self.value = value
        self.pieces = _pieces_of(value)
        self.depth = depth
        self.height = 0
        self.length = 0
        self.output = output


def _nesting_error(piece: str, owner: Optional[str], offset: int) -> ExpansionError:
    return ExpansionError('unreasonable macro call nesting: "%s"' % quote_excerpt(piece), owner, offset)


def too_large_error(top_name: Optional[str]) -> ExpansionError:
    problem = ExpansionError(
        "expansion result exceeds %d characters (Postfix would likely run out of memory)"
        % MAX_RESULT_CHARS, top_name, 0)
    problem.terminal = True
    return problem


def measure_simple(value: str, lookup: Lookup, top_name: Optional[str], owner: Optional[str] = None,
                    depth: int = 0, budget: int = MAX_RESULT_CHARS) -> Dict[str, str]:
    """Walk a simple value (of parameter `owner`, parsed at nesting level `depth`) as Postfix
    does, without building text: raise the ExpansionError Postfix (or pfcheck's size limit,
    `budget` characters) meets first, else return the raw value of every name the expansion
    reaches ("" when undefined; looked up once each)."""
    raw_values: Dict[str, str] = {}
    # name -> (depth of its deepest piece below its own value, length of its expansion)
    measured: Dict[str, Tuple[int, int]] = {}
    stack = [_Frame(owner if owner is not None else top_name, value, depth, None)]
    while stack:
        frame = stack[-1]
        descended = False
        for start, end, name in frame.pieces:
            if frame.depth > MAX_NESTING:
                piece = name if name is not None else _literal_text(frame.value, start, end)
                raise _nesting_error(piece, frame.name, start)
            if name is None:
                frame.length += (end - start) - frame.value.count("$", start, end) // 2
                continue
            raw = raw_values.get(name)
            if raw is None:
                raw = raw_values[name] = lookup(name) or ""
            if not raw:
                continue
            known = measured.get(name)
            if known is None and "$" not in raw:
                known = measured[name] = (0, len(raw))
            if known is not None and frame.depth + 1 + known[0] <= MAX_NESTING:
                frame.height = max(frame.height, 1 + known[0])
                frame.length += known[1]
                if frame.length > budget:
                    raise too_large_error(top_name)
                continue
            if "$" not in raw:
                raise _nesting_error(raw, name, 0)  # its one literal piece is too deep
            # Not measured yet, a cycle (met again deeper each time), or too deep from here:
            # walk it (a second walk of a measured name finds the error on its way down).
            stack.append(_Frame(name, raw, frame.depth + 1, None))
            descended = True
            break
        if descended:
            continue
        stack.pop()
        if frame.length > budget:
            raise too_large_error(top_name)
        if stack:
            parent = stack[-1]
            assert frame.name is not None
            measured.setdefault(frame.name, (frame.height, frame.length))
            parent.height = max(parent.height, 1 + frame.height)
            parent.length += frame.length
            if parent.length > budget:
                raise too_large_error(top_name)
    return raw_values


def build_simple(value: str, raw_values: Dict[str, str]) -> str:
    """The text of a measured simple value: each name's expansion built once."""
    built: Dict[str, str] = {}
    stack = [_Frame(None, value, 0, [])]
    while stack:
        frame = stack[-1]
        output = frame.output
        assert output is not None
        descended = False
        for start, end, name in frame.pieces:
            if name is None:
                output.append(_literal_text(frame.value, start, end))
                continue
            raw = raw_values[name]
            if not raw:
                continue  # undefined or empty
            text = built.get(name)
            if text is None and "$" not in raw:
                text = raw
            if text is not None:
                output.append(text)
                continue
            stack.append(_Frame(name, raw, frame.depth + 1, []))
            descended = True
            break
        if descended:
            continue
        stack.pop()
        text = "".join(output)
        if not stack:
            return text
        assert frame.name is not None
        built[frame.name] = text
        parent_output = stack[-1].output
        assert parent_output is not None
        parent_output.append(text)
    raise AssertionError("unreachable")


def expand_simple_value(value: str, lookup: Lookup, top_name: Optional[str]) -> Optional[str]:
    """`value` expanded when it and everything it references is simple, else None."""
    try:
        raw_values = measure_simple(value, lookup, top_name)
    except NotSimple:
        return None
    return build_simple(value, raw_values)


def quote_excerpt(text: str) -> str:
    """`text` as a message quotes it: its first characters when it is long."""
    if len(text) <= _QUOTE_LIMIT:
        return text
    return text[:_QUOTE_LIMIT] + "..."
