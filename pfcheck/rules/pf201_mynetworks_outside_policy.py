"""A listener trusts clients outside the policy's networks (PF201, mynetworks-outside-policy).

## What it does
For every smtpd listener reachable from other hosts, computes the set of client addresses that
`permit_mynetworks` trusts: the effective `mynetworks` after `-o` overrides, read as Postfix
reads it (first match wins with `!` exclusions, `/file/name` and `cidr:`/`hash:` tables
resolved inside the repo, a `#` token drops the rest of the list, `0.0.0.0/0` does not cover
IPv6), plus the clients that client-based permits let relay (`check_client_access` with `OK`
or a permitting restriction class before `reject_unauth_destination`). If some trusted
address lies outside the policy's `allowed` networks, it reports a
**witness**: one such address, and the line that trusts it. Hostnames and tables pfcheck
cannot read make trust depend on DNS or on data outside the repo; such a witness is reported as
"may trust" (its JSON `assumptions` say why, `replayable` is false). A witness is always an
address a client can connect from and Postfix's XCLIENT accepts (never 0.0.0.0/8, multicast,
broadcast); a range that holds no such address (`0.0.0.0/8`, `224.0.0.0/4`) trusts no client.

## Why is this bad?
Clients in `mynetworks` pass `permit_mynetworks`, which in the default relay restrictions means
they may relay mail to any destination, skip rate limits and other checks. A typo or a too-wide
prefix turns a mail server into an open relay for a whole provider's network.

## Example
    mynetworks = 127.0.0.0/8, 192.0.2.0/24, 198.51.100.0/22

## Use instead
    mynetworks = 127.0.0.0/8 [::1]/128 192.0.2.10

## Options
- `allowed` (list of networks in Postfix syntax: `10.20.0.0/16`, `[2001:db8::]/32`): networks
  that may be trusted.
- `allow_single_addresses` (boolean): accept any single address (`/32`, `/128`) outside
  `allowed`, such as a server's own public address.

## References
- postconf(5): mynetworks, mynetworks_style, permit_mynetworks
- DISA STIG relay restrictions; BASIC_CONFIGURATION_README "What clients to relay mail from"
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional, Sequence

from pfcheck.findings import Finding, Severity
from pfcheck.policy.model import NetworkList
from pathlib import Path

from pfcheck.postfix.addresses import IPV4, IPV6, ClientAddress, enabled_families, format_address
from pfcheck.postfix.networks import AddressItem, AddressList, parse_address_list
from pfcheck.postfix.witness import allowed_networks, witness_outside
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.program_scopes import rewrite_scope

ID = "PF201"
NAME = "mynetworks-outside-policy"
SEVERITY = Severity.ERROR
DEFAULT_ALLOWED = ["127.0.0.0/8", "[::1]/128"]
OPTIONS: Mapping[str, tuple[type, Any]] = {
    "allowed": (NetworkList, DEFAULT_ALLOWED),
    "allow_single_addresses": (bool, False),
}


def ipv4_enabled(scope: Any) -> bool:
    """Whether this scope's `inet_protocols` enables IPv4 (IPv4-mapped clients become IPv4)."""
    return IPV4 in enabled_families(scope.value("inet_protocols"))


def ipv6_enabled(scope: Any) -> bool:
    """Whether this scope's `inet_protocols` enables IPv6."""
    return IPV6 in enabled_families(scope.value("inet_protocols"))


def address_witness(address: str, assumptions: Sequence[str] = (), replayable: bool = True) -> dict[str, Any]:
    """The JSON witness of PF201/PF203: the client, what trusting it rests on beyond its
    address, and whether a test can pose as it with XCLIENT (public keys: add, never rename)."""
    return {"address": address, "assumptions": list(assumptions), "replayable": replayable}


def family_assumption(scope: Any, address: str) -> list[str]:
    """A client of a family inet_protocols disables cannot connect (XCLIENT refuses it too):
    the trust matters once the family is enabled, and the witness cannot be replayed now."""
    family = "IPv6" if ":" in address else "IPv4"
    enabled = ipv6_enabled(scope) if family == "IPv6" else ipv4_enabled(scope)
    if enabled:
        return []
    return [f"inet_protocols enables {family} (it does not now: no such client can connect)"]


def single_addresses(trusted: AddressList) -> list[str]:
    """Every single address the list names directly, in policy network syntax."""
    singles = []
    for item in trusted.items:
        if item.negated or item.kind not in ("ipv4", "ipv6"):
            continue
        family_set = item.ipv4 if item.kind == "ipv4" else item.ipv6
        for start, end in family_set.ranges:
            if end - start == 1:
                family = IPV4 if item.kind == "ipv4" else 6
                text = format_address(start, family)
                singles.append(f"{text}/32" if family == IPV4 else f"[{text}]/128")
    return singles


