"""Open-relay evaluation: Postfix's SMTP restriction lists evaluated the way smtpd does.

What is modelled (Postfix 3.7 `smtpd/smtpd_check.c`, `trivial-rewrite/resolve.c`):

* `startup_guard` is `has_required()`: the check every smtpd runs when it starts, which makes
  it die with "specify at least one working instance of ..." (the listener then accepts no
  mail at all; pfcheck reports that as REFUSED, not as an open relay).
* `evaluate_relay` decides whether an *untrusted* SMTP client can get RCPT TO for a domain
  that no parameter names accepted (and relayed: not discarded, not bounced through the
  `error` transport). The attacker model:

  - The client address is a *fresh* address: outside the trusted set (`trusted`, normally
    `$mynetworks`) and not named specifically by a client-address table. Probes are the
    documentation addresses 203.0.113.7, 198.51.100.7, 192.0.2.7, 198.18.0.7 and 2001:db8::7,
    3fff::7, 2001:2::7. An entry that matches (nearly) all probes (0.0.0.0/0, static:) applies
    to the attacker; one that matches only some is a partner grant (reported by
    `client_grants()`, a trust question for the mynetworks rules) or a block the attacker
    sidesteps. When the whole family is trusted, a probe is used anyway: a relay open to
    every IPv4 client is an open relay, and `permit_mynetworks` is the token that lets it in.
  - The client controls its own DNS: it has no PTR record ("unknown") or a forward-confirmed
    name in its own domain; its MX/NS/A lookups can fail, which makes Postfix skip the
    `check_*_{mx,ns,a}_access` checks. It chooses the HELO name (or sends none), the envelope
    sender (the null sender, forged local senders as nmap's smtp-open-relay does, and keys of
    the sender tables), and recipients at a domain no parameter names (relay-target.example,
    the literal [198.51.100.9], nmap's routed forms, resolved as trivial-rewrite does).
  - It is not SASL-authenticated, has no client certificate, does not pipeline, and is not
    listed in DNS block lists (RBL lookups that fail are "not listed" in Postfix as well).

  Restrictions whose outcome depends on DNS data the attacker controls are decided in its
  favour and listed in `Witness.assumptions`; when that needs a DNS *answer* (the HELO name's
  A record, an MX record naming this host for `permit_mx_backup`, address verification) the
  witness cannot be replayed offline (`replayable=False`). Things nobody in the model
  controls make the verdict UNPROVEN, with one `Unknown` each: access tables whose contents
  are not in the repository (or are regexp/pcre beyond what pfcheck evaluates),
  `check_policy_service`, a `mynetworks` that cannot be evaluated for the attacker, a
  `relay_domains` pattern table that cannot be read.

* Evaluation order and semantics follow `smtpd_check_rcpt()`: with `smtpd_delay_reject = yes`
  the client, HELO and sender lists are re-run at RCPT TO (with the recipient known, so a
  `reject_unauth_destination` there works); then the relay and recipient lists in the order
  of the version (3.6+: `smtpd_relay_before_recipient_restrictions`); a PERMIT ends only its
  own list, the end of a list is a PERMIT; `warn_if_reject`, `defer_if_permit`,
  `defer_if_reject`, restriction classes (also as access-table results), bare `type:table`
  items, access-table actions (all-numeric = OK, `OK` forbidden in `*_mx/_ns/_a` and reverse
  client tables), unknown restrictions (451), `check_relay_domains` and
  `permit_naked_ip_address` (removed in 3.9: 451), and finally
  `smtpd_reject_unlisted_recipient`.

Address classes (`mydestination`, `relay_domains`, `virtual_*_domains`, `inet_interfaces`
literals) and the routing operators are decided by trivial-rewrite, which reads main.cf and its
own service's `-o`, not smtpd's [observed: `smtpd -o relay_domains=static:all` still answers
"Relay access denied"; the same `-o` on the `rewrite` service relays anything]. Pass the scope
of the trivial-rewrite service the listener asks (rules: `program_scopes.rewrite_scope()`) as
`rewrite_params`.
A domain in mydestination or virtual_*_domains is delivered locally, never relayed, so lists
of those that pfcheck cannot read are taken not to name the relay target (noted in `notes`).
The route (channel/nexthop: `*_transport`, `transport_maps`, `relocated_maps`) comes from
`resolve.Router`; smtpd rejects a recipient whose route is `error`/`retry` in check_rcpt_maps()
(implicit smtpd_reject_unlisted_recipient, reject_unlisted_*), unless canonical or virtual alias
maps know it. A route table pfcheck cannot read makes the verdict UNPROVEN (it may bounce the
recipient or send it anywhere); when routes bounce relay-target.example, other foreign domains
(and the domains transport entries name) are tried as recipients.

The package, one module per concern, each importing only modules listed before it (the
handlers name the Evaluator in annotations only):

* `syntax`: host name and address syntax; `model`: what the evaluator needs
  (EffectiveParams, AddressListLike, TableResolverLike) and the results (Verdict, GuardResult,
  Unknown, Witness, RelayVerdict, ClientGrant); `settings`: how parameter values read
  (through defaults, numbers, addresses and networks) and which ones Postfix refuses; `lists`: restriction lists and classes.
* `guard`: the start-up guard (has_required, PF303).
* `lookups`: tables and access-table results as the evaluator sees them, lookup keys;
  `trust`: the trusted set (mynetworks); `rewrite`: trivial-rewrite (address classes,
  resolve_addr(), routes through pfcheck.postfix.resolve).
* `session`: the attempt being judged and the state of one evaluation branch.
* `access`: the check_*_access restrictions and access-table actions; `recipients`:
  authorized destinations and recipient validation (check_rcpt_maps); `restrictions`:
  RESTRICTIONS, every restriction smtpd knows with its handler.
* `evaluator`: the Evaluator (generic_checks(), smtpd_check_rcpt()); `scenarios`: the
  attacker's choices; `verdict`: evaluate_relay() and client_grants().
"""
from __future__ import annotations

