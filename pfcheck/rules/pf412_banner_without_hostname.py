"""The SMTP greeting does not start with the host name (PF412, banner-without-hostname).

## What it does
Fails for every smtpd listener that clients on other hosts can reach whose greeting text (the
expanded `smtpd_banner`, computed as for PF410) does not start with the expanded `$myhostname`
as its first word (compared case-insensitively). A banner that starts with a space (an empty
`$name` in front) does not start with the host name either. When `myhostname` is not set, its
value is the mail host's name, which pfcheck does not know: a banner that starts with a literal
name is reported, and the message says so.

## Why is this bad?
postconf(5): "You MUST specify $myhostname at the start of the text. This is required by the
SMTP protocol." RFC 5321 makes the first word of the 220 greeting the server's domain; clients
and spam filters compare it with the HELO name and DNS.

## Example
    smtpd_banner = ESMTP ready

## Use instead
    smtpd_banner = $myhostname ESMTP

## References
- postconf(5): smtpd_banner, myhostname
- RFC 5321 section 4.2 (greeting)
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.defaults import is_host_placeholder
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.listening_common import banner_finding_parts, remote_banners

ID = "PF412"
NAME = "banner-without-hostname"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for item in remote_banners(ctx):
        facts = item.facts
        if facts.starts_with_hostname:
            continue
        path, line, column, greeting, how = banner_finding_parts(ctx, item)
        if is_host_placeholder(facts.hostname):
            hostname = ("myhostname, which is unset: its value is the mail host's name, which "
                        "pfcheck does not know (write $myhostname to be sure)")
        else:
            hostname = f"myhostname ({facts.hostname})"
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{item.listener.key} greets with {greeting}: the text does not start with {hostname} "
            f"(smtpd_banner {how})",
            service=item.listener.key, parameter="smtpd_banner",
            expected="$myhostname ...", actual=facts.banner, from_default=item.value.origin.is_default,
        )
