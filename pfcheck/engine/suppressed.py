"""What the suppression step accepted, and why: one `Suppressed` record per hidden finding.

Its own module because both the suppression step (inline directives, waivers) and the baseline
make these records, and neither imports the other.
"""
from __future__ import annotations

from dataclasses import dataclass

from pfcheck.findings import Finding

#: `Suppressed.kind`: which mechanism accepted the finding.
INLINE = "inline"
WAIVER = "waiver"
BASELINE = "baseline"


@dataclass(frozen=True)
class Suppressed:
    """A finding that was accepted: `kind` is INLINE, WAIVER or BASELINE; `reason` is the
    directive's or waiver's reason ("" for the baseline); `source` says where the acceptance is
    written (`hosts/mx1/main.cf:12`, `.pfcheck.yaml:20`, `.pfcheck-baseline.json`). A lint run
    returns them in `LintResult.suppressed` for its callers; no output format shows them."""

    finding: Finding
    kind: str
    reason: str
    source: str
