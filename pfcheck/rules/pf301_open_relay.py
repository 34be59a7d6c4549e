"""A listener relays mail for untrusted clients (PF301, open-relay).

## What it does
For every smtpd listener reachable from other hosts, evaluates the restriction lists the way
smtpd does at `RCPT TO` (`smtpd_check_rcpt`): the client, HELO and sender lists (with
`smtpd_delay_reject`), then `smtpd_relay_restrictions` and `smtpd_recipient_restrictions` in the
order of the target version and compatibility level, the first decisive restriction of each
list, the end of a list as a permit, restriction classes, and `static:`, `inline:`, `cidr:` and
hash-type tables found in the repo. The client is untrusted: outside `mynetworks`, not
authenticated, without a client certificate, but it chooses its HELO name, its envelope sender
(including forged local senders and the null sender) and the address forms of the recipient.
If some such client gets a recipient in a domain this host is not responsible for accepted, the
finding carries a **witness**: client address, HELO, sender and recipient, and the restriction
(file:line) that lets them through.

## Why is this bad?
An open relay sends spam for anyone. It is found by scanners within hours, the host's address
lands on block lists, and all legitimate mail from it bounces.

## Example
    smtpd_relay_restrictions =
    smtpd_recipient_restrictions = permit_mynetworks,
        check_sender_access hash:/etc/postfix/sender_access,
        reject_unauth_destination
    # sender_access: example.net OK  (any client can forge that sender)

## Use instead
    smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
    smtpd_recipient_restrictions = check_sender_access hash:/etc/postfix/sender_access

## References
- postconf(5): smtpd_relay_restrictions, smtpd_recipient_restrictions, reject_unauth_destination
- SMTPD_ACCESS_README: "Dangerous use of smtpd_recipient_restrictions"
- nmap smtp-open-relay.nse
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import assumption_texts, point_at, remote_relay_verdicts, table_entry_text
from pfcheck.rules.unknown_names import RELAY_PARAMETERS, defaults_notes

ID = "PF301"
NAME = "open-relay"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener, verdict in remote_relay_verdicts(ctx):
        if not verdict.is_open:
            continue
        witness = verdict.witness
        path, line, column = point_at(ctx, witness.location, listener)
        helo = witness.helo if witness.helo is not None else "(no HELO)"
        how = f"{witness.parameter}: {witness.token}" if witness.token else witness.parameter
        table = table_entry_text(ctx, witness)
        assumed = f"; assuming {'; '.join(witness.assumptions)}" if witness.assumptions else ""
        # Policy assumptions (assume:) this witness's path used: reviewable, so named.
        policy_assumed = assumption_texts(ctx, verdict.assumed)
        if policy_assumed:
            assumed += f"; by policy assumption: {'; '.join(policy_assumed)}"
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} relays for an untrusted client: client {witness.client}, HELO {helo}, "
            f"MAIL FROM:<{witness.smtp_sender}>, RCPT TO:<{witness.smtp_recipient}> is accepted "
            f"through {how}{table}{assumed}{defaults_notes(ctx, listener, RELAY_PARAMETERS)}",
            service=listener.key, parameter=witness.parameter,
            witness=_with_assumptions(
                {key: value for key, value in witness.as_dict().items()
                 if key in ("client", "helo", "sender", "recipient", "assumptions", "replayable")},
                policy_assumed),
            expected="reject_unauth_destination before any permit an outsider can reach",
            actual=listener.scope.value(witness.parameter) if witness.parameter else None,
        )


def _with_assumptions(witness: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    """The witness with the policy assumptions it rests on appended to its `assumptions`."""
    if texts:
        listed = witness.setdefault("assumptions", [])
        listed.extend(text for text in texts if text not in listed)
    return witness
