"""A submission listener lets clients work without TLS (PF503, submission-tls-optional).

## What it does
Applies to config directories whose policy gives them the `submission` role; without a role
it reports nothing. Fails for every smtpd listener reachable from other hosts on a
submission port (587, or 465; `submission`, `submissions`, `smtps` in master.cf) where TLS
is not enforced: no wrapper mode and a TLS level other than `encrypt` (an empty
`smtpd_tls_security_level` with the legacy `smtpd_enforce_tls = no`, `none`, or `may`).

## Why is this bad?
Submission carries the users' own mail and their passwords. With TLS optional, a client
(or an attacker who strips STARTTLS from EHLO) submits in clear text. Postfix's stock
master.cf sets `-o smtpd_tls_security_level=encrypt` on `submission` and
`-o smtpd_tls_wrappermode=yes` on `submissions`.

## Example
    # master.cf
    submission inet n - y - - smtpd
      -o smtpd_sasl_auth_enable=yes

## Use instead
    # master.cf
    submission inet n - y - - smtpd
      -o smtpd_tls_security_level=encrypt
      -o smtpd_sasl_auth_enable=yes

## References
- postconf(5): smtpd_tls_security_level, smtpd_tls_wrappermode
- Postfix stock master.cf (submission and submissions services)
- bettercrypto Applied Crypto Hardening ("listen on submission port 587 with mandatory STARTTLS")
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import ports, tls_facts
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.tls_common import level_location, level_reason, role_listeners

ID = "PF503"
NAME = "submission-tls-optional"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}
ROLE = "submission"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in role_listeners(ctx, ROLE, ports.is_submission_listener):
        if tls_facts.tls_required(listener):
            continue
        path, line, column = level_location(ctx, listener)
        level = tls_facts.tls_level(listener)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} accepts submissions without TLS: TLS level {level} "
            f"({level_reason(ctx, listener)}); clients may submit mail and credentials in "
            f"clear text ({listener.binding})",
            service=listener.key, parameter="smtpd_tls_security_level", expected="encrypt",
            actual=listener.scope.get("smtpd_tls_security_level").expanded,
        )
