"""Postfix `$` expansion, exactly as `postconf -x` and the daemons perform it.

Behaviour model (Postfix 3.7.11, `util/mac_parse.c`, `util/mac_expand.c`,
`global/compat_level.c`, `postconf/postconf_lookup.c`), restated here because the
details decide results:

* A value is split into literal text and macro references, left to right, and each
  piece is handled as soon as it is found, so the first problem met in that order is
  the one Postfix reports. `$$` is a literal `$`. `$name` takes the longest run of
  ``[A-Za-z0-9_]``; `${...}` / `$(...)` extend to the matching close bracket, counting
  only brackets of the same kind.
* `${name?x}` / `${name:x}` test the parameter's RAW value for emptiness: with
  `a = $b` and `b =` empty, `${a?x}` gives `x`.
* Every piece (literal or reference) sits at a nesting level; a piece at level 101 or
  deeper is "unreasonable macro call nesting". Each `$name` value, `?`/`:` result and
  relational-result text is parsed one level deeper than the reference.
* The two operands of a relational expression `{a} OP {b}` are expanded in a fresh
  context whose level starts again at 0. A reference cycle through such an operand
  therefore never hits the nesting limit: Postfix recurses until its stack overflows
  and dies with SIGSEGV. pfcheck reports that as an error too.
* A relational expression evaluates to "true" or "" and then behaves like a
  parameter with that value.
* Only the branch that is taken is parsed, so syntax errors in the other branch go
  unnoticed by the expansion (postconf's separate reference scan still warns).
* After the first error Postfix keeps going a little: when a relational's left operand
  fails, the right operand is still expanded (and may recurse forever: crash instead
  of the fatal), then the operator runs on the partial texts. ExpansionError carries
  Postfix's first complaint; a crash, when it comes first, wins.
* `mac_exp_eval: bad conversion` (an all-digit operand beyond 2**63-1) is a direct
  fatal, not a warning followed by "macro processing error".

Who runs this: `postconf -x` and every daemon (dict_eval(), same code and limits);
postconf also expands the main.cf value of every BUILT-IN parameter at start-up (legacy
DBMS scan), so any postconf command dies on such a parameter's expansion error. What
differs between them is only the lookup (which parameters are defined), i.e. the caller.

Everything here is pure: the caller supplies `lookup(name) -> raw value | None`.
The evaluator runs on an explicit stack (generator trampoline), so nesting depth is
limited by memory, not by Python's recursion limit.
"""
from __future__ import annotations

import bisect
import re
from array import array
from typing import Dict, Generator, List, Optional, Set, Tuple

from pfcheck.postfix import numbers
from pfcheck.postfix.expand_simple import (
    MAX_NESTING, MAX_RESULT_CHARS, ExpansionError, Lookup, build_simple, expand_simple_value, measure_simple,
    NotSimple, quote_excerpt, too_large_error,
)

__all__ = ["ExpansionError", "expand", "references", "compat_level_value", "MAX_NESTING", "MAX_RESULT_CHARS"]

MAX_STEPS = 20_000_000

# The value of a relational expression (MAC_EXP_BVAL_TRUE / MAC_EXP_BVAL_FALSE).
_TRUE = "true"
_FALSE = ""

# Postfix's CHARS_SPACE, used around `{...}` operands and names; not C isspace().
_WHITESPACE_RUN = re.compile(r"[ \t\r\n]*")
_NAME_RUN = re.compile(r"[A-Za-z0-9_]*")
_NAME_ONLY = re.compile(r"[A-Za-z0-9_]+")
_DOLLAR_RUN = re.compile(r"\$+")
_OPERATOR_RUN = re.compile(r"[<>!=?+\-*/~&|%]*")
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
_ALL_DIGITS = re.compile(r"[0-9]+\Z")
_BRACKETS = {"{": re.compile(r"[{}]"), "(": re.compile(r"[()]")}

