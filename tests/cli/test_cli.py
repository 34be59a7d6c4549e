"""The command line as users get it: `python -m pfcheck` in a subprocess.

Exit codes, the text and JSON formats, which files findings are reported in, the rules/explain/
show subcommands, policy errors, and bad input: never a traceback, at most one line on stderr.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The SMTP smuggling defences and a quiet "User unknown" (PF702, PF704) are part of a clean config.
SAFE_MAIN = ("compatibility_level = 3.6\ndisable_vrfy_command = yes\nmynetworks = 127.0.0.0/8\n"
             "smtpd_forbid_bare_newline = normalize\nsmtpd_forbid_unauth_pipelining = yes\nshow_user_unknown_table_name = no\n")
#: The first line after SAFE_MAIN.
AFTER_SAFE = SAFE_MAIN.count("\n") + 1
SAFE_MASTER = "smtp       inet  n  -  y  -  -  smtpd\n"
TEXT_LINE = re.compile(r"^(?P<path>[^:\n]+):(?P<line>\d+):(?P<column>\d+): (?P<code>PF\d{3}) (?P<name>[a-z-]+): (?P<message>.+)$")
SUMMARY_LINE = re.compile(r"^\d+ files?, \d+ findings?( \(.+\))?(, \d+ failing( \(.+\))?)?(, \d+ fixable with --fix)?$")
FINDING_KEYS = {"code", "name", "severity", "path", "line", "column", "service", "message", "witness"}


def run(args: Sequence[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "LANG": "C.UTF-8",
        "HOME": str(cwd),
    }
    return subprocess.run(
        [sys.executable, "-m", "pfcheck", *args], cwd=cwd, env=env, capture_output=True,
        text=True, errors="replace", timeout=timeout,
    )


def write(directory: Path, main: Optional[str] = SAFE_MAIN, master: Optional[str] = SAFE_MASTER, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if main is not None:
        (directory / "main.cf").write_text(main, encoding="utf-8")
    if master is not None:
        (directory / "master.cf").write_text(master, encoding="utf-8")
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) <= 1, f"more than one line on stderr:\n{result.stderr}"


def findings_json(result: subprocess.CompletedProcess[str]) -> list[dict]:
    return json.loads(result.stdout)["findings"]


# --------------------------------------------------------------------------------------------
# Exit codes and formats


def test_clean_exits_0(tmp_path: Path) -> None:
    write(tmp_path / "mx")
    result = run(["--policy", "builtin", "mx"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines() == ["2 files, 0 findings"]
    assert result.stderr == ""


def test_findings_exit_1_with_text_format(tmp_path: Path) -> None:
    write(tmp_path / "mx", main="compatibility_level = 3.6\nmynetworks = 0.0.0.0/0\n")
    result = run(["--policy", "builtin", "mx"], tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.strip().splitlines()
    assert SUMMARY_LINE.match(lines[-1]), lines[-1]
    parsed = [TEXT_LINE.match(line) for line in lines[:-1]]
    assert all(parsed), lines
    found = {(m["path"], m["line"], m["code"], m["name"]) for m in parsed if m}
    assert ("mx/main.cf", "2", "PF201", "mynetworks-outside-policy") in found
    assert ("mx/master.cf", "1", "PF101", "vrfy-enabled") in found
    assert lines[-1].startswith(f"2 files, {len(lines) - 1} findings (")


def test_warnings_do_not_fail_unless_asked(tmp_path: Path) -> None:
    write(tmp_path / "mx", main=SAFE_MAIN + "mynetworks = 127.0.0.0/8, [::1]/128\n")
    assert run(["--policy", "builtin", "mx"], tmp_path).returncode == 0
    strict = run(["--policy", "builtin", "--fail-on", "warning", "mx"], tmp_path)
    assert strict.returncode == 1
    assert "PF001 config-warning" in strict.stdout


def test_usage_error_exits_2(tmp_path: Path) -> None:
    result = run(["--no-such-option"], tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert result.stderr.startswith("pfcheck")


def test_json_format_fields(tmp_path: Path) -> None:
    write(tmp_path / "mx", main="compatibility_level = 3.6\nmynetworks = 127.0.0.0/8 0.0.0.0/0\ndisable_vrfy_command = yes\n")
    result = run(["--policy", "builtin", "--format", "json", "mx"], tmp_path)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"findings", "summary"}
    assert all(FINDING_KEYS <= set(finding) for finding in document["findings"])
    (finding,) = [f for f in document["findings"] if f["code"] == "PF201"]
    assert finding["code"] == "PF201" and finding["name"] == "mynetworks-outside-policy"
    assert finding["severity"] == "error"
    assert (finding["path"], finding["line"], finding["column"]) == ("mx/main.cf", 2, 14)
    assert finding["service"] == "smtp/inet"
    assert isinstance(finding["message"], str) and finding["message"]
    assert finding["witness"] == {"address": "1.0.0.1", "assumptions": [], "replayable": True}
    assert document["summary"]["files"] == 2
    assert document["summary"]["findings"] == len(document["findings"])


def test_json_clean_has_empty_findings(tmp_path: Path) -> None:
    write(tmp_path / "mx")
    result = run(["--policy", "builtin", "--format", "json", "mx"], tmp_path)
    assert result.returncode == 0
    document = json.loads(result.stdout)
    assert document["findings"] == [] and document["summary"]["findings"] == 0


# --------------------------------------------------------------------------------------------
# Which files findings are reported in

SPLIT_MAIN = ("compatibility_level = 3.6\nmynetworks = 127.0.0.0/8\nvrfy = yes\ndisable_vrfy_command = $vrfy\n"
              + SAFE_MAIN.split("mynetworks = 127.0.0.0/8\n", 1)[1])
SPLIT_MASTER = (
    "smtp       inet  n  -  y  -  -  smtpd -o vrfy=no\n"
    "submission inet  n  -  y  -  -  smtpd\n"
    "  -o disable_vrfy_command=no\n"
)


@pytest.mark.parametrize("named", ["mx/main.cf", "mx/master.cf", "mx"])
def test_any_file_of_a_directory_reports_the_whole_directory(named: str, tmp_path: Path) -> None:
    """The unit of judgment is the config directory: naming main.cf (pre-commit names only the
    changed file) reports the VRFY that master.cf's -o enables, and vice versa."""
    write(tmp_path / "mx", main=SPLIT_MAIN, master=SPLIT_MASTER)
    result = run(["--policy", "builtin", "--format", "json", named], tmp_path)
    found = sorted((f["path"], f["line"], f["code"], f["service"]) for f in findings_json(result))
    # smtp's -o vrfy=no (master.cf) turns main.cf's `disable_vrfy_command = $vrfy` into no.
    assert found == [("mx/main.cf", 4, "PF101", "smtp/inet"), ("mx/master.cf", 3, "PF101", "submission/inet")]
    assert result.returncode == 1


