"""Assumptions judged by a live Postfix 3.7: the table pfcheck cannot see is real there.

One config, one access table: `check_client_access cidr:/etc/postfix/clients.cidr` between
`permit_mynetworks` and `reject_unauth_destination`. The checked copy of the repo holds
main.cf, master.cf and the policy but not `clients.cidr` (deployed separately, like a table
kept in a database), so pfcheck cannot see it: PF302 without an assumption. The private live
Postfix gets the real file.

* The table holds only REJECT/DUNNO entries, and the policy assumes exactly that: pfcheck
  says CLOSED (PF305, naming the assumption and its policy line, exit 0), and the live smtpd
  refuses every nmap-style relaying probe (the probe plan of tests/support/relay_cases.py).
* The table holds an OK entry, and the policy assumes OK among the results: pfcheck says OPEN
  (PF301, exit 1) with a witness that names the assumption, and the live smtpd accepts the
  witness replayed with XCLIENT.
* Control: the CLOSED assumption over the OK table makes pfcheck say CLOSED while Postfix
  relays: the assumption is what pfcheck's verdict rests on, and a wrong one is wrong. The
  test states this, so a pfcheck that ignored the table's real contents and a harness that
  did not deploy the table would both be caught.
"""
from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from pfcheck.cli import main as pfcheck_main
from tests.support.live_postfix import HELPER_SERVICES, live_postfix_factory  # noqa: F401  (pytest fixture)
from tests.support.relay_cases import PROBE_LIMITS, Probe, closed_probe_plan, smtp_session

MAIN_CF = """\
compatibility_level = 3.6
myhostname = mx.example.com
mydomain = example.com
mynetworks = 127.0.0.0/8
disable_vrfy_command = yes
inet_protocols = ipv4
smtpd_relay_restrictions = permit_mynetworks,
    check_client_access cidr:/etc/postfix/clients.cidr, reject_unauth_destination
smtpd_forbid_bare_newline = normalize
smtpd_forbid_unauth_pipelining = yes
show_user_unknown_table_name = no
""" + PROBE_LIMITS
MASTER_CF = "smtp      inet  n       -       n       -       -       smtpd\n" + HELPER_SERVICES
TABLE = "cidr:/etc/postfix/clients.cidr"
# Only REJECT and DUNNO: no client can be let through by this table.
CLOSED_TABLE = "203.0.113.0/24 REJECT listed\n198.51.100.0/24 DUNNO\n0.0.0.0/0 DUNNO\n"
# A catch-all OK: every client relays.
OPEN_TABLE = "192.0.2.0/24 REJECT\n0.0.0.0/0 OK\n"


def _policy(results: List[str]) -> str:
    listed = ", ".join(results)
    return (f"version: 1\n"
            f"# clients.cidr is deployed by the network team; this states what it can answer.\n"
            f"assume:\n"
            f"  tables:\n"
            f"    \"{TABLE}\": {{results: [{listed}]}}\n")


def run_pfcheck(repo: Path, policy: Optional[str], monkeypatch: pytest.MonkeyPatch) -> Tuple[int, List[Dict[str, Any]]]:
    """pfcheck as a user runs it, on a checked copy without clients.cidr."""
    (repo / "mx").mkdir(parents=True, exist_ok=True)
    (repo / ".git").mkdir(exist_ok=True)  # the repository ends here: nothing above it is read
    (repo / "mx" / "main.cf").write_text(MAIN_CF)
    (repo / "mx" / "master.cf").write_text(MASTER_CF)
    assert not (repo / "mx" / "clients.cidr").exists()
    args = ["--format", "json", "."]
    if policy is not None:
        (repo / ".pfcheck.yaml").write_text(policy)
        args = ["--policy", ".pfcheck.yaml", *args]
    else:
        args = ["--policy", "builtin", *args]
    monkeypatch.chdir(repo)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = pfcheck_main(args)
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return code, json.loads(out.getvalue())["findings"]