_OPERATORS = ("==", "!=", "<", "<=", ">=", ">")
# The only registered operator suffix (compat_level_relop_register()); case-sensitive.
_LEVEL_SUFFIX = "level"
# MAC_EXP_OP_STR_ANY, including its odd doubled quotes, as Postfix prints it.
_OPERATOR_LIST_TEXT = '"==" or "!="" or "<"" or "<="" or ">="" or ">"'


def expand(value: str, lookup: Lookup, *, name: Optional[str] = None) -> str:
    """Expand `value` recursively as `postconf -x` does.

    `lookup(name)` returns a parameter's raw value or None when it is undefined
    (undefined expands to ""). `name` is the parameter `value` belongs to; it is only
    used to attribute errors. Raises ExpansionError where Postfix would die.
    """
    if "$" not in value:
        return value
    simple = expand_simple_value(value, lookup, name)
    if simple is not None:
        return simple
    engine = _Engine(lookup, scanning=False, top_name=name)
    output: List[str] = []
    engine.run(engine.parse(_Span(value, 0, len(value), name), 0, output))
    return "".join(output)


def references(value: str) -> Set[str]:
    """Parameter names `value` refers to, as postconf's reference scan sees them.

    Like postconf (MAC_EXP_FLAG_SCAN) this looks into both branches of `?`/`:` and
    into relational operands, does not follow the referenced values, and stops at the
    first syntax error (names found before it are kept). The empty name of `${?x}`
    is not reported.
    """
    found: Set[str] = set()

    def record(found_name: str) -> None:
        if found_name:
            found.add(found_name)
        return None

    engine = _Engine(record, scanning=True)
    try:
        engine.run(engine.parse(_Span(value, 0, len(value), None), 0, None))
    except (ExpansionError, _ScanAborted):
        pass
    return found


class _Span:
    """A piece of text being parsed: `text[start:end]`, belonging to parameter `owner`.

    Every piece Postfix parses is a slice of some raw value, except the synthetic
    "true" of a relational expression; `anchor` gives that one an error position.
    """

    __slots__ = ("text", "start", "end", "owner", "anchor")

    def __init__(self, text: str, start: int, end: int, owner: Optional[str],
                 anchor: Optional[int] = None) -> None:
        self.text = text
        self.start = start
        self.end = end
        self.owner = owner
        self.anchor = anchor

    def slice(self, start: int, end: int) -> "_Span":
        return _Span(self.text, start, end, self.owner, self.anchor)

    def string(self) -> str:
        return self.text[self.start:self.end]


class _ScanAborted(Exception):
    """A relational operand context failed during a reference scan."""


_Step = Generator[object, object, object]


