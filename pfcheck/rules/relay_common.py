"""Relay evaluation shared by PF301, PF302, PF303 and PF201: computed once per listener."""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Optional

from pfcheck.postfix.config import ConfigDir, Listener, Scope, config_directory_of
from pfcheck.rules.base import RuleContext
from pfcheck.rules.program_scopes import rewrite_scope

if TYPE_CHECKING:  # annotations only: the relay evaluator and the policy load when used
    from pfcheck.policy.assume import Assumption
    from pfcheck.postfix.param_types import Refusal
    from pfcheck.postfix.relay import RelayVerdict
    from pfcheck.postfix.relay.model import Witness


def relay_verdict(ctx: RuleContext, listener: Listener) -> RelayVerdict:
    """The RelayVerdict of one listener (cached in the rule context).

    A master.cf may hold thousands of smtpd listeners that differ only in `-o` settings the
    relay evaluator never reads (syslog_name, a banner, TLS files). The evaluator sees its
    listener only through value() and location(), so a listener whose differing names avoid
    every name an earlier evaluation read gets that earlier verdict, relabelled: the same
    answers to the same questions give the same verdict.
    """
    from pfcheck.postfix.relay import evaluate_relay

    cache: dict[str, RelayVerdict] = ctx.cache.setdefault("relay", {})
    if listener.key in cache:
        return cache[listener.key]
    shared: list[tuple[frozenset[str], RelayVerdict]] = ctx.cache.setdefault("relay-shared", [])
    differing = listener.scope.differing_names()
    for names_read, verdict in shared:
        if names_read.isdisjoint(differing):
            cache[listener.key] = dataclasses.replace(verdict, service=listener.key)
            return cache[listener.key]
    params = _RecordingParams(listener.scope)
    # Address classes are trivial-rewrite's: the service this listener asks (its -o count).
    params.names.add("rewrite_service_name")
    verdict = evaluate_relay(
        params, version=ctx.config.version, resolver=ctx.resolver(), trusted=None,
        rewrite_params=rewrite_scope(ctx, listener).scope, assumptions=ctx.assumptions,
    )
    consulted: list[Assumption] = ctx.cache.setdefault(CONSULTED, [])
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


def consulted_assumptions(ctx: RuleContext) -> list[Assumption]:
    """Every assumption a relay verdict of this directory looked up (each listener judged).

    An OPEN verdict stops at its witness, before lists further on are looked at: for those,
    an assumption the listener's restriction lists name counts as looked up too.
    """
    from pfcheck.postfix.relay import Verdict

    consulted: list[Assumption] = []
    for listener in smtpd_listeners(ctx):
        if listener.remote and not dies_at_startup(listener):
            verdict = relay_verdict(ctx, listener)
            if verdict.verdict is Verdict.OPEN and ctx.assumptions:
                consulted.extend(entry for entry in ctx.assumptions.entries
                                 if referencing_parameter(listener, entry) is not None)
    found = list(ctx.cache.get(CONSULTED, []))
    return found + [entry for entry in consulted if entry not in found]


def referencing_parameter(listener: Listener, assumption: Assumption) -> Optional[str]:
    """The first restriction list (or class) of this listener that names the assumed table
    or policy service, None when none does."""
    from pfcheck.postfix.relay import RESTRICTION_LIST_PARAMETERS, split_restrictions

    scope = listener.scope
    config_directory = config_directory_of(scope)
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


def assumption_texts(ctx: RuleContext, assumptions: Iterable[Assumption]) -> list[str]:
    """How findings name assumptions: the answers assumed and the policy file:line."""
    from pfcheck.policy.assume import describe_all

    return describe_all(assumptions, lambda path: ctx.display(Path(path)))


def judged_listeners(ctx: RuleContext) -> Iterator[Listener]:
    """smtpd listeners that other hosts reach and whose smtpd starts: the ones a per-listener
    rule judges (PF000 reports why the others exit before they answer anything)."""
    for listener in ctx.remote_smtpd_listeners():
        if not dies_at_startup(listener):
            yield listener


def remote_relay_verdicts(ctx: RuleContext) -> Iterator[tuple[Listener, RelayVerdict]]:
    """(listener, RelayVerdict) for each judged listener: the listeners whose relay verdict
    PF301, PF302 and PF305 describe."""
    for listener in judged_listeners(ctx):
        yield listener, relay_verdict(ctx, listener)


