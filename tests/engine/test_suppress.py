"""Inline suppressions (`# pfcheck: ignore[...]`), central waivers and the hygiene rules PF901,
PF902 and PF904: directive parsing as unit tests, then whole runs through `pfcheck.cli.main` on
real files (PF101 vrfy-enabled provides the findings)."""
from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Optional

import pytest

from pfcheck.findings import Finding, Severity
from pfcheck.engine.directives import RuleNames, parse_directives
from pfcheck.engine.suppress import (
    INVALID_SUPPRESSION,
    UNUSED_SUPPRESSION,
    apply_inline,
    apply_waivers,
    expired_waiver_findings,
)
from pfcheck.rules import SUPPRESSION_RULE_IDENTITIES as HYGIENE_RULES

NAMES = RuleNames({
    "PF000": "config-error",
    "PF101": "vrfy-enabled",
    "PF201": "mynetworks-outside-policy",
    "PF901": "invalid-suppression",
    "PF902": "unused-suppression",
})


def directives(text: str, kind: str = "main.cf") -> list[Any]:
    return parse_directives(text, Path(kind), kind, NAMES)


def only(text: str, kind: str = "main.cf") -> Any:
    found = directives(text, kind)
    assert len(found) == 1, found
    return found[0]


def finding(code: str = "PF101", line: int = 1, path: str = "main.cf", **details: Any) -> Finding:
    return Finding(code=code, name=NAMES.names.get(code, code), severity=Severity.ERROR, path=path,
                   line=line, column=1, message="m", **details)


# --------------------------------------------------------------------------------------------
# Directive syntax


def test_directive_with_codes_names_and_reason() -> None:
    directive = only('# pfcheck: ignore[PF101, mynetworks-outside-policy,pf101] reason="legacy DMZ, ticket OPS-123"\nx = 1\n')
    assert directive.valid
    assert directive.action == "ignore"
    assert directive.codes == ("PF101", "PF201")
    assert directive.reason == "legacy DMZ, ticket OPS-123"
    assert (directive.line, directive.column) == (1, 1)


def test_directive_spacing_and_single_quotes() -> None:
    directive = only("   #pfcheck:ignore [vrfy-enabled]reason = 'lab'\r\nx = 1\n")
    assert directive.valid and directive.codes == ("PF101",) and directive.reason == "lab"
    assert directive.column == 4


def test_ordinary_comments_are_not_directives() -> None:
    text = "# pfcheck is run in CI\n# see pfcheck: docs\n# PFCHECK : ignore[PF101] reason=\"x\"\nx = 1\n"
    found = directives(text)
    # Only the third line opens with "pfcheck:" (any case); the others are plain comments.
    assert [d.line for d in found] == [3]


@pytest.mark.parametrize(
    ("directive", "problem", "column"),
    [
        ('# pfcheck: ignroe[PF101] reason="x"', 'unknown directive "ignroe" (did you mean "ignore"?)', 12),
        ('# pfcheck: disable[PF101] reason="x"', 'unknown directive "disable"', 12),
        ("# pfcheck:", 'expected ignore[CODE] reason="..."', 11),
        ('# pfcheck: ignore PF101 reason="x"', 'expected "[" after ignore', 19),
        ('# pfcheck: ignore[PF101 reason="x"', 'missing "]"', 18),
        ('# pfcheck: ignore[] reason="x"', "empty rule", 19),
        ('# pfcheck: ignore[PF101,] reason="x"', "empty rule", 25),
        ('# pfcheck: ignore[PF1O1] reason="x"', 'unknown rule "PF1O1" (did you mean "PF101"?)', 19),
        ('# pfcheck: ignore[PF101,vrfy-enbled] reason="x"', 'unknown rule "vrfy-enbled" (did you mean "vrfy-enabled"?)', 25),
        ("# pfcheck: ignore[PF101]", "missing reason", 25),
        ("# pfcheck: ignore[PF101] because legacy", 'unexpected "because legacy": expected reason="..."', 26),
        ("# pfcheck: ignore[PF101] reason=legacy", 'quote the reason: reason="legacy"', 33),
        ('# pfcheck: ignore[PF101] reason="legacy', 'missing closing "', 33),
        ('# pfcheck: ignore[PF101] reason="  "', "the reason must not be empty", 33),
        ('# pfcheck: ignore[PF101] reason="a" extra', 'unexpected "extra" after the reason', 37),
        ('# pfcheck: ignore[PF902] reason="x"', "PF902 (unused-suppression) cannot be suppressed inline", 19),
    ],
)
def test_malformed_directives_are_located_and_explained(directive: str, problem: str, column: int) -> None:
    parsed = only(directive + "\nx = 1\n")
    assert not parsed.valid
    assert problem in parsed.problem
    assert parsed.problem_column == column


