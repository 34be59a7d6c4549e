"""smtpd's restriction machinery over one listener's configuration (smtpd_check.c).

`Evaluator.rcpt()` gives every possible outcome of RCPT TO for one attempt: the client, HELO
and sender lists (again at RCPT with smtpd_delay_reject), then the relay and recipient lists in
the order of the version, then smtpd_reject_unlisted_recipient. `run_list()` is
generic_checks(): each token's handler comes from `restrictions.HANDLERS` (derived from
RESTRICTIONS, the table of every restriction smtpd knows), else the token names a restriction
class, else it is unknown (451). Where
a result cannot be known (an unseen table, a policy server), the evaluation branches.
"""
from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from pfcheck.postfix.addresses import IPV4, IPV6
from pfcheck.postfix.relay.access import check_table
from pfcheck.postfix.relay.guard import REQUIRED_RESTRICTIONS
from pfcheck.postfix.relay.lists import (
    BUILTIN_CLASSES,
    RCPT_LIST,
    RELAY_LIST,
    RESTRICTION_LIST_PARAMETERS,
    WARN_IF_REJECT,
    restriction_classes,
    split_restrictions,
)
from pfcheck.postfix.relay.lookups import SERVER_CONFIGURATION_ERROR, Lookup, Tables
from pfcheck.postfix.relay.model import (
    AddressListLike,
    EffectiveParams,
    Location,
    TableResolverLike,
    Unknown,
)
from pfcheck.postfix.relay.recipients import recipient_validation
from pfcheck.postfix.relay.restrictions import HANDLERS, Call
from pfcheck.postfix.relay.rewrite import AddressModel
from pfcheck.postfix.relay.session import (
    DUNNO,
    OK,
    REJECT,
    Attempt,
    Branch,
    Complexity,
    Context,
    Joined,
    Outcome,
    Path,
    PermitToken,
    State,
    replace,
    reuse_enabled,
    settled,
    traced,
)
from pfcheck.postfix.relay.settings import Readings, builtin_default, parse_version
from pfcheck.postfix.relay.trust import Trust, parse_trusted

if TYPE_CHECKING:  # annotations only
    from pfcheck.policy.assume import Assumptions

#: Steps of one attempt (tokens applied, over all its branches) before it counts as too complex.
MAX_BRANCHES = 4000
#: Steps over all attempts of one listener: past it the remaining attempts are not tried (the
#: verdict is "cannot prove" unless one already tried opens the relay). Real lists take a few
#: thousand steps per listener; a list of 8,000 restrictions would otherwise take minutes.
MAX_TOTAL_STEPS = 400_000


def _order_version(key: Tuple[int, int]) -> str:
    """The supported series whose restriction-list order applies to version `key`: itself, else
    the newest older one, else the oldest (before 2.10 there is no smtpd_relay_restrictions)."""
    from pfcheck.postfix import defaults

    supported = sorted((parse_version(text), text) for text in defaults.SUPPORTED_VERSIONS)
    older = [text for series, text in supported if series <= key]
    return older[-1] if older else supported[0][1]


