"""Where a parameter read by one Postfix program takes effect: the scopes a rule judges.

smtpd parameters are judged per smtpd listener that other hosts reach (PF607, PF611, PF613);
parameters of trivial-rewrite (PF608, PF609) in the scope of each master.cf service that runs
trivial-rewrite (its `-o` apply there), or main.cf's when master.cf runs none; qmqpd's per
qmqpd service (PF612). The address class smtpd acts on (`relay_domains`, PF605/PF606) is
trivial-rewrite's answer: `rewrite_scope()` gives the scope of the service a listener asks. A boolean reads as Postfix reads it: `yes`/`no` in any case; anything
else makes the program exit, which PF000 reports.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pfcheck.postfix.config import Listener, Scope, Value
from pfcheck.postfix.mastercf import Service
from pfcheck.rules.base import RuleContext


@dataclass(frozen=True)
class ProgramScope:
    """One place where a program reads its parameters."""

    service: Optional[Service]  # None: main.cf alone (no master.cf service runs the program)
    scope: Scope

    @property
    def key(self) -> str:
        return self.service.key if self.service is not None else "main.cf"


def service_scopes(ctx: RuleContext, program: str) -> list[ProgramScope]:
    """Each master.cf service that runs `program`, with its scope; main.cf's scope when
    master.cf runs none (the parameter still describes the installation)."""
    found = [ProgramScope(service, ctx.config.scope(service))
             for service in ctx.config.master.services if service.process_name == program]
    return found or [ProgramScope(None, ctx.config.global_scope)]


def rewrite_scope(ctx: RuleContext, listener: Listener) -> ProgramScope:
    """The trivial-rewrite that `listener`'s smtpd asks for address classes (resolve_clnt):
    the master.cf unix service named by the listener's `rewrite_service_name` when it runs
    trivial-rewrite (its `-o` apply, smtpd's own `-o relay_domains` do not), else main.cf's
    scope. [observed, Postfix 3.7: `smtpd -o relay_domains=net` relays nothing to net;
    `rewrite ... trivial-rewrite -o relay_domains=net` relays to it]"""
    name = listener.scope.value("rewrite_service_name").strip()
    for service in ctx.config.master.services:
        if service.name == name and service.type == "unix" and service.process_name == "trivial-rewrite":
            return ProgramScope(service, ctx.config.scope(service))
    return ProgramScope(None, ctx.config.global_scope)


def flag_is(value: Value, wanted: str) -> bool:
    """A boolean parameter's effective value is `wanted` (yes/no, any case, no expansion error)."""
    return value.error is None and value.expanded.strip().lower() == wanted


def locate(ctx: RuleContext, value: Value, service: Optional[Service]) -> tuple[Path, int, int]:
    """The value's line, else the service's line, else main.cf:1."""
    origin = value.origin
    if not origin.is_default and origin.path is not None:
        return origin.path, origin.line, max(origin.column, 1)
    if service is not None and not ctx.config.master.assumed_default:
        return service.path, service.line, 1
    return ctx.config.main.path, 1, 1
