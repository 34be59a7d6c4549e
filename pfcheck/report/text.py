"""Text format: one `path:line:col: CODE name: message [service]` line per finding.

With `--base`, each line ends in ` (new)` or ` (existing)`; the summary line counts both and
says how many findings fail the run (`Finding.failing`). A finding a rule can fix has `[*]`
before its message, and the summary says `N fixable with --fix`.

The shape gcc, ruff and yamllint print, which editors' quickfix lists and GitHub problem
matchers read. Files that were not checked come first (`path: not checked: reason`), the
summary line comes last.
"""
from __future__ import annotations

from typing import Callable, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.report import Report, printable, summary_line

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
Painter = Callable[[str, str], str]

_SEVERITY_COLOUR = {
    Severity.ERROR: "\x1b[1;31m",
    Severity.WARNING: "\x1b[1;33m",
    Severity.INFO: "\x1b[1;36m",
}


def render(report: Report) -> str:
    paint = _painter(report.color)
    lines: list[str] = []
    for item in report.sorted_not_checked():
        lines.append(f"{paint(printable(item.path), _BOLD)}: not checked: {printable(item.reason)}")
    if report.statistics:
        lines.extend(statistics_lines(report, paint))
    else:
        for finding in report.sorted_findings():
            lines.append(finding_line(finding, paint))
            if report.details:
                lines.extend(detail_lines(finding, indent="    "))
    if not report.quiet:
        lines.append(paint(summary_line(report), _BOLD))
    return "\n".join(lines) + "\n" if lines else ""


def statistics_lines(report: Report, paint: Painter) -> list[str]:
    """`--statistics`: `COUNT  CODE  name  (N failing)` per rule with findings, as ruff prints."""
    rows = report.by_rule()
    width = max((len(str(n)) for _, _, n, _ in rows), default=1)
    return [f"{str(n).rjust(width)}  {paint(code, _BOLD)}  {name}" + (f"  ({failing} failing)" if failing else "")
            for code, name, n, failing in rows]


def finding_line(finding: Finding, paint: Optional[Painter] = None) -> str:
    """`path:line:col: CODE name: message [service]`, escaped onto one line."""
    paint = paint or _painter(False)
    location = f"{paint(printable(finding.path), _BOLD)}:{finding.line}:{finding.column}:"
    code = paint(finding.code, _SEVERITY_COLOUR[finding.severity])
    # `[*]`: the rule has a fix for it (ruff's mark), before the message so that problem
    # matchers still read `CODE name: message`.
    mark = "[*] " if finding.fixable else ""
    line = f"{location} {code} {finding.name}: {mark}{printable(finding.message)}"
    if finding.service:
        line += f" [{printable(finding.service)}]"
    return line + controls_suffix(finding) + status_suffix(finding)


def controls_suffix(finding: Finding) -> str:
    """` (controls: ID, ...)` under a compliance profile: after the service, before the status."""
    return f" (controls: {', '.join(finding.controls)})" if finding.controls else ""


def status_suffix(finding: Finding) -> str:
    """` (new)` / ` (existing)` with `--base`, else nothing. It goes after everything a problem
    matcher parses (`path:line:col: CODE name: message [service]`), so old matchers still work."""
    return f" ({finding.status})" if finding.status else ""


def detail_lines(finding: Finding, indent: str = "") -> list[str]:
    """`expected: ...`, `found: ...` and `witness: k=v, ...` lines, those that apply."""
    details: list[str] = []
    if finding.expected is not None:
        details.append(f"{indent}expected: {printable(finding.expected)}")
    if finding.actual is not None:
        origin = " (Postfix default)" if finding.from_default else ""
        details.append(f"{indent}found: {printable(finding.actual)}{origin}")
    if finding.witness:
        # What a witness rests on gets its own line; a replayable witness without assumptions
        # (the usual case) says nothing about it.
        shown = {k: v for k, v in finding.witness.items() if k not in ("assumptions", "replayable")}
        pairs = ", ".join(f"{key}={value}" for key, value in shown.items())
        details.append(f"{indent}witness: {printable(pairs)}")
        assumptions = finding.witness.get("assumptions") or []
        if assumptions:
            details.append(f"{indent}assuming: {printable('; '.join(map(str, assumptions)))}")
        if finding.witness.get("replayable") is False:
            details.append(f"{indent}replayable: no (needs what a test cannot pose with XCLIENT)")
    return details


def _painter(enabled: bool) -> Painter:
    if not enabled:
        return lambda text, _style: text
    return lambda text, style: f"{style}{text}{_RESET}"
