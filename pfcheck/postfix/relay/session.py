"""The SMTP session being judged, and what one evaluation branch carries along.

An `Attempt` is one transaction of the attacker (client, HELO, sender, recipient). While the
restriction lists run over it, each branch holds a `State` (generic_checks()'s flags) and a
`Path` (what the branch relied on, and its trace); a restriction answers with `Outcome`s.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Optional, Set, Tuple

from pfcheck.postfix.relay.model import Location, Unknown

_PLAIN_FIELDS: Dict[type, FrozenSet[str]] = {}

#: Set to 1 to evaluate everything afresh, without reusing results (relay verdicts of identical
#: listeners, outcomes of attempts and branches that cannot differ): tests compare both ways.
NO_REUSE_ENV = "PFCHECK_NO_REUSE"


def reuse_enabled() -> bool:
    """Whether evaluation results may be reused (unless PFCHECK_NO_REUSE is set, and not to 0)."""
    return os.environ.get(NO_REUSE_ENV, "") in ("", "0")


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


@dataclass(frozen=True)
class Client:
    """The connecting client: its address, and its names as smtpd's DNS lookups find them."""

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
class Attempt:
    """One transaction of the attacker, up to RCPT TO."""

    client: Client
    helo: Optional[str]
    sender: str  # internal form; "" = the null sender
    recipient: str  # internal form, as smtpd hands it to the resolver


# (parameter, token, location, table entry) of the restriction that permitted.
PermitToken = Tuple[str, str, Optional[Location], Optional[Location]]

# Status codes as generic_checks uses them.
OK = 1
DUNNO = 0
REJECT = -1


@dataclass(frozen=True)
class State:
    """generic_checks()'s per-list flags (smtpd's `state`), as one branch has them."""

    recursion: int = 0
    warn_if_reject: int = 0
    defer_if_permit: Optional[str] = None
    defer_if_reject: Optional[str] = None
    discard: bool = False
    rcpt_maps_checked: bool = False
    sender_maps_checked: bool = False


@dataclass(frozen=True)
class Path:
    """What one evaluation branch relied on: unknown choices, attacker assumptions, trace."""

    unknowns: Tuple[Unknown, ...] = ()
    assumptions: Tuple[str, ...] = ()
    replayable: bool = True
    steps: Tuple[str, ...] = ()
    permit_token: Optional[PermitToken] = None
    relied: Tuple[Any, ...] = ()  # policy assumptions (pfcheck.policy.assume) used on the way

    def rely(self, assumption: Any) -> "Path":
        if assumption in self.relied:
            return self
        return replace(self, relied=self.relied + (assumption,))

    def unknown(self, item: Unknown) -> "Path":
        if item in self.unknowns:
            return self
        return replace(self, unknowns=self.unknowns + (item,))

    def assume(self, text: str, replayable: bool = True) -> "Path":
        assumptions = self.assumptions if text in self.assumptions else self.assumptions + (text,)
        return replace(self, assumptions=assumptions, replayable=self.replayable and replayable)

    def step(self, text: str) -> "Path":
        return replace(self, steps=self.steps + (text,))

    def then(self, later: "Path") -> "Path":
        """This path followed by `later`, a path that started empty: what the evaluation that
        gave `later` gives when it starts from this path instead. The evaluator only adds to a
        path (unknowns, assumptions and relied as ordered sets, steps in order, replayable as
        "and") and reads no part of it but `permit_token`, which every list starts without.

        `unknowns` is joined without dropping repeats (comparing Unknowns was most of the cost
        on lists that branch a lot): it is read only as an ordered set (`unknown()` asks
        whether an item is in it, evaluate_relay() collects its items in order, first
        occurrence first), and for those readings a repeat changes nothing."""
        if type(later) is Joined:
            later = settled(later)
        if not (later.unknowns or later.assumptions or later.relied or later.steps) \
                and later.replayable and later.permit_token is None:
            return self
        joined = object.__new__(Path)  # as replace() does: the frozen __init__ costs more
        joined.__dict__.update(
            unknowns=self.unknowns + later.unknowns,
            assumptions=_ordered_union(self.assumptions, later.assumptions),
            replayable=self.replayable and later.replayable,
            steps=self.steps + later.steps,
            permit_token=later.permit_token,
            relied=_ordered_union(self.relied, later.relied),
        )
        return joined


