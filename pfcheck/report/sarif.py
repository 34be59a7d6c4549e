"""SARIF 2.1.0 for GitHub code scanning (and any other SARIF consumer).

GitHub requires (sarif-support.md): `$schema`, `version`, one `tool.driver` per run with
`name` and `rules`, per rule `id`, `shortDescription.text`, `fullDescription.text` and
`help.text` (non-empty, descriptions <= 1024 characters), per result `message.text` and a
`physicalLocation` with a repository-relative URI and `region.startLine >= 1`. Alerts are
tracked across runs by `partialFingerprints`, so ours leave the line out: editing a file above
a finding must not close the alert and open a new one.
"""
from __future__ import annotations

import json
import re
from typing import Any, Optional
from urllib.parse import quote

from pfcheck.findings import Finding, Severity
from pfcheck.report import NotChecked, Report, RuleInfo

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
FINGERPRINT_KEY = "pfcheck/v1"
SOURCE_ROOT = "%SRCROOT%"
DESCRIPTION_LIMIT = 1024

LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
#: Every result is `kind: "fail"` (a problem was found); its `level` carries the run's decision.
KIND = "fail"
# SARIF `baselineState` for pfcheck's `--base` status.
BASELINE_STATE = {"new": "new", "existing": "unchanged"}

# Semantic Versioning 2.0.0, the grammar `semanticVersion` promises.
_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)


def render(report: Report) -> str:
    rules = report.all_rules()
    rule_index = {rule.code: index for index, rule in enumerate(rules)}
    findings = report.sorted_findings()
    driver: dict[str, Any] = {"name": report.tool_name}
    if report.information_uri:
        driver["informationUri"] = report.information_uri
    driver["version"] = report.tool_version
    if _SEMVER.fullmatch(report.tool_version):
        driver["semanticVersion"] = report.tool_version
    controls = _controls_by_rule(findings)
    driver["rules"] = [rule_descriptor(rule, controls.get(rule.code, ())) for rule in rules]

    run: dict[str, Any] = {"tool": {"driver": driver}}
    taxonomies = _taxonomies(controls)
    if taxonomies:
        run["taxonomies"] = taxonomies
    if report.automation_id:
        run["automationDetails"] = {"id": report.automation_id}
    run["columnKind"] = "unicodeCodePoints"
    run["invocations"] = [
        {
            "executionSuccessful": True,
            "toolExecutionNotifications": [
                not_checked_notification(item) for item in report.sorted_not_checked()
            ],
        }
    ]
    run["results"] = [
        result(finding, rule_index[finding.code], fingerprint)
        for finding, fingerprint in zip(findings, report.fingerprints())
    ]
    log = {"$schema": SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=True, default=str) + "\n"


def _controls_by_rule(findings: list[Finding]) -> dict[str, tuple[str, ...]]:
    """Per rule, the compliance control ids its findings carry (in first-seen order)."""
    found: dict[str, dict[str, None]] = {}
    for finding in findings:
        if finding.controls:
            found.setdefault(finding.code, {}).update(dict.fromkeys(finding.controls))
    return {code: tuple(ids) for code, ids in found.items()}


