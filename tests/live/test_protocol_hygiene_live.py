"""PF702-PF707 and PF709 judged by a live Postfix 3.7 (the installed 3.7.11).

Each case of the matrix below is one repo config (main.cf, optional master.cf). pfcheck, run as
a user runs it (`pfcheck.cli.main(["--format", "json", ...])` with a policy that turns the
off-by-default rules on), gives the findings of each rule per listener; a private real Postfix
(tests/support/live_postfix.py) runs the same files and is asked, on every smtpd listener, as
the outside client 203.0.113.7 (XCLIENT):

* smuggling (PF702, smtpd_forbid_bare_newline): for each non-standard end of data
  `<LF>.<LF>`, `<CR><LF>.<LF>`, `<LF>.<CR><LF>`, DATA with "body" + that form + "NOOP" +
  `<CR><LF>.<CR><LF>` + QUIT in one write. Postfix took the form as the end of data exactly
  when a reply follows the message's reply that is not QUIT's 221 (NOOP's 250, or 554 when
  it also refuses pipelining); `normalize`/`yes` give one 250 for the whole text, `reject` a
  550 "bare <LF>".
* unauthorized pipelining (PF702, smtpd_forbid_unauth_pipelining): "EHLO" and "NOOP" in one
  write: 554 (454 under soft_bounce) "protocol synchronization" when refused.
* an unknown local user (PF703, PF704, PF705): RCPT TO:<nosuchuser-pfcheck@localhost>:
  accepted = recipient validation off (PF705); a reply naming "local recipient table" =
  disclosure (PF704); a 4xx "User unknown" = soft_bounce (PF703, which also covers other
  programs).
* no HELO (PF706): MAIL FROM right after the greeting: 503 when HELO is required.
* envelope syntax (PF707): MAIL FROM:probe@example.net (no brackets): 501 when strict.
* size (PF709): the EHLO reply's SIZE keyword has no number when message_size_limit = 0.

Assertion: per listener and rule (and per PF702 parameter), pfcheck reports it exactly when
Postfix behaves so. The listener here is always reachable from other hosts per the config
(inet_interfaces is never loopback-only in the matrix); the harness reaches it on loopback.
Both pfcheck and Postfix read PROBE_MAIN_CF in front of the case: it sends every message to
`discard` (nothing is delivered on this machine) and has no bearing on the rules.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from tests.support.live_rules import pfcheck_findings
from tests.support.live_postfix import (
    ACCEPTED,
    HELPER_SERVICES,
    LivePostfix,
    live_postfix_factory,  # noqa: F401  (pytest fixture)
)

PROBE_MAIN_CF = (
    "local_transport = discard\n"
    "default_transport = discard\n"
    "relay_transport = discard\n"
)
POLICY = (
    "version: 1\n"
    'postfix_version: "3.7"\n'
    "rules:\n"
    "  PF706: {severity: warning}\n"
    "  PF707: {severity: warning}\n"
    "  PF709: {severity: warning}\n"
)
SMTP = "smtp      inet  n       -       n       -       -       smtpd\n"
SUBMISSION = "submission inet n       -       n       -       -       smtpd\n"
UNKNOWN_USER = "nosuchuser-pfcheck@localhost"
SMUGGLING_FORMS = {"LF.LF": b"\n.\n", "CRLF.LF": b"\r\n.\n", "LF.CRLF": b"\n.\r\n"}

# What is observed, one name per rule (PF702: one per parameter).
BARE_NEWLINE = "PF702 smtpd_forbid_bare_newline"
PIPELINING = "PF702 smtpd_forbid_unauth_pipelining"
BEHAVIOURS = (BARE_NEWLINE, PIPELINING, "PF703", "PF704", "PF705", "PF706", "PF707", "PF709")


@dataclass
class Case:
    name: str
    main_cf: str
    master_cf: str = SMTP
    #: Hand-written expectation: the behaviours each listener shows (both sides must agree).
    expect: Dict[str, Set[str]] = field(default_factory=dict)


BASE = "compatibility_level = 3.6\nmynetworks = 127.0.0.0/8\n"
SAFE = ("smtpd_forbid_bare_newline = normalize\nsmtpd_forbid_unauth_pipelining = yes\n"
        "show_user_unknown_table_name = no\nsmtpd_helo_required = yes\nstrict_rfc821_envelopes = yes\n")
DEFAULTS_3_7 = {BARE_NEWLINE, PIPELINING, "PF704", "PF706", "PF707"}

CASES = [
    Case("defaults", BASE, expect={"smtp/inet": DEFAULTS_3_7}),
    Case("all_safe", BASE + SAFE, expect={"smtp/inet": set()}),
    Case("bare_newline_yes_pipelining_no",
         BASE + "smtpd_forbid_bare_newline = yes\nsmtpd_forbid_unauth_pipelining = no\n",
         expect={"smtp/inet": DEFAULTS_3_7 - {BARE_NEWLINE}}),
    Case("bare_newline_reject_upper_case",
         BASE + "smtpd_forbid_bare_newline = REJECT\nsmtpd_forbid_unauth_pipelining = Yes\n",
         expect={"smtp/inet": DEFAULTS_3_7 - {BARE_NEWLINE, PIPELINING}}),
    Case("explicit_no_later_duplicate",
         BASE + SAFE + "smtpd_forbid_bare_newline = NO\n",
         expect={"smtp/inet": {BARE_NEWLINE}}),
    Case("master_cf_override_reopens_submission", BASE + SAFE,
         SMTP + SUBMISSION + "  -o smtpd_forbid_bare_newline=no\n  -o smtpd_forbid_unauth_pipelining=no\n",
         expect={"smtp/inet": set(), "submission/inet": {BARE_NEWLINE, PIPELINING}}),
    Case("master_cf_override_closes_smtp", BASE,
         SMTP + "  -o smtpd_forbid_bare_newline=normalize\n  -o smtpd_forbid_unauth_pipelining=yes\n",
         expect={"smtp/inet": DEFAULTS_3_7 - {BARE_NEWLINE, PIPELINING}}),
    Case("expanded_value", BASE + "defence = no\nsmtpd_forbid_bare_newline = $defence\n"
         "smtpd_forbid_unauth_pipelining = yes\nshow_user_unknown_table_name = no\n",
         expect={"smtp/inet": {BARE_NEWLINE, "PF706", "PF707"}}),
    Case("table_name_shown_explicitly", BASE + SAFE + "show_user_unknown_table_name = yes\n",
         expect={"smtp/inet": {"PF704"}}),
    Case("local_recipient_maps_empty", BASE + SAFE + "local_recipient_maps =\n",
         expect={"smtp/inet": {"PF705"}}),
    Case("reject_unlisted_off", BASE + SAFE + "smtpd_reject_unlisted_recipient = no\n",
         expect={"smtp/inet": {"PF705"}}),
    Case("reject_unlisted_off_but_restriction", BASE + SAFE + "smtpd_reject_unlisted_recipient = no\n"
         "smtpd_recipient_restrictions = reject_unlisted_recipient\n",
         expect={"smtp/inet": set()}),
    Case("soft_bounce", BASE + SAFE + "soft_bounce = yes\n", expect={"smtp/inet": {"PF703"}}),
    Case("helo_and_envelopes_off_on_submission", BASE + SAFE,
         SMTP + SUBMISSION + "  -o smtpd_helo_required=no\n  -o strict_rfc821_envelopes=NO\n",
         expect={"smtp/inet": set(), "submission/inet": {"PF706", "PF707"}}),
    Case("unlimited_size", BASE + SAFE + "message_size_limit = 0\n", expect={"smtp/inet": {"PF709"}}),
    Case("unlimited_size_on_submission", BASE + SAFE,
         SMTP + SUBMISSION + "  -o message_size_limit=00\n",
         expect={"smtp/inet": set(), "submission/inet": {"PF709"}}),
]


# ------------------------------------------------------------------------------------------
# pfcheck's side


def pfcheck_behaviours(case: Case, root: Path) -> Dict[str, Set[str]]:
    seen: Dict[str, Set[str]] = {}
    for finding in pfcheck_findings(PROBE_MAIN_CF + case.main_cf, case.master_cf, {}, root, POLICY):
        code = finding["code"]
        if not code.startswith("PF70") or code in ("PF701", "PF708"):
            continue
        name = f"{code} {finding['parameter']}" if code == "PF702" else code
        # A main.cf-wide finding (PF703 on main.cf's soft_bounce) is about every listener.
        for service in [finding["service"]] if finding["service"] else case.expect:
            seen.setdefault(service, set()).add(name)
    return seen


# ------------------------------------------------------------------------------------------
# Postfix's side


def _smuggled(pf: LivePostfix, service: str, form: bytes) -> Tuple[bool, str]:
    """Whether smtpd took `form` as the end of data: a reply after the message's own that is
    not QUIT's."""
    talk = pf.converse(service, (
        (b"EHLO probe.example\r\n", 1),
        (b"MAIL FROM:<probe@example.net>\r\n", 1),
        (b"RCPT TO:<postmaster@localhost>\r\n", 1),
        (b"DATA\r\n", 1),
        (b"Subject: probe\r\n\r\nfirst" + form + b"NOOP\r\n.\r\nQUIT\r\n", -1),
    ))
    assert talk.failure is None, talk.failure
    codes = [code for code, _ in talk.replies]
    assert codes[:4] == [250, 250, 250, 354], talk.transcript
    after = codes[4:]
    assert after, talk.transcript
    if after[0] in (450, 550):  # 450 under soft_bounce
        assert "bare <LF>" in talk.replies[4][1], talk.transcript
        return False, "rejected"
    assert after[0] == 250, talk.transcript
    return len(after) > 1 and after[1] != 221, " ".join(map(str, after))