class Evaluator:
    """smtpd's restriction machinery over one listener's configuration."""

    def __init__(self, params: EffectiveParams, *, version: str,
                 resolver: Optional[TableResolverLike], trusted: Optional[AddressListLike],
                 rewrite_params: Optional[EffectiveParams], assumptions: Optional[Assumptions] = None,
                 refused_reads: bool = False) -> None:
        self.params = params
        # What the policy assumes an unseen table or policy service answers; every one some
        # branch looked up is recorded, in order (PF305 names them, PF905 reports the rest).
        self.assumptions = assumptions
        from pfcheck.postfix.config import config_directory_of  # loaded by then in a pfcheck run

        self.config_directory = config_directory_of(params)
        self.consulted: List[Any] = []
        self.version = parse_version(version)
        #: How this evaluation reads booleans and the rest, and what it read that Postfix refuses
        #: (values Postfix refuses read as `refused_reads`; see settings.py).
        self.readings = readings = Readings(params, version, refused_reads)
        self.tables = Tables(resolver)
        self.address_model = AddressModel(rewrite_params or params, self.tables, version, refused_reads)
        self.classes, _, _ = restriction_classes(params)
        value = params.value
        self.lists: Dict[str, List[str]] = {name: split_restrictions(value(name)) for name in RESTRICTION_LIST_PARAMETERS}
        #: The lists that hold a relay guard (REQUIRED_RESTRICTIONS), found once, not per branch.
        self.guarded_lists: FrozenSet[str] = frozenset(
            name for name, tokens in self.lists.items()
            if any(token.lower() in REQUIRED_RESTRICTIONS for token in tokens))
        if self.version < (2, 10):
            self.lists[RELAY_LIST] = []
        self.delay_reject = readings.flag("smtpd_delay_reject")
        self.helo_required = readings.flag("smtpd_helo_required")
        self.allow_untrusted_routing = readings.flag("allow_untrusted_routing")
        self.reject_unlisted_recipient = readings.flag("smtpd_reject_unlisted_recipient")
        self.reject_unlisted_sender = readings.flag("smtpd_reject_unlisted_sender")
        self.sasl_enabled = readings.flag("smtpd_sasl_auth_enable")
        # Postfix would look an empty key up as "", which maps_find() never finds; the
        # evaluator reads an empty value as the default key (<>) instead.
        self.null_key = (value("smtpd_null_access_lookup_key").strip()
                         or builtin_default("smtpd_null_access_lookup_key", version))
        self.access_parent_style = readings.listed("smtpd_access_maps")
        self.mx_backup_networks = value("permit_mx_backup_networks").strip()
        self.relay_recipient_maps = value("relay_recipient_maps").strip()
        self.sender_login_maps = value("smtpd_sender_login_maps").strip()
        self.tls_offered = (value("smtpd_tls_security_level").strip().lower() in ("may", "encrypt")
                            or readings.flag("smtpd_use_tls")
                            or readings.flag("smtpd_enforce_tls")
                            or readings.flag("smtpd_tls_wrappermode"))
        self.relay_first = self._relay_first()
        self.milters = value("smtpd_milters").strip()
        self.proxy_filter = value("smtpd_proxy_filter").strip()
        families = self._families()
        self.ipv4_enabled = IPV4 in families
        self.ipv6_enabled = IPV6 in families
        note = ""
        if trusted is None:
            trusted, note = parse_trusted(params, resolver)
        self.trust = Trust(trusted, self.ipv4_enabled, note)
        self.branch_budget = MAX_BRANCHES
        #: Whether what one attempt evaluates twice is evaluated once (PFCHECK_NO_REUSE=1: no).
        self.reuse = reuse_enabled()
        self._continuations: Dict[Tuple[Any, ...], Tuple[int, List[Tuple[bool, Path, str]]]] = {}

    # ---- configuration facts -----------------------------------------------------------

    @property
    def refused(self) -> Dict[str, str]:
        """What this evaluation read that Postfix refuses: name -> Postfix's fatal text."""
        return {**self.address_model.readings.refused, **self.readings.refused}

    def _relay_first(self) -> bool:
        """Whether smtpd_relay_restrictions runs before smtpd_recipient_restrictions
        (defaults.relay_before_recipient()). Empty values the params do not set read as unset
        (Postfix's defaults); a compatibility_level or boolean Postfix refuses is recorded, and
        the order then reads as `refused_reads` (relay list first or not)."""
        from pfcheck.postfix import defaults

        params = self.params
        level: Optional[str] = params.value("compatibility_level")
        if level == "" and params.location("compatibility_level") is None:
            level = None
        name = "smtpd_relay_before_recipient_restrictions"
        relay_first: Optional[str] = params.value(name)
        if relay_first == "" and params.location(name) is None:
            relay_first = None
        try:
            return defaults.relay_before_recipient(
                _order_version(self.version), level, params.location(RELAY_LIST) is not None, relay_first)
        except ValueError as error:
            refused = name if relay_first is not None and defaults.parse_postfix_bool(relay_first) is None \
                else "compatibility_level"
            self.readings.refuse(refused, str(error))
            return self.readings.refused_reads

    def _families(self) -> FrozenSet[int]:
        """The address families inet_protocols enables (addresses.enabled_families()); a word
        Postfix does not know (every program exits) is recorded and enables both."""
        from pfcheck.postfix import addresses

        value = self.params.value("inet_protocols")
        refusal = addresses.inet_protocols_refusal(value)
        if refusal is not None:
            self.readings.refuse("inet_protocols", refusal)
            return frozenset((IPV4, IPV6))
        return addresses.enabled_families(value)

    def location(self, name: str) -> Optional[Location]:
        return self.params.location(name)

    def assumed(self, kind: str, reference: str) -> Optional[Any]:
        """The policy's assumption for an unknown table or policy service, recorded as consulted."""
        if not self.assumptions:
            return None
        find = self.assumptions.table if kind == "table" else self.assumptions.policy_service
        found = find(reference, self.config_directory)
        if found is not None and found not in self.consulted:
            self.consulted.append(found)
        return found

    # ---- lookups -----------------------------------------------------------------------

    def table_lookup(self, path: Path, token: str, keys: Sequence[Tuple[str, bool]],
                     parameter: str) -> Iterator[Tuple[Optional[Lookup], Path]]:
        """Look (key, partial) up in order; yields (found lookup or None, path) per possibility."""
        for key, partial in keys:
            result = self.tables.lookup(token, key, partial)
            if not result.known:
                assumed = self.assumed("table", token)
                if assumed is not None:
                    # Every listed result is possible for every key, and so is "not found":
                    # which key matched does not change what the result does.
                    relied = path.rely(assumed)
                    for value in assumed.results:
                        yield Lookup(value, True, None, "assumed"), relied
                    yield None, relied
                    return
                unknown = Unknown("table", token, parameter, self.location(parameter),
                                  result.detail or f"contents of {token} are not known")
                for alternative in ("OK", "REJECT", None):
                    yield (Lookup(alternative, True, None, "unknown") if alternative else None), path.unknown(unknown)
                return
            if result.value is not None:
                yield result, path
                return
        yield None, path

    # ---- list evaluation ---------------------------------------------------------------

    def run_list(self, tokens: Sequence[str], ctx: Context, state: State, path: Path,
                 parameter: str, class_stack: Tuple[str, ...] = ()) -> Iterator[Branch]:
        level = state.recursion + 1
        yield from self._run_from(tokens, 0, ctx, replace(state, recursion=level), path, parameter,
                                  class_stack, level)

    def _finish(self, state: State, level: int) -> State:
        recursion = level - 1
        warn = 0 if state.warn_if_reject >= recursion else state.warn_if_reject
        return replace(state, recursion=recursion, warn_if_reject=warn)

    def _run_from(self, tokens: Sequence[str], index: int, ctx: Context, state: State, path: Path,
                  parameter: str, class_stack: Tuple[str, ...], level: int) -> Iterator[Branch]:
        """The branches of the list from `index` on, depth first in token order. Iterative: a
        list of 10,000 restrictions is 10,000 frames on a Python list, not on the C stack."""
        frames = [self._step(tokens, index, ctx, state, path, parameter, class_stack, level)]
        while frames:
            item = next(frames[-1], None)
            if item is None:
                frames.pop()
            elif isinstance(item, Branch):
                yield item
            else:  # go on with the next token on this branch before the siblings
                next_index, next_state, next_path = item
                frames.append(self._step(tokens, next_index, ctx, next_state, next_path, parameter,
                                         class_stack, level))

    def _step(self, tokens: Sequence[str], index: int, ctx: Context, state: State, path: Path,
              parameter: str, class_stack: Tuple[str, ...],
              level: int) -> Iterator[Union[Branch, Tuple[int, State, Path]]]:
        """One token: the finished branches, and (index, state, path) where a branch goes on."""
        self.branch_budget -= 1
        if self.branch_budget < 0:
            raise Complexity()
        if index >= len(tokens) or state.discard:
            yield Branch(DUNNO, self._finish(state, level), path)
            return
        token = tokens[index]
        name = token.lower()
        if name == WARN_IF_REJECT:
            # It applies to the next restriction of this list: generic_checks() keeps it in
            # the state rather than running it.
            if state.warn_if_reject == 0:
                state = replace(state, warn_if_reject=level)
            yield index + 1, state, path
            return
        # The restriction's outcomes (with its argument, if it takes one). The handler's own
        # iterator is used, without a generator around it: this runs for every token.
        outcomes: Iterable[Outcome]
        if ":" in token:
            # A bare type:table means check_<context>_access type:table.
            if ctx.default_acl is None:
                outcomes = (self.server_error(state, path, f"table {token} without check_xxx_access"),)
            else:
                outcomes = check_table(self, ctx.default_acl, token, ctx, state, path, parameter, 1)
        else:
            call = Call(name, tokens, index, ctx, state, path, parameter)
            handler = HANDLERS.get(name)
            outcomes = handler(self, call) if handler is not None else self._restriction_class(call, class_stack)
        for status, new_state, new_path, consumed, reply in outcomes:
            if new_state.warn_if_reject >= level:
                new_state = replace(new_state, warn_if_reject=0)
            if status != DUNNO:
                yield Branch(status, self._finish(new_state, level), new_path, reply)
                continue
            if new_state.defer_if_permit and new_state.defer_if_reject:
                yield Branch(DUNNO, self._finish(new_state, level), new_path)
                continue
            yield index + consumed, new_state, new_path

    def _restriction_class(self, call: Call, class_stack: Tuple[str, ...]) -> Iterator[Outcome]:
        """A name that is no restriction: a restriction class (looked up case-sensitively), or
        an unknown restriction (451)."""
        token, state, path, parameter = call.token, call.state, call.path, call.parameter
        expansion = self.classes.get(token)
        if expansion is None:
            yield self.server_error(state, path, f"unknown smtpd restriction: \"{token}\"")
            return
        if token in class_stack:
            # generic_checks has no recursion limit for classes: smtpd crashes (no reply).
            yield REJECT, state, path.step(f"restriction class {token} includes itself: smtpd crashes"), 1, \
                "smtpd crashes (restriction class recursion)"
            return
        where = self.location(token) if token not in BUILTIN_CLASSES else None
        for branch in self.run_list(expansion, call.ctx, state, path, token, class_stack + (token,)):
            branch_path = branch.path
            if branch.status == OK and where is not None:
                branch_path = branch_path.step(f"{parameter}: restriction class {token}")
            yield branch.status, branch.state, branch_path, 1, branch.reply

    # ---- outcomes ----------------------------------------------------------------------

    def reject(self, state: State, path: Path, code: int, text: str, consumed: int = 1,
               convertible: bool = True) -> Outcome:
        """A reject, or only a warning after warn_if_reject (when `convertible`)."""
        if convertible and state.warn_if_reject:
            return DUNNO, state, path.step(f"reject_warning: {code} {text}"), consumed, ""
        return REJECT, state, path, consumed, f"{code} {text}"

    def server_error(self, state: State, path: Path, why: str, consumed: int = 1) -> Outcome:
        """smtpd's answer to a restriction it cannot use (451 4.3.5)."""
        reply = f"{SERVER_CONFIGURATION_ERROR} ({why})"
        return REJECT, state, path.step(reply), consumed, reply

    def permit(self, state: State, path: Path, token: str, parameter: str, consumed: int = 1,
               entry: Optional[Location] = None, where: Optional[Location] = None) -> Outcome:
        """A grant; the first on a path is the one a witness names."""
        location = where if where is not None else self.location(parameter)
        chosen = path.permit_token or (parameter, token, location, entry)
        return OK, state, replace(path, permit_token=chosen).step(f"{parameter}: {token} -> permit"), consumed, ""

    def defer_if_permit(self, state: State, path: Path, text: str, consumed: int = 1) -> Outcome:
        """Remember a deferral for the case that the lists end in a permit."""
        if state.warn_if_reject:
            return DUNNO, state, path.step(f"reject_warning: {text}"), consumed, ""
        if state.defer_if_permit is None:
            state = replace(state, defer_if_permit=text)
        return DUNNO, state, path, consumed, ""

    # ---- one RCPT TO -------------------------------------------------------------------

    def rcpt(self, attempt: Attempt) -> Iterator[Tuple[bool, Path, str]]:
        """All possible outcomes of RCPT TO for one attempt: (accepted and relayed, path, reply).

        Evaluated whole before the first is given (paths shared between branches are built
        only for an evaluation that completes: see _continued()); `_rcpt()` does the work."""
        outcomes = list(self._rcpt(attempt))
        for accepted, path, reply in outcomes:
            yield accepted, settled(path), reply

    def _rcpt(self, attempt: Attempt) -> Iterator[Tuple[bool, Path, str]]:
        """rcpt()'s outcomes, with paths maybe not yet joined (session.Joined).

        With smtpd_delay_reject = yes the client, HELO and sender lists run again here with all
        SMTP data known; with `no` they ran at their own stage, each seeing only what existed
        then (a reject_unauth_destination in them is a no-op)."""
        # The attempt's data as they are (a traced attempt notes only what the lists read).
        fields = attempt.__dict__
        helo, sender, recipient = fields["helo"], fields["sender"], fields["recipient"]
        delay = self.delay_reject
        client_ctx = Context(attempt, "smtpd_client_restrictions", "check_client_access",
                             "RCPT" if delay else "CONNECT", helo if delay else None,
                             sender if delay else None, recipient if delay else None)
        rcpt_ctx = Context(attempt, RCPT_LIST, "check_recipient_access", "RCPT", helo, sender, recipient)
        reads = fields.get("_reads")
        if reads is not None:
            client_ctx, rcpt_ctx = traced(client_ctx, reads), traced(rcpt_ctx, reads)
        helo_ctx = replace(client_ctx, parameter="smtpd_helo_restrictions", default_acl="check_helo_access",
                           stage="RCPT" if delay else "HELO", helo=helo)
        sender_ctx = replace(helo_ctx, parameter="smtpd_sender_restrictions", default_acl="check_sender_access",
                             stage="RCPT" if delay else "MAIL", sender=sender)
        # Without HELO there is no HELO stage. An empty smtpd_helo_restrictions stage decides
        # nothing and changes nothing (one DUNNO branch with the state and path it was given),
        # so then whether a HELO was sent does not matter, and is not read.
        helo_stage = bool(self.lists["smtpd_helo_restrictions"]) and attempt.helo is not None
        stages = [client_ctx] + ([helo_ctx] if helo_stage else []) + [sender_ctx]
        self._continuations: Dict[Tuple[Any, ...], Tuple[int, List[Tuple[bool, Path, str]]]] = {}
        yield from self._pre_stages(stages, 0, attempt, rcpt_ctx, None, Path())

    def _continued(self, key: Tuple[Any, ...], path: Path,
                   run: Callable[[Path], Iterator[Tuple[bool, Path, str]]]) -> Iterator[Tuple[bool, Path, str]]:
        """The outcomes of `run` (what is left of one attempt's evaluation) from `path`, computed
        once per attempt for each `key` (the rest of the evaluation's inputs besides the path):
        branches that reach the same point in the same state differ only in their paths, and
        what follows only adds to the path (Path.then). The steps the first run took are taken
        from the budget again, so a budget runs out exactly where it would have; an evaluation
        that reads the path's permit_token (none does at these points) is not shared."""
        if path.permit_token is not None or not self.reuse:
            yield from run(path)
            return
        known = self._continuations.get(key)
        if known is None:
            budget = self.branch_budget
            outcomes = list(run(Path()))
            known = self._continuations[key] = (budget - self.branch_budget, outcomes)
        else:
            self.branch_budget -= known[0]
            if self.branch_budget < 0:
                raise Complexity()
        for accepted, later, reply in known[1]:
            yield accepted, Joined(path, later), reply  # type: ignore[misc]

    def _pre_stages(self, stages: List[Context], index: int, attempt: Attempt, rcpt_ctx: Context,
                    defer_if_permit: Optional[str], path: Path) -> Iterator[Tuple[bool, Path, str]]:
        if index >= len(stages):
            yield from self._continued(
                ("rcpt", defer_if_permit), path,
                lambda start: self._rcpt_lists(attempt, rcpt_ctx, defer_if_permit, start))
            return
        if index > 0:
            yield from self._continued(
                ("stage", index, defer_if_permit), path,
                lambda start: self._stage(stages, index, attempt, rcpt_ctx, defer_if_permit, start))
            return
        yield from self._stage(stages, index, attempt, rcpt_ctx, defer_if_permit, path)

    def _stage(self, stages: List[Context], index: int, attempt: Attempt, rcpt_ctx: Context,
               defer_if_permit: Optional[str], path: Path) -> Iterator[Tuple[bool, Path, str]]:
        ctx = stages[index]
        parameter = ctx.parameter
        for branch in self._run_stage(parameter, ctx, State(defer_if_permit=defer_if_permit), path):
            if branch.status == REJECT:
                yield False, branch.path.step(f"{parameter}: rejected: {branch.reply}"), branch.reply
                continue
            # A permit here ends only this list: it grants nothing for relaying.
            branch_path = replace(branch.path, permit_token=None)
            carried = branch.state.defer_if_permit
            if (parameter == "smtpd_sender_restrictions" and self.reject_unlisted_sender and attempt.sender
                    and not branch.state.sender_maps_checked):
                # smtpd_reject_unlisted_sender: the sender is validated after the sender list.
                for status, checked_path, reply in recipient_validation(self, attempt.sender, branch_path, parameter,
                                                                        as_sender=True):
                    if status == REJECT:
                        yield False, checked_path, reply
                    else:
                        yield from self._pre_stages(stages, index + 1, attempt, rcpt_ctx, carried, checked_path)
                continue
            yield from self._pre_stages(stages, index + 1, attempt, rcpt_ctx, carried, branch_path)

    def _run_stage(self, parameter: str, ctx: Context, state: State, path: Path) -> Iterable[Branch]:
        """The branches of one stage's list; an empty list decides nothing. (Each list starts
        at the top level: a finished list leaves recursion and warn_if_reject at 0.)"""
        tokens = self.lists[parameter]
        if not tokens:
            return [Branch(DUNNO, state, path)]
        return self.run_list(tokens, ctx, state, path, parameter)

    def _rcpt_lists(self, attempt: Attempt, rcpt_ctx: Context, defer_if_permit: Optional[str],
                    path: Path) -> Iterator[Tuple[bool, Path, str]]:
        order = [RELAY_LIST, RCPT_LIST] if self.relay_first else [RCPT_LIST, RELAY_LIST]
        state = State(defer_if_permit=defer_if_permit)
        yield from self._rcpt_list(order, 0, attempt, rcpt_ctx, state, path, [])

    def _rcpt_list(self, order: List[str], index: int, attempt: Attempt, rcpt_ctx: Context, state: State,
                   path: Path, permits: List[Tuple[str, Optional[PermitToken]]]
                   ) -> Iterator[Tuple[bool, Path, str]]:
        if index >= len(order):
            yield from self._after_lists(attempt, state, path, permits)
            return
        parameter = order[index]
        tokens = self.lists[parameter]
        ctx = replace(rcpt_ctx, parameter=parameter)
        base = replace(path, permit_token=None)
        for branch in self._run_stage(parameter, ctx, state, base):
            if branch.status == REJECT:
                yield False, branch.path.step(f"{parameter}: rejected: {branch.reply}"), branch.reply
                continue
            how = branch.path.permit_token if branch.status == OK else None
            if how is None:
                text = f"{parameter}: empty (no restrictions)" if not tokens else f"{parameter}: end of list (implicit permit)"
                branch_path = branch.path.step(text)
            else:
                branch_path = branch.path
            yield from self._rcpt_list(order, index + 1, attempt, rcpt_ctx, branch.state, branch_path,
                                       permits + [(parameter, how)])

    def _after_lists(self, attempt: Attempt, state: State, path: Path,
                     permits: List[Tuple[str, Optional[PermitToken]]]
                     ) -> Iterator[Tuple[bool, Path, str]]:
        if state.defer_if_permit is not None:
            yield False, path.step(f"deferred: {state.defer_if_permit}"), state.defer_if_permit
            return
        if state.discard:
            yield False, path.step("accepted but discarded (DISCARD)"), "250 (discarded)"
            return
        chosen = choose_permit(permits, self.guarded_lists)
        final_path = replace(path, permit_token=chosen)
        transport = self.address_model.transport_of(self.address_model.resolve(attempt.recipient))
        if transport in ("error", "retry") and not self.reject_unlisted_recipient:
            yield False, final_path.step(f"accepted, but the recipient resolves to the {transport} transport: "
                                         "bounced, not relayed"), "250 (not relayed)"
            return
        if self.reject_unlisted_recipient and not state.rcpt_maps_checked:
            for status, checked_path, reply in recipient_validation(self, attempt.recipient, final_path,
                                                                    "smtpd_reject_unlisted_recipient"):
                if status == REJECT:
                    yield False, checked_path.step(f"smtpd_reject_unlisted_recipient: {reply}"), reply
                else:
                    yield True, checked_path, "250 2.1.5 Ok"
            return
        yield True, final_path, "250 2.1.5 Ok"


def choose_permit(permits: List[Tuple[str, Optional[PermitToken]]],
                  guarded_lists: FrozenSet[str]) -> Optional[PermitToken]:
    """The token that lets the mail through: an explicit permit in a list that would otherwise
    close relaying first (one holding a relay guard), then any explicit permit; else None (the
    lists simply ended)."""
    explicit = [(parameter, how) for parameter, how in permits if how is not None]
    for parameter, how in explicit:
        if parameter in guarded_lists:
            return how
    if explicit:
        return explicit[0][1]
    return None
