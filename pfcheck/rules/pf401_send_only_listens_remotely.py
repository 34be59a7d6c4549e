"""A send-only host listens for other hosts (PF401, send-only-listens-remotely).

## What it does
Applies to config directories whose policy gives them the role `send-only` (a null client:
`roles: {"hosts/app-*": send-only}`). Under a compliance profile whose control asks for
local-only mode (CIS "Ensure mail transfer agent is configured for local-only mode",
ComplianceAsCode `postfix_network_listening_disabled` and `has_nonlocal_mta`, DISA RHEL 6
V-38622), it also applies to every directory whose policy gives it no role that receives mail
(`mx`, `relay`, `submission`): those controls are for hosts that are not mail servers, and the
roles are how a policy says which are. Otherwise it does nothing. Fails for every `inet`
service of master.cf (smtpd, postscreen, qmqpd, a content filter's smtpd, anything) that master(8)
binds to an address other than loopback, as master reads the files:

- a service without a host part binds the effective `inet_interfaces` of main.cf (master reads it
  from main.cf only; a `-o inet_interfaces=` changes nothing), expanded, last definition winning:
  `all` (the default) binds `0.0.0.0` and `[::]`, `loopback-only` binds 127.0.0.1 and ::1, a list
  binds each address and each host name's addresses;
- a `host:port` service binds that host only (`127.0.0.1:2525`, `[::1]:2525`), whatever
  `inet_interfaces` says; `0.0.0.0:smtp` and `[::]:smtp` bind the wildcard;
- `inet_protocols` selects the families (nothing is bound when it enables none).

A host name other than `localhost` is resolved on the mail host, which pfcheck cannot see: it is
read as reachable from other hosts, and the message says so. The finding shows the addresses
master binds (`pfcheck show` lists them per listener).

## Why is this bad?
A null client only sends mail. A listening smtpd exposes Postfix's SMTP server (and, on a default
config, local delivery and VRFY) to every host that can reach the machine, for nothing. CIS's
"local-only mode", DISA's V-38622/GEN004710 and Postfix's own null-client recipe
(STANDARD_CONFIGURATION_README) all say `inet_interfaces = loopback-only`.

## Example
    # main.cf
    inet_interfaces = all
    # master.cf
    0.0.0.0:2525 inet n - y - - smtpd

## Use instead
    # main.cf
    inet_interfaces = loopback-only
    # master.cf
    127.0.0.1:2525 inet n - y - - smtpd

## References
- postconf(5): inet_interfaces, inet_protocols; master(5): service name `host:port`
- STANDARD_CONFIGURATION_README: "Configuring a null client"
- CIS Benchmarks: configure the mail transfer agent for local-only mode
- CIS 2.2.15 (Distribution Independent Linux, Ubuntu 16.04, SLES 15), 2.1.15, 2.2.18 (RHEL 8), 2.1.21
- DISA STIG RHEL-06-000249 (V-38622), GEN004710; ComplianceAsCode `postfix_network_listening_disabled`,
  `has_nonlocal_mta`
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.policy.model import RECEIVING_ROLES
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.listening_common import binding_location, bound_services, describe_binding

ID = "PF401"
NAME = "send-only-listens-remotely"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}
ROLE = "send-only"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    reason = _why_loopback_only(ctx)
    if reason is None:
        return
    for bound in bound_services(ctx):
        if not bound.binding.remote:
            continue
        path, line, column, value = binding_location(ctx, bound)
        service = bound.service
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{service.key} ({service.process_name}) listens on {describe_binding(ctx, bound)}: "
            f"clients on other hosts can connect, and {reason}",
            service=service.key,
            parameter="inet_interfaces" if value is not None else None,
            expected="loopback only (inet_interfaces = loopback-only; host part 127.0.0.1 or [::1])",
            actual=", ".join(bound.binding.endpoints),
            from_default=value is not None and value.origin.is_default,
        )


def _why_loopback_only(ctx: RuleContext) -> Optional[str]:
    """Why this directory must listen on loopback only, or None when nothing says so."""
    if ROLE in ctx.roles:
        return "this host's role is send-only (a null client listens on loopback only)"
    if not ctx.profiles or RECEIVING_ROLES & set(ctx.roles):
        return None
    from pfcheck.compliance import describe_controls, local_only_controls

    controls = local_only_controls(ctx.profiles)
    if not controls:
        return None
    asks = "ask" if len(controls) > 1 else "asks"
    return (f"{describe_controls(controls)} {asks} for local-only mode on a host that is not a mail "
            f"server (the policy gives this host no role that receives mail: mx, relay, submission)")
