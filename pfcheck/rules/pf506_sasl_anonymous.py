"""SASL allows anonymous mechanisms (PF506, sasl-anonymous).

## What it does
Fails for every smtpd listener reachable from other hosts that offers AUTH while the SASL
security options of that session do not contain `noanonymous`: `smtpd_sasl_security_options`
for AUTH in a plaintext session, `smtpd_sasl_tls_security_options` (default
`$smtpd_sasl_security_options`) for AUTH after STARTTLS or in wrapper mode. Each parameter
is reported once per listener, only for the sessions in which smtpd offers AUTH (see
PF505 for when that is). Words compare in any case.

## Why is this bad?
An anonymous mechanism (ANONYMOUS) authenticates anyone without a password, and
`permit_sasl_authenticated` then lets that "authenticated" client relay: an open relay
behind one extra SMTP command. Whether the SASL backend offers ANONYMOUS is outside the
config; `noanonymous` is what keeps it out either way.

## Example
    # main.cf
    smtpd_sasl_auth_enable = yes
    smtpd_sasl_security_options = noplaintext

## Use instead
    # main.cf
    smtpd_sasl_auth_enable = yes
    smtpd_sasl_security_options = noanonymous, noplaintext
    smtpd_sasl_tls_security_options = noanonymous

## References
- postconf(5): smtpd_sasl_security_options, smtpd_sasl_tls_security_options
- SASL_README ("Postfix SMTP server policy - SASL mechanism properties")
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import tls_facts
from pfcheck.postfix.config import Value
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.tls_common import shown

ID = "PF506"
NAME = "sasl-anonymous"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}
INHERITED = "smtpd_sasl_security_options"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in judged_listeners(ctx):
        sessions = []
        if tls_facts.auth_offered_before_tls(listener):
            sessions.append((False, "plaintext"))
        if tls_facts.auth_offered_after_tls(listener):
            sessions.append((True, "TLS"))
        lacking: dict[str, tuple[Value, list[str]]] = {}
        for after_tls, session in sessions:
            if "noanonymous" in tls_facts.sasl_security_options(listener, after_tls):
                continue
            value = listener.scope.get(tls_facts.sasl_security_options_parameter(after_tls))
            if value.origin.is_default and INHERITED in value.raw:
                # The default `$smtpd_sasl_security_options`: the line to fix is that one.
                value = listener.scope.get(INHERITED)
            lacking.setdefault(value.name, (value, []))[1].append(session)
        for value, kinds in lacking.values():
            path, line, column = ctx.location_of(value, listener)
            yield make_finding(
                ctx, ID, NAME, path, line, column,
                f"{listener.key} offers AUTH in {' and '.join(kinds)} sessions with "
                f"{shown(ctx, value, listener)}, which lacks noanonymous: an anonymous SASL "
                f"login counts as authenticated (permit_sasl_authenticated) ({listener.binding})",
                service=listener.key, parameter=value.name, expected="noanonymous",
                actual=value.expanded, from_default=value.origin.is_default,
            )
