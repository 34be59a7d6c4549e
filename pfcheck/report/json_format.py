"""JSON format: `{"findings": [...], "summary": {...}}`, the stable machine-readable output.

Keys never disappear: optional fields are `null`. Output is ASCII (non-ASCII is \\u-escaped),
so no consumer can decode it wrongly.
"""
from __future__ import annotations

import json
from typing import Any

from pfcheck.findings import Finding
from pfcheck.report import Report


def render(report: Report) -> str:
    findings = report.sorted_findings()
    document = {
        "findings": [
            finding_object(finding, fingerprint)
            for finding, fingerprint in zip(findings, report.fingerprints())
        ],
        "summary": {
            "files": report.files_checked,
            "findings": len(findings),
            "by_severity": report.by_severity(),
            "fail_on": str(report.fail_on),
            "failing": report.failing(),
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
        "fingerprint": fingerprint,
    }


def dumps(document: Any) -> str:
    """Indented, ASCII-only JSON; values JSON does not know (addresses, networks) as strings."""
    return json.dumps(document, indent=2, ensure_ascii=True, default=str) + "\n"
