"""Any certificate from a public CA may relay (PF510, client-cert-relay-public-ca).

## What it does
Fails for every smtpd listener reachable from other hosts with TLS on whose relay lists
(`smtpd_relay_restrictions`, `smtpd_recipient_restrictions`, and the restriction classes they
name) contain `permit_tls_all_clientcerts` while smtpd trusts public certification
authorities for client certificates: `tls_append_default_CA = yes` (the TLS library's default
CAs are added), or `smtpd_tls_CAfile`/`smtpd_tls_CApath` naming a system CA bundle or
directory (`/etc/ssl/certs/ca-certificates.crt`, `/etc/ssl/certs`,
`/etc/pki/tls/certs/ca-bundle.crt`, ...).

## Why is this bad?
`permit_tls_all_clientcerts` permits every client whose certificate verifies against the CAs
smtpd trusts. With public CAs that is anyone who can get a certificate for some domain,
which is free and automatic: an open relay for whoever asks. postconf(5) on
tls_append_default_CA: "no" (the default) "prevents Postfix from trusting third-party
certificates and giving them relay permission with permit_tls_all_clientcerts".

## Example
    # main.cf
    smtpd_tls_ask_ccert = yes
    smtpd_tls_CApath = /etc/ssl/certs
    smtpd_relay_restrictions = permit_tls_all_clientcerts, reject_unauth_destination

## Use instead
    # main.cf: a private CA, or fingerprints
    smtpd_tls_CAfile = /etc/postfix/clients-ca.pem
    tls_append_default_CA = no
    relay_clientcerts = hash:/etc/postfix/relay_clientcerts
    smtpd_relay_restrictions = permit_tls_clientcerts, reject_unauth_destination

## References
- postconf(5): permit_tls_all_clientcerts, tls_append_default_CA, smtpd_tls_CAfile,
  smtpd_tls_CApath, relay_clientcerts
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import tls_facts
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import judged_listeners
from pfcheck.rules.tls_common import RELAY_LISTS, restriction_words, shown

ID = "PF510"
NAME = "client-cert-relay-public-ca"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}
RESTRICTION = "permit_tls_all_clientcerts"
#: System trust stores of the usual platforms (files and directories of public CAs).
PUBLIC_CA_PATHS = frozenset({
    "/etc/ssl/certs",                                      # Debian, Ubuntu, Alpine (directory)
    "/etc/ssl/certs/ca-certificates.crt",                  # Debian, Ubuntu, Alpine, Gentoo
    "/etc/ssl/cert.pem",                                   # Alpine, macOS, OpenBSD
    "/etc/pki/tls/certs",                                  # RHEL, Fedora (directory)
    "/etc/pki/tls/certs/ca-bundle.crt",                    # RHEL, Fedora, CentOS
    "/etc/pki/tls/cert.pem",                               # RHEL, Fedora
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",   # RHEL, Fedora
    "/etc/ssl/ca-bundle.pem",                              # openSUSE, SLES
    "/var/lib/ca-certificates/ca-bundle.pem",              # openSUSE, SLES
    "/usr/local/share/certs/ca-root-nss.crt",              # FreeBSD
    "/etc/ssl/certs/ca-bundle.crt",
    "/usr/share/ssl/certs",
})


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in judged_listeners(ctx):
        if not tls_facts.smtpd_tls(listener).use_tls:
            continue
        lists = sorted({name for name, word in restriction_words(listener, RELAY_LISTS) if word == RESTRICTION})
        if not lists:
            continue
        scope = listener.scope
        public = [scope.get("tls_append_default_CA")] if scope.get("tls_append_default_CA").expanded.strip().lower() == "yes" else []
        public += [scope.get(name) for name in ("smtpd_tls_CAfile", "smtpd_tls_CApath")
                   if scope.get(name).expanded.strip().rstrip("/") in PUBLIC_CA_PATHS]
        if not public:
            continue
        value = public[0]
        path, line, column = ctx.location_of(value, listener)
        trusts = " and ".join(shown(ctx, item, listener) for item in public)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} lets any client with a certificate from a public CA relay: "
            f"{RESTRICTION} in {', '.join(lists)} while smtpd trusts public CAs ({trusts}) "
            f"({listener.binding})",
            service=listener.key, parameter=value.name, actual=value.expanded,
        )
