"""Relay closure depends on what pfcheck cannot see (PF302, relay-unproven).

## What it does
Reports a listener reachable from other hosts whose relay verdict depends on something outside
the repository before the decisive reject: an access table whose source file is not in the repo
(or of a type pfcheck cannot read, such as `mysql:` or `ldap:`), a `check_policy_service`, a
`mynetworks` that cannot be evaluated, or a restriction list too complex to enumerate. The
message names each unknown. pfcheck never says "safe" silently, and never says "open" without
a witness. This is an error by default: unverifiable input fails the run (fail closed).

`regexp:`/`pcre:` patterns that pfcheck does not run are unknowns too, named with their table
line and the reason: patterns that can backtrack exponentially (a repeated group with an
ambiguous body, such as `(a+)+` or `(a|aa)*`), a lookup whose estimated backtracking exceeds
pfcheck's budget, huge repetition counts, very long patterns, and the patterns after the first
2,000,000 pattern characters of a table. Postfix itself: `regexp:` (glibc regexec) answers
such patterns exactly; `pcre:` stops at PCRE2's match limit, logs "pcre map ..., line N: match
limit exceeded" and treats the rule as not matching (also a `!/re/` rule), so the answer would
rest on PCRE2's step counting. "Cannot prove" is the answer that holds for both.

## Why is this bad?
The relay decision is made by data nobody reviewed with this change: a wrong line in a database
table or a policy daemon that answers `OK` opens the relay. Either move the decisive
`reject_unauth_destination` before the unknown, keep the table source in the repo, or state in
the policy what the table or service can answer (`assume:`; the verdict is then judged under
that assumption and reported as PF301 or PF305).

## Example
    smtpd_relay_restrictions = check_client_access mysql:/etc/postfix/clients.cf,
        reject_unauth_destination

## Use instead
    smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
    smtpd_client_restrictions = check_client_access mysql:/etc/postfix/clients.cf

    # or, in .pfcheck.yaml, when the table only ever blocks:
    assume:
      tables:
        "mysql:/etc/postfix/clients.cf": {results: [REJECT, DUNNO]}

## References
- postconf(5): smtpd_relay_restrictions; access(5); SMTPD_POLICY_README
- docs/policy.md, `assume`
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import assumption_texts, point_at, remote_relay_verdicts
from pfcheck.rules.unknown_names import RELAY_PARAMETERS, defaults_notes

ID = "PF302"
NAME = "relay-unproven"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    from pfcheck.postfix.relay import Verdict

    for listener, verdict in remote_relay_verdicts(ctx):
        if verdict.verdict is not Verdict.UNPROVEN:
            continue
        first = verdict.unknowns[0]
        path, line, column = point_at(ctx, first.location, listener)
        names = "; ".join(str(unknown) for unknown in verdict.unknowns)
        # Assumptions that did apply are named too: the reviewer sees what is still missing.
        applied = assumption_texts(ctx, verdict.assumed)
        if applied:
            names += f" (even assuming {'; '.join(applied)})"
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key}: cannot prove that untrusted clients cannot relay: the verdict depends on {names}"
            f"{defaults_notes(ctx, listener, RELAY_PARAMETERS)}",
            service=listener.key, parameter=first.parameter or None,
            actual=", ".join(unknown.token for unknown in verdict.unknowns),
        )