from pfcheck.postfix.relay.syntax import smtp_address
from pfcheck.postfix.relay.guard import REQUIRED_RESTRICTIONS, startup_guard
from pfcheck.postfix.relay.lists import RESTRICTION_LIST_PARAMETERS, split_restrictions
from pfcheck.postfix.relay.model import (
    AddressListLike,
    ClientGrant,
    EffectiveParams,
    GuardResult,
    Location,
    RelayVerdict,
    TableResolverLike,
    Unknown,
    Verdict,
    Witness,
)
from pfcheck.postfix.relay.restrictions import DOMAIN_ARGUMENT, KNOWN_RESTRICTIONS, RESTRICTIONS, SIMPLE_NAMES
from pfcheck.postfix.relay.scenarios import (
    ALTERNATIVE_TARGET_DOMAINS,
    ATTACKER_DOMAIN,
    ATTACKER_HOSTNAME,
    ATTACKER_IPV4,
    ATTACKER_IPV6,
    RELAY_TARGET_DOMAIN,
    RELAY_TARGET_LITERAL,
    RELAY_TARGET_LOCALPART,
)
from pfcheck.postfix.relay.session import replace
from pfcheck.postfix.relay.verdict import client_grants, evaluate_relay

__all__ = [
    "ALTERNATIVE_TARGET_DOMAINS",
    "ATTACKER_DOMAIN",
    "ATTACKER_HOSTNAME",
    "ATTACKER_IPV4",
    "ATTACKER_IPV6",
    "DOMAIN_ARGUMENT",
    "KNOWN_RESTRICTIONS",
    "RELAY_TARGET_DOMAIN",
    "RELAY_TARGET_LITERAL",
    "RELAY_TARGET_LOCALPART",
    "REQUIRED_RESTRICTIONS",
    "RESTRICTIONS",
    "RESTRICTION_LIST_PARAMETERS",
    "SIMPLE_NAMES",
    "AddressListLike",
    "ClientGrant",
    "EffectiveParams",
    "GuardResult",
    "Location",
    "RelayVerdict",
    "TableResolverLike",
    "Unknown",
    "Verdict",
    "Witness",
    "client_grants",
    "evaluate_relay",
    "replace",
    "smtp_address",
    "split_restrictions",
    "startup_guard",
]
