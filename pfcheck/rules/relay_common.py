"""Relay evaluation shared by PF301, PF302, PF303 and PF201: computed once per listener."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

from pfcheck.postfix.config import ConfigDir, Listener, Scope
from pfcheck.rules.base import RuleContext


def relay_verdict(ctx: RuleContext, listener: Listener) -> Any:
    """The RelayVerdict of one listener (cached in the rule context).

    A master.cf may hold thousands of smtpd listeners that differ only in `-o` settings the
    relay evaluator never reads (syslog_name, a banner, TLS files). The evaluator sees its
    listener only through value() and location(), so a listener whose differing names avoid
    every name an earlier evaluation read gets that earlier verdict, relabelled: the same
    answers to the same questions give the same verdict.
    """
    from pfcheck.postfix.relay import evaluate_relay

    cache: dict[str, Any] = ctx.cache.setdefault("relay", {})
    if listener.key in cache:
        return cache[listener.key]
    shared: list[tuple[frozenset[str], Any]] = ctx.cache.setdefault("relay-shared", [])
    differing = listener.scope.differing_names()
    for names_read, verdict in shared:
        if names_read.isdisjoint(differing):
            cache[listener.key] = dataclasses.replace(verdict, service=listener.key)
            return cache[listener.key]
    params = _RecordingParams(listener.scope)
    verdict = evaluate_relay(
        params, version=ctx.config.version, resolver=ctx.resolver(), trusted=None,
        rewrite_params=ctx.config.global_scope, assumptions=ctx.assumptions,
    )
    consulted: list[Any] = ctx.cache.setdefault(CONSULTED, [])
    consulted.extend(item for item in verdict.consulted if item not in consulted)
    if params.names.isdisjoint(differing) and len(shared) < _SHARED_VERDICTS:
        shared.append((frozenset(params.names), verdict))
    cache[listener.key] = verdict
    return verdict


#: Distinct main.cf-only verdicts kept per directory (each listener is checked against them).
_SHARED_VERDICTS = 8


class _RecordingParams:
    """A listener's scope as the relay evaluator sees it, noting every name it asks about."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self.service = scope.service
        self.names: set[str] = set()

    def value(self, name: str) -> str:
        self.names.add(name)
        return self._scope.value(name)

    def location(self, name: str) -> Optional[tuple[str, int]]:
        self.names.add(name)
        return self._scope.location(name)


#: ctx.cache key: the policy assumptions some relay verdict of this directory looked up.
CONSULTED = "assumptions_consulted"


def consulted_assumptions(ctx: RuleContext) -> list[Any]:
    """Every assumption a relay verdict of this directory looked up (each listener judged).

    An OPEN verdict stops at its witness, before lists further on are looked at: for those,
    an assumption the listener's restriction lists name counts as looked up too.
    """
    from pfcheck.postfix.relay import Verdict

    consulted: list[Any] = []
    for listener in smtpd_listeners(ctx):
        if listener.remote and not dies_at_startup(listener):
            verdict = relay_verdict(ctx, listener)
            if verdict.verdict is Verdict.OPEN and ctx.assumptions:
                consulted.extend(entry for entry in ctx.assumptions.entries
                                 if referencing_parameter(listener, entry) is not None)
    found = list(ctx.cache.get(CONSULTED, []))
    return found + [entry for entry in consulted if entry not in found]


def referencing_parameter(listener: Listener, assumption: Any) -> Optional[str]:
    """The first restriction list (or class) of this listener that names the assumed table
    or policy service, None when none does."""
    from pfcheck.postfix.relay import RESTRICTION_LIST_PARAMETERS, split_restrictions

    scope = listener.scope
    config_directory = scope.value("config_directory").strip() or "/etc/postfix"
    classes = split_restrictions(scope.value("smtpd_restriction_classes"))
    for parameter in (*RESTRICTION_LIST_PARAMETERS, *classes):
        tokens = split_restrictions(scope.value(parameter))
        for index, token in enumerate(tokens):
            if assumption.kind == "policy_service":
                if token.lower() != "check_policy_service" or index + 1 >= len(tokens):
                    continue
                token = tokens[index + 1]
            if assumption.matches(token, config_directory):
                return parameter
    return None


