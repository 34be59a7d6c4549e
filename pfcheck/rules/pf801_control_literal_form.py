"""Literal form of a compliance control and Postfix's behaviour differ (PF801, control-literal-form).

## What it does
Under a compliance profile (`profiles:` in the policy, or `--profile`), for each control whose
text demands a literal setting (the DISA relay STIGs' `smtpd_client_restrictions =
permit_mynetworks, reject`, Ubuntu's `smtpd_relay_restrictions = permit_mynetworks,
permit_sasl_authenticated, reject`, ComplianceAsCode's `postfix_prevent_unrestricted_relay`),
compares the effective value with that form, as smtpd reads it (lists split at commas and white
space, restriction names compared case-insensitively, the last definition winning), and
reports, at `info`, where the form and Postfix's behaviour disagree:

- the literal form is missing, but Postfix's behaviour complies with the control (no listener
  relays for untrusted clients): an auditor's script flags this host, Postfix does not relay;
- the literal form is there, but Postfix's behaviour violates the control (a master.cf `-o`
  override, a `mynetworks` that trusts everyone, ...): the script passes, Postfix relays. The
  behaviour is reported by the rule that judges it (PF301, PF302, PF303), tagged with the
  control, at its own severity. This includes ComplianceAsCode's own "compliant" fixture, a
  main.cf that holds only the literal line: without `compatibility_level` and recipient
  restrictions, smtpd refuses every connection (PF303).

Where form and behaviour agree, PF801 says nothing: a violation is the behaviour rule's finding.

## Why is this bad?
A control's literal wording is a proxy for a behaviour. A config that satisfies the wording
can still relay for the world, and one that does not can be closed. Auditors read both: this
finding says which of the two a difference is, so that a waiver can name it.

## Example
    # main.cf, under `profiles: [stig]`
    smtpd_client_restrictions = permit_mynetworks, reject
    mynetworks = 0.0.0.0/0

## Use instead
    # main.cf
    smtpd_client_restrictions = permit_mynetworks, reject
    mynetworks = 127.0.0.0/8, [::1]/128

## References
- DISA STIG RHEL-07-040680, RHEL-08-040290, RHEL-09-252050, TOSS-04-040700, UBTU-16-030620, GEN004710
- ComplianceAsCode postfix_prevent_unrestricted_relay
- docs/compliance.md (the control-to-rule map)
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.relay import Verdict
from pfcheck.postfix.relay.lists import split_restrictions
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import remote_relay_verdicts

if TYPE_CHECKING:  # the table is imported when a profile asks for this rule, not by every run
    from pfcheck.compliance import Control, LiteralForm

ID = "PF801"
NAME = "control-literal-form"
SEVERITY = Severity.INFO
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    from pfcheck.compliance import RELAY, controls_in

    # Controls that demand the same form (five STIGs ask for the same client list) share one
    # finding, tagged with all of them.
    by_form: dict[LiteralForm, list[Control]] = {}
    for control in controls_in(ctx.profiles):
        if control.literal is not None and control.behaviour == RELAY:
            by_form.setdefault(control.literal, []).append(control)
    for literal, controls in by_form.items():
        finding = _relay_controls(ctx, controls, literal)
        if finding is not None:
            yield finding


def literal_present(literal: LiteralForm, value: str) -> bool:
    """Whether `value` is the control's literal form, compared as smtpd reads lists."""
    return [token.lower() for token in split_restrictions(value)] == \
        [token.lower() for token in split_restrictions(literal.value)]


def _relay_controls(ctx: RuleContext, controls: list[Control], literal: LiteralForm) -> Optional[Finding]:
    scope = ctx.config.global_scope
    value = scope.get(literal.parameter)
    present = value.error is None and literal_present(literal, value.expanded)
    verdicts = list(remote_relay_verdicts(ctx))
    open_on = [listener.key for listener, verdict in verdicts if verdict.verdict is Verdict.OPEN]
    unproven_on = [listener.key for listener, verdict in verdicts if verdict.verdict is Verdict.UNPROVEN]
    refused_on = [listener.key for listener, verdict in verdicts if not verdict.guard.passes]
    path, line, column = ctx.location_of(value)
    where = "main.cf sets it" if not value.origin.is_default else "Postfix's default applies"
    shown = value.expanded.strip() or "(empty)"
    control_name = _names(controls)
    if not present and not open_on and not unproven_on and not refused_on:
        because = "no listener relays for untrusted clients" if verdicts else \
            "no listener is reachable from other hosts"
        asks = "ask" if len(controls) > 1 else "asks"
        message = (
            f"{control_name} {asks} for {literal.describe()}; {literal.parameter} is '{shown}' ({where}), "
            f"but Postfix's behaviour complies: {because}"
        )
    elif present and (open_on or unproven_on or refused_on):
        if open_on:
            how = f"Postfix relays for untrusted clients on {', '.join(open_on)} (PF301)"
        elif refused_on:
            how = (f"smtpd on {', '.join(refused_on)} exits at its first connection: no relay "
                   "restriction works (PF303), the host takes no mail at all")
        else:
            how = f"whether Postfix relays on {', '.join(unproven_on)} depends on what pfcheck cannot see (PF302)"
        message = f"{control_name}: {literal.describe()} is there, but {how}"
    else:
        return None
    return make_finding(
        ctx, ID, NAME, Path(path), line, column, message,
        parameter=literal.parameter, expected=literal.value, actual=value.expanded,
        from_default=value.origin.is_default,
    ).with_(controls=tuple(dict.fromkeys(tag for control in controls for tag in control.ids)))


def _names(controls: list[Control]) -> str:
    """`RHEL-07-040680, RHEL-08-040290 (stig)`: each control's leading id, by profile."""
    by_profile: dict[str, list[str]] = {}
    for control in controls:
        by_profile.setdefault(control.profile, []).append(control.ids[0])
    return "; ".join(f"{', '.join(ids)} ({profile})" for profile, ids in by_profile.items())
