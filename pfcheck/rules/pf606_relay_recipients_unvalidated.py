"""Relay domains without a list of their valid recipients (PF606, relay-recipients-unvalidated).

## What it does
Reports every smtpd listener that other hosts reach whose `relay_domains` names domains (set
in main.cf, or with `-o` on the trivial-rewrite service the listener asks: smtpd takes the
relay address class from it, so smtpd's own `-o relay_domains` changes nothing) while its
`relay_recipient_maps` (main.cf or the listener's `-o`) is empty (its default).
An implicit `relay_domains = $mydestination` (compatibility_level below 2) is PF605's.

## Why is this bad?
Without `relay_recipient_maps` smtpd accepts every address in a relay domain, valid or not. The
next hop rejects the unknown ones later and this host has to bounce them to the (usually forged)
sender: backscatter, which gets the host block-listed, and a queue full of undeliverable mail.

## Example
    relay_domains = example.com

## Use instead
    relay_domains = example.com
    relay_recipient_maps = hash:/etc/postfix/relay_recipients

## References
- postconf(5): relay_recipient_maps, relay_domains
- SMTPD_ACCESS_README; BACKSCATTER_README
- rules.md §6 "Backscatter / unknown users", §7 row 15
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.program_scopes import rewrite_scope
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.unknown_names import describe_origin

ID = "PF606"
NAME = "relay-recipients-unvalidated"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in judged_listeners(ctx):
        # The relay class is trivial-rewrite's answer; relay_recipient_maps is smtpd's own.
        domains = rewrite_scope(ctx, listener).scope.get("relay_domains")
        maps = listener.scope.get("relay_recipient_maps")
        if domains.origin.is_default or domains.error is not None or maps.error is not None:
            continue
        if not domains.expanded.strip() or maps.expanded.strip():
            continue
        path, line, column = ctx.location_of(domains, listener)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} accepts every recipient in the relay domains ({domains.expanded.strip()}, "
            f"{describe_origin(ctx, domains, listener)}): relay_recipient_maps is empty "
            f"({describe_origin(ctx, maps, listener)}), so mail to unknown users is accepted and "
            f"bounced later (backscatter)",
            service=listener.key, parameter="relay_recipient_maps", expected="a table of valid relay recipients",
            actual=maps.expanded, from_default=maps.origin.is_default,
        )
