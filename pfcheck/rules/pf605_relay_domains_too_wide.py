"""relay_domains covers far more than the domains this host backs up (PF605, relay-domains-too-wide).

## What it does
For every smtpd listener that other hosts reach, reads the `relay_domains` of the
trivial-rewrite service it asks for address classes (main.cf, `-o` on that service, or the
default of the compatibility level; smtpd's own `-o relay_domains` changes nothing) item by
item and reports:

* a `static:` table: every domain is a relay domain;
* a top-level domain: `org` is org, and with `relay_domains` in
  `parent_domain_matches_subdomains` (the default) every domain under it; `.org` is every
  domain under org when relay_domains is not in that list (in it, `.org` matches nothing);
* a key of a table in the repository (`hash:`, `texthash:`, `inline:`) read the same way;
* the implicit `relay_domains = $mydestination` of compatibility_level below 2 (when
  `parent_domain_matches_subdomains` has `relay_domains`): the local domains are delivered
  here, but every *subdomain* of them (`anything.$myhostname`) becomes a relay domain.

Negated items (`!item`) are not reported.

## Why is this bad?
smtpd relays to relay domains for any client (`permit_auth_destination`,
`reject_unauth_destination` let them through). A catch-all turns the host into an open relay
(PF301 reports that with a witness); a top-level domain or an implicit list of subdomains makes
it relay for domains nobody meant to serve, usually without recipient validation.

## Example
    relay_domains = example.com, org
    # or: no compatibility_level, relay_domains unset (it is $mydestination)

## Use instead
    compatibility_level = 3.6
    relay_domains = example.com, backup.example.org

## References
- postconf(5): relay_domains, parent_domain_matches_subdomains
- COMPATIBILITY_README ("relay_domains")
- rules.md §7 row 14
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.addresses import split_list
from pfcheck.postfix.config import Listener, Value
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.program_scopes import ProgramScope, rewrite_scope
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.unknown_names import describe_origin

ID = "PF605"
NAME = "relay-domains-too-wide"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    from pfcheck.postfix.networks import parent_style_for

    for listener in judged_listeners(ctx):
        where = rewrite_scope(ctx, listener)
        value = where.scope.get("relay_domains")
        if value.error is not None:
            continue
        subdomains = parent_style_for("relay_domains", where.scope.value("parent_domain_matches_subdomains"))
        if value.origin.is_default:
            if value.expanded.strip() and subdomains and "$mydestination" in value.raw.replace("${mydestination}", "$mydestination"):
                yield _finding(ctx, listener, where, value, None,
                               f"relay_domains is $mydestination by default below compatibility_level 2 "
                               f"(compatibility_level = {where.scope.compatibility_level()}): every subdomain "
                               f"of {value.expanded.strip()} is a relay domain")
            continue
        for token, _ in split_list(value.expanded):
            if token.startswith("#"):
                break  # match_list: the rest of the value is dropped
            why = _too_wide(token, subdomains) or _table_too_wide(ctx, token, subdomains)
            if why is not None:
                yield _finding(ctx, listener, where, value, token, why)


def _too_wide(token: str, subdomains: bool) -> Optional[str]:
    if token.startswith("!"):
        return None
    if ":" in token and not token.startswith("["):
        if token.lower().startswith("static:"):
            return f"{token} finds every domain: smtpd relays to any domain"
        return None
    if token.startswith("/") or token.startswith("["):
        return None
    return _top_level(token, subdomains)


def _top_level(pattern: str, subdomains: bool) -> Optional[str]:
    """A single-label pattern as match_hostname() reads it: in parent style `org` is org and
    every name under it and `.org` matches nothing (only names ending in "..org"); otherwise
    `org` is org alone and `.org` every name under it."""
    label = pattern.rstrip(".")
    if not label or "." in label.lstrip("."):
        return None
    if label.startswith("."):
        if subdomains:
            return None
        return f"{pattern} is every domain under a top-level domain: smtpd relays to them"
    under = " and every domain under it" if subdomains else ""
    return f"{pattern} is a top-level domain: smtpd relays to it{under}"


def _table_too_wide(ctx: RuleContext, token: str, subdomains: bool) -> Optional[str]:
    """A keyed table in the repository (hash:, texthash:, inline:) whose key is a top-level
    domain: match_hostname() looks up the name and its parent domains (`org` for
    x.example.org in parent style, `.org` otherwise)."""
    from pfcheck.postfix.tables import load_table, parse_table_ref
    from pfcheck.postfix.tables.keyed import KeyedTable

    if token.startswith("!"):
        return None
    ref = parse_table_ref(token)
    if ref is None:
        return None
    table = load_table(ref, ctx.resolver())
    if not isinstance(table, KeyedTable) or table.error:
        return None
    for entry in table.entries.values():
        why = _top_level(entry.raw_key, subdomains)
        if why is not None:
            line = f" (line {entry.line})" if entry.line else ""
            return f"{token} lists {why}{line}"
    return None


def _finding(ctx: RuleContext, listener: Listener, where: ProgramScope, value: Value, token: Optional[str],
             why: str) -> Finding:
    path, line, column = ctx.location_of(value, listener)
    asked = (f" for {where.key}, the trivial-rewrite smtpd asks"
             if where.service is not None and value.origin.kind == "master.cf" else "")
    return make_finding(
        ctx, ID, NAME, path, line, column,
        f"{listener.key}: {why} (relay_domains {describe_origin(ctx, value, listener)}{asked}); it is "
        f"reachable from other hosts ({listener.binding})",
        service=listener.key, parameter="relay_domains", actual=token or value.expanded.strip(),
        expected="the domains this host relays for, by name",
        from_default=value.origin.is_default,
    )