def test_naming_the_directory_reports_both(tmp_path: Path) -> None:
    write(tmp_path / "mx", main=SPLIT_MAIN, master=SPLIT_MASTER)
    result = run(["--policy", "builtin", "--format", "json", "mx"], tmp_path)
    found = sorted((f["path"], f["line"], f["code"]) for f in findings_json(result))
    assert found == [("mx/main.cf", 4, "PF101"), ("mx/master.cf", 3, "PF101")]


def test_directory_tree_is_searched(tmp_path: Path) -> None:
    write(tmp_path / "hosts" / "a")
    write(tmp_path / "hosts" / "b", main="compatibility_level = 3.6\n", master=None)
    result = run(["--policy", "builtin", "--format", "json", "hosts"], tmp_path)
    assert result.returncode == 1
    assert {(f["path"], f["code"]) for f in findings_json(result)} == {
        ("hosts/b/main.cf", "PF101"), ("hosts/b/main.cf", "PF702"), ("hosts/b/main.cf", "PF704")}
    assert json.loads(result.stdout)["summary"]["files"] == 3


# --------------------------------------------------------------------------------------------
# rules and explain


def test_rules_lists_every_rule(tmp_path: Path) -> None:
    from pfcheck.rules import RULES

    result = run(["rules"], tmp_path)
    assert result.returncode == 0
    codes = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert codes == list(RULES)
    assert re.search(r"^PF101\s+vrfy-enabled\s+error\s+\S", result.stdout, re.M)


