"""The port-25 listener of an MX requires TLS (PF502, mx-tls-required).

## What it does
Applies to config directories whose policy gives them the `mx` role; without a role it
reports nothing. Fails for every smtpd listener reachable from other hosts on port 25
(directly, or behind postscreen) where smtpd enforces TLS: `smtpd_tls_security_level =
encrypt` (or `fingerprint`/`verify`/`secure`, which smtpd treats as encrypt), an empty
level with the legacy `smtpd_enforce_tls = yes`, or `smtpd_tls_wrappermode = yes`. smtpd
then answers MAIL in plaintext with "530 5.7.0 Must issue a STARTTLS command first" (or,
in wrapper mode, speaks nothing but TLS).

## Why is this bad?
Other MTAs deliver to an MX in plaintext when they cannot do TLS, and most do not retry
with TLS: a public MX that requires it loses their mail. RFC 3207 says so, and Postfix's
documentation repeats it for `encrypt`: "According to RFC 2487 this MUST NOT be applied in
case of a publicly-referenced SMTP server."

## Example
    # main.cf
    smtpd_tls_security_level = encrypt

## Use instead
    # main.cf: opportunistic on port 25, mandatory on the submission ports only
    smtpd_tls_security_level = may

## References
- postconf(5): smtpd_tls_security_level, smtpd_enforce_tls, smtpd_tls_wrappermode
- TLS_README ("Enforcing TLS encryption"); RFC 3207 section 4
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import ports, tls_facts
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.tls_common import level_location, level_reason, role_listeners

ID = "PF502"
NAME = "mx-tls-required"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}
ROLE = "mx"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in role_listeners(ctx, ROLE, ports.is_mx_listener):
        if not tls_facts.tls_required(listener):
            continue
        path, line, column = level_location(ctx, listener)
        if tls_facts.wrapper_mode(listener):
            what = "speaks only TLS (wrapper mode)"
            parameter, actual = "smtpd_tls_wrappermode", "yes"
        else:
            what = "requires STARTTLS before MAIL (530 to plaintext senders)"
            parameter = "smtpd_tls_security_level"
            actual = listener.scope.get(parameter).expanded
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} receives mail on port 25 but {what}: {level_reason(ctx, listener)}; "
            f"servers that cannot do TLS cannot deliver, and RFC 3207 forbids this on a "
            f"publicly referenced MX ({listener.binding})",
            service=listener.key, parameter=parameter, expected="may", actual=actual,
        )
