"""Access tables: the check_*_access restrictions and the actions their tables return.

`check_access` runs `check_<what>_access type:table` (and a bare `type:table`, which means the
check of the list's own stage): it builds the lookup keys smtpd builds for that data and looks
them up. `table_result` is check_table_result(): what an access action (OK, REJECT, DUNNO, a
restriction list, ...) does. The check_*_{mx,ns,a}_access commands look at DNS data the
attacker controls (`_server_access`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Tuple

from pfcheck.postfix.relay.syntax import domain_of, valid_hostaddr
from pfcheck.postfix.relay.lists import split_restrictions
from pfcheck.postfix.relay.lookups import SERVER_CONFIGURATION_ERROR, Lookup, mail_keys
from pfcheck.postfix.tables import address_lookup_keys, domain_lookup_keys
from pfcheck.postfix.relay.model import Unknown
from pfcheck.postfix.relay.session import DUNNO, OK, REJECT, Context, Outcome, Path, State, TableOutcome, replace

if TYPE_CHECKING:  # annotations only: the evaluator imports this module
    from pfcheck.postfix.relay.evaluator import Evaluator
    from pfcheck.postfix.relay.restrictions import Call

#: check_xxx_access commands and the data they look up ("server": the MX/NS/A hosts of a name).
ACCESS_COMMANDS: Dict[str, str] = {
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
#: Nesting of restriction lists (classes, access-table results) before smtpd gives up.
MAX_RECURSION = 100
# Actions that only log or change the message, not whether it is accepted.
_NO_DECISION_ACTIONS = ("INFO", "WARN", "FILTER", "HOLD", "REDIRECT", "BCC", "PREPEND")


def check_access(ev: Evaluator, call: Call) -> Iterator[Outcome]:
    """`check_<what>_access type:table`: the table is the next token."""
    table = call.following
    if table is None or ":" not in table:
        return iter((ev.server_error(call.state, call.path, f"restriction {call.token}: bad argument"),))
    return check_table(ev, call.name, table, call.ctx, call.state, call.path, call.parameter, 2)


def check_table(ev: Evaluator, name: str, table: str, ctx: Context, state: State, path: Path,
                parameter: str, consumed: int) -> Iterator[Outcome]:
    """The access check `name` (a key of ACCESS_COMMANDS) with `table`; `consumed` tokens."""
    kind = ACCESS_COMMANDS[name]
    client = ctx.attempt.client
    # check_table_result() refuses OK from tables keyed by DNS data the client controls.
    forbid_ok = kind == "server" or name == "check_reverse_client_hostname_access"
    keys: Optional[List[Tuple[str, bool]]] = None
    routed_recipient = False
    if kind == "client":
        keys = (domain_lookup_keys(client.name.lower(), parent_style=ev.access_parent_style)
                + address_lookup_keys(client.address))
    elif kind == "reverse_client":
        keys = (domain_lookup_keys(client.reverse_name.lower(), parent_style=ev.access_parent_style)
                + address_lookup_keys(client.address))
    elif kind == "helo":
        if ctx.helo is not None:
            keys = domain_lookup_keys(ctx.helo.lower(), parent_style=ev.access_parent_style)
    elif kind == "sender":
        if ctx.sender is not None:
            if ctx.sender == "":
                keys = [(ev.null_key, False)]
            else:
                keys = mail_keys(ev.address_model.resolve(ctx.sender).address, ev.access_parent_style)
    elif kind == "recipient":
        if ctx.recipient is not None:
            resolved = ev.address_model.resolve(ctx.recipient)
            keys = mail_keys(resolved.address, ev.access_parent_style)
            routed_recipient = resolved.routed and not ev.allow_untrusted_routing
    elif kind in ("ccert", "etrn"):
        keys = None  # no client certificate; no ETRN at RCPT
    elif kind == "sasl":
        keys = None  # not authenticated (or SASL off: "ignored: no SASL support")
    elif kind == "server":
        yield from _server_access(ev, name, table, ctx, state, path, parameter, consumed)
        return
    if keys is None:
        yield DUNNO, state, path, consumed, ""
        return
    label = f"{name} {table}"
    for found, branch_path in ev.table_lookup(path, table, keys, parameter):
        if found is None:
            yield DUNNO, state, branch_path, consumed, ""
            if kind in ("helo", "sender"):
                # The attacker picks HELO and sender: it could pick one that a pattern
                # pfcheck cannot write an example for accepts.
                for where, pattern, value in ev.tables.unconstructible(table):
                    unknown = Unknown("attacker_key", label, parameter, where or ev.location(parameter),
                                      f"a {kind} matching /{pattern}/ gets {value}; pfcheck cannot construct one")
                    guess = Lookup(value, True, where)
                    for status, new_state, result_path, reply in table_result(
                            ev, guess, label, ctx, state, branch_path.unknown(unknown), parameter, forbid_ok):
                        yield status, new_state, result_path, consumed, reply
            continue
        for status, new_state, result_path, reply in table_result(
                ev, found, label, ctx, state, branch_path, parameter, forbid_ok):
            if status == OK and routed_recipient:
                status = DUNNO  # "source-routed recipient addresses are too suspicious"
            yield status, new_state, result_path, consumed, reply


def _server_access(ev: Evaluator, name: str, table: str, ctx: Context, state: State, path: Path,
                   parameter: str, consumed: int) -> Iterator[Outcome]:
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
        yield DUNNO, state, path, consumed, ""
        return
    domain = domain_of(subject) if "@" in subject else subject
    label = f"{name} {table}"
    if domain.startswith("["):
        if name.endswith("_ns_access") or not domain.endswith("]"):
            yield DUNNO, state, path, consumed, ""
            return
        inner = domain[1:-1]
        inner = inner[5:] if inner[:5].lower() == "ipv6:" else inner
        if not valid_hostaddr(inner):
            yield DUNNO, state, path, consumed, ""
            return
        for found, branch_path in ev.table_lookup(path, table, address_lookup_keys(inner), parameter):
            if found is None:
                yield DUNNO, state, branch_path, consumed, ""
                continue
            for status, new_state, result_path, reply in table_result(
                    ev, found, label, ctx, state, branch_path, parameter, True):
                yield status, new_state, result_path, consumed, reply
        return
    # A name: check_server_access() looks up its MX/NS/A records. The attacker controls that
    # DNS: an answer that fails (or names hosts outside the table) makes Postfix skip the
    # check ("Unable to look up ...": DUNNO) - which is also what an offline Postfix does.
    kind = name.split("_")[-2].upper()
    yield DUNNO, state, path.assume(
        f"the {kind} lookup for {domain} fails or names no host listed in {table}"), consumed, ""


def table_result(ev: Evaluator, found: Lookup, label: str, ctx: Context, state: State, path: Path,
                 parameter: str, forbid_ok: bool) -> Iterator[TableOutcome]:
    """check_table_result(): an access-table action."""
    value = (found.value or "").strip()
    command, _, text = value.partition(" ")
    if not value:
        command = ""
    upper = command.upper()
    entry = found.location

    def permit(reason: str) -> TableOutcome:
        if forbid_ok and not state.discard:
            return REJECT, state, path.step(f"{label} returns OK: not allowed for security reasons"), \
                SERVER_CONFIGURATION_ERROR
        status, new_state, new_path, _, _ = ev.permit(state, path, f"{label} ({reason})", parameter, entry=entry)
        return status, new_state, new_path, ""

    if upper == "DUNNO" or upper in _NO_DECISION_ACTIONS:
        yield DUNNO, state, path, ""
        return
    if upper in ("REJECT", "DEFER") or (len(command) == 3 and text and command[0] in "45"
                                         and command[1:].isdigit()):
        status, new_state, new_path, _, reply = ev.reject(state, path, 554 if upper != "DEFER" else 450,
                                                          f"{label}: {value}")
        yield status, new_state, new_path, reply
        return
    if upper == "HANGUP":
        yield REJECT, state, path, "connection dropped (HANGUP)"
        return
    if upper == "DISCARD":
        if ctx.sender is None:
            yield DUNNO, state, path, ""  # not in client/helo context without delay_reject
            return
        new_state = replace(state, discard=True)
        yield OK, new_state, path.step(f"{label}: DISCARD (accepted and thrown away)"), ""
        return
    if upper == "DEFER_IF_PERMIT":
        status, new_state, new_path, _, _ = ev.defer_if_permit(state, path, f"450 {label}: {value}")
        yield status, new_state, new_path, ""
        return
    if upper == "DEFER_IF_REJECT":
        if state.defer_if_reject is None:
            state = replace(state, defer_if_reject=f"450 {label}: {value}")
        yield DUNNO, state, path, ""
        return
    if value.isdigit():
        yield permit(value)
        return
    if upper in ("OK", "RELAY"):
        yield permit(value)
        return
    if ":" in value:
        yield REJECT, state, path.step(f"{label}: lookup table in an access table result"), \
            SERVER_CONFIGURATION_ERROR
        return
    if state.recursion > MAX_RECURSION:
        yield REJECT, state, path, f"{SERVER_CONFIGURATION_ERROR} (recursion)"
        return
    restrictions = split_restrictions(value)
    if not restrictions:
        yield permit("empty value")
        return
    for branch in ev.run_list(restrictions, ctx, state, path, parameter):
        branch_path = branch.path
        if branch.status == OK and entry is not None and branch_path.permit_token is not None:
            chosen = branch_path.permit_token
            branch_path = replace(branch_path, permit_token=(chosen[0], f"{label} -> {value}", chosen[2], entry))
        yield branch.status, branch.state, branch_path, branch.reply
