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

The table side (`static:`, `inline:`, `cidr:`, hash-type source files) lives in `tables.py`;
`tables.py` builds on the address primitives defined here (IntervalSet, address parsing), and
this module imports `tables` lazily for that reason.
"""
from __future__ import annotations

import bisect
import heapq
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from pfcheck.postfix.lines import split_braced
from pfcheck.postfix.source import read_bounded

if TYPE_CHECKING:  # pragma: no cover - import cycle is broken at run time by lazy imports
    from pfcheck.postfix.tables import Table, TableResolver

IPV4 = 4
IPV6 = 6
FAMILY_BITS = {IPV4: 32, IPV6: 128}
FAMILY_END = {IPV4: 1 << 32, IPV6: 1 << 128}

#: Postfix's default `parent_domain_matches_subdomains` (3.7).
DEFAULT_PARENT_DOMAIN_MATCHES_SUBDOMAINS = (
    "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,"
    "qmqpd_authorized_clients,relay_domains,smtpd_access_maps"
)

# Separators and grouping characters of mystrtokq() as called by match_list_parse().
_LIST_SEPARATORS = ", \t\r\n"
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
# Interval sets


class IntervalSet:
    """An immutable set of integers stored as sorted, disjoint, non-adjacent [start, end) ranges.

    Used for sets of IPv4 (0 .. 2**32) or IPv6 (0 .. 2**128) addresses. All set operations are
    linear merges, construction from n ranges is O(n log n).
    """

    __slots__ = ("_ranges", "_starts")

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._ranges: tuple[tuple[int, int], ...] = _normalize_ranges(ranges)
        self._starts: list[int] | None = None

    @classmethod
    def _from_sorted(cls, ranges: Sequence[tuple[int, int]]) -> IntervalSet:
        result = cls.__new__(cls)
        result._ranges = tuple(ranges)
        result._starts = None
        return result

    @classmethod
    def single(cls, start: int, end: int) -> IntervalSet:
        return cls._from_sorted([(start, end)] if start < end else [])

    @classmethod
    def everything(cls, family: int) -> IntervalSet:
        return cls.single(0, FAMILY_END[family])

    @classmethod
    def network(cls, start: int, prefixlen: int, family: int) -> IntervalSet:
        return cls.single(start, start + (1 << (FAMILY_BITS[family] - prefixlen)))

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        return self._ranges

    def __bool__(self) -> bool:
        return bool(self._ranges)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IntervalSet) and self._ranges == other._ranges

    def __hash__(self) -> int:
        return hash(self._ranges)

    def __repr__(self) -> str:
        shown = ", ".join(f"[{s:#x}, {e:#x})" for s, e in self._ranges[:4])
        more = f", ... {len(self._ranges) - 4} more" if len(self._ranges) > 4 else ""
        return f"IntervalSet({shown}{more})"

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int) or not self._ranges:
            return False
        if self._starts is None:
            self._starts = [start for start, _ in self._ranges]
        position = bisect.bisect_right(self._starts, value) - 1
        return position >= 0 and value < self._ranges[position][1]

    def size(self) -> int:
        return sum(end - start for start, end in self._ranges)

    def first(self) -> int | None:
        return self._ranges[0][0] if self._ranges else None

    def union(self, other: IntervalSet) -> IntervalSet:
        if not other._ranges:
            return self
        if not self._ranges:
            return other
        merged: list[tuple[int, int]] = []
        left, right = self._ranges, other._ranges
        i = j = 0
        while i < len(left) or j < len(right):
            if j >= len(right) or (i < len(left) and left[i][0] <= right[j][0]):
                start, end = left[i]
                i += 1
            else:
                start, end = right[j]
                j += 1
            if merged and start <= merged[-1][1]:
                if end > merged[-1][1]:
                    merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        return IntervalSet._from_sorted(merged)

    def intersection(self, other: IntervalSet) -> IntervalSet:
        result: list[tuple[int, int]] = []
        left, right = self._ranges, other._ranges
        i = j = 0
        while i < len(left) and j < len(right):
            start = max(left[i][0], right[j][0])
            end = min(left[i][1], right[j][1])
            if start < end:
                result.append((start, end))
            if left[i][1] < right[j][1]:
                i += 1
            else:
                j += 1
        return IntervalSet._from_sorted(result)

    def difference(self, other: IntervalSet) -> IntervalSet:
        if not other._ranges or not self._ranges:
            return self
        result: list[tuple[int, int]] = []
        right = other._ranges
        j = 0
        for start, end in self._ranges:
            while j < len(right) and right[j][1] <= start:
                j += 1
            k = j
            cursor = start
            while k < len(right) and right[k][0] < end:
                if right[k][0] > cursor:
                    result.append((cursor, right[k][0]))
                cursor = max(cursor, right[k][1])
                if cursor >= end:
                    break
                k += 1
            if cursor < end:
                result.append((cursor, end))
        return IntervalSet._from_sorted(result)

    def complement(self, family: int) -> IntervalSet:
        return IntervalSet.everything(family).difference(self)

    __or__ = union
    __and__ = intersection
    __sub__ = difference

    def networks(self, family: int) -> list[tuple[int, int]]:
        """The set as a minimal list of aligned (network, prefixlen) blocks, in address order."""
        bits = FAMILY_BITS[family]
        blocks: list[tuple[int, int]] = []
        for start, end in self._ranges:
            while start < end:
                # Largest block aligned at `start` that fits before `end`.
                size = (start & -start) if start else (1 << bits)
                while size > end - start:
                    size >>= 1
                blocks.append((start, bits - size.bit_length() + 1))
                start += size
        return blocks

    def network_texts(self, family: int, *, brackets: bool = False) -> list[str]:
        """Like `networks()`, formatted as `10.0.0.0/8` / `2001:db8::/32` (`[..]/n` with brackets)."""
        texts = []
        for start, prefixlen in self.networks(family):
            address = format_address(start, family)
            if family == IPV6 and brackets:
                address = f"[{address}]"
            texts.append(f"{address}/{prefixlen}")
        return texts


def _normalize_ranges(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(r for r in ranges if r[0] < r[1]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def first_match_partition(
    entries: Iterable[tuple[int, int, int]], space_end: int
) -> list[tuple[int, int, int | None]]:
    """Split [0, space_end) by "first matching entry wins".

    `entries` are (start, end, priority) with lower priority winning; one priority may have
    several disjoint ranges. Returns consecutive (start, end, priority-or-None) segments that
    cover the whole space, adjacent segments with the same winner merged. O(n log n): a sweep
    over the range boundaries with a heap of the active priorities.
    """
    events: list[tuple[int, int, int]] = []
    for start, end, priority in entries:
        if start < end:
            events.append((start, 1, priority))
            events.append((end, 0, priority))
    events.sort()
    segments: list[tuple[int, int, int | None]] = []
    active: list[int] = []
    removed: dict[int, int] = {}
    position = 0
    index = 0

    def emit(start: int, end: int, winner: int | None) -> None:
        if start >= end:
            return
        if segments and segments[-1][2] == winner and segments[-1][1] == start:
            segments[-1] = (segments[-1][0], end, winner)
        else:
            segments.append((start, end, winner))

    while index < len(events):
        at = events[index][0]
        while active and removed.get(active[0], 0):
            removed[active[0]] -= 1
            heapq.heappop(active)
        emit(position, at, active[0] if active else None)
        position = at
        while index < len(events) and events[index][0] == at:
            _, is_start, priority = events[index]
            if is_start:
                heapq.heappush(active, priority)
            else:
                removed[priority] = removed.get(priority, 0) + 1
            index += 1
    while active and removed.get(active[0], 0):
        removed[active[0]] -= 1
        heapq.heappop(active)
    emit(position, space_end, active[0] if active else None)
    return segments


# --------------------------------------------------------------------------------------------
# Addresses exactly as Postfix parses (inet_pton) and prints (inet_ntop) them


_IPV4_TEXT = re.compile(r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\Z")
_HEXTET = re.compile(r"[0-9a-fA-F]{1,4}\Z")


def parse_ipv4(text: str) -> int | None:
    """glibc inet_pton(AF_INET): exactly four decimal octets, no leading zeros, each <= 255."""
    match = _IPV4_TEXT.match(text)
    if match is None:
        return None
    value = 0
    for octet in match.groups():
        number = int(octet)
        if number > 255:
            return None
        value = (value << 8) | number
    return value


def parse_ipv6(text: str) -> int | None:
    """glibc inet_pton(AF_INET6): hex groups of 1-4 digits, one `::`, optional IPv4 tail."""
    if not text or text.count("::") > 1:
        return None

    def groups(part: str, ipv4_tail_allowed: bool) -> list[int] | None:
        if part == "":
            return []
        pieces = part.split(":")
        values: list[int] = []
        for position, piece in enumerate(pieces):
            if ipv4_tail_allowed and position == len(pieces) - 1 and "." in piece:
                ipv4 = parse_ipv4(piece)
                if ipv4 is None:
                    return None
                values.extend((ipv4 >> 16, ipv4 & 0xFFFF))
            elif _HEXTET.match(piece):
                values.append(int(piece, 16))
            else:
                return None
        return values

    head, double_colon, tail = text.partition("::")
    if double_colon:
        high = groups(head, ipv4_tail_allowed=False)
        low = groups(tail, ipv4_tail_allowed=True)
        if high is None or low is None or len(high) + len(low) > 7:
            return None
        hextets = high + [0] * (8 - len(high) - len(low)) + low
    else:
        parsed = groups(text, ipv4_tail_allowed=True)
        if parsed is None or len(parsed) != 8:
            return None
        hextets = parsed
    value = 0
    for hextet in hextets:
        value = (value << 16) | hextet
    return value


def parse_address(text: str, family: int) -> int | None:
    return parse_ipv4(text) if family == IPV4 else parse_ipv6(text)


def format_address(value: int, family: int) -> str:
    """glibc inet_ntop(): the text Postfix uses for a client address (`state->addr`)."""
    if family == IPV4:
        return ".".join(str((value >> shift) & 0xFF) for shift in (24, 16, 8, 0))
    words = [(value >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    best_base, best_len = -1, 0
    run_base, run_len = -1, 0
    for i, word in enumerate(words):
        if word == 0:
            if run_base < 0:
                run_base, run_len = i, 1
            else:
                run_len += 1
            if run_len > best_len:
                best_base, best_len = run_base, run_len
        else:
            run_base, run_len = -1, 0
    if best_len < 2:
        best_base, best_len = -1, 0
    out: list[str] = []
    i = 0
    while i < 8:
        if best_base >= 0 and best_base <= i < best_base + best_len:
            if i == best_base:
                out.append(":")
            i += 1
            continue
        if i != 0:
            out.append(":")
        # glibc prints ::a.b.c.d and ::ffff:a.b.c.d for IPv4-compatible and -mapped addresses.
        if i == 6 and best_base == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
            out.append(format_address(value & 0xFFFFFFFF, IPV4))
            break
        out.append(f"{words[i]:x}")
        i += 1
    if best_base >= 0 and best_base + best_len == 8:
        out.append(":")
    return "".join(out)


_MAPPED_PREFIX = 0xFFFF << 32
#: ::ffff:0:0/96, IPv4-mapped IPv6 addresses.
IPV4_MAPPED = IntervalSet.single(_MAPPED_PREFIX, _MAPPED_PREFIX + (1 << 32))


@dataclass(frozen=True)
class ClientAddress:
    """A client address as Postfix sees it: family, numeric value and `state->addr` text."""

    family: int
    value: int
    text: str

    @classmethod
    def parse(cls, address: str, *, ipv4_enabled: bool = True) -> ClientAddress:
        """Parse `1.2.3.4`, `2001:db8::1` or `[2001:db8::1]`.

        An IPv4-mapped IPv6 address becomes IPv4 when `ipv4_enabled` (Postfix converts it in
        smtpd_peer.c when `inet_protocols` includes ipv4). Raises ValueError for anything else.
        """
        text = address.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        if text.lower().startswith("ipv6:"):
            text = text[5:]
        ipv4 = parse_ipv4(text)
        if ipv4 is not None:
            return cls(IPV4, ipv4, format_address(ipv4, IPV4))
        ipv6 = parse_ipv6(text)
        if ipv6 is None:
            raise ValueError(f"not an IPv4 or IPv6 address: {address!r}")
        if ipv4_enabled and ipv6 in IPV4_MAPPED:
            ipv4 = ipv6 & 0xFFFFFFFF
            return cls(IPV4, ipv4, format_address(ipv4, IPV4))
        return cls(IPV6, ipv6, format_address(ipv6, IPV6))

    @classmethod
    def of(cls, value: int, family: int) -> ClientAddress:
        return cls(family, value, format_address(value, family))


@dataclass(frozen=True)
class CidrPattern:
    """A parsed network/mask (or single address) pattern."""

    family: int
    network: int
    prefixlen: int

    @property
    def addresses(self) -> IntervalSet:
        return IntervalSet.network(self.network, self.prefixlen, self.family)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ClientAddress) or address.family != self.family:
            return False
        shift = FAMILY_BITS[self.family] - self.prefixlen
        return (address.value >> shift) == (self.network >> shift)

    def text(self, *, brackets: bool = False) -> str:
        address = format_address(self.network, self.family)
        if brackets and self.family == IPV6:
            address = f"[{address}]"
        return f"{address}/{self.prefixlen}"


def parse_cidr_pattern(pattern: str) -> CidrPattern | str:
    """`cidr_match_parse()`: a CidrPattern, or Postfix's error text.

    Accepts `addr`, `addr/len`, `[addr]`, `[addr]/len` and `[addr/len]`; the family is IPv6
    when the address part contains `:`. Host bits set, a bad mask or a bad address are errors.
    """
    mask: str | None
    if pattern.startswith("["):
        body = pattern[1:]
        close = body.find("]")
        if close < 0:
            return f'missing \']\' character after "[{body}"'
        address, after = body[:close], body[close + 1:]
        if after:
            if not after.startswith("/"):
                return f'garbage after "[{address}]"'
            mask = after[1:]
        else:
            address, slash, rest = address.partition("/")
            mask = rest if slash else None
    else:
        address, slash, rest = pattern.partition("/")
        mask = rest if slash else None
    family = IPV6 if ":" in address else IPV4
    bits = FAMILY_BITS[family]
    if mask is not None:
        if not mask or not mask.isascii() or not mask.isdigit():
            return f'bad mask value in "{address}/{mask}"'
        prefixlen = int(mask)
        if prefixlen > bits:
            return f'bad mask length in "{address}/{mask}"'
        network = parse_address(address, family)
        if network is None:
            return f'bad network value in "{address}/{mask}"'
        host_bits = (1 << (bits - prefixlen)) - 1
        if network & host_bits:
            masked = format_address(network & ~host_bits, family)
            return (
                f'non-null host address bits in "{address}/{mask}", '
                f'perhaps you should use "{masked}/{prefixlen}" instead'
            )
        return CidrPattern(family, network, prefixlen)
    network = parse_address(address, family)
    if network is None:
        return f'bad address pattern: "{address}"'
    return CidrPattern(family, network, bits)


# Non-globally-reachable ranges (IANA special-purpose registries), fixed here so that witness
# choice does not depend on the Python version's `ipaddress.is_global`.
_NOT_GLOBAL_V4 = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)
# IPv6: only 2000::/3 is global unicast; within it, exclude special-purpose blocks.
_GLOBAL_V6 = "2000::/3"
_NOT_GLOBAL_V6 = ("2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20")


def _network_set(texts: Iterable[str]) -> IntervalSet:
    ranges = []
    for text in texts:
        parsed = parse_cidr_pattern(text)
        assert isinstance(parsed, CidrPattern), text
        ranges.extend(parsed.addresses.ranges)
    return IntervalSet(ranges)


GLOBAL_ADDRESSES = {
    IPV4: IntervalSet.everything(IPV4).difference(_network_set(_NOT_GLOBAL_V4)),
    IPV6: _network_set([_GLOBAL_V6]).difference(_network_set(_NOT_GLOBAL_V6)),
}


# --------------------------------------------------------------------------------------------
# Tokenizing a list value the way match_list_parse() does


def split_list(value: str, start_offset: int = 0) -> Iterator[tuple[str, int]]:
    """mystrtokq(value, ", \\t\\r\\n", "{}"): (token, offset) pairs; braces keep separators."""
    for token, offset in split_braced(value, _LIST_SEPARATORS):
        yield token, start_offset + offset


def is_table_pattern(pattern: str) -> bool:
    """MATCH_DICTIONARY(): a `type:table` is anything with `:` that does not start with `[`."""
    return not pattern.startswith("[") and ":" in pattern


_HOST_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_HOSTNAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\Z")


def hostname_pattern_can_match(pattern: str, *, parent_style: bool) -> bool:
    """Can some verified client hostname match this (casefolded) non-table pattern?

    smtpd only keeps a client name that passed valid_hostname() (letters, digits, `-`, `_`,
    non-empty labels, not all-numeric) and forward-confirmed; otherwise the name is "unknown".
    With parent style `example.com` matches itself and `*.example.com`, `.example.com` nothing;
    without it `.example.com` matches subdomains. A numeric last label cannot resolve (no
    all-numeric TLD exists), so address-like patterns never match a hostname.
    """
    if pattern == "unknown":
        return True
    if pattern.startswith("."):
        if parent_style:
            return False
        pattern = pattern[1:]
    if len(pattern) > 255 or not _HOSTNAME.match(pattern):
        return False
    labels = pattern.split(".")
    if any(len(label) > 63 for label in labels):
        return False
    return not labels[-1].isdigit()


def hostname_matches(name: str, pattern: str, *, parent_style: bool) -> bool:
    """match_hostname() for a non-table pattern; `name` and `pattern` already casefolded."""
    if name == pattern:
        return True
    if parent_style:
        return name.endswith("." + pattern) and len(name) > len(pattern) + 1
    if pattern.startswith("."):
        return name.endswith(pattern) and len(name) > len(pattern)
    return False


def casefold(text: str) -> str:
    """Postfix's casefold() for list patterns and search strings (ASCII is what matters here)."""
    return text.lower()


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
            return IntervalSet._from_sorted(_merge_sorted(results.get((family, outcome), [])))

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
        from pfcheck.postfix import tables

        ref = tables.parse_table_ref(body)
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
            table: Table = tables.FailingTable(ref, f"unsupported dictionary type: {ref.type}")
            item.kind = "bad"
            item.problem = (
                f"IPv6 must be written in brackets ({unbracketed}); Postfix reads this as a "
                f"table of type '{ref.type}': its lookups fail, so every client that reaches "
                f"this item gets a temporary error"
            )
            self.issue("unbracketed-ipv6", f"{token}: {item.problem}", token, offset, origin)
        else:
            table = tables.load_table(ref, self.resolver)
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


# --------------------------------------------------------------------------------------------
# Witness search


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
    from pfcheck.postfix import client_addresses  # imports this module

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
