"""The values of one scope (main.cf alone, or main.cf + one service's `-o`) that Postfix refuses.

For every parameter the files set, the typed-table check of `param_types` on the value as the
program sees it (`$`-expanded, except raw parameters), and the checks of mail_params_init()
that go beyond the tables. PF000 reports them; `relay_common.dies_at_startup` asks which of
them kill a listener's smtpd.
"""
from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Dict, Mapping, Optional

from pfcheck.postfix import defaults, param_types
from pfcheck.postfix.expand import ExpansionError, expand
from pfcheck.postfix.param_types import GLOBAL, TLS, Refusal

if TYPE_CHECKING:
    from pfcheck.postfix.config import Scope, Value


def candidate_names(scope: "Scope") -> set[str]:
    """Parameters of this scope that Postfix may refuse: typed ones the files set, and the ones
    whose built-in default refers to them. main.cf scope: found once per directory from the
    type table (~850 names), not from main.cf (which may hold a million); a service's scope:
    what its `-o` can change (scope.differing_names())."""
    config = scope.config
    if scope.service is not None:
        return scope.differing_names() & _checked_names(config.version)
    names = config.__dict__.get("_refusal_candidates")
    if names is None:
        checked, main = _checked_names(config.version), config.main
        if len(main) < len(checked):  # the usual main.cf: its few names, each asked of the table
            names = {name for name in main.names() if name in checked}
        else:  # a huge main.cf: each table name asked of it
            names = {name for name in checked if name in main}
        config.__dict__["_refusal_candidates"] = names
    return set(names)


@functools.lru_cache(maxsize=None)
def _checked_names(version: str) -> frozenset[str]:
    series = defaults.series_of(version)
    return frozenset(param_types.parameter_types(series)) | frozenset(_referring_defaults(series))


def _evaluated(scope: "Scope", name: str) -> "Value":
    """scope.evaluate(name), kept on the scope for this module: a scope's refusals read each
    candidate two or three times (the check, the table entry, a derived default), and
    Scope.evaluate() keeps nothing. At most the candidates and the names their defaults refer
    to are kept (bounded by the type table, ~900 names, however large main.cf is)."""
    values: Dict[str, "Value"] = scope.__dict__.setdefault("_refusal_values", {})
    value = values.get(name)
    if value is None:
        value = values[name] = scope.evaluate(name)
    return value


def _default_unit(scope: "Scope", name: str) -> str:
    default = defaults.default_value(name, scope.config.version) or ""

    def lookup(other: str) -> Optional[str]:
        found = scope.raw(other)
        return None if found is None else found[0]

    try:
        default = expand(default, lookup, name=name)
    except ExpansionError:
        pass
    return param_types.default_time_unit(default)


def scope_refusals(scope: "Scope", program: Optional[str]) -> Dict[str, Refusal]:
    """name -> what `program` (a master.cf command; None = any Postfix program) exits on.

    Only parameters the files set are judged, and only the table entries `program` reads.
    Parameters whose `$` expansion fails are left to the caller (Value.error). In a service's
    scope only what its `-o` changes is judged (the rest is the main.cf scope's answer); the
    answer is kept on the scope (PF000 and dies_at_startup both ask)."""
    cache: Dict[Optional[str], Dict[str, Refusal]] = scope.__dict__.setdefault("_refusals", {})
    if program not in cache:
        cache[program] = _scope_refusals(scope, program)
    return cache[program]


def _scope_refusals(scope: "Scope", program: Optional[str]) -> Dict[str, Refusal]:
    version = scope.config.version
    read_only = defaults.read_only_parameters(version)
    found: Dict[str, Refusal] = {}
    names = candidate_names(scope)
    for name in sorted(names - read_only - _HOST_NAMES):
        value = _evaluated(scope, name)
        if value.error is not None or value.origin.is_default:
            continue
        for entry in param_types.types_of(name, version):
            if not entry.read_by(program):
                continue
            message = _entry_refusal(scope, entry, program)
            if message is not None:
                found[name] = Refusal(name, message[0], message[1])
                break
    _derived_refusals(scope, program, names - read_only, found)
    # smtpd_restriction_classes without definitions: PF303 (the relay evaluator reads them).

    def is_set(name: str) -> bool:
        return not _evaluated(scope, name).origin.is_default

    if scope.service is not None and not scope.differing_names() & param_types.GLOBAL_REFUSAL_INPUTS:
        return found
    from pfcheck.postfix.config import config_directory_of

    # Postfix names main.cf by its installed path: $config_directory/main.cf.
    config_directory = config_directory_of(scope)
    hostname_refusal = _hostname_refusal(scope, program, config_directory)
    if hostname_refusal is not None:
        found.setdefault(hostname_refusal.name, hostname_refusal)
    for name, refusal in param_types.global_refusals(scope.value, is_set, version, config_directory).items():
        if name not in found and _evaluated(scope, name).error is None:
            found[name] = refusal
    return found


#: mail_params_init() reads these two through get_mail_conf_str_fn_table(), not the type tables.
_HOST_NAMES = frozenset({"myhostname", "mydomain"})


