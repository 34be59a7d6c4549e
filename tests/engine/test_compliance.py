"""Compliance profiles: the control table, policy `profiles:`, `--profile`, control tags in
every output, and docs/compliance.md generated from the same table."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pfcheck.compliance import CONTROLS, PROFILES, controls_of, markdown_table, profile_of, rules_of
from pfcheck.policy import PolicyError, load_policy
from pfcheck.policy.model import rule_specs
from pfcheck.rules import RULES

ROOT = Path(__file__).resolve().parents[2]


def test_every_control_names_registered_rules_and_unique_ids() -> None:
    seen: set[str] = set()
    for control in CONTROLS:
        assert control.profile in PROFILES
        assert control.rules, control
        assert set(control.rules) <= set(RULES), control
        for tag in control.ids:
            assert tag not in seen, f"{tag} is in two controls"
            seen.add(tag)
            assert profile_of(tag) == control.profile


def test_docs_compliance_table_is_the_generated_one() -> None:
    text = (ROOT / "docs/compliance.md").read_text(encoding="utf-8")
    table = re.search(r"<!-- controls:start -->\n(.*?)<!-- controls:end -->", text, re.S)
    assert table is not None
    assert table.group(1) == markdown_table(), "regenerate with: pfcheck profiles --format markdown"


def test_tags_follow_profiles() -> None:
    assert controls_of("PF101", ["lynis"]) == ("MAIL-8820",)
    assert controls_of("PF101", ["stig"]) == ("GEN004680", "V-4693")
    assert controls_of("PF101", []) == ()
    assert "RHEL-09-252050" in controls_of("PF301", ["stig"])
    assert "PF801" in rules_of(["stig"]) and "PF801" not in rules_of(["lynis"])


def _policy(tmp_path: Path, body: str):  # type: ignore[no-untyped-def]
    path = tmp_path / ".pfcheck.yaml"
    path.write_text("version: 1\n" + body, encoding="utf-8")
    return load_policy(path, RULES)


def test_profiles_turn_rules_on_unless_a_policy_file_turned_them_off(tmp_path: Path) -> None:
    assert not _policy(tmp_path, "").enabled("PF801")
    assert _policy(tmp_path, "profiles: [stig]\n").enabled("PF801")
    assert not _policy(tmp_path, "profiles: [stig]\nrules: {PF801: {severity: off}}\n").enabled("PF801")
    assert not _policy(tmp_path, "profiles: [lynis]\n").enabled("PF801")
    # --profile adds to the policy's own, each once, and keeps an explicit off.
    policy = _policy(tmp_path, "profiles: [lynis]\nrules: {PF801: {severity: off}}\n")
    added = policy.with_profiles(("stig", "lynis"), rule_specs(RULES))
    assert added.profiles == ("lynis", "stig") and not added.enabled("PF801")
    assert added.controls_of("PF101") == ("MAIL-8820", "GEN004680", "V-4693")
    assert _policy(tmp_path, "profiles: [cis]\n").as_data()["profiles"] == ["cis"]


@pytest.mark.parametrize(("body", "expected"), [
    ("profiles: [nist]\n", '2:12: profile must be one of cac, lynis, stig, cis, not "nist"'),
    ("profiles: stig\n", "2:11: profiles must be a list"),
    ("profiles: [Stig]\n", '(did you mean "stig"?)'),
])
def test_profile_errors(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(PolicyError) as raised:
        _policy(tmp_path, body)
    assert expected in str(raised.value)


def _pfcheck(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pfcheck", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture()
def open_relay(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "main.cf").write_text(
        "compatibility_level = 3.6\nmynetworks = 0.0.0.0/0\ndisable_vrfy_command = yes\n"
        "smtpd_client_restrictions = permit_mynetworks, reject\n"
        # the smuggling defences and the table-name reply, so that PF702/PF704 stay quiet
        "smtpd_forbid_bare_newline = normalize\nsmtpd_forbid_unauth_pipelining = yes\n"
        "show_user_unknown_table_name = no\n", encoding="utf-8")
    return tmp_path


def test_every_output_carries_the_controls(open_relay: Path) -> None:
    text = _pfcheck(open_relay, "--profile", "stig", ".")
    assert text.returncode == 1, text.stderr
    relay_line = next(line for line in text.stdout.splitlines() if " PF301 " in line)
    assert relay_line.endswith("V-23952)") and "(controls: RHEL-07-040680, V-204619" in relay_line

    document = json.loads(_pfcheck(open_relay, "--profile", "stig", "--format", "json", ".").stdout)
    by_code = {finding["code"]: finding for finding in document["findings"]}
    assert "SV-257951" in by_code["PF301"]["controls"]
    assert by_code["PF201"]["controls"] == []  # no control names PF201
    assert by_code["PF801"]["severity"] == "info" and "RHEL-09-252050" in by_code["PF801"]["controls"]
    plain = json.loads(_pfcheck(open_relay, "--format", "json", ".").stdout)
    assert {f["code"] for f in plain["findings"]} == {"PF301", "PF201"}
    assert all(f["controls"] == [] for f in plain["findings"])
    # Controls are not identity: the fingerprints do not change with a profile.
    assert {f["fingerprint"] for f in plain["findings"]} <= {f["fingerprint"] for f in document["findings"]}

    sarif = json.loads(_pfcheck(open_relay, "--profile", "stig", "--format", "sarif", ".").stdout)
    run = sarif["runs"][0]
    relay_result = next(r for r in run["results"] if r["ruleId"] == "PF301")
    assert "RHEL-08-040290" in relay_result["properties"]["tags"]
    relay_rule = next(rule for rule in run["tool"]["driver"]["rules"] if rule["id"] == "PF301")
    targets = {(rel["target"]["id"], rel["target"]["toolComponent"]["name"]) for rel in relay_rule["relationships"]}
    assert ("RHEL-09-252050", "stig") in targets
    taxa = {taxon["id"] for taxonomy in run["taxonomies"] for taxon in taxonomy["taxa"]}
    assert {target for target, _ in targets} <= taxa

    junit = _pfcheck(open_relay, "--profile", "lynis", "--format", "junit", ".").stdout
    assert 'name="PF301 open-relay [smtp/inet] (mynetworks)"' in junit  # lynis has no relay control
    gitlab = json.loads(_pfcheck(open_relay, "--profile", "stig", "--format", "gitlab", ".").stdout)
    assert any(issue["check_name"].startswith("PF301 (RHEL-07-040680, ") for issue in gitlab)


def test_profiles_command(tmp_path: Path) -> None:
    listing = _pfcheck(tmp_path, "profiles", "lynis")
    assert listing.returncode == 0 and "MAIL-8820: " in listing.stdout and "rules: PF101" in listing.stdout
    document = json.loads(_pfcheck(tmp_path, "profiles", "--format", "json").stdout)
    assert [entry["profile"] for entry in document] == list(PROFILES)
    unknown = _pfcheck(tmp_path, "profiles", "nist")
    assert unknown.returncode == 2 and unknown.stderr.strip() == \
        'pfcheck profiles: unknown profile "nist" (one of cac, lynis, stig, cis)'
    assert _pfcheck(tmp_path, "--profile", "nist", ".").returncode == 2
