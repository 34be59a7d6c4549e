"""Hostile template-looking input: judged on what Postfix itself reads (issue 13).

Each case runs the CLI on real files in a temporary directory and, where Postfix decides,
asks real postconf the same question. A comment line is never a template; control flow is
PF900 (not checked); value placeholders are judged literally and reported as PF906; a NUL byte
is read as Postfix 3.7's readllines() reads it; an unbalanced `{` in master.cf is read as
postconf reads it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pfcheck.postfix.lines import collapse_space
from tests.support.postfix_oracle import parse_postconf_lines, postconf
from tests.cli.test_cli import SAFE_MASTER, assert_no_traceback, run

CLEAN = "compatibility_level = 3.6\ndisable_vrfy_command = yes\n"
OPEN_RELAY = "mynetworks = 0.0.0.0/0\n"


def write_bytes(directory: Path, main: bytes, master: bytes = SAFE_MASTER.encode()) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.cf").write_bytes(main)
    (directory / "master.cf").write_bytes(master)
    return directory


#: Rules that fire on Postfix 3.7's own defaults (SMTP smuggling defences off, "User unknown in
#: local recipient table"): not what these cases are about, and never failing (warning, info).
DEFAULT_FINDINGS = frozenset({"PF702", "PF704"})


def lint(directory: Path) -> tuple[int, list[dict[str, Any]]]:
    result = run(["--policy", "builtin", "--format", "json", directory.name], directory.parent)
    assert_no_traceback(result)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    findings = json.loads(result.stdout)["findings"]
    return result.returncode, [f for f in findings if f["code"] not in DEFAULT_FINDINGS]


def show(directory: Path) -> dict[str, Any]:
    result = run(["show", "--policy", "builtin", "--format", "json", directory.name], directory.parent)
    assert_no_traceback(result)
    return json.loads(result.stdout)


def codes(findings: list[dict[str, Any]]) -> set[str]:
    return {finding["code"] for finding in findings}


def assert_main_values_agree(directory: Path) -> dict[str, str]:
    """pfcheck show's main.cf values equal postconf -n's (postconf reads the file the same way)."""
    answer = postconf(directory, "-n")
    assert answer.returncode == 0, answer.stderr
    expected = parse_postconf_lines(answer.stdout)
    expected.pop("config_directory", None)
    mine = {name: collapse_space(item["value"]) for name, item in show(directory)["main"].items()}
    assert mine == expected
    return expected


# --- what Postfix ignores never makes a template -------------------------------------------

def test_template_syntax_in_comments_does_not_hide_an_open_relay(tmp_path: Path) -> None:
    main = ("# {{ ansible_managed }}\n  # {% if relay %} <% x %> @@NAME@@ ${UPPER} %{name}\n"
            + CLEAN + OPEN_RELAY)
    directory = write_bytes(tmp_path / "mx", main.encode())
    status, findings = lint(directory)
    assert status == 1
    assert "PF301" in codes(findings) and not codes(findings) & {"PF900", "PF906"}
    assert assert_main_values_agree(directory)["mynetworks"] == "0.0.0.0/0"


def test_hash_after_a_value_is_no_comment(tmp_path: Path) -> None:
    directory = write_bytes(tmp_path / "mx", (CLEAN + "smtpd_banner = $myhostname ESMTP # {{ x }}\n").encode())
    _, findings = lint(directory)
    assert [(f["code"], f["line"]) for f in findings] == [("PF906", 3)]
    # postconf -n keeps "# {{ x }}" in the value: the text is the value, not a comment.
    assert assert_main_values_agree(directory)["smtpd_banner"] == "$myhostname ESMTP # {{ x }}"


# --- control flow: the whole file is a template --------------------------------------------

@pytest.mark.parametrize("marker, language", [
    ("{% if relay %}", "Jinja2"),
    ("{# managed #}", "Jinja2"),
    ("<% if @relay -%>", "ERB"),
    ("{{ if .RELAY }}", "Go text/template"),
    ("{{#relay}}", "Mustache"),
    ("{{ extra_settings }}", "Jinja2"),  # a whole line: stands for lines, not a value
    ("%{dovecot_enabled}smtpd_sasl_auth_enable = yes", "installer"),
])
def test_control_flow_is_one_not_checked_finding(tmp_path: Path, marker: str, language: str) -> None:
    directory = write_bytes(tmp_path / "mx", (CLEAN + OPEN_RELAY + marker + "\nrelayhost = [x]\n").encode())
    status, findings = lint(directory)
    assert status == 1
    assert [(f["code"], f["line"], f["column"]) for f in findings] == [("PF900", 4, 1)]
    assert language in findings[0]["message"]


# --- value placeholders: judged as Postfix reads them --------------------------------------

def test_placeholder_is_reported_and_the_rest_is_judged(tmp_path: Path) -> None:
    directory = write_bytes(tmp_path / "mx", (CLEAN + "smtpd_banner = {{ banner }}\n" + OPEN_RELAY).encode())
    status, findings = lint(directory)
    assert status == 1
    pf906 = [f for f in findings if f["code"] == "PF906"]
    assert [(f["line"], f["column"]) for f in pf906] == [(3, 16)]
    assert pf906[0]["message"] == (
        "smtpd_banner holds a Jinja2 placeholder '{{ banner }}'; judged as Postfix reads it literally "
        "(render the template, or list the file under the policy's exclude:)")
    assert {"PF301", "PF201"} <= codes(findings)
    assert assert_main_values_agree(directory)["smtpd_banner"] == "{{ banner }}"


def test_placeholder_alone_fails_the_run(tmp_path: Path) -> None:
    directory = write_bytes(tmp_path / "mx", (CLEAN + "smtpd_banner = @@DISTRO@@ ESMTP\n").encode())
    status, findings = lint(directory)
    findings = [f for f in findings if f["code"] != "PF412"]  # no $myhostname first: PF412, not the subject here
    assert status == 1 and [f["code"] for f in findings] == ["PF906"]
    assert findings[0]["severity"] == "error"


def test_envsubst_is_an_undefined_parameter_as_postconf_says(tmp_path: Path) -> None:
    directory = write_bytes(tmp_path / "mx", (CLEAN + "smtpd_banner = ${BANNER} ESMTP\n").encode())
    _, findings = lint(directory)
    findings = [f for f in findings if f["code"] != "PF412"]  # no $myhostname first: PF412, not the subject here
    (finding,) = findings
    assert finding["code"] == "PF906"
    answer = postconf(directory, "-xh", "smtpd_banner")
    assert answer.returncode == 0
    assert "undefined parameter: BANNER" in answer.stderr and "undefined parameter: BANNER" in finding["message"]
    # The value pfcheck judges is the one Postfix expands: the empty string, then " ESMTP".
    assert show(directory)["main"]["smtpd_banner"]["expanded"].strip() == answer.stdout.strip() == "ESMTP"


def test_percent_s_is_postfix_text(tmp_path: Path) -> None:
    directory = write_bytes(tmp_path / "mx", (CLEAN + "smtpd_reject_footer = call us, %s\n").encode())
    status, findings = lint(directory)
    assert (status, findings) == (0, [])
    assert assert_main_values_agree(directory)["smtpd_reject_footer"] == "call us, %s"


def test_master_cf_placeholder_names_the_service(tmp_path: Path) -> None:
    master = SAFE_MASTER + "submission inet n - y - - smtpd\n  -o syslog_name={{ name }}\n"
    directory = write_bytes(tmp_path / "mx", CLEAN.encode(), master.encode())
    _, findings = lint(directory)
    (finding,) = findings
    assert (finding["code"], finding["line"], finding["service"]) == ("PF906", 3, "submission/inet")
    answer = postconf(directory, "-P")
    assert "submission/inet/syslog_name = {{ name }}" in answer.stdout


def test_a_generated_template_gives_bounded_findings(tmp_path: Path) -> None:
    lines = "".join(f"p{index}_smtpd_banner = {{{{ v{index} }}}}\n" for index in range(5000))
    directory = write_bytes(tmp_path / "mx", (CLEAN + lines).encode())
    started = time.monotonic()
    _, findings = lint(directory)
    pf906 = [f for f in findings if f["code"] == "PF906"]
    assert len(pf906) == 1001
    assert sum("4000 more lines" in f["message"] for f in pf906) == 1
    assert time.monotonic() - started < 30  # a sanity bound, not a speed target


# --- NUL bytes: Postfix's reading ----------------------------------------------------------

def test_nul_in_a_comment_does_not_stop_judgement(tmp_path: Path) -> None:
    directory = write_bytes(tmp_path / "mx", b"# notes \x00 {{ x }}\n" + (CLEAN + OPEN_RELAY).encode())
    status, findings = lint(directory)
    assert status == 1 and "PF301" in codes(findings) and "PF900" not in codes(findings)
    assert assert_main_values_agree(directory)["mynetworks"] == "0.0.0.0/0"


def test_nul_in_a_value_ends_the_logical_line(tmp_path: Path) -> None:
    main = CLEAN.encode() + b"mynetworks = 127.0.0.0/8\x00 0.0.0.0/0\n  10.0.0.0/8\nmyhostname = mx.example.com\n"
    directory = write_bytes(tmp_path / "mx", main)
    _, findings = lint(directory)
    nul = [f for f in findings if f["code"] == "PF001"]
    assert [(f["line"], f["column"]) for f in nul] == [(3, 25)] and "NUL" in nul[0]["message"]
    assert "PF301" not in codes(findings) and "PF201" not in codes(findings)
    values = assert_main_values_agree(directory)
    assert values["mynetworks"] == "127.0.0.0/8" and values["myhostname"] == "mx.example.com"


@pytest.mark.parametrize("which", ["main.cf", "master.cf"])
def test_nul_starting_a_logical_line_is_postconfs_fatal(tmp_path: Path, which: str) -> None:
    main, master = CLEAN.encode(), SAFE_MASTER.encode()
    if which == "main.cf":
        main += b"\x00mynetworks = 0.0.0.0/0\n"
    else:
        master += b"\x00submission inet n - y - - smtpd\n"
    directory = write_bytes(tmp_path / "mx", main, master)
    _, findings = lint(directory)
    fatal = [(f["path"], f["line"]) for f in findings if f["code"] == "PF000"]
    line = 3 if which == "main.cf" else 2
    assert fatal == [(f"mx/{which}", line)]
    answer = postconf(directory, "-M" if which == "master.cf" else "-n")
    assert answer.returncode != 0 and f"line {line}" in answer.stderr
    expected = "missing attribute name" if which == "main.cf" else "bad field count"
    assert expected in answer.stderr
    assert expected in next(f["message"] for f in findings if f["code"] == "PF000")


@pytest.mark.parametrize("data", [
    b"compatibility_level = 3.6\n" + b"\x00" * 9,
    b"\x00GITCRYPT\x00\x9a\xf3\x01\xff",
])
def test_binary_data_is_not_checked(tmp_path: Path, data: bytes) -> None:
    directory = write_bytes(tmp_path / "mx", data)
    status, findings = lint(directory)
    assert status == 1
    assert [(f["code"], f["path"]) for f in findings] == [("PF900", "mx/main.cf")]
    assert "binary data" in findings[0]["message"]


# --- master.cf: an unbalanced `{` ----------------------------------------------------------

def test_missing_brace_keeps_the_services_other_overrides(tmp_path: Path) -> None:
    master = ("smtp inet n - y - - smtpd -o mynetworks=0.0.0.0/0\n"
              "  -o { smtpd_banner = $myhostname ESMTP\n")
    directory = write_bytes(tmp_path / "mx", CLEAN.encode(), master.encode())
    _, findings = lint(directory)
    answer = postconf(directory, "-P")
    assert answer.returncode == 0
    warning = "missing '}' in \"{ smtpd_banner = $myhostname ESMTP\""
    assert warning in answer.stderr
    (fatal,) = [f for f in findings if f["code"] == "PF000"]
    assert (fatal["line"], fatal["column"]) == (2, 6)
    assert fatal["message"].startswith(warning) and "master exits" in fatal["message"]
    # The overrides are the ones postconf -P shows, and the service is judged with them.
    shown = {name: item["value"] for name, item in show(directory)["services"][0]["overrides"].items()}
    expected = parse_postconf_lines(answer.stdout)
    assert {f"smtp/inet/{name}": collapse_space(value) for name, value in shown.items()} == expected
    assert "PF301" in codes(findings)


def test_deeply_nested_braces_in_a_judged_value_are_bounded(tmp_path: Path) -> None:
    """Once placeholders are judged, `{{`-rich values reach the whole analysis: a value of
    100,000 unbalanced `{` must give findings, not a RecursionError or an O(n^2) scan."""
    main = CLEAN + "smtpd_banner = " + "{{ " * 100_000 + "\n"
    directory = write_bytes(tmp_path / "mx", main.encode())
    status, findings = lint(directory)
    assert status in (0, 1)
    assert all(f["line"] in (1, 2, 3) for f in findings)


def test_envsubst_in_master_cf_is_postconfs_undefined_parameter(tmp_path: Path) -> None:
    master = "smtp inet n - y - - smtpd -o smtpd_banner=${BANNER}ESMTP\n"
    directory = write_bytes(tmp_path / "mx", CLEAN.encode(), master.encode())
    _, findings = lint(directory)
    findings = [f for f in findings if f["code"] != "PF412"]  # no $myhostname first: PF412, not the subject here
    (finding,) = findings
    assert (finding["code"], finding["service"], finding["column"]) == ("PF906", "smtp/inet", 43)
    answer = postconf(directory, "-P")
    assert "undefined parameter: BANNER" in answer.stderr and "undefined parameter: BANNER" in finding["message"]
