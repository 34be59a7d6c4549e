"""A TLS cipher grade includes insecure ciphers (PF508, weak-tls-ciphers).

## What it does
Warns when a cipher grade in use is `export`, `low` or `null`:

- per smtpd listener reachable from other hosts with TLS on: the grade that listener's
  sessions use, `smtpd_tls_mandatory_ciphers` where TLS is enforced (encrypt, wrapper
  mode), else `smtpd_tls_ciphers` (smtpd.c);
- main.cf-wide, for the `smtp` and `lmtp` clients when they may use TLS: both
  `_tls_ciphers` and `_tls_mandatory_ciphers`.

Grades compare case-sensitively, as Postfix's do (an upper-case grade is not a grade).

## Why is this bad?
postconf(5) on `export` and `low`: these grades are insecure and SHOULD NOT be used; `null`
offers only ciphers without encryption. Opportunistic TLS on an MX gains nothing from them
(the default `medium` already accepts every reasonable peer).

## Example
    # main.cf
    smtpd_tls_ciphers = export

## Use instead
    # main.cf
    smtpd_tls_ciphers = medium
    smtpd_tls_mandatory_ciphers = high

## References
- postconf(5): smtpd_tls_ciphers, smtpd_tls_mandatory_ciphers, tls_export_cipherlist,
  tls_low_cipherlist, tls_null_cipherlist
- bettercrypto Applied Crypto Hardening; Mozilla ssl-config-generator
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import tls_facts
from pfcheck.postfix.config import Listener, Value
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.tls_common import shown, tls_session_values

ID = "PF508"
NAME = "weak-tls-ciphers"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}
WEAK_GRADES = {
    "export": "export-grade ciphers",
    "low": "low-grade ciphers",
    "null": "ciphers without encryption",
}


def _finding(ctx: RuleContext, value: Value, who: str, listener: Optional[Listener]) -> Finding:
    path, line, column = ctx.location_of(value, listener)
    grade = value.expanded.strip()
    return make_finding(
        ctx, ID, NAME, path, line, column,
        f"{who} allows {WEAK_GRADES[grade]}: {shown(ctx, value, listener)}; postconf(5): "
        "insecure, SHOULD NOT be used",
        service=listener.key if listener is not None else None, parameter=value.name,
        expected="medium", actual=grade, from_default=value.origin.is_default,
    )


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for value, who, listener in tls_session_values(ctx, tls_facts.ciphers_parameter,
                                                   ("tls_ciphers", "tls_mandatory_ciphers")):
        if value.expanded.strip() in WEAK_GRADES:
            yield _finding(ctx, value, who, listener)