class Joined:
    """`first.then(later)`, not built yet: what Evaluator._continued() hands on. Most joined
    paths belong to attempts that run out of budget further on, or are rejected, and nobody
    reads them; Evaluator.rcpt() builds the paths of the outcomes it returns (`settled()`).
    Not a Path: code that took one for a Path would fail, not read a wrong one."""

    __slots__ = ("first", "later")

    def __init__(self, first: Path, later: Any) -> None:
        self.first = first
        self.later = later


def settled(path: Any) -> Path:
    """The Path a Joined stands for (a Path as it is)."""
    if type(path) is Joined:
        return path.first.then(settled(path.later))
    return path


def _ordered_union(first: Tuple[Any, ...], second: Tuple[Any, ...]) -> Tuple[Any, ...]:
    """`first`, then the items of `second` not in it, in order."""
    if not second:
        return first
    if not first:
        return second
    return first + tuple(item for item in second if item not in first)


@dataclass(frozen=True)
class Branch:
    """A finished run of one list on one branch: its status, state, path and reply."""

    status: int
    state: State
    path: Path
    reply: str = ""


@dataclass(frozen=True)
class Context:
    """What a restriction list sees: the stage and which SMTP data exist at that time."""

    attempt: Attempt
    parameter: str
    default_acl: Optional[str]
    stage: str  # CONNECT | HELO | MAIL | RCPT
    helo: Optional[str]
    sender: Optional[str]
    recipient: Optional[str]


#: One possible answer of a restriction: (status, state, path, tokens consumed, reply text).
Outcome = Tuple[int, State, Path, int, str]
#: One possible answer of an access-table action (check_table_result()): (status, state,
#: path, reply text); the restriction that looked it up adds the tokens it consumed.
TableOutcome = Tuple[int, State, Path, str]


class Complexity(Exception):
    """The branch budget of one attempt is spent."""


# ---- which parts of an attempt an evaluation read (verdict.py reuses outcomes by them) -------
#
# An evaluation of one attempt is deterministic: given the same configuration it reads the same
# attempt data in the same order and answers the same. A *traced* Attempt (and the Contexts built
# over it) notes each field of the attempt that the restriction machinery reads: `client`,
# `helo`, `sender`, `recipient` (on the attempt, or a Context's copy of them). Another attempt
# that agrees on every field the first one read follows the same course, so it has the same
# outcomes. Reads go through properties; construction, replace() and pickling see the plain
# instance dict, so nothing else changes.


def _traced_field(name: str) -> property:
    def get(self: Any) -> Any:
        fields = self.__dict__
        fields["_reads"].add(name)
        return fields[name]

    return property(get)


class TracedAttempt(Attempt):
    """An Attempt that notes which of its fields were read (in `_reads`)."""

    client = _traced_field("client")  # type: ignore[assignment]
    helo = _traced_field("helo")  # type: ignore[assignment]
    sender = _traced_field("sender")  # type: ignore[assignment]
    recipient = _traced_field("recipient")  # type: ignore[assignment]


class TracedContext(Context):
    """A Context over a TracedAttempt whose copies of the attempt's data note their reads."""

    helo = _traced_field("helo")  # type: ignore[assignment]
    sender = _traced_field("sender")  # type: ignore[assignment]
    recipient = _traced_field("recipient")  # type: ignore[assignment]


#: The fields of an Attempt a trace can name.
ATTEMPT_FIELDS = ("client", "helo", "sender", "recipient")


def traced(obj: Any, reads: Set[str]) -> Any:
    """A traced copy of an Attempt or a Context, noting reads in `reads`."""
    cls = TracedAttempt if isinstance(obj, Attempt) else TracedContext
    copied = object.__new__(cls)
    copied.__dict__.update(obj.__dict__)
    copied.__dict__["_reads"] = reads
    return copied
