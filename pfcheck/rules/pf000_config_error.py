"""Postfix refuses this configuration (PF000, config-error).

## What it does
Reports what Postfix itself exits on, found while reading the files: a main.cf logical line
without `=`, a master.cf entry with a bad field count or field, a `$` expansion syntax error or
recursion deeper than 100 (in a parameter a Postfix program reads: the one it dies on), a `-o` value without `=`, a word that is not an option among a
daemon's `-o` options (such as a `#` comment after text, which master.cf does not have), and
every value a Postfix program refuses when it reads its parameters: a boolean that is not
`yes` or `no` (such as `yes # comment`), a number that is not a number or is out of bounds
(`message_size_limit = 52428800  # 50MB`, `smtpd_recipient_limit = 0`), a bad time value or
unit (`maximal_queue_lifetime = 5x`), a string too short (`smtpd_sasl_path =`), a bad
`myhostname`/`mydomain` (`localhost # comment`, `{MTA_HOSTNAME}`), an unknown `inet_protocols`
or `mynetworks_style` word, an `inet_interfaces` word that is no address and no host name
(`192.168.0.0/24`), a malformed `compatibility_level`, `relayhost` equal to `myhostname`, a
`myorigin` with several values. The types and bounds are Postfix's own tables, per version; the
message quotes Postfix's fatal error and says who exits: every Postfix program (a parameter of
mail_params.c), or only the daemons that read it (`smtpd` for `smtpd_recipient_limit`), or only
the one service whose `-o` sets it.

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

## Fix (`pfcheck --fix`)
A main.cf value refused because of a trailing `# comment` gets the comment moved onto its own
line above the definition (the last one, which Postfix uses), so that the value is what its
author meant. Applied only once pfcheck has proven that this finding is gone and that no
other parameter of any service changes, e.g. not when another value expands `$name`
(docs/fixes.md).

## References
- postconf(5), introduction (syntax); master(5)
- Postfix source: util/readlline.c, util/split_nameval.c, util/mac_expand.c, global/mail_conf_*.c,
  global/conv_time.c, global/mail_params.c mail_params_init(), util/valid_hostname.c,
  global/own_inet_addr.c, util/inet_proto.c, global/mynetworks.c
"""
from __future__ import annotations

import dataclasses

from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import defaults
from pfcheck.postfix.config import Scope
from pfcheck.rules.base import RuleContext, make_finding

ID = "PF000"
NAME = "config-error"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}

if TYPE_CHECKING:  # imported where used: only fixable findings build a Fix
    from pfcheck.postfix.edits import Fix


def valid_level(text: str, version: str) -> bool:
    try:
        defaults.compat_level_below(text, "0", version)
    except ValueError:
        return False
    return True


def scopes(ctx: RuleContext) -> list[tuple[Scope, Optional[str], Optional[str]]]:
    """(scope, program, service label): main.cf for every program, then each master.cf service
    with `-o` options (or an smtpd listener) as its own program sees it."""
    config = ctx.config
    out: list[tuple[Scope, Optional[str], Optional[str]]] = [(config.global_scope, None, None)]
    seen: set[int] = set()
    for listener in config.listeners():
        seen.add(id(listener.service))
        out.append((listener.scope, listener.service.process_name, listener.key))
    for service in config.master.services:
        if id(service) not in seen and service.overrides:
            out.append((config.scope(service), service.process_name, service.key))
            seen.add(id(service))
    return out


def postconf_only_scopes(ctx: RuleContext) -> list[tuple[Scope, str]]:
    """Scopes only postconf expands, each with why no daemon sees it: the master.cf entries a
    later duplicate replaces (master never runs them, but postconf -n/-M expands their `-o`
    values and dies on them as on any other), and the `-o` options as postconf reads an
    attached form (`-oname=${a:b}`), where the daemon applies another value."""
    config = ctx.config
    kept = {id(service) for service in config.master.services}
    out: list[tuple[Scope, str]] = []
    for service in config.master.entries:
        if id(service) not in kept and service.overrides:
            out.append((config.scope(service), f"master runs the later entry for {service.key}, not this one"))
        elif service.postconf_overrides is not service.overrides and service.postconf_overrides:
            postconf_view = dataclasses.replace(service, overrides=service.postconf_overrides)
            out.append((config.scope(postconf_view),
                        f"that is the -o value as postconf reads it; the daemon of {service.key} applies another"))
    return out


