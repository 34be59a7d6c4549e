"""trivial-rewrite's delivery route for one resolved address: channel (transport) and nexthop.

What smtpd learns from resolve_clnt() besides the address class, as Postfix 3.7 computes it:

* `resolve.c` resolve_addr(): the class picks the main.cf transport (`local_transport`,
  `virtual_transport`, `relay_transport`, `default_transport`; the virtual alias class is
  `error:5.1.1 User unknown` and skips the transport table); `transport:nexthop` in main.cf
  overrides the nexthop; an empty channel is "null transport is not allowed" (RESOLVE_FLAG_FAIL).
  Then `transport_maps`, then `relocated_maps` (error "5.1.6 User has moved to ...").
* `transport.c` transport_lookup(): mail_addr_find_strategy() with FULL | NOEXT | DOMAIN and
  PDMS when `parent_domain_matches_subdomains` names transport_maps, else PDDMDS; only when
  nothing matched (and no lookup failed), the `*` wildcard (a FULL lookup, so regexp tables see
  the key `*` too). update_entry(): an empty channel keeps the channel ("" and ":" are no-ops),
  a channel without nexthop resets the nexthop to the recipient domain, or for error/retry to
  "Address is undeliverable".
* `global/mail_addr_find.c`: keys in order user+ext@domain (full lookup), user@domain (partial:
  DICT_FLAG_FIXED tables only), then domain and its parents (partial); PDMS tries the bare parent
  `example`, PDDMDS the dotted `.example`. Tables are searched in order for each key.

How smtpd uses the route at RCPT (`smtpd/smtpd_check.c` check_rcpt_maps(), run by
reject_unlisted_recipient/sender and the implicit smtpd_reject_unlisted_recipient): unless the
address matches recipient_canonical_maps, canonical_maps or virtual_alias_maps, an `error`
channel is "550 <dsn> <addr>: Recipient address rejected: <nexthop text>" (dsn 5.1.1 unless the
text starts with one) and `retry` is the same with 450 and 4.1.1. `discard` is accepted.

Sender-dependent routing (`sender_dependent_default_transport_maps`) depends on the envelope
sender; pfcheck does not model it, so a route it could change is unknown.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, List, Optional, Protocol, Sequence, Tuple

from pfcheck.postfix.lines import CHARS_COMMA_SP, split_braced

Location = Tuple[str, int]

ERROR_CHANNEL = "error"  # MAIL_SERVICE_ERROR
RETRY_CHANNEL = "retry"  # MAIL_SERVICE_RETRY
UNDELIVERABLE = "Address is undeliverable"  # update_entry()'s nexthop for error/retry
WILDCARD = "*"

# Main.cf transport parameter per address class (resolve_addr()).
CLASS_TRANSPORT = {
    "local": "local_transport",
    "virtual": "virtual_transport",
    "relay": "relay_transport",
    "default": "default_transport",
}


class Answer(Protocol):
    """One table lookup as relay.lookups.Tables.lookup() answers it (read-only)."""

    @property
    def value(self) -> Optional[str]: ...

    @property
    def known(self) -> bool: ...

    @property
    def location(self) -> Optional[Location]: ...

    @property
    def detail(self) -> str: ...


# (table token, key, partial) -> Answer; `failed(answer)` says whether it is a lookup failure.
LookupFn = Callable[[str, str, bool], Answer]


@dataclass(frozen=True)
class Route:
    """What trivial-rewrite answers for one address (channel and nexthop)."""

    channel: str
    nexthop: str
    origin: str  # the parameter that set the channel last
    location: Optional[Location] = None  # the table line that did, when one did
    unknown: Optional[str] = None  # table token whose contents decide the route and are not known
    unknown_parameter: str = ""
    detail: str = ""
    fail: Optional[str] = None  # RESOLVE_FLAG_FAIL: smtpd answers 451

    def rcpt_reply(self, address: str, sender: bool = False) -> Optional[str]:
        """check_rcpt_maps()'s rejection for an error/retry route, None when it accepts."""
        if self.channel == ERROR_CHANNEL:
            code, default = 550, "5.1.0" if sender else "5.1.1"
        elif self.channel == RETRY_CHANNEL:
            code, default = 450, "4.1.0" if sender else "4.1.1"
        else:
            return None
        dsn, text = dsn_split(default, self.nexthop)
        dsn = dsn_fix(dsn, sender)
        # smtpd_check_reject() makes the DSN class agree with the reply code.
        dsn = str(code)[0] + dsn[1:]
        what = "Sender" if sender else "Recipient"
        return f"{code} {dsn} <{address}>: {what} address rejected: {text}"


