"""The compliance peers' own fixture styles, judged by pfcheck and by a live Postfix.

ComplianceAsCode's, MITRE InSpec's and the STIG's relay checks read main.cf with regular
expressions (research: rules.md §2.5). Their fixtures are main.cf files written the way their
pass and fail scripts write them. For each, a private real Postfix says what it does with an
untrusted client relaying to a remote domain (XCLIENT as 203.0.113.7): relays, refuses, or
smtpd refuses to start. pfcheck, under `--profile stig --profile cac`, must say the same:

- PF301 exactly when Postfix relays, PF303 exactly when smtpd refuses to start;
- PF801 (info) exactly when the literal wording and the behaviour differ, and its message says
  which way: "is there, but Postfix relays / exits" or "asks for ... but Postfix's behaviour
  complies";
- every PF301/PF303 finding carries the relay controls' ids.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import pytest

from pfcheck.cli import main as pfcheck_main
from tests.support.banner_oracle import banner_oracle
from tests.support.live_postfix import ACCEPTED, HELPER_SERVICES, REFUSED_STARTUP, REJECTED, live_postfix  # noqa: F401
from tests.support.live_postfix import live_postfix_factory  # noqa: F401


class Fixture(NamedTuple):
    name: str
    main_cf: str
    master_cf: Optional[str]
    behaviour: str  # ACCEPTED (relays), REJECTED (closed) or REFUSED_STARTUP
    literal: bool  # whether the STIG/CaC wording smtpd_client_restrictions = permit_mynetworks, reject holds
    peers_say: str  # what the regex checks answer ("pass" / "fail"); pfcheck sides with Postfix


LEVEL = "compatibility_level = 3.6\n"
LITERAL = "smtpd_client_restrictions = permit_mynetworks, reject\n"
SMTP = "smtp      inet  n       -       n       -       -       smtpd\n"

FIXTURES = [
    # ComplianceAsCode's pass scenario writes only the literal line: no compatibility_level and no
    # recipient restrictions, so smtpd refuses to start (and relays for nobody).
    Fixture("cac_pass_script_main_cf", "smtpd_client_restrictions = permit_mynetworks,reject\n", None,
            REFUSED_STARTUP, True, "pass"),
    Fixture("literal_with_world_mynetworks", LEVEL + LITERAL + "mynetworks = 0.0.0.0/0\n", None,
            ACCEPTED, True, "pass"),
    Fixture("literal_with_o_mynetworks_on_port_25", LEVEL + LITERAL + "mynetworks = 127.0.0.0/8\n",
            SMTP + "  -o mynetworks=0.0.0.0/0\n" + HELPER_SERVICES, ACCEPTED, True, "pass"),
    Fixture("literal_later_overridden", LEVEL + "mynetworks = 0.0.0.0/0\n" + LITERAL
            + "smtpd_client_restrictions = permit_mynetworks\n", None, ACCEPTED, False, "pass"),
    Fixture("upper_case_names", LEVEL + "mynetworks = 127.0.0.0/8\n"
            "smtpd_client_restrictions = PERMIT_MYNETWORKS, REJECT\n", None, REJECTED, True, "fail"),
    Fixture("no_spaces_around_equals", LEVEL + "mynetworks = 127.0.0.0/8\n"
            "smtpd_client_restrictions=permit_mynetworks,reject\n", None, REJECTED, True, "fail"),
    Fixture("tab_and_continuation", LEVEL + "mynetworks = 127.0.0.0/8\n"
            "smtpd_client_restrictions =\tpermit_mynetworks,\n    reject\n", None, REJECTED, True, "fail"),
    Fixture("closed_by_default_relay_list", LEVEL + "mynetworks = 127.0.0.0/8\n", None, REJECTED, False, "fail"),
    Fixture("indented_literal_is_a_continuation", LEVEL + "mynetworks = 127.0.0.0/8\n"
            "smtpd_client_restrictions = permit_mynetworks\n  , reject\n", None, REJECTED, True, "fail"),
]


def _pfcheck(tmp_path: Path, fixture: Fixture, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".git").mkdir()  # the repository boundary; pfcheck runs no git without --base
    (repo / "main.cf").write_text(fixture.main_cf, encoding="utf-8")
    if fixture.master_cf is not None:
        (repo / "master.cf").write_text(fixture.master_cf, encoding="utf-8")
    capsys.readouterr()
    pfcheck_main(["--profile", "stig", "--profile", "cac", "--policy", "builtin", "--format", "json", str(repo)])
    findings: list[dict[str, object]] = json.loads(capsys.readouterr().out)["findings"]
    return findings


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_peer_fixture_verdict_is_postfix_behaviour(fixture: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   live_postfix: Callable[..., object]) -> None:  # noqa: F811
    findings = _pfcheck(tmp_path, fixture, capsys)
    codes = {str(f["code"]) for f in findings}

    instance = live_postfix(fixture.main_cf, fixture.master_cf)
    if instance.startup_fatal("smtp/inet"):  # type: ignore[attr-defined]
        observed = REFUSED_STARTUP
    else:
        reply = instance.rcpt("smtp/inet", client="203.0.113.7", recipient="relaytest@example.org")  # type: ignore[attr-defined]
        observed = ACCEPTED if reply.outcome == ACCEPTED else REJECTED if reply.outcome == REJECTED else reply.outcome
    assert observed == fixture.behaviour, f"the fixture's premise: Postfix {observed}"

    assert ("PF301" in codes) == (observed == ACCEPTED), findings
    assert ("PF303" in codes) == (observed == REFUSED_STARTUP), findings
    for finding in findings:
        if finding["code"] in ("PF301", "PF303"):
            assert "RHEL-09-252050" in finding["controls"] and "postfix_prevent_unrestricted_relay" in finding["controls"]

    literal_findings = [f for f in findings if f["code"] == "PF801" and f["parameter"] == "smtpd_client_restrictions"]
    complies = observed == REJECTED
    differs = fixture.literal != complies
    assert bool(literal_findings) == differs, findings
    if literal_findings:
        message = str(literal_findings[0]["message"])
        assert literal_findings[0]["severity"] == "info"
        if fixture.literal:
            assert "is there, but" in message and ("relays" in message or "exits" in message)
        else:
            assert "but Postfix's behaviour complies" in message


# ------------------------------------------------------------------------------------------
# Banner: ComplianceAsCode's postfix_server_banner asks for `smtpd_banner = $myhostname ESMTP`
# in main.cf; Lynis MAIL-8818 greps the unexpanded smtpd_banner for "postfix" (case-sensitive)
# and "$mail_name". What a remote client sees is the 220 greeting of each listener.


class BannerFixture(NamedTuple):
    name: str
    main_cf: str
    master_cf: Optional[str]
    literal: bool  # whether main.cf holds postfix_server_banner's wording
    lynis_says: str  # MAIL-8818's answer from its grep ("pass" / "fail"); pfcheck sides with the greeting


BANNER_LITERAL = "smtpd_banner = $myhostname ESMTP\n"
BANNER_FIXTURES = [
    BannerFixture("cac_pass_line", BANNER_LITERAL, None, True, "pass"),
    BannerFixture("literal_with_o_banner_on_port_25", BANNER_LITERAL,
                  SMTP + "  -o { smtpd_banner = $myhostname ESMTP Postfix }\n" + HELPER_SERVICES, True, "pass"),
    BannerFixture("default_banner", "", None, False, "fail"),
    BannerFixture("upper_case_software_name", "smtpd_banner = $myhostname ESMTP POSTFIX\n", None, False, "pass"),
    BannerFixture("mail_name_renamed", "mail_name = Mailer\nsmtpd_banner = $myhostname ESMTP $mail_name\n", None,
                  False, "fail"),
    BannerFixture("braces_around_the_name", "smtpd_banner = ${myhostname} ESMTP\n", None, False, "pass"),
    BannerFixture("continuation_line", "smtpd_banner = $myhostname\n  ESMTP\n", None, True, "pass"),
    BannerFixture("tab_separated", "smtpd_banner =\t$myhostname\tESMTP\n", None, True, "pass"),
    BannerFixture("later_duplicate_discloses", BANNER_LITERAL + "smtpd_banner = $myhostname ESMTP $mail_name $mail_version\n",
                  None, False, "fail"),
]


def _pfcheck_banner(tmp_path: Path, fixture: BannerFixture, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".git").mkdir()
    (repo / ".pfcheck.yaml").write_text('version: 1\nprofiles: [cac, lynis]\nroles: {"**": mx}\n', encoding="utf-8")
    (repo / "main.cf").write_text(LEVEL + fixture.main_cf, encoding="utf-8")
    if fixture.master_cf is not None:
        (repo / "master.cf").write_text(fixture.master_cf, encoding="utf-8")
    capsys.readouterr()
    pfcheck_main(["--format", "json", str(repo)])
    findings: list[dict[str, object]] = json.loads(capsys.readouterr().out)["findings"]
    return findings


@pytest.mark.parametrize("fixture", BANNER_FIXTURES, ids=[f.name for f in BANNER_FIXTURES])
def test_banner_fixture_verdict_is_the_greeting(fixture: BannerFixture, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str], live_postfix_factory: type) -> None:
    findings = _pfcheck_banner(tmp_path, fixture, capsys)
    with live_postfix_factory(LEVEL + fixture.main_cf, fixture.master_cf) as pf:
        greetings = {key: pf.greeting(key) for key in pf.ports}
        real = pf.postconf("myhostname", "mail_version")
    complies = True
    for key, reply in greetings.items():
        assert reply.code == 220, f"{fixture.name} {key}: {reply}"
        software, version, starts = banner_oracle(reply.text, real["myhostname"], real["mail_version"])
        fired = tuple(any(f["code"] == code and f["service"] == key for f in findings)
                      for code in ("PF410", "PF411", "PF412"))
        assert fired == (software, version, not starts), (fixture.name, key, reply.text, findings)
        complies = complies and not (software or version or not starts)
        for finding in findings:
            if finding["code"] == "PF410":
                assert {"postfix_server_banner", "MAIL-8818"} <= set(finding["controls"])  # type: ignore[arg-type]

    literal_findings = [f for f in findings if f["code"] == "PF801" and f["parameter"] == "smtpd_banner"]
    assert bool(literal_findings) == (fixture.literal != complies), (fixture.name, greetings, findings)
    if literal_findings:
        message = str(literal_findings[0]["message"])
        if fixture.literal:
            assert "is there, but" in message and "greets with" in message, message
        else:
            assert "but Postfix's behaviour complies" in message, message
    # Lynis's grep disagrees with the greeting wherever its answer is not the behaviour's.
    if fixture.name in ("literal_with_o_banner_on_port_25", "upper_case_software_name", "mail_name_renamed"):
        assert (fixture.lynis_says == "pass") != complies
