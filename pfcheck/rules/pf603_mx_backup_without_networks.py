"""permit_mx_backup without permit_mx_backup_networks (PF603, mx-backup-without-networks).

## What it does
Reports each `permit_mx_backup` in a restriction list (or class) of an smtpd listener that
other hosts reach, when that listener's effective `permit_mx_backup_networks` is empty (its
default).

## Why is this bad?
`permit_mx_backup` accepts mail for any domain whose MX records list this host. Whoever controls
a domain's DNS can point its MX at this host and relay through it. `permit_mx_backup_networks`
limits that to domains whose primary MX is in the networks given; empty means no limit. PF301
reports the open relay this makes (its witness rests on the attacker's DNS); this warning names
the missing limit.

## Example
    smtpd_relay_restrictions = permit_mynetworks, permit_mx_backup, reject_unauth_destination

## Use instead
    # list the backup domains instead (permit_mx_backup is deprecated in Postfix 3.9)
    relay_domains = backup.example
    smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination

## References
- postconf(5): permit_mx_backup, permit_mx_backup_networks
- rules.md §7 row 7
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.restriction_lists import KNOWN, listed_restrictions, physical_line, where_set
from pfcheck.rules.unknown_names import describe_origin

ID = "PF603"
NAME = "mx-backup-without-networks"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in judged_listeners(ctx):
        networks = listener.scope.get("permit_mx_backup_networks")
        if networks.error is not None or networks.expanded.strip():
            continue
        for listed in listed_restrictions(listener).tokens():
            if listed.kind != KNOWN or listed.name != "permit_mx_backup":
                continue
            path, line, column = physical_line(ctx, listed.value, listener, listed.token)
            yield make_finding(
                ctx, ID, NAME, path, line, column,
                f"{listener.key}: {listed.token} in {where_set(ctx, listed, listener)} relays for any "
                f"domain whose MX records name this host, and permit_mx_backup_networks is empty "
                f"({describe_origin(ctx, networks, listener)}): whoever controls a domain's DNS can "
                f"relay through this listener ({listener.binding})",
                service=listener.key, parameter=listed.parameter, actual=listed.token,
                expected="permit_mx_backup_networks = the primary MX networks, or relay_domains",
                from_default=listed.value.origin.is_default,
            )
