"""Fail closed, with reviewable assumptions (issue #8).

Unverifiable input fails the run (PF900, PF302 are errors by default); an `assume:` entry in
the policy states what an unseen table or policy service can answer, the relay evaluator
branches over exactly those answers, and every verdict that rests on one says so (PF301,
PF305); an assumption nothing uses is PF905.
"""
from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import SAFE_MASTER, run, write

MYSQL_MAIN = (
    "compatibility_level = 3.6\n"
    "disable_vrfy_command = yes\n"
    "mynetworks = 127.0.0.0/8\n"
    "smtpd_relay_restrictions = permit_mynetworks,\n"
    "    check_client_access mysql:/etc/postfix/sql/clients.cf, reject_unauth_destination\n"
)


def codes(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [finding["code"] for finding in json.loads(result.stdout)["findings"]]


def test_relay_unproven_fails_the_run_by_default(tmp_path: Path) -> None:
    write(tmp_path / "mx", main=MYSQL_MAIN)
    result = run(["--policy", "builtin", "--format", "json", "mx"], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert [(f["code"], f["severity"]) for f in findings] == [("PF302", "error")]


def test_template_fails_the_run_by_default(tmp_path: Path) -> None:
    write(tmp_path / "mx", main="mynetworks = {{ nets }}\n", master=SAFE_MASTER)
    result = run(["--policy", "builtin", "--format", "json", "mx"], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert {(f["code"], f["severity"]) for f in findings} == {("PF900", "error")}


def test_fail_closed_can_be_relaxed_in_the_policy(tmp_path: Path) -> None:
    write(tmp_path / "mx", main=MYSQL_MAIN)
    (tmp_path / "p.yaml").write_text("version: 1\nrules:\n  relay-unproven: {severity: warning}\n")
    assert run(["--policy", "p.yaml", "mx"], tmp_path).returncode == 0
