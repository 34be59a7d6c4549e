"""Relay evaluation shared by PF301, PF302, PF303 and PF201: computed once per listener."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from pfcheck.postfix.config import Listener
from pfcheck.rules.base import RuleContext


def relay_verdict(ctx: RuleContext, listener: Listener) -> Any:
    """The RelayVerdict of one listener (cached in the rule context)."""
    from pfcheck.postfix.relay import evaluate_relay

    cache: dict[str, Any] = ctx.cache.setdefault("relay", {})
    if listener.key not in cache:
        cache[listener.key] = evaluate_relay(
            listener.scope, version=ctx.config.version, resolver=ctx.resolver(), trusted=None,
            rewrite_params=ctx.config.global_scope,
        )
    return cache[listener.key]


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
    from pfcheck.postfix.param_types import GLOBAL, types_of
    from pfcheck.postfix.refusals import scope_refusals, set_names
    from pfcheck.rules.pf000_config_error import valid_level

    if listener.service.startup_fatal:
        return True
    scope = listener.scope
    version = scope.config.version
    program = listener.service.process_name
    for name in set_names(scope):
        value = scope.get(name)
        if value.error is not None and any(entry.read_by(program) for entry in types_of(name, version)):
            return True
    for refusal in scope_refusals(scope, program).values():
        if not refusal.assumption and (GLOBAL in refusal.readers or program in refusal.readers):
            return True
    level = scope.get("compatibility_level")
    if not level.origin.is_default and not valid_level(level.expanded, version):
        return True
    return False


def point_at(ctx: RuleContext, location: Optional[tuple[str, int]], listener: Listener) -> tuple[Path, int, int]:
    """A (path, line) from the evaluator, else the listener's line, else main.cf:1."""
    if location is not None:
        return Path(location[0]), max(location[1], 1), 1
    if not ctx.config.master.assumed_default:
        return listener.service.path, listener.service.line, 1
    return ctx.config.main.path, 1, 1
