"""SASL AUTH is offered before TLS, with plaintext mechanisms (PF505, sasl-over-plaintext).

## What it does
Fails for every smtpd listener reachable from other hosts that offers AUTH in a plaintext
session and lets plaintext mechanisms (PLAIN, LOGIN) through. That is the effective
configuration of the listener (main.cf, its master.cf `-o`, the target version's defaults):

- `smtpd_sasl_auth_enable = yes`,
- no wrapper mode (`smtpd_tls_wrappermode = no`),
- TLS not enforced (`smtpd_tls_security_level` is not `encrypt`; under an empty level,
  `smtpd_enforce_tls = no`): smtpd.c makes enforced TLS imply `smtpd_tls_auth_only`,
- `smtpd_tls_auth_only = no` (the default),
- and `smtpd_sasl_security_options` does not contain `noplaintext`.

`auth` in `smtpd_discard_ehlo_keywords` hides AUTH from everyone and passes.

## Why is this bad?
A client that sees AUTH before STARTTLS may send its user name and password in clear text,
readable by anyone on the path; an active attacker can strip the STARTTLS keyword from EHLO
and get exactly that. Mail clients usually authenticate on the submission ports, so a
password leaked there is a mailbox and a relay account.

## Example
    # master.cf
    submission inet n - y - - smtpd
      -o smtpd_tls_security_level=may
      -o smtpd_sasl_auth_enable=yes

## Use instead
    # main.cf
    smtpd_tls_auth_only = yes
    # or, in master.cf, -o smtpd_tls_security_level=encrypt on the submission service

## References
- postconf(5): smtpd_tls_auth_only, smtpd_sasl_security_options, smtpd_sasl_tls_security_options,
  smtpd_tls_security_level
- SASL_README ("Postfix SMTP server policy - SASL mechanism properties")
- Mozilla ssl-config-generator Postfix template (`smtpd_tls_auth_only = yes`); bettercrypto
  Applied Crypto Hardening ("ensure that SMTP AUTH is not allowed on unencrypted connections");
  ComplianceAsCode group "Use TLS for SMTP AUTH"
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import tls_facts
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.tls_common import level_reason, shown

ID = "PF505"
NAME = "sasl-over-plaintext"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in judged_listeners(ctx):
        if not tls_facts.auth_offered_before_tls(listener):
            continue
        if "noplaintext" in tls_facts.sasl_security_options(listener, after_tls=False):
            continue
        scope = listener.scope
        enable = scope.get("smtpd_sasl_auth_enable")
        path, line, column = ctx.location_of(enable, listener)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} offers AUTH before STARTTLS, so passwords may cross the network "
            f"in clear text: {shown(ctx, enable, listener)}, TLS level "
            f"{tls_facts.tls_level(listener)} ({level_reason(ctx, listener)}), "
            f"{shown(ctx, scope.get('smtpd_tls_auth_only'), listener)}, and "
            f"{shown(ctx, scope.get('smtpd_sasl_security_options'), listener)} lacks noplaintext; "
            f"it is reachable from other hosts ({listener.binding})",
            service=listener.key, parameter="smtpd_tls_auth_only", expected="yes",
            actual=scope.get("smtpd_tls_auth_only").expanded,
            from_default=enable.origin.is_default,
        )
