"""regexp_table(5) and pcre_table(5), evaluated on the regular-expression subset where
POSIX/PCRE and Python agree, within the bounded cost of `regex_safety`."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pfcheck.postfix.addresses import IPV4, IPV6, IntervalSet
from pfcheck.postfix.regex_safety import MAX_PATTERN_LENGTH, MAX_TABLE_PATTERN_CHARACTERS
from pfcheck.postfix.regexp_pattern import PatternRun, RegexpPattern
from pfcheck.postfix.tables.base import Table
from pfcheck.postfix.tables.registry import TableRef
from pfcheck.postfix.tables.results import (
    NOT_FOUND, ClientAddressResults, LookupResult, Membership, TableIssue, everything_result,
)
from pfcheck.postfix.tables.source_text import SPACE, logical_lines, negation_prefix


@dataclass(frozen=True)
class RegexpRule:
    op: str  # "match", "if", "endif"
    first: RegexpPattern | None
    second: RegexpPattern | None
    value: str | None  # None: contains $number substitution (value unknown)
    line: int
    block_end: int | None = None


_CATCH_ALL_CHARS = frozenset("^$.*+()")
_MAX_CACHED_ANSWERS = 10_000


class RegexpTable(Table):
    """regexp_table(5) / pcre_table(5). Evaluated only on a safe regular-expression subset."""

    kind = "regexp"
    fixed = False

    def __init__(self, ref: TableRef, rules: list[RegexpRule], source: Path | None = None) -> None:
        super().__init__(ref, source)
        self.rules = rules
        self._answers: dict[str, LookupResult] = {}

    def lookup(self, key: str, *, fold_key: bool = True) -> LookupResult:
        # The relay evaluator asks the same keys again and again (per scenario).
        cached = self._answers.get(key)
        if cached is None:
            cached = self._lookup(key)
            if len(self._answers) < _MAX_CACHED_ANSWERS:
                self._answers[key] = cached
        return cached

    def _lookup(self, key: str) -> LookupResult:
        # Every run is estimated first (regexp_pattern.PatternRun): the lookup stops, "cannot
        # tell", before a pattern or the whole walk would exceed its budget, deterministically.
        run = PatternRun(key)

        def evaluate(pattern: RegexpPattern, line: int) -> bool | LookupResult:
            outcome = run.matches(pattern)
            if isinstance(outcome, str):
                return LookupResult(None, known=False, line=line, note=f"line {line}: {outcome}")
            return outcome

        index = 0
        while index < len(self.rules):
            rule = self.rules[index]
            if rule.op == "match":
                assert rule.first is not None
                first = evaluate(rule.first, rule.line)
                if isinstance(first, LookupResult):
                    return first
                if first and rule.second is not None:
                    first = evaluate(rule.second, rule.line)
                    if isinstance(first, LookupResult):
                        return first
                if first:
                    if rule.value is None:
                        return LookupResult(None, known=False, line=rule.line, found=True, key=key,
                                            note="result uses $number substitution")
                    return LookupResult(rule.value, line=rule.line, key=key)
            elif rule.op == "if":
                assert rule.first is not None
                condition = evaluate(rule.first, rule.line)
                if isinstance(condition, LookupResult):
                    return condition
                if not condition:
                    if rule.block_end is None:
                        return NOT_FOUND
                    index = rule.block_end
            index += 1
        return NOT_FOUND

    def catch_all_rule(self) -> RegexpRule | None:
        """The first rule when it matches every non-empty key unconditionally."""
        for rule in self.rules:
            if rule.op != "match":
                return None
            first = rule.first
            if (
                first is None or rule.second is not None or not first.match
                or first.compiled is None or first.anchored
                or not set(first.text) <= _CATCH_ALL_CHARS
                or first.compiled.search("x") is None
            ):
                return None
            return rule
        return None

    def may_match_hostnames(self, *, parent_style: bool = True) -> bool:
        # A catch-all first rule answers the hostname lookup exactly as the address lookup.
        if self.catch_all_rule() is not None:
            return False
        return any(rule.op == "match" for rule in self.rules)

    def client_address_results(self, *, parent_style: bool = True) -> ClientAddressResults:
        rule = self.catch_all_rule()
        if rule is not None:
            value = rule.value
            return ClientAddressResults(
                (everything_result(value, rule.line, known=value is not None, key=rule.first.text if rule.first else None),),
                note=f"line {rule.line}: catch-all pattern matches every client",
            )
        note = f"{self.ref.type} table: pfcheck does not enumerate which clients its patterns match"
        return ClientAddressResults((everything_result(None, known=False),), known=False, note=note)

    def match_list_membership(self, *, parent_style: bool, hostnames: bool) -> Membership:
        if self.catch_all_rule() is not None:
            return Membership(IntervalSet.everything(IPV4), IntervalSet.everything(IPV6))
        if not any(rule.op == "match" for rule in self.rules):
            return Membership()
        return Membership(unknown=f"{self.ref.type} table: patterns may match client hostnames or addresses")


_INTERVAL = re.compile(r"\{\d+(,\d*)?\}")


def translate_regex(regex: str, *, pcre: bool) -> str | None:
    """Translate a POSIX ERE (regexp:) or PCRE (pcre:) pattern to Python when it only uses
    constructs on which they agree: literals, escaped punctuation, `. ^ $ * + ? | ( )`, simple
    bracket expressions and `{m,n}`. None otherwise."""
    out: list[str] = []
    position = 0
    length = len(regex)
    while position < length:
        char = regex[position]
        if char == "\\":
            if position + 1 >= length:
                return None
            escaped = regex[position + 1]
            if escaped.isalnum():
                if pcre and escaped in "dws":
                    out.append("\\" + escaped)
                    position += 2
                    continue
                return None
            out.append(re.escape(escaped))
            position += 2
            continue
        if char == "[":
            end = position + 1
            if end < length and regex[end] == "^":
                end += 1
            if end < length and regex[end] == "]":
                end += 1
            while end < length and regex[end] != "]":
                if regex[end] in "[\\":
                    return None
                end += 1
            if end >= length:
                return None
            body = regex[position + 1:end]
            if any(pair in body for pair in ("--", "&&", "~~", "||")):
                return None
            out.append("[" + body + "]")
            position = end + 1
            continue
        if char == "{":
            interval = _INTERVAL.match(regex, position)  # at `position`: no copy of the rest
            if interval is None or not out:
                return None
            out.append(interval.group(0))
            position += len(interval.group(0))
            continue
        if char in ".^$*+?|()":
            out.append(char)
        elif char.isalnum() or char in " _-@=,;:/%#'\"<>!&~`":
            out.append(re.escape(char))
        else:
            return None
        position += 1
    # Whether Python accepts it is decided when it is first run (RegexpPattern.compiled):
    # compiling every pattern of a large table up front costs ~100 us a pattern.
    return "".join(out)


def parse_regex_pattern(text: str, *, pcre: bool, budget: list[int] | None = None) -> tuple[RegexpPattern, str] | str:
    """dict_regexp_get_pat() / dict_pcre_get_pat(): (pattern, rest of line) or a warning."""
    match, position = negation_prefix(text)
    if position >= len(text):
        return "no regexp: skipping this rule"
    delimiter = text[position]
    position += 1
    start = position
    while position < len(text):
        if text[position] == "\\":
            if position + 1 < len(text):
                position += 1
            else:
                break
        elif text[position] == delimiter:
            break
        position += 1
    if position >= len(text) or text[position] != delimiter:
        return f'no closing regexp delimiter "{delimiter}": skipping this rule'
    regex = text[start:position]
    position += 1
    ignore_case = True
    anchored = False
    supported = True
    while position < len(text) and text[position] not in SPACE and text[position] != "!":
        option = text[position]
        if option == "i":
            ignore_case = not ignore_case
        elif option == "m" or (pcre and option in "sEUX"):
            pass  # no effect on single-line keys / on whether a match exists
        elif pcre and option == "A":
            anchored = not anchored
        elif option == "x":
            supported = False  # regexp: basic RE syntax; pcre: extended (whitespace) syntax
        else:
            return f'unknown regexp option "{option}": skipping this rule'
        position += 1
    # Limits first: the translator is a loop over the characters in Python, and compiling
    # costs ~2.5 us a character. `budget`: pattern characters left for this table; the cut
    # falls at the same line for every lookup.
    refusal = None
    if len(regex) > MAX_PATTERN_LENGTH:
        refusal = f"pattern longer than {MAX_PATTERN_LENGTH:,} characters"
    elif budget is not None and supported:
        budget[0] -= len(regex)
        if budget[0] < 0:
            refusal = (f"the table's patterns exceed the {MAX_TABLE_PATTERN_CHARACTERS:,} characters "
                       f"pfcheck compiles, and this one comes after them")
    translated = translate_regex(regex, pcre=pcre) if supported and refusal is None else None
    flags = (re.IGNORECASE if ignore_case else 0) | re.ASCII
    pattern = RegexpPattern(regex, match, translated, flags, pcre=pcre, anchored=anchored)
    if refusal is not None:
        pattern.refuse(refusal)
    return pattern, text[position:]


_SUBSTITUTION = re.compile(r"\$(\d|\{\d+\}|\(\d+\))")


def load_regexp(ref: TableRef, text: str, path: Path) -> Table:
    pcre = ref.type == "pcre"
    lines, issues = logical_lines(text)
    rules: list[RegexpRule] = []
    if_stack: list[int] = []
    label = "pcre map" if pcre else "regexp map"
    budget = [MAX_TABLE_PATTERN_CHARACTERS]
    for number, line in lines:
        if budget[0] < 0:
            _cut_regexp_table(rules, if_stack, number - 1 if rules else number)
            break
        if not line[0].isalnum():
            first = parse_regex_pattern(line, pcre=pcre, budget=budget)
            if isinstance(first, str):
                issues.append(TableIssue(number, f"{label} {ref.name}, line {number}: {first}"))
                continue
            first_pattern, rest = first
            second_pattern: RegexpPattern | None = None
            if rest.startswith("!"):
                second = parse_regex_pattern(rest, pcre=pcre, budget=budget)
                if isinstance(second, str):
                    issues.append(TableIssue(number, f"{label} {ref.name}, line {number}: {second}"))
                    continue
                second_pattern, rest = second
            value: str | None = rest.strip(SPACE)
            if not value:
                issues.append(TableIssue(number, f"{label} {ref.name}, line {number}: no replacement text: using empty string"))
            if value is not None and _SUBSTITUTION.search(value):
                value = None
            elif value is not None:
                value = value.replace("$$", "$")
            rules.append(RegexpRule("match", first_pattern, second_pattern, value, number))
        elif line[:2].lower() == "if" and not (len(line) > 2 and line[2].isalnum()):
            parsed = parse_regex_pattern(line[2:], pcre=pcre, budget=budget)
            if isinstance(parsed, str):
                issues.append(TableIssue(number, f"{label} {ref.name}, line {number}: {parsed}"))
                continue
            if_stack.append(len(rules))
            rules.append(RegexpRule("if", parsed[0], None, None, number))
        elif line[:5].lower() == "endif" and not (len(line) > 5 and line[5].isalnum()):
            if not if_stack:
                issues.append(TableIssue(number, f"{label} {ref.name}, line {number}: ignoring ENDIF without matching IF"))
                continue
            opened = if_stack.pop()
            opening = rules[opened]
            rules[opened] = RegexpRule(opening.op, opening.first, None, None, opening.line, block_end=len(rules))
            rules.append(RegexpRule("endif", None, None, None, number))
        else:
            issues.append(TableIssue(number, f"{label} {ref.name}, line {number}: ignoring unrecognized request"))
    table = RegexpTable(ref, rules, path)
    table.kind = ref.type
    table.issues.extend(issues)
    # What was refused at load: the rest is assessed when a lookup reaches it.
    unsupported = [rule.line for rule in rules if rule.first is not None and rule.first.translated is None]
    if unsupported:
        table.caveats.append(
            f"patterns on lines {', '.join(map(str, unsupported[:10]))} use syntax pfcheck does "
            f"not evaluate: lookups reaching them are unknown"
        )
    return table


def _cut_regexp_table(rules: list[RegexpRule], if_stack: list[int], line: int) -> None:
    """End a table whose patterns exceed MAX_TABLE_PATTERN_CHARACTERS at its last rule (whose
    pattern is refused already): lookups that get that far are unknown, so the rest is not
    parsed (a 64 MiB table is some million rules). Open IF blocks end there too, so that a
    lookup skipping one lands on the unknown, never past it."""
    reason = rules[-1].first.refusal if rules and rules[-1].first is not None else None
    terminal = RegexpPattern("...", False, None, 0)
    terminal.refuse(reason or f"the table's patterns exceed the {MAX_TABLE_PATTERN_CHARACTERS:,} "
                              f"characters pfcheck compiles")
    rules.append(RegexpRule("match", terminal, None, None, rules[-1].line if rules else line))
    for opened in if_stack:
        opening = rules[opened]
        rules[opened] = RegexpRule(opening.op, opening.first, None, None, opening.line, block_end=len(rules) - 2)
    if_stack.clear()
