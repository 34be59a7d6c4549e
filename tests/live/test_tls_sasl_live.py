"""PF501-PF506 and pfcheck.postfix.tls_facts judged by a live Postfix 3.7 (TLS and SASL AUTH).

The matrix: main.cf variants (one private Postfix each: the TLS level empty/none/may/encrypt,
the legacy smtpd_use_tls/smtpd_enforce_tls, smtpd_tls_auth_only, a certificate present,
absent, or configured but missing on disk) times listener variants (`-o` overrides of the
level, wrapper mode, auth_only, SASL on/off, the SASL security options, EHLO keyword
discards). Every listener variant appears twice, as `192.0.2.N:smtp` (port 25: an MX for
PF501/PF502) and `192.0.2.N:submission` (port 587: PF503/PF504); pfcheck sees hosts on a
public address and the harness rebinds each to 127.0.0.1:PORT, so Postfix answers for all.

The SASL backend is tests/support/fake_dovecot.py on `private/auth` in the instance's queue
directory, offering PLAIN and LOGIN (plaintext), CRAM-MD5 (not plaintext) and ANONYMOUS, so
smtpd's filtering by smtpd_sasl_security_options shows in the AUTH line.

Per listener, one session (LivePostfix.ehlo): EHLO in plaintext, MAIL FROM:<> in plaintext,
STARTTLS when advertised, EHLO inside TLS. Asserted, for every listener:

* STARTTLS is in the plaintext EHLO exactly when tls_facts.starttls_advertised() says so;
  a TLS session is established exactly when tls_facts.tls_available() says so (except the
  case whose certificate path does not exist on disk: pfcheck cannot see host files, and
  Postfix answers 454; asserted as that documented limit);
* MAIL in plaintext gets 530 exactly when tls_facts.tls_required() (and not wrapper mode);
* AUTH is in the plaintext EHLO exactly when tls_facts.auth_offered_before_tls(), and in the
  TLS EHLO exactly when tls_facts.auth_offered_after_tls();
* PF505 reports the listener exactly when the plaintext AUTH line lists PLAIN or LOGIN;
* PF506 reports it exactly when some AUTH line lists ANONYMOUS;
* port-25 listeners (role mx): PF501 exactly when no TLS session can be had by STARTTLS,
  PF502 exactly when plaintext MAIL gets 530 or the listener speaks only TLS;
* port-587 listeners (role submission): PF503 exactly when neither holds; PF504 exactly
  when no AUTH is offered at all (SASL off), or, in the relay instance, when 127.0.0.1 (in
  mynetworks) relays without AUTH (a live RCPT probe).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from pfcheck.engine.run import LintOptions, lint
from pfcheck.policy import PolicyResolver
from pfcheck.postfix import tls_facts
from pfcheck.postfix.config import Listener, load_config_dir
from pfcheck.rules import RULES
from pfcheck.rules.base import RuleContext
from pfcheck.rules.pf504_submission_without_auth import trusted_client
from pfcheck.show import show_model
from tests.support.fake_dovecot import FakeDovecotAuth
from tests.support.live_postfix import (
    ACCEPTED,
    HELPER_SERVICES,
    EhloProbe,
    live_postfix_factory,  # noqa: F401  (pytest fixture)
)

POSTFIX_VERSION = "3.7"
MECHANISMS = (
    ("PLAIN", ("plaintext",)),
    ("LOGIN", ("plaintext",)),
    ("CRAM-MD5", ("dictionary",)),
    ("ANONYMOUS", ("anonymous",)),
)
PLAINTEXT_MECHANISMS = ("PLAIN", "LOGIN")
RELAY_RECIPIENT = "relaytest@example.org"

BASE_MAIN = (
    "compatibility_level = 3.6\n"
    "mynetworks = 127.0.0.0/8\n"
    "notify_classes =\n"  # no postmaster notices (454 TLS problems) to the host's mailbox
    "smtpd_sasl_auth_enable = yes\n"
    "smtpd_sasl_type = dovecot\n"
    "smtpd_sasl_path = private/auth\n"
    "smtpd_sasl_security_options = noanonymous\n"
    "smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination\n"
)
CERT = (
    "smtpd_tls_cert_file = /etc/postfix/cert.pem\n"
    "smtpd_tls_key_file = /etc/postfix/key.pem\n"
)

#: (name, main.cf lines after BASE_MAIN, whether the configured certificate is missing on disk)
INSTANCES: Tuple[Tuple[str, str, bool], ...] = (
    ("default_level", CERT, False),
    ("may", CERT + "smtpd_tls_security_level = may\n", False),
    ("legacy_use", CERT + "smtpd_use_tls = yes\n", False),
    ("legacy_enforce", CERT + "smtpd_enforce_tls = yes\n", False),
    ("level_none_beats_legacy", CERT + "smtpd_tls_security_level = none\nsmtpd_use_tls = yes\n", False),
    ("encrypt", CERT + "smtpd_tls_security_level = encrypt\n", False),
    ("auth_only", CERT + "smtpd_tls_security_level = may\nsmtpd_tls_auth_only = yes\n", False),
    ("no_certificate", "smtpd_tls_security_level = may\n", False),
    ("certificate_missing_on_disk",
     "smtpd_tls_security_level = may\nsmtpd_tls_cert_file = /etc/postfix/absent.pem\n", True),
    ("options_in_main", CERT + "smtpd_use_tls = YES\nsmtpd_sasl_security_options = NOPLAINTEXT\n"
     "smtpd_sasl_tls_security_options = noanonymous\n", False),
)

#: Listener variants: name -> `-o` overrides.
LISTENERS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("plain", ()),
    ("sasl_off", ("smtpd_sasl_auth_enable=no",)),
    ("o_may", ("smtpd_tls_security_level=may",)),
    ("o_encrypt", ("smtpd_tls_security_level=encrypt",)),
    ("o_none", ("smtpd_tls_security_level=none",)),
    ("o_empty_level", ("smtpd_tls_security_level=",)),
    ("o_secure", ("smtpd_tls_security_level=secure",)),
    ("wrapper", ("smtpd_tls_wrappermode=yes",)),
    ("o_auth_only", ("smtpd_tls_auth_only=yes",)),
    ("o_auth_only_no", ("smtpd_tls_auth_only=no",)),
    ("noplaintext", ("smtpd_sasl_security_options=noanonymous,noplaintext",)),
    ("anonymous_ok", ("smtpd_sasl_security_options=",)),
    ("anonymous_tls_only", ("smtpd_sasl_tls_security_options=noplaintext",)),
    ("discard_starttls", ("smtpd_discard_ehlo_keywords=starttls",)),
    ("discard_auth", ("smtpd_discard_ehlo_keywords=AUTH",)),
)
PORTS = ("smtp", "submission")


def master_cf() -> Tuple[str, Dict[str, Tuple[str, str]]]:
    """The master.cf of every instance, and listener key -> (variant, port name)."""
    lines: List[str] = []
    keys: Dict[str, Tuple[str, str]] = {}
    number = 0
    for variant, overrides in LISTENERS:
        for port in PORTS:
            number += 1
            name = f"192.0.2.{number}:{port}"
            lines.append(f"{name} inet n - n - - smtpd")
            lines += [f"  -o {override}" for override in overrides]
            keys[f"{name}/inet"] = (variant, port)
    lines.append("tlsmgr    unix  -       -       n       1000?   1       tlsmgr")
    return "\n".join(lines) + "\n" + HELPER_SERVICES, keys


@dataclass
class PfcheckSide:
    listeners: Dict[str, Listener]
    findings: Dict[str, set] = field(default_factory=dict)  # code -> listener keys
    #: `pfcheck show --format json`'s listeners (their `tls` entries are compared too)
    shown: Dict[str, Any] = field(default_factory=dict)

    def fired(self, code: str, key: str) -> bool:
        return key in self.findings.get(code, set())


def pfcheck_side(main_cf: str, master: str, files: Dict[str, str], root: Path) -> PfcheckSide:
    repo = root / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "main.cf").write_text(main_cf)
    (repo / "master.cf").write_text(master)
    for name, content in files.items():
        (repo / name[len("/etc/postfix/"):]).write_text(content)
    policy = root / "policy.yaml"
    policy.write_text(f'version: 1\npostfix_version: "{POSTFIX_VERSION}"\nroles: {{"**": [mx, submission]}}\n')
    resolver = PolicyResolver(RULES, policy_path=policy)
    result = lint([str(repo)], LintOptions(policy_path=policy), resolver.policy_for)
    config = load_config_dir(repo, version=POSTFIX_VERSION)
    side = PfcheckSide({listener.key: listener for listener in config.listeners()},
                       shown=show_model(config)["listeners"])
    for finding in result.findings:
        if finding.service is not None:
            side.findings.setdefault(finding.code, set()).add(finding.service)
    return side


def _mechanisms(keywords: Optional[Tuple[str, ...]]) -> Tuple[str, ...]:
    for line in keywords or ():
        words = line.split()
        if words and words[0] == "AUTH":
            return tuple(words[1:])
    return ()


def compare(key: str, port: str, live: EhloProbe, side: PfcheckSide, missing_cert: bool) -> List[str]:
    """Every disagreement between pfcheck and Postfix on one listener."""
    listener = side.listeners[key]
    problems: List[str] = []

    def expect(what: str, pfcheck_says: bool, postfix_does: bool) -> None:
        if pfcheck_says != postfix_does:
            problems.append(f"{key}: {what}: pfcheck {pfcheck_says}, Postfix {postfix_does}")

    wrapper = tls_facts.wrapper_mode(listener)
    expect("STARTTLS advertised", tls_facts.starttls_advertised(listener), live.starttls_advertised)
    if missing_cert:
        # pfcheck cannot see host files: it takes the configured path to exist, and Postfix
        # refuses TLS (454, or a dropped wrapper-mode connection). Only the plaintext side
        # is compared below.
        expect("TLS established (certificate file absent)", False, live.tls)
        if live.starttls_code is not None:
            expect("STARTTLS refused with 454", True, live.starttls_code == 454)
    else:
        expect("TLS established", tls_facts.tls_available(listener), live.tls)
    if not wrapper:
        expect("530 to plaintext MAIL", tls_facts.tls_required(listener), live.mail_code == 530)
    expect("AUTH before TLS", tls_facts.auth_offered_before_tls(listener), live.auth_before_tls)
    if live.tls:
        expect("AUTH after TLS", tls_facts.auth_offered_after_tls(listener), live.auth_after_tls)
    # What `pfcheck show` prints for the listener is what Postfix does.
    shown = side.shown[key]["tls"]
    expect("show: AUTH before TLS", shown["auth_before_tls"], live.auth_before_tls)
    if not missing_cert:  # pfcheck takes a configured certificate path to exist
        expect("show: STARTTLS offered", shown["starttls_offered"], live.starttls_advertised and live.tls and not wrapper)
    expect("show: STARTTLS advertised", shown["starttls_advertised"], live.starttls_advertised)
    expect("show: wrapper mode", shown["wrappermode"], wrapper)
    if not wrapper:
        expect("show: level encrypt", shown["level"] == "encrypt", live.mail_code == 530)
    if shown["level"] == "none":
        expect("show: no STARTTLS at level none", False, live.starttls_advertised)
    plain_mechs, tls_mechs = _mechanisms(live.plain_keywords), _mechanisms(live.tls_keywords)
    expect("PF505 (plaintext mechanism before TLS)", side.fired("PF505", key),
           any(mech in plain_mechs for mech in PLAINTEXT_MECHANISMS))
    if not missing_cert:
        expect("PF506 (ANONYMOUS offered)", side.fired("PF506", key),
               "ANONYMOUS" in plain_mechs + tls_mechs)
    tls_only = wrapper and live.tls
    requires_tls = live.mail_code == 530 or tls_only or (wrapper and not live.tls)
    if port == "smtp":
        expect("PF501 (no STARTTLS session on port 25)", side.fired("PF501", key),
               not wrapper and not (live.starttls_advertised and (live.tls or missing_cert)))
        expect("PF502 (TLS required on port 25)", side.fired("PF502", key), requires_tls)
        for code in ("PF503", "PF504"):
            expect(f"{code} on a port-25 listener", side.fired(code, key), False)
    else:
        expect("PF503 (TLS optional on submission)", side.fired("PF503", key), not requires_tls)
        for code in ("PF501", "PF502"):
            expect(f"{code} on a submission listener", side.fired(code, key), False)
    return problems


def run_instance(factory: type, main_extra: str, missing_cert: bool, files: Dict[str, str],
                 root: Path) -> Tuple[List[str], int, Dict[str, EhloProbe], PfcheckSide]:
    main_cf = BASE_MAIN + main_extra
    master, keys = master_cf()
    side = pfcheck_side(main_cf, master, files, root)
    probes: Dict[str, EhloProbe] = {}
    with factory(main_cf, master, files) as pf:
        with FakeDovecotAuth(pf.queue_directory / "private" / "auth", MECHANISMS):
            for key in keys:
                probes[key] = pf.ehlo(key)
    problems: List[str] = []
    for key, (_variant, port) in keys.items():
        problems += compare(key, port, probes[key], side, missing_cert)
        if port == "submission":
            no_auth = not probes[key].auth_before_tls and not probes[key].auth_after_tls
            sasl_off = not tls_facts.auth_enabled(side.listeners[key])
            if side.fired("PF504", key) != sasl_off:
                problems.append(f"{key}: PF504: pfcheck {side.fired('PF504', key)}, SASL off {sasl_off}")
            if sasl_off and not no_auth:
                problems.append(f"{key}: SASL off but Postfix offers AUTH")
    return problems, len(keys), probes, side


@pytest.mark.live
@pytest.mark.parametrize("name,main_extra,missing_cert", INSTANCES, ids=[item[0] for item in INSTANCES])
def test_tls_sasl_matrix(live_postfix_factory: type, tls_files: Dict[str, str], tmp_path: Path,
                         name: str, main_extra: str, missing_cert: bool) -> None:
    problems, compared, probes, _side = run_instance(live_postfix_factory, main_extra, missing_cert,
                                                     tls_files, tmp_path)
    assert compared == len(LISTENERS) * len(PORTS)
    # The matrix must show both answers somewhere, or it cannot fail.
    assert any(probe.plain_keywords is not None or probe.tls for probe in probes.values())
    failing = {problem.split(":", 2)[0] + ":" + problem.split(":", 2)[1] for problem in problems}
    assert not problems, "\n".join(problems) + "\n\n" + "\n".join(
        f"{key}: plain={probe.plain_keywords} mail={probe.mail_code} starttls={probe.starttls_code} "
        f"tls={probe.tls} in_tls={probe.tls_keywords} {probe.failure}"
        for key, probe in probes.items() if key in failing)


def test_matrix_covers_both_answers() -> None:
    """Every instance's main.cf sets a different TLS/AUTH baseline; the listener variants
    cover every level, wrapper mode and the SASL options (checked statically here, so the
    live comparison above cannot be vacuous)."""
    variants = {name for name, _ in LISTENERS}
    assert {"o_may", "o_encrypt", "o_none", "o_empty_level", "wrapper", "o_auth_only", "sasl_off",
            "noplaintext", "anonymous_ok"} <= variants
    assert len(INSTANCES) >= 8


RELAY_MAIN = (
    BASE_MAIN.replace(
        "smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination\n",
        "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination\n")
    + CERT + "smtpd_tls_security_level = may\n"
)
RELAY_MASTER = (
    "192.0.2.1:submission inet n - n - - smtpd -o smtpd_tls_security_level=encrypt\n"
    "192.0.2.2:submission inet n - n - - smtpd -o smtpd_tls_security_level=encrypt\n"
    "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n"
    "192.0.2.3:submission inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n"
    "  -o { smtpd_relay_restrictions = permit_mynetworks, reject }\n"
    "192.0.2.4:submission inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n"
    "  -o mynetworks=192.0.2.0/24\n"
    "tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n"
) + HELPER_SERVICES


@pytest.mark.live
def test_submission_relay_without_auth(live_postfix_factory: type, tls_files: Dict[str, str],
                                       tmp_path: Path) -> None:
    """PF504's relay half: a client in mynetworks (the harness's own 127.0.0.1, no AUTH)
    relays on a submission listener exactly when PF504 reports that listener."""
    side = pfcheck_side(RELAY_MAIN, RELAY_MASTER, tls_files, tmp_path)
    config = load_config_dir(tmp_path / "repo", version=POSTFIX_VERSION)
    side.listeners = {listener.key: listener for listener in config.listeners()}
    replies = {}
    clients: Dict[str, str] = {}
    with live_postfix_factory(RELAY_MAIN, RELAY_MASTER, tls_files) as pf:
        with FakeDovecotAuth(pf.queue_directory / "private" / "auth", MECHANISMS):
            for key in pf.ports:
                # pfcheck's witness client, or the client it would have tried.
                client = trusted_client(RuleContext(config, tmp_path / "repo"), side.listeners[key])
                assert client is not None
                clients[key] = client
                replies[key] = pf.rcpt(key, client=client, recipient=RELAY_RECIPIENT)
    assert len(replies) == 4
    relayed = {key for key, reply in replies.items() if reply.outcome == ACCEPTED}
    assert relayed == side.findings.get("PF504", set()), (clients, replies)
    assert clients["192.0.2.4:submission/inet"] == "192.0.2.1"
    assert relayed and relayed != set(replies), replies
