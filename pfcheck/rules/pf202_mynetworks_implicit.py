"""mynetworks is derived from the host's interfaces (PF202, mynetworks-implicit).

## What it does
Fails when a listener reachable from other hosts has no explicit `mynetworks`, so Postfix
computes it at run time from the machine's interfaces with `mynetworks_style` `subnet` or
`class`, set explicitly or implied by a missing or low `compatibility_level` (below 2,
`mynetworks_style` defaults to `subnet`).

## Why is this bad?
What is trusted then depends on the machine, not on the repo: every client in the same subnet
(or, with `class`, the same class A/B/C network, possibly a whole provider's) may relay. A
config reviewed in git cannot show who that is, and moving the host changes it.

## Example
    compatibility_level = 0
    # no mynetworks

## Use instead
    compatibility_level = 3.6
    mynetworks = 127.0.0.0/8 [::1]/128

## References
- postconf(5): mynetworks, mynetworks_style; COMPATIBILITY_README
- BASIC_CONFIGURATION_README: "mynetworks_style = subnet" may be too friendly
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from pfcheck.findings import Finding, Severity
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.unknown_names import default_note

ID = "PF202"
NAME = "mynetworks-implicit"
SEVERITY = Severity.ERROR
OPTIONS: Mapping[str, tuple[type, Any]] = {}


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    reported: set[tuple[str, int]] = set()
    for listener in ctx.remote_smtpd_listeners():
        scope = listener.scope
        note = default_note(ctx, "mynetworks", listener)
        if not scope.get("mynetworks").origin.is_default:
            continue
        style = scope.get("mynetworks_style")
        if style.error is not None or style.expanded.strip().lower() not in ("subnet", "class"):
            continue
        if not style.origin.is_default:
            why = f"mynetworks_style = {style.expanded} ({style.origin.label()})"
            path, line, column = ctx.location_of(style, listener)
        else:
            level = scope.get("compatibility_level")
            why = (f"mynetworks_style defaults to {style.expanded} at compatibility_level "
                   f"{scope.compatibility_level()} ({level.origin.label()})")
            path, line, column = ctx.location_of(level, listener)
        if (str(path), line) in reported:
            continue
        reported.add((str(path), line))
        yield make_finding(
            ctx, ID, NAME, path, line, column,
            f"{listener.key}: mynetworks is unset{f' ({note})' if note else ''}, so Postfix trusts every client in the host's "
            f"{'IP class' if style.expanded.strip().lower() == 'class' else 'subnets'}: {why}; "
            "who may relay depends on the machine, not on this repo",
            service=listener.key, parameter="mynetworks", expected="an explicit mynetworks",
            actual=f"mynetworks_style = {style.expanded}", from_default=True,
        )