_DSN = re.compile(r"([245]\.\d{1,3}\.\d{1,3})(?:\s|$)")
# smtpd_dsn_fix.c dsn_map: X.1.<micro> -> (sender DSN, recipient DSN); others map to X.1.0.
# (SND_DSN, smtpd_dsn_fix.h, is 4.1.7.)
_DSN_MAP = {"1": ("4.1.7", "4.1.1"), "2": ("4.1.8", "4.1.2"), "3": ("4.1.7", "4.1.3"), "4": ("4.1.7", "4.1.4"),
            "5": ("4.1.0", "4.1.5"), "6": ("4.1.7", "4.1.6"), "7": ("4.1.7", "4.1.3"), "8": ("4.1.8", "4.1.2")}


def dsn_split(default: str, text: str) -> Tuple[str, str]:
    """dsn_split(): a leading "d.ddd.ddd" status in the text replaces the default one."""
    text = text.lstrip()
    match = _DSN.match(text)
    if match is None:
        return default, text
    return match.group(1), text[match.end():].lstrip()


def dsn_fix(status: str, sender: bool) -> str:
    """smtpd_dsn_fix(): an address status (X.1.Y) is turned into the sender or recipient one."""
    if not (status[:1].isdigit() and status[1:4] == ".1."):
        return status
    fixed = _DSN_MAP.get(status[4:], ("4.1.0", "4.1.0"))[0 if sender else 1]
    return status[0] + fixed[1:]


def main_cf_channel(setting: str, rcpt_domain: str) -> Tuple[str, str]:
    """`transport[:nexthop]` of a main.cf *_transport value: the nexthop is the recipient domain
    unless the setting names one (resolve_addr(): split_at(channel, ':'))."""
    channel, _, nexthop = setting.strip().partition(":")
    return channel, nexthop or rcpt_domain


def update_entry(value: str, rcpt_domain: str, channel: str, nexthop: str) -> Tuple[str, str]:
    """transport.c parse_transport_entry() + update_entry() for one table result."""
    new_channel, colon, new_nexthop = value.partition(":")
    if not colon:
        new_nexthop = ""
    if not new_channel:  # ":[nexthop]" keeps the channel
        return channel, new_nexthop or nexthop
    if new_nexthop:
        return new_channel, new_nexthop
    if new_channel in (ERROR_CHANNEL, RETRY_CHANNEL):
        return new_channel, UNDELIVERABLE
    return new_channel, rcpt_domain


def strip_extension(address: str, delimiters: str) -> Optional[str]:
    """strip_addr_internal()/split_addr(): user+ext@domain -> user@domain, None when unsplit."""
    if not delimiters:
        return None
    local, at, domain = address.rpartition("@")
    if not at:
        local, domain = address, ""
    lowered = local.lower()
    if lowered in ("postmaster", "mailer-daemon", "double-bounce"):
        return None
    if "-" in delimiters and (lowered.startswith("owner-") or (len(lowered) > 8 and lowered.endswith("-request"))):
        return None  # owner_request_special (default yes) keeps owner-foo and foo-request whole
    cut = next((index for index, char in enumerate(local) if char in delimiters), len(local))
    if cut == 0 or cut == len(local):
        return None
    return local[:cut] + (at + domain if at else "")


def transport_keys(address: str, *, delimiters: str, parent_style: bool) -> List[Tuple[str, bool]]:
    """(key, partial) in mail_addr_find_strategy() order for FULL | NOEXT | DOMAIN | PDMS/PDDMDS."""
    keys: List[Tuple[str, bool]] = [(address, False)]
    bare = strip_extension(address, delimiters)
    if bare is not None:
        keys.append((bare, True))
    domain = address.rpartition("@")[2]
    name = domain
    while name:
        keys.append((name, True))
        dot = name.find(".", 1)
        if dot < 0:
            break
        # PDMS: "sub.example" then "example"; PDDMDS: "sub.example" then ".example".
        name = name[dot + 1:] if parent_style else name[dot:]
    return keys


