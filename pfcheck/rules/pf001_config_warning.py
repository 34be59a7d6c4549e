"""Postfix ignores or changes what this line seems to say (PF001, config-warning).

## What it does
Reports what Postfix warns about while reading, when the file does not mean what it looks
like: a logical line that starts with whitespace (Postfix ignores the whole parameter), a
parameter defined again with a different value (the last one wins), a duplicate master.cf
service (the last entry wins), an assignment to a read-only parameter (`process_name`,
`process_id`, `service_name`: Postfix sets them itself and ignores the line), bytes that are
not UTF-8, and CRLF line ends.

## Why is this bad?
The reader of the file and Postfix disagree. An indented `disable_vrfy_command = yes` at the
top of main.cf is silently ignored; a second `mynetworks` further down replaces the first one
a reviewer looked at.

## Example
      disable_vrfy_command = yes
    mynetworks = 127.0.0.0/8
    mynetworks = 0.0.0.0/0

## Use instead
    disable_vrfy_command = yes
    mynetworks = 127.0.0.0/8

## References
- postconf(5), introduction; Postfix source util/readlline.c, util/dict.c dict_load_fp()
- Lynis MAIL-8817 (postconf warnings)
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import defaults
from pfcheck.rules.base import RuleContext, make_finding

ID = "PF001"
NAME = "config-warning"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    config = ctx.config
    for issue in config.issues:
        if not issue.fatal:
            yield make_finding(ctx, ID, NAME, issue.path, issue.line, issue.column, issue.message,
                               parameter=issue.parameter or None, actual=issue.kind)
    read_only = defaults.read_only_parameters(config.version)
    for name in sorted(name for name in read_only if name in config.main):
        for definition in config.main.history(name):
            # postconf's warning; the value is never used nor `$`-expanded (config.Scope).
            yield make_finding(
                ctx, ID, NAME, definition.path, definition.line, definition.column,
                f"{ctx.display(definition.path)}: read-only parameter assignment: {name}={definition.value}: "
                f"Postfix sets {name} itself and ignores this line",
                parameter=name, actual="read-only",
            )
    for service in config.master.entries:
        for override in service.postconf_overrides:
            if override.name in read_only:
                # postconf deletes it from the service's -o set (-P does not show it); the
                # daemon applies -o process_name only (config.Scope.raw).
                effect = ("only the daemon applies it" if override.name == "process_name"
                          else f"Postfix sets {override.name} itself and ignores this -o")
                yield make_finding(
                    ctx, ID, NAME, override.path, override.line, override.column,
                    f"{ctx.display(override.path)}: read-only parameter assignment: {override.name}={override.value}: "
                    f"postconf ignores it, {effect}",
                    parameter=override.name, actual="read-only", service=service.key,
                )
    for source in (config.main_source, config.master_source):
        if source is None or not source.checkable:
            continue
        for text_issue in source.issues:
            yield make_finding(ctx, ID, NAME, source.path, text_issue.line, text_issue.column,
                               text_issue.message, actual="encoding")
        if source.crlf_line is not None:
            yield make_finding(
                ctx, ID, NAME, source.path, source.crlf_line, 1,
                "CRLF line ends: Postfix keeps the CR inside continued values; use LF",
                actual="crlf",
            )
