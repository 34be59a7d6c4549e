"""GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` line per finding.

`::error` is used exactly for the findings that fail the run (`Finding.failing`).

GitHub turns each line into an annotation on the file and line. Data after `::` must escape
`%`, CR and LF; property values must also escape `:` and `,` (actions/toolkit `command.ts`).
GitHub keeps only 10 annotations of each level per step, so `step_summary()` renders every
finding as a Markdown table for `$GITHUB_STEP_SUMMARY`; writing it there is the caller's job.
"""
from __future__ import annotations

from pfcheck.findings import Finding, Severity
from pfcheck.report import NotChecked, Report, plural, printable, summary_line
from pfcheck.report.text import status_suffix

def command_for(finding: Finding) -> str:
    """`error` exactly for the findings that fail the run; the others are `warning` (error or
    warning severity) or `notice` (info): shown on the diff, not blocking."""
    if finding.failing:
        return "error"
    return "warning" if finding.severity >= Severity.WARNING else "notice"


def render(report: Report) -> str:
    lines = [not_checked_command(item) for item in report.sorted_not_checked()]
    lines.extend(finding_command(finding) for finding in report.sorted_findings())
    return "".join(line + "\n" for line in lines)


def finding_command(finding: Finding) -> str:
    # The log shows only the data part, so it repeats the location and the listener.
    message = f"{finding.path}:{finding.line}:{finding.column}: {finding.message}"
    if finding.service:
        message += f" [{finding.service}]"
    message += status_suffix(finding)
    properties = {
        "file": finding.path,
        "line": str(max(1, finding.line)),
        "col": str(max(1, finding.column)),
        "title": f"{finding.code} {finding.name}",
    }
    return _command(command_for(finding), properties, message)


def not_checked_command(item: NotChecked) -> str:
    properties = {"file": item.path, "title": "pfcheck: not checked"}
    return _command("notice", properties, f"{item.path}: not checked: {item.reason}")


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(name: str, properties: dict[str, str], message: str) -> str:
    rendered = ",".join(f"{key}={escape_property(printable(value))}" for key, value in properties.items())
    return f"::{name} {rendered}::{escape_data(printable(message))}"


def step_summary(report: Report) -> str:
    """Markdown for `$GITHUB_STEP_SUMMARY`: the summary line and a table of every finding."""
    lines = ["### pfcheck", "", summary_line(report), ""]
    findings = report.sorted_findings()
    if findings:
        lines += ["| Severity | Fails | Location | Rule | Message |", "| --- | --- | --- | --- | --- |"]
        for finding in findings:
            message = finding.message + (f" [{finding.service}]" if finding.service else "") + status_suffix(finding)
            lines.append(
                f"| {finding.severity} | {'yes' if finding.failing else 'no'} "
                f"| {_cell(f'{finding.path}:{finding.line}:{finding.column}')} "
                f"| {finding.code} {finding.name} | {_cell(message)} |"
            )
        lines.append("")
    not_checked = report.sorted_not_checked()
    if not_checked:
        lines += [f"{plural(len(not_checked), 'file')} not checked:", ""]
        lines += [f"- {_cell(item.path)}: {_cell(item.reason)}" for item in not_checked]
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    # A pipe would end the table cell; backslash-escaping it is GitHub-flavoured Markdown.
    return printable(text).replace("|", "\\|")
