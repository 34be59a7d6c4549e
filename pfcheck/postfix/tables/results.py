"""What a table lookup answers, one key at a time or over every client address."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pfcheck.postfix.addresses import FAMILY_END, IPV4, IPV6, ClientAddress, IntervalSet, first_match_partition


@dataclass(frozen=True)
class LookupResult:
    """One lookup. `value`: the result text, None when not found (or not known).

    `known=False`: pfcheck cannot tell; `value` is then what applies unless an undecidable
    entry (DNS, unknown table, unsupported regular expression) takes precedence. `found` is
    True/False when known even if the value is not (e.g. a regexp `$1` substitution).
    `error`: Postfix's lookup fails (smtpd: "451 4.3.5 Server configuration error").
    """

    value: str | None
    known: bool = True
    line: int | None = None
    found: bool | None = None
    error: str | None = None
    key: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.found is None and self.known:
            object.__setattr__(self, "found", self.value is not None)


NOT_FOUND = LookupResult(None)


@dataclass(frozen=True)
class TableIssue:
    """A warning Postfix logs about the table (`line` in its source file) or a pfcheck note."""

    line: int | None
    message: str


@dataclass
class Membership:
    """What a table matches when used in an address list (mynetworks, ...): lookup result ignored.

    `ipv4`/`ipv6`: client addresses found by the address lookup. `everything`: every lookup
    is found. `dns_keys`: keys the client's hostname (or a parent domain) could hit.
    `unknown_client_key`: the key "unknown" (clients without verified reverse DNS).
    `unknown`: pfcheck cannot know the contents. `error`: Postfix's lookups fail.
    """

    ipv4: IntervalSet = field(default_factory=IntervalSet)
    ipv6: IntervalSet = field(default_factory=IntervalSet)
    dns_keys: list[str] = field(default_factory=list)
    unknown_client_key: bool = False
    unknown: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AddressResult:
    """Clients (by address) that get one result from a client-address access lookup.

    `result` None: not found (the restriction answers DUNNO). `known=False`: approximate.
    """

    ipv4: IntervalSet
    ipv6: IntervalSet
    result: str | None
    line: int | None
    key: str | None = None
    known: bool = True
    error: str | None = None

    def addresses(self, family: int) -> IntervalSet:
        return self.ipv4 if family == IPV4 else self.ipv6


@dataclass(frozen=True)
class HostnameEntry:
    """A table entry looked up with the client's hostname (before any address entry)."""

    key: str
    result: str
    line: int | None
    note: str = ""


@dataclass(frozen=True)
class ClientAddressResults:
    """`check_client_access TABLE` over all clients.

    `by_address` covers the whole IPv4 and IPv6 space (disjoint). `by_hostname` entries are
    consulted first with the client's verified hostname ("unknown" when it has none), so they
    may override the address result for any client: DNS-controlled unless the key is "unknown",
    which every client without valid reverse DNS hits.
    """

    by_address: tuple[AddressResult, ...]
    by_hostname: tuple[HostnameEntry, ...] = ()
    known: bool = True
    note: str = ""

    def result_for(self, address: str, *, ipv4_enabled: bool = True) -> AddressResult:
        client = ClientAddress.parse(address, ipv4_enabled=ipv4_enabled)
        for entry in self.by_address:
            if client.value in entry.addresses(client.family):
                return entry
        raise AssertionError("by_address must cover the address space")


def everything_result(result: str | None, line: int | None = None, *, known: bool = True,
                       error: str | None = None, key: str | None = None) -> AddressResult:
    return AddressResult(
        IntervalSet.everything(IPV4), IntervalSet.everything(IPV6), result, line, key, known, error
    )


def first_match_results(
    family: int,
    entries: list[tuple[int, int, int]],
    result_for: Callable[[int, IntervalSet, IntervalSet], AddressResult],
) -> list[AddressResult]:
    """One AddressResult per winner of `first_match_partition(entries)` over the whole space
    of `family`: `result_for(winner, ipv4, ipv6)` for an entry, "not found" where none
    matches; in the order the winners first appear."""
    grouped: dict[int | None, list[tuple[int, int]]] = {}
    for start, end, winner in first_match_partition(entries, FAMILY_END[family]):
        grouped.setdefault(winner, []).append((start, end))
    results: list[AddressResult] = []
    for winner, ranges in grouped.items():
        addresses = IntervalSet(ranges)
        empty = IntervalSet()
        v4, v6 = (addresses, empty) if family == IPV4 else (empty, addresses)
        results.append(AddressResult(v4, v6, None, None) if winner is None else result_for(winner, v4, v6))
    return results
