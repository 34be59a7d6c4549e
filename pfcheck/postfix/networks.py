"""Postfix address lists (`mynetworks` syntax) and the client addresses they match.

This models `util/match_list.c`, `util/match_ops.c` (`match_hostname`, `match_hostaddr`) and
`util/cidr_match.c` of Postfix 3.7 as used by `namadr_list` lists: `mynetworks`,
`permit_mx_backup_networks`, `smtpd_authorized_xclient_hosts`, `qmqpd_authorized_clients`, ...

Semantics that matter and that a naive reading gets wrong (all from the Postfix source):

* Items are separated by commas and/or whitespace; `{...}` keeps a token together but does not
  group anything (a braced token matches nothing, or is a broken table when it has a `:`).
* A token starting with `#` makes Postfix warn and drop the *rest of the list* (inside a
  `/file/name`, only the rest of that line).
* `!` negates (repeated `!` toggles); a bare `!` is fatal. The list is matched left to right and
  the first matching item decides.
* Every item is first matched against the client's verified hostname ("unknown" when there is
  none) and then against its address. Hostnames/domains are DNS-controlled trust: pfcheck never
  counts them as "not trusted", only as "unknown".
* Anything with a `:` that does not start with `[` is a `type:table`. Unbracketed IPv6
  (`2001:db8::/32`) is therefore a table of type `2001`: its lookups fail, so every client that
  reaches it gets a temporary error (`::1` has an empty type, which is fatal).
* A network/mask is only parsed when a client of the same family reaches it. A bad one (host
  bits set as in `10.0.0.1/8`, mask too long, ...) makes the whole list fail for that client:
  temporary error, not trusted, and later items are not consulted.
* An IPv4 pattern without `/` matches only by exact string comparison: `10.0.0` or
  `010.0.0.1` match nothing.
* `0.0.0.0/0` does not cover IPv6 clients. An IPv4-mapped IPv6 client (`::ffff:1.2.3.4`) is
  converted to IPv4 by Postfix when IPv4 is enabled in `inet_protocols`, so IPv4 patterns apply
  to it and IPv6 patterns covering `::ffff:0:0/96` never match (`ipv4_enabled` arguments).
* For `mynetworks` and the other lists in `parent_domain_matches_subdomains`, `example.com`
  also matches subdomains and `.example.com` matches nothing at all.

The address and network primitives (inet_pton()/inet_ntop(), cidr_match.c, list tokens,
hostname patterns, IntervalSet) live in `addresses.py`, the table side (`static:`, `inline:`,
`cidr:`, hash-type source files) in `tables/`, and the search for a client that a list trusts
but a policy does not allow in `witness.py`. This module imports those, none of them imports it.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from pfcheck.postfix.addresses import (
    FAMILY_END, IPV4, IPV4_MAPPED, IPV6, ClientAddress, IntervalSet, casefold,
    first_match_partition, format_address, hostname_matches, hostname_pattern_can_match,
    is_table_pattern, parse_address, parse_cidr_pattern, parse_ipv6, split_list,
)
from pfcheck.postfix.source import read_bounded
from pfcheck.postfix.tables import FailingTable, Table, TableResolver, load_table, parse_table_ref

#: Postfix's default `parent_domain_matches_subdomains` (3.7).
DEFAULT_PARENT_DOMAIN_MATCHES_SUBDOMAINS = (
    "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,"
    "qmqpd_authorized_clients,relay_domains,smtpd_access_maps"
)

_V4_CHARS = frozenset("01234567890.")
_V6_CHARS = frozenset("01234567890.abcdefABCDEF:")
_CIDR_PATTERN_CHARS = _V6_CHARS | frozenset("[]/")
# Nesting limit for /file/name inside /file/name. Postfix has none (it recurses until open()
# fails and then inserts a failing pseudo-table); pfcheck stops earlier with the same outcome.
MAX_FILE_NESTING = 16
# Patterns after this many are one unknown item: a 10 MB mynetworks stays a bounded cost.
MAX_LIST_ITEMS = 20_000
# TrustSegment.undecided keeps at most this many items.
MAX_UNDECIDED_SHOWN = 16


# --------------------------------------------------------------------------------------------
# Address lists


ITEM_KINDS = ("ipv4", "ipv6", "hostname", "table", "file", "bad")


@dataclass(frozen=True)
class ItemOrigin:
    """Where an item read from a `/file/name` came from."""

    file: str  # the file name as written in the list (already $-expanded)
    path: Path  # the file inside the repository that pfcheck read
    line: int  # 1-based line in that file

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class ListIssue:
    """A problem in an address list. `fatal`: Postfix programs using the list exit."""

    code: str
    message: str
    token: str
    offset: int
    origin: ItemOrigin | None = None
    fatal: bool = False


@dataclass(eq=False)
class AddressItem:
    """One pattern of the list, in evaluation order (items from files are inlined).

    `ipv4` / `ipv6`: the client addresses this item matches by address. `ipv4_error` /
    `ipv6_error`: Postfix's lookup fails for clients of that family that reach this item and do
    not match it (temporary error; the list stops there). `dns`: the item can also match by the
    client's verified hostname ("hostname", "unknown-client" for the pattern `unknown`,
    "table" for hostname-like keys of a table). `unknown`: pfcheck cannot know what the item
    matches (external or missing table/file): it may match, not match or fail.
    """

    index: int
    kind: str
    negated: bool
    text: str
    pattern: str
    offset: int
    origin: ItemOrigin | None = None
    ipv4: IntervalSet = field(default_factory=IntervalSet)
    ipv6: IntervalSet = field(default_factory=IntervalSet)
    ipv4_error: str | None = None
    ipv6_error: str | None = None
    dns: str | None = None
    unknown: str | None = None
    table: Table | None = None
    problem: str | None = None
    dns_keys: tuple[str, ...] = ()

    def __repr__(self) -> str:
        sign = "!" if self.negated else ""
        where = f" @{self.origin}" if self.origin else f" @{self.offset}"
        return f"<AddressItem #{self.index} {self.kind} {sign}{self.pattern!r}{where}>"

    def addresses(self, family: int) -> IntervalSet:
        return self.ipv4 if family == IPV4 else self.ipv6

    def error_for(self, family: int) -> str | None:
        return self.ipv4_error if family == IPV4 else self.ipv6_error

    @property
    def location(self) -> str:
        return str(self.origin) if self.origin else f"offset {self.offset}"

    def describe(self) -> str:
        where = f" ({self.origin})" if self.origin else ""
        return f"{self.text}{where}"


MATCH, NO_MATCH, MAYBE, ERROR = "match", "no-match", "maybe", "error"


@dataclass(frozen=True)
class Match:
    """Result of matching one client against a list.

    `matched`: True (trusted), False (not trusted: no match, excluded, or a Postfix lookup error,
    see `error`), None (depends on DNS or on a table pfcheck cannot read). `item` decided the
    result (None when the list ended). `undecided`: DNS/unknown items consulted before it.
    `otherwise`: the result when none of the undecided items matches.
    """

    address: str
    matched: bool | None
    item: AddressItem | None
    error: str | None = None
    undecided: tuple[AddressItem, ...] = ()
    otherwise: bool = False
    fatal: str | None = None


@dataclass(frozen=True)
class TrustSegment:
    """A range of client addresses with one outcome (see TrustedNetworks)."""

    family: int
    start: int
    end: int
    outcome: str  # "trusted", "maybe", "untrusted", "error"
    item: AddressItem | None  # the item that decides by address (None: end of list)
    undecided: tuple[AddressItem, ...] = ()

    @property
    def addresses(self) -> IntervalSet:
        return IntervalSet.single(self.start, self.end)


@dataclass(frozen=True)
class TrustedNetworks:
    """Which clients a list matches, per family (IPv4 and IPv6 are separate spaces).

    `ipv4`/`ipv6`: trusted for certain. `maybe_ipv4`/`maybe_ipv6`: may be trusted, depending on
    DNS (hostname patterns) or unknown tables/files. `error_ipv4`/`error_ipv6`: Postfix's lookup
    fails (temporary error) for these clients. Everything else is not trusted.
    `segments` explain each range with the deciding item.
    """

    ipv4: IntervalSet
    ipv6: IntervalSet
    maybe_ipv4: IntervalSet
    maybe_ipv6: IntervalSet
    error_ipv4: IntervalSet
    error_ipv6: IntervalSet
    segments: tuple[TrustSegment, ...]
    undecided_items: tuple[AddressItem, ...]
    fatal: str | None = None

    def trusted(self, family: int) -> IntervalSet:
        return self.ipv4 if family == IPV4 else self.ipv6

    def maybe(self, family: int) -> IntervalSet:
        return self.maybe_ipv4 if family == IPV4 else self.maybe_ipv6

    def errors(self, family: int) -> IntervalSet:
        return self.error_ipv4 if family == IPV4 else self.error_ipv6


class AddressList:
    """A parsed Postfix address list. Build with `parse_address_list()`."""

    def __init__(self, param: str, value: str, *, parent_style: bool, match_hostnames: bool) -> None:
        self.param = param
        self.value = value
        self.parent_style = parent_style
        self.match_hostnames = match_hostnames
        self.items: list[AddressItem] = []
        self.issues: list[ListIssue] = []
        self.fatal: str | None = None

    @property
    def warnings(self) -> list[str]:
        return [issue.message for issue in self.issues]

    def __repr__(self) -> str:
        return f"AddressList({self.param}={self.value!r}, {len(self.items)} items)"

    # -- matching one client ---------------------------------------------------------------

    def item_status(self, item: AddressItem, client: ClientAddress, client_name: str | None) -> str:
        """MATCH, NO_MATCH, MAYBE or ERROR for one item, exactly in match_list_match() order:
        hostname first (table lookups of the name can fail), then the address."""
        if item.table is not None and item.ipv4_error and item.ipv6_error and item.unknown is None:
            # A failing table fails on the first lookup, which is the hostname lookup.
            return ERROR
        if item.unknown is not None:
            return MAYBE
        if item.dns is not None and self.match_hostnames:
            if client_name is None:
                by_name: bool | None = None
            else:
                by_name = self._name_matches(item, casefold(client_name))
            if by_name:
                return MATCH
        else:
            by_name = False
        if client.value in item.addresses(client.family):
            return MATCH
        if item.error_for(client.family):
            return ERROR
        return MAYBE if by_name is None else NO_MATCH

    def _name_matches(self, item: AddressItem, name: str) -> bool:
        if item.table is None:
            return hostname_matches(name, item.pattern, parent_style=self.parent_style)
        keys = set(item.dns_keys)
        lookups = [name]
        # match_hostname(): parent domains are tried only for DICT_FLAG_FIXED tables.
        if getattr(item.table, "fixed", False):
            rest = name
            while "." in rest[1:]:
                dot = rest.index(".", 1)
                rest = rest[dot + 1:] if self.parent_style else rest[dot:]
                lookups.append(rest)
        return any(lookup in keys for lookup in lookups)

    def match(self, address: str, *, client_name: str | None = None, ipv4_enabled: bool = True) -> Match:
        """Match one client. `client_name`: its verified hostname, "unknown" when it has none,
        None when pfcheck does not know (DNS-dependent items then make the result None)."""
        client = ClientAddress.parse(address, ipv4_enabled=ipv4_enabled)
        possible: set[bool] = set()
        undecided: list[AddressItem] = []
        for item in self.items:
            status = self.item_status(item, client, client_name)
            if status == MATCH:
                return self._decide(client, possible, undecided, item, not item.negated, None)
            if status == ERROR:
                message = item.error_for(client.family) or "table lookup problem"
                return self._decide(client, possible, undecided, item, False, message)
            if status == MAYBE:
                undecided.append(item)
                possible.add(not item.negated)
                if item.unknown is not None:
                    possible.add(False)  # an unknown table can also fail
        return self._decide(client, possible, undecided, None, False, None)

    def _decide(
        self,
        client: ClientAddress,
        possible: set[bool],
        undecided: list[AddressItem],
        item: AddressItem | None,
        outcome: bool,
        error: str | None,
    ) -> Match:
        outcomes = possible | {outcome}
        matched = outcome if len(outcomes) == 1 else None
        return Match(
            address=client.text,
            matched=matched,
            item=item,
            error=error,
            undecided=tuple(undecided),
            otherwise=outcome,
            fatal=self.fatal,
        )

    # -- the whole address space -----------------------------------------------------------

    def trusted_networks(self, *, ipv4_enabled: bool = True) -> TrustedNetworks:
        """Partition both address spaces by outcome (unknown DNS: every hostname item undecided).

        With `ipv4_enabled`, ::ffff:0:0/96 is left out of the IPv6 results: such clients are
        converted to IPv4 before matching.
        """
        may_trust: list[int] = []
        may_distrust: list[int] = []
        undecided_items: list[AddressItem] = []
        for item in self.items:
            if item.unknown is not None or (item.dns is not None and self.match_hostnames):
                undecided_items.append(item)
                if item.negated:
                    may_distrust.append(item.index)
                else:
                    may_trust.append(item.index)
                    if item.unknown is not None:
                        may_distrust.append(item.index)
        first_may_trust = may_trust[0] if may_trust else None
        first_may_distrust = may_distrust[0] if may_distrust else None
        undecided_indices = [item.index for item in undecided_items]

        segments: list[TrustSegment] = []
        results: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for family in (IPV4, IPV6):
            entries: list[tuple[int, int, int]] = []
            for item in self.items:
                if item.unknown is not None:
                    continue
                matched = item.addresses(family)
                for start, end in matched.ranges:
                    entries.append((start, end, item.index))
                if item.error_for(family):
                    for start, end in matched.complement(family).ranges:
                        entries.append((start, end, item.index))
            partition = first_match_partition(entries, FAMILY_END[family])
            if family == IPV6 and ipv4_enabled:
                partition = _clip_partition(partition, IPV4_MAPPED)
            for start, end, winner in partition:
                decider = self.items[winner] if winner is not None else None
                limit = winner if winner is not None else len(self.items)
                possible: set[bool] = set()
                if first_may_trust is not None and first_may_trust < limit:
                    possible.add(True)
                if first_may_distrust is not None and first_may_distrust < limit:
                    possible.add(False)
                if decider is None:
                    final, is_error = False, False
                elif start in decider.addresses(family):
                    final, is_error = not decider.negated, False
                else:
                    final, is_error = False, True
                outcomes = possible | {final}
                if outcomes == {True}:
                    outcome = "trusted"
                elif outcomes == {False}:
                    outcome = "error" if is_error and not possible else "untrusted"
                else:
                    outcome = "maybe"
                # Explanations keep the first few undecided items only (lists can be huge).
                count = bisect.bisect_left(undecided_indices, limit)
                before = tuple(undecided_items[: min(count, MAX_UNDECIDED_SHOWN)])
                segments.append(TrustSegment(family, start, end, outcome, decider, before))
                results.setdefault((family, outcome), []).append((start, end))

        def collect(family: int, outcome: str) -> IntervalSet:
            return IntervalSet.from_sorted(_merge_sorted(results.get((family, outcome), [])))

        return TrustedNetworks(
            ipv4=collect(IPV4, "trusted"),
            ipv6=collect(IPV6, "trusted"),
            maybe_ipv4=collect(IPV4, "maybe"),
            maybe_ipv6=collect(IPV6, "maybe"),
            error_ipv4=collect(IPV4, "error"),
            error_ipv6=collect(IPV6, "error"),
            segments=tuple(segments),
            undecided_items=tuple(undecided_items),
            fatal=self.fatal,
        )


def _merge_sorted(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _clip_partition(
    partition: list[tuple[int, int, int | None]], hole: IntervalSet
) -> list[tuple[int, int, int | None]]:
    clipped: list[tuple[int, int, int | None]] = []
    for start, end, winner in partition:
        for piece_start, piece_end in IntervalSet.single(start, end).difference(hole).ranges:
            clipped.append((piece_start, piece_end, winner))
    return clipped


# --------------------------------------------------------------------------------------------
# Parsing


def parent_style_for(param: str, parent_domain_matches_subdomains: str | None = None) -> bool:
    """match_parent_style(): is `param` listed in parent_domain_matches_subdomains?"""
    setting = (
        DEFAULT_PARENT_DOMAIN_MATCHES_SUBDOMAINS
        if parent_domain_matches_subdomains is None
        else parent_domain_matches_subdomains
    )
    return param in [token for token, _ in split_list(setting)]


def parse_address_list(
    value: str,
    *,
    param: str,
    resolver: TableResolver | None,
    parent_domain_matches_subdomains: str | None = None,
    match_hostnames: bool = True,
) -> AddressList:
    """Parse an already $-expanded address list value as match_list_init() does.

    `param` names the parameter (for messages and for parent-domain style). `resolver` maps
    `/file/name` and table files to files inside the repository; without it they are unknown.
    `match_hostnames=False` for address-only lists (postscreen's addr_match_list).
    """
    key = (value, param, id(resolver), parent_domain_matches_subdomains, match_hostnames)
    cached = _PARSED.get(key)
    if cached is not None and cached[0] is resolver:
        return cached[1]
    parent_style = parent_style_for(param, parent_domain_matches_subdomains)
    result = AddressList(param, value, parent_style=parent_style, match_hostnames=match_hostnames)
    _Parser(result, resolver).parse(value)
    if len(_PARSED) >= _PARSED_LIMIT:
        _PARSED.clear()
    _PARSED[key] = (resolver, result)
    return result


# The same mynetworks is read by several rules and listeners of one directory: parse it once.
# AddressList is not modified after parsing; the resolver is part of the key (by identity).
_PARSED: dict[tuple[object, ...], tuple[object, AddressList]] = {}
_PARSED_LIMIT = 64


class _Parser:
    def __init__(self, result: AddressList, resolver: TableResolver | None) -> None:
        self.result = result
        self.resolver = resolver

    def issue(
        self,
        code: str,
        message: str,
        token: str,
        offset: int,
        origin: ItemOrigin | None,
        *,
        fatal: bool = False,
    ) -> None:
        where = f"{origin}: " if origin else ""
        self.result.issues.append(
            ListIssue(code, f"{self.result.param}: {where}{message}", token, offset, origin, fatal)
        )

    def parse(self, value: str) -> None:
        self._parse_text(value, negated=False, offset=None, origin=None, depth=0, file_stack=())

    def _parse_text(
        self,
        text: str,
        *,
        negated: bool,
        offset: int | None,
        origin: ItemOrigin | None,
        depth: int,
        file_stack: tuple[Path, ...],
    ) -> bool:
        """Parse one list text (the value, or one line of a file). False after a fatal error."""
        for token, token_offset in split_list(text):
            item_offset = token_offset if offset is None else offset
            if len(self.result.items) >= MAX_LIST_ITEMS:
                # Postfix would go on; pfcheck says it cannot judge the rest instead of hanging.
                item = self._new_item("file", token, token, negated, item_offset, origin)
                item.unknown = (f"{self.result.param} has more than {MAX_LIST_ITEMS} patterns; "
                                "pfcheck does not evaluate the rest")
                return True
            if token.startswith("#"):
                rest = text[token_offset:].strip()
                if origin is None:
                    consequence = "the rest of the list is ignored"
                else:
                    consequence = "the rest of this line is ignored"
                self.issue(
                    "comment",
                    f"comment at end of line is not supported: {rest} ({consequence})",
                    token,
                    item_offset,
                    origin,
                )
                return True
            item_negated = negated
            body = token
            while body.startswith("!"):
                item_negated = not item_negated
                body = body[1:]
            if not body:
                message = f"no pattern after '!' (fatal: {self.result.param}: no pattern after '!')"
                self.issue("bare-negation", message, token, item_offset, origin, fatal=True)
                self.result.fatal = f"{self.result.param}: no pattern after '!'"
                return False
            if body.startswith("/"):
                if not self._parse_file(token, body, item_negated, item_offset, origin, depth, file_stack):
                    return False
                continue
            if is_table_pattern(body):
                if not self._add_table(token, body, item_negated, item_offset, origin):
                    return False
                continue
            self._add_pattern(token, casefold(body), item_negated, item_offset, origin)
        return True

    def _new_item(self, kind: str, token: str, pattern: str, negated: bool, offset: int,
                  origin: ItemOrigin | None) -> AddressItem:
        item = AddressItem(
            index=len(self.result.items), kind=kind, negated=negated, text=token,
            pattern=pattern, offset=offset, origin=origin,
        )
        self.result.items.append(item)
        return item

    def _add_pattern(self, token: str, pattern: str, negated: bool, offset: int,
                     origin: ItemOrigin | None) -> None:
        ipv4, ipv4_error = _address_effect(pattern, IPV4)
        ipv6, ipv6_error = _address_effect(pattern, IPV6)
        dns: str | None = None
        if self.result.match_hostnames and hostname_pattern_can_match(
            pattern, parent_style=self.result.parent_style
        ):
            dns = "unknown-client" if pattern == "unknown" else "hostname"
        if ipv4 or ipv4_error:
            kind = "ipv4" if not ipv4_error else "bad"
        elif ipv6 or ipv6_error:
            kind = "ipv6" if not ipv6_error else "bad"
        elif dns:
            kind = "hostname"
        else:
            kind = "bad"
        item = self._new_item(kind, token, pattern, negated, offset, origin)
        item.ipv4, item.ipv4_error = ipv4, ipv4_error
        item.ipv6, item.ipv6_error = ipv6, ipv6_error
        item.dns = dns
        if ipv4_error or ipv6_error:
            family = "IPv4" if ipv4_error else "IPv6"
            error = ipv4_error or ipv6_error
            item.problem = (
                f"{error}: Postfix reports a temporary error for every {family} client that "
                f"reaches this item (it is parsed only then, so start-up does not fail)"
            )
            code = "host-bits" if error and error.startswith("non-null host") else "bad-network"
            self.issue(code, f"{token}: {item.problem}", token, offset, origin)
        elif dns == "unknown-client":
            item.problem = (
                "'unknown' matches every client whose reverse DNS does not verify: "
                "any client can arrange that"
            )
            self.issue("unknown-client", f"{token}: {item.problem}", token, offset, origin)
        elif dns == "hostname":
            scope = "and its subdomains " if self.result.parent_style else ""
            item.problem = (
                f"hostname/domain pattern: trusts clients whose verified reverse DNS name is "
                f"{pattern.lstrip('.')} {scope}(DNS-controlled trust)"
            )
            self.issue("hostname", f"{token}: {item.problem}", token, offset, origin)
        elif kind == "bad":
            item.problem = _never_matches_reason(pattern, self.result.parent_style,
                                                 self.result.match_hostnames)
            self.issue("never-matches", f"{token}: {item.problem}", token, offset, origin)

    def _add_table(self, token: str, body: str, negated: bool, offset: int,
                   origin: ItemOrigin | None) -> bool:
        ref = parse_table_ref(body)
        assert ref is not None
        item = self._new_item("table", token, body, negated, offset, origin)
        unbracketed = _unbracketed_ipv6(body)
        if not ref.type or not ref.name:
            message = (
                f'open dictionary: expecting "type:name" form instead of "{ref.type}:{ref.name}"'
            )
            if unbracketed:
                message += f"; IPv6 must be written in brackets: {unbracketed}"
            self.issue("unbracketed-ipv6" if unbracketed else "table-syntax",
                       f"{token}: fatal: {message}", token, offset, origin, fatal=True)
            self.result.fatal = message
            item.kind = "bad"
            item.problem = message
            item.ipv4_error = item.ipv6_error = message
            return False
        if unbracketed:
            table: Table = FailingTable(ref, f"unsupported dictionary type: {ref.type}")
            item.kind = "bad"
            item.problem = (
                f"IPv6 must be written in brackets ({unbracketed}); Postfix reads this as a "
                f"table of type '{ref.type}': its lookups fail, so every client that reaches "
                f"this item gets a temporary error"
            )
            self.issue("unbracketed-ipv6", f"{token}: {item.problem}", token, offset, origin)
        else:
            table = load_table(ref, self.resolver)
        item.table = table
        membership = table.match_list_membership(
            parent_style=self.result.parent_style, hostnames=self.result.match_hostnames
        )
        if membership.error is not None:
            item.ipv4_error = item.ipv6_error = membership.error
            if not unbracketed:
                item.problem = f"lookups fail in Postfix: {membership.error}"
                self.issue("table-error", f"{token}: {item.problem}", token, offset, origin)
            return True
        if membership.unknown is not None:
            item.unknown = membership.unknown
            item.problem = f"contents unknown to pfcheck: {membership.unknown}"
            self.issue("unknown-table", f"{token}: {item.problem}", token, offset, origin)
            return True
        item.ipv4, item.ipv6 = membership.ipv4, membership.ipv6
        if self.result.match_hostnames and (membership.dns_keys or membership.unknown_client_key):
            item.dns = "unknown-client" if membership.unknown_client_key else "table"
            item.dns_keys = tuple(membership.dns_keys) + (
                ("unknown",) if membership.unknown_client_key else ()
            )
            shown = ", ".join(item.dns_keys[:5]) + (" ..." if len(item.dns_keys) > 5 else "")
            item.problem = f"table keys match client hostnames (DNS-controlled trust): {shown}"
            self.issue("hostname", f"{token}: {item.problem}", token, offset, origin)
        for note in membership.notes:
            self.issue("table-note", f"{token}: {note}", token, offset, origin)
        return True

    def _parse_file(self, token: str, body: str, negated: bool, offset: int,
                    origin: ItemOrigin | None, depth: int, file_stack: tuple[Path, ...]) -> bool:
        location = self.resolver.locate(body) if self.resolver is not None else None
        if depth >= MAX_FILE_NESTING or (location is not None and location.path in file_stack):
            item = self._new_item("bad", token, body, negated, offset, origin)
            item.problem = (
                f"{body} includes itself (directly or through other files): Postfix recurses "
                f"until it cannot open the file any more and then fails lookups here "
                f"(temporary error for every client that reaches this item)"
            )
            item.ipv4_error = item.ipv6_error = "open file: too many open files"
            self.issue("file-recursion", f"{token}: {item.problem}", token, offset, origin)
            return True
        if location is None or location.path is None:
            reason = location.reason if location is not None else "no repository files available"
            item = self._new_item("file", token, body, negated, offset, origin)
            item.unknown = f"{body}: {reason}"
            item.problem = (
                f"file contents unknown to pfcheck ({reason}); Postfix inserts them here "
                f"(or fails lookups when it cannot open the file)"
            )
            self.issue("file-unknown", f"{token}: {item.problem}", token, offset, origin)
            return True
        path = location.path
        try:
            data = read_bounded(path)  # FileTooLarge is an OSError: its reason is the message
        except OSError as exc:
            item = self._new_item("file", token, body, negated, offset, origin)
            item.unknown = f"{body}: cannot read {path}: {exc.strerror}"
            item.problem = f"file contents unknown to pfcheck ({item.unknown})"
            self.issue("file-unknown", f"{token}: {item.problem}", token, offset, origin)
            return True
        text = data.decode("utf-8", errors="surrogateescape")
        # vstring_fgets(): physical lines; only lines whose very first character is '#' are
        # skipped (an indented '#' is a comment token that drops the rest of that line).
        for line_number, line in enumerate(text.split("\n"), start=1):
            if line.startswith("#"):
                continue
            line_origin = ItemOrigin(body, path, line_number)
            if not self._parse_text(line, negated=negated, offset=offset, origin=line_origin,
                                    depth=depth + 1, file_stack=file_stack + (path,)):
                return False
        return True


def _address_effect(pattern: str, family: int) -> tuple[IntervalSet, str | None]:
    """What match_hostaddr() does with this (casefolded, non-table) pattern for clients of one
    family: the addresses it matches, and the error Postfix reports for the others (if any)."""
    exact = IntervalSet()
    inner = pattern[1:-1] if pattern.startswith("[") and pattern.endswith("]") else None
    for candidate in ((pattern, inner) if family == IPV4 else (inner,)):
        # Exact string comparison with the client's inet_ntop() text.
        if candidate is None:
            continue
        value = parse_address(candidate, family)
        if value is not None and format_address(value, family) == candidate:
            exact = IntervalSet.single(value, value + 1)
    has_colon = ":" in pattern
    if (family == IPV6) != has_colon:
        return exact, None
    if not any(char in pattern for char in ":/"):
        return exact, None
    if all(char in _V4_CHARS for char in pattern):
        return exact, None
    if any(char not in _CIDR_PATTERN_CHARS for char in pattern):
        return exact, None
    parsed = parse_cidr_pattern(pattern)
    if isinstance(parsed, str):
        return exact, parsed
    if parsed.family != family:  # cannot happen: family follows the ':'
        return exact, None
    return exact.union(parsed.addresses), None


def _never_matches_reason(pattern: str, parent_style: bool, match_hostnames: bool) -> str:
    if pattern.startswith("{"):
        return "braces do not group items in an address list: this token matches nothing"
    if pattern.startswith("*"):
        return (
            "'*' is not a wildcard in address lists and no verified hostname contains it: this "
            "matches nothing (write the domain itself"
            + (", which also matches its subdomains)" if parent_style else " or .domain)")
        )
    if pattern.startswith(".") and parent_style and match_hostnames:
        return (
            "'.domain' matches nothing here: this list is in parent_domain_matches_subdomains, "
            "write the domain without the leading dot (it then also matches subdomains)"
        )
    if all(char in _V4_CHARS for char in pattern):
        return (
            "not a complete IPv4 address: without '/mask' Postfix compares the text literally "
            "(no leading zeros, four octets), so this matches nothing; use network/mask"
        )
    if not match_hostnames and hostname_pattern_can_match(pattern, parent_style=parent_style):
        return "hostnames are not matched by this list (address-only list): this matches nothing"
    return "matches no client address and no hostname"


def _unbracketed_ipv6(body: str) -> str | None:
    """If a `type:table`-looking token is really an IPv6 address or network, its bracketed form."""
    address, slash, mask = body.partition("/")
    if parse_ipv6(address) is None:
        return None
    if slash:
        return f"[{address}]/{mask}"
    return f"[{address}]"
