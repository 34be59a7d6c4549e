"""What the PF5xx rules (TLS and SASL on smtpd listeners) share: which listeners a rule
judges, how a message names the values that decided a TLS fact, and the restriction words
of a listener."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from pfcheck.postfix import tls_facts
from pfcheck.postfix.config import Listener, Value
from pfcheck.postfix.lines import split_comma_space
from pfcheck.postfix.relay.lists import split_restrictions
from pfcheck.rules.base import RuleContext
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.unknown_names import describe_origin

#: The smtpd restriction lists, in the order smtpd applies them.
RESTRICTION_LISTS = (
    "smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
    "smtpd_relay_restrictions", "smtpd_recipient_restrictions", "smtpd_data_restrictions",
    "smtpd_end_of_data_restrictions", "smtpd_etrn_restrictions",
)
#: The lists that decide relaying (where a permit grants relay access).
RELAY_LISTS = ("smtpd_relay_restrictions", "smtpd_recipient_restrictions")

#: The client-side TLS parameters, per client program prefix (main.cf-wide).
CLIENT_PREFIXES = ("smtp", "lmtp")


def role_listeners(ctx: RuleContext, role: str, reached: Callable[[Listener], bool]) -> Iterator[Listener]:
    """judged_listeners() that `reached` selects (by port), when the directory has `role`;
    none at all without it (role-dependent rules assume no role)."""
    if role not in ctx.roles:
        return
    for listener in judged_listeners(ctx):
        if reached(listener):
            yield listener


def tls_session_values(ctx: RuleContext, listener_parameter: Callable[[Listener], str],
                       client_suffixes: Iterable[str]) -> Iterator[tuple[Value, str, Optional[Listener]]]:
    """(value, who uses it, listener or None) for a TLS setting wherever TLS is used: per
    judged listener with TLS on, the parameter its sessions read (`listener_parameter`);
    main.cf-wide, `<client>_<suffix>` of every client that may use TLS."""
    for listener in judged_listeners(ctx):
        if tls_facts.smtpd_tls(listener).use_tls:
            yield (listener.scope.get(listener_parameter(listener)),
                   f"{listener.key} (TLS level {tls_facts.tls_level(listener)})", listener)
    scope = ctx.config.global_scope
    suffixes = tuple(client_suffixes)
    for prefix in CLIENT_PREFIXES:
        used, why = client_tls_used(ctx, prefix)
        if used:
            for suffix in suffixes:
                yield scope.get(f"{prefix}_{suffix}"), f"the {prefix} client (TLS used: {why})", None


def shown(ctx: RuleContext, value: Value, listener: Optional[Listener] = None) -> str:
    """`name = value (set at main.cf:3)`, or `(by default)`; an empty value is `name =`."""
    text = value.expanded.strip()
    assignment = f"{value.name} = {text}" if text else f"{value.name} ="
    return f"{assignment} ({describe_origin(ctx, value, listener)})"


def decisive(values: Iterable[Value]) -> Value:
    """The value a finding points at: the first one some line sets, else the first."""
    values = list(values)
    for value in values:
        if not value.origin.is_default:
            return value
    return values[0]


def level_reason(ctx: RuleContext, listener: Listener) -> str:
    """How the listener's TLS level came about, for messages."""
    facts = tls_facts.smtpd_tls(listener)
    scope = listener.scope
    if facts.wrappermode:
        return shown(ctx, scope.get("smtpd_tls_wrappermode"), listener)
    level = scope.get("smtpd_tls_security_level")
    if level.expanded.strip():
        return shown(ctx, level, listener)
    legacy = [scope.get("smtpd_enforce_tls"), scope.get("smtpd_use_tls")]
    return (f"{shown(ctx, level, listener)}, so the legacy "
            + " and ".join(shown(ctx, value, listener) for value in legacy) + " decide")


def level_location(ctx: RuleContext, listener: Listener) -> tuple[Path, int, int]:
    """Where a finding about the TLS level points: the line that decided it, else the listener."""
    return ctx.location_of(decisive(tls_facts.smtpd_tls(listener).decided_by), listener)


def restriction_words(listener: Listener, names: Iterable[str] = RESTRICTION_LISTS) -> Iterator[tuple[str, str]]:
    """(list name, lower-cased word) for every word of the named restriction lists and of the
    restriction classes (smtpd_restriction_classes) those lists name, as smtpd parses them."""
    scope = listener.scope
    classes = set(split_comma_space(scope.get("smtpd_restriction_classes").expanded))
    seen: set[str] = set()
    pending = [(name, name) for name in names]
    while pending:
        list_name, source = pending.pop(0)
        if source in seen:
            continue
        seen.add(source)
        value = scope.get(source)
        if value.error is not None:
            continue
        for word in split_restrictions(value.expanded):
            if word.startswith("{"):
                continue
            yield list_name, word.lower()
            if word in classes:
                pending.append((list_name, word))


def client_tls_used(ctx: RuleContext, prefix: str) -> tuple[bool, str]:
    """Whether the `smtp` (or `lmtp`) client may use TLS, as main.cf says, and why: a level
    other than none, under an empty level the legacy `_use_tls`/`_enforce_tls`, or a TLS
    policy table (which can ask for TLS per destination whatever the level says)."""
    scope = ctx.config.global_scope
    level = scope.get(f"{prefix}_tls_security_level")
    policy = scope.get(f"{prefix}_tls_policy_maps")
    if policy.expanded.strip():
        return True, shown(ctx, policy)
    if level.expanded.strip():
        return level.expanded.strip() != "none", shown(ctx, level)
    for name in (f"{prefix}_enforce_tls", f"{prefix}_use_tls"):
        value = scope.get(name)
        if value.expanded.strip().lower() == "yes":
            return True, shown(ctx, value)
    return False, shown(ctx, level)
