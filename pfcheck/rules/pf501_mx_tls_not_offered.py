"""The port-25 listener of an MX offers no usable STARTTLS (PF501, mx-tls-not-offered).

## What it does
Applies to config directories whose policy gives them the `mx` role (`roles:` in
.pfcheck.yaml); without a role it reports nothing. Warns for every smtpd listener reachable
from other hosts on port 25 (directly, or behind postscreen) where a connecting MTA cannot
negotiate STARTTLS, judged on the effective configuration:

- the TLS level is none: `smtpd_tls_security_level = none`, or empty with the legacy
  `smtpd_use_tls`/`smtpd_enforce_tls` left at `no` (Postfix's default: no TLS at all);
- STARTTLS is advertised but smtpd has no server certificate (`smtpd_tls_cert_file`,
  `smtpd_tls_chain_files`, ... all empty): smtpd logs "No server certs available. TLS won't
  be enabled" and answers STARTTLS with 454;
- the protocol list smtpd uses cannot be parsed (TLS is then disabled the same way);
- `starttls` is in `smtpd_discard_ehlo_keywords`.

pfcheck cannot see the certificate files on the mail host: a configured path is taken to
exist and match its key. Wrapper mode on port 25 is PF502's.

## Why is this bad?
Without STARTTLS every message from other mail servers crosses the Internet in clear text.
Opportunistic TLS (`may`) costs nothing: senders that cannot do TLS still deliver.

## Example
    # main.cf
    compatibility_level = 3.6

## Use instead
    # main.cf
    smtpd_tls_security_level = may
    smtpd_tls_chain_files = /etc/postfix/mx.pem

## References
- postconf(5): smtpd_tls_security_level, smtpd_use_tls, smtpd_tls_cert_file, smtpd_tls_chain_files
- TLS_README ("Server-side TLS activation")
- Mozilla ssl-config-generator Postfix template (`smtpd_tls_security_level = may`); bettercrypto
  Applied Crypto Hardening ("enable opportunistic TLS"); BSI TR-03108
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import ports, tls_facts
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.tls_common import level_location, level_reason, role_listeners, shown

ID = "PF501"
NAME = "mx-tls-not-offered"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}
ROLE = "mx"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in role_listeners(ctx, ROLE, ports.is_mx_listener):
        if tls_facts.wrapper_mode(listener):
            continue
        if tls_facts.starttls_offered(listener):
            continue
        facts = tls_facts.smtpd_tls(listener)
        scope = listener.scope
        if not facts.use_tls:
            why = f"TLS is off ({level_reason(ctx, listener)})"
            path, line, column = level_location(ctx, listener)
            parameter, actual = "smtpd_tls_security_level", scope.get("smtpd_tls_security_level").expanded
        elif "starttls" in facts.discarded:
            value = scope.get("smtpd_discard_ehlo_keywords")
            why = f"EHLO hides it: {shown(ctx, value, listener)}"
            path, line, column = ctx.location_of(value, listener)
            parameter, actual = value.name, value.expanded
        else:
            why = (f"TLS is on ({level_reason(ctx, listener)}) but cannot start: {facts.tls_problem}; "
                   "smtpd answers STARTTLS with 454")
            path, line, column = level_location(ctx, listener)
            parameter, actual = "smtpd_tls_cert_file", scope.get("smtpd_tls_cert_file").expanded
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} receives mail on port 25 without STARTTLS: {why}; mail from other "
            f"servers arrives in clear text ({listener.binding})",
            service=listener.key, parameter=parameter, expected="may", actual=actual,
        )
