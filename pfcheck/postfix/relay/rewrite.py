"""trivial-rewrite as smtpd asks it: which domains are ours, and resolve_addr() for one address.

Address classes (`mydestination`, `relay_domains`, `virtual_*_domains`, `inet_interfaces`
literals) and the routing operators (`%`, `!`, quoted local parts) are decided here, from the
parameters trivial-rewrite reads (main.cf, not smtpd's `-o`). The route of a resolved address
(channel and nexthop) comes from `pfcheck.postfix.resolve.Router`.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

from pfcheck.postfix.lines import split_comma_space
from pfcheck.postfix.relay.syntax import strip_brackets, valid_hostaddr, valid_hostname, valid_mailhost_addr
from pfcheck.postfix.relay.lists import split_restrictions
from pfcheck.postfix.relay.lookups import Tables, lookup_failed
from pfcheck.postfix.relay.model import EffectiveParams
from pfcheck.postfix.relay.settings import Readings
from pfcheck.postfix.resolve import Route, Router
from pfcheck.postfix.tables import domain_lookup_keys


class DomainList:
    """A Postfix domain/string list (`match_list.c`) three-valued: True/False/None."""

    def __init__(self, value: str, parameter: str, tables: Tables, parent_matching: bool,
                 string_list: bool, final_class: bool = False) -> None:
        self.parameter = parameter
        self.parent_matching = parent_matching
        self.string_list = string_list
        # A domain in mydestination or virtual_*_domains is delivered here, never relayed: for
        # the relay verdict an undecidable membership can be taken as "not listed".
        self.final_class = final_class
        self.tables = tables
        self.patterns: List[str] = []
        self.assumptions: List[str] = []
        self.failures: List[str] = []
        self._add(value, 0)

    def _add(self, value: str, depth: int) -> None:
        for token in split_restrictions(value):
            if token.startswith("#"):
                break  # "comment at end of line is not supported": the rest is dropped
            bare = token.lstrip("!")
            if bare.startswith("/") and depth < 10:
                content = self.tables.read_file(bare)
                if content is not None and bare == token:
                    # "/file/name" is replaced by its contents (lines starting with # skipped).
                    for line in content.splitlines():
                        if not line.lstrip().startswith("#"):
                            self._add(line, depth + 1)
                    continue
            self.patterns.append(token)

    def _undecided(self, name: str, detail: str) -> Tuple[Optional[bool], str]:
        if self.final_class:
            note = (f"{detail}: if it listed {name}, mail for it would be delivered here, "
                    "not relayed")
            if note not in self.assumptions:
                self.assumptions.append(note)
            return False, ""
        return None, detail

    def match(self, name: str) -> Tuple[Optional[bool], str]:
        name = name.lower()
        for raw in self.patterns:
            pattern = raw
            polarity = True
            while pattern.startswith("!"):
                polarity = not polarity
                pattern = pattern[1:]
            if pattern.startswith("/"):
                # A list file that is not in the repository: a list of specific domains.
                note = f"{self.parameter} file {pattern} (not in the repository) does not list {name}"
                if note not in self.assumptions:
                    self.assumptions.append(note)
                continue
            if ":" in pattern and not pattern.startswith("["):
                found = self._match_table(pattern, name)
                if found is None:
                    undecided = self._undecided(name, f"{self.parameter}: {pattern}")
                    if undecided[0] is None:
                        return undecided
                    continue
                if found:
                    return polarity, pattern
                continue
            pattern = pattern.lower()
            if name == pattern:
                return polarity, raw
            if self.string_list:
                continue
            if self.parent_matching:
                if name.endswith("." + pattern):
                    return polarity, raw
            elif pattern.startswith(".") and name.endswith(pattern) and len(name) > len(pattern):
                return polarity, raw
        return False, ""

    def _match_table(self, token: str, name: str) -> Optional[bool]:
        keys = [(name, False)]
        if not self.string_list:
            keys = domain_lookup_keys(name.lower(), parent_style=self.parent_matching)
        for key, partial in keys:
            result = self.tables.lookup(token, key, partial)
            if lookup_failed(result):
                self.failures.append(f"{self.parameter}: {token}: {result.detail}")
                return False
            if not result.known:
                if self.tables.is_keyed(token):
                    # A keyed table lists specific domains; a domain that no parameter names is
                    # not among them. Recorded so the verdict can say what it assumed.
                    self.assumptions.append(
                        f"{self.parameter} table {token} (not in the repository) does not list {name}")
                    return False
                return None
            if result.value is not None:
                return True
        return False


@dataclass(frozen=True)
class Resolved:
    """What resolve_clnt() answers for one address: the address and domain it resolves to, the
    address class, whether routing operators are left in it (`routed`), and its flags."""

    address: str
    domain: str
    cls: str  # local | alias | virtual | relay | default
    routed: bool
    error: bool = False
    unknown: Optional[str] = None
    fail: Optional[str] = None  # a lookup failed: trivial-rewrite answers RESOLVE_FLAG_FAIL

    @property
    def final(self) -> bool:
        return self.cls in ("local", "alias", "virtual")


def _default_domain() -> str:
    """Postfix's DEF_MYDOMAIN (config.DEFAULT_DOMAIN)."""
    from pfcheck.postfix.config import DEFAULT_DOMAIN  # loaded by then in a pfcheck run

    return DEFAULT_DOMAIN


