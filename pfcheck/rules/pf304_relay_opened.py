"""A change opens a relay that was closed (PF304, relay-opened).

## What it does
With `--base REV` (in the pre-commit hook: the last commit), reports a listener reachable from
other hosts that relays for untrusted clients now (PF301's evaluation, with its witness) but did
not at REV: it was closed, refused to start, could not be proven either way, or did not exist.

## Why is this bad?
The change itself opened the relay: typically a `permit` or a `check_sender_access` moved before
`reject_unauth_destination`, a new `-o smtpd_relay_restrictions=` on a listener, or a lowered
`compatibility_level` that empties the default relay restrictions.

## Example
    # before
    smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination,
        check_sender_access inline:{ boss@example.com=OK }
    # after: a sender address anyone can write now comes before the relay check
    smtpd_relay_restrictions = permit_mynetworks,
        check_sender_access inline:{ boss@example.com=OK }, reject_unauth_destination

## Use instead
    smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
    # and the sender check in smtpd_sender_restrictions, where it cannot grant relaying

## References
- postconf(5): smtpd_relay_restrictions; SMTPD_ACCESS_README
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding, no_findings
from pfcheck.rules.relay_common import dies_at_startup, point_at, relay_verdict, table_entry_text

ID = "PF304"
NAME = "relay-opened"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}


#: Findings come from `compare()`, which the engine calls with `--base` only.
check = no_findings


def compare(new: RuleContext, old: RuleContext, revision: str) -> Iterator[Finding]:
    old_listeners = {listener.key: listener for listener in old.config.listeners()}
    for listener in new.remote_smtpd_listeners():
        if dies_at_startup(listener):
            continue
        verdict = relay_verdict(new, listener)
        if not verdict.is_open:
            continue
        before = old_listeners.get(listener.key)
        if before is not None and before.remote and dies_at_startup(before):
            # Its smtpd exited at start-up (PF000 at the base): refused, as a failed guard is.
            was = f"refused at {revision}"
        elif before is not None and before.remote:
            old_verdict = relay_verdict(old, before)
            if old_verdict.is_open:
                continue
            was = f"{old_verdict.verdict} at {revision}"
        else:
            was = f"not reachable at {revision}" if before is not None else f"absent at {revision}"
        witness = verdict.witness
        path, line, column = point_at(new, witness.location, listener)
        yield make_finding(
            new, ID, NAME, path, line, column,
            f"{listener.key} was {was} and relays now: client {witness.client}, "
            f"MAIL FROM:<{witness.smtp_sender}>, RCPT TO:<{witness.smtp_recipient}> is accepted through "
            f"{witness.parameter}: {witness.token}{table_entry_text(new, witness)}",
            service=listener.key, parameter=witness.parameter,
            witness={key: value for key, value in witness.as_dict().items()
                     if key in ("client", "helo", "sender", "recipient", "assumptions", "replayable")},
            actual=listener.scope.value(witness.parameter) if witness.parameter else None,
        )
