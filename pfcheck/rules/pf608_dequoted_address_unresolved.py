"""trivial-rewrite resolves quoted local parts as written (PF608, dequoted-address-unresolved).

## What it does
Reports `resolve_dequoted_address = no` in the scope of each master.cf service that runs
trivial-rewrite (its `-o` count), or in main.cf when master.cf runs none. The default is `yes`.

## Why is this bad?
With `no`, trivial-rewrite does not look inside a quoted local part: `"user@remote"@example.com`
resolves as a local address of example.com, while the next hop that dequotes it sees
`user@remote`. Restrictions and content filters that judge the destination are then judged on a
different address than the one the mail is delivered to; postconf(5) documents the `yes`
default as the safe one.

## Example
    resolve_dequoted_address = no

## Use instead
    resolve_dequoted_address = yes

## References
- postconf(5): resolve_dequoted_address
- rules.md §6 "Dequoted resolving", §7 row 17
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.program_scopes import flag_is, locate, service_scopes
from pfcheck.rules.unknown_names import describe_origin

ID = "PF608"
NAME = "dequoted-address-unresolved"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for where in service_scopes(ctx, "trivial-rewrite"):
        value = where.scope.get("resolve_dequoted_address")
        if not flag_is(value, "no"):
            continue
        path, line, column = locate(ctx, value, where.service)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{where.key}: trivial-rewrite resolves \"user@remote\"@domain without looking inside "
            f"the quotes: resolve_dequoted_address = no ({describe_origin(ctx, value)})",
            service=where.service.key if where.service else None, parameter="resolve_dequoted_address",
            expected="yes", actual=value.expanded, from_default=value.origin.is_default,
        )
