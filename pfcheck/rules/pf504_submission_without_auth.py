"""A submission listener works without SASL authentication (PF504, submission-without-auth).

## What it does
Applies to config directories whose policy gives them the `submission` role; without a role
it reports nothing. Fails for every smtpd listener reachable from other hosts on a
submission port (587, or 465; `submission`, `submissions`, `smtps` in master.cf) where

- SASL is off (`smtpd_sasl_auth_enable = no`, the default): no client can authenticate, so
  whatever the listener relays it relays for unauthenticated clients; or
- a client that did not authenticate can relay anyway because `permit_mynetworks` (or
  another grant for trusted clients) comes before the reject: the relay evaluator (the one
  PF301 uses) is run as a client of `mynetworks` that sends no AUTH. The message names the
  client and the line that let it through.

Relaying for clients outside `mynetworks` is an open relay: PF301 reports that.

## Why is this bad?
The submission ports are for the host's own users, who authenticate (RFC 6409). Postfix's
stock master.cf restricts them with `-o smtpd_relay_restrictions=permit_sasl_authenticated,reject`.
Trusting the network instead makes every compromised machine in `mynetworks` a spam source
that needs no password, and leaves no account name in the log.

## Example
    # master.cf
    submission inet n - y - - smtpd
      -o smtpd_tls_security_level=encrypt
      -o smtpd_sasl_auth_enable=yes

    # main.cf: the default relay restrictions trust mynetworks first
    smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination

## Use instead
    # master.cf
    submission inet n - y - - smtpd
      -o smtpd_tls_security_level=encrypt
      -o smtpd_sasl_auth_enable=yes
      -o smtpd_client_restrictions=permit_sasl_authenticated,reject
      -o smtpd_relay_restrictions=permit_sasl_authenticated,reject

## References
- postconf(5): smtpd_sasl_auth_enable, smtpd_relay_restrictions, permit_sasl_authenticated
- Postfix stock master.cf comments (submission service)
- RFC 6409 (Message Submission for Mail)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import ports, tls_facts
from pfcheck.postfix.addresses import IPV4, IPV6, format_address
from pfcheck.postfix.config import Listener
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.program_scopes import rewrite_scope
from pfcheck.rules.pf201_mynetworks_outside_policy import ipv4_enabled, ipv6_enabled, trusted_list
from pfcheck.rules.relay_common import point_at
from pfcheck.rules.tls_common import RELAY_LISTS, restriction_words, role_listeners, shown

ID = "PF504"
NAME = "submission-without-auth"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}
ROLE = "submission"


def trusted_client(ctx: RuleContext, listener: Listener) -> Optional[str]:
    """One address that this listener's `mynetworks` trusts for certain (IPv4 first), or None."""
    scope = listener.scope
    networks = trusted_list(ctx, scope, scope.value("mynetworks")).trusted_networks(
        ipv4_enabled=ipv4_enabled(scope))
    for family, enabled, loopback in ((IPV4, ipv4_enabled(scope), 0x7F000001), (IPV6, ipv6_enabled(scope), 1)):
        trusted = networks.trusted(family)
        if not enabled or not trusted:
            continue
        if loopback in trusted:
            return format_address(loopback, family)
        start, end = trusted.ranges[0]
        # A host address rather than a network's first one when the range has room.
        return format_address(start + 1 if end - start > 2 else start, family)
    return None


def _unauthenticated_relay(ctx: RuleContext, listener: Listener) -> Optional[Any]:
    """The witness of a trusted client relaying without AUTH, else None."""
    from pfcheck.postfix.relay import evaluate_relay

    client = trusted_client(ctx, listener)
    if client is None:
        return None
    verdict = evaluate_relay(
        listener.scope, version=ctx.config.version, resolver=ctx.resolver(), trusted=None,
        rewrite_params=rewrite_scope(ctx, listener).scope, client=client, assumptions=ctx.assumptions,
    )
    return verdict.witness if verdict.is_open else None


def _where(ctx: RuleContext, listener: Listener, witness: Any) -> tuple[Path, int, int]:
    """The relay list that trusts the client (where the fix goes), else the witness's line."""
    if witness.token == "permit_mynetworks":
        for name in RELAY_LISTS:
            if any(word == "permit_mynetworks" for _, word in restriction_words(listener, (name,))):
                return ctx.location_of(listener.scope.get(name), listener)
    return point_at(ctx, witness.location, listener)


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener in role_listeners(ctx, ROLE, ports.is_submission_listener):
        scope = listener.scope
        if not tls_facts.auth_enabled(listener):
            value = scope.get("smtpd_sasl_auth_enable")
            path, line, column = ctx.location_of(value, listener)
            yield make_finding(
                ctx, ID, NAME, path, line, column,
                f"{listener.key} is a submission listener without SASL: "
                f"{shown(ctx, value, listener)}; no client can authenticate ({listener.binding})",
                service=listener.key, parameter=value.name, expected="yes",
                actual=value.expanded, from_default=value.origin.is_default,
            )
            continue
        witness = _unauthenticated_relay(ctx, listener)
        if witness is None:
            continue
        path, line, column = _where(ctx, listener, witness)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key} relays for clients that did not authenticate: {witness.client} "
            f"(trusted by mynetworks) relays to <{witness.recipient}> without AUTH, "
            f"through {witness.token} ({listener.binding})",
            service=listener.key, parameter=witness.parameter,
            expected="permit_sasl_authenticated, reject", actual=witness.token,
            witness={"client": witness.client, "sender": witness.sender, "recipient": witness.recipient},
        )
