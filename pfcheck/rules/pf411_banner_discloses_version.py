"""The SMTP greeting names a version (PF411, banner-discloses-version).

## What it does
Fails for every smtpd listener that clients on other hosts can reach whose greeting (`220 `
and the expanded `smtpd_banner`, computed as for PF410) contains the value of `mail_version`
(the Postfix release, e.g. `3.7.11`, or whatever main.cf sets `mail_version` to: smtpd uses a
main.cf setting) or any other version-like text (`3.7`, `v2.10-rc1`). The host name is not
searched.

## Why is this bad?
A release number tells an attacker which known vulnerabilities to try, without any probing.
DISA GEN004560 requires removing `$mail_version` from the banner.

## Example
    smtpd_banner = $myhostname ESMTP $mail_name $mail_version

## Use instead
    smtpd_banner = $myhostname ESMTP

## References
- postconf(5): smtpd_banner, mail_version
- DISA STIG GEN004560
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.listening import MAIL_VERSION_PLACEHOLDER
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.listening_common import banner_finding_parts, remote_banners

ID = "PF411"
NAME = "banner-discloses-version"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    for item in remote_banners(ctx):
        versions = item.facts.versions
        if not versions:
            continue
        shown = ", ".join("the Postfix release ($mail_version)" if v == MAIL_VERSION_PLACEHOLDER else repr(v)
                          for v in versions)
        path, line, column, greeting, how = banner_finding_parts(ctx, item)
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{item.listener.key} greets with {greeting}: it names a version, {shown} "
            f"(smtpd_banner {how})",
            service=item.listener.key, parameter="smtpd_banner",
            expected="no version", actual=item.facts.banner, from_default=item.value.origin.is_default,
        )
