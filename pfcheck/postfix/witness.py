"""The witness of an over-wide trusted set: a concrete client that an address list (mynetworks,
...) trusts but that no network a policy allows contains (PF201, PF203).

`allowed_networks()` reads the policy's networks (already validated and normalized by
pfcheck/policy/networks.py) with the same Postfix parser as the list items, so that both sides
of the comparison mean the same addresses. Which client is named comes from
`client_addresses` (see docs/internals.md, "Witness addresses").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pfcheck.postfix import client_addresses
from pfcheck.postfix.addresses import (
    GLOBAL_ADDRESSES, IPV4, IPV6, IntervalSet, casefold, format_address, is_table_pattern,
    parse_cidr_pattern, split_list,
)
from pfcheck.postfix.networks import AddressItem, AddressList


@dataclass(frozen=True)
class Witness:
    """A client address the list trusts but that no allowed network contains.

    `certain`: False when the trust depends on DNS or on a table pfcheck cannot read.
    `range_text`: the offending range (trusted minus allowed) the address was taken from.
    """

    address: str
    item: AddressItem | None
    certain: bool
    range_text: str
    family: int


def allowed_networks(allowed: Sequence[str]) -> dict[int, IntervalSet]:
    """Parse policy networks written in Postfix syntax (`127.0.0.0/8`, `[::1]/128`, `10.0.0.5`).

    Raises ValueError for anything that is not an address or network (hostnames, tables, files,
    broken networks): a policy must be exact.
    """
    result = {IPV4: IntervalSet(), IPV6: IntervalSet()}
    for text in allowed:
        for token, _ in split_list(text):
            pattern = casefold(token)
            if pattern.startswith("!") or pattern.startswith("/") or is_table_pattern(pattern):
                raise ValueError(f"allowed network {token!r}: expected an address or network/mask")
            parsed = parse_cidr_pattern(pattern)
            if isinstance(parsed, str):
                raise ValueError(f"allowed network {token!r}: {parsed}")
            result[parsed.family] = result[parsed.family].union(parsed.addresses)
    return result


def witness_outside(
    trusted: AddressList,
    allowed: Sequence[str],
    *,
    ipv4_enabled: bool = True,
    include_possible: bool = True,
) -> Witness | None:
    """A concrete client that `trusted` matches but no `allowed` network contains, or None.

    Choice (deterministic): certain witnesses before DNS/unknown-dependent ones; among those,
    the first item in list order whose offending part contains a globally routable address,
    else the first item with an ordinary presentable one, else any presentable one
    (client_addresses.preference_tiers); inside it the first such address, skipping a
    range's network address (.0 / ::) when the range has more than two addresses. Addresses
    no client can present (0.0.0.0/8, multicast, broadcast, ...) are never witnesses: a
    list that trusts only those trusts no client.
    """
    allowed_sets = allowed_networks(allowed)
    networks = trusted.trusted_networks(ipv4_enabled=ipv4_enabled)
    passes = [("trusted", True)]
    if include_possible:
        passes.append(("maybe", False))
    for outcome, certain in passes:
        candidates: list[tuple[int, int, AddressItem | None, int, IntervalSet]] = []
        for segment in networks.segments:
            if segment.outcome != outcome:
                continue
            offending = segment.addresses.difference(allowed_sets[segment.family])
            if not offending:
                continue
            responsible = segment.item
            if outcome == "maybe":
                limit = segment.item.index if segment.item is not None else len(trusted.items)
                responsible = next(
                    (item for item in networks.undecided_items
                     if item.index < limit and not item.negated),
                    segment.item,
                )
            order = responsible.index if responsible is not None else len(trusted.items)
            candidates.append((order, segment.family, responsible, segment.start, offending))
        if not candidates:
            continue
        # Group the offending ranges per responsible item, in list order (IPv4 first on ties).
        by_item: dict[tuple[int, int], tuple[AddressItem | None, IntervalSet]] = {}
        for order, family, responsible, _, offending in sorted(candidates, key=lambda c: (c[0], c[1], c[3])):
            key = (order, family)
            previous = by_item.get(key)
            by_item[key] = (responsible, offending if previous is None else previous[1].union(offending))
        chosen = _first_presentable(sorted(by_item.items(), key=lambda kv: kv[0]))
        if chosen is None:
            continue
        family, responsible, offending, address = chosen
        containing = next(r for r in offending.ranges if r[0] <= address < r[1])
        return Witness(
            address=format_address(address, family),
            item=responsible,
            certain=certain,
            range_text=_range_text(containing[0], containing[1], family),
            family=family,
        )
    return None


def _first_presentable(
    by_item: Sequence[tuple[tuple[int, int], tuple[AddressItem | None, IntervalSet]]],
) -> tuple[int, AddressItem | None, IntervalSet, int] | None:
    """(family, item, offending set, address) of the best witness over items in list order:
    tier by tier (global, ordinary, last resort), the first item whose offending set has an
    address of that tier."""
    tiers = {family: client_addresses.preference_tiers(family, [GLOBAL_ADDRESSES[family]])
             for family in (IPV4, IPV6)}
    for level in range(len(tiers[IPV4])):
        for (_, family), (responsible, offending) in by_item:
            address = client_addresses.pick(offending.intersection(tiers[family][level]), family)
            if address is not None:
                return family, responsible, offending, address
    return None


def _range_text(start: int, end: int, family: int) -> str:
    blocks = IntervalSet.single(start, end).network_texts(family)
    if len(blocks) == 1:
        return blocks[0]
    return f"{format_address(start, family)}-{format_address(end - 1, family)}"
