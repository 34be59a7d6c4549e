"""smtpd refuses to start: no working relay restriction (PF303, relay-guard-fails).

## What it does
Reproduces the check every smtpd process makes when it starts (`smtpd_check_init`,
`has_required`): `smtpd_relay_restrictions` or `smtpd_recipient_restrictions` must contain one
of `reject_unauth_destination`, `defer_unauth_destination`, `reject`, `defer`,
`defer_if_permit` or `check_relay_domains` before any literal `permit` (restriction classes
expanded, the item after `warn_if_reject` skipped). Reported for every smtpd listener, also
loopback-only ones.

## Why is this bad?
When the check fails, every smtpd exits at its first connection with "fatal: in parameter
smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least one working
instance of ...": the host takes no mail at all. The classic cause is a missing
`compatibility_level`: at level 0 `smtpd_relay_restrictions` is empty, and so is
`smtpd_recipient_restrictions` since Postfix 2.10.

## Example
    # no compatibility_level, no restriction parameters
    myhostname = mx.example.net

## Use instead
    compatibility_level = 3.6
    myhostname = mx.example.net

## References
- postconf(5): smtpd_relay_restrictions ("IMPORTANT: Either ... must specify at least one ...")
- Postfix source smtpd/smtpd_check.c smtpd_check_init()
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import dies_at_startup, point_at, relay_verdict, smtpd_listeners
from pfcheck.rules.unknown_names import defaults_notes

ID = "PF303"
NAME = "relay-guard-fails"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    reported: set[tuple[str, int]] = set()
    for listener in smtpd_listeners(ctx):
        if dies_at_startup(listener):
            continue  # PF000: an earlier fatal error stops smtpd first
        guard = relay_verdict(ctx, listener).guard
        if guard.passes:
            continue
        location = guard.location or listener.scope.location("smtpd_relay_restrictions") \
            or listener.scope.location("smtpd_recipient_restrictions")
        path, line, column = point_at(ctx, location, listener)
        if (str(path), line) in reported and location is not None:
            continue
        reported.add((str(path), line))
        compat = listener.scope.compatibility_level()
        hint = " (compatibility_level is " + compat + ": smtpd_relay_restrictions defaults to empty)" \
            if not listener.scope.is_set("smtpd_relay_restrictions") and compat in ("0", "") else ""
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key}: every smtpd exits at its first connection with \"fatal: {guard.message}\"{hint}"
            f"{defaults_notes(ctx, listener, ('smtpd_relay_restrictions', 'smtpd_recipient_restrictions'))}; "
            "the listener takes no mail",
            service=listener.key, parameter=guard.parameter or "smtpd_relay_restrictions",
            actual=listener.scope.value("smtpd_relay_restrictions"), from_default=location is None,
        )
