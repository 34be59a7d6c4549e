"""Baseline entry that matches no finding any more (PF903, stale-baseline-entry).

## What it does
With `--baseline FILE`, reports every entry of FILE that matched no finding in this run, for a
file that was checked in this run or that no longer exists. It is located at the entry's line
in the baseline file. Entries for files the run did not check (pre-commit passes only the
changed files) are left alone. Matching is a multiset: when a file has two identical findings
in the baseline and only one remains, one entry is stale.

The severity is `info` and is not taken from a directory's policy (a baseline spans
directories), so stale entries never fail a run unless it uses `--fail-on info`.

This rule is applied by the lint engine (pfcheck/engine/baseline.py) at the end of the run;
`check()` yields nothing.

## Why is this bad?
A stale entry means a baselined finding was fixed, which is good news, but the entry would
silently accept the same problem if it came back with the same value. Keeping the baseline
small keeps it honest.

## Example
    {"path": "hosts/mx1/main.cf", "rule": "PF101", "parameter": "disable_vrfy_command", "service": "smtp/inet", "value_sha256": "..."}
    # ...while hosts/mx1/main.cf now says disable_vrfy_command = yes

## Use instead
    pfcheck --write-baseline .pfcheck-baseline.json hosts/

## References
- pfcheck README, "Suppressions, waivers, baseline"
- bandit `-b`, checkov `--create-baseline`
"""
from __future__ import annotations

from typing import Any, Mapping

from pfcheck.findings import Severity
from pfcheck.rules.base import no_findings

ID = "PF903"
NAME = "stale-baseline-entry"
SEVERITY = Severity.INFO
OPTIONS: Mapping[str, tuple[type, Any]] = {}

#: Reported at the end of a run with --baseline (pfcheck/engine/baseline.py).
check = no_findings
