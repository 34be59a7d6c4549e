"""`pfcheck show DIR`: the model pfcheck believes Postfix uses, with the origin of every value."""
from __future__ import annotations

from typing import Any, Optional

from pfcheck.postfix.config import ALWAYS_SHOWN, ConfigDir, Scope
from pfcheck.postfix.lines import collapse_space
from pfcheck.postfix.unused import unused_parameters


def _errors(config: ConfigDir) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for issue in config.issues:
        if issue.fatal:
            errors.append({"path": str(issue.path), "line": issue.line, "column": issue.column, "message": issue.message})
    for source in (config.main_source, config.master_source):
        if source is not None and not source.checkable:
            reason = source.unreadable or f"template ({source.template}), not checked: point pfcheck at the rendered file"
            errors.append({"path": str(source.path), "line": source.template_line, "column": source.template_column, "message": reason})
    seen: set[tuple[str, int]] = set()
    for scope in [config.global_scope, *(listener.scope for listener in config.listeners())]:
        for name in _scope_names(config, scope):
            if not scope.expanded_by_postfix(name):
                continue  # postconf -n and the daemons never expand it on its own
            value = scope.get(name)
            if value.error is None or value.origin.is_default:
                continue  # a default fails only through a set parameter, reported on its own line
            origin = value.origin
            key = (str(origin.path), origin.line)
            if key in seen:
                continue
            seen.add(key)
            errors.append({
                "path": str(origin.path) if origin.path else "",
                "line": origin.line, "column": origin.column,
                "message": f"{name}: {value.error.message}; daemons that read it exit with: fatal: macro processing error",
            })
    return sorted(errors, key=lambda e: (e["path"], e["line"], e["column"]))


def _warnings(config: ConfigDir) -> list[dict[str, Any]]:
    """postconf's "unused parameter" warnings (PF002), at the main.cf name or the `-o`; the
    message is postconf's text, `service` the master.cf entry of an `-o` (None for main.cf)."""
    return [
        {"path": str(item.path), "line": item.line, "column": item.column,
         "message": item.postconf_warning(), "service": item.service}
        for item in unused_parameters(config)
    ]


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


def show_model(config: ConfigDir) -> dict[str, Any]:
    """The stable JSON model of `pfcheck show --format json`."""
    main: dict[str, Any] = {}
    unused_main = _unused(config, None)
    for name, definition in sorted(config.main.params.items()):
        if name in unused_main:
            continue  # postconf -n leaves it out (see "warnings")
        value = config.global_scope.get(name)
        main[name] = {
            "value": collapse_space(definition.value),
            "expanded": None if value.error else collapse_space(value.expanded),
            "line": definition.line,
        }
    services = []
    for service in config.master.entries:
        services.append({
            "name": service.name, "type": service.type, "line": service.line,
            "private": service.private, "unpriv": service.unpriv, "chroot": service.chroot,
            "wakeup": service.wakeup, "maxproc": service.maxproc,
            "command": service.command, "args": service.args,
            # As postconf -P shows them; the effective view below uses what the daemon applies.
            "overrides": {o.name: {"value": o.value, "line": o.line} for o in service.postconf_overrides},
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
        width = max((len(n) for n in effective), default=0)
        for name, item in effective.items():
            shown = "<expansion error>" if item["value"] is None else item["value"]
            out.append(f"  {name.ljust(width)} = {shown}    # {item['origin']}")
    return "\n".join(out) + "\n"
