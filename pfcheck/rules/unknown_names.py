"""What pfcheck says about names postconf calls unused: a did-you-mean, the Postfix version
that has the name, and (for the rules that read a parameter left at its default) the
misspelled line that was probably meant to set it. Shared by PF002 and the rules that describe
default values (PF101, PF202, PF301, PF302) so that the fact is computed in one place.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, List, Optional, Tuple

from pfcheck.postfix import defaults
from pfcheck.postfix.config import Listener, Value
from pfcheck.rules.base import RuleContext

if TYPE_CHECKING:
    from pfcheck.postfix.unused import UnusedParameter

#: The parameters a relay verdict (PF301, PF302) reads, whose defaults a misspelling leaves.
RELAY_PARAMETERS = (
    "smtpd_relay_restrictions", "smtpd_recipient_restrictions", "smtpd_client_restrictions",
    "smtpd_helo_restrictions", "smtpd_sender_restrictions", "smtpd_restriction_classes",
    "mynetworks", "mynetworks_style", "relay_domains", "permit_mx_backup_networks",
)

#: difflib ratio above which a known name is offered as "did you mean"; typos of one or two
#: characters in names of 10+ characters score above 0.9, unrelated user names below 0.8.
#: Unknown names reported one by one per directory (PF002); the rest are counted in one more
#: finding. A real config has a handful; a generated one can have a million, and a finding
#: (with its did-you-mean search) per name would make the run superlinear in time and memory.
MAX_LISTED = 200
SUGGEST_CUTOFF = 0.84


def _candidates(ctx: RuleContext) -> Tuple[str, ...]:
    cached = ctx.cache.get("unknown_names.candidates")
    if cached is None:
        config = ctx.config
        version = config.version
        services = [(s.name, s.command) for s in config.master.entries]
        names = set(defaults.builtin_defaults(version)) | set(defaults.legacy_names(version))
        names |= defaults.service_parameter_names(version, services)
        names -= defaults.read_only_parameters(version)
        cached = tuple(sorted(names))
        ctx.cache["unknown_names.candidates"] = cached
    return cached


def _lowered(ctx: RuleContext) -> dict[str, str]:
    cached = ctx.cache.get("unknown_names.lowered")
    if cached is None:
        cached = {candidate.lower(): candidate for candidate in reversed(_candidates(ctx))}
        ctx.cache["unknown_names.lowered"] = cached
    return cached  # type: ignore[no-any-return]


#: Candidate tuples seen in this process -> a token, and (name, token) -> suggestion: the
#: hosts of a fleet share their version and services, and mostly their misspellings, and a
#: did-you-mean search over ~1,000 names costs ~10 ms. Both are emptied together when either
#: is full (tokens are never reused, so no stale answer survives).
_CANDIDATE_TOKENS: dict[Tuple[str, ...], int] = {}
_SUGGESTIONS: dict[Tuple[str, int], Optional[str]] = {}
_MAX_CANDIDATE_SETS = 32
_MAX_SUGGESTIONS = 4096
_next_token = [0]


def _candidates_token(ctx: RuleContext) -> int:
    token = ctx.cache.get("unknown_names.token")
    if token is None:
        candidates = _candidates(ctx)
        token = _CANDIDATE_TOKENS.get(candidates)
        if token is None:
            if len(_CANDIDATE_TOKENS) >= _MAX_CANDIDATE_SETS or len(_SUGGESTIONS) >= _MAX_SUGGESTIONS:
                _CANDIDATE_TOKENS.clear()
                _SUGGESTIONS.clear()
            token = _CANDIDATE_TOKENS[candidates] = _next_token[0]
            _next_token[0] += 1
        ctx.cache["unknown_names.token"] = token
    return token  # type: ignore[no-any-return]


def suggestion(ctx: RuleContext, name: str) -> Optional[str]:
    """The known parameter of the target version `name` is most likely a misspelling of."""
    key = f"unknown_names.suggest.{name}"
    if key not in ctx.cache:
        shared = (name, _candidates_token(ctx))
        if shared not in _SUGGESTIONS:
            _SUGGESTIONS[shared] = _closest(ctx, name)
        ctx.cache[key] = _SUGGESTIONS[shared]
    return ctx.cache[key]  # type: ignore[no-any-return]


def _closest(ctx: RuleContext, name: str) -> Optional[str]:
    import difflib  # only when a config has an unknown name: keeps plain runs lean

    candidates = _candidates(ctx)
    # Names are case-sensitive (`Disable_VRFY_Command` is unused): a case-only difference
    # scores low with difflib but is the likeliest intent.
    lowered = _lowered(ctx).get(name.lower())
    # A ratio of at least SUGGEST_CUTOFF needs the shorter name to be at least
    # cutoff / (2 - cutoff) of the longer: the other lengths cannot match.
    factor = SUGGEST_CUTOFF / (2 - SUGGEST_CUTOFF)
    near = [c for c in candidates if min(len(c), len(name)) >= factor * max(len(c), len(name))]
    matches = [lowered] if lowered else difflib.get_close_matches(name, near, n=1, cutoff=SUGGEST_CUTOFF)
    return matches[0] if matches else None


def client_suggestion(name: str, db_type: str, version: str) -> Optional[str]:
    """The option of a database client (ldap_table(5), ...) `name` is most likely meant as."""
    import difflib

    from pfcheck.postfix.unused import dbms_suffixes

    options = dbms_suffixes(version).get(db_type, ())
    matches = difflib.get_close_matches(name, options, n=1, cutoff=SUGGEST_CUTOFF)
    return matches[0] if matches else None


def versions_with(name: str) -> List[str]:
    """The supported Postfix series whose postconf knows `name` as a built-in or legacy name."""
    return [version for version in defaults.SUPPORTED_VERSIONS
            if name in defaults.builtin_defaults(version) or name in defaults.legacy_names(version)]


def version_note(name: str, target: str) -> Optional[str]:
    """`introduced in Postfix 3.8` / `Postfix 2.10 - 3.8 have it` for a name the target lacks."""
    having = versions_with(name)
    if not having:
        return None
    target_key = defaults.parse_version(target)
    later = [v for v in having if defaults.parse_version(v) > target_key]
    if later:
        return f"it was introduced in Postfix {later[0]}"
    return f"Postfix {having[0]}" + (f" - {having[-1]}" if having[-1] != having[0] else "") + " had it"


def unused(ctx: RuleContext) -> List["UnusedParameter"]:
    """postconf's unused names for this directory (imported on first use: a plain run's
    imports stay lean)."""
    from pfcheck.postfix.unused import unused_parameters

    return unused_parameters(ctx.config)


def meant_for(ctx: RuleContext, name: str, listener: Optional[Listener] = None) -> List["UnusedParameter"]:
    """Unused names in main.cf (or in this listener's `-o`) that look like misspellings of
    `name`, i.e. lines that were probably meant to set it and that Postfix ignores."""

    found = []
    # As many as PF002 lists one by one: past that the file is generated, not misspelled.
    for item in unused(ctx)[:MAX_LISTED]:
        if item.file == "master.cf" and (listener is None or item.service != listener.key):
            continue
        # The best-match search over every known name is the expensive part: run it only for
        # names close enough to this one to be its misspelling (one cheap comparison each).
        if item.name != name and _could_mean(item.name, name) and suggestion(ctx, item.name) == name:
            found.append(item)
    return found


def _could_mean(unknown: str, known: str) -> bool:
    """Whether `known` can be `unknown`'s suggestion: a case-only difference, or a difflib
    ratio that can reach SUGGEST_CUTOFF (the cheap upper bounds first)."""
    if unknown.lower() == known.lower():
        return True
    import difflib

    matcher = difflib.SequenceMatcher(None, unknown, known)
    return (matcher.real_quick_ratio() >= SUGGEST_CUTOFF and matcher.quick_ratio() >= SUGGEST_CUTOFF
            and matcher.ratio() >= SUGGEST_CUTOFF)


def _where(ctx: RuleContext, item: "UnusedParameter") -> str:
    return f"{ctx.display(item.path)}:{item.line}"


def default_note(ctx: RuleContext, name: str, listener: Optional[Listener] = None) -> str:
    """`'disable_vrfy_comand' at main.cf:2 is not a Postfix parameter` when misspelled lines
    were probably meant to set `name` (which is therefore at its default), else ""."""
    items = meant_for(ctx, name, listener)
    if not items:
        return ""
    shown = ", ".join(f"'{item.name}' at {_where(ctx, item)}" for item in items)
    return f"{shown} {'is' if len(items) == 1 else 'are'} not a Postfix parameter"


def describe_origin(ctx: RuleContext, value: Value, listener: Optional[Listener] = None) -> str:
    """How a rule says where a value comes from: `by default` (with the misspelled line that
    was probably meant to set it, if any) or `set at main.cf:3`."""
    if value.origin.is_default:
        note = default_note(ctx, value.name, listener)
        return f"by default; {note}" if note else "by default"
    return f"set at {value.origin.label()}"


def defaults_notes(ctx: RuleContext, listener: Listener, names: Iterable[str]) -> str:
    """For the parameters a verdict read (`names`), the misspelled lines meant to set those
    left at their defaults: `; smtpd_relay_restrictions is at its default ('...' at
    main.cf:3 is not a Postfix parameter)`, else ""."""
    notes = []
    for name in dict.fromkeys(names):
        if not listener.scope.get(name).origin.is_default:
            continue
        note = default_note(ctx, name, listener)
        if note:
            notes.append(f"; {name} is at its default ({note})")
    return "".join(notes)