def test_ignore_file_must_come_before_the_first_parameter() -> None:
    text = '# header\n# pfcheck: ignore-file[PF101] reason="lab"\n\na = 1\n# pfcheck: ignore-file[PF201] reason="late"\nb = 2\n'
    early, late = directives(text)
    assert early.valid and early.whole_file and early.lines == frozenset()
    assert not late.valid and late.problem == "ignore-file must come before the first parameter (line 4)"


def test_ignore_file_in_master_cf_must_come_before_the_first_service() -> None:
    text = 'smtp inet n - n - - smtpd\n# pfcheck: ignore-file[PF101] reason="late"\n'
    assert only(text, "master.cf").problem == "ignore-file must come before the first service (line 1)"


# --------------------------------------------------------------------------------------------
# What a directive covers


def test_ignore_covers_the_next_logical_line_across_comments_and_blanks() -> None:
    text = (
        '# pfcheck: ignore[PF101] reason="a"\n'   # 1
        "\n"                                       # 2
        "# an ordinary comment\n"                  # 3
        '# pfcheck: ignore[PF201] reason="b"\n'   # 4 (stacked)
        "mynetworks = 127.0.0.0/8\n"               # 5
        "    192.0.2.0/24\n"                       # 6
        "# a comment inside the logical line\n"   # 7
        "    198.51.100.0/24\n"                    # 8
        "next = 1\n"                               # 9
    )
    first, second = directives(text)
    assert first.lines == second.lines == frozenset({5, 6, 8})


def test_ignore_inside_a_main_cf_logical_line_covers_the_rest_of_it() -> None:
    text = 'a = b,\n# pfcheck: ignore[PF101] reason="x"\n  c,\n  d\ne = f\n'
    assert only(text).lines == frozenset({3, 4})


def test_ignore_at_the_end_of_the_file_covers_nothing() -> None:
    assert only('a = 1\n# pfcheck: ignore[PF101] reason="x"\n\n').lines == frozenset()


def test_master_cf_directive_before_a_service_covers_the_whole_entry() -> None:
    text = (
        "pickup unix n - y 60 1 pickup\n"                # 1
        '# pfcheck: ignore[PF101] reason="lab"\n'        # 2
        "smtp inet n - n - - smtpd\n"                    # 3
        "  -o smtpd_tls_security_level=may\n"            # 4
        "  -o disable_vrfy_command=no\n"                 # 5
        "submission inet n - n - - smtpd\n"              # 6
    )
    assert only(text, "master.cf").lines == frozenset({3, 4, 5})


def test_master_cf_directive_between_options_covers_the_next_option_only() -> None:
    text = (
        "smtp inet n - n - - smtpd\n"                    # 1
        "  -o smtpd_tls_security_level=may\n"            # 2
        '  # pfcheck: ignore[PF101] reason="lab"\n'      # 3
        "  -o\n"                                         # 4
        "     disable_vrfy_command=no\n"                 # 5
        "  -o smtpd_banner=$myhostname\n"                # 6
    )
    assert only(text, "master.cf").lines == frozenset({4, 5})


# --------------------------------------------------------------------------------------------
# Applying directives


