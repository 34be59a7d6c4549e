"""TLS protocol lists leave SSLv2 or SSLv3 enabled (PF507, obsolete-tls-protocols).

## What it does
Reads the protocol lists as the target Postfix parses them (tls_misc.c): words split on
commas, white space and `:`; `!NAME` excludes a protocol; plain names include (all others
are then excluded); `>=VERSION`/`<=VERSION` (Postfix 3.6+) set a floor and a ceiling; an
**empty** list enables every version the TLS library has. Warns when the list leaves SSLv2 or
SSLv3 enabled: an empty value, `SSLv3` included, `>=SSLv3`, `<=TLSv1.2` without a floor,
or `!` exclusions that leave one of them out.

It judges only lists that are used:

- per smtpd listener reachable from other hosts with TLS on (level `may` or `encrypt`, or
  wrapper mode): the list that listener's sessions use, `smtpd_tls_mandatory_protocols`
  where TLS is enforced, else `smtpd_tls_protocols` (smtpd.c);
- main.cf-wide, for the `smtp` and `lmtp` clients when they may use TLS (a level other
  than `none`, the legacy `_use_tls`/`_enforce_tls`, or a `_tls_policy_maps` table): both
  `_tls_protocols` and `_tls_mandatory_protocols`.

A list Postfix cannot parse (an unknown name such as `SSLv4`, `>=` before 3.6; names compare
in any case) disables TLS instead ("Invalid TLS protocol list"): PF501 reports that on an MX.

## Why is this bad?
SSLv2 and SSLv3 are broken (DROWN, POODLE). Most TLS libraries built today lack them, so the
setting may do nothing on this host and silently re-enable them on another.

## Example
    # main.cf
    smtpd_tls_protocols = >=SSLv3

## Use instead
    # main.cf
    smtpd_tls_protocols = >=TLSv1
    smtpd_tls_mandatory_protocols = >=TLSv1.2

## References
- postconf(5): smtpd_tls_protocols, smtpd_tls_mandatory_protocols, smtp_tls_protocols,
  smtp_tls_mandatory_protocols
- bettercrypto Applied Crypto Hardening ("MTAs MUST NOT enable SSLv2 protocol support, due to
  the DROWN attack"); Mozilla ssl-config-generator
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import tls_facts
from pfcheck.postfix.config import Listener, Value
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.tls_common import shown, tls_session_values

ID = "PF507"
NAME = "obsolete-tls-protocols"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def obsolete_enabled(value: Value, version: str) -> tuple[str, ...]:
    """SSLv2/SSLv3 as far as the list leaves them enabled (nothing for an invalid list)."""
    enabled = tls_facts.enabled_protocols(value.expanded, version)
    return tuple(name for name in tls_facts.OBSOLETE_PROTOCOLS if enabled and name in enabled)


def _finding(ctx: RuleContext, value: Value, obsolete: tuple[str, ...], who: str,
             listener: Optional[Listener]) -> Finding:
    path, line, column = ctx.location_of(value, listener)
    empty = " (an empty list enables every version)" if not value.expanded.strip() else ""
    return make_finding(
        ctx, ID, NAME, path, line, column,
        f"{who} leaves {' and '.join(obsolete)} enabled: {shown(ctx, value, listener)}{empty}",
        service=listener.key if listener is not None else None, parameter=value.name,
        expected=">=TLSv1", actual=value.expanded, from_default=value.origin.is_default,
    )


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    version = ctx.config.version
    for value, who, listener in tls_session_values(ctx, tls_facts.protocols_parameter,
                                                   ("tls_protocols", "tls_mandatory_protocols")):
        obsolete = obsolete_enabled(value, version)
        if obsolete:
            yield _finding(ctx, value, obsolete, who, listener)