def postfix_behaviours(pf: LivePostfix, service: str) -> Tuple[Set[str], List[str]]:
    seen: Set[str] = set()
    notes: List[str] = []
    smuggled = {}
    for label, form in SMUGGLING_FORMS.items():
        smuggled[label], how = _smuggled(pf, service, form)
        notes.append(f"{label}: {how}")
    # Postfix 3.7 treats all three forms alike (smtp_get() ends a line at a bare LF).
    assert len(set(smuggled.values())) == 1, notes
    if any(smuggled.values()):
        seen.add(BARE_NEWLINE)

    talk = pf.converse(service, ((b"EHLO probe.example\r\nNOOP\r\n", -1),))
    assert talk.failure is None and talk.replies, talk.transcript
    if talk.replies[0][0] in (454, 554):  # 454 under soft_bounce
        assert "synchronization" in talk.replies[0][1], talk.transcript
    else:
        assert [code for code, _ in talk.replies][:2] == [250, 250], talk.transcript
        seen.add(PIPELINING)

    reply = pf.rcpt(service, recipient=UNKNOWN_USER)
    notes.append(f"unknown user: {reply}")
    if reply.outcome == ACCEPTED:
        seen.add("PF705")
    else:
        assert reply.code is not None and "User unknown" in reply.text, reply
        if 400 <= reply.code < 500:
            seen.add("PF703")
        if "local recipient table" in reply.text:
            seen.add("PF704")

    talk = pf.converse(service, ((b"MAIL FROM:<probe@example.net>\r\n", 1),))
    assert talk.failure is None and talk.replies, talk.transcript
    if talk.replies[0][0] == 250:
        seen.add("PF706")
    else:
        assert talk.replies[0][0] in (403, 503), talk.transcript  # 403 under soft_bounce

    talk = pf.converse(service, ((b"EHLO probe.example\r\n", 1), (b"MAIL FROM:probe@example.net\r\n", 1)))
    assert talk.failure is None and len(talk.replies) == 2, talk.transcript
    ehlo, mail = talk.replies
    if mail[0] == 250:
        seen.add("PF707")
    else:
        assert mail[0] in (401, 501), talk.transcript
    size = [line for line in ehlo[1].splitlines() if line.upper().startswith("SIZE")]
    assert size, talk.transcript
    if size[0].strip().upper() == "SIZE":
        seen.add("PF709")
    notes.append(f"EHLO {size[0]}")
    return seen, notes


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_rules_fire_exactly_when_postfix_behaves_so(case: Case, tmp_path: Path,
                                                    live_postfix_factory: type) -> None:
    pfcheck_seen = pfcheck_behaviours(case, tmp_path)
    with live_postfix_factory(PROBE_MAIN_CF + case.main_cf, case.master_cf + HELPER_SERVICES) as pf:
        for service in case.expect:
            assert pf.startup_fatal(service) is None, service
            postfix_seen, notes = postfix_behaviours(pf, service)
            ours = pfcheck_seen.get(service, set())
            assert ours == postfix_seen, (
                f"{case.name} {service}: pfcheck {sorted(ours)} != Postfix {sorted(postfix_seen)}; {notes}")
            assert postfix_seen == case.expect[service], (
                f"{case.name} {service}: expected {sorted(case.expect[service])}, Postfix {sorted(postfix_seen)}; {notes}")
    assert set(pfcheck_seen) <= set(case.expect), pfcheck_seen
