"""warn_if_reject turns the relay control into a log line (PF601, warn-if-reject-relay-control).

## What it does
For every smtpd listener reachable from other hosts, walks `smtpd_relay_restrictions` and
`smtpd_recipient_restrictions` as the listener sees them, expanding restriction classes, and
reports each `reject_unauth_destination` or `defer_unauth_destination` that runs under
`warn_if_reject`: written directly after it (`warn_if_reject reject_unauth_destination`), or
inside a restriction class that the list names directly after `warn_if_reject` (generic_checks()
keeps the warning for the whole class).

## Why is this bad?
`warn_if_reject` makes the next restriction log `reject_warning` instead of rejecting. On the
relay control that means mail to any destination passes this restriction. smtpd's start-up
guard does not count a control after `warn_if_reject`: with no other working control in the
relay or recipient list every smtpd exits at its first connection (PF303 reports that, and the
listener takes no mail); with another one the relay stays closed by it, or is open through a
permit before it, which PF301 reports with its witness. So this rule is a warning that names
the cause, never a second error for the same open relay; the message says which of the three
the listener's relay verdict is.

## Example
    smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated,
        warn_if_reject reject_unauth_destination

## Use instead
    smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated,
        reject_unauth_destination

## References
- postconf(5): warn_if_reject, reject_unauth_destination, smtpd_relay_restrictions
- SMTPD_ACCESS_README ("Testing the Postfix SMTP server access restrictions")
- rules.md §6 "warn_if_reject on relay", §7 row 5
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.restriction_lists import (
    CLASS,
    RELAY_DECIDING_LISTS,
    ListedRestrictions,
    ListedToken,
    listed_restrictions,
    physical_line,
    where_set,
)

ID = "PF601"
NAME = "warn-if-reject-relay-control"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}

RELAY_CONTROLS = frozenset({"reject_unauth_destination", "defer_unauth_destination"})
WARN_IF_REJECT = "warn_if_reject"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in judged_listeners(ctx):
        listed = listed_restrictions(listener)
        effect = _effect(ctx, listener)
        seen: set[tuple[str, int]] = set()
        for parameter in RELAY_DECIDING_LISTS:
            for warned, control in _warned_controls(listed, parameter, None, ()):
                key = (warned.parameter, warned.index)
                if key in seen:
                    continue
                seen.add(key)
                path, line, column = physical_line(ctx, warned.value, listener, warned.token)
                inside = "" if control.parameter == warned.parameter else \
                    f" (in restriction class {control.parameter})"
                yield make_finding(
                    ctx, ID, NAME, path, line, column,
                    f"{listener.key}: {warned.token} before {control.token}{inside} in "
                    f"{where_set(ctx, warned, listener)}: the relay control only logs "
                    f"reject_warning{effect}; it is reachable from other hosts ({listener.binding})",
                    service=listener.key, parameter=warned.parameter, actual=control.token,
                    expected=f"{control.token} without warn_if_reject",
                    from_default=warned.value.origin.is_default,
                )


def _effect(ctx: RuleContext, listener: Any) -> str:
    """What the weakened control means here, from the listener's relay verdict."""
    from pfcheck.postfix.relay import Verdict
    from pfcheck.rules.relay_common import relay_verdict

    verdict = relay_verdict(ctx, listener).verdict
    if verdict is Verdict.REFUSED:
        return (" and the start-up guard does not count it: with no other working instance "
                "smtpd exits at the first connection (PF303)")
    if verdict is Verdict.OPEN:
        return " and nothing later rejects: the listener relays for anyone (PF301)"
    return " and lets mail to any destination pass it; only later restrictions still refuse relaying"


def _warned_controls(listed: ListedRestrictions, parameter: str, outer: Optional[ListedToken],
                     stack: tuple[str, ...]) -> Iterator[tuple[ListedToken, ListedToken]]:
    """(the warn_if_reject, the relay control it weakens) in `parameter` and the classes it
    names; `outer` is the warn_if_reject in front of the class being walked."""
    pending: Optional[ListedToken] = None
    for token in listed.lists.get(parameter, []):
        if token.name == WARN_IF_REJECT:
            pending = pending or token
            continue
        warned = outer or pending
        if token.name in RELAY_CONTROLS and warned is not None:
            yield warned, token
        elif token.kind == CLASS and token.token in listed.lists and token.token not in stack:
            yield from _warned_controls(listed, token.token, warned, stack + (token.token,))
        pending = None
