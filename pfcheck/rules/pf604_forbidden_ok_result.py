"""An OK result in a table where smtpd forbids it (PF604, forbidden-ok-result).

## What it does
For every smtpd listener, finds the tables of `check_{client,reverse_client_hostname,helo,
sender,recipient}_{mx,ns,a}_access` and `check_reverse_client_hostname_access` in its
restriction lists and restriction classes, reads them the way pfcheck reads tables (`static:`
and `inline:` from the value; `cidr:`, `regexp:`/`pcre:`, `texthash:` and the postmap source of
hash-type maps when the file is in the repository) and reports every entry whose result
allowlists: `OK` or `RELAY` (any case, with or without text after it), an all-numeric result,
or a restriction list with a `permit` restriction in it. The finding points at the table line
(for `static:`/`inline:`, at the restriction list).

Tables pfcheck cannot read (network tables, files outside the repository) are not judged.

## Why is this bad?
These tables are keyed by data the client controls: the names and addresses of the MX or NS
hosts of a domain it chooses, the addresses its host name resolves to, or a reverse host name
it can set in its own DNS. smtpd therefore refuses an allowlisting result from them
(`forbid_allowlist()`): it logs "restriction ... returns OK ... this is not allowed for security
reasons" and answers `451 4.3.5 Server configuration error`, so the very mail the entry was
meant to accept is deferred.

## Example
    smtpd_sender_restrictions = check_sender_mx_access hash:/etc/postfix/mx_access
    # mx_access
    192.0.2.25   OK

## Use instead
    # mx_access: make an exception with DUNNO (stop looking in this table), reject with REJECT
    192.0.2.25   DUNNO

## References
- postconf(5): check_sender_mx_access, check_client_a_access, check_reverse_client_hostname_access
- access(5)
- Postfix source: smtpd/smtpd_check.c forbid_allowlist()
- rules.md §7 row 10
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import dies_at_startup, smtpd_listeners
from pfcheck.rules.restriction_lists import KNOWN, ListedToken, listed_restrictions, physical_line, where_set

ID = "PF604"
NAME = "forbidden-ok-result"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}

#: The access checks whose OK smtpd turns into a server error (forbid_allowlist()).
FORBIDDING_CHECKS = frozenset(
    [f"check_{what}_{kind}_access"
     for what in ("client", "reverse_client_hostname", "helo", "sender", "recipient")
     for kind in ("mx", "ns", "a")]
    + ["check_reverse_client_hostname_access"])


def allowlists(result: str) -> Optional[str]:
    """Why an access-table result grants (check_table_result()), None when it does not."""
    value = result.strip()
    first = value.split(None, 1)[0] if value else ""
    if first.upper() in ("OK", "RELAY"):
        return f"{first} allowlists"
    if value.isdigit():
        return "an all-numeric result means OK"
    words = [word.lower() for word in value.replace(",", " ").split()]
    permits = [word for word in words if word == "permit" or word.startswith("permit_")]
    if permits and ":" not in value:
        return f"the restriction {permits[0]} in it can answer OK"
    return None


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in smtpd_listeners(ctx):
        if dies_at_startup(listener):
            continue
        for listed in listed_restrictions(listener).tokens():
            if listed.kind != KNOWN or listed.name not in FORBIDDING_CHECKS or listed.argument is None:
                continue
            yield from _judge(ctx, listener, listed)


def _judge(ctx: RuleContext, listener: Any, listed: ListedToken) -> Iterator[Finding]:
    from pfcheck.postfix.tables import CidrTable, KeyedTable, RegexpTable, StaticTable, parse_table_ref

    argument = listed.argument
    assert argument is not None
    ref = parse_table_ref(argument)
    if ref is None or argument.startswith("{"):
        return
    table = ctx.resolver().load(ref)
    results: list[tuple[str, Optional[int]]] = []
    if isinstance(table, StaticTable):
        results = [(table.value, None)]
    elif isinstance(table, KeyedTable):
        results = [(entry.value, entry.line) for entry in table.entries.values()]
    elif isinstance(table, CidrTable):
        results = [(rule.value, rule.line) for rule in table.rules if rule.op == "match"]
    elif isinstance(table, RegexpTable):
        results = [(rule.value, rule.line) for rule in table.rules
                   if rule.op == "match" and rule.value is not None]
    for value, line in results:
        why = allowlists(value)
        if why is None:
            continue
        if line is not None and table.source is not None:
            path, number, column = Path(table.source), line, 1
            entry = f"{ctx.display(path)}:{line}"
        else:
            path, number, column = physical_line(ctx, listed.value, listener, listed.token)
            entry = argument
        yield make_finding(
            ctx, ID, NAME, path, number, column,
            f"{listener.key}: result \"{value}\" of {ref.text} ({entry}; {why}) is used by "
            f"{listed.token} in {where_set(ctx, listed, listener)}: smtpd refuses to allowlist on "
            f"data the client controls and answers 451 4.3.5 Server configuration error when "
            f"the entry matches; use DUNNO for an exception",
            service=listener.key, parameter=listed.parameter, actual=value, expected="DUNNO",
            from_default=listed.value.origin.is_default,
        )
