"""Template placeholder judged as literal text (PF906, template-placeholder).

## What it does
Reports every line of main.cf or master.cf that Postfix reads and that holds a template value
placeholder: Jinja2 or Go `{{ var }}`, ERB `<%= x %>`, sed `@@NAME@@` / `PH_NAME`, envsubst
`${UPPER_CASE}`, installer `%{name}` or `= %name`. Such a file is still judged, exactly as
Postfix reads it (the placeholder is literal text to Postfix; `${UPPER}` is a Postfix `$name`
expansion of a parameter that is usually undefined, i.e. empty, and postconf warns
"undefined parameter"). One finding per line, at its first placeholder, up to 1,000 lines per
file (then one finding says how many more).

Comment lines are never looked at: Postfix skips them. A template with control flow
(`{% if %}`, `<% %>`, `{{ if }}`, ...) is not judged at all (PF900), since its rendering decides
which lines exist.

## Why is this bad?
The value Postfix will run with is whatever the template renders, not the text pfcheck judged.
Every rule still ran on the literal text, so an open relay elsewhere in the file is reported,
but a placeholder can hide one (`mynetworks = {{ relay_nets }}`). Failing by default keeps a
gate from passing a file whose real values it never saw.

## Example
    smtpd_banner = {{ banner }}
    mynetworks = 127.0.0.0/8 @@EXTRA_NETWORKS@@

## Use instead
    # render the template first, then:
    pfcheck build/etc/postfix/main.cf
    # or, if the file is only ever used rendered, list it under the policy's exclude:

## References
- pfcheck README, "Templates"
- Postfix source util/readlline.c (comment lines), global/mail_conf.c and util/mac_expand.c
  (`$name` expansion of an undefined parameter)
"""
from __future__ import annotations

import bisect
from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.lines import logical_lines, split_braced
from pfcheck.postfix.maincf import split_nameval
from pfcheck.postfix.source import SourceText
from pfcheck.postfix.templates import MAX_PLACEHOLDERS
from pfcheck.rules.base import RuleContext, make_finding

ID = "PF906"
NAME = "template-placeholder"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}

_ADVICE = "(render the template, or list the file under the policy's exclude:)"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    config = ctx.config
    for source, is_master in ((config.main_source, False), (config.master_source, True)):
        if source is None or not source.checkable or not source.placeholders:
            continue
        owners = _owners(source, is_master)
        for placeholder in source.placeholders:
            owner = owners(placeholder.line)
            subject = owner or f"line {placeholder.line}"
            literal = _literal_reading(ctx, placeholder.text)
            yield make_finding(
                ctx, ID, NAME, source.path, placeholder.line, placeholder.column,
                f"{subject} holds {_article(_language(placeholder.language))} placeholder '{placeholder.text}'; "
                f"judged as Postfix reads it literally{literal} {_ADVICE}",
                parameter=None if is_master or owner is None else owner,
                service=owner if is_master else None,
                actual=placeholder.text,
            )
        more = source.placeholder_lines - len(source.placeholders)
        if more > 0:
            last = source.placeholders[-1]
            yield make_finding(
                ctx, ID, NAME, source.path, last.line, last.column,
                f"{more} more lines after these {MAX_PLACEHOLDERS} hold template placeholders; "
                f"all judged as Postfix reads them literally {_ADVICE}",
                actual="more-placeholders",
            )


def _language(language: str) -> str:
    """"envsubst (${UPPER_CASE})" -> "envsubst", "sed placeholders (PH_NAME)" -> "sed": the
    marker itself is quoted in the message."""
    return language.split(" (", 1)[0].removesuffix(" placeholders")


def _article(word: str) -> str:
    return f"an {word}" if word[:1].lower() in "aeio" else f"a {word}"


def _literal_reading(ctx: RuleContext, marker: str) -> str:
    """What Postfix makes of a `${NAME}` placeholder: a `$name` expansion."""
    if not (marker.startswith("${") and marker.endswith("}")):
        return ""
    name = marker[2:-1]
    if name in ctx.config.main:
        return f" (Postfix expands it to the value of parameter {name})"
    return f' (Postfix expands it to nothing; postconf warns "undefined parameter: {name}")'


def _owners(source: SourceText, is_master: bool) -> "Any":
    """line -> the parameter (main.cf) or service (master.cf) whose logical line holds it.

    One pass over the logical lines, made only for files with placeholders."""
    wanted = sorted({placeholder.line for placeholder in source.placeholders})
    found: dict[int, Optional[str]] = {}
    for logical in logical_lines(source.text):
        first = bisect.bisect_left(wanted, logical.line)
        last = bisect.bisect_right(wanted, logical.last_line)
        if first == last:
            continue
        owner = None if logical.orphan else _owner(logical.text, is_master)
        for line in wanted[first:last]:
            if line in logical.numbers:
                found[line] = owner
    return found.get


def _owner(text: str, is_master: bool) -> Optional[str]:
    if is_master:
        fields = [token for token, _ in split_braced(text, " \t\r\n")][:2]
        return "/".join(fields) if len(fields) == 2 else None
    error, _, name, _ = split_nameval(text)
    return name if error is None else None
