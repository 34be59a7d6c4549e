"""Inline suppression that does not apply (PF901, invalid-suppression).

## What it does
Reports every `# pfcheck:` directive in main.cf or master.cf that suppresses nothing because it
is broken: bad syntax, an unknown action (`ignroe[...]`, with a did-you-mean), an unknown rule
code or name (with a did-you-mean), a missing or empty `reason="..."`, an `ignore-file` that
comes after the first parameter (main.cf) or service (master.cf), a hygiene rule (PF901-PF904)
named inline, or any directive at all when the policy says `suppressions: deny`.

A broken directive fails closed: it hides nothing, even when only one of its codes is wrong,
so the finding it meant to hide is reported next to this one.

This rule is applied by the lint engine (pfcheck/engine/suppress.py) after the other rules ran;
`check()` yields nothing. Its severity and `off` are taken from the policy as for any rule.

## Why is this bad?
A typo in a suppression silently stops it working, or worse, a suppression without a reason
hides a security finding without anyone being able to tell why it was accepted. Security
owners may forbid inline escapes altogether (`suppressions: deny`) and keep every exception in
the policy's `waivers`, where their review applies.

## Example
    # pfcheck: ignore[PF11]
    disable_vrfy_command = no

## Use instead
    # pfcheck: ignore[PF101] reason="internal test relay, ticket OPS-123"
    disable_vrfy_command = no

## References
- pfcheck docs: inline suppressions (`# pfcheck: ignore[CODE] reason="..."`)
- hadolint `--disable-ignore-pragma`; ruff `RUF100`
"""
from __future__ import annotations

from typing import Any, Mapping

from pfcheck.findings import Severity
from pfcheck.rules.base import no_findings

ID = "PF901"
NAME = "invalid-suppression"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}

#: Reported while inline directives are applied (pfcheck/engine/suppress.py).
check = no_findings
