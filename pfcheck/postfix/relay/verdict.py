"""The entry points: evaluate_relay() (PF301, PF302, PF305) and client_grants() (PF201)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from pfcheck.postfix.relay.access import ACCESS_COMMANDS
from pfcheck.postfix.relay.evaluator import MAX_BRANCHES, MAX_TOTAL_STEPS, Evaluator
from pfcheck.postfix.relay.guard import startup_guard
from pfcheck.postfix.relay.lists import RCPT_LIST, RELAY_LIST
from pfcheck.postfix.relay.lookups import may_permit
from pfcheck.postfix.relay.model import (
    AddressListLike,
    ClientGrant,
    EffectiveParams,
    GuardResult,
    Location,
    RelayVerdict,
    TableResolverLike,
    Unknown,
    Verdict,
    Witness,
)
from pfcheck.postfix.relay.scenarios import Scenarios
from pfcheck.postfix.relay.session import Attempt, Client, Complexity, Path, reuse_enabled, traced
from pfcheck.postfix.relay.trust import Trust
from pfcheck.postfix.tables import CidrTable

if TYPE_CHECKING:  # annotations only: these modules are imported where they are used
    from pfcheck.policy.assume import Assumptions
    from pfcheck.postfix.addresses import IntervalSet


def _service_label(params: Any) -> str:
    """The listener's name for results ("smtp/inet"): its `service` string or key, else its label."""
    service = getattr(params, "service", None)
    if service is None:
        return getattr(params, "label", "") or ""
    if isinstance(service, str):
        return service
    key = getattr(service, "key", None)
    return str(key) if key is not None else str(service)


def _witness(evaluator: Evaluator, attempt: Attempt, path: Path,
             rewrite_params: EffectiveParams) -> Witness:
    """The accepted attempt as a Witness, naming what let it through: the permit on its path,
    else relay_domains, else the list that ended (or was empty)."""
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
            order = [RELAY_LIST, RCPT_LIST]
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


def _notes(evaluator: Evaluator, scenarios: Scenarios) -> List[str]:
    """What the verdict took for granted, and grants outside the attacker model."""
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
    """Can an untrusted client relay through this listener? (see the package docstring)

    `trusted` is the trusted client set (normally the parsed `$mynetworks` of this listener;
    None = parse `mynetworks` here). `rewrite_params` is the configuration trivial-rewrite
    uses (main.cf scope); defaults to `params`. `client` pins the client address (used by
    `client_grants`). `assumptions` (the policy's `assume:`) replace "anything" as the
    possible answers of the tables and policy services they name.

    A value Postfix refuses (settings.py) never gives CLOSED: the configuration is judged with
    each reading of the refused values (no, then yes), OPEN when either opens, else UNPROVEN
    with one Unknown ("refused") per refused value.
    """
    service = _service_label(params)
    guard = startup_guard(params, version=version)
    if not guard.passes:
        return RelayVerdict(Verdict.REFUSED, service, guard)
    first, refused = _evaluate(params, service, guard, version, resolver, trusted, rewrite_params, client,
                               assumptions, refused_reads=False)
    if not refused or first.verdict is Verdict.OPEN:
        return first
    second, more = _evaluate(params, service, guard, version, resolver, trusted, rewrite_params, client,
                             assumptions, refused_reads=True)
    if second.verdict is Verdict.OPEN:
        return second
    refused.update(more)
    unknowns = [Unknown("refused", name, name, params.location(name),
                        f"{message}: smtpd exits at start-up (PF000), so no verdict holds for this value")
                for name, message in refused.items()]
    unknowns += [item for item in (*first.unknowns, *second.unknowns) if item not in unknowns]
    consulted = tuple(dict.fromkeys((*first.consulted, *second.consulted)))
    return RelayVerdict(Verdict.UNPROVEN, service, guard, None, tuple(unknowns), first.notes,
                        first.scenarios + second.scenarios, consulted, consulted)


def _evaluate(params: EffectiveParams, service: str, guard: GuardResult, version: str,
              resolver: Optional[TableResolverLike], trusted: Optional[AddressListLike],
              rewrite_params: Optional[EffectiveParams], client: Optional[str],
              assumptions: Optional[Assumptions], *, refused_reads: bool) -> Tuple[RelayVerdict, Dict[str, str]]:
    """One evaluation of a listener that passes its guard, with values Postfix refuses read as
    `refused_reads`: (verdict, what it read that Postfix refuses)."""
    evaluator = Evaluator(params, version=version, resolver=resolver, trusted=trusted,
                          rewrite_params=rewrite_params, assumptions=assumptions, refused_reads=refused_reads)
    return _judge(evaluator, params, service, guard, version, resolver, trusted, rewrite_params, client), \
        evaluator.refused


