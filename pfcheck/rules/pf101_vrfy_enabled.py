"""Reachable listener answers VRFY (PF101, vrfy-enabled).

## What it does
Fails for every smtpd listener that clients on other hosts can reach (an `inet` smtpd, or the
`smtpd pass` service behind an `inet` postscreen, not bound to loopback only, with
`inet_interfaces` taken into account) whose effective `disable_vrfy_command` is `no`: set so in
main.cf, in a master.cf `-o`, or left at Postfix's default (`no`).

## Why is this bad?
`VRFY` tells anyone who connects whether a mailbox exists, which makes address harvesting and
user enumeration trivial. Postfix answers it unless `disable_vrfy_command = yes`. A `-o
disable_vrfy_command=no` on one listener re-enables it there even when main.cf disables it.

## Example
    # main.cf
    smtpd_banner = $myhostname ESMTP

## Use instead
    # main.cf
    disable_vrfy_command = yes

## References
- postconf(5): disable_vrfy_command
- Lynis MAIL-8820; DISA STIG GEN004680
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.unknown_names import describe_origin

ID = "PF101"
NAME = "vrfy-enabled"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in judged_listeners(ctx):
        value = listener.scope.get("disable_vrfy_command")
        # Anything but yes/no (and expansion errors) makes smtpd exit: PF000 reports that.
        if value.error is not None or value.expanded.strip().lower() != "no":
            continue
        path, line, column = ctx.location_of(value, listener)
        how = describe_origin(ctx, value, listener)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} answers VRFY: disable_vrfy_command = no ({how}); "
            f"it is reachable from other hosts ({listener.binding})",
            service=listener.key, parameter="disable_vrfy_command",
            expected="yes", actual=value.expanded, from_default=value.origin.is_default,
        )
