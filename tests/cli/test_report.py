"""Output renderers: golden files for every format, plus the checks each consumer applies.

Regenerate the golden files with `PFCHECK_UPDATE_GOLDEN=1 pytest tests/cli/test_report.py` and
review the diff: a golden change is an output-format change users will see.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfcheck.findings import Finding, Severity
from pfcheck.report import (
    FORMATS,
    RENDERERS,
    NotChecked,
    Report,
    RuleInfo,
    is_security_code,
    printable,
    render,
    split_docstring,
    unique_fingerprints,
)
from pfcheck.report import github as github_format
from pfcheck.report import sarif as sarif_format

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("PFCHECK_UPDATE_GOLDEN") == "1"
SARIF_SCHEMA = Path(
    os.environ.get("PFCHECK_SARIF_SCHEMA", Path(__file__).resolve().parents[3] / "shared" / "schemas" / "sarif-schema-2.1.0.json")
)
GOLDEN_FILE = {
    "text": "report.txt",
    "json": "report.json",
    "sarif": "report.sarif",
    "gitlab": "report.gitlab.json",
    "junit": "report.junit.xml",
    "github": "report.github.txt",
    "html": "report.html",
}
# Variants of the fixed report with their own golden files: (golden name, format, changes).
GOLDEN_VARIANTS = [
    ("report.details.txt", "text", {"details": True}),
    ("report.color.txt", "text", {"color": True}),
]


# --- the fixed report ---------------------------------------------------------------------


def rule_module(code: str, name: str, severity: Severity, doc: str, **extra: Any) -> types.ModuleType:
    module = types.ModuleType(f"pfcheck.rules.fake_{code.lower()}", doc)
    module.ID = code  # type: ignore[attr-defined]
    module.NAME = name  # type: ignore[attr-defined]
    module.SEVERITY = severity  # type: ignore[attr-defined]
    for key, value in extra.items():
        setattr(module, key, value)
    return module


VRFY_DOC = """Forbid the SMTP VRFY command (PF101, vrfy-enabled).

## What it does
Fails when the effective value of `disable_vrfy_command` is not `yes` on an smtpd listener.

## Why is this bad?
VRFY lets anyone enumerate mailbox names; Postfix's default is `no`.

## Example / Use instead
    disable_vrfy_command = no      ->      disable_vrfy_command = yes
