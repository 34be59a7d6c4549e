"""What the PF4xx rules share: the inet services master binds, where to point for one, and
the banner of a listener with what it discloses."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, NamedTuple, Optional

from pfcheck.postfix.config import Listener, Value
from pfcheck.postfix.listening import Binding, BannerFacts, banner_facts, greeting_banner
from pfcheck.postfix.mastercf import Service
from pfcheck.rules.base import RuleContext
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.unknown_names import describe_origin


class BoundService(NamedTuple):
    service: Service
    binding: Binding


def bound_services(ctx: RuleContext) -> Iterator[BoundService]:
    """Every inet service of master.cf with what master binds for it; none when master binds
    nothing (inet_protocols enables no family) or refuses the service (its fatal is PF000's)."""
    config = ctx.config
    if not config.main_source.checkable or (config.master_source is not None and not config.master_source.checkable):
        return
    for service in config.master.services:
        if service.type != "inet":
            continue
        binding = config.binding(service)
        if binding.disabled or binding.error is not None:
            continue
        yield BoundService(service, binding)


def binding_location(ctx: RuleContext, bound: BoundService) -> tuple[Path, int, int, Optional[Value]]:
    """The service line for a host part; else the inet_interfaces line (the service line, or
    main.cf:1 without a master.cf, when it is the default). Also that inet_interfaces Value."""
    config = ctx.config
    service = bound.service
    if bound.binding.source == "host part":
        return service.path, service.line, 1, None
    value = config.global_scope.get("inet_interfaces")
    if not value.origin.is_default and value.origin.path is not None:
        return value.origin.path, value.origin.line, max(value.origin.column, 1), value
    if not config.master.assumed_default:
        return service.path, service.line, 1, value
    return config.main.path, 1, 1, value


def describe_binding(ctx: RuleContext, bound: BoundService) -> str:
    """`0.0.0.0:25, [::]:25 (inet_interfaces = all, by default)` or `192.0.2.10:25 (its host part)`."""
    binding = bound.binding
    endpoints = ", ".join(binding.endpoints)
    if binding.source == "host part":
        why = "the service's host part"
    else:
        value = ctx.config.global_scope.get("inet_interfaces")
        why = f"inet_interfaces = {value.expanded}, {describe_origin(ctx, value)}"
    names = [name for name in binding.names if name.lower() != "localhost"]
    unknown = (f"; {', '.join(names)} resolve(s) on the mail host, which pfcheck cannot know: read as "
               f"reachable from other hosts") if names else ""
    return f"{endpoints} ({why}{unknown})"


class ListenerBanner(NamedTuple):
    listener: Listener
    value: Value
    facts: BannerFacts


def remote_banners(ctx: RuleContext) -> Iterator[ListenerBanner]:
    """The greeting of every smtpd that clients on other hosts reach, with what it discloses;
    listeners whose smtpd exits at start-up (PF000) greet nobody."""
    for listener in judged_listeners(ctx):
        banner = greeting_banner(listener.scope)
        if banner is None:
            continue
        scope = listener.scope
        hostname = scope.get("myhostname").expanded or ""
        version = scope.get("mail_version").expanded or ""
        yield ListenerBanner(listener, scope.get("smtpd_banner"), banner_facts(banner, hostname, version))


def banner_finding_parts(ctx: RuleContext, item: ListenerBanner) -> tuple[Path, int, int, str, str]:
    """Where a banner finding points (the smtpd_banner line, else the listener), the greeting
    as quoted in messages, and where smtpd_banner comes from."""
    path, line, column = ctx.location_of(item.value, item.listener)
    how = describe_origin(ctx, item.value, item.listener)
    for name in ("mail_name", "mail_version"):
        part = item.listener.scope.get(name)
        if not part.origin.is_default:
            how += f"; {name} = {part.expanded} set at {part.origin.label()}"
    return path, line, column, f'"220 {item.facts.banner}"', how
