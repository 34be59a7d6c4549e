"""GitLab Code Quality report: a JSON array of Code Climate issues.

GitLab reads `description`, `check_name`, `fingerprint`, `severity`, `location.path` and
`location.lines.begin` and ignores the rest (doc/ci/testing/code_quality.md, "Implement a
custom tool"). It shows the description but not the check name, so the description starts
with the code. The merge-request widget matches findings between branches by fingerprint, so
fingerprints leave the line out and are unique within the report (duplicates would collapse).
The parser rejects a byte order mark; `json.dumps` never writes one.
"""
from __future__ import annotations

import json
from typing import Any

from pfcheck.findings import Finding, Severity
from pfcheck.report import Report, RuleInfo

CATEGORY_SECURITY = "Security"
CATEGORY_BUG_RISK = "Bug Risk"


def render(report: Report) -> str:
    issues = [
        issue(finding, report.rule_for(finding), fingerprint)
        for finding, fingerprint in zip(report.sorted_findings(), report.fingerprints())
    ]
    return json.dumps(issues, indent=2, ensure_ascii=True) + "\n"


def severity(finding: Finding, rule: RuleInfo) -> str:
    """A finding that fails the run: `critical` for an error of a security rule, else `major`.
    One that does not (below `fail_on`, existing under `--new-only`): `minor`, or `info` for an
    info finding. So `major`/`critical` are exactly the findings behind exit code 1.

    `blocker` is left for nothing pfcheck reports: it would outrank a broken build.
    """
    if finding.failing:
        return "critical" if rule.is_security and finding.severity >= Severity.ERROR else "major"
    if finding.severity >= Severity.WARNING:
        return "minor"
    return "info"


def issue(finding: Finding, rule: RuleInfo, fingerprint: str) -> dict[str, Any]:
    description = f"{finding.code} {finding.name}: {finding.message}"
    if finding.service:
        description += f" [{finding.service}]"
    return {
        "type": "issue",
        "description": description,
        # The check is the rule; under a compliance profile, also the controls it answers.
        "check_name": f"{finding.code} ({', '.join(finding.controls)})" if finding.controls else finding.code,
        "categories": [CATEGORY_SECURITY if rule.is_security else CATEGORY_BUG_RISK],
        "fingerprint": fingerprint,
        "severity": severity(finding, rule),
        "location": {
            "path": _relative(finding.path),
            "lines": {"begin": max(1, finding.line)},
        },
    }


def _relative(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path
