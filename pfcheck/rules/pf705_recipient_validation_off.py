"""Reachable listener accepts mail for unknown local users (PF705, recipient-validation-off).

## What it does
For every smtpd listener that clients on other hosts can reach, fails when

* the effective `smtpd_reject_unlisted_recipient` is `no` and no restriction list of that
  listener names `reject_unlisted_recipient`: smtpd then accepts any recipient in its local,
  virtual and relay domains, listed or not; or
* the effective `local_recipient_maps` is empty while `mydestination` is not (the host
  receives mail for local domains): smtpd accepts every local part in those domains, whatever
  `smtpd_reject_unlisted_recipient` says.

Relay domains without `relay_recipient_maps` are another rule's (PF606).

## Why is this bad?
Mail to a user who does not exist is then accepted and bounced later by the local delivery
agent: a non-delivery report to the (usually forged) sender, i.e. backscatter, and a queue
full of undeliverable mail. SMTPD_ACCESS_README and postconf(5) recommend rejecting unknown
recipients at the SMTP level.

## Example
    # main.cf
    local_recipient_maps =

## Use instead
    # main.cf
    local_recipient_maps = proxy:unix:passwd.byname $alias_maps

## References
- postconf(5): smtpd_reject_unlisted_recipient, local_recipient_maps, mydestination
- LOCAL_RECIPIENT_README; SMTPD_ACCESS_README
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.config import Listener
from pfcheck.postfix.relay.lists import RESTRICTION_LIST_PARAMETERS, split_restrictions
from pfcheck.rules.base import RuleContext
from pfcheck.rules.setting_common import listener_values, setting_finding, word

ID = "PF705"
NAME = "recipient-validation-off"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}

REJECT_UNLISTED = "reject_unlisted_recipient"


def restricts_explicitly(listener: Listener) -> bool:
    """Whether a restriction list of the listener names reject_unlisted_recipient (as a
    token of the list itself; restriction classes and tables are not followed)."""
    for name in RESTRICTION_LIST_PARAMETERS:
        value = listener.scope.get(name)
        if value.error is None and any(token.lower() == REJECT_UNLISTED
                                       for token in split_restrictions(value.expanded)):
            return True
    return False


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener, value in listener_values(ctx, "smtpd_reject_unlisted_recipient"):
        if word(value) != "no" or restricts_explicitly(listener):
            continue
        yield setting_finding(
            ctx, ID, NAME, value,
            f"{listener.key} accepts mail for recipients no table lists (in its local, virtual and "
            f"relay domains) and bounces it later (backscatter); it is reachable from other hosts "
            f"({listener.binding})",
            listener, expected="yes",
        )
    for listener, value in listener_values(ctx, "local_recipient_maps"):
        if value.expanded.strip():
            continue
        destination = listener.scope.get("mydestination")
        if destination.error is not None or not destination.expanded.strip():
            continue
        yield setting_finding(
            ctx, ID, NAME, value,
            f"{listener.key} accepts mail for every local part in its local domains "
            f"(mydestination = {destination.expanded.strip()}) and bounces unknown users later "
            f"(backscatter); it is reachable from other hosts ({listener.binding})",
            listener, expected="a recipient table, e.g. proxy:unix:passwd.byname $alias_maps",
        )
