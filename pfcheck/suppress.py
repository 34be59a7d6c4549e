"""Accepting findings: inline directives, central waivers and the baseline, in that order.

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
* Rules are named by code (`PF101`, any case) or name (`vrfy-enabled`).
* `reason="..."` (or `'...'`) is required and must not be empty. The policy's `suppressions:
  allow` and `require-reason` therefore behave the same; `deny` makes every directive a finding
  that suppresses nothing.

A directive with any problem (bad syntax, unknown rule, missing reason, misplaced
`ignore-file`, forbidden by policy) suppresses nothing and is reported as PF901
(invalid-suppression): failing closed keeps a typo from hiding a finding, and the finding stays
visible next to the report of the broken directive. A valid directive whose rule reported nothing
where it points is reported as PF902 (unused-suppression), once per unused code.

Central waivers come from the policy (`Policy.find_waiver`); an expired waiver no longer hides
anything and is reported once per run as PF904 (expired-waiver) at its line in the policy.
The baseline (pfcheck/baseline.py) comes last; its stale entries are PF903.

`Suppressor` runs the three steps for the lint engine and keeps what was accepted, with why,
in `Suppressed` records (for reports: SARIF `suppressions`, counts in summaries).
"""
from __future__ import annotations

import datetime
import difflib
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.lines import logical_lines
from pfcheck.postfix.source import POSTFIX_SPACE

# --------------------------------------------------------------------------------------------
# Hygiene rules (their documentation lives in pfcheck/rules/pf90[1-4]_*.py)

INVALID_SUPPRESSION = "PF901"
UNUSED_SUPPRESSION = "PF902"
STALE_BASELINE_ENTRY = "PF903"
EXPIRED_WAIVER = "PF904"

#: Code -> (name, default severity) of the findings this module and the baseline produce. The
#: rule modules declare the same; a test keeps the two in step.
HYGIENE_RULES: Mapping[str, tuple[str, Severity]] = {
    INVALID_SUPPRESSION: ("invalid-suppression", Severity.WARNING),
    UNUSED_SUPPRESSION: ("unused-suppression", Severity.WARNING),
    STALE_BASELINE_ENTRY: ("stale-baseline-entry", Severity.INFO),
    EXPIRED_WAIVER: ("expired-waiver", Severity.WARNING),
}

IGNORE = "ignore"
IGNORE_FILE = "ignore-file"
ACTIONS: tuple[str, ...] = (IGNORE, IGNORE_FILE)

MAIN_CF = "main.cf"
MASTER_CF = "master.cf"

#: `allow | require-reason | deny` (pfcheck.policy.SUPPRESSION_MODES).
DENY = "deny"

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
    def from_registry(cls, rules: Optional[Mapping[str, Any]] = None) -> "RuleNames":
        """From a rule registry (`pfcheck.rules.RULES` when None)."""
        if rules is None:
            from pfcheck.rules import RULES

            rules = RULES
        return cls({code: getattr(module, "NAME", getattr(module, "name", code)) for code, module in rules.items()})

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
        """` (did you mean "X"?)` or the empty string; codes compare case-insensitively. The
        hygiene rules, which no directive may name, are never suggested."""
        usable = {code: name for code, name in self.names.items() if code not in HYGIENE_RULES}
        scored = [
            (difflib.SequenceMatcher(None, probe, candidate).ratio(), candidate)
            for probe, candidates in ((text.upper(), usable.keys()), (text, usable.values()))
            for candidate in candidates
        ]
        ratio, best = max(scored, default=(0.0, ""))
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
        if code in HYGIENE_RULES:
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
    rules = rules or RuleNames.from_registry()
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


# --------------------------------------------------------------------------------------------
# What was accepted, and why


@dataclass(frozen=True)
class Suppressed:
    """A finding that was accepted: `kind` is "inline", "waiver" or "baseline"; `reason` is
    the directive's or waiver's reason ("" for the baseline); `source` says where the
    acceptance is written (`hosts/mx1/main.cf:12`, `.pfcheck.yaml:20`, `.pfcheck-baseline.json`)."""

    finding: Finding
    kind: str
    reason: str
    source: str


INLINE = "inline"
WAIVER = "waiver"
BASELINE = "baseline"


def hygiene_finding(code: str, path: str, line: int, column: int, message: str,
                    severity: Optional[Severity] = None, **details: Any) -> Finding:
    name, default = HYGIENE_RULES[code]
    return Finding(code=code, name=name, severity=severity or default, path=path, line=max(line, 1),
                   column=max(column, 1), message=message, **details)


@dataclass
class InlineOutcome:
    kept: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    hygiene: list[Finding] = field(default_factory=list)