def _hostname_refusal(scope: "Scope", program: Optional[str], config_directory: str) -> Optional[Refusal]:
    """The first fatal of mail_params_init() on var_myhostname / var_mydomain, in its order:
    each one's length (min 1, checked as it is stored), then valid_hostname() of each. The
    values are the daemon's (Scope.daemon_hostname(): a set myhostname sees an unset $mydomain
    as empty). A problem of an unset mydomain belongs to the myhostname line it derives from."""
    if not scope.is_set("myhostname") and not scope.is_set("mydomain"):
        return None  # both from the host name, which pfcheck does not know
    # None: unknown (the host name is not given, or an expansion error reported on its own).
    hostname = scope.daemon_hostname()
    domain_value = scope.get("mydomain")
    unknown_host = defaults.host_placeholder("myhostname")
    domain: Optional[str] = domain_value.expanded
    if domain_value.error is not None or defaults.is_host_placeholder(domain) or unknown_host in domain:
        domain = None
    owner = {"myhostname": "myhostname" if scope.is_set("myhostname") else "mydomain",
             "mydomain": "mydomain" if scope.is_set("mydomain") else "myhostname"}
    main_cf = f"{config_directory}/main.cf"
    checks = [("myhostname", hostname), ("mydomain", domain)]
    for name, text in checks:
        if text is not None and not text:
            return Refusal(owner[name], f"bad string length 0 < 1: {name} = ", (GLOBAL,))
    for name, text in checks:
        if text is not None and param_types.valid_hostname(text) is not None:
            return Refusal(owner[name], f"file {main_cf}: parameter {name}: bad parameter value: {text}", (GLOBAL,))
    return None


def _entry_refusal(scope: "Scope", entry: param_types.ParamType,
                   program: Optional[str]) -> Optional[tuple[str, tuple[str, ...]]]:
    """(fatal text, readers) for the scope's value of one table entry, or None."""
    name, version = entry.name, scope.config.version
    value = _evaluated(scope, name)
    text = value.raw if entry.kind == "raw" else value.expanded
    message = param_types.check_typed(entry, text, version, lambda: _default_unit(scope, name))
    if message is not None:
        return message, entry.readers
    message = param_types.named_value_refusal(name, text)
    if message is not None:
        return message, entry.readers
    if param_types.is_map_parameter(name):
        openers = tuple(r for r in entry.readers if r in param_types.MAP_OPENERS)
        if openers and (program is None or program in openers):
            message = param_types.map_refusal(name, text)
            if message is not None:
                return message, openers
    return None


_REFERENCE = re.compile(r"\$(?:\{|\()?([A-Za-z0-9_]+)")


def _can_refuse(entry: param_types.ParamType) -> bool:
    """Whether some string value can fail this entry (a plain unbounded string cannot)."""
    if entry.kind in ("int", "long", "bool"):
        return False  # unset: the compiled-in number, never the string default
    if entry.kind in ("str", "str_fn", "raw") and not (entry.min or entry.max):
        return entry.name in param_types.NAMED_VALUES or param_types.is_map_parameter(entry.name)
    return True


@functools.lru_cache(maxsize=None)
def _referring_defaults(version: str) -> Mapping[str, tuple[str, ...]]:
    """name -> the typed parameters whose built-in default refers to it, Postfix's order of
    checking first where it checks several (smtpd_check.c: the tempfail actions)."""
    table = param_types.parameter_types(version)
    order = [n for n in param_types.NAMED_VALUES if n in table] + sorted(set(table) - set(param_types.NAMED_VALUES))
    index: Dict[str, list[str]] = {}
    for name in order:
        if not any(_can_refuse(entry) for entry in table[name]):
            continue
        for ref in dict.fromkeys(_REFERENCE.findall(defaults.default_value(name, version) or "")):
            index.setdefault(ref, []).append(name)
    return {ref: tuple(names) for ref, names in index.items()}


def _derived_refusals(scope: "Scope", program: Optional[str], names: set[str], found: Dict[str, Refusal]) -> None:
    """Unset parameters whose default refers to a set one (`unknown_helo_hostname_tempfail_action
    = $reject_tempfail_action`): Postfix checks the expanded default, and names the unset
    parameter in its message; the finding belongs to the line that sets the referenced one."""
    version = scope.config.version
    referring = _referring_defaults(defaults.series_of(version))
    for referenced in sorted(names):
        if referenced in found:
            continue
        for name in referring.get(referenced, ()):
            value = _evaluated(scope, name)
            if not value.origin.is_default or value.error is not None:
                continue
            refusal = None
            for entry in param_types.types_of(name, version):
                # Numbers and booleans fall back to a compiled-in default, never to a string.
                if entry.read_by(program) and entry.kind not in ("int", "long", "bool"):
                    refusal = _entry_refusal(scope, entry, program)
                    if refusal is not None:
                        break
            if refusal is not None:
                found[referenced] = Refusal(referenced, refusal[0], refusal[1])
                break


def who_exits(readers: tuple[str, ...], service_label: Optional[str]) -> str:
    """Postfix programs that exit, for a message: every program, or the ones reading the table."""
    if service_label is not None:
        return f"the {service_label} exits at start-up"
    if GLOBAL in readers:
        return "every Postfix program exits (postfix start and postfix check fail)"
    names = ", ".join(sorted(r for r in readers if r != TLS))
    if TLS in readers:
        names = ", ".join(filter(None, [names, "every program that starts TLS (smtpd with a certificate, smtp, tlsproxy)"]))
        return f"{names} exit"
    return f"every {names} exits at start-up" if len(readers) == 1 else f"{names} exit at start-up"
