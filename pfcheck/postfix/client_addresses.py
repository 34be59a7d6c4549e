"""Which client addresses a witness may name: ones a real SMTP client can connect from and
that Postfix's smtpd takes from XCLIENT (so a test can replay the witness).

What Postfix 3.7 accepts (read from the source, confirmed on the live 3.7.11 instance):

* `XCLIENT ADDR=` (smtpd/smtpd.c `xclient_cmd`) goes through `normalize_mailhost_addr()`
  (global/normalize_mailhost_addr.c): `valid_mailhost_addr()` (global/valid_mailhost_addr.c:
  `IPV6:` prefix -> `valid_ipv6_hostaddr()`, else `valid_ipv4_hostaddr()`, util/valid_hostname.c),
  then `getaddrinfo(AI_NUMERICHOST)` and back; an IPv4-mapped `::ffff:a.b.c.d` becomes the
  IPv4 client a.b.c.d, and the family must be enabled by `inet_protocols`. Anything else is
  `501 5.5.4 Bad ADDR syntax`.
* `valid_ipv4_hostaddr()`: four decimal octets <= 255, and a first octet of 0 only in
  `0.0.0.0` itself ("Allow 0.0.0.0 but not 0.1.2.3"). Multicast, class E and broadcast pass.
* `valid_ipv6_hostaddr()`: hex fields of at most 4 digits, 2..7 colons, one `::`, and a
  dotted IPv4 tail checked by `valid_ipv4_hostaddr()` (so `::ffff:0.0.0.1` and `::0.1.2.3`
  are refused, `::`, `ff02::1` pass).

What no client can connect from, although XCLIENT takes some of it: an unspecified address
(0.0.0.0, ::), the rest of 0.0.0.0/8 (RFC 1122 3.2.1.3: "this network", never a source on
the wire; XCLIENT refuses it too), multicast (224.0.0.0/4, ff00::/8) and the limited broadcast
255.255.255.255 (Linux refuses to bind a TCP socket to them: EINVAL), IPv4-mapped IPv6 (never
on the wire; smtpd would see the IPv4 client). Class E (240.0.0.0/4 minus the broadcast) is
reserved but Linux connects from it, so it stays possible, as a last resort only.

A range with no presentable address grants nothing: no client can use it (see
docs/internals.md, "Witness addresses").
"""
from __future__ import annotations

from typing import Callable, Sequence

from pfcheck.postfix.addresses import (
    FAMILY_BITS,
    IPV4,
    IPV4_MAPPED,
    IPV6,
    IntervalSet,
    format_address,
    network_address,
    network_set,
    parse_address,
)


# ::0.1.0.0 .. ::0.255.255.255: glibc prints them with a dotted tail whose first octet is 0,
# which valid_ipv4_hostaddr() refuses (XCLIENT 501).
_ZERO_OCTET_TAIL_V6 = IntervalSet.single(0x10000, 0x1000000)

#: Addresses no client can present to smtpd (on the wire or with XCLIENT).
UNPRESENTABLE = {
    IPV4: network_set(["0.0.0.0/8", "224.0.0.0/4", "255.255.255.255/32"]),
    IPV6: network_set(["[::]/128", "[ff00::]/8"]).union(IPV4_MAPPED).union(_ZERO_OCTET_TAIL_V6),
}

#: Documentation ranges (RFC 5737, RFC 3849): the preferred witnesses inside a granted range.
DOCUMENTATION = {
    IPV4: network_set(["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"]),
    IPV6: network_set(["[2001:db8::]/32"]),
}

# Possible but odd clients, named only when a range has nothing else: class E, loopback
# (only local processes), and the deprecated IPv4-compatible IPv6 addresses.
_LAST_RESORT = {
    IPV4: network_set(["240.0.0.0/4", "127.0.0.0/8"]),
    IPV6: network_set(["[::]/96"]),
}

PRESENTABLE = {family: IntervalSet.everything(family).difference(UNPRESENTABLE[family])
               for family in (IPV4, IPV6)}


def presentable(addresses: IntervalSet, family: int) -> IntervalSet:
    """The part of `addresses` a client can present."""
    return addresses.intersection(PRESENTABLE[family])