def _judge(evaluator: Evaluator, params: EffectiveParams, service: str, guard: GuardResult, version: str,
           resolver: Optional[TableResolverLike], trusted: Optional[AddressListLike],
           rewrite_params: Optional[EffectiveParams], client: Optional[str]) -> RelayVerdict:
    """The verdict of one Evaluator over every attempt of the scenarios."""
    scenarios = Scenarios(evaluator)
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
    fallback: Optional[Tuple[Attempt, Path]] = None
    too_complex = Unknown("complexity", "", "", None, "too many undecided branches to evaluate")
    steps_left = MAX_TOTAL_STEPS

    outcomes_of = _Outcomes(evaluator, reuse=reuse_enabled())

    def run() -> Optional[Tuple[Attempt, Path]]:
        nonlocal count, fallback, steps_left
        if client is not None:
            clients = [Client(client, "unknown", False, "unknown", False, None)]
        else:
            clients = scenarios.clients()
        senders = scenarios.senders()
        for candidate in clients:
            for helo in scenarios.helos(candidate):
                for sender in senders:
                    for recipient, _domain in recipients:
                        attempt = Attempt(candidate, helo, sender, recipient)
                        count += 1
                        if steps_left <= 0:
                            if too_complex not in unknowns:
                                unknowns.append(too_complex)
                            return None
                        budget = min(MAX_BRANCHES, steps_left)
                        evaluated = outcomes_of(attempt, budget)
                        if evaluated is None:  # the attempt's budget is spent
                            steps_left -= MAX_BRANCHES
                            if too_complex not in unknowns:
                                unknowns.append(too_complex)
                            continue
                        steps_left -= evaluated[0]
                        for accepted, path, _reply in evaluated[1]:
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


Outcomes = List[Tuple[bool, Path, str]]


class _Outcomes:
    """The outcomes of RCPT TO for one attempt, and the steps they took; None when the attempt
    needs more steps than its budget (Complexity).

    Attempts that agree on every field an earlier attempt's evaluation read give that
    evaluation's outcomes (session.TracedAttempt: the course of an evaluation depends only on
    what it reads). A list that never looks at the HELO name or the sender is evaluated once per
    client and recipient, not once per HELO name and sender. The steps an evaluation took are
    kept, so the budgets (MAX_BRANCHES per attempt, MAX_TOTAL_STEPS per listener) run out
    exactly where they would without reuse. Whatever else an evaluation changes in the
    Evaluator (consulted assumptions, table and resolver caches, refused values) a repeat
    would change again in the same way, adding nothing new.
    """

    def __init__(self, evaluator: Evaluator, *, reuse: bool) -> None:
        self.evaluator = evaluator
        self.reuse = reuse
        # fields read (sorted) -> their values -> (steps taken or None if spent, budget, outcomes)
        self.memo: Dict[Tuple[str, ...], Dict[Tuple[Any, ...], Tuple[Optional[int], int, Outcomes]]] = {}

    def __call__(self, attempt: Attempt, budget: int) -> Optional[Tuple[int, Outcomes]]:
        if self.reuse:
            fields = attempt.__dict__
            for names, known in self.memo.items():
                entry = known.get(tuple([fields[name] for name in names]))
                if entry is None:
                    continue
                taken, spent_budget, outcomes = entry
                if taken is not None:
                    return (taken, outcomes) if taken <= budget else None
                if budget <= spent_budget:
                    return None  # it ran out with at least this budget before
                break  # more budget than when it ran out: evaluate again
        reads: Set[str] = set()
        subject = traced(attempt, reads) if self.reuse else attempt
        evaluator = self.evaluator
        evaluator.branch_budget = budget
        taken: Optional[int] = None
        outcomes: Outcomes = []
        try:
            outcomes = list(evaluator.rcpt(subject))
            taken = budget - evaluator.branch_budget
        except Complexity:
            pass
        if self.reuse:
            names = tuple(sorted(reads))
            values = tuple([attempt.__dict__[name] for name in names])
            self.memo.setdefault(names, {})[values] = (taken, budget, outcomes)
        return None if taken is None else (taken, outcomes)


def _client_keyed_tokens(evaluator: Evaluator) -> Iterator[Tuple[str, str, str]]:
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
            if lowered in ACCESS_COMMANDS:
                index += 2
                continue
            expansion = evaluator.classes.get(token)
            if expansion is not None and token not in stack:
                yield from walk(parameter, expansion, stack + (token,))
            index += 1

    for parameter in (RELAY_LIST, RCPT_LIST):
        yield from walk(parameter, evaluator.lists[parameter], ())


def _address_inside(key: str, trust: Optional[Trust] = None,
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

    evaluator = Evaluator(params, version=version, resolver=resolver, trusted=trusted,
                          rewrite_params=rewrite_params)
    grants: List[ClientGrant] = []
    for parameter, command, table in _client_keyed_tokens(evaluator):
        entries = evaluator.tables.entries(table)
        if not entries:
            continue
        # cidr tables are first-match: an entry never applies to what earlier entries match.
        earlier: Optional[Dict[int, IntervalSet]] = {} if isinstance(evaluator.tables.table(table), CidrTable) else None
        for entry in entries:
            address = _address_inside(entry.key, evaluator.trust, earlier)
            if earlier is not None:
                client_addresses.add_key_range(earlier, entry.key)
            if address is None:
                continue
            if not may_permit(entry.value):
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


def _grant_assumptions(evaluator: Evaluator, address: str, verdict: RelayVerdict) -> Tuple[Tuple[str, ...], bool]:
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
