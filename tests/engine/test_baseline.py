"""Baselines: the file format and matching as unit tests, then `--write-baseline` / `--baseline`
round trips through `pfcheck.cli.main` on real files (PF101 vrfy-enabled, PF902 for duplicates)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pfcheck.engine.baseline import Baseline, BaselineError, BaselineWriter, parse_baseline, render_baseline
from pfcheck.engine.identity import BaselineKey, value_digest
from pfcheck.engine.identity import baseline_key as key_for
from pfcheck.findings import Finding, Severity


def finding(path: str = "hosts/mx1/main.cf", line: int = 3, actual: str = "no", **details: Any) -> Finding:
    values: dict[str, Any] = {"parameter": "disable_vrfy_command", "service": "smtp/inet"}
    values.update(details)
    return Finding(code="PF101", name="vrfy-enabled", severity=Severity.ERROR, path=path, line=line,
                   column=1, message=f"at line {line}", actual=actual, **values)


# --------------------------------------------------------------------------------------------
# Keys and the file format


def test_key_is_relative_to_the_baseline_directory_and_has_no_line(tmp_path: Path) -> None:
    key = key_for(finding("repo/hosts/mx1/main.cf", line=3), tmp_path / "repo", tmp_path)
    assert key == BaselineKey("hosts/mx1/main.cf", "PF101", "disable_vrfy_command", "smtp/inet", value_digest("no"))
    assert key_for(finding("repo/hosts/mx1/main.cf", line=99), tmp_path / "repo", tmp_path) == key
    # From a baseline kept in a subdirectory the path climbs out with "../", still with "/".
    assert key_for(finding("repo/hosts/mx1/main.cf"), tmp_path / "repo" / "ci", tmp_path).path == "../hosts/mx1/main.cf"


def test_value_digest_distinguishes_values() -> None:
    assert value_digest(None) is None
    assert value_digest("no") == "9390298f3fb0c5b160498935d79cb139aef28e1c47358b4bbba61862b9c26e59"
    assert value_digest("no") != value_digest("no ")


def test_render_is_sorted_one_entry_per_line_and_parses_back() -> None:
    keys = [
        BaselineKey("b/main.cf", "PF101", "disable_vrfy_command", "smtp/inet", "ab"),
        BaselineKey("a/main.cf", "PF902", None, None, "cd"),
        BaselineKey("a/main.cf", "PF902", None, None, "cd"),
    ]
    text = render_baseline(keys, "pfcheck 9.9")
    lines = text.splitlines()
    assert lines[:4] == ["{", '  "version": 1,', '  "generated_by": "pfcheck 9.9",', '  "findings": [']
    assert lines[4] == '    {"path": "a/main.cf", "rule": "PF902", "value_sha256": "cd"},'
    assert lines[6].startswith('    {"path": "b/main.cf", "rule": "PF101", "parameter": "disable_vrfy_command"')
    entries, entry_lines = parse_baseline(text)
    assert entries == sorted(keys, key=BaselineKey.sort_key) and entry_lines == [5, 6, 7]
    assert json.loads(render_baseline([])) == {"version": 1, "findings": []}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "a baseline is a JSON object"),
        ('{"version": 2, "findings": []}', "unsupported baseline version 2"),
        ('{"version": 1}', '"findings" must be a list'),
        ('{"version": 1, "findings": [], "extra": 1}', 'unknown key "extra"'),
        ('{"version": 1, "findings": [{"path": "a", "rule": "PF101", "line": 3}]}', 'findings[0]: unknown key "line"'),
        ('{"version": 1, "findings": [{"rule": "PF101"}]}', '"path" must be a non-empty string'),
        ('{"version": 1, "findings": [{"path": "/etc/postfix/main.cf", "rule": "PF101"}]}', "must be relative"),
        ('{"version": 1, "findings": [{"path": "a\\\\main.cf", "rule": "PF101"}]}', 'with "/"'),
        ('{"version": 1, "findings": [{"path": "a", "rule": "PF101", "service": 3}]}', '"service" must be a string'),
    ],
)
def test_malformed_baselines_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(BaselineError) as raised:
        parse_baseline(text, "b.json")
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert str(raised.value).startswith("b.json")


def test_missing_baseline_file(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="baseline file not found"):
        Baseline.load(tmp_path / "nope.json")


# --------------------------------------------------------------------------------------------
# Matching


def _baseline(tmp_path: Path, keys: list[BaselineKey]) -> Baseline:
    path = tmp_path / "baseline.json"
    path.write_text(render_baseline(keys), encoding="utf-8")
    return Baseline.load(path, cwd=tmp_path, display="baseline.json")


def test_matching_is_a_multiset_and_ignores_lines(tmp_path: Path) -> None:
    (tmp_path / "hosts" / "mx1").mkdir(parents=True)
    (tmp_path / "hosts" / "mx1" / "main.cf").write_text("")
    key = key_for(finding(), tmp_path, tmp_path)
    baseline = _baseline(tmp_path, [key, key])
    kept, baselined = baseline.filter([finding(line=1), finding(line=50), finding(line=7)])
    assert [f.line for f in kept] == [7]
    assert [(s.kind, s.finding.line, s.source) for s in baselined] == [("baseline", 1, "baseline.json"), ("baseline", 50, "baseline.json")]
    assert baseline.finish(["hosts/mx1/main.cf"]) == []


def test_a_changed_value_or_listener_is_not_baselined(tmp_path: Path) -> None:
    baseline = _baseline(tmp_path, [key_for(finding(), tmp_path, tmp_path)])
    kept, _ = baseline.filter([finding(actual="No"), finding(service="submission/inet"), finding(path="hosts/mx2/main.cf")])
    assert len(kept) == 3


def test_stale_entries_only_for_checked_or_vanished_files(tmp_path: Path) -> None:
    for name in ("mx1", "mx2"):
        (tmp_path / "hosts" / name).mkdir(parents=True)
        (tmp_path / "hosts" / name / "main.cf").write_text("")
    keys = [
        key_for(finding("hosts/mx1/main.cf"), tmp_path, tmp_path),
        key_for(finding("hosts/mx1/main.cf"), tmp_path, tmp_path),
        key_for(finding("hosts/mx2/main.cf"), tmp_path, tmp_path),
        key_for(finding("hosts/gone/main.cf"), tmp_path, tmp_path),
    ]
    baseline = _baseline(tmp_path, keys)
    baseline.filter([finding("hosts/mx1/main.cf")])
    stale = baseline.finish(["hosts/mx1/main.cf"])
    # Sorted entries: gone (line 4), mx1 (5, 6), mx2 (7). The first mx1 entry matched, the
    # second is left (multiset); mx2 was not checked; "gone" no longer exists.
    assert [(f.code, f.path, f.line, f.severity) for f in stale] == [
        ("PF903", "baseline.json", 4, Severity.INFO), ("PF903", "baseline.json", 6, Severity.INFO),
    ]
    assert "no PF101 disable_vrfy_command in smtp/inet finding in hosts/gone/main.cf any more (the file is gone)" in stale[0].message
    assert "hosts/mx1/main.cf" in stale[1].message


def test_writer_keeps_entries_of_unchecked_existing_files(tmp_path: Path) -> None:
    for name in ("mx1", "mx2"):
        (tmp_path / "hosts" / name).mkdir(parents=True)
        (tmp_path / "hosts" / name / "main.cf").write_text("")
    path = tmp_path / "baseline.json"
    old = [
        key_for(finding("hosts/mx1/main.cf", actual="old"), tmp_path, tmp_path),
        key_for(finding("hosts/mx2/main.cf"), tmp_path, tmp_path),
        key_for(finding("hosts/gone/main.cf"), tmp_path, tmp_path),
    ]
    path.write_text(render_baseline(old))
    writer = BaselineWriter(path, cwd=tmp_path)
    kept, recorded = writer.filter([finding("hosts/mx1/main.cf")])
    assert kept == [] and len(recorded) == 1
    assert writer.finish(["hosts/mx1/main.cf"]) == [] and writer.written == 2
    entries, _ = parse_baseline(path.read_text())
    assert [(e.path, e.value_sha256) for e in entries] == [
        ("hosts/mx1/main.cf", value_digest("no")), ("hosts/mx2/main.cf", value_digest("no")),
    ]


# --------------------------------------------------------------------------------------------
# Whole runs


VRFY_MAIN = "disable_vrfy_command = no\n"
SMTPD = "smtp inet n - n - - smtpd\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    monkeypatch.chdir(root)
    return root


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


def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[tuple[str, str, int]], str]:
    from pfcheck.cli import main

    code = main([*args, "--format", "json"])
    captured = capsys.readouterr()
    findings = json.loads(captured.out)["findings"] if captured.out.strip() else []
    return code, [(f["code"], f["path"], f["line"]) for f in findings], captured.err


def test_round_trip_and_line_independence(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"hosts/mx1/main.cf": VRFY_MAIN, "hosts/mx1/master.cf": SMTPD})
    code, findings, err = run("hosts", "--write-baseline", ".pfcheck-baseline.json", capsys=capsys)
    assert code == 0 and findings == []
    assert "wrote 1 baseline entries to .pfcheck-baseline.json" in err
    data = json.loads((repo / ".pfcheck-baseline.json").read_text())
    assert data["findings"] == [{
        "path": "hosts/mx1/main.cf", "rule": "PF101", "parameter": "disable_vrfy_command",
        "service": "smtp/inet", "value_sha256": value_digest("no"),
    }]
    assert "line" not in json.dumps(data)

    assert run("hosts", "--baseline", ".pfcheck-baseline.json", capsys=capsys)[:2] == (0, [])
    # Lines inserted above: the finding moves to line 4 and stays baselined.
    write(repo, {"hosts/mx1/main.cf": "# VRFY\nsmtpd_banner = $myhostname ESMTP\n\n" + VRFY_MAIN})
    assert run("hosts", "--baseline", ".pfcheck-baseline.json", capsys=capsys)[:2] == (0, [])
    # A second listener is a new finding and fails the run.
    write(repo, {"hosts/mx1/master.cf": SMTPD + "submission inet n - n - - smtpd\n"})
    code, findings, _ = run("hosts", "--baseline", ".pfcheck-baseline.json", capsys=capsys)
    assert code == 1 and findings == [("PF101", "hosts/mx1/main.cf", 4)]


def test_baseline_paths_do_not_depend_on_the_working_directory(repo: Path, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, {"hosts/mx1/main.cf": VRFY_MAIN, "hosts/mx1/master.cf": SMTPD})
    monkeypatch.chdir(repo / "hosts")
    assert run("mx1", "--write-baseline", "../ci/baseline.json", capsys=capsys)[0] == 0
    entries, _ = parse_baseline((repo / "ci" / "baseline.json").read_text())
    assert [e.path for e in entries] == ["../hosts/mx1/main.cf"]
    monkeypatch.chdir(repo)
    assert run("hosts/mx1/main.cf", "--baseline", "ci/baseline.json", capsys=capsys)[:2] == (0, [])
    monkeypatch.chdir(repo / "hosts" / "mx1")
    assert run(".", "--baseline", str(repo / "ci" / "baseline.json"), capsys=capsys)[:2] == (0, [])


def test_stale_entry_is_reported_as_info_and_does_not_fail(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"hosts/mx1/main.cf": VRFY_MAIN, "hosts/mx1/master.cf": SMTPD})
    run("hosts", "--write-baseline", "baseline.json", capsys=capsys)
    write(repo, {"hosts/mx1/main.cf": "disable_vrfy_command = yes\n"})
    code, findings, _ = run("hosts", "--baseline", "baseline.json", capsys=capsys)
    assert code == 0 and findings == [("PF903", "baseline.json", 5)]  # after "generated_by"
    assert run("hosts", "--baseline", "baseline.json", "--fail-on", "info", capsys=capsys)[0] == 1
    # Only master.cf named (pre-commit): the directory is judged as a unit, so main.cf's
    # entry is stale too.
    assert run("hosts/mx1/master.cf", "--baseline", "baseline.json", capsys=capsys)[:2] == (
        0, [("PF903", "baseline.json", 5)])


def test_duplicate_findings_need_duplicate_entries(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Real parameter names as filler: an unknown name would be PF002.
    unused = '# pfcheck: ignore[PF101] reason="old"\n'
    write(repo, {"h/main.cf": unused + "biff = no\n" + unused + "mail_name = b\n", "h/master.cf": "pickup unix n - y 60 1 pickup\n"})
    assert run("h", capsys=capsys)[1] == [("PF902", "h/main.cf", 1), ("PF902", "h/main.cf", 3)]
    run("h", "--write-baseline", "baseline.json", capsys=capsys)
    entries, _ = parse_baseline((repo / "baseline.json").read_text())
    assert len(entries) == 2 and entries[0] == entries[1]
    write(repo, {"h/main.cf": unused + "biff = no\n" + unused + "mail_name = b\n" + unused + "smtpd_banner = c\n"})
    code, findings, _ = run("h", "--baseline", "baseline.json", capsys=capsys)
    assert code == 0 and findings == [("PF902", "h/main.cf", 5)]


def test_baseline_applies_after_suppressions(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"h/main.cf": '# pfcheck: ignore[PF101] reason="lab"\n' + VRFY_MAIN, "h/master.cf": SMTPD})
    run("h", "--write-baseline", "baseline.json", capsys=capsys)
    assert json.loads((repo / "baseline.json").read_text())["findings"] == []


def test_baseline_usage_errors_exit_2(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pfcheck.cli import main

    write(repo, {"h/main.cf": VRFY_MAIN, "h/master.cf": SMTPD, "bad.json": '{"version": 1, "findings": 3}'})
    assert main(["h", "--baseline", "missing.json"]) == 2
    assert capsys.readouterr().err.strip() == (
        "pfcheck: missing.json: baseline file not found (create it with --write-baseline missing.json)"
    )
    assert main(["h", "--baseline", "bad.json"]) == 2
    assert capsys.readouterr().err.strip() == 'pfcheck: bad.json: "findings" must be a list'
    assert main(["h", "--baseline", "bad.json", "--write-baseline", "new.json"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
