"""What the single-setting rules (PF7xx) share: the effective value of one parameter per
reachable smtpd listener, or per scope (main.cf and each master.cf service whose `-o` can
change it), and the finding that names a value and where it comes from."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

from pfcheck.findings import Finding
from pfcheck.postfix.config import Listener, Scope, Value
from pfcheck.postfix.mastercf import Service
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import dies_at_startup
from pfcheck.rules.unknown_names import describe_origin


def word(value: Value) -> Optional[str]:
    """The expanded value as one lower-case word (Postfix compares booleans and named values
    case-insensitively); None when the expansion fails (PF000 reports that)."""
    if value.error is not None:
        return None
    return value.expanded.strip().lower()


def listener_values(ctx: RuleContext, name: str) -> Iterator[tuple[Listener, Value]]:
    """`name`'s effective value on every smtpd listener other hosts can reach, except those
    whose smtpd exits at start-up (PF000's) and values whose expansion fails."""
    for listener in ctx.remote_smtpd_listeners():
        if dies_at_startup(listener):
            continue
        value = listener.scope.get(name)
        if value.error is None:
            yield listener, value


@dataclass(frozen=True)
class ScopedValue:
    """A parameter's value in main.cf (service None) or in one master.cf service."""

    scope: Scope
    service: Optional[Service]
    value: Value

    @property
    def label(self) -> str:
        return self.service.key if self.service is not None else "main.cf"


def scoped_values(ctx: RuleContext, name: str, programs: Optional[frozenset[str]] = None) -> Iterator[ScopedValue]:
    """`name` in main.cf, then in every master.cf service (whose command is one of `programs`,
    when given) where a `-o` changes it: what each Postfix program that reads it sees."""
    config = ctx.config
    if not config.main_source.checkable:
        return  # a template or unreadable main.cf: PF900
    main_value = config.global_scope.get(name)
    if main_value.error is None:
        yield ScopedValue(config.global_scope, None, main_value)
    for service in config.master.services:
        if programs is not None and service.process_name not in programs:
            continue
        if not service.overrides:
            continue
        scope = config.scope(service)
        if name not in scope.differing_names():
            continue
        value = scope.get(name)
        if value.error is None:
            yield ScopedValue(scope, service, value)


def setting_finding(ctx: RuleContext, code: str, name: str, value: Value, text: str,
                    listener: Optional[Listener] = None, *, expected: str,
                    service: Optional[str] = None) -> Finding:
    """A finding at the line that sets `value` (else the listener, else main.cf:1); `text`
    is what Postfix does, and the message ends with where the value comes from."""
    path, line, column = ctx.location_of(value, listener)
    how = describe_origin(ctx, value, listener)
    return make_finding(
        ctx, code, name, path, line, column,
        f"{text} ({value.name} = {value.expanded.strip() or '(empty)'}, {how})",
        service=service if service is not None else (listener.key if listener is not None else None),
        parameter=value.name, expected=expected, actual=value.expanded,
        from_default=value.origin.is_default,
    )


def listeners_with_word(ctx: RuleContext, code: str, rule_name: str, parameter: str, bad: str,
                        what: str, expected: str) -> Iterator[Finding]:
    """A finding for every reachable listener whose effective `parameter` is the word `bad`
    (in any case): "<listener> <what>; it is reachable from other hosts (...)"."""
    for listener, value in listener_values(ctx, parameter):
        if word(value) == bad:
            yield setting_finding(
                ctx, code, rule_name, value,
                f"{listener.key} {what}; it is reachable from other hosts ({listener.binding})",
                listener, expected=expected,
            )
