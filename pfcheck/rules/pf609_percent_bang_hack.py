"""Address rewriting of the percent and bang forms is on (PF609, percent-bang-hack).

## What it does
Off by default (hygiene, not a reputable requirement: turn it on in the policy). When on,
reports `allow_percent_hack = yes` and `swap_bangpath = yes` (both Postfix's defaults) in the
scope of each master.cf service that runs trivial-rewrite, when some smtpd listener is reachable
from other hosts.

## Why is this bad?
trivial-rewrite turns `user%remote@example.com` into `user@remote` and `remote!user` into
`user@remote`. Postfix resolves these forms before it decides on relaying, so they are no relay
hole by themselves (nmap's smtp-open-relay tests 5-16 try them), but on a pure Internet MX they
only serve old UUCP and source-routing habits and make address-based restrictions harder to
reason about.

## Example
    # main.cf: nothing set (both default to yes)

## Use instead
    allow_percent_hack = no
    swap_bangpath = no

## References
- postconf(5): allow_percent_hack, swap_bangpath
- nmap smtp-open-relay.nse (tests 5-16)
- rules.md §6 "percent/bang hacks" (F), §7 row 18
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.program_scopes import flag_is, locate, service_scopes
from pfcheck.rules.unknown_names import describe_origin

ID = "PF609"
NAME = "percent-bang-hack"
SEVERITY = Severity.INFO
OPTIONS: Mapping[str, tuple[type, Any]] = {}

WHAT = {
    "allow_percent_hack": "rewrites user%remote@domain to user@remote",
    "swap_bangpath": "rewrites remote!user to user@remote",
}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    reachable = ctx.remote_smtpd_listeners()
    if not reachable:
        return
    for where in service_scopes(ctx, "trivial-rewrite"):
        for name, what in WHAT.items():
            value = where.scope.get(name)
            if not flag_is(value, "yes"):
                continue
            path, line, column = locate(ctx, value, where.service)
            yield make_finding(
                ctx, ID, NAME, path, line, column,
                f"{where.key}: trivial-rewrite {what}: {name} = yes ({describe_origin(ctx, value)}); "
                f"smtpd listeners are reachable from other hosts ({reachable[0].key}: {reachable[0].binding})",
                service=where.service.key if where.service else None, parameter=name,
                expected="no", actual=value.expanded, from_default=value.origin.is_default,
            )