def smtpd_listeners(ctx: RuleContext) -> list[Listener]:
    return [listener for listener in ctx.config.listeners() if listener.service.process_name == "smtpd"]


def dies_at_startup(listener: Listener) -> bool:
    """Whether smtpd exits before it answers anything: a master.cf argument it rejects, a `$`
    expansion error, or a value Postfix's type tables or mail_params_init() refuse, in a
    parameter this smtpd reads (Postfix's own tables say which: mail_params.c and smtpd.c).

    PF000 reports the cause; VRFY and relay findings for such a listener would describe
    answers Postfix never gives. Refusals that rest on a host fact (an inet_interfaces name
    that may resolve on the mail host) and TLS-library parameters (read only when smtpd has a
    certificate) do not count: a verdict is better than a silence built on a guess.
    """
    # Asked by several rules per listener; the answer is kept on the listener.
    known = listener.__dict__.get("_dies_at_startup")
    if known is None:
        known = listener.__dict__["_dies_at_startup"] = _dies_at_startup(listener)
    return known


def _dies_at_startup(listener: Listener) -> bool:
    from pfcheck.postfix.param_types import GLOBAL
    from pfcheck.postfix.refusals import scope_refusals
    from pfcheck.rules.pf000_config_error import valid_level

    if listener.service.startup_fatal:
        return True
    scope = listener.scope
    version = scope.config.version
    program = listener.service.process_name
    reads = _smtpd_read_names(version)
    overrides = {o.name for o in listener.service.overrides}
    for name in _smtpd_main_names(scope.config) | (overrides & reads):
        # evaluate(): a listener with 100,000 `-o` must not keep 100,000 Values.
        value = scope.evaluate(name)
        if value.error is not None:
            return True
    # main.cf values every smtpd refuses (found once per directory), unless this listener's
    # `-o` changes them; then what the `-o` changes, as this smtpd sees it.
    differing = scope.differing_names()
    refusals = {name: refusal for name, refusal in _main_refusals(scope.config, program).items()
                if name not in differing}
    refusals.update(scope_refusals(scope, program))
    for refusal in refusals.values():
        if not refusal.assumption and (GLOBAL in refusal.readers or program in refusal.readers):
            return True
    level = scope.get("compatibility_level")
    if not level.origin.is_default and not valid_level(level.expanded, version):
        return True
    return False


def _smtpd_main_names(config: ConfigDir) -> frozenset[str]:
    """The main.cf names every smtpd reads (Postfix's type tables: mail_params.c and smtpd.c),
    found once per directory (not once per listener: a main.cf may hold a million parameters
    and a master.cf thousands of listeners)."""
    names = config.__dict__.get("_smtpd_main_names")
    if names is None:
        main = config.main
        names = frozenset(name for name in _smtpd_read_names(config.version) if name in main)
        config.__dict__["_smtpd_main_names"] = names
    return names


@functools.lru_cache(maxsize=None)
def _smtpd_read_names(version: str) -> frozenset[str]:
    from pfcheck.postfix.param_types import parameter_types

    return frozenset(name for name, entries in parameter_types(version).items()
                     if any(entry.read_by("smtpd") for entry in entries))


def _main_refusals(config: ConfigDir, program: str) -> dict[str, Refusal]:
    """scope_refusals() of the main.cf scope for one program, once per directory."""
    from pfcheck.postfix.refusals import scope_refusals

    cache: dict[str, dict[str, Refusal]] = config.__dict__.setdefault("_main_refusals", {})
    if program not in cache:
        cache[program] = scope_refusals(config.global_scope, program)
    return cache[program]


def point_at(ctx: RuleContext, location: Optional[tuple[str, int]], listener: Listener) -> tuple[Path, int, int]:
    """A (path, line) from the evaluator, else the listener's line, else main.cf:1."""
    if location is not None:
        return Path(location[0]), max(location[1], 1), 1
    if not ctx.config.master.assumed_default:
        return listener.service.path, listener.service.line, 1
    return ctx.config.main.path, 1, 1


def table_entry_text(ctx: RuleContext, witness: Witness) -> str:
    """` (table entry clients.cidr:2)`: the access-table line whose action let the witness
    through, when a table decided; "" otherwise."""
    if not witness.table_entry:
        return ""
    return f" (table entry {ctx.display(Path(witness.table_entry[0]))}:{witness.table_entry[1]})"
