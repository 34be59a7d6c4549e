"""What master(8) binds for an `inet` service, and what smtpd says in its greeting.

`service_binding(name, inet_interfaces, inet_protocols)` follows master_ent.c:

* The service name goes through host_port(): `host:port`, `[host]:port`, `[ipv6:addr]:port`,
  or a bare `port` / `:port`. With a host part, master binds the addresses of that host
  (inet_addr_host(): getaddrinfo(), families that `inet_protocols` disables skipped; none left
  is master's fatal "bad hostname or network address"). `0.0.0.0` and `[::]` are the
  wildcard of one family.
* Without one, `inet_interfaces` decides, read by master from main.cf only (a `-o` cannot
  change it). The whole value `all` (strcasecmp) binds the wildcard of every enabled family
  (wildcard_inet_addr.c: 0.0.0.0 and ::, IPv6 with IPV6_V6ONLY); the whole value
  `loopback-only` (strcmp) binds the loopback addresses of the host's interfaces
  (own_inet_addr.c: 127.0.0.1 and ::1 on every Linux host); anything else is a list (" \\t,"
  separated) of addresses and host names, each looked up with inet_addr_host(). An empty
  value is master's fatal "no valid IP address found" (observed, 3.7.11).
* `inet_protocols` enabling no family disables every inet service (master_ent.c: "disabling
  all type inet services"): nothing is bound.

Host names (and `localhost`, `ALL`, ...) resolve on the mail host: their addresses are a host
fact, which pfcheck never guesses (PF907). `localhost` is loopback on every host; any other
name is read as reachable from other hosts, the safe reading. An address in `inet_interfaces`
must also be on one of the host's interfaces (PF907 again).

A listener is reachable from other hosts when master binds it to any address outside
sock_addr_in_loopback() (127.0.0.0/8 and ::1 exactly), or to a name other than localhost.
ConfigDir.listens_remotely() reads `remote` here: there is one reachability computation.

`greeting_banner(scope)` is the text after `220 ` in smtpd's greeting: `smtpd_banner` as
the daemon expands it (smtpd.c: `smtpd_chat_reply(state, "220 %s", var_smtpd_banner)`), with
main.cf, the service's `-o` and the defaults, as Scope computes every value.
Live proof: tests/live/test_listening_live.py (binds in a private network namespace,
greetings of a private smtpd).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from pfcheck.postfix.addresses import (
    GLOBAL_ADDRESSES,
    IPV4,
    IPV6,
    enabled_families,
    format_address,
    parse_ipv4,
    parse_ipv6,
)

if TYPE_CHECKING:
    from pfcheck.postfix.config import ConfigDir, Listener, Scope

#: Wildcard and loopback addresses per family, as master binds them.
WILDCARD = {IPV4: "0.0.0.0", IPV6: "::"}
LOOPBACK = {IPV4: "127.0.0.1", IPV6: "::1"}

#: IANA service names of mail services (what every /etc/services has); other names stay
#: symbolic (the mail host's /etc/services decides).
WELL_KNOWN_PORTS = {
    "smtp": 25, "submission": 587, "submissions": 465, "smtps": 465, "ssmtp": 465,
    "lmtp": 24, "qmtp": 209, "qmqp": 628, "pop3": 110, "imap": 143,
}

#: own_inet_addr.c's separators for the inet_interfaces list.
_INTERFACE_SEPARATORS = re.compile(r"[ \t,]+")


@dataclass(frozen=True)
class Binding:
    """The sockets master opens for one inet service."""

    #: The service name as master.cf writes it.
    service_name: str
    #: The port part as written ("smtp", "2525").
    port: str
    #: "host part" (the service name names a host) or "inet_interfaces".
    source: str
    #: Numeric addresses master binds, as inet_ntop() prints them.
    addresses: tuple[str, ...] = ()
    #: Host names master resolves on the mail host (their addresses are a host fact).
    names: tuple[str, ...] = ()
    #: master's fatal error when it cannot bind this service (then it binds nothing at all).
    error: Optional[str] = None
    #: inet_protocols enables no family: master disables every inet service.
    disabled: bool = False

    @property
    def port_number(self) -> Optional[int]:
        if self.port.isdigit():
            return int(self.port)
        return WELL_KNOWN_PORTS.get(self.port.lower())

    @property
    def remote(self) -> bool:
        """Whether clients on other hosts can connect (unknown names and errors read as yes)."""
        if self.disabled:
            return False
        if self.error is not None:
            return True  # safe reading; PF000 reports what master refuses
        return (any(not is_loopback(address) for address in self.addresses)
                or any(name.lower() != "localhost" for name in self.names))

    @property
    def endpoints(self) -> tuple[str, ...]:
        """`0.0.0.0:25`, `[::]:25`, `localhost:25`: each bound address (or name) with the port."""
        port = str(self.port_number) if self.port_number is not None else self.port
        shown = [f"[{a}]:{port}" if ":" in a else f"{a}:{port}" for a in self.addresses]
        return tuple(shown + [f"{name}:{port}" for name in self.names])

    @property
    def public_addresses(self) -> tuple[str, ...]:
        """The bound addresses that are globally routable (never a wildcard: which addresses
        `0.0.0.0` covers is the host's interfaces, a host fact)."""
        found = []
        for address in self.addresses:
            family = IPV6 if ":" in address else IPV4
            value = parse_ipv6(address) if family == IPV6 else parse_ipv4(address)
            if value is not None and value in GLOBAL_ADDRESSES[family]:
                found.append(address)
        return tuple(found)

    @property
    def wildcard(self) -> bool:
        return any(address in WILDCARD.values() for address in self.addresses)


def is_loopback(address: str) -> bool:
    """sock_addr_in_loopback(): 127.0.0.0/8, or exactly ::1."""
    if ":" in address:
        return parse_ipv6(address) == 1
    value = parse_ipv4(address)
    return value is not None and value >> 24 == 127


def split_service_name(name: str) -> tuple[str, str]:
    """host_port(name, &host, "", &port, 0) as master_ent.c calls it: (host, port), host ""
    when the name has none; `[ipv6:addr]` and `[addr]` lose their brackets."""
    if name.startswith("["):
        inner, _, rest = name[1:].partition("]")
        if inner[:5].lower() == "ipv6:":
            inner = inner[5:]
        return inner, rest[1:] if rest.startswith(":") else rest
    host, colon, port = name.rpartition(":")
    if not colon:
        return "", name
    return host, port


def _families(inet_protocols: str) -> tuple[int, ...]:
    if not _INTERFACE_SEPARATORS.sub("", inet_protocols.replace("\r", "").replace("\n", "")):
        return ()  # inet_proto_init() of an empty value: no family at all
    enabled = enabled_families(inet_protocols)
    return tuple(family for family in (IPV4, IPV6) if family in enabled)


def _host_addresses(host: str, families: tuple[int, ...]) -> tuple[list[str], list[str]]:
    """inet_addr_host(host): (numeric addresses, names resolved on the mail host)."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    for family, parse in ((IPV4, parse_ipv4), (IPV6, parse_ipv6)):
        value = parse(text)
        if value is not None:
            return ([format_address(value, family)] if family in families else []), []
    return [], [host]


def service_binding(service_name: str, inet_interfaces: str, inet_protocols: str) -> Binding:
    """What master binds for the inet service `service_name` (see the module docstring);
    `inet_interfaces` and `inet_protocols` are main.cf's expanded values."""
    host, port = split_service_name(service_name)
    families = _families(inet_protocols)
    if not families:
        return Binding(service_name, port, "host part" if host else "inet_interfaces", disabled=True)
    if host:
        addresses, names = _host_addresses(host, families)
        error = None if addresses or names else f"bad hostname or network address: {service_name}"
        return Binding(service_name, port, "host part", tuple(addresses), tuple(names), error)
    value = inet_interfaces.strip()
    if value.lower() == "all":
        return Binding(service_name, port, "inet_interfaces", tuple(WILDCARD[f] for f in families))
    if value == "loopback-only":
        return Binding(service_name, port, "inet_interfaces", tuple(LOOPBACK[f] for f in families))
    addresses: list[str] = []
    names: list[str] = []
    for word in (w for w in _INTERFACE_SEPARATORS.split(value) if w):
        found, unresolved = _host_addresses(word, families)
        if not found and not unresolved:
            return Binding(service_name, port, "inet_interfaces",
                           error=f"config variable inet_interfaces: host not found: {word}")
        addresses += [a for a in found if a not in addresses]
        names += [n for n in unresolved if n not in names]
    if not addresses and not names:
        return Binding(service_name, port, "inet_interfaces",
                       error=f"no valid IP address found: {service_name}")
    return Binding(service_name, port, "inet_interfaces", tuple(addresses), tuple(names))


def listener_sockets(config: "ConfigDir", listener: "Listener") -> tuple[list[str], Optional[str]]:
    """The address:port sockets master binds for a listener's inet entry points (itself, or the
    postscreen in front of it; host names stay names), and master's fatal when it cannot bind
    one of them (it then binds nothing). `pfcheck show` and the HTML report read this."""
    binds: list[str] = []
    error: Optional[str] = None
    for service in listener.entry_points or ([listener.service] if listener.service.type == "inet" else []):
        binding = config.binding(service)
        error = error or binding.error
        binds += [endpoint for endpoint in binding.endpoints if endpoint not in binds]
    return binds, error


def greeting_banner(scope: "Scope") -> Optional[str]:
    """The text after `220 ` in this smtpd's greeting; None when smtpd_banner does not expand
    (smtpd exits: PF000). Host-dependent parts stay placeholders (`<myhostname>`)."""
    value = scope.get("smtpd_banner")
    if value.error is not None or value.expanded is None:
        return None
    return value.expanded


# --------------------------------------------------------------------------------------------
# What a greeting discloses

#: Operating systems and distributions a banner may name (Debian's packaged main.cf says
#: `(Debian/GNU)`); matched case-insensitively as words.
OS_NAMES = (
    "Debian", "Ubuntu", "Devuan", "Raspbian", "Linux", "GNU", "Red Hat", "RedHat", "RHEL",
    "CentOS", "Fedora", "AlmaLinux", "Rocky Linux", "Oracle Linux", "Amazon Linux", "SUSE",
    "openSUSE", "SLES", "Alpine", "Gentoo", "Slackware", "FreeBSD", "OpenBSD", "NetBSD",
    "DragonFly", "macOS", "Mac OS", "Darwin", "Solaris", "SunOS", "illumos", "AIX", "HP-UX",
)
_OS_PATTERN = re.compile(
    r"(?<![A-Za-z])(" + "|".join(re.escape(name).replace(r"\ ", r"\s*") for name in OS_NAMES) + r")(?![A-Za-z])",
    re.IGNORECASE)
_SOFTWARE_PATTERN = re.compile(r"postfix", re.IGNORECASE)
#: A version number: digits, a dot, digits (3.7, 3.7.11, v2.10-RC1), not inside a longer word.
_VERSION_PATTERN = re.compile(r"(?<![A-Za-z0-9.])[vV]?\d+\.\d+(?:\.\d+)*(?:[-_.~+]?[A-Za-z0-9]+)*(?![A-Za-z0-9])")
#: The placeholder of an unknown mail_version (the patch release of the target series).
MAIL_VERSION_PLACEHOLDER = "<mail_version>"


@dataclass(frozen=True)
class BannerFacts:
    """What the text after `220 ` tells a client beyond the host name."""

    banner: str
    hostname: str
    #: "Postfix" as written in the banner (any case), or None.
    software: Optional[str]
    #: Operating-system names in the banner, as written.
    systems: tuple[str, ...]
    #: Version numbers in the banner (the mail_version value, or anything version-like).
    versions: tuple[str, ...]
    #: Whether the first word is $myhostname.
    starts_with_hostname: bool


def _without_hostname(banner: str, hostname: str) -> str:
    """The banner with every occurrence of the host name blanked: a host called
    debian.example.com names a host, not the OS."""
    if not hostname:
        return banner
    return re.sub(re.escape(hostname), " ", banner, flags=re.IGNORECASE)


def banner_facts(banner: str, hostname: str, mail_version: str) -> BannerFacts:
    """Judge the expanded banner; `hostname` is the expanded $myhostname (or its placeholder),
    `mail_version` the expanded mail_version (or its placeholder)."""
    rest = _without_hostname(banner, hostname)
    software = _SOFTWARE_PATTERN.search(rest)
    systems = tuple(dict.fromkeys(m.group(1) for m in _OS_PATTERN.finditer(rest)))
    versions: list[str] = []
    version = mail_version.strip()
    if version and re.search(r"(?<![A-Za-z0-9.])" + re.escape(version) + r"(?![A-Za-z0-9])", rest):
        versions.append(version)
    versions += [m.group(0) for m in _VERSION_PATTERN.finditer(rest) if m.group(0) not in versions]
    if MAIL_VERSION_PLACEHOLDER in rest and MAIL_VERSION_PLACEHOLDER not in versions:
        versions.append(MAIL_VERSION_PLACEHOLDER)
    first = banner.split(" ", 1)[0].split("\t", 1)[0]
    return BannerFacts(banner, hostname, software.group(0) if software else None, systems,
                       tuple(versions), bool(hostname) and first.lower() == hostname.lower())
