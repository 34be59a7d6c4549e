"""A send-only host accepts mail for local delivery (PF402, send-only-receives-mail).

## What it does
Applies to config directories whose policy gives them the role `send-only`; without that role it
does nothing. Fails when the effective `mydestination` of trivial-rewrite (main.cf's, expanded,
last definition winning, or Postfix's default `$myhostname, localhost.$mydomain, localhost`; a
`-o` on a master.cf service that runs trivial-rewrite, such as `rewrite`, counts there) is not
empty. trivial-rewrite decides the address class for smtpd and cleanup, so an smtpd's own
`-o mydestination` does not stop local delivery.

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

from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.lines import split_comma_space
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.program_scopes import locate, service_scopes
from pfcheck.rules.unknown_names import describe_origin

ID = "PF402"
NAME = "send-only-receives-mail"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}
ROLE = "send-only"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    if ROLE not in ctx.roles or not ctx.config.main_source.checkable:
        return
    reported: set[tuple[str, Optional[Path], int]] = set()
    for where in service_scopes(ctx, "trivial-rewrite"):
        value = where.scope.get("mydestination")
        if value.error is not None or value.expanded is None or not split_comma_space(value.expanded):
            continue  # an expansion error is PF000's
        own = where.service is not None and value.origin.kind == "master.cf"
        # One finding per definition: every trivial-rewrite that takes main.cf's value shares it.
        key = (value.expanded, value.origin.path, value.origin.line)
        if key in reported:
            continue
        reported.add(key)
        path, line, column = locate(ctx, value, where.service) if own else ctx.location_of(value)
        scope = f"{where.key}: " if own else ""
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{scope}mydestination = {value.expanded} ({describe_origin(ctx, value)}): Postfix delivers mail "
            f"for these domains on this host, and its role is send-only (a null client delivers "
            f"nothing locally: mydestination =)",
            service=where.service.key if own and where.service is not None else None,
            parameter="mydestination", expected="", actual=value.expanded,
            from_default=value.origin.is_default,
        )