@pytest.mark.parametrize("rule", ["PF201", "pf201", "mynetworks-outside-policy"])
def test_explain_by_code_or_name(rule: str, tmp_path: Path) -> None:
    result = run(["explain", rule], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# PF201 mynetworks-outside-policy")
    assert "## Why is this bad?" in result.stdout and "allowed" in result.stdout


def test_explain_vrfy_enabled(tmp_path: Path) -> None:
    result = run(["explain", "vrfy-enabled"], tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("# PF101 vrfy-enabled")


@pytest.mark.parametrize("typo, suggestion", [("vrfy-enable", "vrfy-enabled"), ("PF2O1", "PF201")])
def test_explain_unknown_rule_suggests(typo: str, suggestion: str, tmp_path: Path) -> None:
    result = run(["explain", typo], tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert f'unknown rule "{typo}"' in result.stderr
    assert f'did you mean "{suggestion}"' in result.stderr


# --------------------------------------------------------------------------------------------
# Policy errors: file:line:col, exit 2


def policy_error(tmp_path: Path, text: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    write(tmp_path / "mx")
    (tmp_path / "policy.yaml").write_text(text, encoding="utf-8")
    result = run(["--policy", "policy.yaml", "mx"], tmp_path, timeout=timeout)
    assert result.returncode == 2, result.stdout + result.stderr
    assert_no_traceback(result)
    assert result.stdout == ""
    return result


def test_policy_unknown_key_suggests(tmp_path: Path) -> None:
    result = policy_error(tmp_path, 'version: 1\npostfix_versoin: "3.7"\n')
    assert result.stderr.startswith("policy.yaml:2:1: ")
    assert 'unknown key "postfix_versoin"' in result.stderr
    assert 'did you mean "postfix_version"' in result.stderr


def test_policy_unknown_option_is_located(tmp_path: Path) -> None:
    result = policy_error(tmp_path, "version: 1\nrules:\n  PF201:\n    options:\n      alowed: []\n")
    assert result.stderr.startswith("policy.yaml:5:7: "), result.stderr
    assert 'did you mean "allowed"' in result.stderr


def test_policy_not_a_mapping(tmp_path: Path) -> None:
    result = policy_error(tmp_path, "- version\n- 1\n")
    assert re.match(r"policy\.yaml:1:1: ", result.stderr), result.stderr


def test_policy_alias_bomb_finishes(tmp_path: Path) -> None:
    lines = ['version: 1', 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 10):
        prior = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        lines.append(f"{name}: &{name} [" + ", ".join(f"*{prior}" for _ in range(10)) + "]")
    result = policy_error(tmp_path, "\n".join(lines) + "\n", timeout=120)
    assert re.match(r"policy\.yaml:\d+:\d+: ", result.stderr), result.stderr


def test_policy_file_missing(tmp_path: Path) -> None:
    write(tmp_path / "mx")
    result = run(["--policy", "nope.yaml", "mx"], tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "nope.yaml" in result.stderr


def test_nearest_policy_file_is_used(tmp_path: Path) -> None:
    write(tmp_path / "mx", main="compatibility_level = 3.6\ndisable_vrfy_command = yes\nmynetworks = 198.51.100.0/24\n")
    (tmp_path / ".git").mkdir()
    assert run(["mx"], tmp_path).returncode == 1
    (tmp_path / ".pfcheck.yaml").write_text(
        'version: 1\nrules:\n  PF201:\n    options:\n      allowed: ["198.51.100.0/24"]\n', encoding="utf-8")
    assert run(["mx"], tmp_path).returncode == 0


# --------------------------------------------------------------------------------------------
# Bad input: a finding or a one-line error, never a traceback


def lint_one(tmp_path: Path, data: bytes, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    directory = tmp_path / "mx"
    directory.mkdir()
    (directory / "main.cf").write_bytes(data)
    result = run(["--policy", "builtin", "--format", "json", "mx/main.cf"], tmp_path, timeout=timeout)
    assert_no_traceback(result)
    assert result.returncode in (0, 1), result.stderr
    return result


def codes_at(result: subprocess.CompletedProcess[str]) -> set[tuple[str, int]]:
    return {(f["code"], f["line"]) for f in findings_json(result)}


def test_binary_file(tmp_path: Path) -> None:
    result = lint_one(tmp_path, b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)))
    assert {f["code"] for f in findings_json(result)} == {"PF900"}


def test_non_utf8_bytes(tmp_path: Path) -> None:
    result = lint_one(tmp_path, SAFE_MAIN.encode() + b"smtpd_banner = $myhostname \xe9t\xe9\n")
    assert codes_at(result) == {("PF001", AFTER_SAFE)}
    # JSON stays ASCII; the message says which byte.
    assert "0xe9" in result.stdout


def test_crlf(tmp_path: Path) -> None:
    result = lint_one(tmp_path, SAFE_MAIN.replace("\n", "\r\n").encode())
    assert codes_at(result) == {("PF001", 1)}


def test_empty_file(tmp_path: Path) -> None:
    result = lint_one(tmp_path, b"")
    # An empty main.cf is a valid one: Postfix's defaults, at compatibility level 0.
    assert ("PF101", 1) in codes_at(result)


def test_ten_megabyte_mynetworks_line(tmp_path: Path) -> None:
    """850,000 addresses on one line. Nothing here is slow in Postfix (a linear scan per client)."""
    value = " ".join(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in range(850_000))
    data = f"compatibility_level = 3.6\ndisable_vrfy_command = yes\nmynetworks = {value}\n".encode()
    assert len(data) > 10_000_000
    try:
        result = lint_one(tmp_path, data, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("a 10 MB mynetworks line did not finish in 30 s (the relay evaluator matches "
                    "hundreds of probe addresses, each a linear scan of the list)")
    # pfcheck evaluates the first 20,000 patterns and says it cannot judge the rest (never "safe").
    assert result.returncode == 1, result.stdout[-2000:]
    assert "more than 20000 patterns" in result.stdout
    assert "Traceback" not in result.stderr


def test_ten_megabyte_line_without_newline(tmp_path: Path) -> None:
    result = lint_one(tmp_path, b"smtpd_banner = " + b"x" * 10_000_000, timeout=300)
    assert {f["code"] for f in findings_json(result)} >= {"PF101"}


def test_macro_recursion(tmp_path: Path) -> None:
    result = lint_one(tmp_path, (SAFE_MAIN + "smtpd_banner = $a\na = $b\nb = $a\n").encode())
    assert ("PF000", AFTER_SAFE) in codes_at(result)
    # No Postfix program expands a or b on their own (postconf -n and postmap are fine without
    # smtpd_banner): the failure is where smtpd reads it.
    assert not {("PF000", AFTER_SAFE + 1), ("PF000", AFTER_SAFE + 2)} & codes_at(result)


def test_macro_chain_deeper_than_100(tmp_path: Path) -> None:
    chain = "".join(f"p{i} = $p{i + 1}\n" for i in range(300))
    result = lint_one(tmp_path, (SAFE_MAIN + "smtpd_banner = $p0\n" + chain).encode())
    assert ("PF000", AFTER_SAFE) in codes_at(result)


def test_unterminated_macro(tmp_path: Path) -> None:
    result = lint_one(tmp_path, (SAFE_MAIN + "smtpd_banner = ${myhostname\n").encode())
    assert ("PF000", AFTER_SAFE) in codes_at(result)


def test_named_directory_called_main_cf(tmp_path: Path) -> None:
    (tmp_path / "mx" / "main.cf").mkdir(parents=True)
    result = run(["--policy", "builtin", "--format", "json", "mx/main.cf"], tmp_path)
    assert_no_traceback(result)
    assert [(f["code"], f["path"]) for f in findings_json(result)] == [("PF900", "mx/main.cf")]


def test_discovered_directory_called_main_cf(tmp_path: Path) -> None:
    """PF900 covers "a directory named like a config file" found while searching a tree."""
    (tmp_path / "mx" / "main.cf").mkdir(parents=True)
    result = run(["--policy", "builtin", "--format", "json", "mx"], tmp_path)
    assert_no_traceback(result)
    assert [(f["code"], f["path"]) for f in findings_json(result)] == [("PF900", "mx/main.cf")]


def test_dangling_symlink_main_cf(tmp_path: Path) -> None:
    (tmp_path / "mx").mkdir()
    # (inside the config directory: a dangling link that leaves it is refused unread,
    # tests/engine/test_hostile_files.py)
    (tmp_path / "mx" / "main.cf").symlink_to(tmp_path / "mx" / "gone" / "main.cf")
    result = run(["--policy", "builtin", "--format", "json", "mx/main.cf"], tmp_path)
    assert_no_traceback(result)
    assert result.returncode in (0, 1, 2)
    if result.returncode != 2:
        # Not an empty main.cf judged by the defaults: the file is not checked.
        # The path may be the link or its target; either way the file is not checked.
        assert [f["code"] for f in findings_json(result)] == ["PF900"]
        assert "no such file" in findings_json(result)[0]["message"]


def test_dangling_symlink_master_cf_is_not_replaced_by_the_default(tmp_path: Path) -> None:
    write(tmp_path / "mx", master=None)
    (tmp_path / "mx" / "master.cf").symlink_to(tmp_path / "mx" / "gone" / "master.cf")
    result = run(["--policy", "builtin", "--format", "json", "mx"], tmp_path)
    assert_no_traceback(result)
    assert [f["code"] for f in findings_json(result)] == ["PF900"]


def test_nonexistent_path_exits_2(tmp_path: Path) -> None:
    result = run(["--policy", "builtin", "no/such/dir"], tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "no/such/dir" in result.stderr


@pytest.mark.parametrize("version", ["9.9", "3", "latest"])
def test_unsupported_postfix_version_exits_2(version: str, tmp_path: Path) -> None:
    write(tmp_path / "mx")
    result = run(["--policy", "builtin", "--postfix-version", version, "mx"], tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert "--postfix-version" in result.stderr


def test_supported_postfix_version(tmp_path: Path) -> None:
    write(tmp_path / "mx")
    assert run(["--policy", "builtin", "--postfix-version", "3.6", "mx"], tmp_path).returncode == 0


# --------------------------------------------------------------------------------------------
# show


def test_show_text(tmp_path: Path) -> None:
    write(tmp_path / "mx", master=SAFE_MASTER + "submission inet n - y - - smtpd -o disable_vrfy_command=no\n")
    result = run(["show", "mx", "--policy", "builtin"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# mx (Postfix 3.7 defaults)")
    assert re.search(r"^## submission/inet\s+command=smtpd\s+master\.cf:2$", result.stdout, re.M)
    assert re.search(r"^\s+disable_vrfy_command\s+= no\s+# master\.cf:2$", result.stdout, re.M)
    assert re.search(r"^\s+disable_vrfy_command\s+= yes\s+# main\.cf:2$", result.stdout, re.M)


def test_show_json(tmp_path: Path) -> None:
    write(tmp_path / "mx", master=SAFE_MASTER + "submission inet n - y - - smtpd -o disable_vrfy_command=no\n")
    result = run(["show", "mx", "--format", "json", "--policy", "builtin"], tmp_path)
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    effective = model["effective"]
    assert effective["smtp/inet"]["disable_vrfy_command"] == {"value": "yes", "origin": "main.cf:2"}
    assert effective["submission/inet"]["disable_vrfy_command"] == {"value": "no", "origin": "master.cf:2"}
    assert effective["smtp/inet"]["inet_interfaces"] == {"value": "all", "origin": "default"}
    assert model["listeners"]["submission/inet"]["remote"] is True


def test_show_without_master_cf_says_so(tmp_path: Path) -> None:
    write(tmp_path / "mx", master=None)
    result = run(["show", "mx", "--policy", "builtin"], tmp_path)
    assert result.returncode == 0
    assert "assumed Postfix package default" in result.stdout


def test_show_missing_directory_exits_2(tmp_path: Path) -> None:
    result = run(["show", "nowhere"], tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
