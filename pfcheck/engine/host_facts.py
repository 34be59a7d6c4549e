"""The facts the HTML fleet report shows per host and listener (pfcheck/report/hosts.py).

Computed once per config directory, right after its rules ran and from what they computed:
the relay verdict is the one PF301-PF303 cached in the rule context (relay_common), the
reachability and sockets are the config's own (ConfigDir.listeners(), listening.py). Only a
run that renders such a format computes them (`LintOptions.host_facts`), in the worker that
ran the directory's rules when there are workers.
"""
from __future__ import annotations

from typing import Optional

from pfcheck.postfix.config import Listener
from pfcheck.postfix.listening import listener_sockets
from pfcheck.report.hosts import (
    RELAY_CLOSED, RELAY_NOT_JUDGED, RELAY_OPEN, RELAY_REFUSES, RELAY_UNPROVEN, HostFacts, ListenerFacts,
)
from pfcheck.rules.base import RuleContext
from pfcheck.rules.relay_common import assumption_texts, dies_at_startup, relay_verdict, smtpd_listeners

def host_facts(ctx: RuleContext) -> HostFacts:
    """The HostFacts of the directory `ctx` judged (its findings are added by the caller)."""
    config = ctx.config
    directory = ctx.display(config.directory)
    source = config.main_source
    if not source.checkable:
        reason = source.unreadable or f"template ({source.template}): not checked"
        return HostFacts(directory, config.version, not_checked=reason)
    return HostFacts(directory, config.version, tuple(_listener_facts(ctx, listener) for listener in smtpd_listeners(ctx)))


def _listener_facts(ctx: RuleContext, listener: Listener) -> ListenerFacts:
    addresses, bind_error = listener_sockets(ctx.config, listener)
    relay, detail, witness = _relay(ctx, listener)
    vrfy = listener.scope.get("disable_vrfy_command")
    vrfy_word = vrfy.expanded.strip().lower() if vrfy.error is None else ""
    trusted = listener.scope.get("mynetworks")
    if trusted.error is not None:
        trusted_text = f"(expansion error: {trusted.error})"
    elif trusted.origin.is_default:
        # Computed from the mail host's interfaces: a host fact pfcheck does not guess (PF202).
        trusted_text = f"the host's networks (mynetworks_style = {listener.scope.value('mynetworks_style') or 'subnet'})"
    else:
        trusted_text = " ".join(trusted.expanded.replace(",", " ").split())
    return ListenerFacts(
        service=listener.key, reachable=listener.remote,
        binding=listener.binding or "no inet entry point",
        addresses=tuple(addresses), bind_error=bind_error,
        relay=relay, relay_detail=detail, witness=witness,
        vrfy={"no": True, "yes": False}.get(vrfy_word),
        trusted=trusted_text, trusted_origin=trusted.origin.label(),
    )


def _relay(ctx: RuleContext, listener: Listener) -> tuple[str, str, Optional[tuple[tuple[str, str], ...]]]:
    """(verdict, why, witness) as PF000, PF301, PF302, PF303 and PF305 judge the listener."""
    from pfcheck.postfix.relay import Verdict

    if dies_at_startup(listener):
        return RELAY_REFUSES, "smtpd exits at start-up: a value it reads is refused (PF000)", None
    verdict = relay_verdict(ctx, listener)
    if verdict.verdict is Verdict.REFUSED:
        return RELAY_REFUSES, f"every smtpd exits at its first connection: {verdict.guard.message} (PF303)", None
    if not listener.remote:
        return RELAY_NOT_JUDGED, f"not reachable from other hosts ({listener.binding or 'no inet entry point'})", None
    if verdict.verdict is Verdict.OPEN and verdict.witness is not None:
        found = verdict.witness
        # As PF301's message writes them: the SMTP forms of the envelope addresses.
        witness = (("client", found.client), ("helo", found.helo if found.helo is not None else "(no HELO)"),
                   ("sender", f"<{found.smtp_sender}>"), ("recipient", f"<{found.smtp_recipient}>"))
        how = found.parameter + (f": {found.token}" if found.token else "")
        return RELAY_OPEN, f"an untrusted client relays through {how} (PF301)", witness
    if verdict.verdict is Verdict.UNPROVEN:
        names = "; ".join(str(unknown) for unknown in verdict.unknowns)
        return RELAY_UNPROVEN, f"depends on {names} (PF302)", None
    assumed = assumption_texts(ctx, verdict.assumed)
    if assumed:
        return RELAY_CLOSED, f"closed assuming {'; '.join(assumed)} (PF305)", None
    return RELAY_CLOSED, "no untrusted client gets a foreign recipient accepted", None
