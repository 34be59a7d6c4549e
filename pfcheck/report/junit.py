"""JUnit XML, for GitLab's test widget (`artifacts:reports:junit`), Jenkins and Azure.

One `<testsuite>`; one `<testcase>` per finding, with the file as `classname` (GitLab's "Suite"
column) and the rule as `name`. GitLab keys test cases on (classname, name) and compares them
between branches, so names leave the line out and repeat-suffix "(2)", "(3)" to stay unique.
GitLab ignores `failure/@message` and shows the failure text, so the text carries everything.

Only findings that fail the run (`Finding.failing`) are `<failure>`s, so the widget's failure
count is the number that fails the build. A finding that does not fail (below its policy's
`fail_on`, or existing under `--new-only`) is a passing test case with its text in
`<system-out>`: it is information, and `<skipped>` would say it was not checked. Files named in `Report.checked_paths` without findings are passing test cases,
and files not checked are skipped ones.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Optional

from pfcheck.findings import Finding
from pfcheck.report import Report, printable
from pfcheck.report.text import detail_lines, finding_line

SUITE_NAME = "pfcheck"
CLEAN_CASE_NAME = "no findings"
NOT_CHECKED_CASE_NAME = "not checked"


def render(report: Report) -> str:
    # (path, sequence number, element): grouped by file, otherwise in the order built.
    cases: list[tuple[str, int, ET.Element]] = []
    names_used: dict[tuple[str, str], int] = {}

    def unique_name(path: str, name: str) -> str:
        count = names_used.get((path, name), 0) + 1
        names_used[(path, name)] = count
        return name if count == 1 else f"{name} ({count})"

    failures = 0
    paths_with_findings = set()
    for finding in report.sorted_findings():
        paths_with_findings.add(finding.path)
        fails = finding.failing
        failures += fails
        case = _testcase(finding.path, unique_name(finding.path, case_name(finding)), finding.line)
        body = failure_text(finding)
        if fails:
            failure = ET.SubElement(
                case, "failure", {"type": str(finding.severity), "message": _attribute(finding.message)}
            )
            failure.text = body
        else:
            ET.SubElement(case, "system-out").text = body
        cases.append((finding.path, len(cases), case))

    for path in sorted(set(report.checked_paths) - paths_with_findings):
        cases.append((path, len(cases), _testcase(path, unique_name(path, CLEAN_CASE_NAME))))

    skipped = 0
    for item in report.sorted_not_checked():
        case = _testcase(item.path, unique_name(item.path, NOT_CHECKED_CASE_NAME))
        ET.SubElement(case, "skipped", {"message": _attribute(item.reason)})
        cases.append((item.path, len(cases), case))
        skipped += 1

    counts = {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": "0",
    }
    root = ET.Element("testsuites", {"name": SUITE_NAME, **counts})
    suite = ET.SubElement(root, "testsuite", {"name": SUITE_NAME, **counts})
    for _path, _sequence, case in sorted(cases, key=lambda entry: (entry[0], entry[1])):
        suite.append(case)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def case_name(finding: Finding) -> str:
    """`PF201 mynetworks-too-wide [smtp/inet] (mynetworks)`: rule, listener, parameter."""
    name = f"{finding.code} {finding.name}"
    if finding.service:
        name += f" [{finding.service}]"
    if finding.parameter:
        name += f" ({finding.parameter})"
    if finding.controls:
        name += f" (controls: {', '.join(finding.controls)})"
    return _attribute(name)


def failure_text(finding: Finding) -> str:
    """The text-format line plus the expected/found/witness lines."""
    return "\n".join([finding_line(finding), *detail_lines(finding)])


def _testcase(path: str, name: str, line: Optional[int] = None) -> ET.Element:
    attributes = {"classname": _attribute(path), "name": name, "file": _attribute(path)}
    if line is not None:
        attributes["line"] = str(max(1, line))
    attributes["time"] = "0"
    return ET.Element("testcase", attributes)


def _attribute(text: str) -> str:
    # XML 1.0 cannot carry most control characters at all, not even as references.
    return printable(text)
