"""Reachable listener answers VRFY (PF101, vrfy-enabled).

## What it does
Fails for every smtpd listener that clients on other hosts can reach (an `inet` smtpd, or the
`smtpd pass` service behind an `inet` postscreen, not bound to loopback only, with
`inet_interfaces` taken into account) whose effective `disable_vrfy_command` is `no`: set so in
main.cf, in a master.cf `-o`, or left at Postfix's default (`no`).

## Why is this bad?
`VRFY` tells anyone who connects whether a mailbox exists, which makes address harvesting and
user enumeration trivial. Postfix answers it unless `disable_vrfy_command = yes`. A `-o
disable_vrfy_command=no` on one listener re-enables it there even when main.cf disables it.

## Example
    # main.cf
    smtpd_banner = $myhostname ESMTP

## Use instead
    # main.cf
    disable_vrfy_command = yes

## Fix (`pfcheck --fix`)
Where the value comes from: the last main.cf definition is set to `yes` in place; a listener's
`-o disable_vrfy_command=no` is dropped when main.cf already says `yes`, else set to `yes`;
when nothing sets it, `disable_vrfy_command = yes` is added at the end of main.cf. Applied only
once pfcheck has proven that the finding is gone and that no other parameter of any service
changes (docs/fixes.md).

## References
- postconf(5): disable_vrfy_command
- Lynis MAIL-8820; DISA STIG GEN004680
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.unknown_names import describe_origin

ID = "PF101"
NAME = "vrfy-enabled"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}
PARAMETER = "disable_vrfy_command"

if TYPE_CHECKING:  # imported where used: only fixable findings build a Fix
    from pfcheck.postfix.edits import Fix


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in judged_listeners(ctx):
        value = listener.scope.get("disable_vrfy_command")
        # Anything but yes/no (and expansion errors) makes smtpd exit: PF000 reports that.
        if value.error is not None or value.expanded.strip().lower() != "no":
            continue
        path, line, column = ctx.location_of(value, listener)
        how = describe_origin(ctx, value, listener)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} answers VRFY: disable_vrfy_command = no ({how}); "
            f"it is reachable from other hosts ({listener.binding})",
            service=listener.key, parameter="disable_vrfy_command",
            expected="yes", actual=value.expanded, from_default=value.origin.is_default,
        )


def fix(ctx: RuleContext, finding: Finding) -> Optional[Fix]:
    """`disable_vrfy_command = yes` where the listener's value is set (pfcheck/postfix/edits.py)."""
    from pfcheck.postfix import edits

    listener = next((item for item in judged_listeners(ctx) if item.key == finding.service), None)
    if listener is None:
        return None
    config = ctx.config
    value = listener.scope.get(PARAMETER)
    origin = value.origin
    if origin.kind == "master.cf":
        source = config.master_source
        if edits.editable_reason(source) is not None or source is None:
            return None
        if config.global_scope.value(PARAMETER).strip().lower() == "yes":
            return edits.drop_overrides(source, listener.service, PARAMETER,
                                        f"drop -o {PARAMETER}={value.raw} of {listener.key} (main.cf says yes)")
        return edits.set_override_value(source, listener.service, PARAMETER, "yes",
                                        f"set -o {PARAMETER}=yes on {listener.key}")
    source = config.main_source
    if edits.editable_reason(source) is not None or not config.main.present:
        return None
    if origin.kind == "main.cf":
        return edits.set_main_value(config.main, source, PARAMETER, "yes", f"set {PARAMETER} = yes in main.cf")
    return edits.append_main(source, PARAMETER, "yes", f"add {PARAMETER} = yes to main.cf")
