"""PF601, PF604 and PF610 judged by a live Postfix 3.7: what smtpd does with the restriction
lists these rules read.

Each group is one private Postfix (tests/support/live_postfix.py) with several smtpd
listeners that differ only in `-o` restriction lists (so the `-o` reading is tested too), and
one probe per listener. pfcheck's rule runs on the same main.cf/master.cf/table files
(`load_config_dir` + the rule's `check()`); per listener, the rule must report it exactly when
Postfix misbehaves in the way the rule describes:

* PF610 (unknown-restriction) and PF604 (forbidden-ok-result): the probe (from 127.0.0.1,
  trusted by permit_mynetworks in the relay list; sender and HELO address literals where a
  `check_*_mx_access`/`check_*_a_access` table is tried: Postfix treats a literal as its own
  MX host and looks its address up without DNS) gets `451 4.3.5 Server configuration error`.
  The log must name the reason: `unknown smtpd restriction: "TOKEN"` for PF610 (with the token
  pfcheck names), `returns OK for ... this is not allowed` for PF604. Any other answer (250,
  554) means no finding.
* PF601 (warn-if-reject-relay-control): an outside client (203.0.113.7 via XCLIENT) relaying
  to example.org makes smtpd log `reject_warning: ... Relay access denied` (the relay control
  only warned), or smtpd refuses to start (its guard does not count the weakened control).
  A plain reject with no such warning means no finding.

A matrix case that names what Postfix does (`bad`) must also agree with it, so a harness that
never saw a 451 cannot make the comparison pass by itself.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from pfcheck.postfix.config import load_config_dir
from pfcheck.rules import pf601_warn_if_reject_relay_control, pf604_forbidden_ok_result, pf610_unknown_restriction
from pfcheck.rules.base import RuleContext
from tests.support.live_postfix import (
    ACCEPTED,
    HELPER_SERVICES,
    REFUSED_STARTUP,
    live_postfix_factory,  # noqa: F401  (pytest fixture)
)
from tests.support.relay_cases import PROBE_LIMITS

pytestmark = pytest.mark.live

COMMON_MAIN = """\
compatibility_level = 3.6
myhostname = mx.example.com
mydomain = example.com
mynetworks = 127.0.0.0/8
inet_protocols = ipv4
disable_vrfy_command = yes
""" + PROBE_LIMITS
LISTENER = "{port}      inet  n       -       n       -       -       smtpd -o syslog_name=postfix/p{port}"
SERVER_ERROR = "451 4.3.5"


@dataclass
class Probe:
    port: str  # the listener's service name (a port number)
    overrides: str  # extra `-o` arguments on the listener line
    bad: bool  # what Postfix does: True = the misbehaviour the rule describes
    sender: str = "probe@example.net"
    helo: str = "probe.example"
    client: Optional[str] = None  # None: the harness's own 127.0.0.1 (trusted)
    token: str = ""  # PF610: the word Postfix's log names


@dataclass
class Group:
    name: str
    rule: object
    main_cf: str
    probes: List[Probe]
    files: Dict[str, str] = field(default_factory=dict)

    def master_cf(self) -> str:
        lines = [LISTENER.format(port=probe.port) + (" " + probe.overrides if probe.overrides else "")
                 for probe in self.probes]
        return "\n".join(lines) + "\n" + HELPER_SERVICES


def _rcpt(name: str, value: str) -> str:
    return "-o {" + f" {name} = {value} " + "}"


GROUPS = [
    Group("PF610", pf610_unknown_restriction, COMMON_MAIN + """\
smtpd_restriction_classes = strict
strict = reject_non_fqdn_sender
""", [
        Probe("2501", _rcpt("smtpd_recipient_restrictions", "reject_non_fqdn_sendr"), True,
              token="reject_non_fqdn_sendr"),
        Probe("2502", _rcpt("smtpd_recipient_restrictions", "REJECT_NON_FQDN_SENDER, Reject_Unauth_Pipelining"), False),
        Probe("2503", _rcpt("smtpd_recipient_restrictions", "reject_non_fqdn_sender # a note"), True, token="#"),
        Probe("2504", _rcpt("smtpd_recipient_restrictions", "strict"), False),
        Probe("2505", _rcpt("smtpd_recipient_restrictions", "Strict"), True, token="Strict"),
        Probe("2506", _rcpt("smtpd_sender_restrictions", "reject_sender_login_mismatch"), False),
        Probe("2507", _rcpt("smtpd_client_restrictions",
                            "check_client_access inline:{ 192.0.2.1=REJECT }, sleep 0, permit_inet_interface"),
              True, token="permit_inet_interface"),
        Probe("2508", _rcpt("smtpd_helo_restrictions", "check_helo_access inline:{ x.example=REJECT }"), False),
    ]),
    Group("PF604", pf604_forbidden_ok_result, COMMON_MAIN, [
        Probe("2511", "-o smtpd_sender_restrictions=check_sender_mx_access,hash:/etc/postfix/mx_access", True,
              sender="probe@[192.0.2.26]"),
        Probe("2512", "-o smtpd_sender_restrictions=check_sender_mx_access,hash:/etc/postfix/mx_dunno", False,
              sender="probe@[192.0.2.26]"),
        Probe("2513", "-o smtpd_sender_restrictions=check_sender_a_access,cidr:/etc/postfix/numeric.cidr", True,
              sender="probe@[192.0.2.26]"),
        Probe("2514", "-o smtpd_helo_restrictions=check_helo_a_access,static:RELAY", True,
              helo="[192.0.2.26]"),
        Probe("2515", "-o smtpd_sender_restrictions=check_sender_access,hash:/etc/postfix/mx_access", False,
              sender="probe@[192.0.2.26]"),
        Probe("2516", "-o smtpd_sender_restrictions=check_sender_mx_access,cidr:/etc/postfix/reject.cidr", False,
              sender="probe@[192.0.2.26]"),
    ], files={
        "/etc/postfix/mx_access": "192.0.2.26 ok mixed case and text\n",
        "/etc/postfix/mx_dunno": "192.0.2.26 DUNNO\n",
        "/etc/postfix/numeric.cidr": "192.0.2.0/24 1700000000\n",
        "/etc/postfix/reject.cidr": "192.0.2.0/24 REJECT\n",
    }),
    Group("PF601", pf601_warn_if_reject_relay_control, COMMON_MAIN + """\
