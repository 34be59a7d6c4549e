"""Accepting findings: inline directives, central waivers and the baseline, in that order.

* Inline directives (`# pfcheck: ignore[...] reason="..."`, parsed in directives.py) hide the
  findings of the lines they cover. A directive with any problem (bad syntax, unknown rule,
  missing reason, misplaced `ignore-file`, forbidden by the policy's `suppressions: deny`)
  suppresses nothing and is reported as PF901 (invalid-suppression): failing closed keeps a
  typo from hiding a finding, and the finding stays visible next to the report of the broken
  directive. A valid directive whose rule reported nothing where it points is reported as
  PF902 (unused-suppression), once per unused code.
* Central waivers come from the policy (`Policy.find_waiver`); an expired waiver no longer
  hides anything and is reported once per run as PF904 (expired-waiver) at its line in the
  policy.
* The baseline (baseline.py) comes last; its stale entries are PF903.

`Suppressor` runs the three steps for the lint engine and keeps what was accepted, with why,
in `Suppressed` records.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Optional, Sequence

from pfcheck.engine.directives import MAIN_CF, MASTER_CF, Directive, RuleNames, parse_directives
from pfcheck.engine.suppressed import INLINE, WAIVER, Suppressed
from pfcheck.findings import Finding, Severity
from pfcheck.policy.model import Policy, Waiver
from pfcheck.postfix.config import ConfigDir
from pfcheck.rules import BASE_COMPARISON_RULES, engine_finding, policy_severity

#: The rules that run with `--base` only.
COMPARISON_CODES = frozenset(module.ID for module in BASE_COMPARISON_RULES)

if TYPE_CHECKING:  # imported where used: a run without --baseline / --write-baseline needs neither
    import datetime
    from pfcheck.engine.baseline import BaselineStep

#: The findings this module reports (the rules' documentation: pfcheck/rules/pf90[124]_*.py).
INVALID_SUPPRESSION = "PF901"
UNUSED_SUPPRESSION = "PF902"
EXPIRED_WAIVER = "PF904"

#: `allow | require-reason | deny` (pfcheck.policy.SUPPRESSION_MODES): with `deny` every
#: directive is PF901.
DENY = "deny"


# --------------------------------------------------------------------------------------------
# Inline directives


@dataclass
class InlineOutcome:
    """apply_inline()'s result: the findings left, the ones hidden, and PF901/PF902 findings."""

    kept: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    hygiene: list[Finding] = field(default_factory=list)


def apply_inline(
    findings: Iterable[Finding],
    directives_by_path: Mapping[str, Sequence[Directive]],
    mode: str = "allow",
    rules: Optional[RuleNames] = None,
    enabled: Callable[[str], bool] = lambda code: True,
    ran: Callable[[str], bool] = lambda code: True,
) -> InlineOutcome:
    """Hide findings covered by a usable directive of their file (`directives_by_path` is keyed
    by the findings' `path` form) and report broken and unused directives.

    `enabled(code)` says whether the policy turns a rule on; a directive for a rule that is off
    is unused, and the message says why. `ran(code)` says whether this run judged the rule at
    all: a comparison rule (PF203, PF304) runs with `--base` only, so without it a directive
    naming one can be neither used nor unused, and is left alone.
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
            if not directive.valid or mode == DENY:
                message = (
                    "inline suppressions are forbidden by the policy (suppressions: deny); "
                    "ask the policy owner for a waiver" if directive.valid else directive.problem
                )
                outcome.hygiene.append(engine_finding(
                    INVALID_SUPPRESSION, display, directive.line,
                    directive.column if directive.valid else directive.problem_column,
                    f"{message}; the directive suppresses nothing", actual=directive.text,
                ))
                continue
            for code in directive.codes:
                if (display, directive.line, code) in used or not ran(code):
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
                outcome.hygiene.append(engine_finding(
                    UNUSED_SUPPRESSION, display, directive.line, directive.column,
                    f"unused suppression of {code}: {why}", actual=directive.text,
                ))
    return outcome


# --------------------------------------------------------------------------------------------
# Waivers


def _waiver_label(waiver: Waiver) -> str:
    service = f" service {waiver.service}" if waiver.service else ""
    return f'{waiver.rule} on "{waiver.path}"{service}'


def apply_waivers(
    findings: Iterable[Finding],
    policy: Policy,
    real_path: Callable[[str], str],
    today: Optional[datetime.date] = None,
    policy_display: str = ".pfcheck.yaml",
    used: Optional[set[Waiver]] = None,
) -> tuple[list[Finding], list[Suppressed]]:
    """Drop findings an unexpired waiver of `policy` covers. `real_path(finding.path)` is the
    file's path as opened (absolute, or relative to the working directory). Each waiver that
    covered a finding is added to `used` (for PF908)."""
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
            if used is not None:
                used.add(waiver)
    return kept, suppressed


def expired_waiver_findings(policy: Policy, policy_display: str, today: Optional[datetime.date] = None,
                            severity: Optional[Severity] = None) -> list[Finding]:
    """One PF904 per expired waiver, at the waiver's line in the policy file."""
    findings = []
    for waiver in policy.expired_waivers(today):
        assert waiver.expires is not None  # (only a dated waiver expires)
        findings.append(engine_finding(
            EXPIRED_WAIVER, policy_display, waiver.line, waiver.column,
            f"waiver for {_waiver_label(waiver)} expired on {waiver.expires.isoformat()} and no longer "
            f'applies ("{waiver.reason}"): fix the findings it covered, or renew it',
            severity, parameter=None, actual=f"{waiver.rule} {waiver.path} {waiver.service or ''}".strip(),
        ))
    return findings


