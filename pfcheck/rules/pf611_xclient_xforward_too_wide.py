"""XCLIENT or XFORWARD is authorized for clients beyond loopback (PF611, xclient-xforward-too-wide).

## What it does
For every smtpd listener that clients on other hosts reach (with `inet_interfaces` taken into
account; listeners whose smtpd exits at start-up are PF000's), reads the effective
`smtpd_authorized_xclient_hosts` and `smtpd_authorized_xforward_hosts` (main.cf, a master.cf
`-o`, `$` expansion) as smtpd reads them: a Postfix address list (networks, `!` exclusions,
first match wins, `/file/name`, `static:`/`cidr:`/hash-type tables resolved inside the repo;
pfcheck/postfix/networks.py). It reports a client the list authorizes that lies outside the
`allowed` networks (loopback by default): one concrete address, and the item that lets it in.
Host names and domains match by the client's DNS name, and tables outside the repo are
unknown: pfcheck cannot see those, says so, and reports the client as "may authorize".

## Why is this bad?
XCLIENT (postconf(5) `smtpd_authorized_xclient_hosts`: "This command overrides remote SMTP
client information that is used for access control") lets an authorized client say it is any
other client: `XCLIENT ADDR=127.0.0.1` makes it pass `permit_mynetworks` and every other
client-based check, and `XCLIENT LOGIN=name` makes it pass `permit_sasl_authenticated`. A
client on a wide XCLIENT list therefore relays mail to any destination wherever the relay
restrictions permit `mynetworks` or SASL clients (the default relay restrictions do). pfcheck's
relay evaluator (PF301) judges the real client address and does not follow XCLIENT: this rule
is the check for it. XFORWARD (`smtpd_authorized_xforward_hosts`) only replaces the client
information Postfix logs and forwards (XFORWARD_README): it grants no access, but lets the
client falsify the origin that logs, Received: headers of the next hop and content filters
see. Both belong to a content filter or proxy on loopback (or a named filter host), never to
a network.

## Example
    # main.cf
    smtpd_authorized_xclient_hosts = 192.0.2.0/24
    smtpd_authorized_xforward_hosts = $mynetworks

## Use instead
    # main.cf: the filter or proxy that needs it, only
    smtpd_authorized_xclient_hosts = 127.0.0.1
    # master.cf: better still, only on the filter's re-injection listener on loopback
    127.0.0.1:10025 inet n - n - - smtpd -o smtpd_authorized_xforward_hosts=127.0.0.0/8

## Options
- `allowed` (list of networks in Postfix syntax): networks that may be authorized (default
  `127.0.0.0/8`, `[::1]/128`).
- `allow_single_addresses` (boolean, default false): accept any single address the list names
  (`/32`, `/128`), such as a filter host or a proxy.
- `xforward` (boolean, default true): also judge `smtpd_authorized_xforward_hosts`.

## References
- postconf(5): smtpd_authorized_xclient_hosts, smtpd_authorized_xforward_hosts,
  permit_mynetworks, permit_sasl_authenticated
- XCLIENT_README, XFORWARD_README
- rules.md §3.6 and §6 (XCLIENT/XFORWARD), §7 row 26
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.config import Listener
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.client_lists import LIST_OPTIONS, Authorized, authorized_outside, shown_list
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.tls_common import RELAY_LISTS, restriction_words

ID = "PF611"
NAME = "xclient-xforward-too-wide"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {**LIST_OPTIONS, "xforward": (bool, True)}

XCLIENT = "smtpd_authorized_xclient_hosts"
XFORWARD = "smtpd_authorized_xforward_hosts"
#: Permits an XCLIENT client can satisfy by naming another client (ADDR=, NAME=, LOGIN=).
_POSED_PERMITS = ("permit_mynetworks", "permit_sasl_authenticated")


def _xclient_harm(listener: Listener) -> str:
    """What posing as another client wins on this listener."""
    permits = []
    for list_name, word in restriction_words(listener, RELAY_LISTS):
        if word in _POSED_PERMITS and (word, list_name) not in permits:
            permits.append((word, list_name))
    if permits:
        named = ", ".join(f"{word} in {list_name}" for word, list_name in permits)
        return (f"with XCLIENT ADDR=127.0.0.1 (or LOGIN=) it poses as a trusted client and passes "
                f"{named}: it relays mail to any destination")
    return ("with XCLIENT it poses as any client, so every client-based restriction judges the "
            "address it names instead of its own")


def _finding(ctx: RuleContext, listener: Listener, found: Authorized) -> Finding:
    name = found.value.name
    if name == XCLIENT:
        harm = _xclient_harm(listener)
        what = "XCLIENT"
    else:
        harm = ("XFORWARD replaces the client name and address Postfix logs and forwards "
                "(no access is granted, but the recorded origin is the client's to choose)")
        what = "XFORWARD"
    return make_finding(
        ctx, ID, NAME, found.path, found.line, found.column,
        f"{listener.key} {found.verb()} {what} for client {found.address} through {found.via()} "
        f"({shown_list(ctx, found.value)}); {found.range_text} is outside the allowed networks and "
        f"the listener is reachable from other hosts ({listener.binding}); {harm}",
        service=listener.key, parameter=name, witness=found.witness(listener.scope),
        expected="loopback (or the filter host) only", actual=found.value.expanded.strip(),
        from_default=found.value.origin.is_default,
    )


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    names = (XCLIENT, XFORWARD) if options["xforward"] else (XCLIENT,)
    for listener in judged_listeners(ctx):
        for name in names:
            found = authorized_outside(ctx, listener.scope, name, options, listener.service)
            if found is not None:
                yield _finding(ctx, listener, found)
