"""Output renderers: pure functions from a `Report` to the text of one output format.

Every renderer has the signature `render(report: Report) -> str` and returns the complete
document (ending with a newline unless it is empty). Renderers never read files, the clock or
the environment, so the same report always renders to the same bytes; the CLI decides where
the text goes and which paths it shows (relative, POSIX).

`OUTPUT_FORMATS` is the registry of formats (name -> renderer module); `FORMATS` (the names)
and `RENDERERS` (name -> renderer) are read from it. A renderer's module is imported only when
it is first called, so a plain text run never imports json or xml.

`HOST_FACT_FORMATS` are the formats that show `Report.hosts`: only a run that renders one of
them pays for computing those facts (`LintOptions.host_facts`).
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from pfcheck.findings import Finding, Severity
from pfcheck.report.hosts import HostFacts

__all__ = [
    "FORMATS",
    "NotChecked",
    "OUTPUT_FORMATS",
    "OutputFormat",
    "RENDERERS",
    "Report",
    "RuleInfo",
    "printable",
    "render",
    "unique_fingerprints",
]

# Rule-code areas (README, "Rules"): 1xx information disclosure, 2xx client trust, 3xx relay are
# security rules; 0xx (parse) and 9xx (suppression hygiene) are not.
_SECURITY_AREAS = frozenset("12345678")

# GitHub ranks alerts of security rules by `security-severity` (>= 9.0 critical, 7.0-8.9 high,
# 4.0-6.9 medium). Used only for error-level security rules that do not declare their own.
_DEFAULT_SECURITY_SEVERITY_BY_AREA = {
    "1": "5.3",  # information disclosure (VRFY, banners): medium
    "2": "8.1",  # unauthenticated clients trusted (mynetworks): high
    "3": "9.3",  # open relay: critical
}
_FALLBACK_SECURITY_SEVERITY = "7.5"


def is_security_code(code: str) -> bool:
    """True for PF1xx-PF8xx: the areas whose findings are security problems."""
    return bool(re.fullmatch(r"PF\d{3}", code)) and code[2] in _SECURITY_AREAS


@dataclass(frozen=True)
class RuleInfo:
    """What the renderers need to know about a rule (SARIF `tool.driver.rules`, GitLab, text).

    `summary` is one sentence (SARIF shortDescription); `help_markdown` is the rule's
    documentation (its docstring after the first line). `security_severity` is the SARIF
    `security-severity` ("0.1".."10.0") or None to send none.
    """

    code: str
    name: str
    summary: str
    help_markdown: str
    default_severity: Severity
    help_uri: Optional[str] = None
    tags: tuple[str, ...] = ("postfix",)
    security_severity: Optional[str] = None

    @property
    def is_security(self) -> bool:
        return "security" in self.tags

    @classmethod
    def from_module(cls, module: Any, help_uri: Optional[str] = None) -> "RuleInfo":
        """Build from a rule module (`ID`, `NAME`, `SEVERITY`, docstring).

        Optional module attributes: `TAGS` (sequence of str), `SECURITY_SEVERITY` (str or
        number), `HELP_URI`. Without them, PF1xx-PF8xx rules are tagged `security` and the
        error-level ones get a security-severity by area.
        """
        code: str = module.ID
        severity: Severity = module.SEVERITY
        summary, help_markdown = split_docstring(inspect.getdoc(module) or "", code)
        security = is_security_code(code)
        tags = tuple(getattr(module, "TAGS", ("security", "postfix") if security else ("postfix",)))
        declared = getattr(module, "SECURITY_SEVERITY", None)
        if declared is not None:
            security_severity: Optional[str] = f"{float(declared):.1f}"
        elif "security" in tags and severity >= Severity.ERROR:
            security_severity = _DEFAULT_SECURITY_SEVERITY_BY_AREA.get(
                code[2] if len(code) > 2 else "", _FALLBACK_SECURITY_SEVERITY
            )
        else:
            security_severity = None
        return cls(
            code=code,
            name=module.NAME,
            summary=summary or module.NAME,
            help_markdown=help_markdown,
            default_severity=severity,
            help_uri=getattr(module, "HELP_URI", None) or help_uri,
            tags=tags,
            security_severity=security_severity,
        )

    @classmethod
    def placeholder(cls, finding: Finding) -> "RuleInfo":
        """A minimal description for a finding whose rule the report does not describe."""
        return cls(
            code=finding.code,
            name=finding.name,
            summary=finding.name,
            help_markdown="",
            default_severity=finding.severity,
            tags=("security", "postfix") if is_security_code(finding.code) else ("postfix",),
        )


def split_docstring(doc: str, code: str = "") -> tuple[str, str]:
    """Split a rule docstring into (summary sentence, remaining markdown).

    A trailing "(PF101, vrfy-enabled)" on the first line repeats the rule's identity, which
    every format already shows, so it is dropped from the summary.
    """
    text = inspect.cleandoc(doc)
    first, _, rest = text.partition("\n")
    summary = first.strip()
    if code:
        summary = _without_identity(summary, code)
    return summary, rest.strip()


#: "(CODE, name)" closing a summary (before an optional full stop); one pattern for every code,
#: compiled once: a pattern per code cost every run ~60 compilations (~5 ms).
_TRAILING_GROUP = re.compile(r"\(\s*(\w+)\b[^)]*\)(?=\.?$)")


def _without_identity(summary: str, code: str) -> str:
    """`summary` without the white space and the "(CODE ...)" group that close it."""
    start = summary.find("(")
    while start != -1:
        match = _TRAILING_GROUP.match(summary, start)
        if match is not None and match.group(1) == code:
            return summary[:start].rstrip() + summary[match.end():]
        start = summary.find("(", start + 1)
    return summary


@dataclass(frozen=True)
class NotChecked:
    """A file pfcheck saw but did not judge, with the reason ("template (Jinja2)", "binary")."""

    path: str
    reason: str


@dataclass(frozen=True)
class Report:
    """Everything a renderer may show.

    `files_checked` counts the files that were judged; `checked_paths` optionally names them
    (JUnit then lists clean files as passing test cases). Whether a finding fails the run is
    `Finding.failing`, decided once by the lint engine (`pfcheck.engine.decision`); the
    report never re-decides it. `fail_on` is the threshold every governing policy applied, None
    when they differ; `fail_on_by_policy` is each policy's (by file, `builtin` for the built-in
    policy). `base` is the `--base` revision (findings then carry a `status`) and `new_only`
    whether `--new-only` kept existing findings from failing. `color` adds ANSI colour to the
    text format; `details` adds the expected/actual/witness lines under each text finding.
    `automation_id` is the SARIF `runAutomationDetails.id` (a category ending in "/" when several
    pfcheck runs are uploaded); `information_uri` the SARIF `tool.driver.informationUri` (the
    project's home page, sent only when known).
    """

    findings: Sequence[Finding]
    rules: Mapping[str, RuleInfo]
    files_checked: int
    tool_version: str
    not_checked: Sequence[NotChecked] = ()
    fail_on: Optional[Severity] = Severity.ERROR
    fail_on_by_policy: Mapping[str, Severity] = field(default_factory=dict)
    base: Optional[str] = None
    new_only: bool = False
    checked_paths: Sequence[str] = ()
    color: bool = False
    details: bool = False
    automation_id: Optional[str] = None
    tool_name: str = "pfcheck"
    information_uri: Optional[str] = None
    #: Named files that belong to no Postfix config, and files the policy excludes.
    unrelated_files: int = 0
    excluded_files: int = 0
    #: Text format: a count per rule instead of the findings (`--statistics`), and no summary
    #: line (`--quiet`).
    statistics: bool = False
    quiet: bool = False
    #: Per config directory: its smtpd listeners' relay verdict, VRFY, trust and sockets, and
    #: its findings (pfcheck/report/hosts.py). Filled only when a format that shows them (html)
    #: is requested: the engine computes them then and only then.
    hosts: Sequence[HostFacts] = ()

    def sorted_findings(self) -> list[Finding]:
        """Findings in output order: path, line, column, code, then listener and message."""
        return sorted(self.findings, key=lambda f: (*f.sort_key(), f.service or "", f.message))

    def sorted_not_checked(self) -> list[NotChecked]:
        return sorted(self.not_checked, key=lambda item: (item.path, item.reason))

    def rule_for(self, finding: Finding) -> RuleInfo:
        return self.rules.get(finding.code) or RuleInfo.placeholder(finding)

    def all_rules(self) -> list[RuleInfo]:
        """The described rules plus placeholders for undescribed codes, sorted by code."""
        by_code = dict(self.rules)
        for finding in self.findings:
            if finding.code not in by_code:
                by_code[finding.code] = RuleInfo.placeholder(finding)
        return [by_code[code] for code in sorted(by_code)]

    def by_severity(self) -> dict[str, int]:
        """Counts per severity, most severe first, every severity present (0 when none)."""
        counts = {str(severity): 0 for severity in sorted(Severity, reverse=True)}
        for finding in self.findings:
            counts[str(finding.severity)] += 1
        return counts

    def failing(self) -> int:
        """How many findings fail the run (non-zero means exit code 1)."""
        return sum(1 for finding in self.findings if finding.failing)

    def fixable(self) -> int:
        """How many findings a rule has a fix for (`pfcheck --fix`, which proves it first)."""
        return sum(1 for finding in self.findings if finding.fixable)

    def by_status(self) -> Optional[dict[str, int]]:
        """`{"new": n, "existing": n}` with `--base`, None without (nothing was compared).
        Findings no comparison applies to (PF9xx hygiene) have no status and are in neither."""
        if self.base is None:
            return None
        counts = {STATUS_NEW: 0, STATUS_EXISTING: 0}
        for finding in self.findings:
            if finding.status in counts:
                counts[finding.status] += 1
        return counts

    def by_rule(self) -> list[tuple[str, str, int, int]]:
        """(code, name, findings, failing) per rule with findings, most findings first."""
        counts: dict[str, list[Any]] = {}
        for finding in self.findings:
            entry = counts.setdefault(finding.code, [finding.name, 0, 0])
            entry[1] += 1
            entry[2] += finding.failing
        return sorted(((code, name, n, failing) for code, (name, n, failing) in counts.items()),
                      key=lambda row: (-row[2], row[0]))

    def fingerprints(self) -> list[str]:
        """Unique, line-independent fingerprints, parallel to `sorted_findings()`."""
        return unique_fingerprints(self.sorted_findings())


def unique_fingerprints(findings: Sequence[Finding]) -> list[str]:
    """`Finding.fingerprint()` made unique within the sequence.

    Two findings with the same identity (same path, rule, parameter, listener and value) would
    collapse into one entry in GitLab's widget and GitHub's alert list, so the second and later
    ones are salted with their rank among equals. Ranks follow the given order, which is the
    sorted output order, so the result is deterministic.
    """
    seen: dict[str, int] = {}
    unique: list[str] = []
    for finding in findings:
        base = finding.fingerprint()
        rank = seen.get(base, 0)
        seen[base] = rank + 1
        if rank == 0:
            unique.append(base)
        else:
            unique.append(hashlib.sha256(f"{base}\x1f{rank}".encode("ascii")).hexdigest())
    return unique


# printable() lives with the bound on quoted file content (one escaping helper).
from pfcheck.excerpt import printable  # noqa: E402,F401 - re-exported for the renderers


STATUS_NEW = "new"
STATUS_EXISTING = "existing"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def summary_line(report: Report) -> str:
    """`3 files, 5 findings (2 error, 3 warning; 1 new, 4 existing), 2 failing, 1 fixable with
    --fix, 1 not checked`.

    Zero severity counts are left out; the new/existing counts appear with `--base` only, the
    failing count whenever there are findings (it is what the exit code says).
    """
    findings = plural(len(report.findings), "finding")
    counts = [f"{n} {severity}" for severity, n in report.by_severity().items() if n]
    statuses = report.by_status()
    if counts:
        detail = ", ".join(counts)
        if statuses is not None:
            detail += "; " + ", ".join(f"{n} {status}" for status, n in statuses.items())
        findings += f" ({detail})"
    line = f"{plural(report.files_checked, 'file')}, {findings}"
    if report.findings:
        line += f", {report.failing()} failing"
        if report.new_only:
            line += " (--new-only: existing findings do not fail)"
        fixable = report.fixable()
        if fixable:
            line += f", {fixable} fixable with --fix"
    if report.not_checked:
        line += f", {len(report.not_checked)} not checked"
    if report.excluded_files:
        line += f", {plural(report.excluded_files, 'file')} excluded by the policy"
    if report.unrelated_files:
        verb = "is" if report.unrelated_files == 1 else "are"
        line += f"; {plural(report.unrelated_files, 'file')} {verb} not part of a Postfix config"
    return line


@dataclass(frozen=True)
class OutputFormat:
    """One output format: its `--format` name, and the module of this package whose
    `render(report) -> str` writes it. The module is imported when the format is first
    rendered, so unused formats cost nothing (a plain text run never imports json or xml)."""

    name: str
    module: str

    def render(self, report: Report) -> str:
        renderer: Callable[[Report], str] = importlib.import_module(f"{__name__}.{self.module}").render
        return renderer(report)


#: The output formats, in the order `--format` lists them: a new format is a module with
#: `render()` and one line here, which the CLI and everything below read.
OUTPUT_FORMATS: Mapping[str, OutputFormat] = {
    output.name: output
    for output in (
        OutputFormat("text", "text"),
        OutputFormat("json", "json_format"),
        OutputFormat("sarif", "sarif"),
        OutputFormat("gitlab", "gitlab"),
        OutputFormat("junit", "junit"),
        OutputFormat("github", "github"),
        OutputFormat("html", "html"),
    )
}

FORMATS: tuple[str, ...] = tuple(OUTPUT_FORMATS)

#: The formats that read `Report.hosts` (the engine computes the facts only for them).
HOST_FACT_FORMATS: frozenset[str] = frozenset({"html"})

RENDERERS: Mapping[str, Callable[[Report], str]] = {name: output.render for name, output in OUTPUT_FORMATS.items()}


def render(report: Report, format_name: str) -> str:
    """Render `report` in `format_name` (one of `FORMATS`); KeyError for an unknown name."""
    return RENDERERS[format_name](report)
