"""Policy assumption that matches nothing (PF905, unused-assumption).

## What it does
Reports every `assume:` entry of a policy file that no relay verdict of the run looked up:
no judged listener consults that table or policy service where pfcheck cannot see its
answers. It is reported once per run, at the entry's line in the policy file, and only when
the run judged everything the policy file governs (the policy file itself, or a directory at
or above it, was named): a pre-commit run over one changed `main.cf` does not report the
assumptions other directories use.

This rule is applied by the lint engine (pfcheck/engine/assumptions.py) once the run is
done; `check()` yields nothing.

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

from typing import Any, Mapping

from pfcheck.findings import Severity
from pfcheck.rules.base import no_findings

ID = "PF905"
NAME = "unused-assumption"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}

#: Reported once the run is done (pfcheck/engine/assumptions.py).
check = no_findings
