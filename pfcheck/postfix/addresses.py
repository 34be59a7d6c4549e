"""Addresses, networks and list patterns exactly as Postfix reads them: the primitives under
address lists (networks.py), lookup tables (tables/), witness clients (client_addresses.py)
and policy networks (pfcheck/policy/networks.py).

* `IntervalSet`: sets of IPv4 (0 .. 2**32) or IPv6 (0 .. 2**128) addresses as sorted ranges,
  and `first_match_partition()`, the "first matching entry wins" sweep over such ranges.
* `parse_ipv4()`, `parse_ipv6()`, `format_address()`: glibc inet_pton()/inet_ntop(), which is
  what Postfix uses for client addresses (`state->addr`).
* `ClientAddress`, `CidrPattern`, `parse_cidr_pattern()`, `network_address()`: a client as
  smtpd sees it and `util/cidr_match.c`'s network/mask patterns with Postfix's own error texts;
  `network_set()` and `GLOBAL_ADDRESSES` for ranges pfcheck writes itself.
* `split_list()`, `is_table_pattern()`, `hostname_pattern_can_match()`, `hostname_matches()`,
  `casefold()`: how `util/match_list.c` and `util/match_ops.c` tokenize and match list items.
* `enabled_families()`: which address families `inet_protocols` enables.

Nothing here imports another pfcheck module that knows about tables or lists, so every
module above can import it without a cycle.
"""
from __future__ import annotations

import bisect
import heapq
import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from pfcheck.postfix.lines import CHARS_COMMA_SP, split_braced, split_comma_space

IPV4 = 4
IPV6 = 6
FAMILY_BITS = {IPV4: 32, IPV6: 128}
FAMILY_END = {IPV4: 1 << 32, IPV6: 1 << 128}



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
    def from_sorted(cls, ranges: Sequence[tuple[int, int]]) -> IntervalSet:
        """Trust `ranges` to be sorted, disjoint and non-adjacent already (merge results)."""
        result = cls.__new__(cls)
        result._ranges = tuple(ranges)
        result._starts = None
        return result

    @classmethod
    def single(cls, start: int, end: int) -> IntervalSet:
        return cls.from_sorted([(start, end)] if start < end else [])

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
        return IntervalSet.from_sorted(merged)

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
        return IntervalSet.from_sorted(result)

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
        return IntervalSet.from_sorted(result)

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


def network_address(value: int, prefixlen: int, family: int) -> int:
    """`value` with its host bits (those after the first `prefixlen`) cleared."""
    return value & ~((1 << (FAMILY_BITS[family] - prefixlen)) - 1)


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
        if network != network_address(network, prefixlen, family):
            masked = format_address(network_address(network, prefixlen, family), family)
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


def network_set(texts: Iterable[str]) -> IntervalSet:
    """The union of networks written as pfcheck writes them (`10.0.0.0/8`, `[::]/96`); a text
    that is not one is a programming error."""
    ranges: list[tuple[int, int]] = []
    for text in texts:
        parsed = parse_cidr_pattern(text)
        assert isinstance(parsed, CidrPattern), text
        ranges.extend(parsed.addresses.ranges)
    return IntervalSet(ranges)


GLOBAL_ADDRESSES = {
    IPV4: IntervalSet.everything(IPV4).difference(network_set(_NOT_GLOBAL_V4)),
    IPV6: network_set([_GLOBAL_V6]).difference(network_set(_NOT_GLOBAL_V6)),
}


# --------------------------------------------------------------------------------------------
# Tokenizing a list value the way match_list_parse() does


def split_list(value: str, start_offset: int = 0) -> Iterator[tuple[str, int]]:
    """mystrtokq(value, ", \\t\\r\\n", "{}"): (token, offset) pairs; braces keep separators."""
    for token, offset in split_braced(value, CHARS_COMMA_SP):
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
# Address families enabled by inet_protocols


#: The words inet_proto_init() knows (name_mask(): case-sensitive, CHARS_COMMA_SP-separated).
INET_PROTOCOL_WORDS = ("all", "ipv4", "ipv6")


def inet_protocols_refusal(inet_protocols: str) -> str | None:
    """Postfix's fatal text for the first word of an expanded `inet_protocols` that
    inet_proto_init() does not know (every program exits), None when it knows them all."""
    for word in split_comma_space(inet_protocols):
        if word not in INET_PROTOCOL_WORDS:
            return f'unknown inet_protocols value "{word}" in "{inet_protocols}"'
    return None


def enabled_families(inet_protocols: str) -> frozenset[int]:
    """The address families (IPV4, IPV6) that an expanded `inet_protocols` value enables.

    Words are separated by commas and whitespace and compared case-insensitively; `all`
    enables both. An empty value enables both here, as PF201 and the relay evaluator have
    always read it (Postfix itself then enables none and computes an empty mynetworks, which
    param_types.global_refusals() follows). Words Postfix does not know make it exit (PF000
    reports them); they enable nothing here."""
    words = inet_protocols.replace(",", " ").lower().split()
    if not words or "all" in words:
        return frozenset((IPV4, IPV6))
    return frozenset(family for family, word in ((IPV4, "ipv4"), (IPV6, "ipv6")) if word in words)