def _taxonomies(controls: dict[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """One SARIF taxonomy per compliance profile whose controls appear, each control a taxon
    (the targets of the rules' `relationships`)."""
    from pfcheck.compliance import profile_of

    taxa: dict[str, dict[str, None]] = {}
    for ids in controls.values():
        for control_id in ids:
            taxa.setdefault(profile_of(control_id), {})[control_id] = None
    return [
        {"name": profile, "taxa": [{"id": control_id} for control_id in ids]}
        for profile, ids in taxa.items()
    ]


def rule_descriptor(rule: RuleInfo, controls: tuple[str, ...] = ()) -> dict[str, Any]:
    help_markdown = rule.help_markdown or rule.summary
    descriptor: dict[str, Any] = {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": _limit(rule.summary)},
        "fullDescription": {"text": _limit(full_description(rule))},
        "help": {"text": help_markdown, "markdown": help_markdown},
    }
    if rule.help_uri:
        descriptor["helpUri"] = rule.help_uri
    descriptor["defaultConfiguration"] = {"level": LEVEL[rule.default_severity]}
    properties: dict[str, Any] = {"tags": list(rule.tags)}
    if rule.security_severity is not None and rule.is_security:
        properties["security-severity"] = rule.security_severity
    descriptor["properties"] = properties
    if controls:
        from pfcheck.compliance import profile_of

        descriptor["relationships"] = [
            {"target": {"id": control_id, "toolComponent": {"name": profile_of(control_id)}}, "kinds": ["relevant"]}
            for control_id in controls
        ]
    return descriptor


def full_description(rule: RuleInfo) -> str:
    """The "What it does" section of the rule docs, else their first paragraph, else the summary."""
    sections = re.split(r"^#+[ \t]*", rule.help_markdown, flags=re.MULTILINE)
    for section in sections:
        heading, _, body = section.partition("\n")
        if heading.strip().lower() == "what it does" and body.strip():
            return _paragraph(body)
    first = rule.help_markdown.strip().split("\n\n", 1)[0]
    if first and not first.startswith("#"):
        return _paragraph(first)
    return rule.summary


def result(finding: Finding, rule_index: int, fingerprint: str) -> dict[str, Any]:
    message = finding.message
    if finding.service:
        message += f" [{finding.service}]"
    entry: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "kind": KIND,
        "level": result_level(finding),
        "message": {"text": message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": artifact_location(finding.path),
                    "region": {
                        # Postfix's own defaults sit on no line; GitHub rejects startLine 0.
                        "startLine": max(1, finding.line),
                        "startColumn": max(1, finding.column),
                    },
                }
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
    }
    state = BASELINE_STATE.get(finding.status or "")
    if state:
        entry["baselineState"] = state
    properties = _result_properties(finding)
    if properties:
        entry["properties"] = properties
    return entry


def result_level(finding: Finding) -> str:
    """`error` for a finding that fails the run, whatever its severity; else `warning`, or
    `note` for an info finding.

    GitHub's code scanning check fails on `error` results by default, so it agrees with
    pfcheck's exit code; non-failing findings (below `fail_on`, existing under `--new-only`)
    are still shown, one level down. The severity itself is in `properties.severity`.
    """
    if finding.failing:
        return "error"
    return "warning" if finding.severity >= Severity.WARNING else "note"


def not_checked_notification(item: NotChecked) -> dict[str, Any]:
    return {
        "level": "note",
        "message": {"text": f"{item.path}: not checked: {item.reason}"},
        "locations": [{"physicalLocation": {"artifactLocation": artifact_location(item.path)}}],
    }


def artifact_location(path: str) -> dict[str, Any]:
    """A relative URI against %SRCROOT% (what GitHub maps to the repository root).

    An absolute path cannot be made relative without knowing the root, so it becomes a file:
    URI, which GitHub also accepts.
    """
    if path.startswith("/"):
        return {"uri": "file://" + _quote(path)}
    while path.startswith("./"):
        path = path[2:]
    return {"uri": _quote(path), "uriBaseId": SOURCE_ROOT}


def _quote(path: str) -> str:
    return quote(path, safe="/", errors="surrogateescape")


def _result_properties(finding: Finding) -> dict[str, Any]:
    candidates: dict[str, Optional[Any]] = {
        "severity": str(finding.severity),
        "failing": finding.failing,
        "service": finding.service,
        "parameter": finding.parameter,
        "witness": finding.witness,
        "expected": finding.expected,
        "actual": finding.actual,
        "fromDefault": True if finding.from_default else None,
        "tags": list(finding.controls) if finding.controls else None,
    }
    return {key: value for key, value in candidates.items() if value is not None}


def _paragraph(text: str) -> str:
    return " ".join(text.split())


def _limit(text: str) -> str:
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "\u2026"