def table_entry(ctx: RuleContext, item: Optional[AddressItem], address: str) -> str:
    """`; its entry net.cidr:3 (key 198.51.100.0/24) matches` when a table item of the list
    decides `address`, else "": the line to change is in the table, not in main.cf."""
    if item is None or item.table is None or item.table.source is None:
        return ""
    result = item.table.lookup(address)
    if not result.found or result.line is None:
        return ""
    key = f" (key {result.key})" if result.key and result.key != address else ""
    return f"; its entry {ctx.display(item.table.source)}:{result.line}{key} matches"


def trusted_list(ctx: RuleContext, scope: Any, value: str) -> AddressList:
    return parse_address_list(
        value, param="mynetworks", resolver=ctx.resolver(),
        parent_domain_matches_subdomains=scope.value("parent_domain_matches_subdomains"),
    )


def _grant_findings(ctx: RuleContext, listener: Any, options: Mapping[str, Any],
                    reported: set[tuple[str, int, str]]) -> Iterator[Finding]:
    """Clients outside mynetworks that a client-keyed permit lets relay (issue: trusted set)."""
    from pfcheck.postfix.relay import client_grants

    allowed = allowed_networks(list(options["allowed"]))
    grants = client_grants(listener.scope, version=ctx.config.version, resolver=ctx.resolver(),
                           trusted=None, rewrite_params=rewrite_scope(ctx, listener).scope)
    for grant in grants:
        if not grant.relays:
            continue
        address = ClientAddress.parse(grant.address)
        if address.value in allowed[address.family]:
            continue
        if options["allow_single_addresses"] and grant.entry.strip() == address.text:
            continue
        location = grant.entry_location or grant.location
        if location is not None:
            path, line, column = Path(location[0]), location[1], 1
        else:
            path, line, column = ctx.config.main.path, 1, 1
        key = (str(path), line, grant.address)
        if key in reported:
            continue
        reported.add(key)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} lets client {grant.address} relay through {grant.parameter}: {grant.token} "
            f"(entry {grant.entry!r}); it is outside the policy's allowed networks",
            service=listener.key, parameter=grant.parameter,
            witness=address_witness(grant.address, grant.assumptions, grant.replayable),
            expected="within " + ", ".join(options["allowed"]), actual=grant.entry,
        )


def why_uncertain(trusted: AddressList) -> str:
    """What pfcheck cannot see: the first pattern whose matches it cannot know."""
    for item in trusted.items:
        if item.unknown:
            return f"cannot evaluate {item.unknown}"
        if item.dns:
            return f"{item.text!r} matches by the client's DNS name"
    return "depending on DNS or a table outside the repo"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    reported: set[tuple[str, int, str]] = set()
    for listener in ctx.remote_smtpd_listeners():
        yield from _grant_findings(ctx, listener, options, reported)
        scope = listener.scope
        value = scope.get("mynetworks")
        if value.origin.is_default or value.error is not None:
            continue  # unset: PF202; expansion error: PF000
        trusted = trusted_list(ctx, scope, value.expanded)
        if trusted.fatal:
            continue
        allowed = list(options["allowed"])
        if options["allow_single_addresses"]:
            allowed += single_addresses(trusted)
        v4 = ipv4_enabled(scope)
        witness = witness_outside(trusted, allowed, ipv4_enabled=v4)
        if witness is None:
            continue
        item = witness.item
        if item is not None and item.origin is not None:
            path, line, column = item.origin.path, item.origin.line, 1
            via = f"item {item.text!r} of {item.origin.file} (line {item.origin.line})"
        else:
            path, line, column = ctx.location_of(value, listener)
            via = f"mynetworks item {item.text!r}" if item is not None else "mynetworks"
        key = (str(path), line, witness.address)
        if key in reported:
            continue
        reported.add(key)
        why = "" if witness.certain else why_uncertain(trusted)
        verb = "trusts" if witness.certain else f"may trust ({why})"
        assumptions = ([why] if why else []) + family_assumption(scope, witness.address)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} {verb} client {witness.address} through {via} ({value.origin.label()})"
            f"{table_entry(ctx, item, witness.address)}; "
            f"{witness.range_text} is outside the policy's allowed networks",
            service=listener.key, parameter="mynetworks",
            witness=address_witness(witness.address, assumptions, replayable=not assumptions),
            expected="within " + ", ".join(options["allowed"]), actual=value.expanded,
        )
