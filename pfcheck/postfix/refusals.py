"""The values of one scope (main.cf alone, or main.cf + one service's `-o`) that Postfix refuses.

For every parameter the files set, the typed-table check of `param_types` on the value as the
program sees it (`$`-expanded, except raw parameters), and the checks of mail_params_init()
that go beyond the tables. PF000 reports them; `relay_common.dies_at_startup` asks which of
them kill a listener's smtpd.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional

from pfcheck.postfix import defaults, param_types
from pfcheck.postfix.expand import ExpansionError, expand
from pfcheck.postfix.param_types import GLOBAL, TLS, Refusal

if TYPE_CHECKING:
    from pfcheck.postfix.config import Scope


def set_names(scope: "Scope") -> set[str]:
    """Parameters main.cf or this scope's `-o` options define."""
    names = set(scope.config.main.params)
    if scope.service is not None:
        names |= {o.name for o in scope.service.overrides}
    return names


def _default_unit(scope: "Scope", name: str) -> str:
    default = defaults.default_value(name, scope.config.version) or ""
    try:
        default = expand(default, scope._lookup, name=name)
    except ExpansionError:
        pass
    return param_types.default_time_unit(default)


def scope_refusals(scope: "Scope", program: Optional[str]) -> Dict[str, Refusal]:
    """name -> what `program` (a master.cf command; None = any Postfix program) exits on.

    Only parameters the files set are judged, and only the table entries `program` reads.
    Parameters whose `$` expansion fails are left to the caller (Value.error)."""
    version = scope.config.version
    read_only = defaults.read_only_parameters(version)
    found: Dict[str, Refusal] = {}
    names = set_names(scope)
    for name in sorted(names - read_only):
        value = scope.get(name)
        if value.error is not None or value.origin.is_default:
            continue
        for entry in param_types.types_of(name, version):
            if not entry.read_by(program):
                continue
            text = value.raw if entry.kind == "raw" else value.expanded
            message = param_types.check_typed(entry, text, version, lambda: _default_unit(scope, name))
            if message is not None:
                found[name] = Refusal(name, message, entry.readers)
                break

    def is_set(name: str) -> bool:
        return name in names and not scope.get(name).origin.is_default

    config_directory = scope.value("config_directory") or "/etc/postfix"
    for name, refusal in param_types.global_refusals(scope.value, is_set, version, config_directory).items():
        if name not in found and scope.get(name).error is None:
            found[name] = refusal
    return found


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
