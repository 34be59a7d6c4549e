"""An internal host listens on a public address (PF403, internal-listens-publicly).

## What it does
Applies to config directories whose policy gives them the role `internal` (no listener is meant
for the Internet); without that role it does nothing. Fails for every `inet` service of
master.cf that master(8) binds to a globally routable address written in the files: an address
in the effective `inet_interfaces` (main.cf; expanded, last definition winning) or in the
service's `host:port`. Private (RFC 1918, fc00::/7), loopback, link-local, shared (100.64/10) and
documentation ranges are not globally routable.

It does not report `inet_interfaces = all` (the default), `0.0.0.0:port` or `[::]:port`, nor host
names: they bind whatever addresses the host's interfaces or its resolver have, which is a fact
about the host, not about the files. An internal host whose interfaces are all private may
rightly listen on `all`; pfcheck cannot tell, and does not guess (`pfcheck show` lists what each
listener binds).

## Why is this bad?
A host that serves only the internal network but listens on a public address offers its SMTP
server to the Internet, where firewall mistakes turn it into an exposed (often lightly
restricted, trusted-network) relay.

## Example
    inet_interfaces = 127.0.0.1, 198.51.99.20

## Use instead
    inet_interfaces = 127.0.0.1, 10.0.0.20

## References
- postconf(5): inet_interfaces; master(5): service name `host:port`
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.listening_common import binding_location, bound_services, describe_binding

ID = "PF403"
NAME = "internal-listens-publicly"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}
ROLE = "internal"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    if ROLE not in ctx.roles:
        return
    for bound in bound_services(ctx):
        public = bound.binding.public_addresses
        if not public:
            continue
        path, line, column, value = binding_location(ctx, bound)
        service = bound.service
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{service.key} ({service.process_name}) listens on {describe_binding(ctx, bound)}: "
            f"{', '.join(public)} {'is' if len(public) == 1 else 'are'} globally routable, and this "
            f"host's role is internal",
            service=service.key,
            parameter="inet_interfaces" if value is not None else None,
            expected="no globally routable address", actual=", ".join(public),
            from_default=False,
        )
