"""Inline suppression that suppressed nothing (PF902, unused-suppression).

## What it does
Reports a valid `# pfcheck: ignore[...]` or `ignore-file[...]` directive for each rule it names
that reported nothing where the directive points: on the next logical line (with its
continuation lines), in the master.cf service entry or `-o` option that follows, or, for
`ignore-file`, anywhere in the file. A directive for a rule that the policy turns off is unused
too, and the message says so. A directive for PF203 or PF304 is judged only in runs with
`--base`: those rules compare with a base revision and run nowhere else, so the hook without
`--base` or a plain CI run cannot tell whether it is still needed.

This rule is applied by the lint engine (pfcheck/engine/suppress.py) after the other rules ran;
`check()` yields nothing.

## Why is this bad?
A suppression that outlived its finding (the value was fixed, the line moved away, the rule
changed) is a loaded gun: the next time someone writes a bad value on that line, it is hidden
without review. Remove stale directives, as ruff's `RUF100` (unused-noqa) asks for `# noqa`.

## Example
    # pfcheck: ignore[PF101] reason="legacy host"
    disable_vrfy_command = yes

## Use instead
    disable_vrfy_command = yes

## References
- ruff rule RUF100 (unused-noqa)
"""
from __future__ import annotations

from typing import Any, Mapping

from pfcheck.findings import Severity
from pfcheck.rules.base import no_findings

ID = "PF902"
NAME = "unused-suppression"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}

#: Reported while inline directives are applied (pfcheck/engine/suppress.py).
check = no_findings
