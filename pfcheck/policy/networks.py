"""Networks in Postfix syntax, as policy options write them (`allowed:` of PF201): parsing
with user-facing errors, the canonical text form, and union containment."""
from __future__ import annotations

import ipaddress
import re
from typing import Iterable, Union



# --------------------------------------------------------------------------------------------
# Networks in Postfix syntax


Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


_IPV4_DOTTED = re.compile(r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}")


def parse_policy_network(text: str) -> Network:
    """Parse one network as Postfix writes it in `mynetworks`: `192.0.2.0/24`, `192.0.2.1`,
    `[2001:db8::]/32`, `[2001:db8::1]`, `[2001:db8::/32]`. Raises ValueError with a message
    fit for a user (host bits set, unbracketed IPv6, hostnames, tables, ...)."""
    item = text.strip()
    if not item:
        raise ValueError("empty network")
    if item.startswith("!"):
        raise ValueError(f'"{item}": exclusions ("!") are not allowed here; list the networks that are allowed')
    if item.startswith("/") or re.match(r"^[A-Za-z][A-Za-z0-9_+-]*:", item):
        raise ValueError(f'"{item}": files and lookup tables are not allowed here; list networks')
    bracketed = item.startswith("[")
    if bracketed:
        close = item.find("]")
        if close < 0:
            raise ValueError(f'"{item}": missing "]" after "["')
        address = item[1:close]
        rest = item[close + 1 :]
        if rest and not rest.startswith("/"):
            raise ValueError(f'"{item}": unexpected text after "]"')
        if "/" in address:
            if rest:
                raise ValueError(f'"{item}": two prefix lengths')
            address, _, length = address.partition("/")
        else:
            length = rest[1:] if rest else ""
    else:
        address, _, length = item.partition("/")
        if ":" in address:
            suggestion = f"[{address}]/{length}" if length else f"[{address}]"
            raise ValueError(
                f'"{item}": IPv6 networks must be written in brackets, as Postfix requires '
                f'(write "{suggestion}"; unbracketed, Postfix reads it as a lookup table)'
            )
    try:
        # ipaddress accepts what inet_pton() (Postfix) refuses: IPv6 scope ids ("%eth0") and,
        # before Python 3.9.5, IPv4 octets with leading zeros.
        if "%" in address or not address.isascii() or (
            "." in address and ":" not in address and not _IPV4_DOTTED.fullmatch(address)
        ):
            raise ValueError(address)
        host = ipaddress.ip_address(address)
    except ValueError:
        if not bracketed and re.fullmatch(r"[A-Za-z0-9.-]+", address) and not re.fullmatch(r"[0-9.]+", address):
            raise ValueError(f'"{item}": host and domain names are not allowed here; list networks') from None
        raise ValueError(f'"{item}": not an IPv4 or IPv6 address') from None
    if "/" in item and not length:
        raise ValueError(f'"{item}": missing prefix length after "/"')
    bits = host.max_prefixlen
    if length:
        if not (length.isascii() and length.isdigit()):
            raise ValueError(f'"{item}": bad prefix length "{length}"')
        prefix = int(length)
        if prefix > bits:
            raise ValueError(f'"{item}": prefix length {prefix} is longer than {bits}')
    else:
        prefix = bits
    network = ipaddress.ip_network(f"{host}/{prefix}", strict=False)
    if network.network_address != host:
        # Postfix itself refuses this pattern at match time ("non-null host address bits").
        raise ValueError(
            f'"{item}": host bits are set; did you mean "{network_text(network)}"?'
        )
    return network


def network_text(network: Network) -> str:
    """A network in Postfix syntax, prefix always written, IPv6 in brackets: the form option
    values take (and `pfcheck.postfix.networks` reads)."""
    if network.version == 6:
        return f"[{network.network_address}]/{network.prefixlen}"
    return str(network)


def network_allowed(
    network: Union[str, Network], allowed: Iterable[Union[str, Network]], allow_single_addresses: bool = False
) -> bool:
    """Whether `network` lies inside the union of `allowed` (PF201's test), or is a single
    address (/32, /128) while `allow_single_addresses` is on. Strings are in Postfix syntax."""
    network = parse_policy_network(network) if isinstance(network, str) else network
    if allow_single_addresses and network.prefixlen == network.max_prefixlen:
        return True
    parsed = [parse_policy_network(item) if isinstance(item, str) else item for item in allowed]
    same_family = [candidate for candidate in parsed if candidate.version == network.version]
    # After collapsing, a CIDR block covered by the union lies inside one collapsed block.
    return any(network.subnet_of(block) for block in ipaddress.collapse_addresses(same_family))  # type: ignore[arg-type]
