"""Postfix refuses this configuration (PF000, config-error).

## What it does
Reports what Postfix itself exits on, found while reading the files: a main.cf logical line
without `=`, a master.cf entry with a bad field count or field, a `$` expansion syntax error or
recursion deeper than 100, a boolean that is not `yes` or `no` (such as `yes # comment`), a
`-o` value without `=`, and a word that is not an option among a daemon's `-o` options (such
as a `#` comment after text, which master.cf does not have).

## Why is this bad?
Postfix programs exit with a fatal error on each of these: `postfix start` fails, or every
smtpd exits at its first connection and the host takes no mail. Trailing `# comments` are the
classic cause: Postfix has whole-line comments only, so `disable_vrfy_command = yes # no VRFY`
sets the value `yes # no VRFY`, and every smtpd exits with
`fatal: bad boolean configuration: disable_vrfy_command = yes # no VRFY`.

## Example
    disable_vrfy_command = yes # no VRFY
    smtpd_banner = ${myhostname

## Use instead
    # no VRFY
    disable_vrfy_command = yes
    smtpd_banner = ${myhostname}

## References
- postconf(5), introduction (syntax); master(5)
- Postfix source: util/readlline.c, util/split_nameval.c, util/mac_expand.c, global/mail_conf_bool.c
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import defaults
from pfcheck.rules.base import RuleContext, make_finding

ID = "PF000"
NAME = "config-error"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}


#: Parameters whose default is yes/no but that accept other words too.
NOT_BOOLEAN = frozenset({"smtpd_forbid_bare_newline", "smtp_forbid_bare_newline"})


def valid_level(text: str, version: str) -> bool:
    try:
        defaults.compat_level_below(text, "0", version)
    except ValueError:
        return False
    return True


def is_boolean(name: str, version: str) -> bool:
    return name in boolean_names(version)


@lru_cache(maxsize=None)
def boolean_names(version: str) -> frozenset[str]:
    """Built-in parameters whose value must be yes or no."""
    return frozenset(
        name for name in defaults.builtin_defaults(version)
        if name not in NOT_BOOLEAN and defaults.default_value(name, version) in ("yes", "no")
    )


def _names_to_check(config: Any, scope: Any) -> set[str]:
    """The names whose value in this scope can be an error: what an expansion can break (a
    `$` in the main.cf value, or a service's `-o`), booleans and compatibility_level. Every
    other main.cf value expands to itself and cannot fail, so a million plain parameters cost
    one scan. In a service scope only what its `-o` can change: the rest is the main.cf
    scope's Value, already reported there."""
    main = config.main
    if scope.service is not None:
        return scope.differing_names()
    names = set(main.names_containing("$"))
    names.update(n for n in boolean_names(config.version) if n in main)
    if "compatibility_level" in main:
        names.add("compatibility_level")
    return names


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    config = ctx.config
    for issue in config.issues:
        if issue.fatal:
            yield make_finding(ctx, ID, NAME, issue.path, issue.line, issue.column, issue.message,
                               parameter=issue.parameter or None, actual=issue.kind)
    reported: set[tuple[str, int, str]] = set()
    scopes = [(config.global_scope, None), *((l.scope, l) for l in config.listeners())]
    for scope, listener in scopes:
        booleans = boolean_names(config.version)
        for name in sorted(_names_to_check(config, scope)):
            if scope.service is None and name not in booleans and name != "compatibility_level" \
                    and scope.expands_cleanly(name):
                continue  # nothing to report, and no Value to build for it
            value = scope.evaluate(name)
            origin = value.origin
            if origin.is_default or origin.path is None:
                continue
            key = (str(origin.path), origin.line, name)
            if key in reported:
                continue
            if value.error is not None:
                reported.add(key)
                yield make_finding(
                    ctx, ID, NAME, origin.path, origin.line, origin.column,
                    f"{name}: {value.error.message}; every daemon that reads {name} exits with "
                    f"\"fatal: macro processing error\"",
                    parameter=name, actual=value.raw,
                )
            elif name == "compatibility_level" and not valid_level(value.expanded, config.version):
                reported.add(key)
                yield make_finding(
                    ctx, ID, NAME, origin.path, origin.line, origin.column,
                    f"compatibility_level = {value.expanded!r} is malformed: every Postfix program exits with "
                    f"\"fatal: ... malformed compatibility level syntax\"",
                    parameter=name, expected="a level such as 2 or 3.6", actual=value.expanded,
                )
            elif is_boolean(name, config.version) and value.expanded.strip().lower() not in ("yes", "no"):
                reported.add(key)
                yield make_finding(
                    ctx, ID, NAME, origin.path, origin.line, origin.column,
                    f"{name} = {value.expanded!r} is not a boolean: every daemon that reads it exits with "
                    f"\"fatal: bad boolean configuration: {name} = {value.expanded}\""
                    + (" (Postfix has no trailing comments)" if "#" in value.expanded else ""),
                    parameter=name, expected="yes or no", actual=value.expanded,
                )
