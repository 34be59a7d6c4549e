"""soft_bounce is on: permanent errors become temporary (PF703, soft-bounce).

## What it does
Fails when the effective `soft_bounce` is `yes` in main.cf, or in a master.cf service whose
`-o soft_bounce=yes` turns it on for that service alone.

## Why is this bad?
postconf(5) calls `soft_bounce` a safety net for testing: with it on, Postfix turns every
permanent delivery failure into a temporary one (mail stays queued instead of bouncing) and
smtpd answers 4xx instead of 5xx to rejected clients, who keep retrying: recipients never
hear that mail failed, the queue grows, and rejected spam comes back until it expires. Left
on in production it hides real failures.

## Example
    # main.cf
    soft_bounce = yes

## Use instead
    # main.cf
    soft_bounce = no

## References
- postconf(5): soft_bounce
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext
from pfcheck.rules.setting_common import scoped_values, setting_finding, word

ID = "PF703"
NAME = "soft-bounce"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for scoped in scoped_values(ctx, "soft_bounce"):
        if word(scoped.value) != "yes":
            continue
        where = "every Postfix program" if scoped.service is None else scoped.label
        service = scoped.service.key if scoped.service is not None else None
        yield setting_finding(
            ctx, ID, NAME, scoped.value,
            f"{where} turns permanent errors into temporary ones: mail that should bounce stays "
            "queued and smtpd answers 4xx instead of 5xx to rejected clients (a testing safety net)",
            expected="no", service=service,
        )
