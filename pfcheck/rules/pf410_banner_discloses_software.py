"""The SMTP greeting names the software or the operating system (PF410, banner-discloses-software).

## What it does
Fails for every smtpd listener that clients on other hosts can reach whose greeting names
Postfix (in any case) or an operating system or distribution (Debian, Ubuntu, Linux, GNU, Red
Hat/RHEL, CentOS, Fedora, SUSE, FreeBSD, OpenBSD, ...). The greeting is what smtpd sends,
`220 ` followed by the effective `smtpd_banner` of that listener, expanded as smtpd expands it:
main.cf (last definition wins, continuation lines joined), the listener's `-o smtpd_banner=`,
`mail_name` (default `Postfix`), `$mail_version`, unknown `$names` as empty text, `${name?text}`
forms, and Postfix's default `$myhostname ESMTP $mail_name` when nothing sets it. Debian's
packaged main.cf adds `(Debian/GNU)`. The host name itself ($myhostname) is not searched: a host
called `debian.example.com` names a host, not the OS.

## Why is this bad?
The banner tells every client which software, and often which distribution, answers, which
saves an attacker a fingerprinting step (Lynis MAIL-8818, ComplianceAsCode
`postfix_server_banner`). As a security control this is obscurity: it hides nothing from a
determined scanner (the SMTP dialogue itself gives Postfix away), so it is a warning by default.

## Example
    smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)

## Use instead
    smtpd_banner = $myhostname ESMTP

## References
- postconf(5): smtpd_banner, mail_name
- Lynis MAIL-8818; ComplianceAsCode `postfix_server_banner` (NIST AC-22, AU-13)
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.listening_common import banner_finding_parts, remote_banners

ID = "PF410"
NAME = "banner-discloses-software"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for item in remote_banners(ctx):
        facts = item.facts
        named = ([f"the software ({facts.software})"] if facts.software else []) + (
            [f"the operating system ({', '.join(facts.systems)})"] if facts.systems else [])
        if not named:
            continue
        path, line, column, greeting, how = banner_finding_parts(ctx, item)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{item.listener.key} greets with {greeting}: it names {' and '.join(named)} "
            f"(smtpd_banner {how})",
            service=item.listener.key, parameter="smtpd_banner",
            expected="$myhostname ESMTP", actual=facts.banner, from_default=item.value.origin.is_default,
        )
