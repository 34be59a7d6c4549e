"""`pfcheck show DIR`: the model pfcheck believes Postfix uses, with the origin of every value."""
from __future__ import annotations

from typing import Any, Optional

from pfcheck.postfix import defaults
from pfcheck.postfix.config import ALWAYS_SHOWN, ConfigDir, Listener, Scope
from pfcheck.postfix.lines import collapse_space
from pfcheck.postfix import tls_facts
from pfcheck.postfix.listening import greeting_banner, listener_sockets
from pfcheck.postfix.unused import unused_parameters


def _errors(config: ConfigDir) -> list[dict[str, Any]]:
    """What Postfix exits on: exactly PF000's findings (one decision, in the rule), plus the
    files that could not be read at all."""
    from pfcheck.discovery import find_repo_root
    from pfcheck.rules import pf000_config_error
    from pfcheck.rules.base import RuleContext

    errors: list[dict[str, Any]] = []
    for source in (config.main_source, config.master_source):
        if source is not None and not source.checkable:
            reason = source.unreadable or f"template ({source.template}), not checked: point pfcheck at the rendered file"
            errors.append({"path": str(source.path), "line": source.template_line, "column": source.template_column, "message": reason})
    context = RuleContext(config, find_repo_root(config.directory))
    for finding in pf000_config_error.check(context, {}):
        errors.append({"path": finding.path, "line": finding.line, "column": finding.column, "message": finding.message})
    return sorted(errors, key=lambda e: (e["path"], e["line"], e["column"]))


def _warnings(config: ConfigDir) -> list[dict[str, Any]]:
    """postconf's "unused parameter" warnings (PF002), at the main.cf name or the `-o`; the
    message is postconf's text, `service` the master.cf entry of an `-o` (None for main.cf)."""
    warnings = [
        {"path": str(item.path), "line": item.line, "column": item.column,
         "message": item.postconf_warning(), "service": item.service}
        for item in unused_parameters(config)
    ]
    read_only = defaults.read_only_parameters(config.version)
    for name in sorted(read_only & set(config.main.params)):
        for definition in config.main.history(name):
            warnings.append({"path": str(definition.path), "line": definition.line, "column": definition.column,
                             "message": f"read-only parameter assignment: {name}={definition.value}", "service": None})
    for service in config.master.entries:
        for override in service.postconf_overrides:
            if override.name in read_only:
                warnings.append({"path": str(override.path), "line": override.line, "column": override.column,
                                 "message": f"read-only parameter assignment: {override.name}={override.value}",
                                 "service": service.key})
    return warnings


def _unused(config: ConfigDir, service_key: Optional[str]) -> set[str]:
    """Names postconf calls unused in main.cf and, for a service, in its `-o`: postconf -n
    does not show them, and no daemon reads them, so the model leaves them out."""
    return {item.name for item in unused_parameters(config)
            if item.file == "main.cf" or (service_key is not None and item.service == service_key)}


def _scope_names(config: ConfigDir, scope: Scope) -> list[str]:
    names = set(config.main.params) | set(ALWAYS_SHOWN)
    if scope.service is not None:
        names |= {o.name for o in scope.service.overrides}
    names -= _unused(config, scope.service.key if scope.service is not None else None) - set(ALWAYS_SHOWN)
    return sorted(names)


def _listening(config: ConfigDir, listener: Listener) -> dict[str, Any]:
    """Per listener (pfcheck.postfix.listening): `binds`, the address:port sockets master opens
    for its inet entry points (itself, or the postscreen in front of it; host names stay names),
    `bind_error`, master's fatal when it cannot bind one of them (it then binds nothing), and
    `banner`, the text after `220 ` in smtpd's greeting (None for postscreen, or when
    smtpd_banner does not expand). Placeholders (`<myhostname>`) stand for host facts."""
    binds, error = listener_sockets(config, listener)
    smtpd = listener.service.process_name == "smtpd"
    banner = greeting_banner(listener.scope) if smtpd else None
    return {"binds": binds, "bind_error": error, "banner": banner, "tls": _tls(listener) if smtpd else None}


def _tls(listener: Listener) -> dict[str, Any]:
    """Per smtpd listener (pfcheck.postfix.tls_facts): `level`, what smtpd enforces (none, may,
    encrypt; wrapper mode is encrypt), `wrappermode`, `starttls_advertised` (in the plaintext
    EHLO), `starttls_offered` (advertised and negotiable), `problem`, why TLS cannot start although it is in use (None when nothing in the
    config stops it), and whether EHLO offers AUTH `auth_before_tls` (in plaintext) and
    `auth_after_tls`."""
    facts = tls_facts.smtpd_tls(listener)
    return {
        "level": facts.level,
        "wrappermode": facts.wrappermode,
        "starttls_advertised": tls_facts.starttls_advertised(listener),
        "starttls_offered": tls_facts.starttls_offered(listener),
        "problem": facts.tls_problem or None,
        "auth_before_tls": tls_facts.auth_offered_before_tls(listener),
        "auth_after_tls": tls_facts.auth_offered_after_tls(listener),
    }


