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

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
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