def apply_inline(
    findings: Iterable[Finding],
    directives_by_path: Mapping[str, Sequence[Directive]],
    mode: str = "allow",
    rules: Optional[RuleNames] = None,
    enabled: Callable[[str], bool] = lambda code: True,
) -> InlineOutcome:
    """Hide findings covered by a usable directive of their file (`directives_by_path` is keyed
    by the findings' `path` form) and report broken and unused directives.

    `enabled(code)` says whether a rule ran; a directive for a rule that is off is unused, and
    the message says why.
    """
    rules = rules or RuleNames({})
    outcome = InlineOutcome()
    used: set[tuple[str, int, str]] = set()
    for finding in findings:
        directive = next(
            (d for d in directives_by_path.get(finding.path, ()) if d.valid and mode != DENY and d.covers(finding)),
            None,
        )
        if directive is None:
            outcome.kept.append(finding)
            continue
        used.add((finding.path, directive.line, finding.code))
        outcome.suppressed.append(Suppressed(
            finding, INLINE, directive.reason or "", f"{finding.path}:{directive.line}",
        ))
    for display, directives in directives_by_path.items():
        for directive in directives:
            details = {"actual": directive.text}
            if not directive.valid or mode == DENY:
                message = (
                    "inline suppressions are forbidden by the policy (suppressions: deny); "
                    "ask the policy owner for a waiver" if directive.valid else directive.problem
                )
                outcome.hygiene.append(hygiene_finding(
                    INVALID_SUPPRESSION, display, directive.line,
                    directive.column if directive.valid else directive.problem_column,
                    f"{message}; the directive suppresses nothing", **details,
                ))
                continue
            for code in directive.codes:
                if (display, directive.line, code) in used:
                    continue
                if not enabled(code):
                    why = f"{rules.label(code)} is off in the policy"
                elif directive.whole_file:
                    why = f"no {rules.label(code)} finding in this file"
                elif not directive.lines:
                    why = "no configuration line follows it"
                else:
                    first, last = min(directive.lines), max(directive.lines)
                    span = f"line {first}" if first == last else f"lines {first}-{last}"
                    why = f"no {rules.label(code)} finding on {span}"
                outcome.hygiene.append(hygiene_finding(
                    UNUSED_SUPPRESSION, display, directive.line, directive.column,
                    f"unused suppression of {code}: {why}", **details,
                ))
    return outcome


# --------------------------------------------------------------------------------------------
# Waivers


def _waiver_label(waiver: Any) -> str:
    service = f" service {waiver.service}" if waiver.service else ""
    return f'{waiver.rule} on "{waiver.path}"{service}'


def apply_waivers(
    findings: Iterable[Finding],
    policy: Any,
    real_path: Callable[[str], str],
    today: Optional[datetime.date] = None,
    policy_display: str = ".pfcheck.yaml",
) -> tuple[list[Finding], list[Suppressed]]:
    """Drop findings an unexpired waiver of `policy` covers. `real_path(finding.path)` is the
    file's path as opened (absolute, or relative to the working directory)."""
    kept: list[Finding] = []
    suppressed: list[Suppressed] = []
    for finding in findings:
        waiver = None
        if policy.waivers:
            waiver = policy.find_waiver(finding.code, real_path(finding.path), finding.service, today)
        if waiver is None:
            kept.append(finding)
        else:
            suppressed.append(Suppressed(finding, WAIVER, waiver.reason, f"{policy_display}:{waiver.line}"))
    return kept, suppressed


def expired_waiver_findings(policy: Any, policy_display: str, today: Optional[datetime.date] = None,
                            severity: Optional[Severity] = None) -> list[Finding]:
    """One PF904 per expired waiver, at the waiver's line in the policy file."""
    findings = []
    for waiver in policy.expired_waivers(today):
        findings.append(hygiene_finding(
            EXPIRED_WAIVER, policy_display, waiver.line, waiver.column,
            f"waiver for {_waiver_label(waiver)} expired on {waiver.expires.isoformat()} and no longer "
            f'applies ("{waiver.reason}"): fix the findings it covered, or renew it',
            severity, parameter=None, actual=f"{waiver.rule} {waiver.path} {waiver.service or ''}".strip(),
        ))
    return findings


# --------------------------------------------------------------------------------------------
# The engine step


def _policy_severity(policy: Any, code: str) -> Optional[Severity]:
    """The policy's severity for a rule; the rule's default when the policy does not know it."""
    try:
        return policy.severity(code)
    except KeyError:
        return HYGIENE_RULES[code][1] if code in HYGIENE_RULES else Severity.ERROR


def _rule_enabled(policy: Any, code: str) -> bool:
    try:
        return bool(policy.enabled(code))
    except KeyError:
        return True


