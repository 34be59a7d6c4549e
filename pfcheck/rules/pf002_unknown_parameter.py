"""A parameter name that Postfix does not know (PF002, unknown-parameter).

## What it does
Reports every main.cf name and every master.cf `-o` name that `postconf` of the target
version warns about as `unused parameter: NAME=VALUE`, by the same logic: not a built-in,
legacy or read-only parameter of that version, not a per-service name derived from master.cf
(`relay_destination_concurrency_limit` for an `smtp` service named `relay`,
`<pipe service>_time_limit`, ...), and not a user-defined name that postconf accepts because
something refers to it: a `$name` in a main.cf value, in a `-o` value or in a default; a class
named in `smtpd_restriction_classes`; or a `<table>_<option>` of an `ldap:table`, `mysql:table`,
`pgsql:table`, `sqlite:table` or `memcache:table` named in a parameter value. The message adds
the known parameter the name is most likely a misspelling of, or the Postfix version that
introduced it. Like postconf, it also reports the settings of a database client configuration
named by absolute path (`ldap:/etc/postfix/users.cf`, `proxy:mysql:...`) that are not options
of that client (ldap_table(5), mysql_table(5), ...), when the file is in the repository. Rules
that read a parameter left at its default (PF101, PF202, PF301, PF302)
name the misspelled line that was probably meant to set it.

## Why is this bad?
Postfix ignores the line: `disable_vrfy_comand = yes` leaves VRFY on, and
`smtpd_relay_restriction = ...` leaves the relay policy at its default. A name the installed
Postfix is too old for (`smtpd_client_ipv6_prefix_length` on 3.7) is ignored just the same.

## Example
    disable_vrfy_comand = yes
    mydistination = example.com

## Use instead
    disable_vrfy_command = yes
    mydestination = example.com

## References
- postconf(1) ("unused parameter" warnings); Postfix source postconf/postconf_unused.c,
  postconf_user.c, postconf_service.c, postconf_dbms.c
- postconf(5)
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.unknown_names import MAX_LISTED, client_suggestion, suggestion, unused, version_note

ID = "PF002"
NAME = "unknown-parameter"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    from pfcheck.postfix.unused import MAX_ANALYSED_DEFINITIONS, too_many_names

    version = ctx.config.version
    count = too_many_names(ctx.config)
    if count is not None:
        yield make_finding(
            ctx, ID, NAME, ctx.config.main_path, 1, 1,
            f"main.cf has {count} definitions, more than the {MAX_ANALYSED_DEFINITIONS} pfcheck checks for "
            "unknown names: this rule did not run (a generated file? Postfix itself knows about 1,000 names)",
            actual=str(count),
        )
        return
    items = unused(ctx)
    for item in items[:MAX_LISTED]:
        hints = []
        history = version_note(item.name, version)
        guess = None if history and "introduced" in history else suggestion(ctx, item.name)
        if history:
            hints.append(history)
        if guess:
            case = " (parameter names are case-sensitive)" if guess.lower() == item.name.lower() else ""
            hints.append(f"did you mean {guess}?{case}")
        if not hints:
            hints.append(f"nothing refers to it as ${item.name}, so no Postfix program reads it")
        subject = f"-o '{item.name}'" if item.file == "master.cf" else f"'{item.name}'"
        yield make_finding(
            ctx, ID, NAME, item.path, item.line, item.column,
            f"{subject} is not a Postfix {version} parameter (postconf: {item.postconf_warning()}); "
            + "; ".join(hints),
            service=item.service, parameter=item.name, expected=guess, actual=item.value,
        )
    if len(items) > MAX_LISTED:
        first = items[MAX_LISTED]
        yield make_finding(
            ctx, ID, NAME, first.path, first.line, first.column,
            f"'{first.name}' and {len(items) - MAX_LISTED - 1} more names are not Postfix {version} "
            f"parameters (postconf: unused parameter); pfcheck lists the first {MAX_LISTED} one by one",
            parameter=None, actual=str(len(items) - MAX_LISTED),
        )
    yield from _client_files(ctx)


def _client_files(ctx: RuleContext) -> Iterator[Finding]:
    """Database client configurations in the repository (`ldap:/etc/postfix/users.cf`)."""
    from pfcheck.postfix.unused import dbms_client_unused

    for item in dbms_client_unused(ctx.config, ctx.resolver().source_path):
        db_type = item.file.partition(":")[0]
        guess = client_suggestion(item.name, db_type, ctx.config.version)
        hint = f"; did you mean {guess}?" if guess else ""
        yield make_finding(
            ctx, ID, NAME, item.path, item.line, item.column,
            f"'{item.name}' is not a {db_type}_table(5) option of Postfix {ctx.config.version} "
            f"(postconf: {item.file}: {item.postconf_warning()}){hint}",
            parameter=item.name, expected=guess, actual=item.value,
        )
