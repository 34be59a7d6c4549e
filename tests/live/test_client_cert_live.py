"""PF511 (weak-fingerprint-digest) judged by a live Postfix 3.7 with a real client certificate.

A module fixture makes, with openssl in a temp dir, a server certificate and a self-signed
client certificate, and the client certificate's md5, sha1, sha256 and sha512 fingerprints in
Postfix's form (upper-case hex, colons). Fingerprint matching needs only a certificate that is
present, not one that verifies (smtpd_check.c, permit_tls_clientcerts / check_ccert_access).

Each case is one repo config (main.cf: the certificate, `smtpd_tls_ask_ccert = yes`; the case's
listeners plus the helper services and tlsmgr); pfcheck (the CLI, JSON output) and a private
real Postfix read the same files. Postfix is asked, as the outside client 203.0.113.7
(XCLIENT), after STARTTLS with the client certificate, RCPT TO:<relaytest@example.org>:

* `check_ccert_access hash:/etc/postfix/ccerts`, whose four keys are the four fingerprints
  with the action `REJECT digest <name>`: the reply names the digest smtpd matched with.
* `permit_tls_clientcerts` with `relay_clientcerts` listing only the md5 and sha1
  fingerprints: relayed = smtpd matched with a weak digest; "Relay access denied" = not.

Assertion: per listener, PF511 fires exactly when smtpd matched the certificate by md5 or sha1
(`smtpd_tls_fingerprint_digest`, set or by compatibility_level default, `-o` included).

PF510 (client-cert-relay-public-ca) has no live twin: it is about trusting *public* CAs
(tls_append_default_CA, system CA bundles), and no test here can hold a client certificate that
a public CA signed.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import pytest

from tests.support.live_rules import services_flagged
from tests.support.live_postfix import (
    ACCEPTED,
    HELPER_SERVICES,
    LivePostfix,
    live_postfix_factory,  # noqa: F401  (pytest fixture)
)

DIGESTS = ("md5", "sha1", "sha256", "sha512")
WEAK = {"md5", "sha1"}
SMTP = "smtp      inet  n       -       n       -       -       smtpd\n"
ALT = "2525      inet  n       -       n       -       -       smtpd\n"
TLSMGR = "tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n"
TLS = ("smtpd_tls_security_level = may\nsmtpd_tls_ask_ccert = yes\n"
       "smtpd_tls_cert_file = /etc/postfix/cert.pem\nsmtpd_tls_key_file = /etc/postfix/key.pem\n"
       "notify_classes =\n")
CCERT_ACCESS = "smtpd_relay_restrictions = check_ccert_access hash:/etc/postfix/ccerts, reject_unauth_destination\n"
PERMIT_CCERTS = ("relay_clientcerts = hash:/etc/postfix/relay_clientcerts\n"
                 "smtpd_relay_restrictions = permit_tls_clientcerts, reject_unauth_destination\n")


@dataclass
class Case:
    name: str
    main_cf: str
    master_cf: str = SMTP
    #: Hand-written expectation: the digest smtpd matches with per listener (None: no lookup).
    expect: Dict[str, Optional[str]] = field(default_factory=dict)


def compat(level: str) -> str:
    return f"compatibility_level = {level}\n" + TLS


CASES = [
    Case("default_sha256_from_3_6", compat("3.6") + CCERT_ACCESS, expect={"smtp/inet": "sha256"}),
    Case("default_md5_below_3_6", compat("2") + CCERT_ACCESS, expect={"smtp/inet": "md5"}),
    Case("default_md5_at_3_5", compat("3.5") + CCERT_ACCESS, expect={"smtp/inet": "md5"}),
    Case("explicit_sha1_upper_case", compat("3.6") + "smtpd_tls_fingerprint_digest = SHA1\n" + CCERT_ACCESS,
         expect={"smtp/inet": "sha1"}),
    Case("explicit_sha256_below_3_6", compat("2") + "smtpd_tls_fingerprint_digest = sha256\n" + CCERT_ACCESS,
         expect={"smtp/inet": "sha256"}),
    Case("explicit_sha512", compat("3.6") + "smtpd_tls_fingerprint_digest = sha512\n" + CCERT_ACCESS,
         expect={"smtp/inet": "sha512"}),
    Case("later_duplicate_wins", compat("3.6") + "smtpd_tls_fingerprint_digest = md5\n"
         "smtpd_tls_fingerprint_digest = sha256\n" + CCERT_ACCESS, expect={"smtp/inet": "sha256"}),
    Case("expanded_value", compat("3.6") + "digest = md5\nsmtpd_tls_fingerprint_digest = $digest\n" + CCERT_ACCESS,
         expect={"smtp/inet": "md5"}),
    Case("digest_override_on_one_listener", compat("3.6") + CCERT_ACCESS,
         SMTP + ALT + "  -o smtpd_tls_fingerprint_digest=md5\n",
         expect={"smtp/inet": "sha256", "2525/inet": "md5"}),
    Case("compatibility_level_override_on_one_listener", compat("3.6") + CCERT_ACCESS,
         SMTP + ALT + "  -o compatibility_level=2\n", expect={"smtp/inet": "sha256", "2525/inet": "md5"}),
    Case("tls_off_on_one_listener", compat("2") + CCERT_ACCESS, SMTP + ALT + "  -o smtpd_tls_security_level=none\n",
         expect={"smtp/inet": "md5", "2525/inet": None}),
    Case("no_fingerprint_restriction", compat("2") + "smtpd_relay_restrictions = reject_unauth_destination\n",
         expect={"smtp/inet": None}),
    Case("relay_clientcerts_md5", compat("2") + PERMIT_CCERTS, expect={"smtp/inet": "weak"}),
    Case("relay_clientcerts_sha256", compat("3.6") + PERMIT_CCERTS, expect={"smtp/inet": None}),
]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Dict[str, str], Tuple[str, str], Dict[str, str]]:
    """(files for the config, (client cert, client key), fingerprint per digest)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    directory = tmp_path_factory.mktemp("certs")
    for name, subject in (("server", "/CN=mx.example"), ("client", "/CN=client.example")):
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", subject, "-keyout", str(directory / f"{name}-key.pem"),
                        "-out", str(directory / f"{name}.pem")], check=True, capture_output=True, timeout=120)
    prints: Dict[str, str] = {}
    for digest in DIGESTS:
        out = subprocess.run([openssl, "x509", "-noout", "-fingerprint", f"-{digest}",
                              "-in", str(directory / "client.pem")],
                             check=True, capture_output=True, text=True, timeout=60).stdout
        prints[digest] = out.strip().split("=", 1)[1].upper()
    files = {
        "/etc/postfix/cert.pem": (directory / "server.pem").read_text(),
        "/etc/postfix/key.pem": (directory / "server-key.pem").read_text(),
        "/etc/postfix/ccerts": "".join(f"{prints[d]} REJECT digest {d}\n" for d in DIGESTS),
        "/etc/postfix/relay_clientcerts": "".join(f"{prints[d]} {d}\n" for d in sorted(WEAK)),
    }
    return files, (str(directory / "client.pem"), str(directory / "client-key.pem")), prints


