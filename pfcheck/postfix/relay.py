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
literals) and the routing operators are decided by trivial-rewrite, which reads main.cf and not
smtpd's `-o` overrides [observed: `smtpd -o relay_domains=static:all` still answers "Relay access
denied"]. Pass the main.cf scope (or the `rewrite` service's scope) as `rewrite_params`.
A domain in mydestination or virtual_*_domains is delivered locally, never relayed, so lists
of those that pfcheck cannot read are taken not to name the relay target (noted in `notes`).
The route (channel/nexthop: `*_transport`, `transport_maps`, `relocated_maps`) comes from
`resolve.Router`; smtpd rejects a recipient whose route is `error`/`retry` in check_rcpt_maps()
(implicit smtpd_reject_unlisted_recipient, reject_unlisted_*), unless canonical or virtual alias
maps know it. A route table pfcheck cannot read makes the verdict UNPROVEN (it may bounce the
recipient or send it anywhere); when routes bounce relay-target.example, other foreign domains
(and the domains transport entries name) are tried as recipients.
"""
from __future__ import annotations

import enum
import ipaddress
import re
import dataclasses
from dataclasses import dataclass
from typing import (
    Any,
    Dict,
    FrozenSet,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Set,
    TYPE_CHECKING,
    Tuple,
    Union,
)

from pfcheck.postfix.lines import split_braced
from pfcheck.postfix.resolve import Route, Router
from pfcheck.postfix.source import read_bounded

if TYPE_CHECKING:  # annotations only: this module imports networks lazily, where it is used
    from pfcheck.policy.assume import Assumptions
    from pfcheck.postfix.networks import IntervalSet

Location = Tuple[str, int]

_PLAIN_FIELDS: Dict[type, FrozenSet[str]] = {}


def replace(obj: Any, **changes: Any) -> Any:
    """dataclasses.replace(), without its cost where that adds nothing.

    The evaluator copies its small frozen state objects millions of times on a large repo;
    dataclasses.replace() (fields() + __init__ with object.__setattr__ per field) was a fifth
    of pfcheck's run time on the corpus. For a dataclass whose fields are all init fields,
    without __post_init__ or __slots__, copying the instance dict and overwriting the changed
    fields builds the same object. Anything else (or a name that is not a field) goes through
    dataclasses.replace().
    """
    cls = type(obj)
    names = _PLAIN_FIELDS.get(cls)
    if names is None:
        fields = dataclasses.fields(cls)
        plain = not hasattr(cls, "__post_init__") and not hasattr(cls, "__slots__") and all(f.init for f in fields)
        names = frozenset(f.name for f in fields) if plain else frozenset()
        _PLAIN_FIELDS[cls] = names
    if not names or not names.issuperset(changes):
        return dataclasses.replace(obj, **changes)
    copied = object.__new__(cls)
    copied.__dict__.update(obj.__dict__)
    copied.__dict__.update(changes)
    return copied


# ----------------------------------------------------------------------------------------
# What the evaluator needs from the rest of pfcheck


class EffectiveParams(Protocol):
    """One listener's effective configuration (main.cf + its `-o` + defaults, expanded).

    An object may also carry `service` (a "smtp/inet" string, or an object with `.key`) used
    only to label results.
    """

    def value(self, name: str) -> str:
        """The fully expanded effective value ("" when unset and without default)."""
        ...

    def location(self, name: str) -> Optional[Location]:
        """(path, line) of the definition in effect, None when it is Postfix's default."""
        ...


class AddressListLike(Protocol):
    """What `pfcheck.postfix.networks.AddressList` offers: `match(address)`."""

    def match(self, address: str) -> Any:
        ...


class TableResolverLike(Protocol):
    """What `pfcheck.postfix.tables.TableResolver` offers: `load(ref) -> Table`."""

    def load(self, ref: Any) -> Any:
        ...


# ----------------------------------------------------------------------------------------
# Public result types


class Verdict(str, enum.Enum):
    OPEN = "open"
    UNPROVEN = "unproven"
    CLOSED = "closed"
    REFUSED = "refused"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class GuardResult:
    """Outcome of smtpd's start-up check of the relay/recipient restriction lists.

    `message` is Postfix's own fatal text when `passes` is False (also for the other start-up
    fatals of the same code: an undefined restriction class, or a class that includes itself,
    which makes smtpd crash). `warnings` are the warnings Postfix logs on the way.
    `satisfied_by` = (parameter, restriction) that made it pass.
    """

    passes: bool
    message: Optional[str] = None
    warnings: Tuple[str, ...] = ()
    satisfied_by: Optional[Tuple[str, str]] = None
    parameter: Optional[str] = None
    location: Optional[Location] = None
    crashes: bool = False


@dataclass(frozen=True)
class Unknown:
    """Something the verdict depends on that pfcheck cannot evaluate.

    kind: "table" (contents not in the repository or of an unsupported type),
    "policy_service" (check_policy_service), "address_list" (mynetworks not evaluable for
    the attacker), "attacker_key" (a regexp rule for HELO/sender data that would permit, for
    which pfcheck cannot write a matching value), "complexity" (too many undecided branches).
    """

    kind: str
    token: str
    parameter: str
    location: Optional[Location]
    detail: str

    def __str__(self) -> str:
        return ": ".join(part for part in (self.parameter, self.token, self.detail) if part)


@dataclass(frozen=True)
class Witness:
    """A concrete SMTP transaction of the untrusted client that Postfix accepts.

    `client_name` None means the client has no reverse DNS name ("unknown"); `helo` None means
    no HELO/EHLO is sent; `sender` "" is the null sender `<>`. `parameter`/`token`/`location`
    name the restriction (or parameter) that lets the mail through, `table_entry` the access
    table line whose action permitted it. `steps` describes every list on the way.
    """

    client: str
    client_name: Optional[str]
    helo: Optional[str]
    sender: str
    recipient: str
    parameter: str
    token: str
    location: Optional[Location]
    table_entry: Optional[Location] = None
    steps: Tuple[str, ...] = ()
    assumptions: Tuple[str, ...] = ()
    replayable: bool = True

    def as_dict(self) -> Dict[str, Any]:
        return {
            "client": self.client,
            "client_name": self.client_name,
            "helo": self.helo,
            "sender": smtp_address(self.sender),
            "recipient": smtp_address(self.recipient),
            # What the transaction rests on beyond what it sends, and whether a test can
            # replay it with XCLIENT (False: it needs a DNS answer, STARTTLS, ...).
            "assumptions": list(self.assumptions),
            "replayable": self.replayable,
        }

    @property
    def smtp_sender(self) -> str:
        """The sender as written in MAIL FROM:<...> ("" for the null sender)."""
        return smtp_address(self.sender)

    @property
    def smtp_recipient(self) -> str:
        """The recipient as written in RCPT TO:<...> (local part quoted when needed)."""
        return smtp_address(self.recipient)


@dataclass(frozen=True)
class RelayVerdict:
    verdict: Verdict
    service: str
    guard: GuardResult
    witness: Optional[Witness] = None
    unknowns: Tuple[Unknown, ...] = ()
    notes: Tuple[str, ...] = ()
    scenarios: int = 0
    #: Policy assumptions (pfcheck.policy.assume.Assumption) the verdict rests on: those on
    #: the witness's path (OPEN); those without which it would be UNPROVEN (CLOSED); every one
    #: consulted (UNPROVEN). `consulted`: every assumption some branch looked up.
    assumed: Tuple[Any, ...] = ()
    consulted: Tuple[Any, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.verdict is Verdict.OPEN


@dataclass(frozen=True)
class ClientGrant:
    """A client-keyed permit in a relay-relevant list for a client outside the trusted set.

    `entry` is the table key that matches `address`; `relays` tells whether that client can
    actually relay through this listener (the full evaluation with it as the client).
    `assumptions`/`replayable` are those of that evaluation's witness (see `Witness`).
    """

    parameter: str
    token: str
    location: Optional[Location]
    entry: str
    entry_location: Optional[Location]
    address: str
    relays: bool
    assumptions: Tuple[str, ...] = ()
    replayable: bool = True


# ----------------------------------------------------------------------------------------
# Restriction names (Postfix 3.7 generic_checks)

REQUIRED_RESTRICTIONS: Tuple[str, ...] = (
    "reject_unauth_destination",
    "defer_unauth_destination",
    "reject",
    "defer",
    "defer_if_permit",
    "check_relay_domains",
)
RESTRICTION_LIST_PARAMETERS = (
    "smtpd_client_restrictions",
    "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
)
_RELAY_LIST = "smtpd_relay_restrictions"
_RCPT_LIST = "smtpd_recipient_restrictions"
_BUILTIN_CLASSES: Dict[str, Tuple[str, ...]] = {
    "reject_sender_login_mismatch": (
        "reject_authenticated_sender_login_mismatch",
        "reject_unauthenticated_sender_login_mismatch",
    ),
}
# check_xxx_access commands and the lookup they perform.
_MAP_COMMANDS: Dict[str, str] = {
    "check_client_access": "client",
    "check_reverse_client_hostname_access": "reverse_client",
    "check_helo_access": "helo",
    "check_sender_access": "sender",
    "check_recipient_access": "recipient",
    "check_etrn_access": "etrn",
    "check_ccert_access": "ccert",
    "check_sasl_access": "sasl",
    "check_client_ns_access": "server",
    "check_client_mx_access": "server",
    "check_client_a_access": "server",
    "check_reverse_client_hostname_ns_access": "server",
    "check_reverse_client_hostname_mx_access": "server",
    "check_reverse_client_hostname_a_access": "server",
    "check_helo_ns_access": "server",
    "check_helo_mx_access": "server",
    "check_helo_a_access": "server",
    "check_sender_ns_access": "server",
    "check_sender_mx_access": "server",
    "check_sender_a_access": "server",
    "check_recipient_ns_access": "server",
    "check_recipient_mx_access": "server",
    "check_recipient_a_access": "server",
}
# Restrictions that take one argument that is not a table.
_DOMAIN_ARGUMENT = frozenset({
    "reject_rbl_client", "reject_rbl", "permit_dnswl_client", "reject_rhsbl_client",
    "permit_rhswl_client", "reject_rhsbl_reverse_client", "reject_rhsbl_helo",
    "reject_rhsbl_sender", "reject_rhsbl_recipient",
})
_SIMPLE_NAMES = frozenset({
    "permit", "defer", "reject", "reject_unauth_pipelining", "check_policy_service",
    "defer_if_permit", "defer_if_reject", "sleep", "reject_plaintext_session",
    "reject_unknown_client_hostname", "reject_unknown_client",
    "reject_unknown_reverse_client_hostname", "permit_inet_interfaces", "permit_mynetworks",
    "reject_maps_rbl", "reject_invalid_helo_hostname", "reject_invalid_hostname",
    "reject_unknown_helo_hostname", "reject_unknown_hostname", "permit_naked_ip_address",
    "reject_non_fqdn_helo_hostname", "reject_non_fqdn_hostname", "reject_unknown_address",
    "reject_unknown_sender_domain", "reject_unverified_sender", "reject_non_fqdn_sender",
    "reject_authenticated_sender_login_mismatch", "reject_known_sender_login_mismatch",
    "reject_unauthenticated_sender_login_mismatch", "reject_unlisted_sender",
    "permit_mx_backup", "permit_auth_destination", "reject_unauth_destination",
    "defer_unauth_destination", "check_relay_domains", "permit_sasl_authenticated",
    "permit_tls_all_clientcerts", "permit_tls_clientcerts", "reject_unknown_recipient_domain",
    "reject_non_fqdn_recipient", "check_recipient_maps", "reject_unlisted_recipient",
    "reject_multi_recipient_bounce", "reject_unverified_recipient", "warn_if_reject",
}) | _DOMAIN_ARGUMENT
KNOWN_RESTRICTIONS: FrozenSet[str] = frozenset(_SIMPLE_NAMES | set(_MAP_COMMANDS))

# Separators of restriction lists and of Postfix's other lists (CHARS_COMMA_SP).
_LIST_SEPARATORS = ", \t\r\n"
_MAX_BRANCHES = 4000
#: Steps over all attempts of one listener: past it the remaining attempts are not tried (the
#: verdict is "cannot prove" unless one already tried opens the relay). Real lists take a few
#: thousand steps per listener; a list of 8,000 restrictions would otherwise take minutes.
_MAX_TOTAL_STEPS = 400_000
_MAX_RECURSION = 100

# The attacker (see module docstring).
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


# ----------------------------------------------------------------------------------------
# Small helpers


def split_restrictions(value: str) -> List[str]:
    """Split a restriction list like smtpd_check_parse(): commas/whitespace, `{...}` kept whole."""
    return [token for token, _ in split_braced(value, _LIST_SEPARATORS)]


def _split_simple(value: str) -> List[str]:
    """mystrtok(CHARS_COMMA_SP) without brace handling (smtpd_restriction_classes)."""
    return [item for item in re.split(r"[, \t\r\n]+", value) if item]


_RFC822_SPECIALS = set('()<>@,;:\\".[] \t')


def smtp_address(internal: str) -> str:
    """External (RFC 5321) form of an internal address, as quote_822_local() writes it: the
    local part (everything before the last `@`) is quoted when it contains specials."""
    if not internal:
        return ""
    local, at, domain = internal.rpartition("@")
    if not at:
        local, domain = internal, ""
    needs_quotes = any(char in _RFC822_SPECIALS for char in local.replace(".", "")) or \
        local.startswith(".") or local.endswith(".") or ".." in local
    if needs_quotes:
        local = '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{local}@{domain}" if at else local


def _parse_version(version: str) -> Tuple[int, int]:
    match = re.match(r"\s*(\d+)(?:\.(\d+))?", version or "")
    if not match:
        return (3, 7)
    return int(match.group(1)), int(match.group(2) or 0)


def _compat_at_least(level: str, wanted: Tuple[int, ...]) -> bool:
    """`compatibility_level` compared like Postfix's `<level` (numeric per component)."""
    parts = re.findall(r"\d+", level or "0")[:3] or ["0"]
    numbers = tuple(int(part) for part in parts)
    numbers = numbers + (0,) * (3 - len(numbers))
    wanted = tuple(wanted) + (0,) * (3 - len(wanted))
    return numbers >= wanted


def _is_yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "1")


