"""File not checked: a template or unreadable input (PF900, not-checked).

## What it does
Reports every named or discovered config file that pfcheck could not check: a template whose
rendering decides which lines exist (control flow outside comment lines: Jinja2 `{% if %}` or
`{# #}`, ERB `<% %>`, Go `{{ if }}`/`{{ range }}`/`{{ end }}`, Mustache sections, an installer's
`%{name}` line switch, a placeholder alone on a line), a file named like a template
(`main.cf.j2`), binary data (more than 8 NUL bytes, or a NUL in bytes that are not UTF-8), a
directory named like a config file, or a file that cannot be read. One finding per file, at the
first such marker. Value placeholders alone are not this: the file is judged as Postfix reads it
and each placeholder line is PF906.
pfcheck reads only regular files inside the repository: a main.cf, master.cf or a file a
value names (a table, a `/file/name` list) that is a symlink leaving the repository, a FIFO,
a socket or a device is reported here, at the path as named, and never opened; so is a file
or directory pfcheck may not read (permission denied).

## Why is this bad?
A linter that silently skips a file makes it look checked. The values in a template are not the
values Postfix will use; point pfcheck at the rendered file instead (for example render it in CI
and run pfcheck on the output).

## Example
    {% if relay_networks %}
    mynetworks = {{ relay_networks | join(' ') }}
    {% endif %}

## Use instead
    # render the template first, then:
    pfcheck build/etc/postfix/main.cf

## References
- pfcheck README, "Templates"
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.repository import IS_DIRECTORY, NO_SUCH_FILE, may_exist, refusal
from pfcheck.rules.base import RuleContext, make_finding

ID = "PF900"
NAME = "not-checked"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    config = ctx.config
    for source in (config.main_source, config.master_source):
        if source is None or source.checkable:
            continue
        if source.template is not None:
            message = (f"template ({source.template}), not checked: point pfcheck at the rendered file")
            line, column = source.template_line, source.template_column
        else:
            message = f"not checked: {source.unreadable}"
            line, column = 1, 1
        yield make_finding(ctx, ID, NAME, source.path, line, column, message,
                           actual=source.template or source.unreadable)
    yield from _refused_named_files(ctx)


#: Refusals of a file a value names that are no finding here: a file that is not there is the
#: rules' business (an unknown table), and values name directories too (queue_directory).
_NOT_REPORTED = frozenset({NO_SUCH_FILE, IS_DIRECTORY})


def _refused_named_files(ctx: RuleContext) -> Iterator[Finding]:
    """Files the values name (tables, `/file/name` lists, client configurations) that are in
    the repository but pfcheck must not or cannot read: a symlink leaving the repository, a
    FIFO, a device, a path it may not search. Their content is unknown to every rule."""
    config = ctx.config
    own = {Path(os.path.abspath(p)) for p in (config.main_path, config.master_path)}
    resolver = ctx.resolver()
    for name in sorted(_absolute_names(config)):
        candidate = resolver.candidate(name)
        if candidate is None or Path(os.path.abspath(candidate)) in own or not may_exist(candidate):
            continue
        _real, reason = refusal(candidate, ctx.repo_root)
        if reason and reason not in _NOT_REPORTED:
            yield make_finding(ctx, ID, NAME, candidate, 1, 1, f"not checked: {reason} (named as {name})",
                               actual=reason)


# An absolute path in a raw value, also after $config_directory (how tables are usually named).
_CONFIG_DIRECTORY = re.compile(r"\$(?:config_directory\b|\{config_directory\}|\(config_directory\))")
_ABSOLUTE = re.compile(r"(?:(?<=[\s,:{(=])|^)(/[^\s,{}()]*)")


def _absolute_names(config: Any) -> set[str]:
    """Absolute file names in the raw values of main.cf and the `-o` overrides: one regex pass
    per value, never an expansion (a value chain can make expanding everything quadratic).
    `references.referenced_paths` is the complete, expanded set, for the reverse index."""
    if not config.main_source.checkable:
        return set()
    values = [d.value for d in config.main.params.values()]
    values += [o.value for service in config.master.services for o in service.overrides]
    names: set[str] = set()
    for value in values:
        if "/" not in value:
            continue
        value = _CONFIG_DIRECTORY.sub("/etc/postfix", value)
        names.update(match.group(1) for match in _ABSOLUTE.finditer(value))
    return names
