"""PF508 (weak-tls-ciphers) judged by a live Postfix 3.7 on the installed OpenSSL 3.

Each case is one repo config (main.cf with a server certificate; the case's listeners plus the
helper services and tlsmgr); pfcheck (the CLI, JSON output) and a private real Postfix read the
same files. On each listener the test drives the session itself (`LivePostfix.connect`): EHLO,
STARTTLS, then a TLS handshake from a client that offers only ciphers without encryption
(`eNULL@SECLEVEL=0`, at most TLS 1.2: TLS 1.3 has no such suites). The handshake succeeds
exactly when smtpd's cipher grade for that session lets NULL ciphers in.

Assertion: per listener, PF508 fires exactly when the NULL-only handshake succeeds, except for
the `export` and `low` grades: OpenSSL 3.0 has no LOW or EXPORT cipher (`openssl ciphers LOW`
matches none, and a client cannot even offer DES or RC4), so on this host those grades are
`medium` in effect. PF508 still reports them (they are weak wherever the library has such
ciphers); their cases pin that here nothing weaker than medium is negotiated.

PF507 (obsolete-tls-protocols) has no live twin: this OpenSSL is built without SSLv3
(`ssl.HAS_SSLv3` is false, `openssl s_client` has no `-ssl3`), so no client here can show
SSLv2/SSLv3 being accepted or refused.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Set, Tuple

import pytest

from tests.support.live_rules import services_flagged
from tests.support.live_postfix import (
    HELPER_SERVICES,
    LivePostfix,
    live_postfix_factory,  # noqa: F401  (pytest fixture)
)

SMTP = "smtp      inet  n       -       n       -       -       smtpd\n"
ALT = "2525      inet  n       -       n       -       -       smtpd\n"
TLSMGR = "tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n"
BASE = ("compatibility_level = 3.6\nsmtpd_tls_security_level = may\nnotify_classes =\n"
        "smtpd_tls_cert_file = /etc/postfix/cert.pem\nsmtpd_tls_key_file = /etc/postfix/key.pem\n")
NULL_ONLY = "eNULL@SECLEVEL=0"


@dataclass
class Case:
    name: str
    main_cf: str
    master_cf: str = SMTP
    #: Hand-written expectation per listener: does a NULL-only client get a TLS session?
    expect: Dict[str, bool] = field(default_factory=dict)
    #: The grade is weak elsewhere but this OpenSSL has no such cipher (PF508 fires anyway).
    library_lacks: Set[str] = field(default_factory=set)
    #: A known disagreement (strict xfail): why pfcheck and Postfix differ.
    xfail: str = ""


CASES = [
    Case("default_medium", BASE, expect={"smtp/inet": False}),
    Case("null_grade", BASE + "smtpd_tls_ciphers = null\n", expect={"smtp/inet": True}),
    Case("null_grade_expanded", BASE + "grade = null\nsmtpd_tls_ciphers = $grade\n", expect={"smtp/inet": True}),
    Case("null_then_medium_later_duplicate", BASE + "smtpd_tls_ciphers = null\nsmtpd_tls_ciphers = medium\n",
         expect={"smtp/inet": False}),
    # tls_misc.c looks grades up with name_code(..., NAME_CODE_FLAG_NONE, ...): strcasecmp.
    Case("upper_case_grade", BASE + "smtpd_tls_ciphers = NULL\n", expect={"smtp/inet": True}),
    Case("null_on_one_listener", BASE, SMTP + ALT + "  -o smtpd_tls_ciphers=null\n",
         expect={"smtp/inet": False, "2525/inet": True}),
    # smtpd.c: enforced TLS uses the mandatory grade, opportunistic TLS the other.
    Case("null_opportunistic_medium_mandatory", BASE + "smtpd_tls_ciphers = null\n",
         SMTP + ALT + "  -o smtpd_tls_security_level=encrypt\n",
         expect={"smtp/inet": True, "2525/inet": False}),
    Case("null_mandatory_on_encrypt_listener", BASE + "smtpd_tls_mandatory_ciphers = null\n",
         SMTP + ALT + "  -o smtpd_tls_security_level=encrypt\n",
         expect={"smtp/inet": False, "2525/inet": True}),
    Case("export_grade", BASE + "smtpd_tls_ciphers = export\n", expect={"smtp/inet": False},
         library_lacks={"smtp/inet"}),
    Case("low_grade_on_one_listener", BASE, SMTP + ALT + "  -o smtpd_tls_ciphers=low\n",
         expect={"smtp/inet": False, "2525/inet": False}, library_lacks={"2525/inet"}),
]


def pfcheck_fires(case: Case, root: Path, files: Dict[str, str]) -> Set[str]:
    return services_flagged("PF508", case.main_cf, case.master_cf + TLSMGR + HELPER_SERVICES, files, root)


def _reply(stream) -> bytes:  # type: ignore[no-untyped-def]
    """One (multi-line) reply, all its lines."""
    lines = b""
    while True:
        line = stream.readline()
        lines += line
        if len(line) < 4 or line[3:4] != b"-":
            return lines


def null_only_handshake(pf: LivePostfix, service: str) -> Tuple[bool, str]:
    """Whether a client offering only NULL ciphers gets a TLS session after STARTTLS."""
    sock = pf.connect_listener(service)
    try:
        stream = sock.makefile("rb")
        assert _reply(stream).startswith(b"220")
        sock.sendall(b"EHLO probe.example\r\n")
        ehlo = _reply(stream)
        assert ehlo.startswith(b"250") and b"STARTTLS" in ehlo, ehlo
        sock.sendall(b"STARTTLS\r\n")
        answer = _reply(stream)
        assert answer.startswith(b"220"), answer
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(NULL_ONLY)
        try:
            wrapped = context.wrap_socket(sock, server_hostname="localhost")
        except ssl.SSLError as error:
            return False, f"handshake failed: {error}"
        cipher = wrapped.cipher()
        wrapped.close()
        return True, f"{wrapped.version()} {cipher}"
    finally:
        sock.close()


@pytest.mark.parametrize("case", [
    pytest.param(case, id=case.name,
                 marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else [])
    for case in CASES])
def test_pf508_fires_exactly_when_smtpd_negotiates_a_weak_cipher(
        case: Case, tmp_path: Path, live_postfix_factory: type, tls_files: Dict[str, str]) -> None:
    fires = pfcheck_fires(case, tmp_path, tls_files)
    with live_postfix_factory(case.main_cf, case.master_cf + TLSMGR + HELPER_SERVICES, files=tls_files) as pf:
        for service, expected in case.expect.items():
            assert pf.startup_fatal(service) is None, service
            weak, how = null_only_handshake(pf, service)
            observed = weak or service in case.library_lacks
            assert (service in fires) == observed, (
                f"{case.name} {service}: PF508 {'fires' if service in fires else 'silent'}; NULL-only client: {how}")
            assert weak == expected, f"{case.name} {service}: expected {expected}; NULL-only client: {how}"
    assert fires <= set(case.expect), fires


# ------------------------------------------------------------------------------------------
# The protocol lists PF507 reads: which ones Postfix can parse (else "Invalid TLS protocol
# list": TLS disabled, STARTTLS answers 454). pfcheck's reading is tls_facts.enabled_protocols
# (None = cannot parse); PF507 judges only lists that parse.

PROTOCOL_LISTS = ("!SSLv2, !SSLv3", "!sslv2, !sslv3", "!SSLV2:!sslV3:!tlsv1", "tlsv1.3",
                  ">=tlsv1.2", ">=TLSv1.2, <=tlsv1.3", "!bogus", ">=TLSv9")


@pytest.mark.parametrize("protocols", PROTOCOL_LISTS)
def test_protocol_list_parses_exactly_when_postfix_keeps_tls(
        protocols: str, live_postfix_factory: type, tls_files: Dict[str, str]) -> None:
    from pfcheck.postfix import tls_facts

    parses = tls_facts.enabled_protocols(protocols, "3.7") is not None
    main_cf = BASE + f"smtpd_tls_protocols = {protocols}\n"
    with live_postfix_factory(main_cf, SMTP + TLSMGR + HELPER_SERVICES, files=tls_files) as pf:
        probe = pf.ehlo("smtp/inet")
        assert probe.starttls_advertised, probe.transcript
        invalid = pf.wait_for_log("Invalid TLS protocol list", timeout=0.5 if probe.tls else 5.0)
    assert probe.tls == (invalid is None), (probe.transcript, invalid)
    assert parses == probe.tls, (
        f"{protocols!r}: pfcheck {'parses' if parses else 'cannot parse'} it; Postfix "
        f"{'keeps' if probe.tls else 'disables'} TLS ({invalid or probe.transcript[-1]})")
