"""A send-only host accepts mail for local delivery (PF402, send-only-receives-mail).

## What it does
Applies to config directories whose policy gives them the role `send-only`; without that role it
does nothing. Fails when the effective `mydestination` of main.cf (expanded, last definition
winning, or Postfix's default `$myhostname, localhost.$mydomain, localhost`) is not empty.

## Why is this bad?
`mydestination` lists the domains this host delivers locally. A null client delivers nothing
locally: its mail for itself goes to the relay host. With the default, mail to
`user@$myhostname` lands in local mailboxes that nobody reads, and bounces and cron mail stay on
the machine. Postfix's null-client recipe sets `mydestination =` (empty).

## Example
    # main.cf (default)
    mydestination = $myhostname, localhost.$mydomain, localhost

## Use instead
    # main.cf
    mydestination =
    local_transport = error:local delivery is disabled

## References
- postconf(5): mydestination, local_transport
- STANDARD_CONFIGURATION_README: "Configuring a null client"
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.lines import split_comma_space
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.unknown_names import describe_origin

ID = "PF402"
NAME = "send-only-receives-mail"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}
ROLE = "send-only"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    if ROLE not in ctx.roles or not ctx.config.main_source.checkable:
        return
    value = ctx.config.global_scope.get("mydestination")
    if value.error is not None or value.expanded is None or not split_comma_space(value.expanded):
        return  # an expansion error is PF000's
    path, line, column = ctx.location_of(value)
    yield make_finding(
        ctx, ID, NAME, path, line, column,
        f"mydestination = {value.expanded} ({describe_origin(ctx, value)}): Postfix delivers mail "
        f"for these domains on this host, and its role is send-only (a null client delivers "
        f"nothing locally: mydestination =)",
        parameter="mydestination", expected="", actual=value.expanded,
        from_default=value.origin.is_default,
    )