smtpd_restriction_classes = relaycheck, tail
relaycheck = reject_unauth_destination
tail = permit_sasl_authenticated, warn_if_reject
""", [
        Probe("2521", _rcpt("smtpd_relay_restrictions", "permit_mynetworks, warn_if_reject reject_unauth_destination")
              + " " + _rcpt("smtpd_recipient_restrictions", "reject_unauth_destination"), True, client="203.0.113.7"),
        Probe("2522", _rcpt("smtpd_relay_restrictions", "permit_mynetworks, warn_if_reject reject_non_fqdn_sender, "
                            "reject_unauth_destination"), False, client="203.0.113.7"),
        Probe("2523", _rcpt("smtpd_relay_restrictions", "permit_mynetworks, WARN_IF_REJECT relaycheck")
              + " " + _rcpt("smtpd_recipient_restrictions", "reject_unauth_destination"), True, client="203.0.113.7"),
        Probe("2524", _rcpt("smtpd_relay_restrictions", "tail, reject_unauth_destination"), False, client="203.0.113.7"),
        Probe("2525", _rcpt("smtpd_relay_restrictions", "permit_mynetworks, warn_if_reject defer_unauth_destination"),
              True, client="203.0.113.7"),
    ]),
]


def _pfcheck_listeners(group: Group, tmp_path: Path) -> Dict[str, List[str]]:
    """listener key -> the `actual` of each finding of the group's rule."""
    directory = tmp_path / "repo"
    directory.mkdir()
    (directory / "main.cf").write_text(group.main_cf)
    (directory / "master.cf").write_text(group.master_cf())
    for name, text in group.files.items():
        (directory / Path(name).name).write_text(text)
    config = load_config_dir(directory, version="3.7")
    found: Dict[str, List[str]] = {}
    for finding in group.rule.check(RuleContext(config, directory), {}):  # type: ignore[attr-defined]
        found.setdefault(str(finding.service), []).append(str(finding.actual))
    return found


def _observed(pf, group: Group, probe: Probe) -> tuple[bool, str]:  # type: ignore[no-untyped-def]
    key = f"{probe.port}/inet"
    reply = pf.rcpt(key, client=probe.client, helo=probe.helo, sender=probe.sender)
    tag = f"postfix/p{probe.port}/smtpd"
    if group.name == "PF601":
        if reply.outcome == REFUSED_STARTUP:
            return "specify at least one working instance" in reply.text, str(reply)
        warned = pf.wait_for_log(rf"{re.escape(tag)}\[\d+\]: NOQUEUE: reject_warning: RCPT .*Relay access denied",
                                 timeout=2.0 if probe.bad else 0.5)
        return warned is not None, f"{reply}; log: {warned}"
    if reply.code != 451 or SERVER_ERROR not in f"{reply.code} {reply.text}":
        return False, str(reply)
    if group.name == "PF610":
        line = pf.wait_for_log(rf"{re.escape(tag)}\[\d+\]: warning: unknown smtpd restriction: \"(.*)\"")
        assert line is not None, f"451 without the unknown-restriction warning: {reply}"
        named = re.search(r'unknown smtpd restriction: "(.*)"', line)
        assert named is not None and named.group(1) == probe.token, line
    else:
        line = pf.wait_for_log(rf"{re.escape(tag)}\[\d+\]: warning: restriction \S+ returns OK for")
        assert line is not None, f"451 without the forbid_allowlist warning: {reply}"
    return True, str(reply)


@pytest.mark.parametrize("group", GROUPS, ids=[group.name for group in GROUPS])
def test_rule_fires_exactly_where_postfix_misbehaves(group: Group, tmp_path: Path, live_postfix_factory: type) -> None:
    reported = _pfcheck_listeners(group, tmp_path)
    agreements = 0
    disagreements: List[str] = []
    with live_postfix_factory(group.main_cf, group.master_cf(), files=group.files) as pf:
        for probe in group.probes:
            key = f"{probe.port}/inet"
            bad, how = _observed(pf, group, probe)
            fired = key in reported
            if group.name == "PF610" and fired and probe.token:
                # Postfix stops at the first unknown word; pfcheck names every one, that first.
                assert reported[key][0] == probe.token, (key, reported[key])
            if bad != probe.bad:
                disagreements.append(f"{key}: the matrix says bad={probe.bad}, Postfix: {how}")
            elif fired != bad:
                disagreements.append(f"{key}: {group.name} {'fired' if fired else 'silent'}, Postfix: {how}")
            else:
                agreements += 1
            if probe.bad is False and not bad and group.name != "PF601":
                assert probe.client is not None or "accepted" in how or "rejected" in how, how
    assert not disagreements, "\n".join(disagreements)
    assert agreements == len(group.probes)
    assert any(probe.bad for probe in group.probes) and any(not probe.bad for probe in group.probes)
    assert ACCEPTED  # the outcome names come from the harness
