"""Host name and address syntax as Postfix checks it (util/valid_hostname.c, quote_822_local()).

The restrictions that judge a HELO name or an address domain, the resolver and the attacker's
recipient forms all need the same few tests; they are here once. (Addresses and networks as
lists and tables read them are pfcheck.postfix.addresses.)
"""
from __future__ import annotations

import ipaddress
import re

_RFC822_SPECIALS = set('()<>@,;:\\".[] \t')


def smtp_address(internal: str) -> str:
    """External (RFC 5321) form of an internal address, as quote_822_local() writes it: the
    local part (everything before the last `@`) is quoted when it contains specials."""
    if not internal:
        return ""
    local, at, domain = internal.rpartition("@")
    if not at:
        local, domain = internal, ""
    needs_quotes = any(char in _RFC822_SPECIALS for char in local.replace(".", "")) or \
        local.startswith(".") or local.endswith(".") or ".." in local
    if needs_quotes:
        local = '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{local}@{domain}" if at else local


_HOSTNAME_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


def valid_hostname(name: str) -> bool:
    """valid_hostname(): dot-separated labels of letters/digits/hyphen/underscore, not all-numeric."""
    if not name or len(name) > 255 or name.startswith(".") or name.endswith(".") or ".." in name:
        return False
    labels = name.split(".")
    if not all(_HOSTNAME_LABEL.match(label) for label in labels):
        return False
    # An all-numeric last label is an address, not a hostname.
    return not labels[-1].isdigit()


def valid_hostaddr(text: str) -> bool:
    """valid_hostaddr(): an IPv4 or IPv6 address (as Python's ipaddress reads it).

    Kept apart from addresses.parse_ipv4()/parse_ipv6() on purpose: it stands for Postfix's
    valid_hostaddr() (util/valid_hostname.c), not for the inet_pton() those mirror; its known
    difference (ipaddress takes an IPv6 `%zone`) is listed in docs/internals.md."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def valid_mailhost_addr(text: str) -> bool:
    """valid_mailhost_addr(): IPv4, or IPv6 with the `IPv6:` prefix."""
    if text[:5].lower() == "ipv6:":
        try:
            ipaddress.IPv6Address(text[5:])
        except ValueError:
            return False
        return True
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def helo_valid(helo: str) -> bool:
    """reject_invalid_helo_hostname's test: a valid host name, address or address literal
    (one trailing dot allowed)."""
    if helo.startswith("["):
        return helo_literal_valid(helo)
    test = helo[:-1] if helo.endswith(".") and not helo.endswith("..") else helo
    return valid_hostname(test) or valid_hostaddr(test)


def helo_literal_valid(helo: str) -> bool:
    """A HELO address literal `[addr]` / `[IPv6:addr]` that smtpd accepts."""
    return helo.endswith("]") and len(helo) > 2 and valid_mailhost_addr(helo[1:-1])


def strip_brackets(text: str) -> str:
    """`[text]` -> `text`; anything else unchanged."""
    if text.startswith("[") and text.endswith("]") and len(text) > 2:
        return text[1:-1]
    return text


def address_literal(address: str) -> str:
    """The HELO/domain literal of a client address: `[192.0.2.7]`, `[IPv6:2001:db8::7]`."""
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def domain_of(address: str) -> str:
    """What follows the last `@` ("" without one)."""
    at = address.rfind("@")
    return address[at + 1:] if at >= 0 else ""