def show_model(config: ConfigDir) -> dict[str, Any]:
    """The stable JSON model of `pfcheck show --format json`."""
    main: dict[str, Any] = {}
    # postconf -n leaves out unused names and read-only assignments (see "warnings").
    hidden = _unused(config, None) | defaults.read_only_parameters(config.version)
    for name, definition in sorted(config.main.params.items()):
        if name in hidden:
            continue
        value = config.global_scope.get(name)
        main[name] = {
            "value": collapse_space(definition.value),
            "expanded": None if value.error else collapse_space(value.expanded),
            "line": definition.line,
        }
    services = []
    read_only = defaults.read_only_parameters(config.version)
    for service in config.master.entries:
        services.append({
            "name": service.name, "type": service.type, "line": service.line,
            "private": service.private, "unpriv": service.unpriv, "chroot": service.chroot,
            "wakeup": service.wakeup, "maxproc": service.maxproc,
            "command": service.command, "args": service.args,
            # As postconf -P shows them; the effective view below uses what the daemon applies.
            "overrides": {o.name: {"value": o.value, "line": o.line} for o in service.postconf_overrides
                          if o.name not in read_only},
        })
    effective: dict[str, Any] = {}
    listeners: dict[str, Any] = {}
    for listener in config.listeners():
        scope = listener.scope
        entry: dict[str, Any] = {}
        for name in _scope_names(config, scope):
            value = scope.get(name)
            entry[name] = {
                "value": None if value.error else collapse_space(value.expanded),
                "origin": value.origin.label(),
            }
        effective[listener.key] = entry
        listeners[listener.key] = {
            "remote": listener.remote,
            "binding": listener.binding,
            "entry_points": [s.key for s in listener.entry_points],
            **_listening(config, listener),
        }
    return {
        "config_dir": str(config.directory),
        "postfix_version": config.version,
        "master_cf": "assumed Postfix package default (no master.cf in the directory)" if config.master.assumed_default else str(config.master.path),
        "main": main,
        "services": services,
        "effective": effective,
        "listeners": listeners,
        "errors": _errors(config),
        "warnings": _warnings(config),
    }


def render_show_text(model: dict[str, Any]) -> str:
    """postconf -n style, then one block per listener with its `-o` overlay and effective values."""
    out: list[str] = [f"# {model['config_dir']} (Postfix {model['postfix_version']} defaults)"]
    out.append(f"# master.cf: {model['master_cf']}")
    for error in model["errors"]:
        out.append(f"# error: {error['path']}:{error['line']}:{error['column']}: {error['message']}")
    for warning in model.get("warnings", []):
        where = f" [{warning['service']}]" if warning.get("service") else ""
        out.append(f"# warning: {warning['path']}:{warning['line']}:{warning['column']}: {warning['message']}{where}")
    out.append("")
    out.append("## main.cf (postconf -n)")
    for name, item in model["main"].items():
        out.append(f"{name} = {item['value']}    # main.cf:{item['line']}")
    for service in model["services"]:
        key = f"{service['name']}/{service['type']}"
        out.append("")
        out.append(f"## {key}  command={service['command']}  master.cf:{service['line']}")
        for name, item in service["overrides"].items():
            out.append(f"-o {name} = {item['value']}    # master.cf:{item['line']}")
        effective: Optional[dict[str, Any]] = model["effective"].get(key)
        if effective is None:
            continue
        listener = model["listeners"][key]
        reach = "reachable from other hosts" if listener["remote"] else "not reachable from other hosts"
        out.append(f"# {reach}; {listener['binding'] or 'no inet entry point'}")
        if listener.get("binds"):
            out.append(f"# binds: {', '.join(listener['binds'])}")
        if listener.get("bind_error"):
            out.append(f"# master cannot bind it: {listener['bind_error']}")
        if listener.get("banner") is not None:
            out.append(f"# greeting: 220 {listener['banner']}")
        tls = listener.get("tls")
        if tls is not None:
            how = "wrapper mode" if tls["wrappermode"] else "STARTTLS offered" if tls["starttls_offered"] else \
                "STARTTLS advertised, refused with 454" if tls["starttls_advertised"] else "no STARTTLS"
            problem = f"; TLS cannot start: {tls['problem']}" if tls["problem"] else ""
            out.append(f"# tls: {tls['level']} ({how}{problem}); AUTH before TLS: "
                       f"{'yes' if tls['auth_before_tls'] else 'no'}, after TLS: {'yes' if tls['auth_after_tls'] else 'no'}")
        width = max((len(n) for n in effective), default=0)
        for name, item in effective.items():
            shown = "<expansion error>" if item["value"] is None else item["value"]
            out.append(f"  {name.ljust(width)} = {shown}    # {item['origin']}")
    return "\n".join(out) + "\n"