class _Params:
    """What closed_probe_plan reads of the effective config."""

    def value(self, name: str) -> str:
        return {"myhostname": "mx.example.com", "mydomain": "example.com", "inet_protocols": "ipv4"}.get(name, "")


def accepted_probes(pf: Any) -> Tuple[List[str], int]:
    accepted: List[str] = []
    refused = 0
    for client, client_name, helo, probes in closed_probe_plan(_Params()):  # type: ignore[arg-type]
        for probe, code, text, outcome in smtp_session(pf, "smtp/inet", client, client_name, helo, probes):
            if outcome == "accepted":
                accepted.append(f"{client} helo={helo} from=<{probe.sender}> to=<{probe.recipient}>: {code} {text}")
            else:
                refused += 1
    return accepted, refused


@pytest.mark.live
def test_without_an_assumption_the_unseen_table_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, findings = run_pfcheck(tmp_path / "repo", None, monkeypatch)
    assert code == 1
    assert [(f["code"], f["severity"]) for f in findings] == [("PF302", "error")], findings
    assert TABLE in findings[0]["message"]


@pytest.mark.live
def test_closed_assumption_agrees_with_postfix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               live_postfix_factory: type) -> None:
    code, findings = run_pfcheck(tmp_path / "repo", _policy(["REJECT", "DUNNO"]), monkeypatch)
    assert code == 0, findings
    assert [f["code"] for f in findings] == ["PF305"], findings
    [finding] = findings
    assert finding["severity"] == "info" and finding["service"] == "smtp/inet"
    assert f"closed assuming table {TABLE} answers only REJECT, DUNNO (assumed in .pfcheck.yaml:5)" in finding["message"]
    with live_postfix_factory(MAIN_CF, MASTER_CF, {"/etc/postfix/clients.cidr": CLOSED_TABLE}) as pf:
        assert pf.startup_fatal("smtp/inet") is None
        accepted, refused = accepted_probes(pf)
        assert not accepted, f"pfcheck says closed; Postfix accepted {len(accepted)}: {accepted[:5]}"
        assert refused > 100
        # The table is really consulted there: its REJECT entry answers with its own text.
        [(probe, reply_code, text, outcome)] = smtp_session(
            pf, "smtp/inet", "203.0.113.7", None, "probe.attacker.example",
            [Probe("probe@attacker.example", "relaytest@relay-target.example")])
        assert reply_code == 554 and "listed" in text, (reply_code, text)


@pytest.mark.live
def test_open_assumption_agrees_with_postfix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             live_postfix_factory: type) -> None:
    code, findings = run_pfcheck(tmp_path / "repo", _policy(["REJECT", "DUNNO", "OK"]), monkeypatch)
    assert code == 1, findings
    assert [f["code"] for f in findings] == ["PF301"], findings
    [finding] = findings
    stated = f"table {TABLE} answers only REJECT, DUNNO, OK (assumed in .pfcheck.yaml:5)"
    assert stated in finding["message"] and stated in finding["witness"]["assumptions"]
    witness = finding["witness"]
    with live_postfix_factory(MAIN_CF, MASTER_CF, {"/etc/postfix/clients.cidr": OPEN_TABLE}) as pf:
        assert pf.startup_fatal("smtp/inet") is None
        [(probe, reply_code, text, outcome)] = smtp_session(
            pf, "smtp/inet", witness["client"], None, witness["helo"],
            [Probe(witness["sender"], witness["recipient"])])
        assert outcome == "accepted", f"witness {witness}: Postfix {reply_code} {text}"
        # Control: under the CLOSED assumption pfcheck would call this very table closed, and
        # Postfix relays: the verdict rests on the assumption, which must match the real table.
        # (Only the witness is replayed here: accepted probes are slow to answer on this instance.)
        closed_code, closed = run_pfcheck(tmp_path / "wrong", _policy(["REJECT", "DUNNO"]), monkeypatch)
        assert closed_code == 0 and [f["code"] for f in closed] == ["PF305"]
