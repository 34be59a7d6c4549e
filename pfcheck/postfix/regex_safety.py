"""Bounded-cost evaluation of regexp:/pcre: table patterns (what pfcheck dares to run).

pfcheck evaluates `regexp:` and `pcre:` patterns with Python's backtracking `re`, after
`tables.translate_regex()` has turned them into Python syntax. A backtracking engine can take
exponential time on ambiguous patterns (`(a+)+$`, `(a|aa)*c`, `(\\w+\\s?)*$`) and polynomial
time of high degree on long keys (`.*a.*a.*a.*b`). This module decides, statically and
deterministically (never by a clock), which translated patterns are run:

* `assess()` parses the translated pattern (only the constructs the translator emits) and
  refuses, with a reason:
  - a repeated group (`{m,n}` with n > 1, `*`, `+`) whose body is ambiguous: an alternation,
    a nested repeated group, or more than one variable-length part, or one variable-length
    part without a mandatory separator character at the start or the end of the body that the
    variable part cannot match (`([a-z0-9-]+\\.)+` is accepted, `(a+)+` is refused);
  - possessive quantifiers (`a*+`): possessive in PCRE (and Python 3.11), nested repetition in
    POSIX ERE, an error before Python 3.11;
  - `(?` constructs other than `(?:` in pcre: (look-arounds, named groups and their
    back-references, conditionals, inline flags), and every `(?` in regexp: (glibc's regcomp
    refuses them: "Invalid preceding regular expression", and Postfix skips the rule);
  - patterns whose counted repetitions expand to more than `MAX_PATTERN_WORK` elements.
* For an accepted pattern, `RegexCost.steps(n)` is an upper estimate of the backtracking
  steps for a key of n characters: (n + 1) start positions (1 when anchored) x pattern size x
  the product of the choices at each choice point ((n + 1) per variable-length repetition,
  one (n + 1) for all repetitions followed by a character they cannot match, the number of
  branches per alternation, 2 per optional part). A run whose estimate is above
  `MAX_MATCH_STEPS`, or above what is left of `MAX_LOOKUP_STEPS` for the lookup, is not made:
  the table answers "cannot tell" for that key. Measured on CPython 3.11, the estimate stays
  above the real work (worst seen: `a*a*a*a*a*b`, 83,000,000 estimated, 0.83 s).
* Shortcuts that are exact: a key without the literal text a pattern must start with, or
  without a literal run every match contains, does not match (`RegexCost.excludes()`,
  `leading_literal()`); such rules cost one string search, so a 40,000-line table of
  distinct literal-led patterns stays cheap.

What Postfix does with such patterns (3.7, util/dict_regexp.c, util/dict_pcre.c):

* `regexp:` uses the C library's regcomp()/regexec() (glibc: no backtracking blow-up on these
  patterns; measured: `^(a+)+$` against 5,000 characters in milliseconds). A regcomp() error
  ("Regular expression too big" for `a{40000}`) is logged and the rule skipped; a regexec()
  error is logged and the rule does not match. glibc expands counted repetitions at compile
  time: `(a{1,1000}){1,1000}` took 42 s and 8 GB in `postmap -q`.
* `pcre:` uses PCRE2 with its default match limit (10,000,000) and no match context. When the
  limit is hit, DICT_PCRE_EXEC() logs "pcre map ..., line N: match limit exceeded" and the
  rule counts as not matching, whether it is `/re/` or `!/re/` (the IF rule skips its block),
  and the lookup goes on with the next rule. Measured with libpcre2-8 10.42 (Debian 12's, as
  dict_pcre.c calls it: caseless, no match context): `^(a+)+$` against 30 a's and a b, and
  `^(\\w+\\s?)*$` against 40 a's and a `!`, return PCRE2_ERROR_MATCHLIMIT after ~0.4 s, while
  `^(\\w+\\s?)*$` matches "unknown" at once. So for ambiguous patterns Postfix's answer can
  depend on PCRE2's step counting: "cannot prove" is the only answer pfcheck can defend. The
  runs pfcheck does make are estimated at most `MAX_MATCH_STEPS`, half PCRE2's limit.

Refused patterns and refused lookups read as "cannot tell" (PF302 names the table line and the
reason), never as a match or a miss.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Union

#: Upper estimate of backtracking steps pfcheck runs for one pattern against one key; also
#: the order of magnitude Python's re does in well under a second. Kept below PCRE2's default
#: match limit (10,000,000), see the module docstring.
MAX_MATCH_STEPS = 5_000_000
#: Estimated steps for one lookup, summed over the patterns it runs (a table of many patterns
#: near MAX_MATCH_STEPS each must not add up to minutes).
MAX_LOOKUP_STEPS = 50_000_000
#: Pattern characters pfcheck compiles per table (the later patterns are refused): about 5 s.
MAX_TABLE_PATTERN_CHARACTERS = 2_000_000
#: Elements after expanding counted repetitions (`(ab){1000}` is 2,000).
MAX_PATTERN_WORK = 100_000
#: Translated pattern length: Python compiles about 2.5 us per character (a 5,000,000
#: character literal: 12.6 s).
MAX_PATTERN_LENGTH = 20_000
#: Group nesting (Python's own parser raises RecursionError near 1,000).
MAX_NESTING = 100

_INTERVAL = re.compile(r"\{(\d+)(?:(,)(\d*))?\}")
_SINGLE_CHAR_OPERATORS = frozenset(".^$*+?|()[]{}\\")


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class RegexCost:
    """Cost model of an accepted pattern: `size` elements; `variable` choice points that may
    take any count up to the key length; `constant` the product of the other choices;
    `starts_anchored` when every alternative begins with `^` (one start position)."""

    size: int
    variable: int
    constant: int
    starts_anchored: bool = False
    #: Literal ASCII text every match starts with, and literal runs every match contains
    #: (lower case when the pattern folds case): a key without them cannot match, which
    #: costs a few string searches to know.
    prefix: str = ""
    required: tuple[str, ...] = ()

    def excludes(self, key: str, *, anchored: bool = False, folded_key: str | None = None) -> bool:
        """Whether `key` cannot match because it lacks the literal prefix (exact: every match
        begins with it). `folded_key`: the key in ASCII lower case (fold_ascii()) when the
        pattern ignores case (re.ASCII folds ASCII letters only)."""
        text = key if folded_key is None else folded_key
        if self.prefix and (anchored or self.starts_anchored) and not text.startswith(self.prefix):
            return True
        return any(run not in text for run in self.required)

    def steps(self, key_length: int, *, anchored: bool = False) -> int:
        """Upper estimate of the backtracking steps for a key of `key_length` characters
        (`anchored`: matched at the start only, pcre's A flag), saturated just above
        MAX_MATCH_STEPS (computing n**k exactly for large k is waste)."""
        starts = 1 if anchored or self.starts_anchored else key_length + 1
        total = starts * self.size * self.constant
        for _ in range(self.variable):
            if total > MAX_MATCH_STEPS:
                break
            total *= key_length + 1
        return total


@dataclass(frozen=True)
class Refused:
    reason: str


Assessment = Union[RegexCost, Refused]


# -- syntax tree of a translated pattern ------------------------------------------------------
# Nodes: ("char", source)  one character: a literal, an escape, a class or `.`
#        ("anchor", "^"|"$")
#        ("group", alternatives)  alternatives: list of sequences (lists of items)
# Items: (node, minimum, maximum or None for unbounded)


class _Refusal(Exception):
    pass


class _Parser:
    def __init__(self, text: str, *, pcre: bool) -> None:
        self.text = text
        self.position = 0
        self.pcre = pcre
        self.depth = 0

    def parse(self) -> list[list[tuple]]:
        alternatives = self._alternatives()
        if self.position != len(self.text):
            raise _Refusal(f"unbalanced ')' at offset {self.position}")
        return alternatives

    def _alternatives(self) -> list[list[tuple]]:
        alternatives = [self._sequence()]
        while self.position < len(self.text) and self.text[self.position] == "|":
            self.position += 1
            alternatives.append(self._sequence())
        return alternatives

    def _sequence(self) -> list[tuple]:
        items: list[tuple] = []
        text = self.text
        while self.position < len(text) and text[self.position] not in "|)":
            node = self._atom()
            minimum, maximum = 1, 1
            if self.position < len(text) and text[self.position] in "*+?{":
                if node[0] == "anchor":
                    raise _Refusal("quantified anchor")
                minimum, maximum = self._quantifier()
                if self.position < len(text) and text[self.position] == "?":
                    self.position += 1  # lazy: changes which match, not whether one exists
                if self.position < len(text) and text[self.position] in "*+?{":
                    raise _Refusal("a quantifier after a quantifier (possessive in PCRE, a repetition of the "
                                   "repetition in POSIX ERE)")
            items.append((node, minimum, maximum))
        return items

    def _quantifier(self) -> tuple[int, int | None]:
        char = self.text[self.position]
        if char != "{":
            self.position += 1
            return {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        interval = _INTERVAL.match(self.text, self.position)
        if interval is None:
            raise _Refusal("malformed interval")
        self.position = interval.end()
        minimum = int(interval.group(1))
        maximum = minimum if interval.group(2) is None else int(interval.group(3)) if interval.group(3) else None
        # glibc's RE_DUP_MAX (regcomp: "Invalid content of \{\}"); PCRE2's limit is 65535.
        limit = 65535 if self.pcre else 32767
        if max(minimum, maximum or 0) > limit:
            raise _Refusal(f"repetition count above {limit}")
        if maximum is not None and maximum < minimum:
            raise _Refusal("repetition {m,n} with n < m")
        return minimum, maximum

    def _atom(self) -> tuple:
        text = self.text
        char = text[self.position]
        if char == "(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise _Refusal(f"groups nested more than {MAX_NESTING} deep")
            self.position += 1
            if text.startswith("?", self.position):
                if not (self.pcre and text.startswith("?:", self.position)):
                    raise _Refusal("'(?' extension" + ("" if self.pcre else
                                                       " (not POSIX ERE: regcomp refuses it)"))
                self.position += 2
            alternatives = self._alternatives()
            if self.position >= len(text) or text[self.position] != ")":
                raise _Refusal("unbalanced '('")
            self.position += 1
            self.depth -= 1
            return ("group", alternatives)
        if char in "^$":
            self.position += 1
            return ("anchor", char)
        if char == "\\":
            self.position += 2
            return ("char", text[self.position - 2:self.position])
        if char == "[":
            end = self.position + 1
            if end < len(text) and text[end] == "^":
                end += 1
            if end < len(text) and text[end] == "]":
                end += 1
            end = text.find("]", end)
            if end < 0:
                raise _Refusal("unterminated bracket expression")
            source = text[self.position:end + 1]
            self.position = end + 1
            body = source[2:-1] if source.startswith("[^") else source[1:-1]
            for dash in range(1, len(body) - 1):
                if body[dash] == "-" and body[dash - 1] > body[dash + 1] and (dash < 2 or body[dash - 2] != "-"):
                    raise _Refusal(f"bad character range in {source}")
            return ("char", source)
        if char in "*+?{":
            raise _Refusal("quantifier without operand")
        self.position += 1
        return ("char", char)


# -- assessment -------------------------------------------------------------------------------


def assess(translated: str, *, pcre: bool, flags: int) -> Assessment:
    """Whether pfcheck runs this translated pattern, and its cost model. `flags` are the
    Python flags the pattern is compiled with (case folding matters for separators)."""
    if len(translated) > MAX_PATTERN_LENGTH:
        return Refused(f"pattern longer than {MAX_PATTERN_LENGTH:,} characters")
    try:
        tree = _Parser(translated, pcre=pcre).parse()
        size, variable, constant = _alternatives_cost(tree, flags)
    except _Refusal as refusal:
        return Refused(str(refusal))
    if size > MAX_PATTERN_WORK:
        return Refused(f"counted repetitions expand to more than {MAX_PATTERN_WORK:,} elements")
    anchored = all(sequence and sequence[0][0] == ("anchor", "^") for sequence in tree)
    prefix, required = _literals(tree[0]) if len(tree) == 1 else ("", [])
    if flags & re.IGNORECASE:
        prefix, required = fold_ascii(prefix), [fold_ascii(run) for run in required]
    # The longest runs first: the likeliest to be missing.
    required = sorted(set(required), key=len, reverse=True)[:8]
    return RegexCost(size, variable, constant, anchored, prefix, tuple(required))


def leading_literal(translated: str, *, fold: bool) -> tuple[str, bool]:
    """(ASCII literal text every match of the translated pattern starts with, whether the
    pattern starts with `^`), found with one scan and no parse: cheaper than assess(), for
    large tables whose patterns mostly start with different literals. ("", False) when the
    pattern has a top-level alternation."""
    anchored = translated.startswith("^")
    position = 1 if anchored else 0
    run: list[str] = []
    length = len(translated)
    while position < length:
        char = translated[position]
        step = 1
        if char == "\\":
            if position + 1 >= length or translated[position + 1].isalnum():
                break
            char, step = translated[position + 1], 2
        elif char in _SINGLE_CHAR_OPERATORS:
            break
        following = translated[position + step] if position + step < length else ""
        if following in ("*", "+", "?", "{") or ord(char) > 127:
            break
        run.append(char)
        position += step
    if not run or _top_level_alternation(translated):
        return "", False
    prefix = "".join(run)
    return (fold_ascii(prefix) if fold else prefix), anchored


def _top_level_alternation(translated: str) -> bool:
    depth = 0
    position = 0
    length = len(translated)
    while position < length:
        char = translated[position]
        if char == "\\":
            position += 2
            continue
        if char == "[":
            end = position + 1
            if end < length and translated[end] == "^":
                end += 1
            if end < length and translated[end] == "]":
                end += 1
            found = translated.find("]", end)
            position = length if found < 0 else found + 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
        position += 1
    return False


def fold_ascii(text: str) -> str:
    """ASCII letters in lower case, nothing else changed (re.IGNORECASE | re.ASCII)."""
    return text.translate(_ASCII_LOWER)


def _literals(sequence: list[tuple]) -> tuple[str, list[str]]:
    """(ASCII literal text the sequence starts with, after `^`; runs of mandatory ASCII
    literal characters at its top level)."""
    prefix: str | None = None
    runs: list[str] = []
    run: list[str] = []
    for index, (node, minimum, maximum) in enumerate(sequence):
        char = _literal(node) if (minimum, maximum) == (1, 1) else None
        if char is not None:
            run.append(char)
            continue
        if node == ("anchor", "^") and index == 0:
            continue
        if prefix is None:
            prefix = "".join(run)
        if run:
            runs.append("".join(run))
        run = []
    if prefix is None:
        prefix = "".join(run)
    if run:
        runs.append("".join(run))
    return prefix, runs


def _literal(node: tuple) -> str | None:
    """The ASCII character a one-character node stands for, if it is a plain literal."""
    if node[0] != "char":
        return None
    source = node[1]
    if len(source) == 2 and source[0] == "\\" and not source[1].isalnum():
        char = source[1]
    elif len(source) == 1 and source not in _SINGLE_CHAR_OPERATORS:
        char = source
    else:
        return None
    return char if ord(char) <= 127 else None


def _saturated(value: int) -> int:
    return min(value, MAX_PATTERN_WORK * MAX_MATCH_STEPS + 1)


def _alternatives_cost(alternatives: list[list[tuple]], flags: int) -> tuple[int, int, int]:
    costs = [_sequence_cost(sequence, flags) for sequence in alternatives]
    size = sum(cost[0] for cost in costs)
    variable = max(cost[1] for cost in costs)
    constant = max(cost[2] for cost in costs) * len(costs)
    return _saturated(size), variable, _saturated(constant)


def _sequence_cost(items: list[tuple], flags: int) -> tuple[int, int, int]:
    size, variable, constant = 0, 0, 1
    # Variable-length single characters followed by a mandatory character they cannot match
    # (`[a-z]+\.`, `[^@]*@`): every shorter count fails at once, so together they add one
    # linear factor instead of one each.
    deterministic = 0
    for index, (node, minimum, maximum) in enumerate(items):
        kind = node[0]
        if kind == "group":
            inner_size, inner_variable, inner_constant = _alternatives_cost(node[1], flags)
            if maximum is None or maximum > 1:
                reason = _ambiguous_body(node[1], flags)
                if reason is not None:
                    raise _Refusal(f"repeated group {_render(node)} {reason}: it may backtrack exponentially")
                # The count choices, and the body's own choices once per iteration.
                if maximum is None or maximum - minimum + 1 > 64:
                    variable += inner_variable + 2
                elif maximum > minimum:
                    variable += inner_variable + 1
                    constant *= maximum - minimum + 1
                else:
                    variable += inner_variable
                inner_size *= max(minimum if maximum is None else maximum, 1)
            else:
                variable += inner_variable
                if minimum == 0:
                    constant *= 2
            size += inner_size
            constant *= inner_constant
        else:
            size += 1
            if maximum is None or maximum - minimum + 1 > 64:
                # At most (key length + 1) counts are possible.
                following = items[index + 1] if index + 1 < len(items) else None
                if (following is not None and following[0][0] == "char" and following[1] >= 1
                        and following[1] == following[2] and _disjoint(following[0][1], node[1], flags)):
                    deterministic = 1
                else:
                    variable += 1
            elif maximum > minimum:
                constant *= maximum - minimum + 1
        size, constant = _saturated(size), _saturated(constant)
    return size, variable + deterministic, constant


def _ambiguous_body(alternatives: list[list[tuple]], flags: int) -> str | None:
    """Why a repeated group's body can split one text into iterations in more than one way
    (None: at most one way). Accepted bodies: fixed length; or one variable-length single
    character part and a mandatory first or last character it cannot match (a separator)."""
    if len(alternatives) > 1:
        return "has alternatives"
    items = _flatten(alternatives[0])
    if items is None:
        return "contains a repeated or alternative part"
    variable = [item for item in items if item[0][0] == "char" and item[1] != item[2]]
    if not variable:
        return None
    if len(variable) > 1:
        return "has more than one variable-length part"
    part = variable[0][0][1]
    chars = [item for item in items if item[0][0] == "char"]
    for end in (chars[0], chars[-1]):
        node, minimum, maximum = end
        if end is not variable[0] and minimum == maximum and minimum >= 1 and _disjoint(node[1], part, flags):
            return None
    return "has a variable-length part without a separator it cannot match"


def _flatten(items: list[tuple]) -> list[tuple] | None:
    """The items of a body with plain (unrepeated, single-alternative) groups inlined; None
    when it holds a repeated or optional group or an alternation."""
    flat: list[tuple] = []
    for item in items:
        node, minimum, maximum = item
        if node[0] != "group":
            flat.append(item)
            continue
        if minimum != 1 or maximum != 1 or len(node[1]) > 1:
            return None
        inner = _flatten(node[1][0])
        if inner is None:
            return None
        flat.extend(inner)
    return flat


_ASCII = [chr(code) for code in range(128)]


@functools.lru_cache(maxsize=4096)
def _disjoint(first: str, second: str, flags: int) -> bool:
    """Whether no character matches both one-character Python patterns. Tried: every ASCII
    character, every character either names, and one non-ASCII character neither names
    (under re.ASCII every other non-ASCII character behaves like it). A class range with a
    non-ASCII end covers characters neither names: not decided, so not disjoint."""
    named = {char for char in first + second if ord(char) > 127}
    for source in (first, second):
        if source.startswith("[") and any(
                ord(source[i - 1]) > 127 or ord(source[i + 1]) > 127
                for i in range(2, len(source) - 2) if source[i] == "-"):
            return False
    fresh = next(chr(code) for code in range(0x100, 0x200) if chr(code) not in named)
    first_pattern, second_pattern = re.compile(first, flags), re.compile(second, flags)
    return not any(first_pattern.fullmatch(char) and second_pattern.fullmatch(char)
                   for char in _ASCII + sorted(named) + [fresh])


def _render(node: tuple) -> str:
    def sequence(items: list[tuple]) -> str:
        out = []
        for inner, minimum, maximum in items:
            out.append(_render(inner))
            if (minimum, maximum) != (1, 1):
                out.append({(0, None): "*", (1, None): "+", (0, 1): "?"}.get(
                    (minimum, maximum), "{%d,%s}" % (minimum, "" if maximum is None else maximum)))
        return "".join(out)

    if node[0] == "group":
        text = "(" + "|".join(sequence(items) for items in node[1]) + ")"
        return text if len(text) <= 60 else text[:57] + "..."
    return node[1]
