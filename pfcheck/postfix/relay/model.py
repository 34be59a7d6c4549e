"""What the relay evaluator needs from the rest of pfcheck, and the results it gives back."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Optional, Protocol, Sequence, Tuple

from pfcheck.postfix.relay.syntax import smtp_address

if TYPE_CHECKING:  # annotations only
    from pathlib import Path as PathType

    from pfcheck.postfix.tables import Table, TableRef

#: (path, line) of a definition or a table entry.
Location = Tuple[str, int]


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


class AddressMatch(Protocol):
    """What `pfcheck.postfix.networks.Match` tells: matched (None: cannot tell) and the
    Postfix lookup error, if any."""

    @property
    def matched(self) -> Optional[bool]:
        ...

    @property
    def error(self) -> Optional[str]:
        ...


class AddressListLike(Protocol):
    """What `pfcheck.postfix.networks.AddressList` offers the evaluator (the trusted set)."""

    @property
    def items(self) -> Sequence[Any]:
        """The parsed items; an item whose `dns` is not None can match a client name."""
        ...

    def match(self, address: str, *, client_name: Optional[str] = None,
              ipv4_enabled: bool = True) -> AddressMatch:
        ...

    def trusted_networks(self, *, ipv4_enabled: bool = True) -> Any:
        """A `networks.TrustedNetworks`: trusted(family), maybe(family), errors(family)."""
        ...


class TableResolverLike(Protocol):
    """What the evaluator asks of a `pfcheck.postfix.tables.TableResolver`: the Table of a
    reference, and the repository file of a `/file/name` list entry."""

    def load(self, ref: TableRef) -> Table:
        ...

    def source_path(self, ref_name: str) -> Optional[PathType]:
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
    which pfcheck cannot write a matching value), "complexity" (too many undecided branches),
    "refused" (a value Postfix refuses, which makes smtpd exit at start-up: token and parameter
    name it).
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
