"""A deprecated TLS parameter is set (PF509, deprecated-tls-parameter).

## What it does
Reports every main.cf line and master.cf `-o` that sets a TLS parameter Postfix 3.9
deprecated, while the target version still knows the name (an unknown name is PF002's):
the legacy `smtpd_use_tls`, `smtpd_enforce_tls` and their `smtp_`, `lmtp_`, `postscreen_`,
`tlsproxy_` and `tlsproxy_client_` counterparts (use the `_security_level` parameters),
`smtp_tls_per_site`/`lmtp_tls_per_site` (use `_tls_policy_maps`), and
`smtpd_tls_dh1024_param_file`, `smtpd_tls_eecdh_grade` (leave them at their defaults). The
list is postconf's own (postconf_unused.c, Postfix 3.9), with its advice.

## Why is this bad?
From Postfix 3.9 on, postconf warns about each of them and DEPRECATION_README announces
their removal. The legacy booleans are also easy to misread: a non-empty
`smtpd_tls_security_level` silently overrides them, and under an empty one they decide.
Custom DH parameters and EECDH grades are weaker than what the TLS library picks today.

## Example
    # main.cf
    smtpd_use_tls = yes

## Use instead
    # main.cf
    smtpd_tls_security_level = may

## References
- postconf(5): smtpd_use_tls, smtpd_enforce_tls, smtpd_tls_dh1024_param_file,
  smtpd_tls_eecdh_grade
- RELEASE_NOTES-3.9 ("feature deprecation"); DEPRECATION_README
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import defaults
from pfcheck.postfix.unused import removed_parameters
from pfcheck.rules.base import RuleContext, make_finding

ID = "PF509"
NAME = "deprecated-tls-parameter"
SEVERITY = Severity.INFO
OPTIONS: Mapping[str, tuple[type, Any]] = {}
#: The release whose postconf warns about these names.
DEPRECATED_IN = "3.9"


def deprecated_tls_parameters() -> dict[str, str]:
    """name -> postconf's advice: the TLS names of postconf 3.9's deprecation table."""
    return {name: advice for name, advice in removed_parameters(DEPRECATED_IN).items() if "tls" in name}


def _message(ctx: RuleContext, name: str, value: str, where: str, advice: str) -> str:
    warns = (f"postconf {ctx.config.version} warns about it"
             if defaults.parse_version(ctx.config.version) >= defaults.parse_version(DEPRECATED_IN)
             else f"deprecated in Postfix {DEPRECATED_IN}")
    shown = f"{name} = {value}" if value else f"{name} ="
    return f"{shown} is set{where}: {warns}; {advice}"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    config = ctx.config
    for name, advice in deprecated_tls_parameters().items():
        if not config.is_known(name):
            continue
        definition = config.main.get(name)
        if definition is not None:
            yield make_finding(
                ctx, ID, NAME, definition.path, definition.value_line, definition.value_column,
                _message(ctx, name, definition.value, "", advice), parameter=name, actual=definition.value,
            )
        for service in config.master.services:
            override = service.override(name)
            if override is None:
                continue
            yield make_finding(
                ctx, ID, NAME, override.path, override.line, override.column,
                _message(ctx, name, override.value, f" on {service.key}", advice),
                service=service.key, parameter=name, actual=override.value,
            )
