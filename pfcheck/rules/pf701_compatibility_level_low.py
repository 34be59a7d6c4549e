"""compatibility_level keeps old, less safe defaults (PF701, compatibility-level-low).

## What it does
Fails when the effective `compatibility_level` is below the option `minimum_level` (default
`2`): unset (the built-in default is `0`), `0`, `1`, or a master.cf `-o
compatibility_level=` that lowers it for one service. The message lists the
backwards-compatible defaults Postfix then uses, read from the target version's defaults
tables: every parameter whose default depends on `compatibility_level`, that the scope leaves
unset and whose default at this level differs from the newest level's. On Postfix 3.7 at
level 0 those are `append_dot_mydomain = yes`, `smtputf8_enable = no`, an empty
`smtpd_relay_restrictions` (the relay safety net of Postfix 2.10 switched off, since 3.3),
`mynetworks_style = subnet` (only while `mynetworks` is unset too), `relay_domains =
$mydestination`, and the md5 `*_tls_fingerprint_digest`, `respectful_logging = no` and
`smtpd_relay_before_recipient_restrictions = no` of levels below 3.6. Postfix itself logs
"using backwards-compatible default setting ..." each time it uses one of them.

Postfix before 3.0 has no `compatibility_level`: the rule does not apply there.

## Options
- `minimum_level` (string, default `"2"`): the lowest level accepted; `"3.6"` also reports
  the md5 certificate fingerprints and the recipient-before-relay order of levels below 3.6.

## Why is this bad?
The compatibility level is a safety net for upgrades, not a setting to keep: below 1 the
relay restrictions are empty unless main.cf sets them (a config that also leaves
`smtpd_recipient_restrictions` empty makes every smtpd refuse to start, and one that sets it
carelessly is an open relay); below 2 Postfix trusts every client in the host's subnets and
relays for every domain in `mydestination`, and which clients those are depends on the
machine, not on the repo. A config that names no level also changes behaviour when Postfix
is upgraded.

## Example
    # main.cf
    myhostname = mail.example.com

## Use instead
    # main.cf
    compatibility_level = 3.6
    myhostname = mail.example.com

## References
- postconf(5): compatibility_level; COMPATIBILITY_README
- `check_legacy_defaults()` in `postfix/src/global/mail_params.c`
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import defaults
from pfcheck.postfix.config import Scope
from pfcheck.rules.base import RuleContext
from pfcheck.rules.setting_common import ScopedValue, scoped_values, setting_finding

ID = "PF701"
NAME = "compatibility-level-low"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {"minimum_level": (str, "2")}

#: A level above every real one: the defaults a config gets once it drops the safety net.
NEWEST_LEVEL = "9999"
#: Postfix uses mynetworks_style's old default only while mynetworks is unset as well
#: (check_legacy_defaults(): both mail_conf_lookup()s fail).
ONLY_WITHOUT = {"mynetworks_style": "mynetworks"}


def compat_dependent(version: str) -> list[str]:
    """Parameters whose built-in default depends on compatibility_level in that version."""
    return sorted(name for name, raw in defaults.builtin_defaults(version).items()
                  if "$compatibility_level" in raw and name != "compatibility_level")


def _below(level: str, threshold: str, version: str) -> Optional[bool]:
    try:
        return defaults.compat_level_below(level, threshold, version)
    except ValueError:
        return None  # a level the daemons refuse: PF000


def old_defaults(scope: Scope, version: str, level: str) -> list[str]:
    """`name = value` for each backwards-compatible default the scope uses at `level`."""
    kept = []
    for name in compat_dependent(version):
        if not scope.get(name).origin.is_default:
            continue
        other = ONLY_WITHOUT.get(name)
        if other is not None and not scope.get(other).origin.is_default:
            continue
        try:
            now = defaults.default_at_compat_level(name, version, level)
            newest = defaults.default_at_compat_level(name, version, NEWEST_LEVEL)
        except ValueError:
            continue
        if now is None or now == newest:
            continue
        kept.append(f"{name} = {now or '(empty)'} (instead of {newest or '(empty)'})")
    return kept


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    version = ctx.config.version
    if defaults.default_value("compatibility_level", version) is None:
        return  # before Postfix 3.0
    minimum = str(options.get("minimum_level", "2")).strip()
    for scoped in scoped_values(ctx, "compatibility_level"):
        finding = _judge(ctx, scoped, version, minimum)
        if finding is not None:
            yield finding


def _judge(ctx: RuleContext, scoped: ScopedValue, version: str, minimum: str) -> Optional[Finding]:
    value = scoped.value
    level = value.expanded.strip() or "0"
    if not _below(level, minimum, version):
        return None
    kept = old_defaults(scoped.scope, version, level)
    if kept:
        keeps = ("Postfix uses backwards-compatible defaults (and logs \"using backwards-compatible "
                 "default setting\" when it does): " + "; ".join(kept))
    else:
        keeps = ("no default that depends on it is in effect (each is set explicitly), but Postfix "
                 "still runs in backwards-compatible mode")
    where = "every service" if scoped.service is None else scoped.label
    text = f"{where}: compatibility_level {level} is below {minimum}; {keeps}"
    service = scoped.service.key if scoped.service is not None else None
    return setting_finding(ctx, ID, NAME, value, text, expected=f">= {minimum}", service=service)
