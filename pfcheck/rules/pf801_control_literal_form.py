"""Literal form of a compliance control and Postfix's behaviour differ (PF801, control-literal-form).

## What it does
Under a compliance profile (`profiles:` in the policy, or `--profile`), for each control whose
text demands a literal setting in main.cf, compares the effective value with that form and
reports, at `info`, where the form and Postfix's behaviour disagree. The forms:

- relay: the DISA relay STIGs' `smtpd_client_restrictions = permit_mynetworks, reject`,
  Ubuntu's `smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject`,
  ComplianceAsCode's `postfix_prevent_unrestricted_relay`; compared as smtpd reads lists (split
  at commas and white space, restriction names case-insensitive). The behaviour: no listener
  relays for untrusted clients and smtpd starts (PF301, PF302, PF303);
- local-only: ComplianceAsCode's `postfix_network_listening_disabled` (`inet_interfaces =
  loopback-only`) and RHEL 6's V-38622 (`inet_interfaces = localhost`), on a host whose policy
  gives it no role that receives mail (`mx`, `relay`, `submission`). The behaviour: master
  binds every `inet` service to loopback only, including services with a `host:port` part
  (PF401);
- banner: ComplianceAsCode's `postfix_server_banner` (`smtpd_banner = $myhostname ESMTP`),
  compared as written (unexpanded, white space runs as one space). The behaviour: every
  greeting a remote client sees, master.cf `-o smtpd_banner` included, starts with the host name
  and names no software, operating system or version (PF410, PF411, PF412).

The last definition wins and continuation lines belong to the value. Two directions:

- the literal form is missing, but Postfix's behaviour complies with the control: an auditor's
  script flags this host, Postfix does what the control wants;
- the literal form is there, but Postfix's behaviour violates the control (a master.cf `-o`
  override, a `mynetworks` that trusts everyone, a `0.0.0.0:smtp` service, ...): the script
  passes, Postfix does not comply. The behaviour is reported by the rule that judges it, tagged
  with the control, at its own severity. This includes ComplianceAsCode's own "compliant" relay
  fixture, a main.cf that holds only the literal line: without `compatibility_level` and
  recipient restrictions, smtpd refuses every connection (PF303).

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
- DISA STIG RHEL-06-000249 (V-38622)
- ComplianceAsCode postfix_prevent_unrestricted_relay, postfix_network_listening_disabled,
  postfix_server_banner
- docs/compliance.md (the control-to-rule map)
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, NamedTuple, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.policy.model import RECEIVING_ROLES
from pfcheck.postfix.config import Value
from pfcheck.postfix.relay import Verdict
from pfcheck.postfix.relay.lists import split_restrictions
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.listening_common import bound_services, describe_binding, remote_banners
from pfcheck.rules.relay_common import remote_relay_verdicts

if TYPE_CHECKING:  # the table is imported when a profile asks for this rule, not by every run
    from pfcheck.compliance import Control, LiteralForm

ID = "PF801"
NAME = "control-literal-form"
SEVERITY = Severity.INFO
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    from pfcheck.compliance import controls_in

    # Controls that demand the same form (five STIGs ask for the same client list) share one
    # finding, tagged with all of them.
    by_form: dict[tuple[LiteralForm, str], list[Control]] = {}
    judges = _judges()
    for control in controls_in(ctx.profiles):
        if control.literal is not None and control.behaviour in judges:
            by_form.setdefault((control.literal, control.behaviour), []).append(control)
    for (literal, behaviour), controls in by_form.items():
        judged = judges[behaviour](ctx)
        if judged is None:
            continue
        finding = _compare(ctx, controls, literal, judged)
        if finding is not None:
            yield finding


class Behaviour(NamedTuple):
    """What Postfix does about one control: `violations` says how it breaks it (empty when it
    complies), `complies` why it complies."""

    violations: tuple[str, ...]
    complies: str


def literal_present(literal: LiteralForm, value: Value) -> bool:
    """Whether main.cf's `value` is the control's literal form: a list as smtpd reads lists
    (names case-insensitive), a text as written (white space runs read as one space)."""
    from pfcheck.compliance import TEXT

    if literal.compare == TEXT:
        return value.raw.split() == literal.value.split()
    return [token.lower() for token in split_restrictions(value.expanded)] == \
        [token.lower() for token in split_restrictions(literal.value)]


def _compare(ctx: RuleContext, controls: list[Control], literal: LiteralForm, behaviour: Behaviour) -> Optional[Finding]:
    from pfcheck.compliance import describe_controls

    value = ctx.config.global_scope.get(literal.parameter)
    present = value.error is None and literal_present(literal, value)
    path, line, column = ctx.location_of(value)
    where = "main.cf sets it" if not value.origin.is_default else "Postfix's default applies"
    from pfcheck.compliance import TEXT

    shown = (value.raw if literal.compare == TEXT else value.expanded).strip() or "(empty)"
    control_name = describe_controls(controls)
    if not present and not behaviour.violations:
        asks = "ask" if len(controls) > 1 else "asks"
        message = (
            f"{control_name} {asks} for {literal.describe()}; {literal.parameter} is '{shown}' ({where}), "
            f"but Postfix's behaviour complies: {behaviour.complies}"
        )
    elif present and behaviour.violations:
        message = f"{control_name}: {literal.describe()} is there, but {'; '.join(behaviour.violations)}"
    else:
        return None
    return make_finding(
        ctx, ID, NAME, Path(path), line, column, message,
        parameter=literal.parameter, expected=literal.value, actual=value.expanded,
        from_default=value.origin.is_default,
    ).with_(controls=tuple(dict.fromkeys(tag for control in controls for tag in control.ids)))


def _relay(ctx: RuleContext) -> Behaviour:
    verdicts = list(remote_relay_verdicts(ctx))
    open_on = [listener.key for listener, verdict in verdicts if verdict.verdict is Verdict.OPEN]
    unproven_on = [listener.key for listener, verdict in verdicts if verdict.verdict is Verdict.UNPROVEN]
    refused_on = [listener.key for listener, verdict in verdicts if not verdict.guard.passes]
    if open_on:
        how = f"Postfix relays for untrusted clients on {', '.join(open_on)} (PF301)"
    elif refused_on:
        how = (f"smtpd on {', '.join(refused_on)} exits at its first connection: no relay "
               "restriction works (PF303), the host takes no mail at all")
    elif unproven_on:
        how = f"whether Postfix relays on {', '.join(unproven_on)} depends on what pfcheck cannot see (PF302)"
    else:
        complies = "no listener relays for untrusted clients" if verdicts else \
            "no listener is reachable from other hosts"
        return Behaviour((), complies)
    return Behaviour((how,), "")


def _local_only(ctx: RuleContext) -> Optional[Behaviour]:
    """Local-only controls are for hosts that are not mail servers: None (nothing to compare)
    on a host whose role receives mail, as for PF401."""
    if RECEIVING_ROLES & set(ctx.roles):
        return None
    remote = [f"master binds {bound.service.key} to {describe_binding(ctx, bound)} (PF401)"
              for bound in bound_services(ctx) if bound.binding.remote]
    return Behaviour(tuple(remote), "master binds every inet service to loopback only")


def _banner(ctx: RuleContext) -> Behaviour:
    shown, greetings = [], 0
    for item in remote_banners(ctx):
        greetings += 1
        facts = item.facts
        rules = [code for code, breaks in (
            ("PF410", bool(facts.software or facts.systems)), ("PF411", bool(facts.versions)),
            ("PF412", not facts.starts_with_hostname)) if breaks]
        if rules:
            shown.append(f'{item.listener.key} greets with "220 {facts.banner}" ({", ".join(rules)})')
    if not greetings:
        return Behaviour((), "no listener is reachable from other hosts")
    return Behaviour(tuple(shown), "every greeting starts with the host name and names no software, "
                                   "operating system or version")


def _judges() -> dict[str, Callable[[RuleContext], Optional[Behaviour]]]:
    """Each control behaviour of the compliance table with the function that judges it."""
    from pfcheck.compliance import BANNER, LOCAL_ONLY, RELAY

    return {RELAY: _relay, LOCAL_ONLY: _local_only, BANNER: _banner}
