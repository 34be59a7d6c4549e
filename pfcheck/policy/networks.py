"""Networks in Postfix syntax, as policy options write them (`allowed:` of PF201): parsing
with user-facing errors and the canonical text form.

Addresses are read with Postfix's own primitives (pfcheck.postfix.addresses: inet_pton(),
host bits), so the policy accepts exactly the networks the list parser will match; what is
policy-specific is the strictness (no exclusions, files, tables, hostnames or unbracketed IPv6,
host bits are an error here) and the messages, written for the policy's author."""
from __future__ import annotations

import ipaddress
import re
from typing import Union

from pfcheck.postfix.addresses import FAMILY_BITS, IPV4, IPV6, network_address, parse_address

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


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
    # inet_pton(), as Postfix reads the address (no IPv6 scope ids, no IPv4 leading zeros).
    family = IPV6 if ":" in address else IPV4
    host = parse_address(address, family)
    if host is None:
        if not bracketed and re.fullmatch(r"[A-Za-z0-9.-]+", address) and not re.fullmatch(r"[0-9.]+", address):
            raise ValueError(f'"{item}": host and domain names are not allowed here; list networks')
        raise ValueError(f'"{item}": not an IPv4 or IPv6 address')
    if "/" in item and not length:
        raise ValueError(f'"{item}": missing prefix length after "/"')
    bits = FAMILY_BITS[family]
    if length:
        if not (length.isascii() and length.isdigit()):
            raise ValueError(f'"{item}": bad prefix length "{length}"')
        prefix = int(length)
        if prefix > bits:
            raise ValueError(f'"{item}": prefix length {prefix} is longer than {bits}')
    else:
        prefix = bits
    network_class = ipaddress.IPv4Network if family == IPV4 else ipaddress.IPv6Network
    network = network_class((network_address(host, prefix, family), prefix))
    if int(network.network_address) != host:
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