def test_apply_inline_hides_covered_findings_and_reports_unused_codes() -> None:
    text = '# pfcheck: ignore[PF101,PF201] reason="lab"\ndisable_vrfy_command = no\n'
    outcome = apply_inline([finding("PF101", 2), finding("PF101", 3)], {"main.cf": directives(text)}, "allow", NAMES)
    assert [f.line for f in outcome.kept] == [3]
    assert [(s.finding.line, s.kind, s.reason, s.source) for s in outcome.suppressed] == [(2, "inline", "lab", "main.cf:1")]
    (unused,) = outcome.hygiene
    assert (unused.code, unused.line, unused.column) == (UNUSED_SUPPRESSION, 1, 1)
    assert unused.message == "unused suppression of PF201: no PF201 (mynetworks-outside-policy) finding on line 2"


def test_apply_inline_only_matches_the_same_file() -> None:
    text = '# pfcheck: ignore[PF101] reason="lab"\ndisable_vrfy_command = no\n'
    outcome = apply_inline([finding("PF101", 2, path="master.cf")], {"main.cf": directives(text)}, "allow", NAMES)
    assert len(outcome.kept) == 1 and [f.code for f in outcome.hygiene] == [UNUSED_SUPPRESSION]


def test_apply_inline_invalid_directive_suppresses_nothing() -> None:
    text = '# pfcheck: ignore[PF101,PF999] reason="lab"\ndisable_vrfy_command = no\n'
    outcome = apply_inline([finding("PF101", 2)], {"main.cf": directives(text)}, "allow", NAMES)
    assert len(outcome.kept) == 1 and not outcome.suppressed
    (invalid,) = outcome.hygiene
    assert invalid.code == INVALID_SUPPRESSION and invalid.column == 25
    assert invalid.message == 'unknown rule "PF999"; the directive suppresses nothing'


def test_apply_inline_deny_mode_reports_every_directive_and_hides_nothing() -> None:
    text = '# pfcheck: ignore[PF101] reason="lab"\ndisable_vrfy_command = no\n'
    outcome = apply_inline([finding("PF101", 2)], {"main.cf": directives(text)}, "deny", NAMES)
    assert len(outcome.kept) == 1 and not outcome.suppressed
    assert [(f.code, f.line) for f in outcome.hygiene] == [(INVALID_SUPPRESSION, 1)]
    assert "forbidden by the policy (suppressions: deny)" in outcome.hygiene[0].message


def test_apply_inline_says_when_the_rule_is_off() -> None:
    text = '# pfcheck: ignore[PF201] reason="lab"\nmynetworks = 0.0.0.0/0\n'
    outcome = apply_inline([], {"main.cf": directives(text)}, "allow", NAMES, enabled=lambda code: code != "PF201")
    assert outcome.hygiene[0].message == "unused suppression of PF201: PF201 (mynetworks-outside-policy) is off in the policy"


def test_apply_inline_ignore_file_covers_every_line() -> None:
    text = '# pfcheck: ignore-file[PF101] reason="honeypot"\na = 1\n'
    outcome = apply_inline([finding("PF101", 1), finding("PF101", 40), finding("PF000", 2)],
                           {"main.cf": directives(text)}, "allow", NAMES)
    assert [f.code for f in outcome.kept] == ["PF000"] and len(outcome.suppressed) == 2 and not outcome.hygiene


# --------------------------------------------------------------------------------------------
# Waivers (unit level, with a real Policy)


def _policy(tmp_path: Path, waivers: str) -> Any:
    from pfcheck.policy import RuleSpec, parse_policy

    rules = {
        "PF101": RuleSpec("PF101", "vrfy-enabled", Severity.ERROR),
        "PF904": RuleSpec("PF904", "expired-waiver", Severity.WARNING),
    }
    text = f"version: 1\nwaivers:\n{waivers}"
    return parse_policy(text, rules, path=tmp_path / ".pfcheck.yaml")


WAIVERS = (
    "  - rule: PF101\n"                   # line 3
    "    path: hosts/*/main.cf\n"
    "    service: smtp/inet\n"
    '    reason: "lab hosts"\n'
    "    expires: 2026-06-30\n"
)


