"""Client certificates are matched by an MD5 or SHA-1 fingerprint (PF511, weak-fingerprint-digest).

## What it does
Warns for every smtpd listener reachable from other hosts with TLS on whose restriction lists
(and the restriction classes they name) use `permit_tls_clientcerts` or `check_ccert_access`
while the effective `smtpd_tls_fingerprint_digest` is `md5` or `sha1` (any case). The
default counts: it is `md5` below `compatibility_level = 3.6` and `sha256` from there (the
target version's defaults decide, per listener).

## Why is this bad?
These restrictions grant access (relaying, typically) to clients whose certificate
fingerprint is listed. MD5 and SHA-1 collisions can be computed: a forged certificate with a
listed fingerprint gets the same access. COMPATIBILITY_README explains the 3.6 change of the
default to sha256.

## Example
    # main.cf
    compatibility_level = 2
    relay_clientcerts = hash:/etc/postfix/relay_clientcerts
    smtpd_relay_restrictions = permit_tls_clientcerts, reject_unauth_destination

## Use instead
    # main.cf (and re-list the fingerprints with the new digest)
    smtpd_tls_fingerprint_digest = sha256

## References
- postconf(5): smtpd_tls_fingerprint_digest, permit_tls_clientcerts, check_ccert_access,
  relay_clientcerts
- COMPATIBILITY_README ("Using SHA256 instead of MD5 for certificate fingerprints")
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import tls_facts
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.tls_common import restriction_words, shown

ID = "PF511"
NAME = "weak-fingerprint-digest"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}
FINGERPRINT_RESTRICTIONS = frozenset({"permit_tls_clientcerts", "check_ccert_access"})
WEAK_DIGESTS = frozenset({"md5", "sha1"})


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in judged_listeners(ctx):
        if not tls_facts.smtpd_tls(listener).use_tls:
            continue
        digest = listener.scope.get("smtpd_tls_fingerprint_digest")
        if digest.expanded.strip().lower() not in WEAK_DIGESTS:
            continue
        used = sorted({f"{word} in {name}" for name, word in restriction_words(listener)
                       if word in FINGERPRINT_RESTRICTIONS})
        if not used:
            continue
        path, line, column = ctx.location_of(digest, listener)
        level = listener.scope.get("compatibility_level")
        why = f" (compatibility_level = {level.expanded.strip() or '0'})" if digest.origin.is_default else ""
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} matches client certificates by a weak fingerprint: "
            f"{shown(ctx, digest, listener)}{why}, used by {', '.join(used)} ({listener.binding})",
            service=listener.key, parameter=digest.name, expected="sha256",
            actual=digest.expanded, from_default=digest.origin.is_default,
        )
