"""Reachable listener accepts non-RFC 821 envelope addresses (PF707, strict-envelopes-off).

## What it does
Reports every smtpd listener that clients on other hosts can reach whose effective
`strict_rfc821_envelopes` is `no` (set, in a master.cf `-o`, or Postfix's default). Off in the
built-in policy: the recommendation is common advice, not a requirement of any reputable
source.

## Why is this bad?
With `no`, smtpd accepts MAIL FROM and RCPT TO addresses without `<>` brackets, with
comments and phrases (`MAIL FROM: Joe <joe@example.com>`), which real mail clients do not
send and badly written spam software does. postconf(5) notes that `yes` "will reject mail
from poorly written software".

## Example
    # main.cf
    strict_rfc821_envelopes = no

## Use instead
    # main.cf
    strict_rfc821_envelopes = yes

## References
- postconf(5): strict_rfc821_envelopes
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext
from pfcheck.rules.setting_common import listeners_with_word

ID = "PF707"
NAME = "strict-envelopes-off"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    return listeners_with_word(
        ctx, ID, NAME, "strict_rfc821_envelopes", "no",
        "accepts envelope addresses that are not RFC 821 (no <>, comments, phrases)",
        expected="yes",
    )
