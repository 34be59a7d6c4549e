"""Every restriction smtpd knows, and what each does for the attacker (generic_checks()).

`RESTRICTIONS` maps each name to its handler and to the argument it takes: it is the one list
of known restrictions (`KNOWN_RESTRICTIONS` and the other name sets derive from it). A handler
gets the evaluator and the `Call` (the restriction as written, the token after it, and the
branch it runs on) and yields every possible `Outcome`; the evaluator applies them.

Restrictions that depend on what the attacker controls (its DNS, HELO name, sender) are
decided in its favour and recorded as assumptions on the path; those that need a DNS answer
make the witness not replayable.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, FrozenSet, Iterator, Optional, Sequence

from pfcheck.postfix.relay.access import ACCESS_COMMANDS, check_access, table_result
from pfcheck.postfix.relay.syntax import domain_of, helo_literal_valid, helo_valid, valid_hostaddr, valid_hostname
from pfcheck.postfix.relay.lists import PERMIT, WARN_IF_REJECT, split_restrictions
from pfcheck.postfix.relay.lookups import Lookup, mail_keys
from pfcheck.postfix.relay.model import Unknown
from pfcheck.postfix.relay.recipients import (
    check_relay_domains,
    permit_auth_destination,
    permit_mx_backup,
    reject_unlisted_recipient,
    reject_unlisted_sender,
    unauth_destination,
)
from pfcheck.postfix.relay.session import DUNNO, REJECT, Context, Outcome, Path, State, replace

if TYPE_CHECKING:  # annotations only: the evaluator imports this module
    from pfcheck.postfix.relay.evaluator import Evaluator


class Call:
    """One restriction as generic_checks() meets it in a list."""

    __slots__ = ("name", "token", "_tokens", "_index", "ctx", "state", "path", "parameter")

    def __init__(self, name: str, tokens: Sequence[str], index: int, ctx: Context, state: State,
                 path: Path, parameter: str) -> None:
        self.name = name  # the restriction name, lower case (smtpd matches names so)
        self.token = tokens[index]  # as written
        self._tokens = tokens
        self._index = index
        self.ctx = ctx
        self.state = state
        self.path = path
        self.parameter = parameter  # the list (or restriction class) being run

    @property
    def following(self) -> Optional[str]:
        """The next token of the list: the argument, for a restriction that takes one."""
        index = self._index + 1
        return self._tokens[index] if index < len(self._tokens) else None


Handler = Callable[["Evaluator", Call], Iterator[Outcome]]


class Takes(enum.Enum):
    """The argument a restriction takes (the next token of the list)."""

    NOTHING = "nothing"
    TABLE = "type:table"  # check_*_access
    SERVER = "transport:server"  # check_policy_service
    NUMBER = "seconds"  # sleep
    DOMAIN = "DNS list domain"  # reject_rbl_client rbl.example (optional: only a warning without)


@dataclass(frozen=True)
class Restriction:
    """A known restriction: what it does (None: nothing on its own) and what it takes."""

    handler: Optional[Handler]
    takes: Takes = Takes.NOTHING


def _dunno(call: Call, path: Optional[Path] = None, consumed: int = 1) -> Outcome:
    """The restriction does not decide (DUNNO), on `path` when it added to the call's."""
    return DUNNO, call.state, call.path if path is None else path, consumed, ""


# ----------------------------------------------------------------------------------------
# Generic restrictions


