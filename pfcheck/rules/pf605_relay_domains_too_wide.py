"""relay_domains covers far more than the domains this host backs up (PF605, relay-domains-too-wide).

## What it does
For every smtpd listener that other hosts reach, reads its effective `relay_domains` (main.cf,
`-o`, or the default of the compatibility level) item by item and reports:

* a `static:` table: every domain is a relay domain;
* a single-label item (`com`, `.org`): a top-level domain, and with `relay_domains` in
  `parent_domain_matches_subdomains` (the default) every domain under it;
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
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.unknown_names import describe_origin

ID = "PF605"
NAME = "relay-domains-too-wide"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    from pfcheck.postfix.networks import parent_style_for

    for listener in judged_listeners(ctx):
        value = listener.scope.get("relay_domains")
        if value.error is not None:
            continue
        subdomains = parent_style_for("relay_domains", listener.scope.value("parent_domain_matches_subdomains"))
        if value.origin.is_default:
            if value.expanded.strip() and subdomains and "$mydestination" in value.raw.replace("${mydestination}", "$mydestination"):
                yield _finding(ctx, listener, value, None,
                               f"relay_domains is $mydestination by default below compatibility_level 2 "
                               f"(compatibility_level = {listener.scope.compatibility_level()}): every subdomain "
                               f"of {value.expanded.strip()} is a relay domain")
            continue
        for token, _ in split_list(value.expanded):
            if token.startswith("#"):
                break  # match_list: the rest of the value is dropped
            why = _too_wide(token, subdomains)
            if why is not None:
                yield _finding(ctx, listener, value, token, why)


def _too_wide(token: str, subdomains: bool) -> Optional[str]:
    if token.startswith("!"):
        return None
    if ":" in token and not token.startswith("["):
        if token.lower().startswith("static:"):
            return f"{token} finds every domain: smtpd relays to any domain"
        return None
    if token.startswith("/") or token.startswith("["):
        return None
    label = token.lstrip(".")
    if label and "." not in label.rstrip("."):
        under = " and every domain under it" if subdomains else ""
        return f"{token} is a top-level domain: smtpd relays to it{under}"
    return None


def _finding(ctx: RuleContext, listener: Listener, value: Value, token: Optional[str], why: str) -> Finding:
    path, line, column = ctx.location_of(value, listener)
    return make_finding(
        ctx, ID, NAME, path, line, column,
        f"{listener.key}: {why} (relay_domains {describe_origin(ctx, value, listener)}); it is "
        f"reachable from other hosts ({listener.binding})",
        service=listener.key, parameter="relay_domains", actual=token or value.expanded.strip(),
        expected="the domains this host relays for, by name",
        from_default=value.origin.is_default,
    )