def preference_tiers(family: int, preferred: Sequence[IntervalSet] = ()) -> list[IntervalSet]:
    """Where to look for a witness, best first: the caller's preferred sets, ordinary
    addresses, then the last-resort ones; every tier holds presentable addresses only."""
    ordinary = PRESENTABLE[family].difference(_LAST_RESORT[family])
    tiers = [presentable(tier, family) for tier in preferred]
    return tiers + [ordinary, PRESENTABLE[family]]


def pick(addresses: IntervalSet, family: int) -> int | None:
    """The first address of `addresses`, skipping a network address (.0, ::) when the first
    range has more than two addresses (a reader expects a host, Postfix does not care)."""
    if not addresses:
        return None
    start, end = addresses.ranges[0]
    if end - start > 2 and _looks_like_network_address(start, family):
        return start + 1
    return start


def choose(addresses: IntervalSet, family: int, preferred: Sequence[IntervalSet] = ()) -> int | None:
    """A presentable address of `addresses`, from the best tier that has one, or None."""
    for tier in preference_tiers(family, preferred):
        chosen = pick(addresses.intersection(tier), family)
        if chosen is not None:
            return chosen
    return None


def grant_witness(addresses: IntervalSet, family: int) -> str | None:
    """The client named for a granted range: a documentation address when the range covers
    one, else its first presentable address; None when no client can present from it."""
    chosen = choose(addresses, family, [DOCUMENTATION[family]])
    return None if chosen is None else format_address(chosen, family)


def _looks_like_network_address(value: int, family: int) -> bool:
    return (value & 0xFF) == 0 if family == IPV4 else (value & 0xFFFF) == 0


def key_range(key: str) -> tuple[int, IntervalSet] | None:
    """(family, addresses) a client-table key matches: an address, a CIDR block (brackets
    allowed) or a dotted prefix (`1.2.3` in hash tables: 1.2.3.0/24); None otherwise."""
    text = key.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")] + text[text.index("]") + 1:]
    address, slash, mask = text.partition("/")
    family = IPV6 if ":" in address else IPV4
    value = parse_address(address, family)
    bits = FAMILY_BITS[family]
    if value is not None and (not slash or (mask.isascii() and mask.isdigit() and int(mask) <= bits)):
        prefixlen = int(mask) if slash else bits
        # strict=False, as before: a key with host bits set names its network.
        network = network_address(value, prefixlen, family)
        return family, IntervalSet.network(network, prefixlen, family)
    parts = text.split(".")
    if 1 <= len(parts) < 4 and all(part.isascii() and part.isdigit() and int(part) < 256 for part in parts):
        start = 0
        for part in parts:
            start = (start << 8) | int(part)
        start <<= 8 * (4 - len(parts))
        return IPV4, IntervalSet.network(start, 8 * len(parts), IPV4)
    return None


def grant_client(
    key: str,
    covered: Callable[[int], IntervalSet | None] | None = None,
    earlier: dict[int, IntervalSet] | None = None,
) -> str | None:
    """The witness client of a client-table key (address, CIDR block, dotted prefix): a
    documentation address when the key covers one, else its first presentable address; None
    when no client can present from it (the entry grants nobody).

    `covered(family)`: the trusted set, avoided when the key has clients outside it (a grant
    matters only there). `earlier`: per family, what earlier entries of a first-match (cidr)
    table match; the entry never applies to those clients."""
    found = key_range(key)
    if found is None:
        return None
    family, addresses = found
    if earlier is not None and family in earlier:
        addresses = addresses.difference(earlier[family])
    trusted = covered(family) if covered is not None else None
    if trusted is not None:
        addresses = addresses.difference(trusted) or addresses
    return grant_witness(addresses, family)


def add_key_range(earlier: dict[int, IntervalSet], key: str) -> None:
    """Record a first-match table entry's range in `earlier` (see grant_client)."""
    found = key_range(key)
    if found is not None:
        family, addresses = found
        earlier[family] = addresses.union(earlier[family]) if family in earlier else addresses
