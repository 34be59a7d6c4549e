"""What PF611 and PF612 share: an authorization list of clients (`smtpd_authorized_xclient_hosts`,
`smtpd_authorized_xforward_hosts`, `qmqpd_authorized_clients`) read as the daemon reads it
(a `namadr_list`: pfcheck/postfix/networks.py), and a client it authorizes outside the
policy's allowed networks (loopback by default), with how sure pfcheck is of it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from pfcheck.postfix.config import Scope, Value
from pfcheck.postfix.mastercf import Service
from pfcheck.postfix.networks import AddressItem, parse_address_list
from pfcheck.postfix.witness import witness_outside
from pfcheck.policy.model import NetworkList
from pfcheck.rules.base import RuleContext
from pfcheck.rules.pf201_mynetworks_outside_policy import (
    address_witness,
    family_assumption,
    ipv4_enabled,
    single_addresses,
    why_uncertain,
)
from pfcheck.rules.program_scopes import locate
from pfcheck.rules.unknown_names import describe_origin

DEFAULT_ALLOWED = ["127.0.0.0/8", "[::1]/128"]
#: The options of a rule that judges an authorization list (PF611, PF612).
LIST_OPTIONS: Mapping[str, tuple[type, Any]] = {
    "allowed": (NetworkList, DEFAULT_ALLOWED),
    "allow_single_addresses": (bool, False),
}


@dataclass(frozen=True)
class Authorized:
    """A client an authorization list lets in although the policy does not allow it."""

    value: Value
    address: str
    range_text: str
    certain: bool
    uncertainty: str  # why pfcheck is not sure; "" when certain
    item: Optional[AddressItem]
    path: Path
    line: int
    column: int

    def verb(self) -> str:
        """`authorizes` or `may authorize (why)`."""
        return "authorizes" if self.certain else f"may authorize ({self.uncertainty})"

    def via(self) -> str:
        item = self.item
        if item is not None and item.origin is not None:
            return f"item {item.text!r} of {item.origin.file} (line {item.origin.line})"
        if item is not None:
            return f"item {item.text!r}"
        return "the list"

    def witness(self, scope: Scope) -> dict[str, Any]:
        assumptions = ([self.uncertainty] if self.uncertainty else []) + family_assumption(scope, self.address)
        return address_witness(self.address, assumptions, replayable=not assumptions)


def authorized_outside(ctx: RuleContext, scope: Scope, name: str, options: Mapping[str, Any],
                       service: Optional[Service]) -> Optional[Authorized]:
    """A client that `name` (in `scope`) authorizes outside the policy's `allowed` networks,
    certain ones first; None when the list is empty, unreadable for Postfix (a fatal list:
    PF000's) or within the allowed networks."""
    value = scope.get(name)
    if value.error is not None or not value.expanded.strip():
        return None
    parsed = parse_address_list(
        value.expanded, param=name, resolver=ctx.resolver(),
        parent_domain_matches_subdomains=scope.value("parent_domain_matches_subdomains"),
    )
    if parsed.fatal:
        return None
    allowed = list(options["allowed"])
    if options["allow_single_addresses"]:
        allowed += single_addresses(parsed)
    found = witness_outside(parsed, allowed, ipv4_enabled=ipv4_enabled(scope))
    if found is None:
        return None
    item = found.item
    if item is not None and item.origin is not None:
        path, line, column = item.origin.path, item.origin.line, 1
    else:
        path, line, column = locate(ctx, value, service)
    return Authorized(value, found.address, found.range_text, found.certain,
                      "" if found.certain else f"{why_uncertain(parsed)}, which pfcheck cannot see",
                      item, path, line, column)


def shown_list(ctx: RuleContext, value: Value) -> str:
    """`name = value (set at main.cf:3)` for messages."""
    return f"{value.name} = {value.expanded.strip()} ({describe_origin(ctx, value)})"