def test_waiver_applies_through_its_expiry_day_then_is_reported(tmp_path: Path) -> None:
    policy = _policy(tmp_path, WAIVERS)
    covered = finding("PF101", 2, path="hosts/mx1/main.cf", service="smtp/inet")
    other_service = covered.with_(service="submission/inet")
    other_file = covered.with_(path="labs/mx1/main.cf")

    def real(shown: str) -> str:
        return str(tmp_path / shown)

    on_last_day = datetime.date(2026, 6, 30)
    kept, waived = apply_waivers([covered, other_service, other_file], policy, real, on_last_day, ".pfcheck.yaml")
    assert kept == [other_service, other_file]
    assert [(s.kind, s.reason, s.source) for s in waived] == [("waiver", "lab hosts", ".pfcheck.yaml:3")]
    assert expired_waiver_findings(policy, ".pfcheck.yaml", on_last_day) == []

    day_after = datetime.date(2026, 7, 1)
    kept, waived = apply_waivers([covered], policy, real, day_after)
    assert kept == [covered] and waived == []
    (expired,) = expired_waiver_findings(policy, ".pfcheck.yaml", day_after)
    assert (expired.code, expired.path, expired.line, expired.column) == ("PF904", ".pfcheck.yaml", 3, 5)
    assert 'waiver for PF101 on "hosts/*/main.cf" service smtp/inet expired on 2026-06-30' in expired.message


# --------------------------------------------------------------------------------------------
# The hygiene rules are registered rules


def _registry() -> Any:
    from pfcheck.rules import RULES

    return RULES


def test_hygiene_rules_are_registered_with_the_documented_identity() -> None:
    rules = _registry()
    for code, (name, severity) in HYGIENE_RULES.items():
        module = rules[code]
        assert (module.NAME, module.SEVERITY, dict(module.OPTIONS)) == (name, severity, {})
        assert list(module.check(None, {})) == []
        doc = module.__doc__ or ""
        for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## References"):
            assert section in doc, (code, section)
        assert f"({code}, {name})" in doc.splitlines()[0]


def test_the_real_registry_resolves_names_in_directives() -> None:
    _registry()
    directive = parse_directives('# pfcheck: ignore[vrfy-enabled] reason="x"\na = 1\n', Path("main.cf"))[0]
    assert directive.codes == ("PF101",)


# --------------------------------------------------------------------------------------------
# Whole runs


VRFY_MAIN = "disable_vrfy_command = no\n"
SMTPD = "smtp inet n - n - - smtpd\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty git-root-like directory as the working directory (no outer policy is found)."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


#: Appended to every main.cf a test writes, so that only the rule under test fires (no
#: mynetworks from the host's subnets, relay restrictions of compatibility_level >= 1).
BASE_MAIN = ("compatibility_level = 3.6\nmynetworks = 127.0.0.0/8\n"
             # the SMTP smuggling defences and a quiet "User unknown" (PF702, PF704)
             "smtpd_forbid_bare_newline = normalize\nsmtpd_forbid_unauth_pipelining = yes\n"
             "show_user_unknown_table_name = no\n")


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        if name.endswith("main.cf"):
            text += BASE_MAIN
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]], str]:
    from pfcheck.cli import main

    code = main([*args, "--format", "json"])
    captured = capsys.readouterr()
    findings = json.loads(captured.out)["findings"] if captured.out.strip() else []
    return code, findings, captured.err


def summary(findings: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(f["code"], f["path"], f["line"]) for f in findings]


def test_unsuppressed_vrfy_fails(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"h/main.cf": VRFY_MAIN, "h/master.cf": SMTPD})
    code, findings, _ = run("h", capsys=capsys)
    assert code == 1 and summary(findings) == [("PF101", "h/main.cf", 1)]


def test_directive_suppresses_the_next_logical_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main_cf = (
        "# pfcheck: ignore[vrfy-enabled] reason=\"monitoring probes VRFY, OPS-7\"\n"
        "\n"
        "# disable_vrfy_command comes next\n"
        "disable_vrfy_command =\n"
        "    no\n"
    )
    write(repo, {"h/main.cf": main_cf, "h/master.cf": SMTPD})
    code, findings, _ = run("h", capsys=capsys)
    assert code == 0 and findings == []


