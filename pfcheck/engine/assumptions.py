"""Which policy `assume:` entries a run's relay verdicts looked up, and PF905 for the others.

A policy file's assumptions are judged only when the run judged everything the file governs:
the policy file itself, or a directory at or above it, was named. A pre-commit run over one
changed `main.cf` does not report the assumptions other directories use.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from pfcheck.findings import Finding
from pfcheck.policy.assume import Assumption
from pfcheck.policy.model import Policy
from pfcheck.rules import engine_finding, policy_severity

#: The finding this module reports (the rule's documentation: pfcheck/rules/pf905_*.py).
UNUSED_ASSUMPTION = "PF905"


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
        if policy.path is None or not policy.assumptions:
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

    def findings_by_policy(self, display: Callable[[Path], str]) -> list[tuple[Policy, list[Finding]]]:
        """One PF905 per unused entry of each policy file judged whole, at that policy's
        severity, grouped by the policy file they are in (which judges whether they fail)."""
        groups: list[tuple[Policy, list[Finding]]] = []
        for policy_file, policy in self._policies.items():
            severity = policy_severity(policy, UNUSED_ASSUMPTION)
            if severity is None or not self._judged_whole(policy_file):
                continue
            found: list[Finding] = []
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
            if found:
                groups.append((policy, found))
        return groups