class AddressModel:
    """trivial-rewrite's view: which domains are ours, and resolve_addr() for one address."""

    def __init__(self, params: EffectiveParams, tables: Tables, version: Optional[str] = None,
                 refused_reads: bool = False) -> None:
        value = params.value
        #: How this model reads its booleans, and what it read that Postfix refuses.
        self.readings = readings = Readings(params, version, refused_reads)
        # An empty myhostname, mydomain or myorigin is refused by Postfix (each must hold at
        # least one character), and params other than a Scope may leave them out; addresses
        # still need a domain. myhostname then reads as localhost (its Postfix default is the
        # machine's name, which pfcheck never takes), mydomain as Postfix's DEF_MYDOMAIN and
        # myorigin as its default, `$myhostname`.
        self.myhostname = value("myhostname").strip() or "localhost"
        self.mydomain = value("mydomain").strip() or _default_domain()
        self.myorigin = value("myorigin").strip() or self.myhostname
        self.mydestination = DomainList(value("mydestination"), "mydestination", tables, False, True, True)
        self.virtual_alias = DomainList(value("virtual_alias_domains"), "virtual_alias_domains", tables,
                                        False, True, True)
        self.virtual_mailbox = DomainList(value("virtual_mailbox_domains"), "virtual_mailbox_domains", tables,
                                          False, True, True)
        self.relay_domains = DomainList(value("relay_domains"), "relay_domains", tables,
                                        readings.listed("relay_domains"), False)
        self.percent_hack = readings.flag("allow_percent_hack")
        self.swap_bangpath = readings.flag("swap_bangpath")
        self.dequoted = readings.flag("resolve_dequoted_address")
        # Its default depends on the version and compatibility_level: an empty value that the
        # params do not set reads as off.
        self.append_dot_mydomain = readings.boolean("append_dot_mydomain", value("append_dot_mydomain"), empty=False)
        # Channels and nexthops (main.cf *_transport, transport_maps, relocated_maps): resolve.py.
        self.router = Router(value, tables.lookup, lookup_failed)
        self.location = params.location
        self._routes: Dict[Tuple[str, str], Route] = {}
        self.own_literals: Set[str] = set()
        for name in ("inet_interfaces", "proxy_interfaces"):
            for item in split_comma_space(value(name)):
                item = strip_brackets(item)
                if valid_hostaddr(item):
                    self.own_literals.add(str(ipaddress.ip_address(item)))
        self._cache: Dict[str, Resolved] = {}

    def assumptions(self) -> List[str]:
        result: List[str] = []
        for domain_list in (self.mydestination, self.virtual_alias, self.virtual_mailbox, self.relay_domains):
            for item in domain_list.assumptions:
                if item not in result:
                    result.append(item)
        return result

    def is_local(self, domain: str) -> Optional[bool]:
        domain = domain[:-1] if domain.endswith(".") and not domain.endswith("..") else domain
        if not domain or domain.endswith("."):
            return False
        matched, _ = self.mydestination.match(domain)
        if matched:
            return True
        if domain.startswith("[") and domain.endswith("]"):
            inner = domain[1:-1]
            if inner[:5].lower() == "ipv6:":
                inner = inner[5:]
            if valid_hostaddr(inner) and str(ipaddress.ip_address(inner)) in self.own_literals:
                return True
        return matched

    def _rewrite_local(self, address: str) -> str:
        """rewrite_tree(local context): bang path / percent hack, @$myorigin, .$mydomain."""
        if "@" not in address:
            if self.swap_bangpath and "!" in address:
                site, _, user = address.partition("!")
                address = f"{user}@{site}"
            elif self.percent_hack and "%" in address:
                user, _, domain = address.rpartition("%")
                address = f"{user}@{domain}"
            else:
                address = f"{address}@{self.myorigin}"
        if self.append_dot_mydomain:
            local, _, domain = address.rpartition("@")
            if domain and "." not in domain and not domain.startswith("["):
                address = f"{local}@{domain}.{self.mydomain}"
        return address

    def resolve(self, address: str) -> Resolved:
        cached = self._cache.get(address)
        if cached is None:
            cached = self._resolve(address)
            self._cache[address] = cached
        return cached

    def _resolve(self, address: str) -> Resolved:
        current = address
        saved_domain: Optional[str] = None
        remote_domain: Optional[str] = None
        for _ in range(len(address) + 100):
            if "@" in current:
                local, _, domain = current.rpartition("@")
                if not domain:
                    remote_domain = domain
                    break
                is_local = self.is_local(domain)
                if is_local is None:
                    return Resolved(current, domain, "default", False, unknown="mydestination")
                if not is_local:
                    remote_domain = domain
                    break
                saved_domain = domain
                current = local
            # `current` is now a local part only; a `@` in it means it is a quoted string.
            quoted = "@" in current
            if not quoted and ((self.swap_bangpath and "!" in current)
                               or (self.percent_hack and "%" in current)):
                current = self._rewrite_local(current)
                continue
            if quoted and self.dequoted:
                # Crack the quoted local part open at its last routing operator.
                current = self._rewrite_local(current)
                continue
            if current in ("", '""'):
                current = "MAILER-DAEMON"
                continue
            if saved_domain is None:
                current = f"{current}@{self.myhostname}"
                continue
            break
        if remote_domain is not None:
            final = current
            domain = remote_domain
        else:
            domain = saved_domain or self.myhostname
            final = f"{current}@{domain}"
        error = False
        if domain.startswith("["):
            error = not valid_mailhost_addr(domain[1:-1]) if domain.endswith("]") else True
        elif not valid_hostname(domain):
            error = True
        cut = min((final.find(char) for char in "@!%" if char in final), default=-1)
        routed = cut >= 0 and final[cut + 1:] != domain
        if error:
            return Resolved(final, domain, "default", routed, error=True)
        if remote_domain is None:
            return Resolved(final, domain, "local", routed)
        for cls, domain_list in (("alias", self.virtual_alias), ("virtual", self.virtual_mailbox),
                                 ("relay", self.relay_domains)):
            failures = len(domain_list.failures)
            matched, detail = domain_list.match(domain)
            if len(domain_list.failures) > failures:
                return Resolved(final, domain, "default", routed, fail=domain_list.failures[-1])
            if matched is None:
                return Resolved(final, domain, "default", routed, unknown=detail)
            if matched:
                return Resolved(final, domain, cls, routed)
        return Resolved(final, domain, "default", routed)

    def route_of(self, resolved: Resolved) -> Route:
        """trivial-rewrite's channel/nexthop for a resolved address. Invalid addresses
        (RESOLVE_FLAG_ERROR) skip it, as resolve_addr() does. The virtual alias class is
        error:User unknown unless virtual_alias_maps knows the address; it is final (never
        relayed), so it is left as accepted here."""
        if resolved.error or resolved.unknown is not None or resolved.fail is not None or resolved.cls == "alias":
            return Route("", "", "")
        key = (resolved.address, resolved.cls)
        route = self._routes.get(key)
        if route is None:
            route = self.router.route(resolved.address, resolved.cls)
            self._routes[key] = route
        return route

    def transport_of(self, resolved: Resolved) -> str:
        """The channel, "" when an unseen table decides it (so nothing counts it as bounced)."""
        route = self.route_of(resolved)
        return "" if route.unknown is not None else route.channel
