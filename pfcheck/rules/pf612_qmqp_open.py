"""A reachable QMQP service accepts mail from clients beyond loopback (PF612, qmqp-open).

## What it does
For every `inet` service of master.cf that runs `qmqpd` and that master binds on an address
other hosts reach (its host part, else `inet_interfaces`: pfcheck/postfix/listening.py), reads
that service's effective `qmqpd_authorized_clients` (main.cf, its `-o`, `$` expansion) as
qmqpd reads it: a Postfix address list (networks, `!` exclusions, first match, `/file/name`,
`static:`/`cidr:`/hash-type tables inside the repo; parent-domain style by
`parent_domain_matches_subdomains`). It reports a client the list authorizes outside the
`allowed` networks (loopback by default), with the item that lets it in. Host names and
domains match by the client's DNS name and tables outside the repo are unknown: pfcheck cannot
see those and reports the client as "may authorize". The default (empty) authorizes nobody.

## Why is this bad?
postconf(5) `qmqpd_authorized_clients`: "By default, no client is allowed to use the service.
This is because the QMQP server will relay mail to any destination." QMQP
has no restriction lists, no `reject_unauth_destination`: every client on that list is an open
relay for the whole Internet. qmqpd is meant for a few known list servers (ezmlm), on a
private network or loopback.

## Example
    # master.cf
    628       inet  n       -       n       -       -       qmqpd
    # main.cf
    qmqpd_authorized_clients = 0.0.0.0/0

## Use instead
    # master.cf: loopback only, or no qmqpd service at all
    127.0.0.1:628 inet n     -       n       -       -       qmqpd
    # main.cf: the list servers by address
    qmqpd_authorized_clients = 127.0.0.1

## Options
- `allowed` (list of networks in Postfix syntax): networks that may be authorized (default
  `127.0.0.0/8`, `[::1]/128`).
- `allow_single_addresses` (boolean, default false): accept any single address the list names.

## References
- postconf(5): qmqpd_authorized_clients, parent_domain_matches_subdomains; qmqpd(8)
- rules.md §3.6 and §6 (QMQP), §7 row 27
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.client_lists import LIST_OPTIONS, authorized_outside, shown_list
from pfcheck.rules.listening_common import bound_services, describe_binding

ID = "PF612"
NAME = "qmqp-open"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = dict(LIST_OPTIONS)

PARAMETER = "qmqpd_authorized_clients"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for bound in bound_services(ctx):
        service = bound.service
        if service.process_name != "qmqpd" or service.startup_fatal or not bound.binding.remote:
            continue
        scope = ctx.config.scope(service)
        found = authorized_outside(ctx, scope, PARAMETER, options, service)
        if found is None:
            continue
        yield make_finding(
            ctx, ID, NAME, found.path, found.line, found.column,
            f"{service.key} (qmqpd, listening on {describe_binding(ctx, bound)}) {found.verb()} "
            f"client {found.address} through {found.via()} ({shown_list(ctx, found.value)}); "
            f"{found.range_text} is outside the allowed networks, and postconf(5): the QMQP server "
            f"relays mail to any destination",
            service=service.key, parameter=PARAMETER, witness=found.witness(scope),
            expected="empty, or loopback only", actual=found.value.expanded.strip(),
            from_default=found.value.origin.is_default,
        )
