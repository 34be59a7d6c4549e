"""Reachable listener is open to SMTP smuggling (PF702, smtp-smuggling).

## What it does
For every smtpd listener that clients on other hosts can reach (as PF101 decides), fails when
its effective configuration lacks one of Postfix's two SMTP smuggling defences:

* `smtpd_forbid_bare_newline = no` (set, or the default before Postfix 3.9): smtpd takes a
  line ending in a bare `<LF>` as a line end, so `<LF>.<LF>`, `<CR><LF>.<LF>` and
  `<LF>.<CR><LF>` end the DATA phase;
* `smtpd_forbid_unauth_pipelining = no` (set, or the default before 3.9): smtpd answers
  commands a client sent before it was allowed to (before the greeting, after HELO, or after
  a command that ends an ESMTP pipelining group).

Values come from main.cf, the listener's master.cf `-o`, or the default of the target Postfix
version. When the target release predates a defence (a series before 3.5, or a policy
`postfix_version` with a patch level such as `3.7.5`), the finding says the release lacks it
and that Postfix must be upgraded, instead of suggesting a parameter that release does not
know. A `postfix_version` without a patch level (`3.7`) is the newest patch release pfcheck
has tables for (3.7.11, Debian 12's), which has both parameters.

Clients matched by `smtpd_forbid_bare_newline_exclusions` (default `$mynetworks`) are exempt
from the bare-newline defence in any case; that list is not judged here.

## Why is this bad?
SMTP smuggling (CVE-2023-51764): an attacker's message whose body contains a non-standard
end-of-data sequence followed by SMTP commands is relayed by one server as one message and
split by the receiving Postfix into two, the second with a forged sender that passes SPF
for the relaying domain. postconf(5) calls `smtpd_forbid_bare_newline = no` "not recommended
for an Internet-facing SMTP server, because it is vulnerable to SMTP smuggling". Refusing
unauthorized pipelining stops the attack's command injection and many spam bots.

## Example
    # main.cf (Postfix 3.7)
    compatibility_level = 3.6

## Use instead
    # main.cf
    compatibility_level = 3.6
    smtpd_forbid_bare_newline = normalize
    smtpd_forbid_bare_newline_exclusions = $mynetworks
    smtpd_forbid_unauth_pipelining = yes

## References
- postconf(5): smtpd_forbid_bare_newline, smtpd_forbid_bare_newline_exclusions,
  smtpd_forbid_unauth_pipelining
- https://www.postfix.org/smtp-smuggling.html; CVE-2023-51764
- added in 3.5.20, 3.6.10, 3.7.6, 3.8.1 (unauth pipelining) and 3.5.23, 3.6.13, 3.7.9, 3.8.4
  (bare newline; `normalize`/`reject` from 3.5.24, 3.6.14, 3.7.10, 3.8.5): `mail_params.h`
  at each tag of the Postfix source
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import defaults
from pfcheck.postfix.config import Listener
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.relay_common import dies_at_startup
from pfcheck.rules.setting_common import listener_values, setting_finding, word

ID = "PF702"
NAME = "smtp-smuggling"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}

BARE_NEWLINE = "smtpd_forbid_bare_newline"
UNAUTH_PIPELINING = "smtpd_forbid_unauth_pipelining"

#: The first patch release of each series with the parameter (the release notes and
#: `postfix/src/global/mail_params.h` at every tag of the Postfix source); a series not listed
#: has it in every release that has it at all (3.9 and later), or never (before 3.5).
SINCE_PATCH: Mapping[str, Mapping[tuple[int, int], int]] = {
    UNAUTH_PIPELINING: {(3, 5): 20, (3, 6): 10, (3, 7): 6, (3, 8): 1},
    BARE_NEWLINE: {(3, 5): 23, (3, 6): 13, (3, 7): 9, (3, 8): 4},
}
#: `smtpd_forbid_bare_newline = normalize` (and `reject`) exist from these patch releases;
#: before them only `yes` (which normalizes too) and `no`.
NORMALIZE_SINCE_PATCH: Mapping[tuple[int, int], int] = {(3, 5): 24, (3, 6): 14, (3, 7): 10, (3, 8): 5}

_RELEASE = re.compile(r"\s*(\d+)\.(\d+)(?:\.(\d+))?\s*\Z")

#: What each defence is, for the message.
WHAT = {
    BARE_NEWLINE: ("ends DATA at a bare-newline end of data (<LF>.<LF>, <CR><LF>.<LF>, "
                   "<LF>.<CR><LF>), so a message relayed to it can carry a second, smuggled "
                   "message with a forged sender (SMTP smuggling, CVE-2023-51764)"),
    UNAUTH_PIPELINING: ("answers commands a client sent before it was allowed to "
                        "(unauthorized pipelining), which SMTP smuggling's injected commands "
                        "and many spam bots rely on"),
}

#: The same, short, for a release that lacks both.
SHORT = {
    BARE_NEWLINE: "ends DATA at a bare-newline end of data such as <LF>.<LF>",
    UNAUTH_PIPELINING: "answers unauthorized pipelining",
}


def release(version: str) -> tuple[tuple[int, int], Optional[int]]:
    """The target version's series and patch level (None when the policy gives none)."""
    match = _RELEASE.match(version)
    if match is None:
        return defaults.parse_version(version), None
    patch = match.group(3)
    return (int(match.group(1)), int(match.group(2))), (int(patch) if patch is not None else None)


