"""smtpd trusts sender-specified routing (PF607, untrusted-routing).

## What it does
Reports every smtpd listener that other hosts reach whose effective `allow_untrusted_routing`
is `yes` (main.cf, or a master.cf `-o`; the default is `no`).

## Why is this bad?
With `allow_untrusted_routing = yes`, smtpd lets untrusted clients send mail to addresses with
sender-specified routing (`user@remote@relay.example`, `user%remote@relay.example`,
`remote!user@relay.example`) in a domain it relays for (`relay_domains`). The next hop then
forwards to the embedded destination: a client can relay through this host and a backup MX or
firewall behind it to anywhere. postconf(5) calls the `no` default the protection against it.

## Example
    allow_untrusted_routing = yes

## Use instead
    allow_untrusted_routing = no

## References
- postconf(5): allow_untrusted_routing
- rules.md §6 "Untrusted routing", §7 row 16
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.program_scopes import flag_is
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.unknown_names import describe_origin

ID = "PF607"
NAME = "untrusted-routing"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in judged_listeners(ctx):
        value = listener.scope.get("allow_untrusted_routing")
        if not flag_is(value, "yes"):
            continue
        path, line, column = ctx.location_of(value, listener)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} accepts sender-specified routing (user@remote@relay, user%remote@relay, "
            f"remote!user@relay) from untrusted clients to relay domains: allow_untrusted_routing = "
            f"yes ({describe_origin(ctx, value, listener)}); it is reachable from other hosts "
            f"({listener.binding})",
            service=listener.key, parameter="allow_untrusted_routing", expected="no",
            actual=value.expanded, from_default=value.origin.is_default,
        )