class _Engine:
    def __init__(self, lookup: Lookup, scanning: bool, top_name: Optional[str] = None) -> None:
        self.lookup = lookup
        self.scanning = scanning
        self.top_name = top_name
        self.steps = 0
        self.result_chars = 0
        # (parameter, level) pairs whose value is being expanded right now: meeting
        # one again means unbounded recursion (only possible through operands).
        self.active: Set[Tuple[str, int]] = set()
        # Successful expansions of a parameter's value at a nesting level: the result
        # only depends on those two, and this keeps `$a$a` ladders polynomial.
        self.memo: Dict[Tuple[str, int], str] = {}
        self.bracket_cache: Dict[Tuple[str, str], Tuple["array[int]", "array[int]"]] = {}
        #: Names whose value (or something below it) needs the engine.
        self.not_simple: Set[str] = set()

    # -- driver ---------------------------------------------------------------

    def run(self, root: _Step) -> object:
        """Run nested generators on an explicit stack: a generator yields a child
        generator and receives its return value; exceptions travel to the parent."""
        stack: List[_Step] = [root]
        to_send: object = None
        to_throw: Optional[BaseException] = None
        while True:
            top = stack[-1]
            try:
                if to_throw is not None:
                    pending, to_throw = to_throw, None
                    child = top.throw(pending)
                else:
                    child = top.send(to_send)
            except StopIteration as stop:
                stack.pop()
                if not stack:
                    return stop.value
                to_send = stop.value
                continue
            except (ExpansionError, _ScanAborted) as problem:
                stack.pop()
                if not stack:
                    raise
                to_throw = problem
                continue
            self.steps += 1
            if self.steps > MAX_STEPS:
                too_long = ExpansionError(
                    "expansion needs more than %d steps (Postfix would take very long or run out of memory)"
                    % MAX_STEPS, self.top_name, 0)
                too_long.terminal = True
                raise too_long
            stack.append(child)  # type: ignore[arg-type]
            to_send = None

    # -- helpers --------------------------------------------------------------

    def fail(self, message: str, span: _Span, position: int) -> ExpansionError:
        offset = span.anchor if span.anchor is not None else position
        return ExpansionError(message, span.owner, offset)

    def emit(self, output: Optional[List[str]], text: str) -> None:
        if output is None:
            return
        output.append(text)
        self.result_chars += len(text)
        if self.result_chars > MAX_RESULT_CHARS:
            raise too_large_error(self.top_name)

    def matching_close(self, text: str, open_position: int) -> Optional[int]:
        """Position of the bracket closing the one at `open_position` (forward count of
        that bracket kind only, as Postfix does), or None. One pass per text and kind
        keeps deeply nested values linear."""
        kind = text[open_position]
        key = (text, kind)
        table = self.bracket_cache.get(key)
        if table is None:
            table = self.bracket_cache[key] = _bracket_table(text, kind)
        opens, closes = table
        index = bisect.bisect_left(opens, open_position)
        if index < len(opens) and opens[index] == open_position and closes[index] >= 0:
            return closes[index]
        return None

    def check_level(self, level: int, piece: str, span: _Span, position: int) -> None:
        if level > MAX_NESTING:
            raise self.fail('unreasonable macro call nesting: "%s"' % piece, span, position)

    # -- mac_parse --------------------------------------------------------------

    def parse(self, span: _Span, level: int, output: Optional[List[str]]) -> _Step:
        """Split `span` into literals and references, handling each as it is found.

        This is the hot loop for big values: plain references and literals are
        handled inline; only compound references go through the trampoline.
        """
        text, position, end = span.text, span.start, span.end
        too_deep = level > MAX_NESTING
        literal: List[str] = []
        literal_start = position
        while position < end:
            dollar = text.find("$", position, end)
            if dollar < 0:
                literal.append(text[position:end])
                break
            if dollar > position:
                literal.append(text[position:dollar])
            if dollar + 1 < end and text[dollar + 1] == "$":
                # "$$" is a literal "$", paired from the left; an odd run ends in a bare "$".
                run_end = _DOLLAR_RUN.match(text, dollar, end).end()  # type: ignore[union-attr]
                pairs = (run_end - dollar) // 2
                literal.append("$" * pairs)
                dollar += 2 * pairs
                if dollar == run_end:
                    position = run_end
                    continue
            if literal:
                piece = literal[0] if len(literal) == 1 else "".join(literal)
                literal = []
                if too_deep:
                    self.check_level(level, piece, span, literal_start)
                self.emit(output, piece)
            after = dollar + 1
            if after < end and text[after] in "{(":
                close = self.matching_close(text, after)
                if close is None or close >= end:
                    raise self.fail('truncated macro reference: "%s"' % quote_excerpt(span.string()),
                                    span, dollar)
                expression_start, expression_end = after + 1, close
                position = close + 1
                simple = _NAME_ONLY.fullmatch(text, expression_start, expression_end) is not None
            else:
                expression_start = after
                expression_end = _NAME_RUN.match(text, after, end).end()  # type: ignore[union-attr]
                position = expression_end
                simple = True
            if expression_start == expression_end:
                raise self.fail('empty macro name: "%s"' % quote_excerpt(span.string()), span, dollar)
            if simple:
                # `$name` / `${name}`: what mac_expand_callback does for them, inline.
                name = text[expression_start:expression_end]
                if too_deep:
                    self.check_level(level, name, span, dollar)
                value = self.lookup(name)
                if value and output is not None:
                    child = self.substitute(name, value, span, dollar, level + 1, output)
                    if child is not None:
                        yield child
            else:
                yield self.expression(span, dollar, expression_start, expression_end,
                                      level, output)
            literal_start = position
        if literal:
            piece = literal[0] if len(literal) == 1 else "".join(literal)
            if too_deep:
                self.check_level(level, piece, span, literal_start)
            self.emit(output, piece)
        return None

    def substitute(self, name: str, value: str, span: _Span, dollar: int, level: int,
                   output: Optional[List[str]]) -> Optional[_Step]:
        """Expand parameter `name` (non-empty raw `value`) at `level`."""
        if "$" not in value:
            # The value is a single literal piece.
            if level > MAX_NESTING:
                self.check_level(level, value, _Span(value, 0, len(value), name), 0)
            self.emit(output, value)
            return None
        known = self.memo.get((name, level))
        if known is not None:
            self.emit(output, known)
            return None
        if name not in self.not_simple:
            # A simple value is measured before it is built, like a top-level one: a `$a$a`
            # ladder below a relational default never fills memory.
            try:
                raw_values = measure_simple(value, self.lookup, self.top_name, name, level,
                                             MAX_RESULT_CHARS - self.result_chars)
            except NotSimple:
                self.not_simple.add(name)
            else:
                text = self.memo[(name, level)] = build_simple(value, raw_values)
                self.emit(output, text)
                return None
        return self.expand_value(name, value, span, dollar, level, output)

    def expand_value(self, name: str, value: str, span: _Span, dollar: int, level: int,
                     output: Optional[List[str]]) -> _Step:
        assert output is not None
        key = (name, level)
        if key in self.active:
            problem = self.fail(
                'unbounded macro recursion through a relational operand: "%s" '
                "(Postfix exhausts its stack and crashes)" % name, span, dollar)
            problem.crash = problem.terminal = True
            raise problem
        self.active.add(key)
        first_piece = len(output)
        try:
            yield self.parse(_Span(value, 0, len(value), name), level, output)
        finally:
            self.active.discard(key)
        self.memo[key] = "".join(output[first_piece:])
        return None

    # -- mac_expand_callback for a reference -----------------------------------

    def expression(self, span: _Span, dollar: int, start: int, end: int, level: int,
                   output: Optional[List[str]]) -> _Step:
        text = span.text
        self.check_level(level, text[start:end], span, dollar)
        child_level = level + 1
        cursor = _WHITESPACE_RUN.match(text, start, end).end()  # type: ignore[union-attr]
        relational = cursor < end and text[cursor] == "{"
        operator_char = ""
        name = ""
        condition: Optional[str]
        if relational:
            condition, cursor = yield from self.relational(span, cursor, end)
            if cursor < end:
                operator_char = text[cursor]
                if operator_char not in "?:":
                    raise self.fail('"?" or ":" expected at: "...}>>>%s"'
                                    % _c20(text[cursor:end]), span, cursor)
                cursor += 1
        else:
            name_start = cursor
            name_end = _NAME_RUN.match(text, cursor, end).end()  # type: ignore[union-attr]
            after_space = _WHITESPACE_RUN.match(text, name_end, end).end()  # type: ignore[union-attr]
            if after_space < end and text[after_space] in "?:":
                operator_char = text[after_space]
                cursor = after_space + 1
            elif after_space < end:
                raise self.fail('attribute name syntax error at: "...%s>>>%s"'
                                % (text[start:name_end], _c20(text[name_end:end])),
                                span, name_end)
            name = text[name_start:name_end]
            condition = self.lookup(name)
            if self.scanning:
                condition = None

        if operator_char == "?":
            if_true, cursor = self.branch(span, cursor, end)
            if condition or self.scanning:
                yield self.parse(if_true, child_level, output)
            if cursor == end:
                return None
            if text[cursor] != ":":
                raise self.fail('":" expected at: "...%s}>>>%s"'
                                % (if_true.string(), _c20(text[cursor:end])), span, cursor)
            cursor += 1
            operator_char = ":"
        if operator_char == ":":
            if_false, cursor = self.branch(span, cursor, end)
            if not condition or self.scanning:
                yield self.parse(if_false, child_level, output)
            if cursor != end:
                raise self.fail('unexpected input at: "...%s}>>>%s"'
                                % (if_false.string(), _c20(text[cursor:end])), span, cursor)
            return None

        # No ?/: operator: substitute the value.
        if self.scanning or not condition:
            return None
        if relational:
            yield self.parse(_Span(_TRUE, 0, len(_TRUE), span.owner, anchor=dollar),
                             child_level, output)
            return None
        child = self.substitute(name, condition, span, dollar, child_level, output)
        if child is not None:
            yield child
        return None

    def branch(self, span: _Span, cursor: int, end: int) -> Tuple[_Span, int]:
        """A `?`/`:` result: `{text}` (surrounding whitespace ignored) or the rest verbatim."""
        brace = _WHITESPACE_RUN.match(span.text, cursor, end).end()  # type: ignore[union-attr]
        if brace < end and span.text[brace] == "{":
            return self.curly_payload(span, brace, end)
        return span.slice(cursor, end), end

    def curly_payload(self, span: _Span, brace: int, end: int) -> Tuple[_Span, int]:
        close = self.matching_close(span.text, brace)
        if close is None or close >= end:
            raise self.fail('unbalanced {} in attribute expression: "%s"'
                            % quote_excerpt(span.text[brace:end]), span, brace)
        after = _WHITESPACE_RUN.match(span.text, close + 1, end).end()  # type: ignore[union-attr]
        return span.slice(brace + 1, close), after

    def relational(self, span: _Span, brace: int, end: int
                   ) -> Generator[object, object, Tuple[Optional[str], int]]:
        """`{left} OP {right}` -> ("true" | "" | None when scanning, position after)."""
        text = span.text
        left, cursor = self.curly_payload(span, brace, end)
        operator_start = cursor
        operator_end = _OPERATOR_RUN.match(text, cursor, end).end()  # type: ignore[union-attr]
        operator = text[operator_start:operator_end]
        if operator not in _OPERATORS:
            raise self.fail('%s expected at: "...%s}>>>%s"'
                            % (_OPERATOR_LIST_TEXT, left.string(), _c20(text[cursor:end])),
                            span, cursor)
        cursor = operator_end
        compare_levels = False
        suffix = _ALNUM_RUN.match(text, cursor, end)
        if suffix is not None:
            if suffix.group() != _LEVEL_SUFFIX:
                raise self.fail('bad operator suffix at: "...%s>>>%s"'
                                % (operator, suffix.group()), span, cursor)
            compare_levels = True
            cursor = suffix.end()
        brace = _WHITESPACE_RUN.match(text, cursor, end).end()  # type: ignore[union-attr]
        if brace >= end or text[brace] != "{":
            raise self.fail('"{expression}" expected at: "...{%s} %s>>>%s"'
                            % (left.string(), operator, _c20(text[cursor:end])), span, cursor)
        right, cursor = self.curly_payload(span, brace, end)

        if self.scanning:
            left_value = yield self.operand(left)
            right_value = yield self.operand(right)
            if left_value is None or right_value is None:
                raise _ScanAborted()
            return None, cursor

        # A failed operand does not stop Postfix at once: the right operand is still
        # expanded (fresh context, so it may recurse forever and crash), then the
        # operator runs on the partial texts (a bad number conversion exits there).
        try:
            left_value = yield self.operand(left)
        except ExpansionError as problem:
            if not problem.terminal:
                left_partial = problem.partial
                right_partial = yield from self.operand_after_error(right, problem)
                if not compare_levels and _conversion_fails(left_partial, right_partial):
                    problem.terminal = True
            raise
        try:
            right_value = yield self.operand(right)
        except ExpansionError as problem:
            if not problem.terminal and not compare_levels \
                    and _conversion_fails(str(left_value), problem.partial):
                problem.terminal = True
            raise
        assert isinstance(left_value, str) and isinstance(right_value, str)
        if compare_levels:
            holds = self.compare_levels(left_value, operator, right_value, span, left, right)
        else:
            holds = self.compare_plain(left_value, operator, right_value, span, left, right)
        return (_TRUE if holds else _FALSE), cursor

    def operand(self, span: _Span) -> _Step:
        """Expand an operand in a fresh context (own result, level 0, own error state)."""
        output: Optional[List[str]] = None if self.scanning else []
        try:
            yield self.parse(span, 0, output)
        except (ExpansionError, _ScanAborted) as problem:
            if not self.scanning:
                assert isinstance(problem, ExpansionError) and output is not None
                problem.partial = "".join(output)
                raise
            return None  # the scan goes on with the other operand, then stops
        return "" if output is None else "".join(output)

    def operand_after_error(self, span: _Span, first: ExpansionError
                            ) -> Generator[object, object, str]:
        """Expand the right operand after the left one failed: its own complaints come
        after the first one and do not matter, but a crash or an exit does."""
        try:
            value = yield self.operand(span)
        except ExpansionError as later:
            if later.crash:
                raise later
            if later.terminal:
                first.terminal = True
            return later.partial
        return str(value)

    def compare_plain(self, left: str, operator: str, right: str, span: _Span,
                      left_span: _Span, right_span: _Span) -> bool:
        if _ALL_DIGITS.match(left) and _ALL_DIGITS.match(right):
            for digits, where in ((left, left_span), (right, right_span)):
                if numbers.decimal_overflows_long(digits):
                    # msg_fatal(): no "macro processing error", the process exits here.
                    problem = self.fail("mac_exp_eval: bad conversion: %s" % quote_excerpt(digits),
                                        span, where.start)
                    problem.terminal = True
                    raise problem
        return _holds(numbers.mac_exp_compare(left, right), operator)

    def compare_levels(self, left: str, operator: str, right: str, span: _Span,
                       left_span: _Span, right_span: _Span) -> bool:
        left_level = compat_level_value(left)
        if left_level is None:
            raise self.fail('malformed compatibility level syntax: "%s"' % quote_excerpt(left),
                            span, left_span.start)
        right_level = compat_level_value(right)
        if right_level is None:
            raise self.fail('malformed compatibility level syntax: "%s"' % quote_excerpt(right),
                            span, right_span.start)
        return _holds(_sign(left_level - right_level), operator)