def _permit(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    yield ev.permit(call.state, call.path, call.token, call.parameter)


def _defer(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    yield ev.reject(call.state, call.path, 450, "4.3.2 Try again later")


def _reject(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    yield ev.reject(call.state, call.path, 554, "5.7.1 Access denied")


def _defer_if_permit(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    yield ev.defer_if_permit(call.state, call.path, "450 4.7.0 defer_if_permit requested")


def _defer_if_reject(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    state = call.state
    if state.defer_if_reject is None:
        state = replace(state, defer_if_reject="450 4.7.0 defer_if_reject requested")
    yield DUNNO, state, call.path, 1, ""


def _does_not_apply(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    """A restriction that never matches the attacker (see the table for why)."""
    yield _dunno(call)


def _sleep(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    seconds = call.following
    if seconds is None or not seconds.isdigit():
        yield ev.server_error(call.state, call.path, "sleep must be followed by number")
        return
    yield _dunno(call, consumed=2)


def _policy_service(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    """check_policy_service: the policy's assumed answers, else anything."""
    state, path, server = call.state, call.path, call.following
    if server is None or ":" not in server:
        yield ev.server_error(state, path, "check_policy_service needs transport:server")
        return
    label = f"{call.token} {server}"
    assumed = ev.assumed("policy_service", server)
    if assumed is not None:
        # smtpd hands the server's action= reply to check_table_result(), as for a table.
        for value in assumed.results:
            for status, new_state, result_path, reply in table_result(
                    ev, Lookup(value, True), label, call.ctx, state, path.rely(assumed), call.parameter, False):
                yield status, new_state, result_path, 2, reply
        return
    unknown = Unknown("policy_service", label, call.parameter, ev.location(call.parameter),
                      "an external policy server decides; its answers are not in the repository")
    marked = path.unknown(unknown)
    yield ev.permit(state, marked, label, call.parameter, consumed=2)
    yield DUNNO, state, marked, 2, ""
    yield ev.reject(state, marked, 554, "5.7.1 (policy server)", consumed=2)


def _plaintext_session(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    if ev.tls_offered:
        yield _dunno(call, call.path.assume("the client uses STARTTLS", replayable=False))
    else:
        yield ev.reject(call.state, call.path, 450, "4.7.1 Session encryption is required")


# ----------------------------------------------------------------------------------------
# The client


def _unknown_client(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    if call.ctx.attempt.client.name_ok:
        yield _dunno(call)
    else:
        yield ev.reject(call.state, call.path, 450, "4.7.25 Client host rejected: cannot find your hostname")


def _unknown_reverse_client(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    if call.ctx.attempt.client.reverse_ok:
        yield _dunno(call)
    else:
        yield ev.reject(call.state, call.path, 450, "4.7.1 Client host rejected: cannot find your reverse hostname")


def _permit_mynetworks(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    state, path, token, parameter = call.state, call.path, call.token, call.parameter
    client = call.ctx.attempt.client
    trusted: Optional[bool]
    error: Optional[str]
    if client.trusted:
        trusted, error = True, None
    else:
        trusted, error = ev.trust.match(client.address, client.name)
    if error:
        # namadr_list_match() failed: permit_mynetworks returns the error (451 4.3.0).
        yield REJECT, state, path.step(f"mynetworks lookup fails: {error}"), 1, \
            "451 4.3.0 Temporary lookup failure"
    elif trusted:
        yield ev.permit(state, path, token, parameter, where=ev.location("mynetworks") or ev.location(parameter))
    elif trusted is None:
        unknown = Unknown("address_list", token, parameter, ev.location("mynetworks"),
                          f"cannot tell whether {client.address} is in mynetworks")
        marked = path.unknown(unknown)
        yield ev.permit(state, marked, token, parameter)
        yield DUNNO, state, marked, 1, ""
    else:
        yield _dunno(call)


def _maps_rbl(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    if ev.version >= (3, 9):
        yield ev.server_error(call.state, call.path, f"{call.token} was removed in Postfix 3.9")
        return
    yield _dunno(call, call.path.assume("the client address is not in any DNS block list"))


def _dns_list(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    """reject_rbl_client & co.: the attacker is in no block list; the allow lists (dnswl,
    rhswl) do not list it either."""
    domain = call.following
    if domain is None:
        yield _dunno(call)  # "requires domain name argument": a warning only
        return
    path = call.path
    if call.name.startswith("reject_"):
        path = path.assume(f"the client's data is not listed in {domain}")
    yield _dunno(call, path, consumed=2)


# ----------------------------------------------------------------------------------------
# The HELO name (None: the attacker sends none, and the checks skip)


def _invalid_helo(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    helo = call.ctx.helo
    if helo is None or helo_valid(helo):
        yield _dunno(call)
    else:
        yield ev.reject(call.state, call.path, 501, "5.5.2 Helo command rejected: Invalid name")


def _helo_name(ev: Evaluator, call: Call, judge_name: Callable[[str], Outcome]) -> Iterator[Outcome]:
    """The HELO checks that skip a missing HELO, require an address literal to be valid and
    leave a name to `judge_name`."""
    helo = call.ctx.helo
    if helo is None:
        yield _dunno(call)
    elif helo.startswith("["):
        valid = helo_literal_valid(helo)
        yield _dunno(call) if valid else ev.reject(call.state, call.path, 501, "5.5.2 invalid ip address")
    else:
        yield judge_name(helo)


def _unknown_helo(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    # The attacker's DNS gives its HELO name whatever records it needs.
    return _helo_name(ev, call, lambda helo: _dunno(
        call, call.path.assume(f"the HELO name {helo} has an A/AAAA or MX record", replayable=False)))


def _naked_ip_address(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    if ev.version >= (3, 9):
        yield ev.server_error(call.state, call.path, f"{call.token} was removed in Postfix 3.9")
        return
    helo = call.ctx.helo
    if helo is not None and helo and all(char in "0123456789.:" for char in helo):
        if valid_hostaddr(helo):
            yield ev.permit(call.state, call.path, call.token, call.parameter)
        else:
            yield ev.reject(call.state, call.path, 501, "5.5.2 invalid ip address")
    else:
        yield _dunno(call)


def _non_fqdn_helo(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    def judge_name(helo: str) -> Outcome:
        name = helo.rstrip(".")
        if valid_hostname(name) and "." in name:
            return _dunno(call)
        return ev.reject(call.state, call.path, 504, "5.5.2 need fully-qualified hostname")

    return _helo_name(ev, call, judge_name)


# ----------------------------------------------------------------------------------------
# Sender and recipient addresses


def _unknown_domain(ev: Evaluator, call: Call, address: Optional[str], what: str) -> Iterator[Outcome]:
    """reject_unknown_{sender,recipient}_domain: a remote domain needs MX or address records."""
    if not address:
        yield _dunno(call)
        return
    resolved = ev.address_model.resolve(address)
    if resolved.final or resolved.domain.startswith("["):
        yield _dunno(call)
        return
    yield _dunno(call, call.path.assume(f"the {what} domain {resolved.domain} has MX or address records",
                                        replayable=False))


def _unknown_sender_domain(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    yield from _unknown_domain(ev, call, call.ctx.sender, "sender")


def _unknown_recipient_domain(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    yield from _unknown_domain(ev, call, call.ctx.recipient, "recipient")


def _unverified_sender(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    path, sender = call.path, call.ctx.sender
    if sender:
        path = path.assume(f"address verification of the sender {sender} succeeds", replayable=False)
    yield _dunno(call, path)


def _unverified_recipient(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    path, recipient = call.path, call.ctx.recipient
    if recipient:
        path = path.assume(f"address verification of {recipient} succeeds (the mailbox exists)",
                           replayable=False)
    yield _dunno(call, path)


def _non_fqdn_address(ev: Evaluator, call: Call, address: Optional[str]) -> Iterator[Outcome]:
    """reject_non_fqdn_{sender,recipient}: the domain must be a dotted host name or a literal."""
    if not address:
        yield _dunno(call)
        return
    domain = domain_of(address)
    if domain.startswith("[") and domain.endswith("]"):
        yield _dunno(call)
        return
    test = domain[:-1] if domain.endswith(".") and not domain.endswith("..") else domain
    if test and valid_hostname(test) and "." in test:
        yield _dunno(call)
        return
    yield ev.reject(call.state, call.path, 504, "5.5.2 need fully-qualified address")


def _non_fqdn_sender(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    yield from _non_fqdn_address(ev, call, call.ctx.sender)


def _non_fqdn_recipient(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    yield from _non_fqdn_address(ev, call, call.ctx.recipient)


def _login_mismatch(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    """reject_*_sender_login_mismatch: the attacker is not authenticated, so only a sender that
    smtpd_sender_login_maps gives to some login is rejected."""
    sender = call.ctx.sender
    if not ev.sasl_enabled or not sender or call.name == "reject_authenticated_sender_login_mismatch":
        yield _dunno(call)
        return
    if not ev.sender_login_maps:
        yield _dunno(call)
        return
    resolved = ev.address_model.resolve(sender)
    keys = mail_keys(resolved.address, ev.access_parent_style)
    for token in split_restrictions(ev.sender_login_maps):
        for found, branch_path in ev.table_lookup(call.path, token, keys, "smtpd_sender_login_maps"):
            if found is not None:
                yield ev.reject(call.state, branch_path, 553, "5.7.1 Sender address rejected: not logged in")
            else:
                yield _dunno(call, branch_path)
        return


# ----------------------------------------------------------------------------------------
# The table (Postfix 3.7 generic_checks(); removed names answer 451 from 3.9 on)


RESTRICTIONS: Dict[str, Restriction] = {
    # Generic
    PERMIT: Restriction(_permit),
    "defer": Restriction(_defer),
    "reject": Restriction(_reject),
    "defer_if_permit": Restriction(_defer_if_permit),
    "defer_if_reject": Restriction(_defer_if_reject),
    # Not applied on its own: Evaluator._step keeps it in the state for the next restriction.
    WARN_IF_REJECT: Restriction(None),
    "reject_unauth_pipelining": Restriction(_does_not_apply),  # the attacker does not pipeline
    "sleep": Restriction(_sleep, Takes.NUMBER),
    "check_policy_service": Restriction(_policy_service, Takes.SERVER),
    "reject_plaintext_session": Restriction(_plaintext_session),
    # The client
    "reject_unknown_client_hostname": Restriction(_unknown_client),
    "reject_unknown_client": Restriction(_unknown_client),
    "reject_unknown_reverse_client_hostname": Restriction(_unknown_reverse_client),
    "permit_inet_interfaces": Restriction(_does_not_apply),  # the attacker is not this host
    "permit_mynetworks": Restriction(_permit_mynetworks),
    "reject_maps_rbl": Restriction(_maps_rbl),
    "reject_rbl_client": Restriction(_dns_list, Takes.DOMAIN),
    "reject_rbl": Restriction(_dns_list, Takes.DOMAIN),
    "permit_dnswl_client": Restriction(_dns_list, Takes.DOMAIN),
    "reject_rhsbl_client": Restriction(_dns_list, Takes.DOMAIN),
    "permit_rhswl_client": Restriction(_dns_list, Takes.DOMAIN),
    "reject_rhsbl_reverse_client": Restriction(_dns_list, Takes.DOMAIN),
    "reject_rhsbl_helo": Restriction(_dns_list, Takes.DOMAIN),
    "reject_rhsbl_sender": Restriction(_dns_list, Takes.DOMAIN),
    "reject_rhsbl_recipient": Restriction(_dns_list, Takes.DOMAIN),
    # No SASL login, no client certificate: these never grant the attacker anything.
    "permit_sasl_authenticated": Restriction(_does_not_apply),
    "permit_tls_all_clientcerts": Restriction(_does_not_apply),
    "permit_tls_clientcerts": Restriction(_does_not_apply),
    # The HELO name
    "reject_invalid_helo_hostname": Restriction(_invalid_helo),
    "reject_invalid_hostname": Restriction(_invalid_helo),
    "reject_unknown_helo_hostname": Restriction(_unknown_helo),
    "reject_unknown_hostname": Restriction(_unknown_helo),
    "permit_naked_ip_address": Restriction(_naked_ip_address),
    "reject_non_fqdn_helo_hostname": Restriction(_non_fqdn_helo),
    "reject_non_fqdn_hostname": Restriction(_non_fqdn_helo),
    # The sender
    "reject_unknown_sender_domain": Restriction(_unknown_sender_domain),
    "reject_unknown_address": Restriction(_unknown_sender_domain),
    "reject_unverified_sender": Restriction(_unverified_sender),
    "reject_non_fqdn_sender": Restriction(_non_fqdn_sender),
    "reject_authenticated_sender_login_mismatch": Restriction(_login_mismatch),
    "reject_known_sender_login_mismatch": Restriction(_login_mismatch),
    "reject_unauthenticated_sender_login_mismatch": Restriction(_login_mismatch),
    "reject_unlisted_sender": Restriction(reject_unlisted_sender),
    # The recipient and its destination
    "reject_unknown_recipient_domain": Restriction(_unknown_recipient_domain),
    "reject_unverified_recipient": Restriction(_unverified_recipient),
    "reject_non_fqdn_recipient": Restriction(_non_fqdn_recipient),
    "check_recipient_maps": Restriction(reject_unlisted_recipient),
    "reject_unlisted_recipient": Restriction(reject_unlisted_recipient),
    "reject_multi_recipient_bounce": Restriction(_does_not_apply),  # one recipient per mail
    "permit_mx_backup": Restriction(permit_mx_backup),
    "permit_auth_destination": Restriction(permit_auth_destination),
    "reject_unauth_destination": Restriction(unauth_destination),
    "defer_unauth_destination": Restriction(unauth_destination),
    "check_relay_domains": Restriction(check_relay_domains),
    # Access tables (check_client_access, ...: access.ACCESS_COMMANDS)
    **{name: Restriction(check_access, Takes.TABLE) for name in ACCESS_COMMANDS},
}

#: name -> handler of every restriction that does something on its own (all but warn_if_reject,
#: which Evaluator._step keeps for the next restriction): what the evaluator dispatches on.
HANDLERS: Dict[str, Handler] = {
    name: restriction.handler for name, restriction in RESTRICTIONS.items() if restriction.handler is not None}
#: Every restriction name smtpd knows (anything else in a list is a class, or unknown: 451).
KNOWN_RESTRICTIONS: FrozenSet[str] = frozenset(RESTRICTIONS)
#: The restrictions that are no access-table check (their argument, if any, is no table).
SIMPLE_NAMES: FrozenSet[str] = frozenset(
    name for name, restriction in RESTRICTIONS.items() if restriction.takes is not Takes.TABLE)
#: Restrictions that take one argument that is not a table: a DNS list domain.
DOMAIN_ARGUMENT: FrozenSet[str] = frozenset(
    name for name, restriction in RESTRICTIONS.items() if restriction.takes is Takes.DOMAIN)