# --------------------------------------------------------------------------------------------
# The engine step


def rule_enabled(policy: Policy, code: str) -> bool:
    """Whether `policy` runs rule `code` (a policy built for other rules: it ran)."""
    try:
        return policy.enabled(code)
    except KeyError:  # a policy built for other rules: the rule ran
        return True


class Suppressor:
    """Inline directives, then waivers, then the baseline, for each directory of a lint run.

    `baseline` is None, a `Baseline` that hides the findings it records, or a `BaselineWriter`
    that hides every finding and records it for `--write-baseline` (baseline.py).
    `display(path)` turns a Path into the findings' path form; `today` fixes the date waivers
    are judged on (tests).
    """

    def __init__(
        self,
        display: Callable[[Path], str],
        baseline: Optional[BaselineStep] = None,
        today: Optional[datetime.date] = None,
        rules: Optional[RuleNames] = None,
        comparing: bool = False,
    ) -> None:
        self.display = display
        #: Whether the run compares with a base revision (`--base`): only then do the
        #: comparison rules run, and only then can a directive for one be unused.
        self.comparing = comparing
        self.baseline = baseline
        self.today = today
        self.rules = rules or RuleNames.registered()
        self._policies_reported: set[str] = set()
        self.suppressed: list[Suppressed] = []
        #: The waivers that covered a finding so far (PF908 reports the others).
        self.waivers_used: set[Waiver] = set()
        #: Display paths of the files judged so far (for stale baseline entries).
        self.checked: set[str] = set()

    def ran(self, code: str) -> bool:
        """Whether rule `code` ran in this run (comparison rules only with --base)."""
        return self.comparing or code not in COMPARISON_CODES

    def directives(self, config: ConfigDir) -> dict[str, list[Directive]]:
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

    def directory(self, findings: Iterable[Finding], config: ConfigDir, policy: Policy,
                  named: Optional[set[str]] = None) -> list[Finding]:
        """The findings of one directory that stay, hygiene findings included (each at the
        policy's severity; none for a rule that is off). Findings outside `named` (display
        paths) are dropped after suppression, so directives in unnamed files are not judged."""
        real_paths = {self.display(s.path): str(s.path)
                      for s in (config.main_source, config.master_source) if s is not None}
        directives = self.directives(config)
        inline = apply_inline(findings, directives, policy.suppressions, self.rules,
                              lambda code: rule_enabled(policy, code), self.ran)
        hygiene = [f.with_(severity=s) for f in inline.hygiene
                   if (s := policy_severity(policy, f.code)) is not None]
        policy_display = self.display(Path(policy.path)) if policy.path else "<built-in policy>"
        kept, waived = apply_waivers([*inline.kept, *hygiene], policy,
                                     lambda shown: real_paths.get(shown, shown), self.today, policy_display,
                                     self.waivers_used)
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

    def _expired_waivers(self, policy: Policy, policy_display: str) -> list[Finding]:
        """PF904 findings, once per policy file and run."""
        if policy.path is None:
            return []
        key = os.path.abspath(policy.path)
        if key in self._policies_reported:
            return []
        self._policies_reported.add(key)
        severity = policy_severity(policy, EXPIRED_WAIVER)
        if severity is None:
            return []
        return expired_waiver_findings(policy, policy_display, self.today, severity)

    def finish(self) -> list[Finding]:
        """Run-level findings once every directory is done: stale baseline entries (PF903).
        In `--write-baseline` mode this writes the baseline file instead."""
        if self.baseline is None:
            return []
        return self.baseline.finish(sorted(self.checked))