def _service_label(params: Any) -> str:
    service = getattr(params, "service", None)
    if service is None:
        return getattr(params, "label", "") or ""
    if isinstance(service, str):
        return service
    key = getattr(service, "key", None)
    return str(key) if key is not None else str(service)


_HOSTNAME_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


def _valid_hostname(name: str) -> bool:
    """valid_hostname(): dot-separated labels of letters/digits/hyphen/underscore, not all-numeric."""
    if not name or len(name) > 255 or name.startswith(".") or name.endswith(".") or ".." in name:
        return False
    labels = name.split(".")
    if not all(_HOSTNAME_LABEL.match(label) for label in labels):
        return False
    # An all-numeric last label is an address, not a hostname.
    return not labels[-1].isdigit()


def _valid_hostaddr(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _valid_mailhost_addr(text: str) -> bool:
    """valid_mailhost_addr(): IPv4, or IPv6 with the `IPv6:` prefix."""
    if text[:5].lower() == "ipv6:":
        try:
            ipaddress.IPv6Address(text[5:])
        except ValueError:
            return False
        return True
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _strip_brackets(text: str) -> str:
    if text.startswith("[") and text.endswith("]") and len(text) > 2:
        return text[1:-1]
    return text


def _address_literal(address: str) -> str:
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _domain_of(address: str) -> str:
    at = address.rfind("@")
    return address[at + 1:] if at >= 0 else ""


# ----------------------------------------------------------------------------------------
# The start-up guard (has_required)


class _GuardCrash(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _restriction_classes(params: EffectiveParams) -> Tuple[Dict[str, List[str]], Optional[str], Optional[str]]:
    """Parse smtpd_restriction_classes like smtpd_check_init(): (classes, fatal, bad class)."""
    classes: Dict[str, List[str]] = {}
    for name in _split_simple(params.value("smtpd_restriction_classes")):
        value = params.value(name)
        if not value.strip():
            return classes, f"restriction class `{name}' needs a definition", name
        classes[name] = split_restrictions(value)
    for name, expansion in _BUILTIN_CLASSES.items():
        classes.setdefault(name, list(expansion))
    return classes, None, None


def _has_required(
    tokens: Sequence[str],
    classes: Mapping[str, Sequence[str]],
    warnings: List[str],
    stack: Tuple[str, ...] = (),
) -> Optional[str]:
    """has_required(): the first required restriction found, None when the scan fails."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        lowered = token.lower()
        if lowered == "warn_if_reject" and index + 1 < len(tokens):
            index += 2
            continue
        if lowered == "permit":
            if index + 1 < len(tokens):
                warnings.append(f"restriction `{tokens[index + 1]}' after `{token}' is ignored")
            return None
        if lowered in REQUIRED_RESTRICTIONS:
            return token
        # Class names are looked up case-sensitively (htable_find).
        expansion = classes.get(token)
        if expansion is not None:
            if token in stack:
                raise _GuardCrash(token)
            found = _has_required(expansion, classes, warnings, stack + (token,))
            if found is not None:
                return found
        index += 1
    return None


def _guard_message() -> str:
    names = list(REQUIRED_RESTRICTIONS)
    text = ", ".join(names[:-1]) + " or " + names[-1]
    return (f"in parameter {_RELAY_LIST} or {_RCPT_LIST}, "
            f"specify at least one working instance of: {text}")


def startup_guard(params: EffectiveParams, *, version: str = "3.7") -> GuardResult:
    """Exactly Postfix's start-up check (smtpd_check_init: classes, then has_required).

    smtpd checks smtpd_recipient_restrictions first and smtpd_relay_restrictions only when
    that fails; so the warnings are those Postfix logs.
    """
    classes, class_fatal, bad_class = _restriction_classes(params)
    if class_fatal is not None:
        return GuardResult(False, class_fatal, parameter="smtpd_restriction_classes",
                           location=params.location(bad_class or "smtpd_restriction_classes")
                           or params.location("smtpd_restriction_classes"))
    warnings: List[str] = []
    lists = [(_RCPT_LIST, split_restrictions(params.value(_RCPT_LIST)))]
    if _parse_version(version) >= (2, 10):
        lists.append((_RELAY_LIST, split_restrictions(params.value(_RELAY_LIST))))
    for name, tokens in lists:
        try:
            found = _has_required(tokens, classes, warnings)
        except _GuardCrash as crash:
            return GuardResult(
                False,
                f"restriction class `{crash.name}' includes itself: smtpd recurses without "
                f"limit at start-up and crashes (master: bad command startup -- throttling)",
                tuple(warnings), parameter=name, location=params.location(name), crashes=True)
        if found is not None:
            return GuardResult(True, None, tuple(warnings), (name, found), name, params.location(name))
    location = params.location(_RELAY_LIST) or params.location(_RCPT_LIST)
    return GuardResult(False, _guard_message(), tuple(warnings), parameter=_RELAY_LIST, location=location)


# ----------------------------------------------------------------------------------------
# Tables and address lists, as far as the repository shows them


@dataclass(frozen=True)
class _Lookup:
    """One table lookup: value (None = not found) when known; known False = cannot tell."""

    value: Optional[str]
    known: bool
    location: Optional[Location] = None
    detail: str = ""


@dataclass(frozen=True)
class _Entry:
    key: str
    value: str
    location: Optional[Location]


# Indexed or database tables: lists of specific keys (no patterns, no catch-all by design
# except single-label keys). Pattern tables (regexp, pcre, cidr, static ...) can match anything.
_KEYED_TABLE_TYPES = frozenset({
    "hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "texthash", "ldap", "mysql", "pgsql",
    "sqlite", "nis", "nisplus", "netinfo", "memcache", "internal", "unix", "environ",
})
_LOOKUP_FAILURE = "451 4.3.5 Server configuration error"


_REGEX_META = set("[]{}()*+?|\\^$")
# Table kinds (tables.RegexpTable.kind) whose rules are regular expressions.
_PATTERN_TABLE_KINDS = frozenset({"regexp", "pcre"})


def _lookup_failed(result: _Lookup) -> bool:
    """_Tables.lookup()'s way of saying the lookup failed (Postfix: dict error)."""
    return result.value == _LOOKUP_FAILURE and bool(result.detail)


def _regex_example(pattern: str) -> Optional[str]:
    """A string that a simple regular expression matches: anchors, `.*`/`.+` at the ends,
    one-level `(a|b)` groups (first branch) and escaped punctuation; None otherwise. An
    unescaped `.` matches itself, so it is kept."""
    text = pattern
    if text.startswith("^"):
        text = text[1:]
    if text.endswith("$") and not text.endswith("\\$"):
        text = text[:-1]
    for affix in (".*", ".+"):
        if text.startswith(affix):
            text = text[len(affix):]
        if text.endswith(affix) and not text.endswith("\\" + affix):
            text = text[: -len(affix)]
    # Each branch excludes `|`: one way to split `(a|b|c)`, linear time on any pattern text
    # (with `|` allowed in the later branches, `(a||||...\.)` took exponential time).
    text = re.sub(r"\(([^()|\\]*)(?:\|[^()|\\]*)*\)", r"\1", text)
    example = re.sub(r"\\([^A-Za-z0-9])", r"\1", text)
    # What is left must be literal: no metacharacters outside the unescaped ones.
    bare = re.sub(r"\\[^A-Za-z0-9]", "", text)
    if any(char in _REGEX_META for char in bare) or not example:
        return None
    return example


def _table_type(token: str) -> str:
    table_type = token.split(":", 1)[0].strip("{ ").lower() if ":" in token else ""
    if table_type == "proxy":
        return _table_type(token.split(":", 1)[1])
    return table_type


class _Tables:
    """Adapter over pfcheck.postfix.tables (static:/inline: need no repository)."""

    def __init__(self, resolver: Optional[TableResolverLike]) -> None:
        from pfcheck.postfix import tables as tables_module

        self._module = tables_module
        self._resolver = resolver
        self._cache: Dict[str, Any] = {}
        # Asked once per scenario branch; a table may hold 100,000 patterns.
        self._unconstructible: Dict[str, List[Tuple[Optional[Location], str, str]]] = {}
        self._entries: Dict[str, Optional[List[_Entry]]] = {}

    def table(self, token: str) -> Any:
        if token in self._cache:
            return self._cache[token]
        ref = self._module.parse_table_ref(token)
        table = None
        if ref is not None:
            table = self._resolver.load(ref) if self._resolver is not None else self._module.load_table(ref, None)
        self._cache[token] = table
        return table

    def _where(self, table: Any, line: Optional[int]) -> Optional[Location]:
        source = getattr(table, "source", None)
        if source is None or line is None:
            return None
        return str(source), int(line)

    def lookup(self, token: str, key: str, partial: bool = False) -> _Lookup:
        """dict_get() as maps_find() does it: partial keys only for DICT_FLAG_FIXED tables;
        a lookup error reads as the access action "451 4.3.5 Server configuration error"."""
        table = self.table(token)
        if table is None:
            return _Lookup(_LOOKUP_FAILURE, True, None, f"{token} is not a table")
        if partial and not getattr(table, "fixed", False):
            return _Lookup(None, True)
        result = table.lookup(key)
        where = self._where(table, getattr(result, "line", None))
        if getattr(result, "error", None):
            return _Lookup(_LOOKUP_FAILURE, True, where, str(result.error))
        if not getattr(result, "known", True):
            detail = getattr(result, "note", "") or getattr(table, "reason", "") or f"contents of {token} are not known"
            return _Lookup(None, False, where, detail)
        return _Lookup(result.value, True, where)

    def entries(self, token: str) -> Optional[List[_Entry]]:
        """The (key, value) pairs of a keyed or cidr table, None when not enumerable (the same
        list every time: callers only read it)."""
        if token not in self._entries:
            self._entries[token] = self._enumerate(token)
        return self._entries[token]

    def _enumerate(self, token: str) -> Optional[List[_Entry]]:
        table = self.table(token)
        if table is None or not getattr(table, "known", False):
            return None
        keyed = getattr(table, "entries", None)
        if isinstance(keyed, dict):
            return [_Entry(entry.key, entry.value, self._where(table, entry.line)) for entry in keyed.values()]
        rules = getattr(table, "rules", None)
        if rules is not None and getattr(table, "kind", "") == "cidr":
            result: List[_Entry] = []
            for rule in rules:
                if rule.op == "match" and rule.pattern is not None and rule.match:
                    result.append(_Entry(rule.pattern.text(), rule.value, self._where(table, rule.line)))
            return result
        if rules is not None and getattr(table, "kind", "") in _PATTERN_TABLE_KINDS:
            # Not enumerable: a literal example of each simple pattern stands in for its keys
            # (the evaluation looks it up for real, so a wrong example costs nothing).
            examples: List[_Entry] = []
            for rule in rules:
                if rule.op == "match" and rule.first is not None and rule.first.match:
                    example = _regex_example(rule.first.text)
                    if example is not None:
                        examples.append(_Entry(example, rule.value or "", self._where(table, rule.line)))
            return examples
        return None

    def unconstructible(self, token: str) -> List[Tuple[Optional[Location], str, str]]:
        """Permitting regexp/pcre rules for which pfcheck cannot write a matching key:
        (location, pattern, value)."""
        if token in self._unconstructible:
            return self._unconstructible[token]
        table = self.table(token)
        rules = getattr(table, "rules", None)
        if rules is None or getattr(table, "kind", "") not in _PATTERN_TABLE_KINDS:
            return []
        result: List[Tuple[Optional[Location], str, str]] = []
        self._unconstructible[token] = result
        for rule in rules:
            if rule.op != "match" or rule.first is None or not rule.first.match:
                continue
            value = rule.value if rule.value is not None else "OK"
            if _regex_example(rule.first.text) is None and _may_permit(value):
                result.append((self._where(table, rule.line), rule.first.text, value))
        return result

    def is_keyed(self, token: str) -> bool:
        return _table_type(token) in _KEYED_TABLE_TYPES

    def read_file(self, name: str) -> Optional[str]:
        """A `/file/name` list file from the repository (None when it is not there)."""
        source_path = getattr(self._resolver, "source_path", None)
        if source_path is None:
            return None
        path = source_path(name)
        if path is None:
            return None
        try:
            return read_bounded(path).decode("utf-8", "surrogateescape")
        except OSError:  # FileTooLarge included: unknown, as an unreadable file is
            return None


class _Trust:
    """Three-valued trusted-set membership over an AddressList (or any `match(address)`)."""

    def __init__(self, address_list: Optional[AddressListLike], ipv4_enabled: bool, note: str = "") -> None:
        self._list = address_list
        self.ipv4_enabled = ipv4_enabled
        self.note = note
        # A match is a linear scan of the list (as in Postfix); lists can be huge.
        self._cache: Dict[Tuple[str, Optional[str]], Tuple[Optional[bool], Optional[str]]] = {}
        items = getattr(address_list, "items", None)
        # Without items that can match a hostname the client's name makes no difference.
        self._names_matter = items is None or any(getattr(item, "dns", None) is not None for item in items)

    def match(self, address: str, client_name: Optional[str] = None) -> Tuple[Optional[bool], Optional[str]]:
        """(matched, Postfix lookup error)."""
        key = (address, client_name if self._names_matter else None)
        if key not in self._cache:
            self._cache[key] = self._match(address, client_name)
        return self._cache[key]

    def _match(self, address: str, client_name: Optional[str]) -> Tuple[Optional[bool], Optional[str]]:
        if self._list is None:
            return (False, None) if self.note else (None, None)
        try:
            result = self._list.match(address, client_name=client_name, ipv4_enabled=self.ipv4_enabled)
        except TypeError:
            result = self._list.match(address)
        if isinstance(result, bool) or result is None:
            return result, None
        if isinstance(result, tuple):
            return (result[0] if result else None), None
        matched = getattr(result, "matched", None)
        return matched, getattr(result, "error", None)

    def covered(self, family: int) -> Optional["IntervalSet"]:
        """The IntervalSet of addresses the list trusts, may trust or fails on; None when the
        list cannot say (no `trusted_networks`)."""
        trusted_networks = getattr(self._list, "trusted_networks", None)
        if trusted_networks is None:
            return None
        spaces = trusted_networks(ipv4_enabled=self.ipv4_enabled)
        return spaces.trusted(family).union(spaces.maybe(family)).union(spaces.errors(family))

    def untrusted_address(self, family: int) -> Optional[str]:
        """An address the list certainly does not match, globally routable if possible, that
        a client can present (client_addresses); None when every such address is trusted."""
        covered = self.covered(family)
        if covered is None:
            return None
        from pfcheck.postfix import client_addresses, networks

        outside = covered.complement(family)
        chosen = client_addresses.choose(outside, family, [networks.GLOBAL_ADDRESSES[family]])
        if chosen is None:
            return None
        return networks.format_address(chosen, family)


# ----------------------------------------------------------------------------------------
# Domain lists and the address resolver (trivial-rewrite)


class _DomainList:
    """A Postfix domain/string list (`match_list.c`) three-valued: True/False/None."""

    def __init__(self, value: str, parameter: str, tables: _Tables, parent_matching: bool,
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
            keys = _domain_keys(name, self.parent_matching)
        for key, partial in keys:
            result = self.tables.lookup(token, key, partial)
            if result.value == _LOOKUP_FAILURE and result.detail:
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
class _Resolved:
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


class _AddressModel:
    """trivial-rewrite's view: which domains are ours, and resolve_addr() for one address."""

    def __init__(self, params: EffectiveParams, tables: _Tables) -> None:
        value = params.value
        self.myhostname = value("myhostname").strip() or "localhost"
        self.mydomain = value("mydomain").strip() or "localdomain"
        self.myorigin = value("myorigin").strip() or self.myhostname
        parents = {item.strip() for item in re.split(r"[,\s]+", value("parent_domain_matches_subdomains")) if item}
        self.mydestination = _DomainList(value("mydestination"), "mydestination", tables, False, True, True)
        self.virtual_alias = _DomainList(value("virtual_alias_domains"), "virtual_alias_domains", tables,
                                         False, True, True)
        self.virtual_mailbox = _DomainList(value("virtual_mailbox_domains"), "virtual_mailbox_domains", tables,
                                           False, True, True)
        self.relay_domains = _DomainList(value("relay_domains"), "relay_domains", tables,
                                         "relay_domains" in parents, False)
        self.percent_hack = _is_yes(value("allow_percent_hack") or "yes")
        self.swap_bangpath = _is_yes(value("swap_bangpath") or "yes")
        self.dequoted = _is_yes(value("resolve_dequoted_address") or "yes")
        self.append_dot_mydomain = _is_yes(value("append_dot_mydomain") or "no")
        # Channels and nexthops (main.cf *_transport, transport_maps, relocated_maps): resolve.py.
        self.router = Router(value, tables.lookup, _lookup_failed)
        self.location = params.location
        self._routes: Dict[Tuple[str, str], Route] = {}
        self.own_literals: Set[str] = set()
        for name in ("inet_interfaces", "proxy_interfaces"):
            for item in re.split(r"[,\s]+", value(name)):
                item = _strip_brackets(item.strip())
                if _valid_hostaddr(item):
                    self.own_literals.add(str(ipaddress.ip_address(item)))
        self._cache: Dict[str, _Resolved] = {}

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
            if _valid_hostaddr(inner) and str(ipaddress.ip_address(inner)) in self.own_literals:
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

    def resolve(self, address: str) -> _Resolved:
        cached = self._cache.get(address)
        if cached is None:
            cached = self._resolve(address)
            self._cache[address] = cached
        return cached

    def _resolve(self, address: str) -> _Resolved:
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
                    return _Resolved(current, domain, "default", False, unknown="mydestination")
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
            error = not _valid_mailhost_addr(domain[1:-1]) if domain.endswith("]") else True
        elif not _valid_hostname(domain):
            error = True
        cut = min((final.find(char) for char in "@!%" if char in final), default=-1)
        routed = cut >= 0 and final[cut + 1:] != domain
        if error:
            return _Resolved(final, domain, "default", routed, error=True)
        if remote_domain is None:
            return _Resolved(final, domain, "local", routed)
        for cls, domain_list in (("alias", self.virtual_alias), ("virtual", self.virtual_mailbox),
                                 ("relay", self.relay_domains)):
            failures = len(domain_list.failures)
            matched, detail = domain_list.match(domain)
            if len(domain_list.failures) > failures:
                return _Resolved(final, domain, "default", routed, fail=domain_list.failures[-1])
            if matched is None:
                return _Resolved(final, domain, "default", routed, unknown=detail)
            if matched:
                return _Resolved(final, domain, cls, routed)
        return _Resolved(final, domain, "default", routed)

    def route_of(self, resolved: _Resolved) -> Route:
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

    def transport_of(self, resolved: _Resolved) -> str:
        """The channel, "" when an unseen table decides it (so nothing counts it as bounced)."""
        route = self.route_of(resolved)
        return "" if route.unknown is not None else route.channel


# ----------------------------------------------------------------------------------------
# The SMTP session being judged


@dataclass(frozen=True)
class _Client:
    address: str
    name: str  # "unknown" without a verified reverse name
    name_ok: bool
    reverse_name: str
    reverse_ok: bool
    trusted: Optional[bool]  # True: the whole family is trusted (permit_mynetworks always matches)

    @property
    def display_name(self) -> Optional[str]:
        return self.name if self.name_ok else None


@dataclass(frozen=True)
class _Attempt:
    client: _Client
    helo: Optional[str]
    sender: str  # internal form; "" = the null sender
    recipient: str  # internal form, as smtpd hands it to the resolver


# (parameter, token, location, table entry) of the restriction that permitted.
_PermitToken = Tuple[str, str, Optional[Location], Optional[Location]]

# Status codes as generic_checks uses them.
_OK = 1
_DUNNO = 0
_REJECT = -1


@dataclass(frozen=True)
class _State:
    recursion: int = 0
    warn_if_reject: int = 0
    defer_if_permit: Optional[str] = None
    defer_if_reject: Optional[str] = None
    discard: bool = False
    rcpt_maps_checked: bool = False
    sender_maps_checked: bool = False


@dataclass(frozen=True)
class _Path:
    """What one evaluation branch relied on: unknown choices, attacker assumptions, trace."""

    unknowns: Tuple[Unknown, ...] = ()
    assumptions: Tuple[str, ...] = ()
    replayable: bool = True
    steps: Tuple[str, ...] = ()
    permit_token: Optional[_PermitToken] = None
    relied: Tuple[Any, ...] = ()  # policy assumptions (pfcheck.policy.assume) used on the way

    def rely(self, assumption: Any) -> "_Path":
        if assumption in self.relied:
            return self
        return replace(self, relied=self.relied + (assumption,))

    def unknown(self, item: Unknown) -> "_Path":
        if item in self.unknowns:
            return self
        return replace(self, unknowns=self.unknowns + (item,))

    def assume(self, text: str, replayable: bool = True) -> "_Path":
        assumptions = self.assumptions if text in self.assumptions else self.assumptions + (text,)
        return replace(self, assumptions=assumptions, replayable=self.replayable and replayable)

    def step(self, text: str) -> "_Path":
        return replace(self, steps=self.steps + (text,))


@dataclass(frozen=True)
class _Branch:
    status: int
    state: _State
    path: _Path
    reply: str = ""


@dataclass(frozen=True)
class _Context:
    """What a restriction list sees: the stage and which SMTP data exist at that time."""

    attempt: _Attempt
    parameter: str
    default_acl: Optional[str]
    stage: str  # CONNECT | HELO | MAIL | RCPT
    helo: Optional[str]
    sender: Optional[str]
    recipient: Optional[str]


class _Complexity(Exception):
    pass


class _Evaluator:
    """smtpd's restriction machinery over one listener's configuration."""

    def __init__(self, params: EffectiveParams, *, version: str,
                 resolver: Optional[TableResolverLike], trusted: Optional[AddressListLike],
                 rewrite_params: Optional[EffectiveParams], assumptions: Optional[Assumptions] = None) -> None:
        self.params = params
        # What the policy assumes an unseen table or policy service answers; every one some
        # branch looked up is recorded, in order (PF305 names them, PF905 reports the rest).
        self.assumptions = assumptions
        self.config_directory = params.value("config_directory").strip() or "/etc/postfix"
        self.consulted: List[Any] = []
        self.version = _parse_version(version)
        self.tables = _Tables(resolver)
        self.address_model = _AddressModel(rewrite_params or params, self.tables)
        self.classes, _, _ = _restriction_classes(params)
        value = params.value
        self.lists: Dict[str, List[str]] = {name: split_restrictions(value(name)) for name in RESTRICTION_LIST_PARAMETERS}
        #: The lists that hold a relay guard (REQUIRED_RESTRICTIONS), found once, not per branch.
        self.guarded_lists: FrozenSet[str] = frozenset(
            name for name, tokens in self.lists.items()
            if any(token.lower() in REQUIRED_RESTRICTIONS for token in tokens))
        if self.version < (2, 10):
            self.lists[_RELAY_LIST] = []
        self.delay_reject = _is_yes(value("smtpd_delay_reject") or "yes")
        self.helo_required = _is_yes(value("smtpd_helo_required") or "no")
        self.allow_untrusted_routing = _is_yes(value("allow_untrusted_routing") or "no")
        self.reject_unlisted_recipient = _is_yes(value("smtpd_reject_unlisted_recipient") or "yes")
        self.reject_unlisted_sender = _is_yes(value("smtpd_reject_unlisted_sender") or "no")
        self.sasl_enabled = _is_yes(value("smtpd_sasl_auth_enable") or "no")
        self.null_key = value("smtpd_null_access_lookup_key").strip() or "<>"
        parents = {item for item in re.split(r"[,\s]+", value("parent_domain_matches_subdomains")) if item}
        self.access_parent_style = "smtpd_access_maps" in parents
        self.mx_backup_networks = value("permit_mx_backup_networks").strip()
        self.relay_recipient_maps = value("relay_recipient_maps").strip()
        self.sender_login_maps = value("smtpd_sender_login_maps").strip()
        self.tls_offered = (value("smtpd_tls_security_level").strip().lower() in ("may", "encrypt")
                            or _is_yes(value("smtpd_use_tls") or "no")
                            or _is_yes(value("smtpd_enforce_tls") or "no")
                            or _is_yes(value("smtpd_tls_wrappermode") or "no"))
        self.relay_first = self._relay_first()
        self.milters = value("smtpd_milters").strip()
        self.proxy_filter = value("smtpd_proxy_filter").strip()
        protocols = value("inet_protocols").lower()
        self.ipv4_enabled = not protocols.strip() or "all" in protocols or "ipv4" in protocols
        self.ipv6_enabled = not protocols.strip() or "all" in protocols or "ipv6" in protocols
        note = ""
        if trusted is None:
            trusted, note = _parse_trusted(params, resolver)
        self.trust = _Trust(trusted, self.ipv4_enabled, note)
        self.branch_budget = _MAX_BRANCHES

    # ---- configuration facts -----------------------------------------------------------

    def _relay_first(self) -> bool:
        """Whether smtpd_relay_restrictions runs before smtpd_recipient_restrictions."""
        if self.version < (3, 3):
            return True
        if self.version < (3, 6):
            return False
        level = self.params.value("compatibility_level").strip() or "0"
        warn_compat = (not _compat_at_least(level, (1,))
                       and self.params.location(_RELAY_LIST) is None)
        return _is_yes(self.params.value("smtpd_relay_before_recipient_restrictions") or "no") and not warn_compat

    def location(self, name: str) -> Optional[Location]:
        return self.params.location(name)

    def _assumed(self, kind: str, reference: str) -> Optional[Any]:
        """The policy's assumption for an unknown table or policy service, recorded as consulted."""
        if not self.assumptions:
            return None
        find = self.assumptions.table if kind == "table" else self.assumptions.policy_service
        found = find(reference, self.config_directory)
        if found is not None and found not in self.consulted:
            self.consulted.append(found)
        return found

    # ---- lookups -----------------------------------------------------------------------

    def _table_lookup(self, path: _Path, token: str, keys: Sequence[Tuple[str, bool]],
                      parameter: str) -> Iterator[Tuple[Optional[_Lookup], _Path]]:
        """Look (key, partial) up in order; yields (found lookup or None, path) per possibility."""
        for key, partial in keys:
            result = self.tables.lookup(token, key, partial)
            if not result.known:
                assumed = self._assumed("table", token)
                if assumed is not None:
                    # Every listed result is possible for every key, and so is "not found":
                    # which key matched does not change what the result does.
                    relied = path.rely(assumed)
                    for value in assumed.results:
                        yield _Lookup(value, True, None, "assumed"), relied
                    yield None, relied
                    return
                unknown = Unknown("table", token, parameter, self.location(parameter),
                                  result.detail or f"contents of {token} are not known")
                for alternative in ("OK", "REJECT", None):
                    yield (_Lookup(alternative, True, None, "unknown") if alternative else None), path.unknown(unknown)
                return
            if result.value is not None:
                yield result, path
                return
        yield None, path

    # ---- list evaluation ---------------------------------------------------------------

    def run_list(self, tokens: Sequence[str], ctx: _Context, state: _State, path: _Path,
                 parameter: str, class_stack: Tuple[str, ...] = ()) -> Iterator[_Branch]:
        level = state.recursion + 1
        yield from self._run_from(tokens, 0, ctx, replace(state, recursion=level), path, parameter,
                                  class_stack, level)

    def _finish(self, state: _State, level: int) -> _State:
        recursion = level - 1
        warn = 0 if state.warn_if_reject >= recursion else state.warn_if_reject
        return replace(state, recursion=recursion, warn_if_reject=warn)

    def _run_from(self, tokens: Sequence[str], index: int, ctx: _Context, state: _State, path: _Path,
                  parameter: str, class_stack: Tuple[str, ...], level: int) -> Iterator[_Branch]:
        """The branches of the list from `index` on, depth first in token order. Iterative: a
        list of 10,000 restrictions is 10,000 frames on a Python list, not on the C stack."""
        frames = [self._step(tokens, index, ctx, state, path, parameter, class_stack, level)]
        while frames:
            item = next(frames[-1], None)
            if item is None:
                frames.pop()
            elif isinstance(item, _Branch):
                yield item
            else:  # go on with the next token on this branch before the siblings
                next_index, next_state, next_path = item
                frames.append(self._step(tokens, next_index, ctx, next_state, next_path, parameter,
                                         class_stack, level))

    def _step(self, tokens: Sequence[str], index: int, ctx: _Context, state: _State, path: _Path,
              parameter: str, class_stack: Tuple[str, ...],
              level: int) -> Iterator[Union[_Branch, Tuple[int, _State, _Path]]]:
        """One token: the finished branches, and (index, state, path) where a branch goes on."""
        self.branch_budget -= 1
        if self.branch_budget < 0:
            raise _Complexity()
        if index >= len(tokens) or state.discard:
            yield _Branch(_DUNNO, self._finish(state, level), path)
            return
        token = tokens[index]
        if token.lower() == "warn_if_reject":
            if state.warn_if_reject == 0:
                state = replace(state, warn_if_reject=level)
            yield index + 1, state, path
            return
        for outcome in self._apply(tokens, index, ctx, state, path, parameter, class_stack):
            status, new_state, new_path, consumed, reply = outcome
            if new_state.warn_if_reject >= level:
                new_state = replace(new_state, warn_if_reject=0)
            if status != _DUNNO:
                yield _Branch(status, self._finish(new_state, level), new_path, reply)
                continue
            if new_state.defer_if_permit and new_state.defer_if_reject:
                yield _Branch(_DUNNO, self._finish(new_state, level), new_path)
                continue
            yield index + consumed, new_state, new_path

    # An outcome: (status, state, path, tokens consumed, reply text)
    def _reject(self, state: _State, path: _Path, code: int, text: str, consumed: int = 1,
                convertible: bool = True) -> Tuple[int, _State, _Path, int, str]:
        if convertible and state.warn_if_reject:
            return _DUNNO, state, path.step(f"reject_warning: {code} {text}"), consumed, ""
        return _REJECT, state, path, consumed, f"{code} {text}"

    def _server_error(self, state: _State, path: _Path, why: str, consumed: int = 1) -> Tuple[int, _State, _Path, int, str]:
        return _REJECT, state, path.step(f"451 4.3.5 Server configuration error ({why})"), consumed, \
            f"451 4.3.5 Server configuration error ({why})"

    def _permit(self, state: _State, path: _Path, token: str, parameter: str, consumed: int = 1,
                entry: Optional[Location] = None, where: Optional[Location] = None) -> Tuple[int, _State, _Path, int, str]:
        location = where if where is not None else self.location(parameter)
        chosen = path.permit_token or (parameter, token, location, entry)
        return _OK, state, replace(path, permit_token=chosen).step(f"{parameter}: {token} -> permit"), consumed, ""

    def _defer_if_permit(self, state: _State, path: _Path, text: str, consumed: int = 1) -> Tuple[int, _State, _Path, int, str]:
        if state.warn_if_reject:
            return _DUNNO, state, path.step(f"reject_warning: {text}"), consumed, ""
        if state.defer_if_permit is None:
            state = replace(state, defer_if_permit=text)
        return _DUNNO, state, path, consumed, ""

    def _apply(self, tokens: Sequence[str], index: int, ctx: _Context, state: _State, path: _Path,
               parameter: str, class_stack: Tuple[str, ...]) -> Iterator[Tuple[int, _State, _Path, int, str]]:
        token = tokens[index]
        name = token.lower()
        table_arg: Optional[str] = None
        consumed = 1
        if ":" in token:
            # A bare type:table means check_<context>_access type:table.
            if ctx.default_acl is None:
                yield self._server_error(state, path, f"table {token} without check_xxx_access")
                return
            name = ctx.default_acl
            table_arg = token
            consumed = 1
        elif name in _MAP_COMMANDS:
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following is None or ":" not in following:
                yield self._server_error(state, path, f"restriction {token}: bad argument")
                return
            table_arg = following
            consumed = 2
        if table_arg is not None:
            yield from self._map_command(name, table_arg, ctx, state, path, parameter, consumed)
            return
        attempt = ctx.attempt
        client = attempt.client
        if name == "permit":
            yield self._permit(state, path, token, parameter)
        elif name == "defer":
            yield self._reject(state, path, 450, "4.3.2 Try again later")
        elif name == "reject":
            yield self._reject(state, path, 554, "5.7.1 Access denied")
        elif name == "reject_unauth_pipelining":
            yield _DUNNO, state, path, 1, ""
        elif name == "check_policy_service":
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following is None or ":" not in following:
                yield self._server_error(state, path, "check_policy_service needs transport:server")
                return
            assumed = self._assumed("policy_service", following)
            if assumed is not None:
                # smtpd hands the server's action= reply to check_table_result(), as for a table.
                label = f"{token} {following}"
                for value in assumed.results:
                    for status, new_state, result_path, reply in self._table_result(
                            _Lookup(value, True), label, ctx, state, path.rely(assumed), parameter, False):
                        yield status, new_state, result_path, 2, reply
                return
            unknown = Unknown("policy_service", f"{token} {following}", parameter, self.location(parameter),
                              "an external policy server decides; its answers are not in the repository")
            marked = path.unknown(unknown)
            yield self._permit(state, marked, f"{token} {following}", parameter, consumed=2)
            yield _DUNNO, state, marked, 2, ""
            yield self._reject(state, marked, 554, "5.7.1 (policy server)", consumed=2)
        elif name == "defer_if_permit":
            yield self._defer_if_permit(state, path, "450 4.7.0 defer_if_permit requested")
        elif name == "defer_if_reject":
            if state.defer_if_reject is None:
                state = replace(state, defer_if_reject="450 4.7.0 defer_if_reject requested")
            yield _DUNNO, state, path, 1, ""
        elif name == "sleep":
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following is None or not following.isdigit():
                yield self._server_error(state, path, "sleep must be followed by number")
                return
            yield _DUNNO, state, path, 2, ""
        elif name == "reject_plaintext_session":
            if self.tls_offered:
                yield _DUNNO, state, path.assume("the client uses STARTTLS", replayable=False), 1, ""
            else:
                yield self._reject(state, path, 450, "4.7.1 Session encryption is required")
        elif name in ("reject_unknown_client_hostname", "reject_unknown_client"):
            if client.name_ok:
                yield _DUNNO, state, path, 1, ""
            else:
                yield self._reject(state, path, 450, "4.7.25 Client host rejected: cannot find your hostname")
        elif name == "reject_unknown_reverse_client_hostname":
            if client.reverse_ok:
                yield _DUNNO, state, path, 1, ""
            else:
                yield self._reject(state, path, 450, "4.7.1 Client host rejected: cannot find your reverse hostname")
        elif name == "permit_inet_interfaces":
            yield _DUNNO, state, path, 1, ""
        elif name == "permit_mynetworks":
            if client.trusted:
                trusted, error = True, None
            else:
                trusted, error = self.trust.match(client.address, client.name)
            if error:
                # namadr_list_match() failed: permit_mynetworks returns the error (451 4.3.0).
                yield _REJECT, state, path.step(f"mynetworks lookup fails: {error}"), 1, \
                    "451 4.3.0 Temporary lookup failure"
            elif trusted:
                yield self._permit(state, path, token, parameter,
                                   where=self.location("mynetworks") or self.location(parameter))
            elif trusted is None:
                unknown = Unknown("address_list", token, parameter, self.location("mynetworks"),
                                  f"cannot tell whether {client.address} is in mynetworks")
                marked = path.unknown(unknown)
                yield self._permit(state, marked, token, parameter)
                yield _DUNNO, state, marked, 1, ""
            else:
                yield _DUNNO, state, path, 1, ""
        elif name in ("reject_maps_rbl",):
            if self.version >= (3, 9):
                yield self._server_error(state, path, f"{token} was removed in Postfix 3.9")
                return
            yield _DUNNO, state, path.assume("the client address is not in any DNS block list"), 1, ""
        elif name in _DOMAIN_ARGUMENT:
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following is None:
                yield _DUNNO, state, path, 1, ""  # "requires domain name argument": warning only
                return
            if name.startswith("reject_"):
                path = path.assume(f"the client's data is not listed in {following}")
            yield _DUNNO, state, path, 2, ""
        elif name in ("reject_invalid_helo_hostname", "reject_invalid_hostname"):
            helo = ctx.helo
            if helo is None:
                yield _DUNNO, state, path, 1, ""
            elif _helo_valid(helo):
                yield _DUNNO, state, path, 1, ""
            else:
                yield self._reject(state, path, 501, "5.5.2 Helo command rejected: Invalid name")
        elif name in ("reject_unknown_helo_hostname", "reject_unknown_hostname"):
            helo = ctx.helo
            if helo is None:
                yield _DUNNO, state, path, 1, ""
            elif helo.startswith("["):
                if _helo_literal_valid(helo):
                    yield _DUNNO, state, path, 1, ""
                else:
                    yield self._reject(state, path, 501, "5.5.2 invalid ip address")
            else:
                yield _DUNNO, state, path.assume(f"the HELO name {helo} has an A/AAAA or MX record",
                                                  replayable=False), 1, ""
        elif name == "permit_naked_ip_address":
            if self.version >= (3, 9):
                yield self._server_error(state, path, f"{token} was removed in Postfix 3.9")
                return
            helo = ctx.helo
            if helo is not None and helo and all(char in "0123456789.:" for char in helo):
                if _valid_hostaddr(helo):
                    yield self._permit(state, path, token, parameter)
                else:
                    yield self._reject(state, path, 501, "5.5.2 invalid ip address")
            else:
                yield _DUNNO, state, path, 1, ""
        elif name in ("reject_non_fqdn_helo_hostname", "reject_non_fqdn_hostname"):
            helo = ctx.helo
            if helo is None:
                yield _DUNNO, state, path, 1, ""
            elif helo.startswith("["):
                if _helo_literal_valid(helo):
                    yield _DUNNO, state, path, 1, ""
                else:
                    yield self._reject(state, path, 501, "5.5.2 invalid ip address")
            elif _valid_hostname(helo.rstrip(".")) and "." in helo.rstrip("."):
                yield _DUNNO, state, path, 1, ""
            else:
                yield self._reject(state, path, 504, "5.5.2 need fully-qualified hostname")
        elif name in ("reject_unknown_sender_domain", "reject_unknown_address"):
            yield self._unknown_address(state, path, ctx.sender, "sender")
        elif name == "reject_unknown_recipient_domain":
            yield self._unknown_address(state, path, ctx.recipient, "recipient")
        elif name == "reject_unverified_sender":
            if ctx.sender:
                path = path.assume(f"address verification of the sender {ctx.sender} succeeds", replayable=False)
            yield _DUNNO, state, path, 1, ""
        elif name == "reject_unverified_recipient":
            if ctx.recipient:
                path = path.assume(f"address verification of {ctx.recipient} succeeds (the mailbox exists)",
                                   replayable=False)
            yield _DUNNO, state, path, 1, ""
        elif name == "reject_non_fqdn_sender":
            yield self._non_fqdn_address(state, path, ctx.sender)
        elif name == "reject_non_fqdn_recipient":
            yield self._non_fqdn_address(state, path, ctx.recipient)
        elif name in ("reject_authenticated_sender_login_mismatch", "reject_known_sender_login_mismatch",
                      "reject_unauthenticated_sender_login_mismatch"):
            yield from self._login_mismatch(name, ctx, state, path, parameter)
        elif name == "reject_unlisted_sender":
            if ctx.sender:
                state = replace(state, sender_maps_checked=True)
                yield from self._rcpt_maps(ctx.sender, state, path, parameter, as_sender=True)
            else:
                yield _DUNNO, state, path, 1, ""
        elif name in ("check_recipient_maps", "reject_unlisted_recipient"):
            if ctx.recipient:
                state = replace(state, rcpt_maps_checked=True)
                yield from self._rcpt_maps(ctx.recipient, state, path, parameter, as_sender=False)
            else:
                yield _DUNNO, state, path, 1, ""
        elif name == "reject_multi_recipient_bounce":
            yield _DUNNO, state, path, 1, ""
        elif name == "permit_mx_backup":
            yield from self._mx_backup(ctx, state, path, token, parameter)
        elif name == "permit_auth_destination":
            if ctx.recipient is None:
                yield _DUNNO, state, path, 1, ""
                return
            for authorized, branch_path in self._authorized(ctx.recipient, path, parameter):
                if authorized == "fail":
                    yield _REJECT, state, branch_path, 1, "451 4.3.0 Temporary lookup failure"
                elif authorized:
                    yield self._permit(state, branch_path, token, parameter)
                else:
                    yield _DUNNO, state, branch_path, 1, ""
        elif name in ("reject_unauth_destination", "defer_unauth_destination"):
            if ctx.recipient is None:
                yield _DUNNO, state, path, 1, ""
                return
            code = 554 if name.startswith("reject") else 454
            for authorized, branch_path in self._authorized(ctx.recipient, path, parameter):
                if authorized == "fail":
                    yield _REJECT, state, branch_path, 1, "451 4.3.0 Temporary lookup failure"
                elif authorized:
                    yield _DUNNO, state, branch_path.step(f"{parameter}: {token}: authorized destination"), 1, ""
                else:
                    yield self._reject(state, branch_path, code, "Relay access denied")
        elif name == "check_relay_domains":
            if self.version >= (3, 9):
                if ctx.recipient is not None:
                    yield self._server_error(state, path, "check_relay_domains was removed in Postfix 3.9")
                else:
                    yield _DUNNO, state, path, 1, ""
                return
            if ctx.recipient is None:
                yield _DUNNO, state, path, 1, ""
                return
            matched, _ = self.address_model.relay_domains.match(client.name) if client.name_ok else (False, "")
            if matched:
                yield self._permit(state, path, token, parameter)
                return
            for authorized, branch_path in self._authorized(ctx.recipient, path, parameter):
                if authorized == "fail":
                    yield _REJECT, state, branch_path, 1, "451 4.3.0 Temporary lookup failure"
                elif authorized:
                    yield self._permit(state, branch_path, token, parameter)
                else:
                    yield self._reject(state, branch_path, 554, "Relay access denied")
        elif name in ("permit_sasl_authenticated", "permit_tls_all_clientcerts", "permit_tls_clientcerts"):
            yield _DUNNO, state, path, 1, ""
        else:
            expansion = self.classes.get(token)
            if expansion is None:
                yield self._server_error(state, path, f"unknown smtpd restriction: \"{token}\"")
                return
            if token in class_stack:
                # generic_checks has no recursion limit for classes: smtpd crashes (no reply).
                yield _REJECT, state, path.step(f"restriction class {token} includes itself: smtpd crashes"), 1, \
                    "smtpd crashes (restriction class recursion)"
                return
            where = self.location(token) if token not in _BUILTIN_CLASSES else None
            for branch in self.run_list(expansion, ctx, state, path, token, class_stack + (token,)):
                branch_path = branch.path
                if branch.status == _OK and where is not None:
                    branch_path = branch_path.step(f"{parameter}: restriction class {token}")
                yield branch.status, branch.state, branch_path, 1, branch.reply

    # ---- individual checks -------------------------------------------------------------

    def _unknown_address(self, state: _State, path: _Path, address: Optional[str], what: str) -> Tuple[int, _State, _Path, int, str]:
        if not address:
            return _DUNNO, state, path, 1, ""
        resolved = self.address_model.resolve(address)
        if resolved.final or resolved.domain.startswith("["):
            return _DUNNO, state, path, 1, ""
        return _DUNNO, state, path.assume(f"the {what} domain {resolved.domain} has MX or address records",
                                          replayable=False), 1, ""

    def _non_fqdn_address(self, state: _State, path: _Path, address: Optional[str]) -> Tuple[int, _State, _Path, int, str]:
        if not address:
            return _DUNNO, state, path, 1, ""
        domain = _domain_of(address)
        if domain.startswith("[") and domain.endswith("]"):
            return _DUNNO, state, path, 1, ""
        test = domain[:-1] if domain.endswith(".") and not domain.endswith("..") else domain
        if test and _valid_hostname(test) and "." in test:
            return _DUNNO, state, path, 1, ""
        return self._reject(state, path, 504, "5.5.2 need fully-qualified address")

    def _login_mismatch(self, name: str, ctx: _Context, state: _State, path: _Path,
                        parameter: str) -> Iterator[Tuple[int, _State, _Path, int, str]]:
        if not self.sasl_enabled or not ctx.sender or name == "reject_authenticated_sender_login_mismatch":
            yield _DUNNO, state, path, 1, ""
            return
        # Unauthenticated client: rejected when the sender is owned by some login.
        if not self.sender_login_maps:
            yield _DUNNO, state, path, 1, ""
            return
        resolved = self.address_model.resolve(ctx.sender)
        keys = _mail_keys(resolved.address, self.access_parent_style)
        for token in split_restrictions(self.sender_login_maps):
            for found, branch_path in self._table_lookup(path, token, keys, "smtpd_sender_login_maps"):
                if found is not None:
                    yield self._reject(state, branch_path, 553, "5.7.1 Sender address rejected: not logged in")
                else:
                    yield _DUNNO, state, branch_path, 1, ""
            return

    def _rcpt_maps(self, address: str, state: _State, path: _Path, parameter: str,
                   as_sender: bool) -> Iterator[Tuple[int, _State, _Path, int, str]]:
        for status, branch_path, reply in self._recipient_validation(address, path, parameter, as_sender):
            if status == _REJECT:
                code, _, text = reply.partition(" ")
                yield self._reject(state, branch_path, int(code), text)
            else:
                yield _DUNNO, state, branch_path, 1, ""

    def _recipient_validation(self, address: str, path: _Path, parameter: str,
                              as_sender: bool = False) -> Iterator[Tuple[int, _Path, str]]:
        """check_rcpt_maps() for one address (remote and relay classes as pfcheck models them):
        (status, path, full reply)."""
        resolved = self.address_model.resolve(address)
        route = self.address_model.route_of(resolved)
        if resolved.fail is not None or route.fail is not None:
            # RESOLVE_FLAG_FAIL: reject_dict_retry()
            why = resolved.fail or route.fail
            yield _REJECT, path.step(f"address resolution fails: {why}"), \
                f"451 4.3.0 <{smtp_address(address)}>: Temporary lookup failure"
            return
        routes: List[Tuple[Route, _Path]] = [(route, path)]
        if route.unknown is not None:
            unknown = Unknown("table", route.unknown, route.unknown_parameter,
                              self.address_model.location(route.unknown_parameter),
                              f"{route.detail}: cannot tell whether it bounces foreign recipients "
                              "(error transport) or lets them through")
            marked = path.unknown(unknown)
            # The unseen table may bounce the address or send it anywhere else.
            routes = [(replace(route, channel="error", nexthop="(unknown)"), marked),
                      (replace(route, channel="(unknown)", nexthop="(unknown)"), marked)]
        for candidate, route_path in routes:
            reply = candidate.rcpt_reply(smtp_address(address), as_sender)
            if candidate.location is not None and candidate.unknown is None:
                # A routing table entry decided: say which (the witness explains itself).
                route_path = route_path.step(f"{resolved.address} resolves to {candidate.channel or '(kept)'}:"
                                             f"{candidate.nexthop} ({candidate.origin} {candidate.location[0]}:"
                                             f"{candidate.location[1]})")
            if reply is None and not (resolved.cls == "relay" and self.relay_recipient_maps):
                yield _DUNNO, route_path, ""
                continue
            for rewritten, checked_path in self._rewrite_maps(resolved, route_path, as_sender):
                if rewritten:
                    # A canonical or virtual alias mapping: smtpd accepts before it looks at the
                    # transport or the class's recipient table.
                    yield _DUNNO, checked_path.step(f"{resolved.address} is rewritten (canonical/virtual "
                                                    "alias maps): accepted"), ""
                elif reply is not None:
                    yield _REJECT, checked_path.step(f"{resolved.address} resolves to the {candidate.channel} "
                                                     f"transport ({candidate.origin})"), reply
                else:
                    yield from self._class_validation(resolved, checked_path)

    def _rewrite_maps(self, resolved: _Resolved, path: _Path, as_sender: bool) -> Iterator[Tuple[bool, _Path]]:
        """Whether check_rcpt_maps() finds the address in recipient_canonical_maps (or
        sender_canonical_maps), canonical_maps or virtual_alias_maps (mail_addr_find():
        full, without extension, @domain)."""
        tokens: List[Tuple[str, str]] = []
        for parameter in ("sender_canonical_maps" if as_sender else "recipient_canonical_maps",
                          "canonical_maps", "virtual_alias_maps"):
            tokens += [(parameter, token) for token in split_restrictions(self.params.value(parameter))]
        keys = [(resolved.address, False)]
        bare = self.address_model.router.strip(resolved.address)
        if bare is not None:
            keys.append((bare, True))
        keys.append(("@" + resolved.domain, True))
        yield from self._any_found(tokens, keys, path)

    def _any_found(self, tokens: Sequence[Tuple[str, str]], keys: Sequence[Tuple[str, bool]],
                   path: _Path) -> Iterator[Tuple[bool, _Path]]:
        if not tokens:
            yield False, path
            return
        (parameter, token), rest = tokens[0], tokens[1:]
        for found, branch_path in self._table_lookup(path, token, keys, parameter):
            if found is not None:
                yield True, branch_path
            else:
                yield from self._any_found(rest, keys, branch_path)

    def _class_validation(self, resolved: _Resolved, path: _Path) -> Iterator[Tuple[int, _Path, str]]:
        """check_rcpt_maps()'s per-class recipient tables (relay_recipient_maps)."""
        if resolved.cls == "relay" and self.relay_recipient_maps:
            keys = [(resolved.address, False), ("@" + resolved.domain, True)]
            for token in split_restrictions(self.relay_recipient_maps):
                for found, branch_path in self._table_lookup(path, token, keys, "relay_recipient_maps"):
                    if found is not None:
                        yield _DUNNO, branch_path, ""
                    else:
                        yield _REJECT, branch_path, "550 5.1.1 User unknown in relay recipient table"
                return
        yield _DUNNO, path, ""

    def _authorized(self, recipient: str, path: _Path, parameter: str) -> Iterator[Tuple[Any, _Path]]:
        """permit_auth_destination() for the recipient: True (final or relay class, not
        routed), False, or "fail" (the resolver's table lookup failed: 451)."""
        resolved = self.address_model.resolve(recipient)
        # A failed transport_maps/relocated_maps lookup is RESOLVE_FLAG_FAIL too (resolve_addr()).
        fail = resolved.fail or self.address_model.route_of(resolved).fail
        if fail is not None:
            yield "fail", path.step(f"address resolution fails: {fail}")
            return
        if resolved.unknown is not None:
            unknown = Unknown("table", resolved.unknown, parameter, self.location(parameter),
                              f"cannot tell whether {resolved.domain} is an authorized destination")
            marked = path.unknown(unknown)
            yield True, marked
            yield False, marked
            return
        if "@" not in resolved.address:
            yield True, path
            return
        if not self.allow_untrusted_routing and resolved.routed:
            yield False, path
            return
        if resolved.final or resolved.cls == "relay":
            cause = {"local": "mydestination", "alias": "virtual_alias_domains",
                     "virtual": "virtual_mailbox_domains", "relay": "relay_domains"}[resolved.cls]
            yield True, path.step(f"{resolved.domain} is an authorized destination ({cause})")
            return
        yield False, path

    def _mx_backup(self, ctx: _Context, state: _State, path: _Path, token: str,
                   parameter: str) -> Iterator[Tuple[int, _State, _Path, int, str]]:
        recipient = ctx.recipient
        if recipient is None:
            yield _DUNNO, state, path, 1, ""
            return
        resolved = self.address_model.resolve(recipient)
        if not self.allow_untrusted_routing and resolved.routed:
            yield _DUNNO, state, path, 1, ""
            return
        for authorized, branch_path in self._authorized(recipient, path, parameter):
            if authorized == "fail":
                yield _REJECT, state, branch_path, 1, "451 4.3.0 Temporary lookup failure"
                continue
            if authorized:
                yield self._permit(state, branch_path, token, parameter)
                continue
            if resolved.domain.startswith("["):
                yield _DUNNO, state, branch_path, 1, ""
                continue
            if self.mx_backup_networks:
                # The attacker's primary MX would have to sit in permit_mx_backup_networks.
                yield _DUNNO, state, branch_path, 1, ""
                continue
            assumed = branch_path.assume(
                f"the recipient domain {resolved.domain} publishes MX records naming this host as a "
                f"backup MX (permit_mx_backup_networks is empty)", replayable=False)
            yield self._permit(state, assumed, token, parameter)

    def _map_command(self, name: str, table: str, ctx: _Context, state: _State, path: _Path,
                     parameter: str, consumed: int) -> Iterator[Tuple[int, _State, _Path, int, str]]:
        kind = _MAP_COMMANDS[name]
        client = ctx.attempt.client
        forbid_ok = kind == "server" or name == "check_reverse_client_hostname_access"
        keys: Optional[List[str]] = None
        reply_name = ""
        routed_recipient = False
        if kind == "client":
            keys = _domain_keys(client.name, self.access_parent_style) + _addr_keys(client.address)
            reply_name = "client"
        elif kind == "reverse_client":
            keys = _domain_keys(client.reverse_name, self.access_parent_style) + _addr_keys(client.address)
            reply_name = "client"
        elif kind == "helo":
            if ctx.helo is not None:
                keys = _domain_keys(ctx.helo, self.access_parent_style)
            reply_name = "helo"
        elif kind == "sender":
            if ctx.sender is not None:
                if ctx.sender == "":
                    keys = [(self.null_key, False)]
                else:
                    keys = _mail_keys(self.address_model.resolve(ctx.sender).address, self.access_parent_style)
            reply_name = "sender"
        elif kind == "recipient":
            if ctx.recipient is not None:
                resolved = self.address_model.resolve(ctx.recipient)
                keys = _mail_keys(resolved.address, self.access_parent_style)
                routed_recipient = resolved.routed and not self.allow_untrusted_routing
            reply_name = "recipient"
        elif kind in ("ccert", "etrn"):
            keys = None  # no client certificate; no ETRN at RCPT
        elif kind == "sasl":
            keys = None  # not authenticated (or SASL off: "ignored: no SASL support")
        elif kind == "server":
            yield from self._server_access(name, table, ctx, state, path, parameter, consumed)
            return
        if keys is None:
            yield _DUNNO, state, path, consumed, ""
            return
        label = f"{name} {table}"
        for found, branch_path in self._table_lookup(path, table, keys, parameter):
            if found is None:
                yield _DUNNO, state, branch_path, consumed, ""
                if kind in ("helo", "sender") and found is None:
                    # The attacker picks HELO and sender: it could pick one that a pattern
                    # pfcheck cannot write an example for accepts.
                    for where, pattern, value in self.tables.unconstructible(table):
                        unknown = Unknown("attacker_key", label, parameter, where or self.location(parameter),
                                          f"a {kind} matching /{pattern}/ gets {value}; pfcheck cannot construct one")
                        guess = _Lookup(value, True, where)
                        for status, new_state, result_path, reply in self._table_result(
                                guess, label, ctx, state, branch_path.unknown(unknown), parameter, forbid_ok):
                            yield status, new_state, result_path, consumed, reply
                continue
            for status, new_state, result_path, reply in self._table_result(
                    found, label, ctx, state, branch_path, parameter, forbid_ok):
                if status == _OK and routed_recipient:
                    status = _DUNNO  # "source-routed recipient addresses are too suspicious"
                yield status, new_state, result_path, consumed, reply

    def _server_access(self, name: str, table: str, ctx: _Context, state: _State, path: _Path,
                       parameter: str, consumed: int) -> Iterator[Tuple[int, _State, _Path, int, str]]:
        """check_*_{ns,mx,a}_access: looks at DNS data of a name the attacker chooses."""
        client = ctx.attempt.client
        if "client" in name:
            subject = client.reverse_name if "reverse" in name else client.name
            present = subject != "unknown" and (client.reverse_ok if "reverse" in name else client.name_ok)
        elif "helo" in name:
            subject = ctx.helo or ""
            present = ctx.helo is not None
        elif "sender" in name:
            subject = ctx.sender or ""
            present = bool(ctx.sender)
        else:
            subject = ctx.recipient or ""
            present = bool(ctx.recipient)
        if not present:
            yield _DUNNO, state, path, consumed, ""
            return
        domain = _domain_of(subject) if "@" in subject else subject
        label = f"{name} {table}"
        if domain.startswith("["):
            if name.endswith("_ns_access") or not domain.endswith("]"):
                yield _DUNNO, state, path, consumed, ""
                return
            inner = domain[1:-1]
            inner = inner[5:] if inner[:5].lower() == "ipv6:" else inner
            if not _valid_hostaddr(inner):
                yield _DUNNO, state, path, consumed, ""
                return
            for found, branch_path in self._table_lookup(path, table, _addr_keys(inner), parameter):
                if found is None:
                    yield _DUNNO, state, branch_path, consumed, ""
                    continue
                for status, new_state, result_path, reply in self._table_result(
                        found, label, ctx, state, branch_path, parameter, True):
                    yield status, new_state, result_path, consumed, reply
            return
        # A name: check_server_access() looks up its MX/NS/A records. The attacker controls that
        # DNS: an answer that fails (or names hosts outside the table) makes Postfix skip the
        # check ("Unable to look up ...": DUNNO) - which is also what an offline Postfix does.
        kind = name.split("_")[-2].upper()
        yield _DUNNO, state, path.assume(
            f"the {kind} lookup for {domain} fails or names no host listed in {table}"), consumed, ""

    def _table_result(self, found: _Lookup, label: str, ctx: _Context, state: _State, path: _Path,
                      parameter: str, forbid_ok: bool) -> Iterator[Tuple[int, _State, _Path, str]]:
        """check_table_result(): an access-table action."""
        value = (found.value or "").strip()
        command, _, text = value.partition(" ")
        if not value:
            command = ""
        upper = command.upper()
        entry = found.location

        def permit(reason: str) -> Tuple[int, _State, _Path, str]:
            if forbid_ok and not state.discard:
                return _REJECT, state, path.step(f"{label} returns OK: not allowed for security reasons"), \
                    "451 4.3.5 Server configuration error"
            status, new_state, new_path, _, _ = self._permit(state, path, f"{label} ({reason})", parameter,
                                                             entry=entry)
            return status, new_state, new_path, ""

        if upper == "DUNNO" or upper in ("INFO", "WARN", "FILTER", "HOLD", "REDIRECT", "BCC", "PREPEND"):
            yield _DUNNO, state, path, ""
            return
        if upper in ("REJECT", "DEFER") or (len(command) == 3 and text and command[0] in "45"
                                             and command[1:].isdigit()):
            status, new_state, new_path, _, reply = self._reject(state, path, 554 if upper != "DEFER" else 450,
                                                                 f"{label}: {value}")
            yield status, new_state, new_path, reply
            return
        if upper == "HANGUP":
            yield _REJECT, state, path, "connection dropped (HANGUP)"
            return
        if upper == "DISCARD":
            if ctx.sender is None:
                yield _DUNNO, state, path, ""  # not in client/helo context without delay_reject
                return
            new_state = replace(state, discard=True)
            yield _OK, new_state, path.step(f"{label}: DISCARD (accepted and thrown away)"), ""
            return
        if upper == "DEFER_IF_PERMIT":
            status, new_state, new_path, _, _ = self._defer_if_permit(state, path, f"450 {label}: {value}")
            yield status, new_state, new_path, ""
            return
        if upper == "DEFER_IF_REJECT":
            if state.defer_if_reject is None:
                state = replace(state, defer_if_reject=f"450 {label}: {value}")
            yield _DUNNO, state, path, ""
            return
        if value.isdigit():
            yield permit(value)
            return
        if upper in ("OK", "RELAY"):
            yield permit(value)
            return
        if ":" in value:
            yield _REJECT, state, path.step(f"{label}: lookup table in an access table result"), \
                "451 4.3.5 Server configuration error"
            return
        if state.recursion > _MAX_RECURSION:
            yield _REJECT, state, path, "451 4.3.5 Server configuration error (recursion)"
            return
        restrictions = split_restrictions(value)
        if not restrictions:
            yield permit("empty value")
            return
        for branch in self.run_list(restrictions, ctx, state, path, parameter):
            branch_path = branch.path
            if branch.status == _OK and entry is not None and branch_path.permit_token is not None:
                chosen = branch_path.permit_token
                branch_path = replace(branch_path, permit_token=(chosen[0], f"{label} -> {value}", chosen[2], entry))
            yield branch.status, branch.state, branch_path, branch.reply

    # ---- one RCPT TO -------------------------------------------------------------------

    def rcpt(self, attempt: _Attempt) -> Iterator[Tuple[bool, _Path, str]]:
        """All possible outcomes of RCPT TO for one attempt: (accepted and relayed, path, reply).

        With smtpd_delay_reject = yes the client, HELO and sender lists run again here with all
        SMTP data known; with `no` they ran at their own stage, each seeing only what existed
        then (a reject_unauth_destination in them is a no-op)."""
        helo = attempt.helo
        delay = self.delay_reject
        client_ctx = _Context(attempt, "smtpd_client_restrictions", "check_client_access",
                              "RCPT" if delay else "CONNECT", helo if delay else None,
                              attempt.sender if delay else None, attempt.recipient if delay else None)
        helo_ctx = replace(client_ctx, parameter="smtpd_helo_restrictions", default_acl="check_helo_access",
                           stage="RCPT" if delay else "HELO", helo=helo)
        sender_ctx = replace(helo_ctx, parameter="smtpd_sender_restrictions", default_acl="check_sender_access",
                             stage="RCPT" if delay else "MAIL", sender=attempt.sender)
        rcpt_ctx = _Context(attempt, _RCPT_LIST, "check_recipient_access", "RCPT", helo, attempt.sender,
                            attempt.recipient)
        stages = [client_ctx] + ([helo_ctx] if helo is not None else []) + [sender_ctx]
        yield from self._pre_stages(stages, 0, attempt, rcpt_ctx, None, _Path())

    def _pre_stages(self, stages: List[_Context], index: int, attempt: _Attempt, rcpt_ctx: _Context,
                    defer_if_permit: Optional[str], path: _Path) -> Iterator[Tuple[bool, _Path, str]]:
        if index >= len(stages):
            yield from self._rcpt_lists(attempt, rcpt_ctx, defer_if_permit, path)
            return
        ctx = stages[index]
        parameter = ctx.parameter
        tokens = self.lists[parameter]
        state = _State(defer_if_permit=defer_if_permit)
        branches: Iterable[_Branch]
        if tokens:
            branches = self.run_list(tokens, ctx, state, path, parameter)
        else:
            branches = [_Branch(_DUNNO, state, path)]
        for branch in branches:
            if branch.status == _REJECT:
                yield False, branch.path.step(f"{parameter}: rejected: {branch.reply}"), branch.reply
                continue
            # A permit here ends only this list: it grants nothing for relaying.
            branch_path = replace(branch.path, permit_token=None)
            carried = branch.state.defer_if_permit
            if (parameter == "smtpd_sender_restrictions" and self.reject_unlisted_sender and attempt.sender
                    and not branch.state.sender_maps_checked):
                # smtpd_reject_unlisted_sender: the sender is validated after the sender list.
                for status, checked_path, reply in self._recipient_validation(attempt.sender, branch_path, parameter,
                                                                              as_sender=True):
                    if status == _REJECT:
                        yield False, checked_path, reply
                    else:
                        yield from self._pre_stages(stages, index + 1, attempt, rcpt_ctx, carried, checked_path)
                continue
            yield from self._pre_stages(stages, index + 1, attempt, rcpt_ctx, carried, branch_path)

    def _rcpt_lists(self, attempt: _Attempt, rcpt_ctx: _Context, defer_if_permit: Optional[str],
                    path: _Path) -> Iterator[Tuple[bool, _Path, str]]:
        order = [_RELAY_LIST, _RCPT_LIST] if self.relay_first else [_RCPT_LIST, _RELAY_LIST]
        state = _State(defer_if_permit=defer_if_permit)
        yield from self._rcpt_list(order, 0, attempt, rcpt_ctx, state, path, [])

    def _rcpt_list(self, order: List[str], index: int, attempt: _Attempt, rcpt_ctx: _Context, state: _State,
                   path: _Path, permits: List[Tuple[str, Optional[_PermitToken]]]
                   ) -> Iterator[Tuple[bool, _Path, str]]:
        if index >= len(order):
            yield from self._after_lists(attempt, state, path, permits)
            return
        parameter = order[index]
        tokens = self.lists[parameter]
        ctx = replace(rcpt_ctx, parameter=parameter)
        base = replace(path, permit_token=None)
        branches: Iterable[_Branch]
        if tokens:
            branches = self.run_list(tokens, ctx, replace(state, recursion=0, warn_if_reject=0), base, parameter)
        else:
            branches = [_Branch(_DUNNO, state, base)]
        for branch in branches:
            if branch.status == _REJECT:
                yield False, branch.path.step(f"{parameter}: rejected: {branch.reply}"), branch.reply
                continue
            how = branch.path.permit_token if branch.status == _OK else None
            if how is None:
                text = f"{parameter}: empty (no restrictions)" if not tokens else f"{parameter}: end of list (implicit permit)"
                branch_path = branch.path.step(text)
            else:
                branch_path = branch.path
            yield from self._rcpt_list(order, index + 1, attempt, rcpt_ctx, branch.state, branch_path,
                                       permits + [(parameter, how)])

    def _after_lists(self, attempt: _Attempt, state: _State, path: _Path,
                     permits: List[Tuple[str, Optional[_PermitToken]]]
                     ) -> Iterator[Tuple[bool, _Path, str]]:
        if state.defer_if_permit is not None:
            yield False, path.step(f"deferred: {state.defer_if_permit}"), state.defer_if_permit
            return
        if state.discard:
            yield False, path.step("accepted but discarded (DISCARD)"), "250 (discarded)"
            return
        chosen = _choose_permit(permits, self.guarded_lists)
        final_path = replace(path, permit_token=chosen)
        transport = self.address_model.transport_of(self.address_model.resolve(attempt.recipient))
        if transport in ("error", "retry") and not self.reject_unlisted_recipient:
            yield False, final_path.step(f"accepted, but the recipient resolves to the {transport} transport: "
                                         "bounced, not relayed"), "250 (not relayed)"
            return
        if self.reject_unlisted_recipient and not state.rcpt_maps_checked:
            for status, checked_path, reply in self._recipient_validation(attempt.recipient, final_path,
                                                                          "smtpd_reject_unlisted_recipient"):
                if status == _REJECT:
                    yield False, checked_path.step(f"smtpd_reject_unlisted_recipient: {reply}"), reply
                else:
                    yield True, checked_path, "250 2.1.5 Ok"
            return
        yield True, final_path, "250 2.1.5 Ok"


def _choose_permit(permits: List[Tuple[str, Optional[_PermitToken]]],
                   guarded_lists: FrozenSet[str]) -> Optional[_PermitToken]:
    """The token that lets the mail through: an explicit permit in a list that would otherwise
    close relaying first (one holding a relay guard), then any explicit permit; else None (the
    lists simply ended)."""
    explicit = [(parameter, how) for parameter, how in permits if how is not None]
    for parameter, how in explicit:
        if parameter in guarded_lists:
            return how
    if explicit:
        return explicit[0][1]
    return None


_NON_PERMITTING_ACTIONS = frozenset({
    "DUNNO", "REJECT", "DEFER", "DEFER_IF_PERMIT", "DEFER_IF_REJECT", "HANGUP", "DISCARD",
    "INFO", "WARN", "FILTER", "HOLD", "REDIRECT", "BCC", "PREPEND",
})


def _may_permit(value: str) -> bool:
    """Whether an access-table action can grant (OK, all-numeric, permit..., a class)."""
    command = value.strip().split(" ", 1)[0].upper()
    if command in _NON_PERMITTING_ACTIONS:
        return False
    if len(command) == 3 and command[0] in "45" and command.isdigit() and " " in value.strip():
        return False
    if command in ("REJECT_UNAUTH_DESTINATION", "DEFER_UNAUTH_DESTINATION", "DEFER"):
        return False
    return True


def _helo_valid(helo: str) -> bool:
    if helo.startswith("["):
        return _helo_literal_valid(helo)
    test = helo[:-1] if helo.endswith(".") and not helo.endswith("..") else helo
    return _valid_hostname(test) or _valid_hostaddr(test)


def _helo_literal_valid(helo: str) -> bool:
    return helo.endswith("]") and len(helo) > 2 and _valid_mailhost_addr(helo[1:-1])


def _domain_keys(name: str, parent_style: bool) -> List[Tuple[str, bool]]:
    """check_domain_access() lookups: (the name, FULL), then parent domains (PARTIAL)."""
    keys = [(name.lower(), False)]
    if _valid_hostaddr(name):
        return keys  # "Don't apply subdomain magic to numerical hostnames."
    current = name.lower()
    while True:
        position = current.find(".", 1)
        if position < 0:
            break
        current = current[position + 1:] if parent_style else current[position:]
        if not current:
            break
        keys.append((current, True))
    return keys


def _addr_keys(address: str) -> List[Tuple[str, bool]]:
    """check_addr_access() lookups: the address (FULL), then prefixes cut at . or : (PARTIAL)."""
    delimiter = ":" if ":" in address else "."
    keys = [(address, False)]
    current = address
    while delimiter in current:
        current = current[: current.rindex(delimiter)]
        if not current:
            break
        keys.append((current, True))
    return keys


def _mail_keys(address: str, parent_style: bool) -> List[Tuple[str, bool]]:
    """mail_addr_find_strategy() lookups: user@domain (FULL), domain, parents, user@ (PARTIAL)."""
    local, at, domain = address.rpartition("@")
    if not at:
        return [(address.lower(), False)]
    keys = [(address.lower(), False)]
    current = domain.lower()
    keys.append((current, True))
    while True:
        position = current.find(".", 1)
        if position < 0:
            break
        current = current[position + 1:] if parent_style else current[position:]
        if not current:
            break
        keys.append((current, True))
    keys.append((local.lower() + "@", True))
    return keys


_TRUSTED_CACHE: Dict[Tuple[str, str, Any], Optional[AddressListLike]] = {}


def _parse_trusted(params: EffectiveParams,
                   resolver: Optional[TableResolverLike]) -> Tuple[Optional[AddressListLike], str]:
    """mynetworks through pfcheck.postfix.networks: (list, note). A computed default (the
    host's own networks, unknown to a linter) trusts none of the documentation addresses.
    Parsed lists are cached: every listener of a directory usually shares one mynetworks."""
    from pfcheck.postfix import networks

    value = params.value("mynetworks")
    if value.strip().startswith("<"):
        return None, "mynetworks is computed from the server's interfaces; the attacker's address is not one of them"
    parents = params.value("parent_domain_matches_subdomains")
    key = (value, parents, resolver)  # the resolver itself: its files decide /file/name items
    if key not in _TRUSTED_CACHE:
        try:
            parsed: Optional[AddressListLike] = networks.parse_address_list(
                value, param="mynetworks", resolver=resolver,  # type: ignore[arg-type]
                parent_domain_matches_subdomains=parents or None)
        except ValueError:
            parsed = None
        if len(_TRUSTED_CACHE) >= 8:
            _TRUSTED_CACHE.clear()
        _TRUSTED_CACHE[key] = parsed
    return _TRUSTED_CACHE[key], ""


# ----------------------------------------------------------------------------------------
# The attacker's choices


class _Scenarios:
    """Candidate clients, HELO names, senders and recipients (see module docstring)."""

    def __init__(self, evaluator: _Evaluator) -> None:
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
                    "smtpd_sender_restrictions": "sender", _RELAY_LIST: "recipient",
                    _RCPT_LIST: "recipient"}
        result: Dict[str, List[str]] = {"client": [], "helo": [], "sender": [], "recipient": []}
        for parameter, tokens in self._all_tokens():
            index = 0
            while index < len(tokens):
                token = tokens[index]
                lowered = token.lower()
                if lowered in _MAP_COMMANDS and index + 1 < len(tokens):
                    kind = _MAP_COMMANDS[lowered]
                    if kind in result:
                        result[kind].append(tokens[index + 1])
                    index += 2
                    continue
                if ":" in token:
                    kind = defaults.get(parameter)
                    if kind is not None:
                        result[kind].append(token)
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
            for key, partial in _addr_keys(address):
                result = self.evaluator.tables.lookup(token, key, partial)
                if not result.known:
                    break
                if result.value is not None:
                    hits.append((token, result.location or key, result.value))
                    break
        return hits

    def clients(self) -> List[_Client]:
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
        clients: List[_Client] = []
        for family, probes in families:
            # The common case first: a probe that is neither trusted nor in any client table.
            untouched = None
            for address in probes:
                if evaluator.trust.match(address, "unknown")[0] is False and not self._client_hits(address):
                    untouched = address
                    break
            if untouched is not None:
                clients.append(_Client(untouched, "unknown", False, "unknown", False, None))
                clients.append(_Client(untouched, ATTACKER_HOSTNAME, True, ATTACKER_HOSTNAME, True, None))
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
                     if trust[address] is not True and not any(_may_permit(value) for value in specific(address))]
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
            clients.append(_Client(address, "unknown", False, "unknown", False, forced))
            clients.append(_Client(address, ATTACKER_HOSTNAME, True, ATTACKER_HOSTNAME, True, forced))
        return clients

    def helos(self, client: _Client) -> List[Optional[str]]:
        helos: List[Optional[str]] = [ATTACKER_HOSTNAME, _address_literal(client.address)]
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


# ----------------------------------------------------------------------------------------
# Public entry points


def _witness(evaluator: _Evaluator, attempt: _Attempt, path: _Path,
             rewrite_params: EffectiveParams) -> Witness:
    params = evaluator.params
    chosen = path.permit_token
    table_entry: Optional[Location] = None
    if chosen is not None:
        parameter, token, location, table_entry = chosen
    else:
        authorized = [step for step in path.steps if "is an authorized destination (relay_domains)" in step]
        if authorized:
            parameter = "relay_domains"
            token = f"relay_domains = {rewrite_params.value('relay_domains')}"
            location = rewrite_params.location("relay_domains")
        else:
            order = [_RELAY_LIST, _RCPT_LIST]
            empty = [name for name in order if not evaluator.lists[name]]
            parameter = empty[0] if empty else order[0]
            token = "(empty list)" if not evaluator.lists[parameter] else "(end of list: implicit permit)"
            location = params.location(parameter) or params.location("compatibility_level")
    if chosen is not None and parameter != "mynetworks" and "permit_mynetworks" == token:
        parameter = "mynetworks"
    client = attempt.client
    return Witness(
        client=client.address,
        client_name=client.display_name,
        helo=attempt.helo,
        sender=attempt.sender,
        recipient=attempt.recipient,
        parameter=parameter,
        token=token,
        location=location,
        table_entry=table_entry,
        steps=path.steps,
        assumptions=path.assumptions,
        replayable=path.replayable,
    )


def _notes(evaluator: _Evaluator, scenarios: _Scenarios) -> List[str]:
    notes: List[str] = list(evaluator.address_model.assumptions())
    if scenarios.uses("permit_tls_all_clientcerts"):
        notes.append("permit_tls_all_clientcerts lets any client with a certificate from a CA that "
                     "smtpd trusts relay (not part of this verdict: the attacker has no certificate)")
    if scenarios.uses("permit_sasl_authenticated") and evaluator.sasl_enabled:
        notes.append("permit_sasl_authenticated lets every SASL account relay (the attacker has none)")
    return notes


def evaluate_relay(
    params: EffectiveParams,
    *,
    version: str,
    resolver: Optional[TableResolverLike],
    trusted: Optional[AddressListLike],
    rewrite_params: Optional[EffectiveParams] = None,
    client: Optional[str] = None,
    assumptions: Optional[Assumptions] = None,
) -> RelayVerdict:
    """Can an untrusted client relay through this listener? (see the module docstring)

    `trusted` is the trusted client set (normally the parsed `$mynetworks` of this listener;
    None = parse `mynetworks` here). `rewrite_params` is the configuration trivial-rewrite
    uses (main.cf scope); defaults to `params`. `client` pins the client address (used by
    `client_grants`). `assumptions` (the policy's `assume:`) replace "anything" as the
    possible answers of the tables and policy services they name.
    """
    service = _service_label(params)
    guard = startup_guard(params, version=version)
    if not guard.passes:
        return RelayVerdict(Verdict.REFUSED, service, guard)
    evaluator = _Evaluator(params, version=version, resolver=resolver, trusted=trusted,
                           rewrite_params=rewrite_params, assumptions=assumptions)
    scenarios = _Scenarios(evaluator)
    extra_notes: List[str] = []
    if evaluator.milters:
        extra_notes.append(f"smtpd_milters = {evaluator.milters} may still reject the recipient "
                           "(milters are not evaluated)")
    if evaluator.proxy_filter:
        extra_notes.append(f"smtpd_proxy_filter = {evaluator.proxy_filter} may still reject the "
                           "recipient (before-queue filters are not evaluated)")
    recipients = scenarios.recipients()
    unknowns: List[Unknown] = []
    count = 0
    fallback: Optional[Tuple[_Attempt, _Path]] = None

    steps_left = _MAX_TOTAL_STEPS

    def run() -> Optional[Tuple[_Attempt, _Path]]:
        nonlocal count, fallback, steps_left
        if client is not None:
            clients = [_Client(client, "unknown", False, "unknown", False, None)]
        else:
            clients = scenarios.clients()
        senders = scenarios.senders()
        for candidate in clients:
            for helo in scenarios.helos(candidate):
                for sender in senders:
                    for recipient, _domain in recipients:
                        attempt = _Attempt(candidate, helo, sender, recipient)
                        count += 1
                        if steps_left <= 0:
                            unknown = Unknown("complexity", "", "", None, "too many undecided branches to evaluate")
                            if unknown not in unknowns:
                                unknowns.append(unknown)
                            return None
                        evaluator.branch_budget = min(_MAX_BRANCHES, steps_left)
                        try:
                            outcomes = list(evaluator.rcpt(attempt))
                        except _Complexity:
                            steps_left -= _MAX_BRANCHES
                            unknown = Unknown("complexity", "", "", None, "too many undecided branches to evaluate")
                            if unknown not in unknowns:
                                unknowns.append(unknown)
                            continue
                        steps_left -= _MAX_BRANCHES - evaluator.branch_budget
                        for accepted, path, _reply in outcomes:
                            if not accepted:
                                continue
                            if path.unknowns:
                                for item in path.unknowns:
                                    if item not in unknowns:
                                        unknowns.append(item)
                                continue
                            if path.replayable:
                                return attempt, path
                            if fallback is None:
                                fallback = (attempt, path)
        return None

    found = run()
    if found is None and fallback is not None:
        found = fallback
    notes = _notes(evaluator, scenarios)
    rewrite = rewrite_params or params
    if found is not None:
        attempt, path = found
        witness = _witness(evaluator, attempt, path, rewrite)
        return RelayVerdict(Verdict.OPEN, service, guard, witness, (), tuple(notes + extra_notes), count,
                            path.relied, tuple(evaluator.consulted))
    consulted = tuple(evaluator.consulted)
    if unknowns:
        return RelayVerdict(Verdict.UNPROVEN, service, guard, None, tuple(unknowns), tuple(notes), count,
                            consulted, consulted)
    assumed: Tuple[Any, ...] = ()
    if consulted:
        # Closed with the assumptions: does it rest on them? Only if it is not closed without.
        plain = evaluate_relay(params, version=version, resolver=resolver, trusted=trusted,
                               rewrite_params=rewrite_params, client=client)
        assumed = () if plain.verdict is Verdict.CLOSED else consulted
    return RelayVerdict(Verdict.CLOSED, service, guard, None, (), tuple(notes), count, assumed, consulted)


def _client_keyed_tokens(evaluator: _Evaluator) -> Iterator[Tuple[str, str, str]]:
    """(parameter, command, table) for client-keyed access checks in the relay-relevant lists."""
    seen: Set[Tuple[str, str]] = set()

    def walk(parameter: str, tokens: Sequence[str], stack: Tuple[str, ...]) -> Iterator[Tuple[str, str, str]]:
        index = 0
        while index < len(tokens):
            token = tokens[index]
            lowered = token.lower()
            if lowered in ("check_client_access",) and index + 1 < len(tokens):
                key = (parameter, tokens[index + 1])
                if key not in seen:
                    seen.add(key)
                    yield parameter, token, tokens[index + 1]
                index += 2
                continue
            if lowered in _MAP_COMMANDS:
                index += 2
                continue
            expansion = evaluator.classes.get(token)
            if expansion is not None and token not in stack:
                yield from walk(parameter, expansion, stack + (token,))
            index += 1

    for parameter in (_RELAY_LIST, _RCPT_LIST):
        yield from walk(parameter, evaluator.lists[parameter], ())


def _address_inside(key: str, trust: Optional[_Trust] = None,
                    earlier: Optional[Dict[int, "IntervalSet"]] = None) -> Optional[str]:
    """A client a client-table key matches that can present itself to smtpd, outside the
    trusted set when possible (client_addresses.grant_client); None: the entry grants nobody."""
    from pfcheck.postfix import client_addresses

    return client_addresses.grant_client(key, trust.covered if trust is not None else None, earlier)


def client_grants(
    params: EffectiveParams,
    *,
    version: str,
    resolver: Optional[TableResolverLike],
    trusted: Optional[AddressListLike],
    rewrite_params: Optional[EffectiveParams] = None,
) -> List[ClientGrant]:
    """Client-address permits (check_client_access tables in the relay/recipient lists, also
    inside restriction classes) that admit clients outside the trusted set, each with an
    address it admits and whether that client can actually relay here."""
    from pfcheck.postfix import client_addresses

    evaluator = _Evaluator(params, version=version, resolver=resolver, trusted=trusted,
                           rewrite_params=rewrite_params)
    grants: List[ClientGrant] = []
    for parameter, command, table in _client_keyed_tokens(evaluator):
        entries = evaluator.tables.entries(table)
        if not entries:
            continue
        # cidr tables are first-match: an entry never applies to what earlier entries match.
        earlier: Optional[Dict[int, IntervalSet]] = {} if _table_type(table) == "cidr" else None
        for entry in entries:
            address = _address_inside(entry.key, evaluator.trust, earlier)
            if earlier is not None:
                client_addresses.add_key_range(earlier, entry.key)
            if address is None:
                continue
            if not _may_permit(entry.value):
                continue
            if evaluator.trust.match(address, "unknown")[0] is True:
                continue
            verdict = evaluate_relay(params, version=version, resolver=resolver, trusted=trusted,
                                     rewrite_params=rewrite_params, client=address)
            assumptions, replayable = _grant_assumptions(evaluator, address, verdict)
            grants.append(ClientGrant(
                parameter=parameter,
                token=f"{command} {table}",
                location=params.location(parameter),
                entry=entry.key,
                entry_location=entry.location,
                address=address,
                relays=verdict.verdict is Verdict.OPEN,
                assumptions=assumptions,
                replayable=replayable,
            ))
    return grants


def _grant_assumptions(evaluator: _Evaluator, address: str, verdict: RelayVerdict) -> Tuple[Tuple[str, ...], bool]:
    """The grant witness's assumptions: its relay evaluation's, plus a disabled address family
    (smtpd then takes no such client, and XCLIENT refuses it: not replayable)."""
    assumptions = verdict.witness.assumptions if verdict.witness is not None else ()
    replayable = verdict.witness.replayable if verdict.witness is not None else True
    enabled = evaluator.ipv6_enabled if ":" in address else evaluator.ipv4_enabled
    if not enabled:
        assumptions += (f"inet_protocols enables IPv{'6' if ':' in address else '4'} "
                        f"(it does not now: no such client can connect)",)
        replayable = False
    return assumptions, replayable