def split_tables(value: str) -> List[str]:
    """maps_create()'s tokens: mystrtokq(CHARS_COMMA_SP, CHARS_BRACE), so {inline} stays whole."""
    return [token for token, _ in split_braced(value, CHARS_COMMA_SP) if token]


class Router:
    """The route computation over one scope's trivial-rewrite parameters."""

    def __init__(self, value: Callable[[str], str], lookup: LookupFn,
                 failed: Callable[[Answer], bool]) -> None:
        self._value = value
        self._lookup = lookup
        self._failed = failed
        parents = {item for item in re.split(r"[,\s]+", value("parent_domain_matches_subdomains")) if item}
        self.parent_style = "transport_maps" in parents
        self.delimiters = value("recipient_delimiter")
        self.transport_maps = split_tables(value("transport_maps"))
        self.relocated_maps = split_tables(value("relocated_maps"))
        self.sender_transport_maps = value("sender_dependent_default_transport_maps").strip()

    def strip(self, address: str) -> Optional[str]:
        """The address without its recipient_delimiter extension (None: nothing to strip)."""
        return strip_extension(address, self.delimiters)

    def _find(self, tables: Sequence[str], keys: Sequence[Tuple[str, bool]], parameter: str
              ) -> Tuple[Optional[Answer], Optional[Route]]:
        """maps_find() over the keys in order: (found answer, or a Route saying unknown/fail)."""
        for key, partial in keys:
            for token in tables:
                answer = self._lookup(token, key, partial)
                if self._failed(answer):
                    return None, Route("", "", parameter, answer.location, fail=f"{parameter}: {token}: {answer.detail}")
                if not answer.known:
                    return None, Route("", "", parameter, answer.location, unknown=token, unknown_parameter=parameter,
                                       detail=answer.detail or f"contents of {token} are not known")
                if answer.value is not None:
                    return answer, None
        return None, None

    def route(self, address: str, cls: str) -> Route:
        """The channel and nexthop trivial-rewrite gives `address` (user@domain, internal form)."""
        domain = address.rpartition("@")[2]
        if cls == "alias":
            return Route(ERROR_CHANNEL, "5.1.1 User unknown", "virtual_alias_domains")
        parameter = CLASS_TRANSPORT[cls]
        channel, nexthop = main_cf_channel(self._value(parameter), domain)
        origin = parameter
        if not channel:
            return Route("", "", parameter, fail=f"{parameter}: null transport is not allowed")
        if cls == "default" and self.sender_transport_maps:
            return Route(channel, nexthop, parameter, unknown=self.sender_transport_maps,
                         unknown_parameter="sender_dependent_default_transport_maps",
                         detail="the default transport depends on the envelope sender")
        location: Optional[Location] = None
        if self.transport_maps:
            keys = transport_keys(address, delimiters=self.delimiters, parent_style=self.parent_style)
            answer, stop = self._find(self.transport_maps, keys, "transport_maps")
            if stop is None and answer is None:
                # The wildcard only when nothing matched: transport_wildcard_init() (FULL lookup).
                answer, stop = self._find(self.transport_maps, [(WILDCARD, False)], "transport_maps")
            if stop is not None:
                return stop
            if answer is not None and answer.value is not None:
                channel, nexthop = update_entry(answer.value, domain, channel, nexthop)
                origin, location = "transport_maps", answer.location
        if self.relocated_maps:
            # mail_addr_find() default strategy; LOCALPART_IF_LOCAL does not apply to the
            # foreign domains the relay verdict is about, so it is left out.
            keys = [(address, False)]
            bare = self.strip(address)
            if bare is not None:
                keys.append((bare, True))
            keys.append(("@" + domain, True))
            answer, stop = self._find(self.relocated_maps, keys, "relocated_maps")
            if stop is not None:
                return stop
            if answer is not None and answer.value is not None:
                return Route(ERROR_CHANNEL, f"5.1.6 User has moved to {answer.value}", "relocated_maps",
                             answer.location)
        return Route(channel, nexthop, origin, location)
