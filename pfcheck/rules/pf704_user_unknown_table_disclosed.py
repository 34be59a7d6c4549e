"""Unknown-user replies name the recipient table (PF704, user-unknown-table-disclosed).

## What it does
Reports every smtpd listener that clients on other hosts can reach whose effective
`show_user_unknown_table_name` is `yes` (set, in a master.cf `-o`, or Postfix's default) and
that rejects unknown recipients with a table: `local_recipient_maps` (while `mydestination`
is not empty), `virtual_mailbox_maps` or `relay_recipient_maps` is not empty. Its "User
unknown" replies then say which table did not list the user ("User unknown in local recipient
table"). Informational by default.

## Why is this bad?
postconf(5): the table name "reveals information that is nobody else's business". It tells a
prober which kind of domain an address belongs to (local, virtual mailbox, relay) and so how
the mail system is built.

## Example
    # main.cf
    compatibility_level = 3.6

## Use instead
    # main.cf
    compatibility_level = 3.6
    show_user_unknown_table_name = no

## References
- postconf(5): show_user_unknown_table_name
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.config import Listener
from pfcheck.rules.base import RuleContext
from pfcheck.rules.setting_common import listener_values, setting_finding, word

ID = "PF704"
NAME = "user-unknown-table-disclosed"
SEVERITY = Severity.INFO
OPTIONS: Mapping[str, tuple[type, Any]] = {}

#: The tables smtpd's check_rcpt_maps() names in its reply (smtpd_check.c), by the
#: parameter that must be non-empty for the lookup to happen at all.
TABLES = (
    ("local_recipient_maps", "local recipient table"),
    ("virtual_mailbox_maps", "virtual mailbox table"),
    ("relay_recipient_maps", "relay recipient table"),
)


def named_tables(listener: Listener) -> list[str]:
    """The tables this smtpd would name in a "User unknown" reply."""
    scope = listener.scope
    named = []
    for name, table in TABLES:
        value = scope.get(name)
        if value.error is not None or not value.expanded.strip():
            continue
        if name == "local_recipient_maps" and not scope.get("mydestination").expanded.strip():
            continue  # no local domains (null client): the local table is never asked
        named.append(table)
    return named


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener, value in listener_values(ctx, "show_user_unknown_table_name"):
        if word(value) != "yes":
            continue
        tables = named_tables(listener)
        if not tables:
            continue
        yield setting_finding(
            ctx, ID, NAME, value,
            f"{listener.key} tells clients which table does not list a recipient "
            f"(\"User unknown in {' / '.join(tables)}\"); it is reachable from other hosts "
            f"({listener.binding})",
            listener, expected="no",
        )
