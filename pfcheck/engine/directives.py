"""Inline suppression directives: the `# pfcheck:` comment lines of main.cf and master.cf.

Postfix has whole-line comments only (a `#` after text is part of the value), so an inline
suppression is a comment line of its own that applies to what follows it:

    # pfcheck: ignore[PF201,vrfy-enabled] reason="legacy DMZ, ticket OPS-123"
    mynetworks = 127.0.0.0/8 192.0.2.0/24

* `ignore[...]` applies to the next logical line: the next line that is neither a comment nor
  blank, with all its continuation lines (comment and blank lines in between are skipped, so
  several directives may be stacked). In master.cf a directive before a service line covers the
  whole entry with its `-o` lines; a directive between the continuation lines of an entry
  covers the next option only (the next line up to the next line starting with `-`).
* `ignore-file[...]` anywhere before the first parameter (main.cf) or service (master.cf)
  applies to the whole file.
* Rules are named by code (`PF101`, any case) or name (`vrfy-enabled`); the rules the
  suppression step reports itself (PF901-PF904) cannot be named.
* `reason="..."` (or `'...'`) is required and must not be empty. The policy's `suppressions:
  allow` and `require-reason` therefore behave the same; `deny` makes every directive a finding
  that suppresses nothing (pfcheck/engine/suppress.py).

A directive with any problem (bad syntax, unknown rule, missing reason, misplaced
`ignore-file`) is parsed with its `problem`: it suppresses nothing and is reported as PF901.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

from pfcheck.findings import Finding
from pfcheck.postfix.lines import logical_lines
from pfcheck.postfix.source import POSTFIX_SPACE
from pfcheck.rules import RULES, SUPPRESSION_RULE_IDENTITIES

IGNORE = "ignore"
IGNORE_FILE = "ignore-file"
ACTIONS: tuple[str, ...] = (IGNORE, IGNORE_FILE)

MAIN_CF = "main.cf"
MASTER_CF = "master.cf"

# `# pfcheck:` opens a directive; any other comment (even one mentioning pfcheck) is just a comment.
_DIRECTIVE = re.compile(r"[ \t\v\f\r]*#[ \t]*pfcheck[ \t]*:", re.IGNORECASE)
# _DIRECTIVE at any line start: one search tells a file without directives (nearly all of them,
# and a 20 MB main.cf) from one that needs the line-by-line pass.
_ANY_DIRECTIVE = re.compile(r"^[ \t\v\f\r]*#[ \t]*pfcheck[ \t]*:", re.IGNORECASE | re.MULTILINE)
_ACTION_WORD = re.compile(r"[A-Za-z][A-Za-z_-]*")
_BLANKS = " \t\v\f\r"


# --------------------------------------------------------------------------------------------
# Rule names


@dataclass(frozen=True)
class RuleNames:
    """Codes and names a directive may use: code -> name."""

    names: Mapping[str, str]

    @classmethod
    def registered(cls) -> "RuleNames":
        """The codes and names of the rule registry."""
        return cls({code: module.NAME for code, module in RULES.items()})

    def resolve(self, text: str) -> Optional[str]:
        """The code for a code (any case) or name, None when unknown."""
        key = text.strip()
        if key.upper() in self.names:
            return key.upper()
        for code, name in self.names.items():
            if name == key:
                return code
        return None

    def label(self, code: str) -> str:
        name = self.names.get(code)
        return f"{code} ({name})" if name else code

    def suggestion(self, text: str) -> str:
        """` (did you mean "X"?)` or the empty string; codes compare case-insensitively, ties go
        to the first in registry order. The suppression rules, which no directive may name,
        are never suggested."""
        import difflib  # only for a directive naming an unknown rule

        usable = {code: name for code, name in self.names.items() if code not in SUPPRESSION_RULE_IDENTITIES}
        scored = [
            (difflib.SequenceMatcher(None, probe, candidate).ratio(), candidate)
            for probe, candidates in ((text.upper(), usable.keys()), (text, usable.values()))
            for candidate in candidates
        ]
        # Ties go to the first candidate (registry order), as in policy.suggest: PF11 is as
        # close to PF511 as to PF101, and the comparison of the code strings must not decide.
        ratio, best = max(scored, key=lambda item: item[0], default=(0.0, ""))
        return f' (did you mean "{best}"?)' if ratio >= 0.6 else ""


# --------------------------------------------------------------------------------------------
# Directives


@dataclass(frozen=True)
class Directive:
    """One `# pfcheck:` comment line.

    `codes` are resolved rule codes, in the order written. `lines` are the physical lines an
    `ignore` covers (empty for `ignore-file`, and when nothing follows). `problem` is None for
    a usable directive, else why it suppresses nothing (located at `problem_column`).
    `text` is the directive as written, without surrounding whitespace.
    """

    path: Path
    line: int
    column: int
    text: str
    action: str
    codes: tuple[str, ...] = ()
    reason: Optional[str] = None
    lines: frozenset[int] = frozenset()
    problem: Optional[str] = None
    problem_column: int = 1

    @property
    def valid(self) -> bool:
        return self.problem is None

    @property
    def whole_file(self) -> bool:
        return self.action == IGNORE_FILE

    def covers(self, finding: Finding) -> bool:
        """Whether this directive (if usable) would hide `finding` of the same file."""
        if finding.code not in self.codes:
            return False
        return self.whole_file or finding.line in self.lines


@dataclass(frozen=True)
class _Parsed:
    action: str
    codes: tuple[str, ...] = ()
    reason: Optional[str] = None
    problem: Optional[str] = None
    problem_offset: int = 0


def _skip_blanks(text: str, index: int) -> int:
    while index < len(text) and text[index] in _BLANKS:
        index += 1
    return index


def _parse_directive_body(body: str, rules: RuleNames) -> _Parsed:
    """Parse `ACTION[CODES] reason="..."`. Offsets in problems are relative to `body`."""
    index = _skip_blanks(body, 0)
    word = _ACTION_WORD.match(body, index)
    if word is None:
        return _Parsed("", problem='expected ignore[CODE] reason="..." after "pfcheck:"', problem_offset=index)
    action = word.group().lower()
    if action not in ACTIONS:
        import difflib

        close = difflib.get_close_matches(action, ACTIONS, n=1, cutoff=0.6)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        return _Parsed(
            action, problem=f'unknown directive "{word.group()}"{hint}: use ignore[CODE] or ignore-file[CODE]',
            problem_offset=index,
        )
    index = _skip_blanks(body, word.end())
    if index >= len(body) or body[index] != "[":
        return _Parsed(action, problem=f'expected "[" after {action}: write {action}[PF101] reason="..."',
                       problem_offset=index)
    close_at = body.find("]", index)
    if close_at < 0:
        return _Parsed(action, problem=f'missing "]" after "{body[index:].rstrip(_BLANKS)}"', problem_offset=index)
    codes: list[str] = []
    offset = index + 1
    for item in body[index + 1:close_at].split(","):
        item_offset = offset + len(item) - len(item.lstrip(_BLANKS))
        offset += len(item) + 1
        name = item.strip(_BLANKS)
        if not name:
            return _Parsed(action, problem=f"empty rule in {action}[...]: list codes or names separated by commas",
                           problem_offset=item_offset)
        code = rules.resolve(name)
        if code is None:
            return _Parsed(action, problem=f'unknown rule "{name}"{rules.suggestion(name)}',
                           problem_offset=item_offset)
        if code in SUPPRESSION_RULE_IDENTITIES:
            return _Parsed(action, problem=f"{rules.label(code)} cannot be suppressed inline",
                           problem_offset=item_offset)
        if code not in codes:
            codes.append(code)
    index = _skip_blanks(body, close_at + 1)
    if index >= len(body):
        return _Parsed(action, tuple(codes), problem=f'missing reason: write {action}[...] reason="why this is accepted"',
                       problem_offset=index)
    match = re.compile(r"reason[ \t]*=[ \t]*").match(body, index)
    if match is None:
        return _Parsed(action, tuple(codes),
                       problem=f'unexpected "{body[index:].rstrip(_BLANKS)}": expected reason="..."',
                       problem_offset=index)
    quote_at = match.end()
    quote = body[quote_at:quote_at + 1]
    if quote not in ('"', "'"):
        shown = body[quote_at:].rstrip(_BLANKS)
        return _Parsed(action, tuple(codes), problem=f'quote the reason: reason="{shown}"', problem_offset=quote_at)
    end_quote = body.find(quote, quote_at + 1)
    if end_quote < 0:
        return _Parsed(action, tuple(codes), problem=f"missing closing {quote} in the reason", problem_offset=quote_at)
    reason = body[quote_at + 1:end_quote].strip(_BLANKS)
    if not reason:
        return _Parsed(action, tuple(codes), problem="the reason must not be empty", problem_offset=quote_at)
    trailing = _skip_blanks(body, end_quote + 1)
    if trailing < len(body):
        return _Parsed(action, tuple(codes), reason,
                       problem=f'unexpected "{body[trailing:].rstrip(_BLANKS)}" after the reason',
                       problem_offset=trailing)
    return _Parsed(action, tuple(codes), reason)


def _covered_lines(physical: Sequence[str], directive_line: int, kind: str,
                   owner: Mapping[int, tuple[int, ...]]) -> frozenset[int]:
    """Physical lines an `ignore` on `directive_line` covers (see the module docstring)."""
    for number in range(directive_line + 1, len(physical) + 1):
        numbers = owner.get(number)
        if numbers is None:
            continue  # comment or blank line: the directive reaches past it
        if number == numbers[0]:
            return frozenset(numbers)
        # Inside a logical line: the rest of it, in master.cf only up to the next option.
        rest = [n for n in numbers if n >= number]
        if kind == MASTER_CF:
            covered = [rest[0]]
            for later in rest[1:]:
                if physical[later - 1].lstrip(POSTFIX_SPACE).startswith("-"):
                    break
                covered.append(later)
            rest = covered
        return frozenset(rest)
    return frozenset()


def parse_directives(text: str, path: Path, kind: str = MAIN_CF, rules: Optional[RuleNames] = None) -> list[Directive]:
    """Every `# pfcheck:` directive of a main.cf (`kind` "main.cf") or master.cf text."""
    if _ANY_DIRECTIVE.search(text) is None:
        return []
    rules = rules or RuleNames.registered()
    physical = text.split("\n")
    owner: dict[int, tuple[int, ...]] = {}
    first_entry: Optional[int] = None
    for logical in logical_lines(text):
        for number in logical.numbers:
            owner[number] = logical.numbers
        if first_entry is None:
            first_entry = logical.line
    directives: list[Directive] = []
    for number, raw in enumerate(physical, start=1):
        match = _DIRECTIVE.match(raw)
        if match is None:
            continue
        column = raw.index("#") + 1
        parsed = _parse_directive_body(raw[match.end():], rules)
        problem, problem_column = parsed.problem, match.end() + parsed.problem_offset + 1
        lines: frozenset[int] = frozenset()
        if problem is None and parsed.action == IGNORE_FILE:
            if first_entry is not None and number > first_entry:
                what = "parameter" if kind == MAIN_CF else "service"
                problem = f"ignore-file must come before the first {what} (line {first_entry})"
                problem_column = column
        elif parsed.action == IGNORE:
            lines = _covered_lines(physical, number, kind, owner)
        directives.append(Directive(
            path=path, line=number, column=column, text=raw.strip(POSTFIX_SPACE), action=parsed.action,
            codes=parsed.codes, reason=parsed.reason, lines=lines, problem=problem,
            problem_column=problem_column if problem is not None else column,
        ))
    return directives
