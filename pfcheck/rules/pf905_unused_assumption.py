"""Policy assumption that matches nothing (PF905, unused-assumption).

## What it does
Reports every `assume:` entry of a policy file that no relay verdict of the run looked up:
no judged listener consults that table or policy service where pfcheck cannot see its
answers. It is reported once per run, at the entry's line in the policy file, and only when
the run judged everything the policy file governs (the policy file itself, or a directory at
or above it, was named): a pre-commit run over one changed `main.cf` does not report the
assumptions other directories use.

This rule is applied by the lint engine (pfcheck/lint.py) after the other rules ran;
`check()` yields nothing.

## Why is this bad?
An assumption is a reviewed statement about data outside the repository. One that matches
nothing is either left over from a table that was removed, or a typo in the key
(`mysql:/etc/postfix/sql/client.cf` for `clients.cf`), in which case the verdict it was meant
for is still unproven (PF302) and the reviewer believes otherwise. Like a stale baseline entry
(PF903) or an expired waiver (PF904), it should go.

## Example
    assume:
      tables:
        "mysql:/etc/postfix/sql/client.cf": {results: [REJECT, DUNNO]}   # main.cf says clients.cf

## Use instead
    assume:
      tables:
        "mysql:/etc/postfix/sql/clients.cf": {results: [REJECT, DUNNO]}

## References
- docs/policy.md, `assume`
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity

ID = "PF905"
NAME = "unused-assumption"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: Any, options: Mapping[str, Any]) -> Iterator[Finding]:
    """Nothing: the engine reports unused assumptions once the run is done (AssumptionUsage)."""
    return iter(())


class AssumptionUsage:
    """Which `assume:` entries the relay verdicts of a run looked up, per policy file.

    `covered`: the paths named on the command line (a policy is judged whole only when one of
    them is the policy file or a directory at or above it).
    """

    def __init__(self, covered: Iterable[str]) -> None:
        self._covered = [Path(os.path.abspath(path)) for path in covered]
        self._policies: dict[Path, Any] = {}
        self._used: set[Any] = set()

    def record(self, policy: Any, consulted: Iterable[Any]) -> None:
        path = getattr(policy, "path", None)
        if path is None or not getattr(policy, "assumptions", None):
            return
        self._policies.setdefault(Path(os.path.abspath(path)), policy)
        self._used.update(consulted)

    def _judged_whole(self, policy_file: Path) -> bool:
        return any(named == policy_file or named in policy_file.parents for named in self._covered)

    def findings(self, display: Callable[[Path], str]) -> list[Finding]:
        """One PF905 per unused entry of each policy file judged whole, at the policy's severity."""
        return [f for _policy, group in self.findings_by_policy(display) for f in group]

    def findings_by_policy(self, display: Callable[[Path], str]) -> list[tuple[Any, list[Finding]]]:
        """`findings()` grouped by the policy file they are in (which judges whether they fail)."""
        groups: list[tuple[Any, list[Finding]]] = []
        for policy_file, policy in self._policies.items():
            found: list[Finding] = []
            groups.append((policy, found))
            severity = _severity(policy)
            if severity is None or not self._judged_whole(policy_file):
                continue
            for entry in policy.assumptions.entries:
                if entry.policy_path is None or entry in self._used:
                    continue
                # An entry inherited from another file is that file's to report.
                if Path(os.path.abspath(entry.policy_path)) != policy_file:
                    continue
                noun = "table" if entry.kind == "table" else "policy service"
                found.append(Finding(
                    code=ID, name=NAME, severity=severity, path=display(policy_file),
                    line=entry.line, column=entry.column,
                    message=(f"assumption about {noun} {entry.key} matches nothing: no judged listener looks it "
                             "up where pfcheck cannot see its answers; remove it, or fix the key to the "
                             "reference as main.cf writes it"),
                    parameter=None, actual=entry.key,
                ))
        return [(policy, found) for policy, found in groups if found]


def _severity(policy: Any) -> Optional[Severity]:
    try:
        return policy.severity(ID)
    except KeyError:
        return SEVERITY
