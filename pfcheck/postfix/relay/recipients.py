"""Recipient checks: is the destination authorized, and does smtpd know the recipient.

`authorized` is permit_auth_destination()'s question to trivial-rewrite (a final or relay
class, not source-routed); the destination restrictions (permit_auth_destination,
reject_unauth_destination, check_relay_domains, permit_mx_backup) are built on it.
`recipient_validation` is check_rcpt_maps(), run by reject_unlisted_recipient/sender and by
the implicit smtpd_reject_unlisted_recipient/sender: an `error`/`retry` route or a missing
relay_recipient_maps entry rejects, unless canonical or virtual alias maps know the address.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Sequence, Tuple, Union

from pfcheck.postfix.relay.syntax import smtp_address
from pfcheck.postfix.relay.lists import split_restrictions
from pfcheck.postfix.relay.model import Unknown
from pfcheck.postfix.relay.rewrite import Resolved
from pfcheck.postfix.relay.session import DUNNO, REJECT, Outcome, Path, replace
from pfcheck.postfix.resolve import Route

if TYPE_CHECKING:  # annotations only: the evaluator imports this module
    from pfcheck.postfix.relay.evaluator import Evaluator
    from pfcheck.postfix.relay.restrictions import Call

#: What `authorized` answers when the resolver's table lookup failed (smtpd: 451).
_LOOKUP_FAILED = "fail"
_TEMPORARY_FAILURE = "451 4.3.0 Temporary lookup failure"
# The parameter that puts a domain in each final or relay address class.
_CLASS_PARAMETERS = {"local": "mydestination", "alias": "virtual_alias_domains",
                     "virtual": "virtual_mailbox_domains", "relay": "relay_domains"}


# ----------------------------------------------------------------------------------------
# Authorized destinations


def authorized(ev: Evaluator, recipient: str, path: Path,
               parameter: str) -> Iterator[Tuple[Union[bool, str], Path]]:
    """permit_auth_destination() for the recipient: True (final or relay class, not
    routed), False, or "fail" (the resolver's table lookup failed: 451)."""
    model = ev.address_model
    resolved = model.resolve(recipient)
    # A failed transport_maps/relocated_maps lookup is RESOLVE_FLAG_FAIL too (resolve_addr()).
    fail = resolved.fail or model.route_of(resolved).fail
    if fail is not None:
        yield _LOOKUP_FAILED, path.step(f"address resolution fails: {fail}")
        return
    if resolved.unknown is not None:
        unknown = Unknown("table", resolved.unknown, parameter, ev.location(parameter),
                          f"cannot tell whether {resolved.domain} is an authorized destination")
        marked = path.unknown(unknown)
        yield True, marked
        yield False, marked
        return
    if "@" not in resolved.address:
        yield True, path
        return
    if not ev.allow_untrusted_routing and resolved.routed:
        yield False, path
        return
    if resolved.final or resolved.cls == "relay":
        cause = _CLASS_PARAMETERS[resolved.cls]
        yield True, path.step(f"{resolved.domain} is an authorized destination ({cause})")
        return
    yield False, path


def _by_destination(ev: Evaluator, call: Call, recipient: str, if_authorized: Callable[[Path], Outcome],
                    if_not: Callable[[Path], Outcome]) -> Iterator[Outcome]:
    """The outcome for each possible answer of `authorized` (a failed lookup: 451)."""
    for answer, branch_path in authorized(ev, recipient, call.path, call.parameter):
        if answer == _LOOKUP_FAILED:
            yield REJECT, call.state, branch_path, 1, _TEMPORARY_FAILURE
        elif answer:
            yield if_authorized(branch_path)
        else:
            yield if_not(branch_path)


def permit_auth_destination(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    state, recipient = call.state, call.ctx.recipient
    if recipient is None:
        return iter(((DUNNO, state, call.path, 1, ""),))
    return _by_destination(ev, call, recipient,
                           lambda path: ev.permit(state, path, call.token, call.parameter),
                           lambda path: (DUNNO, state, path, 1, ""))


def unauth_destination(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    """reject_unauth_destination (554) and defer_unauth_destination (454)."""
    state, recipient = call.state, call.ctx.recipient
    if recipient is None:
        return iter(((DUNNO, state, call.path, 1, ""),))
    code = 554 if call.name.startswith("reject") else 454
    passed = f"{call.parameter}: {call.token}: authorized destination"
    return _by_destination(ev, call, recipient,
                           lambda path: (DUNNO, state, path.step(passed), 1, ""),
                           lambda path: ev.reject(state, path, code, "Relay access denied"))


def check_relay_domains(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    """Permits a client whose name is in relay_domains, or an authorized destination; else
    "Relay access denied". Removed in 3.9."""
    state, path, recipient = call.state, call.path, call.ctx.recipient
    if ev.version >= (3, 9):
        if recipient is not None:
            yield ev.server_error(state, path, "check_relay_domains was removed in Postfix 3.9")
        else:
            yield DUNNO, state, path, 1, ""
        return
    if recipient is None:
        yield DUNNO, state, path, 1, ""
        return
    client = call.ctx.attempt.client
    matched, _ = ev.address_model.relay_domains.match(client.name) if client.name_ok else (False, "")
    if matched:
        yield ev.permit(state, path, call.token, call.parameter)
        return
    yield from _by_destination(ev, call, recipient,
                               lambda branch_path: ev.permit(state, branch_path, call.token, call.parameter),
                               lambda branch_path: ev.reject(state, branch_path, 554, "Relay access denied"))


def permit_mx_backup(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    state, path, recipient, parameter = call.state, call.path, call.ctx.recipient, call.parameter
    if recipient is None:
        yield DUNNO, state, path, 1, ""
        return
    resolved = ev.address_model.resolve(recipient)
    if not ev.allow_untrusted_routing and resolved.routed:
        yield DUNNO, state, path, 1, ""
        return
    for answer, branch_path in authorized(ev, recipient, path, parameter):
        if answer == _LOOKUP_FAILED:
            yield REJECT, state, branch_path, 1, _TEMPORARY_FAILURE
            continue
        if answer:
            yield ev.permit(state, branch_path, call.token, parameter)
            continue
        if resolved.domain.startswith("["):
            yield DUNNO, state, branch_path, 1, ""
            continue
        if ev.mx_backup_networks:
            # The attacker's primary MX would have to sit in permit_mx_backup_networks.
            yield DUNNO, state, branch_path, 1, ""
            continue
        assumed = branch_path.assume(
            f"the recipient domain {resolved.domain} publishes MX records naming this host as a "
            f"backup MX (permit_mx_backup_networks is empty)", replayable=False)
        yield ev.permit(state, assumed, call.token, parameter)


# ----------------------------------------------------------------------------------------
# Known recipients (check_rcpt_maps)


def reject_unlisted_sender(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    return _unlisted(ev, call, call.ctx.sender, as_sender=True)


def reject_unlisted_recipient(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    """reject_unlisted_recipient and its old name check_recipient_maps."""
    return _unlisted(ev, call, call.ctx.recipient, as_sender=False)


def _unlisted(ev: Evaluator, call: Call, address: Optional[str], as_sender: bool) -> Iterator[Outcome]:
    """check_rcpt_maps() for the sender or recipient; the state remembers it ran (so the
    implicit smtpd_reject_unlisted_* check does not run it again)."""
    if not address:
        yield DUNNO, call.state, call.path, 1, ""
        return
    state = replace(call.state, **{"sender_maps_checked" if as_sender else "rcpt_maps_checked": True})
    for status, branch_path, reply in recipient_validation(ev, address, call.path, call.parameter, as_sender):
        if status == REJECT:
            code, _, text = reply.partition(" ")
            yield ev.reject(state, branch_path, int(code), text)
        else:
            yield DUNNO, state, branch_path, 1, ""


def recipient_validation(ev: Evaluator, address: str, path: Path, parameter: str,
                         as_sender: bool = False) -> Iterator[Tuple[int, Path, str]]:
    """check_rcpt_maps() for one address (remote and relay classes as pfcheck models them):
    (status, path, full reply)."""
    model = ev.address_model
    resolved = model.resolve(address)
    route = model.route_of(resolved)
    if resolved.fail is not None or route.fail is not None:
        # RESOLVE_FLAG_FAIL: reject_dict_retry()
        why = resolved.fail or route.fail
        yield REJECT, path.step(f"address resolution fails: {why}"), \
            f"451 4.3.0 <{smtp_address(address)}>: Temporary lookup failure"
        return
    routes: List[Tuple[Route, Path]] = [(route, path)]
    if route.unknown is not None:
        unknown = Unknown("table", route.unknown, route.unknown_parameter,
                          model.location(route.unknown_parameter),
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
        if reply is None and not (resolved.cls == "relay" and ev.relay_recipient_maps):
            yield DUNNO, route_path, ""
            continue
        for rewritten, checked_path in _rewrite_maps(ev, resolved, route_path, as_sender):
            if rewritten:
                # A canonical or virtual alias mapping: smtpd accepts before it looks at the
                # transport or the class's recipient table.
                yield DUNNO, checked_path.step(f"{resolved.address} is rewritten (canonical/virtual "
                                               "alias maps): accepted"), ""
            elif reply is not None:
                yield REJECT, checked_path.step(f"{resolved.address} resolves to the {candidate.channel} "
                                                f"transport ({candidate.origin})"), reply
            else:
                yield from _class_validation(ev, resolved, checked_path)


def _rewrite_maps(ev: Evaluator, resolved: Resolved, path: Path, as_sender: bool) -> Iterator[Tuple[bool, Path]]:
    """Whether check_rcpt_maps() finds the address in recipient_canonical_maps (or
    sender_canonical_maps), canonical_maps or virtual_alias_maps (mail_addr_find():
    full, without extension, @domain)."""
    tokens: List[Tuple[str, str]] = []
    for parameter in ("sender_canonical_maps" if as_sender else "recipient_canonical_maps",
                      "canonical_maps", "virtual_alias_maps"):
        tokens += [(parameter, token) for token in split_restrictions(ev.params.value(parameter))]
    keys = [(resolved.address, False)]
    bare = ev.address_model.router.strip(resolved.address)
    if bare is not None:
        keys.append((bare, True))
    keys.append(("@" + resolved.domain, True))
    yield from _any_found(ev, tokens, keys, path)


def _any_found(ev: Evaluator, tokens: Sequence[Tuple[str, str]], keys: Sequence[Tuple[str, bool]],
               path: Path) -> Iterator[Tuple[bool, Path]]:
    """Whether one of the (parameter, table) tokens finds one of the keys, per possibility."""
    if not tokens:
        yield False, path
        return
    (parameter, token), rest = tokens[0], tokens[1:]
    for found, branch_path in ev.table_lookup(path, token, keys, parameter):
        if found is not None:
            yield True, branch_path
        else:
            yield from _any_found(ev, rest, keys, branch_path)


def _class_validation(ev: Evaluator, resolved: Resolved, path: Path) -> Iterator[Tuple[int, Path, str]]:
    """check_rcpt_maps()'s per-class recipient tables (relay_recipient_maps)."""
    if resolved.cls == "relay" and ev.relay_recipient_maps:
        keys = [(resolved.address, False), ("@" + resolved.domain, True)]
        for token in split_restrictions(ev.relay_recipient_maps):
            for found, branch_path in ev.table_lookup(path, token, keys, "relay_recipient_maps"):
                if found is not None:
                    yield DUNNO, branch_path, ""
                else:
                    yield REJECT, branch_path, "550 5.1.1 User unknown in relay recipient table"
            return
    yield DUNNO, path, ""