def test_directive_for_another_line_is_unused_and_hides_nothing(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main_cf = '# pfcheck: ignore[PF101] reason="x"\nsmtpd_banner = $myhostname ESMTP\n' + VRFY_MAIN
    write(repo, {"h/main.cf": main_cf, "h/master.cf": SMTPD})
    code, findings, _ = run("h", capsys=capsys)
    assert code == 1
    assert summary(findings) == [("PF902", "h/main.cf", 1), ("PF101", "h/main.cf", 3)]
    assert findings[0]["severity"] == "warning"


def test_directive_without_reason_is_reported_and_does_not_suppress(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"h/main.cf": "# pfcheck: ignore[PF101]\n" + VRFY_MAIN, "h/master.cf": SMTPD})
    code, findings, _ = run("h", capsys=capsys)
    assert code == 1
    assert summary(findings) == [("PF901", "h/main.cf", 1), ("PF101", "h/main.cf", 2)]
    assert "missing reason" in findings[0]["message"]


def test_master_cf_directive_before_the_service_covers_its_options(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    master_cf = (
        "pickup unix n - y 60 1 pickup\n"
        '# pfcheck: ignore[PF101] reason="honeypot listener"\n'
        "smtp inet n - n - - smtpd\n"
        "  -o smtpd_banner=$myhostname\n"
        "  -o disable_vrfy_command=no\n"
    )
    write(repo, {"h/main.cf": "disable_vrfy_command = yes\n", "h/master.cf": master_cf})
    code, findings, _ = run("h", capsys=capsys)
    assert code == 0 and findings == []


def test_master_cf_directive_before_another_option_does_not_cover_this_one(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    master_cf = (
        "smtp inet n - n - - smtpd\n"
        '  # pfcheck: ignore[PF101] reason="x"\n'
        "  -o smtpd_banner=$myhostname\n"
        "  -o disable_vrfy_command=no\n"
    )
    write(repo, {"h/main.cf": "disable_vrfy_command = yes\n", "h/master.cf": master_cf})
    code, findings, _ = run("h", capsys=capsys)
    assert summary(findings) == [("PF902", "h/master.cf", 2), ("PF101", "h/master.cf", 4)]


def test_master_cf_directive_covers_a_default_value_reported_at_the_service(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # disable_vrfy_command is left at Postfix's default (no): PF101 points at the service line.
    master_cf = '# pfcheck: ignore[PF101] reason="lab"\n' + SMTPD
    write(repo, {"h/main.cf": "smtpd_banner = $myhostname\n", "h/master.cf": master_cf})
    code, findings, _ = run("h", capsys=capsys)
    assert code == 0 and findings == []


def test_ignore_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main_cf = '# honeypot\n# pfcheck: ignore-file[PF101] reason="honeypot host"\n\nsmtpd_banner = $myhostname\n' + VRFY_MAIN
    write(repo, {"h/main.cf": main_cf, "h/master.cf": SMTPD})
    code, findings, _ = run("h", capsys=capsys)
    assert code == 0 and findings == []


def test_policy_deny_forbids_inline_suppressions(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {
        ".pfcheck.yaml": "version: 1\nsuppressions: deny\n",
        "h/main.cf": '# pfcheck: ignore[PF101] reason="please"\n' + VRFY_MAIN,
        "h/master.cf": SMTPD,
    })
    code, findings, _ = run("h", capsys=capsys)
    assert code == 1
    assert summary(findings) == [("PF901", "h/main.cf", 1), ("PF101", "h/main.cf", 2)]
    assert "suppressions: deny" in findings[0]["message"]


def test_policy_can_raise_hygiene_severity(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {
        ".pfcheck.yaml": "version: 1\nrules:\n  unused-suppression: {severity: error}\n",
        "h/main.cf": '# pfcheck: ignore[PF101] reason="stale"\ndisable_vrfy_command = yes\n',
        "h/master.cf": SMTPD,
    })
    code, findings, _ = run("h", capsys=capsys)
    assert code == 1 and [(f["code"], f["severity"]) for f in findings] == [("PF902", "error")]


def test_directives_of_the_whole_directory_are_judged(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # pre-commit names only the changed file; the directory is judged as a unit, so the unused
    # directive in main.cf is reported whichever file was named.
    write(repo, {"h/main.cf": '# pfcheck: ignore[PF101] reason="x"\ndisable_vrfy_command = yes\n', "h/master.cf": SMTPD})
    for named in ("h/master.cf", "h/main.cf"):
        code, findings, _ = run(named, capsys=capsys)
        assert summary(findings) == [("PF902", "h/main.cf", 1)]


# --------------------------------------------------------------------------------------------
# Waivers in whole runs


def _waiver_policy(expires: Optional[str], service: str = "smtp/inet") -> str:
    lines = [
        "version: 1",
        "waivers:",
        "  - rule: vrfy-enabled",            # line 3
        "    path: hosts/*/main.cf",
        f"    service: {service}",
        '    reason: "VRFY probes from monitoring, OPS-9"',
    ]
    if expires:
        lines.append(f"    expires: {expires}")
    return "\n".join(lines) + "\n"


def test_active_waiver_drops_the_finding(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {".pfcheck.yaml": _waiver_policy("2999-12-31"), "hosts/mx1/main.cf": VRFY_MAIN, "hosts/mx1/master.cf": SMTPD})
    code, findings, _ = run("hosts", capsys=capsys)
    assert code == 0 and findings == []


def test_waiver_for_another_service_does_not_apply(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {".pfcheck.yaml": _waiver_policy(None, "submission/inet"),
                 "hosts/mx1/main.cf": VRFY_MAIN, "hosts/mx1/master.cf": SMTPD})
    code, findings, _ = run("hosts", capsys=capsys)
    assert code == 1 and summary(findings) == [("PF101", "hosts/mx1/main.cf", 1)]


def test_expired_waiver_is_reported_once_at_its_policy_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {
        ".pfcheck.yaml": _waiver_policy("2001-01-31"),
        "hosts/mx1/main.cf": VRFY_MAIN, "hosts/mx1/master.cf": SMTPD,
        "hosts/mx2/main.cf": VRFY_MAIN, "hosts/mx2/master.cf": SMTPD,
    })
    code, findings, _ = run("hosts", capsys=capsys)
    assert code == 1
    assert summary(findings) == [
        ("PF904", ".pfcheck.yaml", 3), ("PF101", "hosts/mx1/main.cf", 1), ("PF101", "hosts/mx2/main.cf", 1),
    ]
    assert findings[0]["severity"] == "warning" and "expired on 2001-01-31" in findings[0]["message"]


def test_waiver_expiry_uses_the_injected_date(repo: Path) -> None:
    from pfcheck.cli import _policy_lookup
    from pfcheck.engine.run import LintOptions, lint

    write(repo, {".pfcheck.yaml": _waiver_policy("2030-03-31"), "hosts/mx1/main.cf": VRFY_MAIN, "hosts/mx1/master.cf": SMTPD})

    def codes(today: datetime.date) -> list[str]:
        result = lint(["hosts"], LintOptions(today=today), _policy_lookup(None))
        return [f.code for f in result.findings]

    assert codes(datetime.date(2030, 3, 31)) == []
    assert codes(datetime.date(2030, 4, 1)) == ["PF904", "PF101"]
    result = lint(["hosts"], LintOptions(today=datetime.date(2030, 3, 31)), _policy_lookup(None))
    assert [(s.kind, s.finding.code, s.source) for s in result.suppressed] == [("waiver", "PF101", ".pfcheck.yaml:3")]


def test_inline_suppression_is_recorded_for_reports(repo: Path) -> None:
    from pfcheck.cli import _policy_lookup
    from pfcheck.engine.run import LintOptions, lint

    write(repo, {"h/main.cf": '# pfcheck: ignore[PF101] reason="lab"\n' + VRFY_MAIN, "h/master.cf": SMTPD})
    result = lint(["h"], LintOptions(), _policy_lookup(None))
    assert result.findings == []
    assert [(s.kind, s.finding.code, s.finding.line, s.reason, s.source) for s in result.suppressed] == [
        ("inline", "PF101", 2, "lab", "h/main.cf:1"),
    ]


def test_real_configs_hold_no_directives(corpus_dir: Path) -> None:
    """Comments in ~100 real main.cf/master.cf files are never mistaken for directives."""
    files = sorted(p for p in corpus_dir.glob("*/*.cf") if p.name in ("main.cf", "master.cf"))
    assert len(files) > 50
    for path in files:
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        assert directives(text, path.name) == [], path


def _with_directives(text: str) -> tuple[str, list[int]]:
    """`text` with a directive before every non-comment line (indented before continuation
    lines, so it sits inside the logical line); the new numbers of those lines."""
    out: list[str] = []
    targets: list[int] = []
    for raw in text.split("\n"):
        stripped = raw.lstrip(" \t")
        if stripped and not stripped.startswith("#"):
            indent = raw[: len(raw) - len(stripped)]
            out.append(f'{indent}# pfcheck: ignore[PF101] reason="inert for Postfix"')
            targets.append(len(out) + 1)
        out.append(raw)
    return "\n".join(out), targets


@pytest.mark.live
def test_directives_are_inert_for_real_postfix(corpus_dir: Path, tmp_path: Path) -> None:
    """A directive before any line, even between continuation lines, changes nothing Postfix
    reads (postconf -n, -Mf), and the directive covers the line that follows it."""
    from pfcheck.postfix.source import decode
    from tests.support.postfix_oracle import need_postconf, postconf

    need_postconf()
    compared = 0
    for source in sorted(corpus_dir.glob("*/master.cf")):
        decoded = [decode(source.parent / name, (source.parent / name).read_bytes()) for name in ("main.cf", "master.cf")]
        if not all(item.checkable for item in decoded):
            continue  # templates: nothing Postfix could read, and each postconf fatal costs 1 s
        texts = {item.path.name: item.text for item in decoded}
        directory = tmp_path / source.parent.name  # one path: postconf -n prints config_directory
        directory.mkdir()
        outputs = []
        for variant in ("plain", "directives"):
            for name, text in texts.items():
                if variant == "directives":
                    text, targets = _with_directives(text)
                    found = directives(text, name)
                    assert len(found) == len(targets)
                    assert all(d.valid and target in d.lines for d, target in zip(found, targets)), (source, name)
                (directory / name).write_bytes(text.encode("utf-8", "surrogateescape"))
            results = [postconf(directory, flag) for flag in ("-n", "-Mf")]
            outputs.append([(r.returncode, r.stdout) for r in results])
            if variant == "plain" and results[0].returncode != 0:
                break  # Postfix refuses the config; every further fatal costs 1 s
        if len(outputs) < 2:
            continue
        assert outputs[0] == outputs[1], source.parent.name
        compared += 1
    assert compared >= 30


def test_unused_waiver_is_reported_when_the_policy_is_judged_whole(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    safe = VRFY_MAIN.replace("disable_vrfy_command = no", "disable_vrfy_command = yes")
    assert safe != VRFY_MAIN
    write(repo, {".pfcheck.yaml": _waiver_policy(None), "hosts/mx1/main.cf": safe, "hosts/mx1/master.cf": SMTPD})
    # the policy's directory is named: every directory it governs was judged
    code, findings, _ = run(".", capsys=capsys)
    assert summary(findings) == [("PF908", ".pfcheck.yaml", 3)] and code == 0  # a warning
    assert 'waiver for PF101 on "hosts/*/main.cf" service smtp/inet matches no finding' in findings[0]["message"]
    # a run over one directory says nothing about waivers other directories may use
    code, findings, _ = run("hosts/mx1", capsys=capsys)
    assert findings == []
    # the waiver in use is not reported
    write(repo, {"hosts/mx1/main.cf": VRFY_MAIN})
    code, findings, _ = run(".", capsys=capsys)
    assert code == 0 and findings == []
