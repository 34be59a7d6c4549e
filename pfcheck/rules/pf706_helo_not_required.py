"""Reachable listener accepts mail without HELO/EHLO (PF706, helo-not-required).

## What it does
Reports every smtpd listener that clients on other hosts can reach whose effective
`smtpd_helo_required` is `no` (set, in a master.cf `-o`, or Postfix's default). Off in the
built-in policy: the recommendation is common advice, not a requirement of any reputable
source.

## Why is this bad?
Without a required HELO/EHLO, a client may send MAIL FROM at once, and every
`smtpd_helo_restrictions` check (`reject_invalid_helo_hostname`,
`reject_non_fqdn_helo_hostname`, ...) is skipped for it. Many spam bots do not greet.
Postfix leaves it off for compatibility with old clients.

## Example
    # main.cf
    smtpd_helo_required = no

## Use instead
    # main.cf
    smtpd_helo_required = yes

## References
- postconf(5): smtpd_helo_required; SMTPD_ACCESS_README
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext
from pfcheck.rules.setting_common import listeners_with_word

ID = "PF706"
NAME = "helo-not-required"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    return listeners_with_word(
        ctx, ID, NAME, "smtpd_helo_required", "no",
        "accepts MAIL FROM from clients that never sent HELO/EHLO, so smtpd_helo_restrictions never judge them",
        expected="yes",
    )
