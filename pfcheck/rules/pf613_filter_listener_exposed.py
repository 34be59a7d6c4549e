"""A content filter's re-injection listener is reachable from other hosts (PF613, filter-listener-exposed).

## What it does
Looks at the `-o` overrides of every master.cf smtpd listener that clients on other hosts
reach: no loopback host part in its service name (`127.0.0.1:10025`, `[::1]:10025`), and
without one an `inet_interfaces` that is not loopback only (pfcheck/postfix/listening.py;
listeners whose smtpd exits at start-up are PF000's). It reports the listener when its own
`-o` make mail that arrives there skip checks that the rest of the installation applies (the
FILTER_README re-injection pattern):

- `-o content_filter=` (empty) while main.cf, or another smtpd listener, sets a content filter;
- `-o receive_override_options=` with `no_header_body_checks`, `no_milters` or
  `no_unknown_recipient_checks` that main.cf's value does not already have;
- `-o smtpd_milters=` (empty) while main.cf sets milters.

The message also names what else such a listener's `-o` relax: restriction lists emptied
where main.cf's are not, and its own `mynetworks`. When the relay evaluator finds the listener
an open relay, the message says PF301 reports that (different harm, one message each).

## Why is this bad?
A re-injection listener exists so that the content filter can hand mail back without it being
filtered again; its overrides are safe only because nothing but the filter on loopback can
connect. Reachable from other hosts, it lets anyone deliver mail that skips the virus/spam
filter, header/body checks and milters (and, with its usual `mynetworks`/restriction
overrides, often relays).

## Example
    # main.cf
    content_filter = scan:[127.0.0.1]:10026
    # master.cf
    10025 inet n - n - - smtpd
        -o content_filter=
        -o receive_override_options=no_header_body_checks,no_milters

## Use instead
    # master.cf: bind it to loopback
    127.0.0.1:10025 inet n - n - - smtpd
        -o content_filter=
        -o receive_override_options=no_header_body_checks,no_milters

## References
- postconf(5): content_filter, receive_override_options, smtpd_milters
- master(5) (service name `host:port`); FILTER_README
- rules.md §3.6 and §7 row 25
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.config import Listener, Value
from pfcheck.postfix.lines import split_comma_space
from pfcheck.postfix.relay.model import Verdict
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import judged_listeners, relay_verdict, smtpd_listeners
from pfcheck.rules.tls_common import RESTRICTION_LISTS

ID = "PF613"
NAME = "filter-listener-exposed"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}

#: receive_override_options words that skip a check (postconf(5) receive_override_options).
SKIPPED_CHECKS = {
    "no_header_body_checks": "header/body checks",
    "no_milters": "milters",
    "no_unknown_recipient_checks": "unknown-recipient checks",
}


def _own_override(listener: Listener, name: str) -> Optional[Value]:
    """The listener's value of `name` when one of its own `-o` sets it."""
    value = listener.scope.get(name)
    if value.origin.kind != "master.cf" or value.error is not None:
        return None
    return value


def _filters_elsewhere(ctx: RuleContext, listener: Listener) -> list[str]:
    """Where a content filter applies outside this listener: main.cf, other smtpd listeners."""
    found = []
    main = ctx.config.global_scope.get("content_filter")
    if main.error is None and main.expanded.strip():
        found.append(f"{main.expanded.strip()} ({'default' if main.origin.is_default else main.origin.label()})")
    for other in smtpd_listeners(ctx):
        if other.key == listener.key:
            continue
        value = _own_override(other, "content_filter")
        if value is not None and value.expanded.strip():
            found.append(f"{value.expanded.strip()} on {other.key} ({value.origin.label()})")
    return found


def _bypasses(ctx: RuleContext, listener: Listener) -> list[tuple[Value, str]]:
    """(the -o value, what mail arriving here skips) for each bypass override."""
    found: list[tuple[Value, str]] = []
    content = _own_override(listener, "content_filter")
    if content is not None and not content.expanded.strip():
        elsewhere = _filters_elsewhere(ctx, listener)
        if elsewhere:
            found.append((content, f"-o content_filter= ({content.origin.label()}) skips the content "
                                   f"filter {'; '.join(elsewhere)}"))
    options = _own_override(listener, "receive_override_options")
    if options is not None:
        # name_mask() without NAME_MASK_ANY_CASE (global/input_transp.c): case-sensitive.
        words = set(split_comma_space(options.expanded))
        main = ctx.config.global_scope.get("receive_override_options")
        main_words = set(split_comma_space(main.expanded)) if main.error is None else set()
        skipped = [what for word, what in SKIPPED_CHECKS.items() if word in words and word not in main_words]
        if skipped:
            found.append((options, f"-o receive_override_options={options.expanded.strip()} "
                                   f"({options.origin.label()}) skips {', '.join(skipped)}"))
    milters = _own_override(listener, "smtpd_milters")
    main_milters = ctx.config.global_scope.get("smtpd_milters")
    if (milters is not None and not milters.expanded.strip() and main_milters.error is None
            and main_milters.expanded.strip()):
        found.append((milters, f"-o smtpd_milters= ({milters.origin.label()}) skips the milters "
                               f"{main_milters.expanded.strip()}"))
    return found


def _relaxed(ctx: RuleContext, listener: Listener) -> list[str]:
    """The listener's other relaxing overrides: emptied restriction lists, its own mynetworks."""
    notes = []
    for name in RESTRICTION_LISTS:
        value = _own_override(listener, name)
        main = ctx.config.global_scope.get(name)
        if value is not None and not value.expanded.strip() and main.error is None and main.expanded.strip():
            notes.append(f"-o {name}= ({value.origin.label()}) drops main.cf's {name}")
    mynetworks = _own_override(listener, "mynetworks")
    if mynetworks is not None:
        notes.append(f"-o mynetworks={mynetworks.expanded.strip()} ({mynetworks.origin.label()}) "
                     "is trusted by permit_mynetworks here")
    return notes


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in judged_listeners(ctx):
        if listener.service.type != "inet":
            continue  # reached through postscreen: its -o do not sit on the exposed entry
        bypasses = _bypasses(ctx, listener)
        if not bypasses:
            continue
        first = bypasses[0][0]
        path: Path = first.origin.path if first.origin.path is not None else listener.service.path
        parts = [what for _, what in bypasses] + _relaxed(ctx, listener)
        relay = ""
        if relay_verdict(ctx, listener).verdict is Verdict.OPEN:
            relay = "; it is also an open relay (PF301 reports that)"
        yield make_finding(
            ctx, ID, NAME, path, first.origin.line, max(first.origin.column, 1),
            f"{listener.key} carries content-filter re-injection overrides but is reachable from "
            f"other hosts ({listener.binding}): mail sent to it {'; '.join(parts)}{relay}; bind it "
            f"to loopback (127.0.0.1:PORT in master.cf)",
            service=listener.key, parameter=first.name,
            expected="a loopback host part", actual=listener.binding,
        )