"""

RULE_MODULES = [
    rule_module("PF101", "vrfy-enabled", Severity.WARNING, VRFY_DOC),
    rule_module(
        "PF105",
        "banner-names-software",
        Severity.INFO,
        "The SMTP banner must not name the software.\n\n## What it does\nFlags `Postfix` in the expanded `smtpd_banner`.\n",
    ),
    rule_module(
        "PF201",
        "mynetworks-too-wide",
        Severity.ERROR,
        "mynetworks must not include networks wider than the policy allows.\n\n"
        "Every address in `mynetworks` may relay through `permit_mynetworks`.\n",
    ),
    rule_module(
        "PF301",
        "open-relay",
        Severity.ERROR,
        "An smtpd listener must not relay for untrusted clients (PF301, open-relay).\n\n"
        "## What it does\nEvaluates the relay and recipient restriction lists the way smtpd does.\n",
    ),
]
RULES = {module.ID: RuleInfo.from_module(module) for module in RULE_MODULES}

MAIN_LINE = Finding(
    code="PF201",
    name="mynetworks-too-wide",
    severity=Severity.ERROR,
    path="hosts/mx1/main.cf",
    line=14,
    column=1,
    message="mynetworks includes 0.0.0.0/0 (wider than /24)",
    parameter="mynetworks",
    witness={"address": "203.0.113.7"},
    expected="no network wider than /24",
    actual="0.0.0.0/0",
    failing=True,
)
# Same path, rule, parameter, listener and value as MAIN_LINE: the same base fingerprint.
MAIN_LINE_AGAIN = MAIN_LINE.with_(line=31, message="mynetworks includes 0.0.0.0/0 again (wider than /24)")
LISTENER = Finding(
    code="PF301",
    name="open-relay",
    severity=Severity.ERROR,
    path="hosts/mx1/master.cf",
    line=17,
    column=1,
    message="relays mail for any client: smtpd_relay_restrictions permits before reject_unauth_destination",
    service="submission/inet",
    parameter="smtpd_relay_restrictions",
    witness={
        "client": "198.51.100.9",
        "helo": "attacker.example",
        "sender": "a@attacker.example",
        "recipient": "victim@remote.example",
    },
    expected="reject_unauth_destination before any permit",
    actual="permit",
    status="new",
    failing=True,
)
DEFAULT_VALUE = Finding(
    code="PF101",
    name="vrfy-enabled",
    severity=Severity.WARNING,
    path="hosts/mx1/main.cf",
    line=1,
    column=1,
    message="VRFY is enabled: disable_vrfy_command is not set (Postfix default: no)",
    parameter="disable_vrfy_command",
    expected="yes",
    actual="no",
    from_default=True,
    status="existing",
    fixable=True,  # `[*]` in text, "fixable": true in JSON, counted in the summary
)
AWKWARD_TEXT = Finding(
    code="PF105",
    name="banner-names-software",
    severity=Severity.INFO,
    path="hosts/édge, relay/main.cf",
    line=3,
    column=15,
    message='smtpd_banner "$myhostname ESMTP Pöstfix, 100% ready: ok" names the software',
    parameter="smtpd_banner",
    actual="$myhostname ESMTP Pöstfix, 100% ready: ok",
)
FINDINGS = [AWKWARD_TEXT, LISTENER, MAIN_LINE_AGAIN, DEFAULT_VALUE, MAIN_LINE]  # deliberately unsorted
NOT_CHECKED = [
    NotChecked("hosts/templated/main.cf.j2", "template (Jinja2)"),
    NotChecked("hosts/mx1/blob.cf", "binary"),
]


def fixed_report(**changes: Any) -> Report:
    fields: dict[str, Any] = dict(
        findings=FINDINGS,
        rules=RULES,
        files_checked=4,
        tool_version="0.1.0",
        not_checked=NOT_CHECKED,
        information_uri="https://example.org/pfcheck",
        base="HEAD~1",
        fail_on_by_policy={".pfcheck.yaml": Severity.ERROR},
        checked_paths=[
            "hosts/mx1/main.cf",
            "hosts/mx1/master.cf",
            "hosts/édge, relay/main.cf",
            "hosts/mx2/main.cf",
        ],
    )
    fields.update(changes)
    return Report(**fields)


# --- golden files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "golden_name, format_name, changes",
    [(GOLDEN_FILE[name], name, {}) for name in FORMATS] + GOLDEN_VARIANTS,
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_golden_output(golden_name: str, format_name: str, changes: dict[str, Any]) -> None:
    produced = render(fixed_report(**changes), format_name)
    golden = GOLDEN / golden_name
    if UPDATE_GOLDEN:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(produced, encoding="utf-8", newline="")
    assert golden.exists(), f"{golden} missing; run with PFCHECK_UPDATE_GOLDEN=1"
    assert produced == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("format_name", FORMATS)
def test_output_does_not_depend_on_input_order(format_name: str) -> None:
    forwards = render(fixed_report(), format_name)
    backwards = render(
        fixed_report(findings=list(reversed(FINDINGS)), not_checked=list(reversed(NOT_CHECKED))),
        format_name,
    )
    assert forwards == backwards


@pytest.mark.parametrize("format_name", FORMATS)
def test_empty_report_renders(format_name: str) -> None:
    output = render(Report(findings=[], rules=RULES, files_checked=0, tool_version="0.1.0"), format_name)
    assert output == "" or output.endswith("\n")


def test_renderers_cover_every_format_and_reject_unknown() -> None:
    assert set(RENDERERS) == set(FORMATS) == {"text", "json", "sarif", "gitlab", "junit", "github", "html"}
    with pytest.raises(KeyError):
        render(fixed_report(), "checkstyle")


def test_text_run_imports_neither_json_nor_xml() -> None:
    program = (
        "import sys\n"
        "from pfcheck.findings import Finding, Severity\n"
        "from pfcheck.report import RENDERERS, Report\n"
        "f = Finding('PF101', 'vrfy-enabled', Severity.ERROR, 'main.cf', 1, 1, 'x')\n"
        "out = RENDERERS['text'](Report([f], {}, 1, '0.1.0'))\n"
        "assert out.startswith('main.cf:1:1: PF101'), out\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('json', 'xml')))\n"
    )
    root = Path(__file__).resolve().parents[2]
    completed = subprocess.run(
        [sys.executable, "-c", program], cwd=root, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


# --- rule metadata ------------------------------------------------------------------------


def test_rule_info_from_module() -> None:
    vrfy = RULES["PF101"]
    assert vrfy.summary == "Forbid the SMTP VRFY command."
    assert vrfy.help_markdown.startswith("## What it does\nFails when")
    assert vrfy.tags == ("security", "postfix")
    assert vrfy.security_severity is None  # a warning-level rule gets none by default
    assert RULES["PF301"].security_severity == "9.3"
    assert RULES["PF201"].security_severity == "8.1"
    declared = RuleInfo.from_module(
        rule_module("PF000", "parse-error", Severity.ERROR, "Postfix cannot parse the file.", SECURITY_SEVERITY=2)
    )
    assert declared.tags == ("postfix",)
    assert declared.security_severity == "2.0"


def test_split_docstring_keeps_parentheses_that_are_not_the_identity() -> None:
    assert split_docstring("Forbid VRFY (RFC 5321).\n\nBody", "PF101") == ("Forbid VRFY (RFC 5321).", "Body")
    assert split_docstring("Forbid VRFY (PF101, vrfy-enabled)", "PF101") == ("Forbid VRFY", "")


def test_every_registered_rule_describes_itself_for_sarif() -> None:
    from pfcheck.rules import RULES as REGISTRY

    infos = {code: RuleInfo.from_module(module) for code, module in REGISTRY.items()}
    assert infos, "no rules registered"
    for code, info in infos.items():
        assert info.code == code and info.name == REGISTRY[code].NAME
        assert info.summary and code not in info.summary, info.summary
        assert info.help_markdown, f"{code} has no documentation after its first line"
        descriptor = sarif_format.rule_descriptor(info)
        assert 0 < len(descriptor["fullDescription"]["text"]) <= 1024
        assert descriptor["fullDescription"]["text"] != info.summary, f"{code} lacks a '## What it does' section"
        assert info.is_security == is_security_code(code)


# --- text ---------------------------------------------------------------------------------

TEXT_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>PF\d{3}) (?P<name>[a-z-]+): (?P<message>.*)$")


def test_text_lines_are_parsable_and_sorted() -> None:
    lines = render(fixed_report(), "text").splitlines()
    assert lines[:2] == [
        "hosts/mx1/blob.cf: not checked: binary",
        "hosts/templated/main.cf.j2: not checked: template (Jinja2)",
    ]
    finding_lines = lines[2:-1]
    parsed = [TEXT_LINE.match(line) for line in finding_lines]
    assert all(parsed), finding_lines
    keys = [(m["path"], int(m["line"]), int(m["col"])) for m in parsed if m]
    assert keys == sorted(keys)
    assert [line.endswith("[submission/inet] (new)") for line in finding_lines] == [False, False, False, True, False]
    assert lines[-1] == "4 files, 5 findings (3 error, 1 warning, 1 info; 1 new, 1 existing), 3 failing, 1 fixable with --fix, 2 not checked"
    assert [m["message"].startswith("[*] ") for m in parsed if m] == [True, False, False, False, False]
    assert [line.endswith((" (new)", " (existing)")) for line in finding_lines] == [True, False, False, True, False]
    assert "\x1b" not in "\n".join(lines)


def test_text_summary_singular_and_clean() -> None:
    clean = Report(findings=[], rules={}, files_checked=1, tool_version="0.1.0")
    assert render(clean, "text") == "1 file, 0 findings\n"
    one = Report(findings=[DEFAULT_VALUE], rules={}, files_checked=2, tool_version="0.1.0")
    assert render(one, "text").splitlines()[-1] == "2 files, 1 finding (1 warning), 0 failing, 1 fixable with --fix"
    not_fixable = Report(findings=[DEFAULT_VALUE.with_(fixable=False)], rules={}, files_checked=2, tool_version="0.1.0")
    assert render(not_fixable, "text").splitlines()[-1] == "2 files, 1 finding (1 warning), 0 failing"


def test_text_color_only_when_asked() -> None:
    coloured = render(fixed_report(color=True), "text")
    assert "\x1b[1;31mPF201\x1b[0m" in coloured
    assert "\x1b[1;33mPF101\x1b[0m" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == render(fixed_report(), "text")


def test_text_details_show_expected_found_and_witness() -> None:
    lines = render(fixed_report(details=True), "text").splitlines()
    default_line = next(i for i, line in enumerate(lines) if "PF101" in line)
    assert lines[default_line + 1 : default_line + 3] == [
        "    expected: yes",
        "    found: no (Postfix default)",
    ]
    assert (
        "    witness: client=198.51.100.9, helo=attacker.example, sender=a@attacker.example, "
        "recipient=victim@remote.example"
    ) in lines


def test_text_details_show_what_a_witness_assumes() -> None:
    from pfcheck.report.text import detail_lines

    plain = MAIN_LINE.with_(expected=None, actual=None,
                            witness={"client": "192.0.2.1", "assumptions": [], "replayable": True})
    assert detail_lines(plain) == ["witness: client=192.0.2.1"]
    assuming = plain.with_(witness={"client": "192.0.2.1", "assumptions": ["DNS: mx.example has an MX"],
                                    "replayable": False})
    assert detail_lines(assuming) == [
        "witness: client=192.0.2.1", "assuming: DNS: mx.example has an MX",
        "replayable: no (needs what a test cannot pose with XCLIENT)",
    ]


def test_text_neutralises_newlines_and_escape_sequences_from_config_values() -> None:
    hostile = MAIN_LINE.with_(message="value 'a\nmain.cf:1:1: PF000 fake\x1b[2J' \udcff")
    output = render(Report([hostile], RULES, 1, "0.1.0"), "text")
    assert output.count("\n") == 2  # one finding line, one summary line
    assert "\x1b" not in output
    assert "a\\x0amain.cf:1:1: PF000 fake\\x1b[2J' \\xff" in output
    output.encode("utf-8")  # no lone surrogate left


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_printable_is_one_safe_line(text: str) -> None:
    shown = printable(text)
    assert not re.search("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]", shown)
    shown.encode("utf-8")
    if text.isprintable():
        assert shown == text


# --- json ---------------------------------------------------------------------------------


def test_json_shape() -> None:
    document = json.loads(render(fixed_report(), "json"))
    assert set(document) == {"findings", "summary"}
    assert document["summary"] == {
        "files": 4,
        "findings": 5,
        "by_severity": {"error": 3, "warning": 1, "info": 1},
        "fail_on": "error",
        "fail_on_by_policy": {".pfcheck.yaml": "error"},
        "failing": 3,
        "fixable": 1,
        "new": 1,
        "existing": 1,
        "new_only": False,
        "unrelated_files": 0,
        "excluded_files": 0,
        "not_checked": [
            {"path": "hosts/mx1/blob.cf", "reason": "binary"},
            {"path": "hosts/templated/main.cf.j2", "reason": "template (Jinja2)"},
        ],
    }
    required = {"code", "name", "severity", "path", "line", "column", "service", "message", "witness"}
    for entry in document["findings"]:
        assert required <= set(entry)
    default = next(entry for entry in document["findings"] if entry["code"] == "PF101")
    assert (default["line"], default["from_default"], default["service"]) == (1, True, None)
    relay = next(entry for entry in document["findings"] if entry["code"] == "PF301")
    assert relay["witness"]["recipient"] == "victim@remote.example"
    assert relay["service"] == "submission/inet"
    awkward = next(entry for entry in document["findings"] if entry["code"] == "PF105")
    assert awkward["message"] == AWKWARD_TEXT.message
    assert awkward["path"] == "hosts/édge, relay/main.cf"
    fingerprints = [entry["fingerprint"] for entry in document["findings"]]
    assert len(set(fingerprints)) == len(fingerprints)


def test_json_serialises_non_json_witness_values_as_strings() -> None:
    import ipaddress

    finding = MAIN_LINE.with_(witness={"address": ipaddress.ip_address("203.0.113.7")})
    document = json.loads(render(Report([finding], RULES, 1, "0.1.0"), "json"))
    assert document["findings"][0]["witness"] == {"address": "203.0.113.7"}


# --- fingerprints -------------------------------------------------------------------------


def test_fingerprints_ignore_lines_but_stay_unique() -> None:
    first = unique_fingerprints([MAIN_LINE, MAIN_LINE_AGAIN])
    moved = unique_fingerprints([MAIN_LINE.with_(line=40), MAIN_LINE_AGAIN.with_(line=52)])
    assert first == moved
    assert first[0] == MAIN_LINE.fingerprint()
    assert first[1] != first[0]
    assert len(set(unique_fingerprints([MAIN_LINE] * 5))) == 5


# --- SARIF --------------------------------------------------------------------------------


def sarif_log(report: Report | None = None) -> dict[str, Any]:
    return json.loads(render(report or fixed_report(), "sarif"))


@pytest.mark.parametrize(
    "report",
    [
        fixed_report(),
        fixed_report(automation_id="pfcheck/mx1/", tool_version="0.2.0.dev1"),
        Report(findings=[], rules={}, files_checked=0, tool_version="0.1.0"),
    ],
    ids=["fixed", "dev-version", "empty"],
)
def test_sarif_matches_the_2_1_0_schema(report: Report) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    if not SARIF_SCHEMA.is_file():
        pytest.skip(f"SARIF schema not present at {SARIF_SCHEMA}")
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(sarif_log(report)), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def test_sarif_meets_github_code_scanning_requirements() -> None:
    log = sarif_log()
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "pfcheck"
    assert driver["version"] == driver["semanticVersion"] == "0.1.0"
    assert driver["informationUri"] == "https://example.org/pfcheck"
    rules = driver["rules"]
    assert [rule["id"] for rule in rules] == sorted(RULES)
    for rule in rules:
        for key in ("shortDescription", "fullDescription"):
            assert 0 < len(rule[key]["text"]) <= 1024
        assert rule["help"]["text"] and rule["help"]["markdown"]
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}
        assert rule["properties"]["tags"]
        if "security-severity" in rule["properties"]:
            assert 0.1 <= float(rule["properties"]["security-severity"]) <= 10.0
    by_id = {rule["id"]: rule for rule in rules}
    assert by_id["PF301"]["properties"]["security-severity"] == "9.3"
    assert "security-severity" not in by_id["PF101"]["properties"]  # warning-level
    assert by_id["PF101"]["fullDescription"]["text"] == (
        "Fails when the effective value of `disable_vrfy_command` is not `yes` on an smtpd listener."
    )
    assert by_id["PF201"]["fullDescription"]["text"] == (
        "Every address in `mynetworks` may relay through `permit_mynetworks`."
    )

    results = run["results"]
    assert len(results) == len(FINDINGS)
    fingerprints = set()
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in {"error", "warning", "note"}
        assert result["message"]["text"]
        location = result["locations"][0]["physicalLocation"]
        uri = location["artifactLocation"]["uri"]
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert uri and not uri.startswith("/") and "://" not in uri and "\\" not in uri
        assert location["region"]["startLine"] >= 1 and location["region"]["startColumn"] >= 1
        fingerprints.add(result["partialFingerprints"]["pfcheck/v1"])
    assert len(fingerprints) == len(results)

    default = next(r for r in results if r["ruleId"] == "PF101")
    assert default["locations"][0]["physicalLocation"]["region"] == {"startLine": 1, "startColumn": 1}
    assert default["properties"]["fromDefault"] is True
    assert default["level"] == "warning"
    assert default["baselineState"] == "unchanged"
    relay = next(r for r in results if r["ruleId"] == "PF301")
    assert relay["properties"]["service"] == "submission/inet"
    assert relay["properties"]["witness"]["helo"] == "attacker.example"
    assert relay["baselineState"] == "new"
    awkward = next(r for r in results if r["ruleId"] == "PF105")
    assert awkward["level"] == "note"
    assert awkward["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "hosts/%C3%A9dge%2C%20relay/main.cf"
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == [
        "hosts/mx1/blob.cf: not checked: binary",
        "hosts/templated/main.cf.j2: not checked: template (Jinja2)",
    ]


def test_sarif_fingerprints_survive_line_moves() -> None:
    moved = [f.with_(line=f.line + 7) for f in FINDINGS]

    def prints(report: Report) -> list[str]:
        return [r["partialFingerprints"]["pfcheck/v1"] for r in sarif_log(report)["runs"][0]["results"]]

    assert prints(fixed_report()) == prints(fixed_report(findings=moved))


def test_sarif_locations_for_unusual_paths_and_lines() -> None:
    assert sarif_format.artifact_location("./hosts/a b/main.cf") == {
        "uri": "hosts/a%20b/main.cf",
        "uriBaseId": "%SRCROOT%",
    }
    assert sarif_format.artifact_location("/srv/postfix/main.cf") == {"uri": "file:///srv/postfix/main.cf"}
    zero = MAIN_LINE.with_(line=0, column=0)
    region = sarif_log(Report([zero], RULES, 1, "0.1.0"))["runs"][0]["results"][0]["locations"][0]
    assert region["physicalLocation"]["region"] == {"startLine": 1, "startColumn": 1}


def test_sarif_describes_rules_missing_from_the_report() -> None:
    unknown = Finding("PF000", "parse-error", Severity.ERROR, "main.cf", 3, 1, "missing '='")
    run = sarif_log(Report([unknown, MAIN_LINE], {"PF201": RULES["PF201"]}, 1, "0.1.0"))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == ["PF000", "PF201"]
    assert rules[0]["shortDescription"]["text"] == "parse-error"
    assert "security-severity" not in rules[0]["properties"]
    assert sorted((r["ruleId"], r["ruleIndex"]) for r in run["results"]) == [("PF000", 0), ("PF201", 1)]
    assert "semanticVersion" not in sarif_log(fixed_report(tool_version="0.2.0.dev1"))["runs"][0]["tool"]["driver"]


# --- GitLab Code Quality ------------------------------------------------------------------


def test_gitlab_fields() -> None:
    text = render(fixed_report(), "gitlab")
    assert not text.startswith("\ufeff")
    issues = json.loads(text)
    assert isinstance(issues, list) and len(issues) == len(FINDINGS)
    for issue in issues:
        assert issue["description"].startswith(issue["check_name"] + " ")
        assert re.fullmatch(r"PF\d{3}", issue["check_name"])
        assert re.fullmatch(r"[0-9a-f]{64}", issue["fingerprint"])
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert issue["location"]["path"] and not issue["location"]["path"].startswith(("/", "./"))
        assert issue["location"]["lines"]["begin"] >= 1
    assert len({issue["fingerprint"] for issue in issues}) == len(issues)
    by_code = {issue["check_name"]: issue for issue in issues}
    assert by_code["PF301"]["severity"] == "critical"
    assert by_code["PF301"]["description"].endswith("[submission/inet]")
    assert by_code["PF101"]["severity"] == "minor"
    assert by_code["PF101"]["location"] == {"path": "hosts/mx1/main.cf", "lines": {"begin": 1}}
    assert by_code["PF105"]["severity"] == "info"
    assert by_code["PF105"]["location"]["path"] == "hosts/édge, relay/main.cf"


def test_gitlab_non_security_error_is_major_and_fingerprints_ignore_lines() -> None:
    parse_error = Finding("PF000", "parse-error", Severity.ERROR, "./main.cf", 3, 1, "missing '='", failing=True)
    [issue] = json.loads(render(Report([parse_error], {}, 1, "0.1.0"), "gitlab"))
    assert issue["severity"] == "major"
    [not_failing] = json.loads(render(Report([parse_error.with_(failing=False)], {}, 1, "0.1.0"), "gitlab"))
    assert not_failing["severity"] == "minor"
    assert issue["categories"] == ["Bug Risk"]
    assert issue["location"]["path"] == "main.cf"
    moved = json.loads(render(fixed_report(findings=[f.with_(line=f.line + 3) for f in FINDINGS]), "gitlab"))
    original = json.loads(render(fixed_report(), "gitlab"))
    assert [i["fingerprint"] for i in moved] == [i["fingerprint"] for i in original]


# --- JUnit --------------------------------------------------------------------------------


def test_junit_parses_and_counts() -> None:
    root = ET.fromstring(render(fixed_report(), "junit").encode("utf-8"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    cases = suite.findall("testcase")
    failures = [case for case in cases if case.find("failure") is not None]
    skipped = [case for case in cases if case.find("skipped") is not None]
    # 5 findings + 1 clean checked file (mx2) + 2 not checked
    assert len(cases) == int(suite.get("tests", "")) == 8
    assert len(failures) == int(suite.get("failures", "")) == 3  # the errors; fail_on=error
    assert len(skipped) == int(suite.get("skipped", "")) == 2
    names = [(case.get("classname"), case.get("name")) for case in cases]
    assert len(set(names)) == len(names)
    assert ("hosts/mx1/main.cf", "PF201 mynetworks-too-wide (mynetworks) (2)") in names
    assert ("hosts/mx2/main.cf", "no findings") in names
    relay = next(case for case in cases if case.get("name", "").startswith("PF301"))
    failure = relay.find("failure")
    assert failure is not None and failure.get("type") == "error"
    assert failure.text is not None and failure.text.splitlines()[0] == (
        "hosts/mx1/master.cf:17:1: PF301 open-relay: " + LISTENER.message + " [submission/inet] (new)"
    )
    assert "witness: client=198.51.100.9" in failure.text
    below_threshold = next(case for case in cases if case.get("name", "").startswith("PF101"))
    assert below_threshold.find("failure") is None
    out = below_threshold.find("system-out")
    assert out is not None and "found: no (Postfix default)" in (out.text or "")
    template = next(case for case in skipped if case.get("classname") == "hosts/templated/main.cf.j2")
    skip = template.find("skipped")
    assert skip is not None and skip.get("message") == "template (Jinja2)"


def test_every_format_reads_the_one_decision_and_never_re_decides() -> None:
    # Deliberately against severity: a failing info and a non-failing error. A renderer that
    # compared severities with a threshold would count these differently.
    findings = [AWKWARD_TEXT.with_(failing=True), MAIN_LINE.with_(failing=False, status="existing"),
                LISTENER, DEFAULT_VALUE.with_(failing=True)]
    report = fixed_report(findings=findings, fail_on=None, new_only=True,
                          fail_on_by_policy={"a/.pfcheck.yaml": Severity.INFO, "builtin": Severity.ERROR})
    failing_codes = sorted(f.code for f in findings if f.failing)
    assert report.failing() == 3
    document = json.loads(render(report, "json"))
    assert document["summary"]["failing"] == 3
    assert document["summary"]["fail_on"] is None
    assert document["summary"]["fail_on_by_policy"] == {"a/.pfcheck.yaml": "info", "builtin": "error"}
    assert sorted(f["code"] for f in document["findings"] if f["failing"]) == failing_codes
    assert ET.fromstring(render(report, "junit")).get("failures") == "3"
    results = json.loads(render(report, "sarif"))["runs"][0]["results"]
    assert sorted(r["ruleId"] for r in results if r["level"] == "error") == failing_codes
    assert {r["ruleId"]: r["properties"]["failing"] for r in results}["PF201"] is False
    issues = json.loads(render(report, "gitlab"))
    assert sorted(i["check_name"] for i in issues if i["severity"] in {"major", "critical"}) == failing_codes
    assert sorted(line.split("title=")[1].split()[0] for line in render(report, "github").splitlines()
                  if line.startswith("::error ")) == failing_codes
    summary = render(report, "text").splitlines()[-1]
    assert ", 3 failing (--new-only: existing findings do not fail)" in summary


def test_junit_survives_characters_xml_cannot_carry() -> None:
    hostile = MAIN_LINE.with_(message="bad \x00\x1b value \udcfe", path="a\x01b/main.cf")
    root = ET.fromstring(render(Report([hostile], RULES, 1, "0.1.0"), "junit"))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and failure.get("message") == "bad \\x00\\x1b value \\xfe"


# --- GitHub workflow commands -------------------------------------------------------------


def test_github_commands() -> None:
    lines = render(fixed_report(), "github").splitlines()
    assert lines[0] == (
        "::notice file=hosts/mx1/blob.cf,title=pfcheck%3A not checked::hosts/mx1/blob.cf: not checked: binary"
    )
    assert (
        "::notice file=hosts/édge%2C relay/main.cf,line=3,col=15,title=PF105 banner-names-software::"
        'hosts/édge, relay/main.cf:3:15: smtpd_banner "$myhostname ESMTP Pöstfix, 100%25 ready: ok" names the software'
    ) in lines
    assert (
        "::warning file=hosts/mx1/main.cf,line=1,col=1,title=PF101 vrfy-enabled::hosts/mx1/main.cf:1:1: "
        "VRFY is enabled: disable_vrfy_command is not set (Postfix default: no) (existing)"
    ) in lines
    relay = next(line for line in lines if "PF301" in line)
    assert relay.startswith("::error file=hosts/mx1/master.cf,line=17,col=1,title=PF301 open-relay::")
    assert relay.endswith(" [submission/inet] (new)")


def test_github_escaping() -> None:
    assert github_format.escape_data("100%\r\nx:y,z") == "100%25%0D%0Ax:y,z"
    assert github_format.escape_property("100%\r\nx:y,z") == "100%25%0D%0Ax%3Ay%2Cz"
    # `%` first: an already-escaped-looking sequence must not be decoded back.
    assert github_format.escape_property("%3A") == "%253A"


def _unescape(text: str) -> str:
    return re.sub("%(25|0D|0A|3A|2C)", lambda m: {"25": "%", "0D": "\r", "0A": "\n", "3A": ":", "2C": ","}[m.group(1)], text)


@settings(max_examples=200, deadline=None)
@given(path=st.text(min_size=1), message=st.text())
def test_github_commands_round_trip(path: str, message: str) -> None:
    finding = MAIN_LINE.with_(path=path, message=message)
    line = github_format.finding_command(finding)
    assert "\n" not in line and "\r" not in line
    head, _, data = line.partition("::")[2].partition("::")
    properties = dict(item.split("=", 1) for item in head.split(" ", 1)[1].split(","))
    assert set(properties) == {"file", "line", "col", "title"}
    assert _unescape(properties["file"]) == printable(path)
    assert _unescape(data) == printable(f"{path}:14:1: {message}")


def test_github_step_summary_lists_every_finding() -> None:
    summary = github_format.step_summary(fixed_report(findings=[*FINDINGS, MAIN_LINE.with_(message="a | b")]))
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + len(FINDINGS) + 1
    assert "a \\| b" in summary
    assert "4 files, 6 findings (4 error, 1 warning, 1 info; 1 new, 1 existing), 4 failing, 1 fixable with --fix, 2 not checked" in summary
