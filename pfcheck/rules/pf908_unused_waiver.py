"""Policy waiver that matches nothing (PF908, unused-waiver).

## What it does
Reports every `waivers:` entry of a policy file that covered no finding in the run: its rule
ran, the waiver has not expired (that is PF904's), and yet no finding of that rule in a path
the glob matches (and on the listener it names, if it names one) was reported. It is reported
once per run, at the waiver's line in the policy file, and only when the run judged everything
the policy file governs (the policy file itself, or a directory at or above it, was named): a
pre-commit run over one changed `main.cf` does not report the waivers of other directories.
Waivers of rules that did not run are not judged: a rule the policy (or `--select`/`--ignore`)
turns off, or a comparison rule (PF203, PF304) in a run without `--base`.

This rule is applied by the lint engine (pfcheck/engine/assumptions.py) once the run is
done; `check()` yields nothing.

## Why is this bad?
A waiver is a reviewed exception. One that covers nothing is left over from a problem that
was fixed, or it has a typo in its rule, path or service, in which case the finding it was
written for is still reported (or, worse, a later finding on another path is waived by a glob
nobody checks any more). Like a stale baseline entry (PF903) or an unused inline suppression
(PF902), it should go.

## Example
    waivers:
      - {rule: PF101, path: "hosts/mx-old/*", reason: "retired host, VRFY kept for a migration"}

## Use instead
    # the host is gone: remove the waiver
    waivers: []

## References
- docs/policy.md, `waivers`
"""
from __future__ import annotations

from typing import Any, Mapping

from pfcheck.findings import Severity
from pfcheck.rules.base import no_findings

ID = "PF908"
NAME = "unused-waiver"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}

#: Reported once the run is done (pfcheck/engine/assumptions.py).
check = no_findings
