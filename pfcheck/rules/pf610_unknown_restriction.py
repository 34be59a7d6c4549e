"""A restriction list names something smtpd does not know (PF610, unknown-restriction).

## What it does
For every smtpd listener, reads each restriction list smtpd parses (`smtpd_client_restrictions`,
`smtpd_helo_restrictions`, `smtpd_sender_restrictions`, `smtpd_relay_restrictions`,
`smtpd_recipient_restrictions`, `smtpd_etrn_restrictions`, `smtpd_data_restrictions`,
`smtpd_end_of_data_restrictions`) and each restriction class of `smtpd_restriction_classes`,
as the listener sees them (main.cf, master.cf `-o`, defaults, `$` expansion), split on commas and
white space with `{...}` kept whole. Every word that is neither a restriction smtpd knows
(matched in any case), nor the argument of the restriction before it (the table of
`check_*_access`, the server of `check_policy_service`, the seconds of `sleep`, the domain of
`reject_rbl_client` & co.), nor a table (`type:name`), nor a restriction class (matched
case-sensitively) is reported, at the physical line that holds it. A `#` inside a value is no
comment to Postfix: `# permit_mynetworks` is two words, and `#` is unknown.

Restrictions that Postfix 3.9 removed (`check_relay_domains`, `permit_naked_ip_address`,
`reject_maps_rbl`) are PF602's.

## Why is this bad?
smtpd accepts the list at start-up and fails when a session reaches the word: it logs
`unknown smtpd restriction` and answers `451 4.3.5 Server configuration error` to every client
that gets that far, so legitimate mail is deferred (and a misspelled `reject_...` never rejects).

## Example
    smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destinaton
    smtpd_relay_restrictions = permit_mynetworks # trusted
        reject_unauth_destination

## Use instead
    smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
    # trusted networks first
    smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination

## References
- postconf(5): smtpd_recipient_restrictions, smtpd_restriction_classes
- Postfix source: smtpd/smtpd_check.c generic_checks() ("unknown smtpd restriction")
- rules.md §7 row 44
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import dies_at_startup, smtpd_listeners
from pfcheck.rules.restriction_lists import UNKNOWN, listed_restrictions, physical_line, where_set

ID = "PF610"
NAME = "unknown-restriction"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in smtpd_listeners(ctx):
        if dies_at_startup(listener):
            continue  # PF000: this smtpd exits before any list runs
        for listed in listed_restrictions(listener).tokens():
            if listed.kind != UNKNOWN:
                continue
            path, line, column = physical_line(ctx, listed.value, listener, listed.token)
            what = "a `#` is no comment inside a value" if listed.token.startswith("#") else \
                "neither a restriction smtpd knows nor a restriction class"
            yield make_finding(
                ctx, ID, NAME, path, line, column,
                f"{listener.key}: \"{listed.token}\" in {where_set(ctx, listed, listener)} is {what}; "
                f"smtpd answers 451 4.3.5 Server configuration error when a session reaches it",
                service=listener.key, parameter=listed.parameter, actual=listed.token,
                from_default=listed.value.origin.is_default,
            )
