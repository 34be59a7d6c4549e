"""PF402 (send-only-receives-mail) judged by a live Postfix 3.7.

Each case is a config of a host whose policy role is `send-only`; pfcheck (the CLI, JSON output,
that policy) and a private real Postfix (tests/support/live_postfix.py) read the same main.cf and
master.cf (an smtpd listener plus the helper services). Postfix is asked, as the outside client
203.0.113.7 (XCLIENT), RCPT TO:<root@D> for D in `$myhostname`, `localhost.$mydomain`,
`localhost` and the domains the case adds. No case has relay domains (compatibility_level 3.6),
so an untrusted client's RCPT is accepted only for a domain of final delivery: accepted (or
refused as "User unknown in local recipient table") = the host receives mail for local
delivery; "Relay access denied" = it does not.

Assertion: PF402 fires exactly when Postfix accepts one of them. Which mydestination counts is
trivial-rewrite's (the `rewrite` service: main.cf, or its `-o`): smtpd takes the address class
from it, and so does cleanup for mail submitted on the host; smtpd's own `-o mydestination`
only changes which local recipients its local_recipient_maps lookup finds (root@localhost.$mydomain
becomes "User unknown"), not that the domain is delivered here. Not probed: a domain literal of an address in inet_interfaces
(`root@[127.0.0.1]`) is local whatever mydestination says (resolve_local()); a null client
keeps it to the host by listening on loopback only (PF401's).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Set, Tuple

import pytest

from pfcheck.cli import main as pfcheck_main
from tests.support.live_postfix import (
    ACCEPTED,
    HELPER_SERVICES,
    LivePostfix,
    REJECTED,
    live_postfix_factory,  # noqa: F401  (pytest fixture)
)

POLICY = 'version: 1\npostfix_version: "3.7"\nroles:\n  "**": send-only\n'
SMTP = "smtp      inet  n       -       n       -       -       smtpd\n"
REWRITE = "rewrite   unix  -       -       n       -       -       trivial-rewrite\n"
BASE = "compatibility_level = 3.6\nmyhostname = mx.pfcheck-host.test\nmydomain = pfcheck-host.test\n"
DOMAINS = ("mx.pfcheck-host.test", "localhost.pfcheck-host.test", "localhost", "example.com")


@dataclass
class Case:
    name: str
    main_cf: str
    master_cf: str = SMTP
    rewrite: str = REWRITE
    receives: bool = False  # hand-written expectation (both sides must agree with it)


CASES = [
    Case("default_mydestination", BASE, receives=True),
    Case("null_client_empty", BASE + "mydestination =\n"),
    Case("later_duplicate_wins", BASE + "mydestination =\nmydestination = $myhostname\n", receives=True),
    Case("later_empty_wins", BASE + "mydestination = localhost\nmydestination =\n"),
    Case("expands_to_nothing", BASE + "mydestination = $local_domains\nlocal_domains =\n"),
    Case("continuation_line", BASE + "mydestination =\n  example.com\n", receives=True),
    Case("upper_case_domain", BASE + "mydestination = EXAMPLE.COM\n", receives=True),
    # smtpd asks trivial-rewrite for the address class: its own -o is not read.
    Case("smtpd_override_is_not_read", BASE, SMTP + "  -o mydestination=\n", receives=True),
    Case("emptied_on_rewrite_service", BASE, rewrite=REWRITE + "  -o mydestination=\n"),
    Case("set_on_rewrite_service", BASE + "mydestination =\n",
         rewrite=REWRITE + "  -o mydestination=$myhostname\n", receives=True),
]


def _master_cf(case: Case) -> str:
    return case.master_cf + HELPER_SERVICES.replace(REWRITE, case.rewrite)


def pfcheck_fires(case: Case, root: Path) -> bool:
    repo = root / "repo"
    repo.mkdir()
    (repo / "main.cf").write_text(case.main_cf)
    (repo / "master.cf").write_text(_master_cf(case))
    (repo / "pfcheck.yaml").write_text(POLICY)
    output = root / "findings.json"
    status = pfcheck_main(["--format", "json", "--output-file", str(output),
                           "--policy", str(repo / "pfcheck.yaml"), str(repo)])
    assert status in (0, 1), f"{case.name}: pfcheck exited {status}"
    return any(finding["code"] == "PF402" for finding in json.loads(output.read_text())["findings"])


def postfix_receives(pf: LivePostfix) -> Tuple[bool, List[str]]:
    notes: List[str] = []
    receives = False
    for domain in DOMAINS:
        reply = pf.rcpt("smtp/inet", recipient=f"root@{domain}")
        notes.append(f"root@{domain}: {reply}")
        assert reply.outcome in (ACCEPTED, REJECTED), notes
        # A local domain: accepted, or refused only as an unknown local user.
        if reply.outcome == ACCEPTED or "in local recipient table" in reply.text:
            receives = True
        else:
            assert "Relay access denied" in reply.text, notes
    return receives, notes


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_pf402_fires_exactly_when_postfix_receives_for_local_delivery(
        case: Case, tmp_path: Path, live_postfix_factory: type) -> None:
    fires = pfcheck_fires(case, tmp_path)
    with live_postfix_factory(case.main_cf, _master_cf(case)) as pf:
        assert pf.startup_fatal("smtp/inet") is None
        receives, notes = postfix_receives(pf)
    assert fires == receives, f"{case.name}: PF402 {'fires' if fires else 'silent'}; Postfix {notes}"
    assert receives == case.receives, f"{case.name}: {notes}"
