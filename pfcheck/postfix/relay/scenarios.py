"""The attacker's choices: candidate clients, HELO names, senders and recipients.

The client is a *fresh* address (outside the trusted set, not named by a client table), with
no reverse name or with one in its own domain; it picks the HELO name (or none) and the sender
(the null sender, forged local senders, keys of the sender tables), and recipients at a domain
no parameter names, in the routed forms nmap's smtp-open-relay tries. See the package docstring.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Tuple

from pfcheck.postfix.relay.access import ACCESS_COMMANDS
from pfcheck.postfix.relay.syntax import address_literal
from pfcheck.postfix.relay.lists import RCPT_LIST, RELAY_LIST, RESTRICTION_LIST_PARAMETERS
from pfcheck.postfix.relay.lookups import may_permit
from pfcheck.postfix.tables import address_lookup_keys
from pfcheck.postfix.relay.session import Client

if TYPE_CHECKING:  # annotations only
    from pfcheck.postfix.relay.evaluator import Evaluator

# The attacker (see the module docstring).
ATTACKER_IPV4 = ("203.0.113.7", "198.51.100.7", "192.0.2.7", "198.18.0.7")
ATTACKER_IPV6 = ("2001:db8::7", "3fff::7", "2001:2::7")
ATTACKER_DOMAIN = "attacker.example"
ATTACKER_HOSTNAME = "probe." + ATTACKER_DOMAIN
RELAY_TARGET_DOMAIN = "relay-target.example"
RELAY_TARGET_LITERAL = "[198.51.100.9]"
RELAY_TARGET_LOCALPART = "relaytest"
# Other foreign domains a recipient may name when routing bounces RELAY_TARGET_DOMAIN.
ALTERNATIVE_TARGET_DOMAINS = ("relay-target.net", "relay-target.org")
_MAX_ROUTE_KEYS = 20  # transport table keys tried as recipients (each one costs an evaluation)


class Scenarios:
    """Candidate clients, HELO names, senders and recipients (see module docstring)."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.model = evaluator.address_model
        self.tokens_by_kind = self._tables_by_kind()

    def _all_tokens(self) -> Iterator[Tuple[str, List[str]]]:
        evaluator = self.evaluator
        for parameter in RESTRICTION_LIST_PARAMETERS:
            yield parameter, evaluator.lists[parameter]
        for name, expansion in evaluator.classes.items():
            yield name, list(expansion)

    def _tables_by_kind(self) -> Dict[str, List[str]]:
        """Tables consulted per lookup kind (client, helo, sender, recipient)."""
        defaults = {"smtpd_client_restrictions": "client", "smtpd_helo_restrictions": "helo",
                    "smtpd_sender_restrictions": "sender", RELAY_LIST: "recipient",
                    RCPT_LIST: "recipient"}
        result: Dict[str, List[str]] = {"client": [], "helo": [], "sender": [], "recipient": []}
        for parameter, tokens in self._all_tokens():
            index = 0
            while index < len(tokens):
                token = tokens[index]
                lowered = token.lower()
                if lowered in ACCESS_COMMANDS and index + 1 < len(tokens):
                    kind = ACCESS_COMMANDS[lowered]
                    if kind in result:
                        result[kind].append(tokens[index + 1])
                    index += 2
                    continue
                if ":" in token:
                    stage_kind = defaults.get(parameter)
                    if stage_kind is not None:
                        result[stage_kind].append(token)
                    else:  # a class used in some list: its bare tables could be any kind
                        for any_kind in ("helo", "sender", "recipient"):
                            result[any_kind].append(token)
                index += 1
        return result

    def _keys(self, kind: str) -> List[Tuple[str, str]]:
        keys: List[Tuple[str, str]] = []
        for token in self.tokens_by_kind.get(kind, []):
            entries = self.evaluator.tables.entries(token)
            if not entries:
                continue
            for entry in entries:
                keys.append((entry.key.strip(), entry.value.strip()))
        return keys

    def uses(self, restriction: str) -> bool:
        return any(token.lower() == restriction for _, tokens in self._all_tokens() for token in tokens)

    def _client_hits(self, address: str) -> List[Tuple[str, Any, str]]:
        """Entries of client-keyed tables that this address hits: (table, entry id, value)."""
        hits: List[Tuple[str, Any, str]] = []
        for token in self.tokens_by_kind.get("client", []):
            for key, partial in address_lookup_keys(address):
                result = self.evaluator.tables.lookup(token, key, partial)
                if not result.known:
                    break
                if result.value is not None:
                    hits.append((token, result.location or key, result.value))
                    break
        return hits

    def clients(self) -> List[Client]:
        """One representative untrusted client per enabled address family, without and with a
        forward-confirmed reverse name.

        The representative is a *fresh* address: not trusted, and not named specifically by a
        client-address table entry. An entry that matches every probe address (0.0.0.0/0,
        static:) applies to the representative; an entry that matches only some probes (a
        partner network, a blocked range) is a specific grant or block: the attacker simply
        uses another address, and grants are reported by client_grants()."""
        evaluator = self.evaluator
        families: List[Tuple[int, Tuple[str, ...]]] = []
        if evaluator.ipv4_enabled:
            families.append((4, ATTACKER_IPV4))
        if evaluator.ipv6_enabled:
            families.append((6, ATTACKER_IPV6))
        clients: List[Client] = []
        for family, probes in families:
            # The common case first: a probe that is neither trusted nor in any client table.
            untouched = None
            for address in probes:
                if evaluator.trust.match(address, "unknown")[0] is False and not self._client_hits(address):
                    untouched = address
                    break
            if untouched is not None:
                clients.append(Client(untouched, "unknown", False, "unknown", False, None))
                clients.append(Client(untouched, ATTACKER_HOSTNAME, True, ATTACKER_HOSTNAME, True, None))
                continue
            trust = {address: evaluator.trust.match(address, "unknown")[0] for address in probes}
            hits = {address: self._client_hits(address) for address in probes}
            counts: Dict[Tuple[str, Any], int] = {}
            for found in hits.values():
                for token, entry, _ in found:
                    counts[(token, entry)] = counts.get((token, entry), 0) + 1
            # An entry that catches all probes but (at most) one is broad (0.0.0.0/0 after a
            # blocked range); one that catches fewer names specific networks.
            broad = {key for key, number in counts.items() if number >= len(probes) - 1}

            def specific(address: str) -> List[str]:
                return [value for token, entry, value in hits[address] if (token, entry) not in broad]

            fresh = [address for address in probes
                     if trust[address] is not True and not any(may_permit(value) for value in specific(address))]
            fresh.sort(key=lambda address: bool(specific(address)))
            forced: Optional[bool] = None
            if not fresh:
                untrusted = [address for address in probes if trust[address] is not True]
                other = evaluator.trust.untrusted_address(family) if not untrusted else None
                if untrusted:
                    fresh = untrusted[:1]
                elif other is not None:
                    fresh = [other]
                else:
                    # The whole family is trusted: every client relays through permit_mynetworks,
                    # which is still an open relay (to everyone).
                    fresh = [probes[0]]
                    forced = True
            address = fresh[0]
            clients.append(Client(address, "unknown", False, "unknown", False, forced))
            clients.append(Client(address, ATTACKER_HOSTNAME, True, ATTACKER_HOSTNAME, True, forced))
        return clients

    def helos(self, client: Client) -> List[Optional[str]]:
        helos: List[Optional[str]] = [ATTACKER_HOSTNAME, address_literal(client.address)]
        if not self.evaluator.helo_required:
            helos.append(None)
        helos.append(self.model.myhostname)
        if self.uses("permit_naked_ip_address"):
            helos.append(client.address)
        for key, _ in self._keys("helo"):
            if key and not key.startswith("/") and " " not in key:
                helos.append("probe" + key if key.startswith(".") else key)
        return _unique(helos)

    def senders(self) -> List[str]:
        senders = [f"probe@{ATTACKER_DOMAIN}", "", f"postmaster@{self.model.myhostname}",
                   f"probe@{self.model.mydomain}"]
        for key, _ in self._keys("sender"):
            key = key.strip()
            if not key or key.startswith("/") or " " in key:
                continue
            if key == self.evaluator.null_key:
                senders.append("")
            elif key.endswith("@"):
                senders.append(key + ATTACKER_DOMAIN)
            elif "@" in key:
                senders.append(key if not key.startswith("@") else "probe" + key)
            else:
                senders.append("probe@" + ("probe" + key if key.startswith(".") else key))
        return _unique(senders)

    def recipients(self) -> List[Tuple[str, str]]:
        """(recipient as sent, target domain) pairs whose resolved destination is the target."""
        target = f"{RELAY_TARGET_LOCALPART}@{RELAY_TARGET_DOMAIN}"
        host = self.model.myhostname
        candidates: List[Tuple[str, str]] = [
            (target, RELAY_TARGET_DOMAIN),
            (f"{RELAY_TARGET_LOCALPART}@{RELAY_TARGET_LITERAL}", RELAY_TARGET_LITERAL),
            # nmap smtp-open-relay forms (internal form, as smtpd hands them to the resolver)
            (f"{RELAY_TARGET_LOCALPART}%{RELAY_TARGET_DOMAIN}@{host}", RELAY_TARGET_DOMAIN),
            (f"{target}@{host}", RELAY_TARGET_DOMAIN),
            (f"{RELAY_TARGET_DOMAIN}!{RELAY_TARGET_LOCALPART}@{host}", RELAY_TARGET_DOMAIN),
            (f"{RELAY_TARGET_DOMAIN}!{RELAY_TARGET_LOCALPART}", RELAY_TARGET_DOMAIN),
            (f"\"{target}\"", RELAY_TARGET_DOMAIN),
        ]
        for key, _ in self._keys("recipient"):
            key = key.strip().lower()
            if not key or key.startswith("/") or " " in key or key.startswith("["):
                continue
            if key.endswith("@"):
                candidates.append((key + RELAY_TARGET_DOMAIN, RELAY_TARGET_DOMAIN))
            elif "@" not in key and "." not in key.strip("."):
                domain = f"relay-target.{key.strip('.')}"
                candidates.append((f"{RELAY_TARGET_LOCALPART}@{domain}", domain))
        candidates += self._route_alternatives()
        usable: List[Tuple[str, str]] = []
        for recipient, domain in candidates:
            internal = recipient[1:-1] if recipient.startswith('"') and recipient.endswith('"') else recipient
            resolved = self.model.resolve(internal)
            if resolved.error or resolved.domain.lower() != domain.lower():
                continue
            if resolved.cls not in ("default", "relay"):
                continue
            usable.append((internal, domain))
        return _unique(usable)

    def _route_alternatives(self) -> List[Tuple[str, str]]:
        """Recipients outside the routing entries that reject relay-target.example: when
        transport_maps (or relocated_maps, or an error relay/default transport) bounces some
        domains, an attacker picks another one. Domains named by transport entries are tried
        too (a `* error:` wildcard with exceptions relays exactly those)."""
        router = self.model.router
        target = f"{RELAY_TARGET_LOCALPART}@{RELAY_TARGET_DOMAIN}"
        base = self.model.route_of(self.model.resolve(target))
        if not (router.transport_maps or router.relocated_maps or base.rcpt_reply(target) is not None):
            return []
        domains: List[str] = list(ALTERNATIVE_TARGET_DOMAINS)
        addresses: List[str] = []
        for token in router.transport_maps:
            for entry in (self.evaluator.tables.entries(token) or [])[:_MAX_ROUTE_KEYS]:
                key = entry.key.strip().lower()
                if not key or key == "*" or key.startswith("[") or " " in key:
                    continue
                if "@" in key:
                    addresses.append(key)
                elif key.startswith("."):
                    domains.append("relay-target" + key)
                else:
                    domains.append(key)
                    if router.parent_style:
                        domains.append(f"relay-target.{key}")
        result = [(f"{RELAY_TARGET_LOCALPART}@{domain}", domain) for domain in domains]
        result += [(address, address.rpartition("@")[2]) for address in addresses if not address.startswith("@")]
        return result


def _unique(items: Iterable[Any]) -> List[Any]:
    seen: List[Any] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