def _bracket_table(text: str, kind: str) -> Tuple["array[int]", "array[int]"]:
    """Every `kind` bracket of `text` in order and the position of its close (-1: none), in
    machine-integer arrays: a 20 MB value of nested `${` has millions of them, and a dict of
    Python ints would need 150 bytes for each."""
    opens, closes, pending = array("q"), array("q"), array("q")
    for match in _BRACKETS[kind].finditer(text):
        if match.group() == kind:
            pending.append(len(opens))
            opens.append(match.start())
            closes.append(-1)
        elif pending:
            closes[pending.pop()] = match.start()
    return opens, closes


def compat_level_value(text: str) -> Optional[int]:
    """compat_level_from_string(): "major[.minor[.patch]]" -> comparable int, or None."""
    level = numbers.parse_compat_level(text)
    return None if level is None else numbers.packed_compat_level(level)


def _conversion_fails(left: str, right: str) -> bool:
    """mac_exp_eval() would die converting these (partial) operand texts."""
    return bool(_ALL_DIGITS.match(left) and _ALL_DIGITS.match(right)) \
        and (numbers.decimal_overflows_long(left) or numbers.decimal_overflows_long(right))


def _sign(number: int) -> int:
    return (number > 0) - (number < 0)


def _holds(delta: int, operator: str) -> bool:
    if operator == "==":
        return delta == 0
    if operator == "!=":
        return delta != 0
    if operator == "<":
        return delta < 0
    if operator == "<=":
        return delta <= 0
    if operator == ">=":
        return delta >= 0
    return delta > 0


def _c20(text: str) -> str:
    """printf "%.20s": at most 20 bytes (UTF-8), never a partial character."""
    used = 0
    for index, char in enumerate(text[:20]):
        # A surrogate-escaped byte stands for one byte of the original file.
        used += 1 if ord(char) < 0x80 or 0xDC80 <= ord(char) <= 0xDCFF \
            else len(char.encode("utf-8", "surrogatepass"))
        if used > 20:
            return text[:index]
    return text[:20]
