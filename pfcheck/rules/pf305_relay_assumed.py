"""Relaying is closed only under a policy assumption (PF305, relay-assumed).

## What it does
Reports a listener reachable from other hosts whose relay verdict is CLOSED only because the
policy's `assume:` says what a table or policy service pfcheck cannot see can answer (a
`mysql:` table, a table file that is not in the repository, a `check_policy_service`).
Without the assumption the verdict would be unproven (PF302). The message names each
assumption and the policy file:line that states it, so the reviewer of a change sees what the
"closed" rests on. A verdict that would be closed without the assumption is not reported.

## Why is this bad?
It is not bad in itself: it is the reviewable form of "trust me". The assumption is only as
good as the data behind it: a row added to the database, or a policy daemon that starts to
answer `OK`, opens the relay without any change to the repository. Keep the assumption as
narrow as the real answers, and the decisive `reject_unauth_destination` before the unknown
where you can.

## Example
    # main.cf
    smtpd_relay_restrictions = permit_mynetworks,
        check_client_access mysql:/etc/postfix/sql/clients.cf, reject_unauth_destination
    # .pfcheck.yaml
    assume:
      tables:
        "mysql:/etc/postfix/sql/clients.cf": {results: [REJECT, DUNNO]}

## Use instead
    smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
    smtpd_client_restrictions = check_client_access mysql:/etc/postfix/sql/clients.cf

## References
- docs/policy.md, `assume`; access(5); SMTPD_POLICY_README
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import (
    assumption_texts, referencing_parameter, remote_relay_verdicts,
)

ID = "PF305"
NAME = "relay-assumed"
SEVERITY = Severity.INFO
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    from pfcheck.postfix.relay import Verdict

    for listener, verdict in remote_relay_verdicts(ctx):
        if verdict.verdict is not Verdict.CLOSED or not verdict.assumed:
            continue
        parameter = referencing_parameter(listener, verdict.assumed[0])
        if parameter is not None:
            path, line, column = ctx.location_of(listener.scope.get(parameter), listener)
        else:
            path, line, column = ctx.location_of(listener.scope.get("smtpd_relay_restrictions"), listener)
        texts = assumption_texts(ctx, verdict.assumed)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key}: relaying is closed assuming {'; '.join(texts)}: if it can answer "
            "anything else, the verdict does not hold",
            service=listener.key, parameter=parameter,
            actual=", ".join(assumption.key for assumption in verdict.assumed),
        )

