"""Reachable listener accepts messages of any size (PF709, message-size-unlimited).

## What it does
Reports every smtpd listener that clients on other hosts can reach whose effective
`message_size_limit` is `0` (no limit), from main.cf or the listener's master.cf `-o`. Off in
the built-in policy: the default limit (10240000 bytes) is fine, and only `0` is judged.

## Why is this bad?
With no size limit any client can fill the queue file system with one message: a cheap
denial of service. smtpd then announces `SIZE` without a number in its EHLO reply.

## Example
    # main.cf
    message_size_limit = 0

## Use instead
    # main.cf
    message_size_limit = 52428800

## References
- postconf(5): message_size_limit, queue_minfree
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.numbers import parse_conf_integer
from pfcheck.rules.base import RuleContext
from pfcheck.rules.setting_common import listener_values, setting_finding

ID = "PF709"
NAME = "message-size-unlimited"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def _is_zero(text: str) -> bool:
    number, _ = parse_conf_integer("message_size_limit", text, int_range=False)
    return number == 0


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for listener, value in listener_values(ctx, "message_size_limit"):
        if _is_zero(value.expanded):
            yield setting_finding(
                ctx, ID, NAME, value,
                f"{listener.key} accepts messages of any size (no message_size_limit); it is "
                f"reachable from other hosts ({listener.binding})",
                listener, expected="a limit in bytes, e.g. 52428800",
            )
