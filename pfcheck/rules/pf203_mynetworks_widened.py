"""A change trusts clients that were not trusted before (PF203, mynetworks-widened).

## What it does
With `--base REV` (in the pre-commit hook: the last commit), compares every listener's trusted
client set now with the same listener's at REV: `mynetworks` after `-o` overrides, read as
Postfix reads it, plus the clients that client-based permits (`check_client_access` with `OK`,
a permitting restriction class) let relay. A client address trusted now but not at REV is a
**witness**; the finding names it, the old and new values, and the line that widened the set.
It fires even when the new set is still inside the policy: widening trust is a reviewable
event. Narrowing never fires.

## Why is this bad?
Trusted clients may relay to any destination. Adding `192.168.0.0/16` "for the office" also
trusts every guest Wi-Fi, VPN pool and container network numbered in that range. A reviewer
should see that this change grants relay to 65,536 more addresses.

## Example
    # before
    mynetworks = 127.0.0.0/8 [::1]/128
    # after
    mynetworks = 127.0.0.0/8 [::1]/128 192.168.0.0/16

## Use instead
    mynetworks = 127.0.0.0/8 [::1]/128 192.168.10.25

## References
- postconf(5): mynetworks, permit_mynetworks; access(5)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.addresses import IPV4, IPV6
from pfcheck.postfix.witness import witness_outside
from pfcheck.rules.base import RuleContext, make_finding, no_findings
from pfcheck.rules.pf201_mynetworks_outside_policy import (
    address_witness,
    family_assumption,
    ipv4_enabled,
    table_entry,
    trusted_list,
)

ID = "PF203"
NAME = "mynetworks-widened"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}
IMPLICIT_BEFORE = "127.0.0.0/8 [::1]/128"


#: Findings come from `compare()`, which the engine calls with `--base` only.
check = no_findings


def _old_scope(old: RuleContext, key: str) -> Any:
    for listener in old.config.listeners():
        if listener.key == key:
            return listener.scope
    return old.config.global_scope


def _relaying_grants(ctx: RuleContext, scope: Any) -> dict[str, Any]:
    from pfcheck.postfix.relay import client_grants

    grants = client_grants(scope, version=ctx.config.version, resolver=ctx.resolver(), trusted=None,
                           rewrite_params=ctx.config.global_scope)
    return {grant.address: grant for grant in grants if grant.relays}


def compare(new: RuleContext, old: RuleContext, revision: str) -> Iterator[Finding]:
    reported: set[tuple[str, int, str]] = set()
    for listener in new.remote_smtpd_listeners():
        scope = listener.scope
        old_scope = _old_scope(old, listener.key)
        value, old_value = scope.get("mynetworks"), old_scope.get("mynetworks")
        new_list = old_list = None
        if not (value.origin.is_default or value.error or old_value.error):
            new_list = trusted_list(new, scope, value.expanded)
            # An unset mynetworks trusted the host's own addresses (or its subnets, which PF202
            # reports): what the repo can show of that is loopback, so all else is widening.
            old_text = IMPLICIT_BEFORE if old_value.origin.is_default else old_value.expanded
            old_list = trusted_list(old, old_scope, old_text)
        old_grants = _relaying_grants(old, old_scope)
        if new_list is not None and old_list is not None and not new_list.fatal:
            v4 = ipv4_enabled(scope)
            before = old_list.trusted_networks(ipv4_enabled=v4)
            previously = (before.ipv4.union(before.maybe_ipv4).network_texts(IPV4)
                          + before.ipv6.union(before.maybe_ipv6).network_texts(IPV6, brackets=True))
            previously += [f"{address}" if ":" not in address else f"[{address}]" for address in old_grants]
            witness = witness_outside(new_list, previously, ipv4_enabled=v4, include_possible=False)
            if witness is not None:
                item = witness.item
                if item is not None and item.origin is not None:
                    path, line, column = item.origin.path, item.origin.line, 1
                else:
                    path, line, column = new.location_of(value, listener)
                key = (str(path), line, witness.address)
                if key not in reported:
                    reported.add(key)
                    via = f" (item {item.text!r}{table_entry(new, item, witness.address)})" if item is not None else ""
                    disabled = family_assumption(scope, witness.address)
                    was = old_value.expanded if not old_value.origin.is_default else "unset"
                    if was == value.expanded:
                        # The value is the same: what changed is a table or file it names.
                        change = f"mynetworks is unchanged ({value.expanded!r}): a table or file it names changed"
                    else:
                        change = f"mynetworks was {was!r}, is {value.expanded!r}"
                    yield make_finding(
                        new, ID, NAME, path, line, column,
                        f"{listener.key} now trusts client {witness.address}{via}, which it did not trust at "
                        f"{revision}: {change}",
                        service=listener.key, parameter="mynetworks",
                        witness=address_witness(witness.address, disabled, replayable=not disabled),
                        expected=old_value.expanded, actual=value.expanded,
                    )
        for address, grant in _relaying_grants(new, scope).items():
            if address in old_grants:
                continue
            if old_list is not None and old_list.match(address).matched is True:
                continue
            location: Optional[tuple[str, int]] = grant.entry_location or grant.location
            path = Path(location[0]) if location else new.config.main.path
            line = location[1] if location else 1
            key = (str(path), line, address)
            if key in reported:
                continue
            reported.add(key)
            yield make_finding(
                new, ID, NAME, path, line, 1,
                f"{listener.key} now lets client {address} relay through {grant.parameter}: {grant.token} "
                f"(entry {grant.entry!r}); it could not relay at {revision}",
                service=listener.key, parameter=grant.parameter,
                witness=address_witness(address, grant.assumptions, grant.replayable),
                actual=grant.entry,
            )
