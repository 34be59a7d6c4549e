"""Policy waiver past its expiry date (PF904, expired-waiver).

## What it does
Reports every waiver in the policy file whose `expires` date has passed (the waiver applies
through that day), once per run, at the waiver's line in the policy file. An expired waiver no
longer hides anything: the findings it covered are reported again with their own severity.

This rule is applied by the lint engine (pfcheck/engine/suppress.py) after the other rules ran;
`check()` yields nothing.

## Why is this bad?
A waiver is a dated promise ("until the migration in OPS-123 is done"). Once the date passes
either the promise was kept and the waiver is dead weight, or it was not and the exception
needs a fresh decision by the policy owner.

## Example
    waivers:
      - rule: PF101
        path: hosts/legacy-mx/main.cf
        reason: "VRFY needed by the old monitoring; OPS-123"
        expires: 2024-06-30

## Use instead
    # fix hosts/legacy-mx/main.cf and delete the waiver, or renew it deliberately:
    waivers:
      - rule: PF101
        path: hosts/legacy-mx/main.cf
        reason: "monitoring migration slipped; OPS-123, approved by J. Doe"
        expires: 2026-12-31

## References
- docs/policy.md, `waivers`
"""
from __future__ import annotations

from typing import Any, Mapping

from pfcheck.findings import Severity
from pfcheck.rules.base import no_findings

ID = "PF904"
NAME = "expired-waiver"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}

#: Reported while waivers are applied (pfcheck/engine/suppress.py).
check = no_findings
