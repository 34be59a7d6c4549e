"""The keys smtpd looks up in an access table for a hostname or a client address.

The canonical builders (smtpd_check.c `check_domain_access()` and `check_addr_access()`):
`Table.client_access_lookup()` here uses them, and so can any other evaluator of access
restrictions. Each key comes with `is_partial`: a key other than the full name or address,
which maps_find() looks up only in DICT_FLAG_FIXED tables (`TableType.fixed`).
"""
from __future__ import annotations

from pfcheck.postfix.addresses import parse_ipv4, parse_ipv6

#: (key, is_partial).
LookupKey = tuple[str, bool]


def domain_lookup_keys(name: str, *, parent_style: bool) -> list[LookupKey]:
    """check_domain_access(): (key, is_partial) for a hostname and its parent domains.

    `name` as the table is asked (the caller folds case). A numerical name (inet_pton()
    accepts it) gets no parent domains. With `parent_style` (the table's parameter is in
    parent_domain_matches_subdomains) the parents are `example.com`, else `.example.com`.
    A HELO name may end in "."; the empty rest after that dot is never looked up (Postfix's
    loop stops at the end of the name)."""
    keys = [(name, False)]
    if parse_ipv4(name) is not None or parse_ipv6(name) is not None:
        return keys  # "Don't apply subdomain magic to numerical hostnames."
    return keys + [(parent, True) for parent in parent_domains(name, parent_style=parent_style)]


def parent_domains(name: str, *, parent_style: bool) -> list[str]:
    """The parent domains smtpd tries after `name`: `example.com` then `com` (parent style), or
    `.example.com` then `.com`; the empty rest after a final "." is never one."""
    parents: list[str] = []
    rest = name
    while True:
        dot = rest.find(".", 1)
        if dot < 0:
            break
        rest = rest[dot + 1:] if parent_style else rest[dot:]
        if not rest:
            break
        parents.append(rest)
    return parents


def address_lookup_keys(text: str) -> list[LookupKey]:
    """check_addr_access(): the address text, then repeatedly cut at the last '.' or ':'."""
    delimiter = ":" if ":" in text else "."
    keys = [(text, False)]
    current = text
    while delimiter in current:
        current = current[: current.rindex(delimiter)]
        if not current:
            break  # maps_find() returns "not found" for an empty key
        keys.append((current, True))
    return keys
