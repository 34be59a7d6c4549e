"""Local delivery notifies the biff service (PF708, biff-enabled).

## What it does
Reports every master.cf service run by the `local` delivery agent whose effective `biff` is
`yes` (main.cf, the service's `-o`, or Postfix's default `yes`). Off in the built-in policy:
it is a performance and hygiene setting (Debian's stock main.cf sets `biff = no`).

## Why is this bad?
With `biff = yes` the local delivery agent sends a UDP notice to the comsat/biff service
(port 512) for every message delivered to a local mailbox. postconf(5): "Turning off biff
notification can improve performance"; few hosts run comsat, and the notices are one more
network service used for nothing.

## Example
    # main.cf
    biff = yes

## Use instead
    # main.cf
    biff = no

## References
- postconf(5): biff; local(8)
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.unknown_names import describe_origin

ID = "PF708"
NAME = "biff-enabled"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    if not ctx.config.main_source.checkable:
        return  # PF900
    reported: set[tuple[str, int]] = set()
    for service in ctx.config.master.services:
        if service.process_name != "local":
            continue
        value = ctx.config.scope(service).get("biff")
        if value.error is not None or value.expanded.strip().lower() != "yes":
            continue
        if value.origin.is_default and not ctx.config.master.assumed_default:
            path, line, column = service.path, service.line, 1
        else:
            path, line, column = ctx.location_of(value)
        if (str(path), line) in reported:
            continue
        reported.add((str(path), line))
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{service.key}: the local delivery agent notifies the biff service (UDP port 512) "
            f"of every delivery (biff = yes, {describe_origin(ctx, value)})",
            service=service.key, parameter="biff", expected="no", actual=value.expanded,
            from_default=value.origin.is_default,
        )