def has_parameter(name: str, version: str) -> bool:
    """Whether the target release has `name`: its series' tables, then the patch level."""
    if defaults.default_value(name, version) is None:
        return False
    series, patch = release(version)
    since = SINCE_PATCH[name].get(series)
    return since is None or patch is None or patch >= since


def _first_releases(name: str) -> str:
    listed = ", ".join(f"{major}.{minor}.{patch}" for (major, minor), patch in SINCE_PATCH[name].items())
    return f"{listed}, 3.9"


def _fix(name: str, version: str) -> str:
    if name == UNAUTH_PIPELINING:
        return "yes"
    series, patch = release(version)
    since = NORMALIZE_SINCE_PATCH.get(series)
    return "yes" if since is not None and patch is not None and patch < since else "normalize"


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    version = ctx.config.version
    missing = [name for name in (BARE_NEWLINE, UNAUTH_PIPELINING) if not has_parameter(name, version)]
    present = [name for name in (BARE_NEWLINE, UNAUTH_PIPELINING) if name not in missing]
    for listener in ctx.remote_smtpd_listeners():
        if missing:
            finding = _lacking(ctx, listener, missing, version)
            if finding is not None:
                yield finding
    for name in present:
        for listener, value in listener_values(ctx, name):
            if word(value) != "no":
                continue
            fix = _fix(name, version)
            yield setting_finding(
                ctx, ID, NAME, value,
                f"{listener.key} {WHAT[name]}; it is reachable from other hosts "
                f"({listener.binding}); set {name} = {fix}",
                listener, expected=fix,
            )


def _lacking(ctx: RuleContext, listener: Listener, missing: list[str], version: str) -> Optional[Finding]:
    if dies_at_startup(listener):
        return None
    what = WHAT[missing[0]] if len(missing) == 1 else (
        " and ".join(SHORT[name] for name in missing) + ", which SMTP smuggling (CVE-2023-51764) needs")
    added = "; ".join(f"{name} was added in {_first_releases(name)}" for name in missing)
    if ctx.config.master.assumed_default:
        path, line, column = ctx.config.main.path, 1, 1
    else:
        path, line, column = listener.service.path, listener.service.line, 1
    return make_finding(
        ctx, ID, NAME, path, line, column,
        f"{listener.key}: Postfix {version.strip()} lacks the SMTP smuggling defence: its smtpd "
        f"{what}; it is reachable from other hosts ({listener.binding}); {added}: upgrade Postfix",
        service=listener.key, parameter=missing[0], expected=f"Postfix with {', '.join(missing)}",
        actual=f"Postfix {version.strip()}", from_default=True,
    )
