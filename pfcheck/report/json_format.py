"""JSON format: `{"findings": [...], "summary": {...}}`, the stable machine-readable output.

Keys never disappear: optional fields are `null`. Each finding's `failing` is the run's one
decision (`Finding.failing`); `summary.failing` counts them, so exit code 1 <=> failing > 0.
`summary.fail_on` is the threshold when every governing policy applied the same one, else
`null`; `summary.fail_on_by_policy` always gives each policy's (`builtin` for the built-in
one). `fixable` says whether a rule has a fix for the finding (`pfcheck --fix`), and
`summary.fixable` counts them. `summary.new`/`existing` count statuses with `--base` and are `null` without it. Output is ASCII (non-ASCII is \\u-escaped),
so no consumer can decode it wrongly.
"""
from __future__ import annotations

import json
from typing import Any

from pfcheck.findings import Finding
from pfcheck.report import STATUS_EXISTING, STATUS_NEW, Report


def render(report: Report) -> str:
    findings = report.sorted_findings()
    statuses = report.by_status()
    document = {
        "findings": [
            finding_object(finding, fingerprint)
            for finding, fingerprint in zip(findings, report.fingerprints())
        ],
        "summary": {
            "files": report.files_checked,
            "findings": len(findings),
            "by_severity": report.by_severity(),
            "fail_on": None if report.fail_on is None else str(report.fail_on),
            "fail_on_by_policy": {label: str(threshold) for label, threshold in sorted(report.fail_on_by_policy.items())},
            "failing": report.failing(),
            "fixable": report.fixable(),
            "new": None if statuses is None else statuses[STATUS_NEW],
            "existing": None if statuses is None else statuses[STATUS_EXISTING],
            "new_only": report.new_only,
            # Named paths that belong to no Postfix config, and files the policy excludes.
            "unrelated_files": report.unrelated_files,
            "excluded_files": report.excluded_files,
            "not_checked": [
                {"path": item.path, "reason": item.reason} for item in report.sorted_not_checked()
            ],
        },
    }
    return dumps(document)


def finding_object(finding: Finding, fingerprint: str) -> dict[str, Any]:
    return {
        "code": finding.code,
        "name": finding.name,
        "severity": str(finding.severity),
        "path": finding.path,
        "line": finding.line,
        "column": finding.column,
        "service": finding.service,
        "message": finding.message,
        "witness": finding.witness,
        "parameter": finding.parameter,
        "expected": finding.expected,
        "actual": finding.actual,
        "from_default": finding.from_default,
        "status": finding.status,
        "failing": finding.failing,
        "fixable": finding.fixable,
        "controls": list(finding.controls),
        "fingerprint": fingerprint,
    }


def dumps(document: Any) -> str:
    """Indented, ASCII-only JSON; values JSON does not know (addresses, networks) as strings."""
    return json.dumps(document, indent=2, ensure_ascii=True, default=str) + "\n"
