"""Whether Postfix starts depends on the mail host, not on the files (PF907, host-dependent).

## What it does
Reports each address and host name in the effective `inet_interfaces` (main.cf) and each host
part of an `inet` service in master.cf (`10.0.0.5:smtp`, `mx.example.com:submission`) that only
the mail host can vouch for: an address Postfix finds only if it is on one of the host's
interfaces, or a name that its resolver (DNS, `/etc/hosts`) must map to such an address.
`all`, `loopback-only`, `127.0.0.1`, `::1` and `localhost` are the same on every host and are
not reported; values Postfix refuses whatever the host (a CIDR, a misplaced dot) are PF000.

## Why is this bad?
It is not bad in itself; pfcheck says what it cannot know instead of passing it in silence.
When the address is not on the host, or the name does not resolve (or resolves elsewhere),
every Postfix program exits with "fatal: config variable inet_interfaces: no local interface
found for ..." or "... host not found: ...", and master cannot bind the service: no mail at
all. pfcheck judges such a listener as reachable from other hosts (VRFY, relaying), which is
the safe reading.

## Example
    inet_interfaces = mx.example.com

## Use instead
    # an address the host has, checked on the host (ip -brief address), or
    inet_interfaces = all

## References
- postconf(5), inet_interfaces; master(5), service name `host:port`
"""
from __future__ import annotations

import ipaddress
from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.config import split_inet_name
from pfcheck.postfix.lines import split_comma_space
from pfcheck.postfix.param_types import inet_interfaces_refusal
from pfcheck.rules.base import RuleContext, make_finding

ID = "PF907"
NAME = "host-dependent"
SEVERITY = Severity.INFO
OPTIONS: Mapping[str, tuple[type, Any]] = {}

#: What every host has: the keywords (whole value only) and the loopback address and name.
_EVERY_HOST = frozenset({"127.0.0.1", "::1", "localhost"})


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    config = ctx.config
    if not config.main_source.checkable:
        return
    value = config.global_scope.get("inet_interfaces")
    expanded = value.expanded
    if (value.error is None and expanded is not None and not value.origin.is_default
            and value.origin.path is not None and expanded not in ("all", "loopback-only")
            and inet_interfaces_refusal(expanded) is None):
        for word in split_comma_space(expanded):
            what = _needs(word)
            if what is not None:
                yield make_finding(
                    ctx, ID, NAME, value.origin.path, value.origin.line, max(value.origin.column, 1),
                    f"inet_interfaces names {word!r}: every Postfix program starts only if {what} "
                    f"(else \"fatal: config variable inet_interfaces: ...\"); pfcheck cannot know, "
                    f"and judges the listeners as reachable from other hosts",
                    parameter="inet_interfaces", actual=word,
                )
    if config.master_source is None or not config.master_source.checkable:
        return
    for service in config.master.services:
        if service.type != "inet":
            continue
        host, _port = split_inet_name(service.name)
        if host is None or host in ("", "*"):
            continue
        what = _needs(host, loopback_range=True)
        if what is not None:
            yield make_finding(
                ctx, ID, NAME, service.path, service.line, 1,
                f"{service.key} binds {host!r}: master starts it only if {what} (else master "
                f"cannot bind it); pfcheck cannot know, and judges it as reachable from other hosts",
                service=service.key, actual=host,
            )


def _needs(word: str, loopback_range: bool = False) -> Optional[str]:
    """What the mail host must provide for `word`, or None when every host has it."""
    text = word[1:-1] if word.startswith("[") and word.endswith("]") else word
    if text.lower() in _EVERY_HOST:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return f"the mail host resolves {text!r} to one of its own addresses"
    if loopback_range and address.is_loopback:
        return None  # Linux binds any 127/8 address on lo
    return f"{text} is an address of one of the mail host's interfaces"
