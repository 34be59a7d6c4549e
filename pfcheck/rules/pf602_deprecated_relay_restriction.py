"""A restriction list names a restriction Postfix deprecated or removed (PF602, deprecated-relay-restriction).

## What it does
For every smtpd listener, reports each use (in any restriction list or restriction class, as
the listener sees it) of a restriction that Postfix 3.9 removed or deprecated:

| Restriction | Up to 3.8 | 3.9 and later |
|---|---|---|
| `check_relay_domains` | works, logs "will be removed" | removed: 451 4.3.5 |
| `permit_naked_ip_address` | works, logs "is deprecated" | removed: 451 4.3.5 |
| `reject_maps_rbl` | works, logs "will be removed" | removed: 451 4.3.5 |
| `permit_mx_backup` | works | deprecated: logs "will be removed" |

The message follows the target Postfix version (`postfix_version` of the policy,
`--postfix-version`).

## Why is this bad?
From Postfix 3.9 on, smtpd answers `451 4.3.5 Server configuration error` when a session
reaches a removed restriction, so an upgrade defers all mail that gets that far. Before that,
`check_relay_domains` relays for any client whose host name matches `relay_domains` (the client
chooses its reverse DNS), `permit_naked_ip_address` lets any client that sends an IP address
as HELO through, and `permit_mx_backup` relays for any domain whose MX lists this host.

## Example
    smtpd_recipient_restrictions = permit_mynetworks, check_relay_domains
    smtpd_client_restrictions = reject_maps_rbl

## Use instead
    smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
    smtpd_client_restrictions = reject_rbl_client zen.spamhaus.org
    # instead of permit_mx_backup: list the backup domains in relay_domains

## References
- postconf(5): check_relay_domains, permit_mx_backup, permit_naked_ip_address, reject_maps_rbl
- Postfix RELEASE_NOTES-3.9 ("feature deprecation"), DEPRECATION_README
- rules.md §7 row 6
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import numbers
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import dies_at_startup, smtpd_listeners
from pfcheck.rules.restriction_lists import KNOWN, listed_restrictions, physical_line, where_set

ID = "PF602"
NAME = "deprecated-relay-restriction"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}

#: Removed in 3.9 (smtpd answers 451): the replacement Postfix's own warning names.
REMOVED_IN_39 = {
    "check_relay_domains": "reject_unauth_destination",
    "permit_naked_ip_address": "permit_mynetworks or permit_sasl_authenticated",
    "reject_maps_rbl": "reject_rbl_client domain-name",
}
#: Deprecated in 3.9 (a warning is logged; it still works).
DEPRECATED_IN_39 = {"permit_mx_backup": "relay_domains (list the backup domains)"}
REMOVED_VERSION = (3, 9)


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    version = numbers.parse_version(ctx.config.version) or (3, 7)
    removed = version >= REMOVED_VERSION
    for listener in smtpd_listeners(ctx):
        if dies_at_startup(listener):
            continue
        for listed in listed_restrictions(listener).tokens():
            if listed.kind != KNOWN or listed.name not in (*REMOVED_IN_39, *DEPRECATED_IN_39):
                continue
            if listed.name in REMOVED_IN_39:
                instead = REMOVED_IN_39[listed.name]
                what = ("was removed in Postfix 3.9: smtpd answers 451 4.3.5 Server configuration "
                        "error when a session reaches it" if removed else
                        "is deprecated (smtpd logs a warning) and was removed in Postfix 3.9, "
                        "where it answers 451 4.3.5 Server configuration error")
            else:
                instead = DEPRECATED_IN_39[listed.name]
                what = ("is deprecated since Postfix 3.9 (smtpd logs that it will be removed)" if removed
                        else "is deprecated from Postfix 3.9 on and will be removed")
            path, line, column = physical_line(ctx, listed.value, listener, listed.token)
            yield make_finding(
                ctx, ID, NAME, path, line, column,
                f"{listener.key}: {listed.token} in {where_set(ctx, listed, listener)} {what} "
                f"(target Postfix {ctx.config.version}); use {instead}",
                service=listener.key, parameter=listed.parameter, actual=listed.token,
                expected=instead, from_default=listed.value.origin.is_default,
            )