def assumption_texts(ctx: RuleContext, assumptions: Any) -> list[str]:
    """How findings name assumptions: the answers assumed and the policy file:line."""
    from pfcheck.policy.assume import describe_all

    return describe_all(assumptions, lambda path: ctx.display(Path(path)))


def smtpd_listeners(ctx: RuleContext) -> list[Listener]:
    return [listener for listener in ctx.config.listeners() if listener.service.process_name == "smtpd"]


#: Booleans outside the smtpd_ prefix that every smtpd reads at start-up (mail_params.c, smtpd.c).
SMTPD_GLOBAL_BOOLEANS = frozenset({
    "disable_vrfy_command", "allow_untrusted_routing", "strict_rfc821_envelopes",
    "smtputf8_enable", "show_user_unknown_table_name", "soft_bounce", "resolve_dequoted_address",
    "allow_min_user", "enable_long_queue_ids", "append_dot_mydomain", "swap_bangpath",
    "allow_percent_hack", "resolve_null_domain", "resolve_numeric_domain",
})


#: main.cf parameters outside the smtpd_ prefix whose expansion every smtpd performs.
SMTPD_GLOBAL_PARAMETERS = SMTPD_GLOBAL_BOOLEANS | frozenset({
    "mynetworks", "mynetworks_style", "relay_domains", "mydestination", "myhostname", "mydomain",
    "myorigin", "inet_interfaces", "proxy_interfaces", "compatibility_level",
    "parent_domain_matches_subdomains", "virtual_alias_domains", "virtual_mailbox_domains",
    "relay_recipient_maps", "local_recipient_maps", "permit_mx_backup_networks",
})


def dies_at_startup(listener: Listener) -> bool:
    """Whether smtpd exits before it answers anything: a master.cf argument it rejects, or a
    bad boolean or `$` expansion in a parameter it reads.

    PF000 reports the cause; VRFY and relay findings for such a listener would describe
    answers Postfix never gives.
    """
    # Asked by several rules per listener; the answer is kept on the listener.
    known = listener.__dict__.get("_dies_at_startup")
    if known is None:
        known = listener.__dict__["_dies_at_startup"] = _dies_at_startup(listener)
    return known


def _dies_at_startup(listener: Listener) -> bool:
    from pfcheck.rules.pf000_config_error import is_boolean, valid_level

    if listener.service.startup_fatal:
        return True
    scope = listener.scope
    overrides = {o.name for o in listener.service.overrides}
    for name in _smtpd_main_names(scope.config) | overrides:
        # evaluate(): a listener with 100,000 `-o` must not keep 100,000 Values.
        value = scope.evaluate(name)
        if value.error is not None:
            return True
        if is_boolean(name, scope.config.version) and value.expanded.strip().lower() not in ("yes", "no"):
            return True
    level = scope.get("compatibility_level")
    if not level.origin.is_default and not valid_level(level.expanded, scope.config.version):
        return True
    return False


def _smtpd_main_names(config: ConfigDir) -> frozenset[str]:
    """The main.cf names every smtpd reads, found once per directory (not once per listener:
    a main.cf may hold a million parameters and a master.cf thousands of listeners)."""
    names = config.__dict__.get("_smtpd_main_names")
    if names is None:
        main = config.main
        names = frozenset([*main.names_starting("smtpd_"), *(n for n in SMTPD_GLOBAL_PARAMETERS if n in main)])
        config.__dict__["_smtpd_main_names"] = names
    return names


def point_at(ctx: RuleContext, location: Optional[tuple[str, int]], listener: Listener) -> tuple[Path, int, int]:
    """A (path, line) from the evaluator, else the listener's line, else main.cf:1."""
    if location is not None:
        return Path(location[0]), max(location[1], 1), 1
    if not ctx.config.master.assumed_default:
        return listener.service.path, listener.service.line, 1
    return ctx.config.main.path, 1, 1