def _names_to_check(config: Any, scope: Any) -> set[str]:
    """The names whose `$` expansion can fail in this scope: a `$` in the main.cf value, or
    what a service's `-o` can change (the rest is the main.cf scope's Value, reported there),
    and compatibility_level. Only names a Postfix program expands (Scope.expanded_by_postfix):
    `x0 = $x1` that nothing reads kills nothing, however deep its chain goes. A million plain parameters cost one scan; values Postfix refuses
    come from scope_refusals(), which looks only at typed parameters."""
    if scope.service is not None:
        return {name for name in scope.differing_names() if scope.expanded_by_postfix(name)}
    names = {name for name in config.main.names_containing("$") if scope.expanded_by_postfix(name)}
    if "compatibility_level" in config.main:
        names.add("compatibility_level")
    return names


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    from pfcheck.postfix.refusals import scope_refusals, who_exits

    config = ctx.config
    for issue in config.issues:
        if issue.fatal:
            yield make_finding(ctx, ID, NAME, issue.path, issue.line, issue.column, issue.message,
                               parameter=issue.parameter or None, actual=issue.kind)
    reported: set[tuple[str, int, str]] = set()
    read_only = defaults.read_only_parameters(config.version)
    for scope, program, label in scopes(ctx):
        refusals = scope_refusals(scope, program)
        overrides = {o.name for o in scope.service.overrides} if scope.service is not None else set()
        for name in sorted((_names_to_check(config, scope) | set(refusals)) - read_only):
            if scope.service is None and name not in refusals and name != "compatibility_level" \
                    and scope.expands_cleanly(name):
                continue  # nothing to report, and no Value to build for it
            value = scope.evaluate(name)
            origin = value.origin
            if origin.is_default or origin.path is None:
                continue
            key = (str(origin.path), origin.line, name)
            if key in reported:
                continue
            # A -o value kills only that service; a main.cf value every program that reads it.
            only = f"{program} of {label}" if name in overrides and label is not None else None
            if value.error is not None:
                reported.add(key)
                yield make_finding(
                    ctx, ID, NAME, origin.path, origin.line, origin.column,
                    f"{name}: {value.error.message}; every daemon that reads {name} exits with "
                    f"\"fatal: dictionary mail_dict: macro processing error\"",
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
            elif name in refusals:
                refusal = refusals[name]
                reported.add(key)
                shown = value.raw if value.raw == value.expanded else value.expanded
                if name == "myhostname" and scope.daemon_hostname() != value.expanded:
                    shown = value.raw  # the daemon expands it before $mydomain has its default
                hint = " (Postfix has no trailing comments)" if "#" in shown else ""
                assumption = f" (assuming {refusal.assumption})" if refusal.assumption else ""
                yield make_finding(
                    ctx, ID, NAME, origin.path, origin.line, origin.column,
                    f"{name} = {shown!r} is refused: {who_exits(refusal.readers, only)} with "
                    f"\"fatal: {refusal.message}\"{hint}{assumption}",
                    parameter=name, actual=shown,
                )
    for scope, why in postconf_only_scopes(ctx):
        for name in sorted(scope.differing_names() - read_only):
            if not scope.expanded_by_postfix(name):
                continue
            value = scope.evaluate(name)
            origin = value.origin
            if value.error is None or origin.is_default or origin.path is None:
                continue
            key = (str(origin.path), origin.line, name)
            if key in reported:
                continue
            reported.add(key)
            yield make_finding(
                ctx, ID, NAME, origin.path, origin.line, origin.column,
                f"{name}: {value.error.message}; postconf -n and -M exit with \"fatal: macro "
                f"processing error\" ({why})",
                parameter=name, actual=value.raw,
            )


def fix(ctx: RuleContext, finding: Finding) -> Optional[Fix]:
    """A main.cf value refused for its trailing `# comment`: the comment moves onto its own line
    above the definition (pfcheck/postfix/edits.py). Other PF000 findings have no fix."""
    name = finding.parameter
    if name is None or "#" not in (finding.actual or "") or finding.service is not None:
        return None
    config = ctx.config
    definition = config.main.get(name)
    if definition is None or finding.path != ctx.display(definition.path) or finding.line != definition.value_line:
        return None  # not the main.cf value the finding is about (a -o, a redefinition)
    from pfcheck.postfix import edits

    if edits.editable_reason(config.main_source) is not None:
        return None
    return edits.move_comment_above(config.main, config.main_source, name,
                                    f"move the trailing comment of {name} onto its own line above it")