class Suppressor:
    """Inline directives, then waivers, then the baseline, for each directory of a lint run.

    `baseline` (a `pfcheck.baseline.Baseline`) hides matching findings; with `collect_all`
    nothing is hidden by it and every finding is collected for `--write-baseline` instead.
    `display(path)` turns a Path into the findings' path form; `today` fixes the date waivers
    are judged on (tests).
    """

    def __init__(
        self,
        display: Callable[[Path], str],
        baseline: Any = None,
        today: Optional[datetime.date] = None,
        rules: Optional[RuleNames] = None,
    ) -> None:
        self.display = display
        self.baseline = baseline
        self.today = today
        self._rules = rules
        self._policies_reported: set[str] = set()
        self.suppressed: list[Suppressed] = []
        #: Display paths of the files judged so far (for stale baseline entries).
        self.checked: set[str] = set()

    @property
    def rules(self) -> RuleNames:
        if self._rules is None:
            self._rules = RuleNames.from_registry()
        return self._rules

    def directives(self, config: Any) -> dict[str, list[Directive]]:
        """Directives of a ConfigDir's checkable main.cf and master.cf, by display path."""
        found: dict[str, list[Directive]] = {}
        sources = ((config.main_source, MAIN_CF), (config.master_source, MASTER_CF))
        for source, kind in sources:
            if source is None or not source.checkable or not source.text:
                continue
            directives = parse_directives(source.text, source.path, kind, self.rules)
            if directives:
                found.setdefault(self.display(source.path), []).extend(directives)
        return found

    def directory(self, findings: Iterable[Finding], config: Any, policy: Any,
                  named: Optional[set[str]] = None) -> list[Finding]:
        """The findings of one directory that stay, hygiene findings included (each at the
        policy's severity; none for a rule that is off). Findings outside `named` (display
        paths) are dropped after suppression, so directives in unnamed files are not judged."""
        real_paths = {self.display(s.path): str(s.path)
                      for s in (config.main_source, config.master_source) if s is not None}
        directives = self.directives(config)
        inline = apply_inline(findings, directives, getattr(policy, "suppressions", "allow"), self.rules,
                              lambda code: _rule_enabled(policy, code))
        hygiene = [f.with_(severity=s) for f in inline.hygiene
                   if (s := _policy_severity(policy, f.code)) is not None]
        policy_display = self.display(Path(policy.path)) if getattr(policy, "path", None) else "<built-in policy>"
        kept, waived = apply_waivers([*inline.kept, *hygiene], policy,
                                     lambda shown: real_paths.get(shown, shown), self.today, policy_display)
        suppressed = [*inline.suppressed, *waived]
        if named is not None:
            self.checked.update(named)
            kept = [f for f in kept if f.path in named]
            suppressed = [s for s in suppressed if s.finding.path in named]
        if self.baseline is not None:
            kept, baselined = self.baseline.filter(kept)
            suppressed.extend(baselined)
        self.suppressed.extend(suppressed)
        return kept + self._expired_waivers(policy, policy_display)

    def _expired_waivers(self, policy: Any, policy_display: str) -> list[Finding]:
        """PF904 findings, once per policy file and run."""
        if getattr(policy, "path", None) is None:
            return []
        key = os.path.abspath(policy.path)
        if key in self._policies_reported:
            return []
        self._policies_reported.add(key)
        severity = _policy_severity(policy, EXPIRED_WAIVER)
        if severity is None:
            return []
        return expired_waiver_findings(policy, policy_display, self.today, severity)

    def finish(self) -> list[Finding]:
        """Run-level findings once every directory is done: stale baseline entries (PF903).
        In `--write-baseline` mode this writes the baseline file instead."""
        if self.baseline is None:
            return []
        return self.baseline.finish(sorted(self.checked))

    def counts(self) -> dict[str, int]:
        """How many findings each mechanism accepted: {"inline": n, "waiver": n, "baseline": n}."""
        counted = Counter(item.kind for item in self.suppressed)
        return {kind: counted.get(kind, 0) for kind in (INLINE, WAIVER, BASELINE)}


__all__ = [
    "ACTIONS",
    "BASELINE",
    "Directive",
    "EXPIRED_WAIVER",
    "HYGIENE_RULES",
    "IGNORE",
    "IGNORE_FILE",
    "INLINE",
    "INVALID_SUPPRESSION",
    "InlineOutcome",
    "RuleNames",
    "STALE_BASELINE_ENTRY",
    "Suppressed",
    "Suppressor",
    "UNUSED_SUPPRESSION",
    "WAIVER",
    "apply_inline",
    "apply_waivers",
    "expired_waiver_findings",
    "hygiene_finding",
    "parse_directives",
]
