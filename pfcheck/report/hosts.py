"""Per-host facts the HTML fleet report shows: one `HostFacts` per config directory, one
`ListenerFacts` per smtpd listener.

Plain frozen data, computed once by the engine (pfcheck/engine/host_facts.py) only when a
format that shows them is requested, returned by worker processes like findings (so every
field pickles), and read by the renderers without re-parsing anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pfcheck.findings import Finding

#: The relay verdicts of a listener, in the order the report explains them.
RELAY_OPEN = "open"
RELAY_UNPROVEN = "unproven"
RELAY_REFUSES = "refuses-to-start"
RELAY_CLOSED = "closed"
RELAY_NOT_JUDGED = "not-judged"
RELAY_VERDICTS: tuple[str, ...] = (RELAY_OPEN, RELAY_UNPROVEN, RELAY_REFUSES, RELAY_CLOSED, RELAY_NOT_JUDGED)


@dataclass(frozen=True)
class ListenerFacts:
    """One smtpd listener of a host (master.cf `service/type`).

    `relay` is one of RELAY_VERDICTS: open (a witness relays), unproven (PF302: the verdict
    depends on what pfcheck cannot see), refuses-to-start (smtpd exits at start-up or at its
    first connection: PF000, PF303), closed, or not-judged (no other host reaches it).
    `relay_detail` says why in one sentence. `witness` is the open relay's transaction
    (client, helo, sender, recipient) as PF301 names it. `vrfy` is whether smtpd answers VRFY
    (None when the value is one smtpd refuses). `trusted` is the effective `mynetworks`
    (`trusted_origin`: where it is set, or `default`); `addresses` the sockets master binds
    for the listener's inet entry points, `bind_error` master's refusal to bind them.
    """

    service: str
    reachable: bool
    binding: str
    addresses: tuple[str, ...]
    bind_error: Optional[str]
    relay: str
    relay_detail: str
    witness: Optional[tuple[tuple[str, str], ...]]
    vrfy: Optional[bool]
    trusted: str
    trusted_origin: str


@dataclass(frozen=True)
class HostFacts:
    """One config directory (`directory`, its display path). `not_checked` is why its
    listeners are unknown (a template or an unreadable main.cf), None when they were read.
    `findings` are the directory's findings after suppressions and the pass/fail decision,
    filled in by the caller that builds the Report."""

    directory: str
    postfix_version: str
    listeners: tuple[ListenerFacts, ...] = ()
    not_checked: Optional[str] = None
    findings: tuple[Finding, ...] = ()