def pfcheck_fires(case: Case, root: Path, files: Dict[str, str]) -> Set[str]:
    return services_flagged("PF511", case.main_cf, case.master_cf + TLSMGR + HELPER_SERVICES, files, root)


def postfix_digest(pf: LivePostfix, service: str) -> Tuple[Optional[str], List[str]]:
    """The digest smtpd matched the client certificate with ("weak" when only known to be
    md5 or sha1), None when it matched none."""
    reply = pf.rcpt(service, recipient="relaytest@example.org", tls="always")
    notes = [str(reply)] + [line for line in reply.transcript if line.startswith("TLS:")]
    if reply.stage == "starttls" and "not offered" in reply.text:
        return None, notes
    assert any(line.startswith("TLS:") for line in reply.transcript), reply.transcript
    if reply.outcome == ACCEPTED:
        return "weak", notes  # relay_clientcerts lists only the md5 and sha1 fingerprints
    for digest in DIGESTS:
        if reply.text.endswith(f"digest {digest}"):
            return digest, notes
    assert "Relay access denied" in reply.text, reply.transcript
    return None, notes


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_pf511_fires_exactly_when_smtpd_matches_by_a_weak_digest(
        case: Case, tmp_path: Path, live_postfix_factory: type,
        certificates: Tuple[Dict[str, str], Tuple[str, str], Dict[str, str]]) -> None:
    files, client_cert, _ = certificates
    fires = pfcheck_fires(case, tmp_path, files)
    with live_postfix_factory(case.main_cf, case.master_cf + TLSMGR + HELPER_SERVICES, files=files,
                              tls_client_cert=client_cert) as pf:
        for service, expected in case.expect.items():
            assert pf.startup_fatal(service) is None, service
            digest, notes = postfix_digest(pf, service)
            weak = digest == "weak" or digest in WEAK
            assert (service in fires) == weak, (
                f"{case.name} {service}: PF511 {'fires' if service in fires else 'silent'}; "
                f"smtpd matched by {digest}; {notes}")
            assert digest == expected, f"{case.name} {service}: expected {expected}, smtpd {digest}; {notes}"
    assert fires <= set(case.expect), fires
