"""Which policy `assume:` entries a run's relay verdicts looked up (PF905 for the others), and
which `waivers:` covered a finding (PF908 for the others).

A policy file's entries are judged only when the run judged everything the file governs: the
policy file itself, or a directory at or above it, was named. A pre-commit run over one changed
`main.cf` does not report the assumptions or waivers other directories use.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from pfcheck.findings import Finding
from pfcheck.policy.assume import Assumption
from pfcheck.engine.suppress import rule_enabled
from pfcheck.policy.model import Policy, Waiver
from pfcheck.rules import engine_finding, policy_severity

if TYPE_CHECKING:  # annotations only: datetime costs ~2 ms to import
    import datetime

#: The findings this module reports (the rules' documentation: pfcheck/rules/pf905_*.py, pf908_*.py).
UNUSED_ASSUMPTION = "PF905"
UNUSED_WAIVER = "PF908"


class AssumptionUsage:
    """Which `assume:` entries the relay verdicts of a run looked up, per policy file.

    `covered`: the paths named on the command line (a policy is judged whole only when one of
    them is the policy file or a directory at or above it).
    """

    def __init__(self, covered: Iterable[str]) -> None:
        self._covered = [Path(os.path.abspath(path)) for path in covered]
        self._policies: dict[Path, Policy] = {}
        self._used: set[Assumption] = set()
        #: Policy files governing a directory the run did not judge (`--changed-only`).
        self._not_judged: set[Path] = set()

    def record(self, policy: Policy, consulted: Iterable[Assumption]) -> None:
        """What one directory's relay verdicts under `policy` looked up."""
        if policy.path is None or not (policy.assumptions or policy.waivers):
            return
        self._policies.setdefault(Path(os.path.abspath(policy.path)), policy)
        self._used.update(consulted)

    def not_judged(self, policy: Policy) -> None:
        """A directory `policy` governs is not judged: what it would look up is unknown, so
        the policy is not judged whole (as when that directory is not named)."""
        if policy.path is not None:
            self._not_judged.add(Path(os.path.abspath(policy.path)))

    def _judged_whole(self, policy_file: Path) -> bool:
        if policy_file in self._not_judged:
            return False
        return any(named == policy_file or named in policy_file.parents for named in self._covered)

    def findings_by_policy(self, display: Callable[[Path], str], waivers_used: Iterable[Waiver] = (),
                           ran: Callable[[str], bool] = lambda _code: True,
                           today: "datetime.date | None" = None) -> list[tuple[Policy, list[Finding]]]:
        """One PF905 per unused assumption and one PF908 per unused waiver of each policy file
        judged whole, at that policy's severity, grouped by the policy file they are in (which
        judges whether they fail). `waivers_used`: the waivers that covered a finding; `ran`:
        whether a rule ran at all in this run (a comparison rule runs only with --base)."""
        groups: list[tuple[Policy, list[Finding]]] = []
        used_waivers = set(waivers_used)
        for policy_file, policy in self._policies.items():
            if not self._judged_whole(policy_file):
                continue
            found = self._unused_assumptions(policy_file, policy, display)
            found += _unused_waivers(policy_file, policy, display, used_waivers, ran, today)
            if found:
                groups.append((policy, found))
        return groups

    def _unused_assumptions(self, policy_file: Path, policy: Policy, display: Callable[[Path], str]) -> list[Finding]:
        severity = policy_severity(policy, UNUSED_ASSUMPTION)
        found: list[Finding] = []
        if severity is not None:
            for entry in policy.assumptions.entries:
                if entry.policy_path is None or entry in self._used:
                    continue
                # An entry inherited from another file is that file's to report.
                if Path(os.path.abspath(entry.policy_path)) != policy_file:
                    continue
                noun = "table" if entry.kind == "table" else "policy service"
                found.append(engine_finding(
                    UNUSED_ASSUMPTION, display(policy_file), entry.line, entry.column,
                    f"assumption about {noun} {entry.key} matches nothing: no judged listener looks it "
                    "up where pfcheck cannot see its answers; remove it, or fix the key to the "
                    "reference as main.cf writes it",
                    severity, parameter=None, actual=entry.key,
                ))
        return found


def _unused_waivers(policy_file: Path, policy: Policy, display: Callable[[Path], str], used: set[Waiver],
                    ran: Callable[[str], bool], today: "datetime.date | None") -> list[Finding]:
    """PF908 for each waiver of the policy file that covered no finding, among the waivers of
    rules that ran (a waiver of a rule the policy or --select turns off, or of a comparison
    rule without --base, could not match) and that have not expired (PF904's)."""
    severity = policy_severity(policy, UNUSED_WAIVER)
    if severity is None:
        return []
    found: list[Finding] = []
    for waiver in policy.waivers:
        if waiver in used or waiver.expired(today) or not ran(waiver.rule) or not rule_enabled(policy, waiver.rule):
            continue
        service = f" service {waiver.service}" if waiver.service else ""
        found.append(engine_finding(
            UNUSED_WAIVER, display(policy_file), waiver.line, waiver.column,
            f'waiver for {waiver.rule} on "{waiver.path}"{service} matches no finding: nothing it '
            "covers is reported any more; remove it, or fix its rule, path or service",
            severity, parameter=None, actual=f"{waiver.rule} {waiver.path} {waiver.service or ''}".strip(),
        ))
    return found
