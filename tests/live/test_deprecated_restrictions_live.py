"""PF602 (deprecated-relay-restriction) judged by a live Postfix 3.7 (the installed 3.7.11).

The rule's message for a 3.7 target: `check_relay_domains`, `reject_maps_rbl` and
`permit_naked_ip_address` are deprecated, smtpd logs a warning when a session reaches them, and
they still work (3.9 removed them: 451 4.3.5 there, not observable here); `permit_mx_backup` is
deprecated only from 3.9 on (3.7 says nothing).

Each case is one repo config whose restriction lists the probes reach; pfcheck (the CLI, JSON
output, `postfix_version: "3.7"`) and a private real Postfix read the same main.cf and
master.cf (the case's listeners plus the helper services). On each listener, as the outside
client 203.0.113.7 (XCLIENT, HELO 192.0.2.9): RCPT TO a relay domain and to a remote domain;
then the log is read for smtpd's deprecation warnings ('support for restriction "NAME" will be
removed', 'restriction NAME is deprecated'), attributed to the listener by its syslog_name.

Assertion: per listener, PF602 reports exactly the removed-in-3.9 names for which smtpd logs
such a warning, no reply is a 451 (they work in 3.7), and `permit_mx_backup` is reported with
the 3.9 wording while 3.7 logs nothing about it. smtpd warns only when a session reaches the
restriction; PF602 reports every listed use (3.9 answers 451 whenever one is reached), so each
case here lists them where both probes reach them.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from pfcheck.cli import main as pfcheck_main
from tests.support.live_postfix import (
    HELPER_SERVICES,
    LivePostfix,
    live_postfix_factory,  # noqa: F401  (pytest fixture)
)

POLICY = 'version: 1\npostfix_version: "3.7"\n'
SMTP = "smtp      inet  n       -       n       -       -       smtpd\n"
ALT = "2525      inet  n       -       n       -       -       smtpd\n  -o syslog_name=postfix-alt\n"
BASE = ("compatibility_level = 3.6\nrelay_domains = relay.example\nmaps_rbl_domains = rbl.example\n"
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n")
REMOVED = ("check_relay_domains", "reject_maps_rbl", "permit_naked_ip_address")
WARNING = re.compile(r'(?:support for restriction "(\w+)" will be removed|restriction (\w+) is deprecated)')
SYSLOG = {"smtp/inet": "postfix", "2525/inet": "postfix-alt"}


@dataclass
class Case:
    name: str
    main_cf: str
    master_cf: str = SMTP
    #: Hand-written expectation: the removed-in-3.9 names smtpd warns about, per listener.
    expect: Dict[str, Set[str]] = field(default_factory=dict)
    mx_backup: bool = False  # permit_mx_backup is in a list (reported, 3.7 silent)


CASES = [
    Case("current_restrictions", BASE, expect={"smtp/inet": set()}),
    Case("check_relay_domains", BASE + "smtpd_recipient_restrictions = check_relay_domains\n",
         expect={"smtp/inet": {"check_relay_domains"}}),
    Case("upper_case", BASE + "smtpd_recipient_restrictions = CHECK_RELAY_DOMAINS\n",
         expect={"smtp/inet": {"check_relay_domains"}}),
    Case("reject_maps_rbl_client_list", BASE + "smtpd_client_restrictions = reject_maps_rbl\n",
         expect={"smtp/inet": {"reject_maps_rbl"}}),
    Case("permit_naked_ip_address_helo_list", BASE + "smtpd_helo_restrictions = permit_naked_ip_address\n",
         expect={"smtp/inet": {"permit_naked_ip_address"}}),
    # reject_maps_rbl first: permit_naked_ip_address permits HELO 192.0.2.9 and ends the list.
    Case("continuation_line", BASE + "smtpd_client_restrictions =\n    reject_maps_rbl,\n"
         "    permit_naked_ip_address\n", expect={"smtp/inet": {"permit_naked_ip_address", "reject_maps_rbl"}}),
    Case("restriction_class", BASE + "smtpd_restriction_classes = legacy\nlegacy = check_relay_domains\n"
         "smtpd_recipient_restrictions = legacy\n", expect={"smtp/inet": {"check_relay_domains"}}),
    Case("later_duplicate_replaces", BASE + "smtpd_client_restrictions = reject_maps_rbl\n"
         "smtpd_client_restrictions = reject_rbl_client rbl.example\n", expect={"smtp/inet": set()}),
    Case("argument_named_like_a_removed_restriction",
         BASE + "smtpd_client_restrictions = reject_rbl_client reject_maps_rbl\n", expect={"smtp/inet": set()}),
    Case("master_cf_override_on_one_listener", BASE, SMTP + ALT + "  -o smtpd_client_restrictions=reject_maps_rbl\n",
         expect={"smtp/inet": set(), "2525/inet": {"reject_maps_rbl"}}),
    Case("permit_mx_backup", BASE + "smtpd_recipient_restrictions = permit_mx_backup\n",
         expect={"smtp/inet": set()}, mx_backup=True),
]


def pfcheck_findings(case: Case, root: Path) -> Dict[str, List[Tuple[str, str]]]:
    repo = root / "repo"
    repo.mkdir()
    (repo / "main.cf").write_text(case.main_cf)
    (repo / "master.cf").write_text(case.master_cf + HELPER_SERVICES)
    (root / "policy.yaml").write_text(POLICY)
    output = root / "findings.json"
    status = pfcheck_main(["--format", "json", "--output-file", str(output),
                           "--policy", str(root / "policy.yaml"), str(repo)])
    assert status in (0, 1), f"{case.name}: pfcheck exited {status}"
    seen: Dict[str, List[Tuple[str, str]]] = {}
    for finding in json.loads(output.read_text())["findings"]:
        if finding["code"] == "PF602":
            seen.setdefault(finding["service"], []).append((finding["actual"].lower(), finding["message"]))
    return seen


def postfix_warnings(pf: LivePostfix, service: str) -> Tuple[Set[str], List[str]]:
    notes: List[str] = []
    for recipient in ("someone@relay.example", "relaytest@example.org"):
        reply = pf.rcpt(service, helo="192.0.2.9", recipient=recipient)
        notes.append(f"{recipient}: {reply}")
        assert reply.code != 451, notes  # 3.7: they still work
    time.sleep(0.3)  # smtpd's lines reach the log through postlogd
    pf.wait_for_log(r"disconnect from", timeout=3.0)
    names: Set[str] = set()
    for line in pf.log.splitlines():
        if f" {SYSLOG[service]}/smtpd[" not in line:
            continue
        match = WARNING.search(line)
        if match:
            names.add((match.group(1) or match.group(2)).lower())
    return names, notes


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_pf602_reports_exactly_what_smtpd_warns_about(case: Case, tmp_path: Path,
                                                       live_postfix_factory: type) -> None:
    findings = pfcheck_findings(case, tmp_path)
    with live_postfix_factory(case.main_cf, case.master_cf + HELPER_SERVICES) as pf:
        for service, expected in case.expect.items():
            assert pf.startup_fatal(service) is None, service
            warned, notes = postfix_warnings(pf, service)
            ours = findings.get(service, [])
            reported = {token for token, _ in ours if token in REMOVED}
            assert reported == warned, f"{case.name} {service}: PF602 {sorted(reported)} != smtpd warns {sorted(warned)}; {notes}"
            assert warned == expected, f"{case.name} {service}: expected {sorted(expected)}, smtpd {sorted(warned)}"
            for token, message in ours:
                if token in REMOVED:
                    assert "smtpd logs a warning" in message, message
            mx_backup = [message for token, message in ours if token == "permit_mx_backup"]
            assert bool(mx_backup) == case.mx_backup, ours
            assert all("from Postfix 3.9 on" in message for message in mx_backup), mx_backup
    assert set(findings) <= set(case.expect), findings
