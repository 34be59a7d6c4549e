"""pfcheck.postfix.tls_facts and pfcheck.postfix.ports without a running Postfix (the live
twin is tests/live/test_tls_sasl_live.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

from pfcheck.postfix import ports, tls_facts
from pfcheck.postfix.config import Listener, load_config_dir

ALL = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("value,version,expected", [
    ("", "3.7", ALL),
    (">=TLSv1", "3.7", ALL[2:]),
    (">=TLSv1", "3.5", None),  # no range syntax before 3.6
    ("!SSLv2, !SSLv3", "3.5", ALL[2:]),
    ("!SSLv2:!SSLv3:!TLSv1", "3.7", ALL[3:]),
    ("TLSv1.2 TLSv1.3", "3.7", ("TLSv1.2", "TLSv1.3")),
    ("SSLv3", "3.7", ("SSLv3",)),
    (">=SSLv3", "3.7", ALL[1:]),  # SSLv2 is below the floor
    ("<=TLSv1.2", "3.7", ALL[:5]),
    (">=", "3.7", ALL),  # strtoul("") is 0: no floor
    (">=None", "3.7", ALL),
    (">=0x303", "3.7", ("TLSv1.2", "TLSv1.3")),
    (">=303", "3.7", ("TLSv1.2", "TLSv1.3")),
    ("sslv3", "3.7", ("SSLv3",)),  # names compare in any case (name_code: strcasecmp)
    ("!sslv2 !SSLV3", "3.7", ALL[2:]),
    (">=tlsv1.2", "3.7", ("TLSv1.2", "TLSv1.3")),
    (">=none", "3.7", ALL),
    ("!TLSv9", "3.7", None),
    (">=TLSv1.1, <=TLSv1.2", "3.7", ("TLSv1.1", "TLSv1.2")),
])
def test_enabled_protocols(value: str, version: str, expected: Optional[tuple]) -> None:
    assert tls_facts.enabled_protocols(value, version) == expected


@pytest.mark.parametrize("name,port", [
    ("smtp", 25), ("submission", 587), ("submissions", 465), ("smtps", 465), ("2525", 2525),
    ("127.0.0.1:submission", 587), ("[::1]:25", 25), ("SMTP", None), ("imap", None), ("0", None),
])
def test_inet_port(name: str, port: Optional[int]) -> None:
    assert ports.inet_port(name) == port


def _listeners(tmp_path: Path, main_cf: str, master_cf: str) -> dict[str, Listener]:
    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\n" + main_cf)
    (tmp_path / "master.cf").write_text(master_cf)
    return {listener.key: listener for listener in load_config_dir(tmp_path).listeners()}


def test_levels_and_implications(tmp_path: Path) -> None:
    listeners = _listeners(tmp_path, "smtpd_use_tls = yes\nsmtpd_tls_chain_files = /x.pem\nsmtpd_sasl_auth_enable = yes\n", (
        "smtp inet n - n - - smtpd\n"
        "587 inet n - n - - smtpd -o smtpd_tls_security_level=encrypt\n"
        "465 inet n - n - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=none\n"
        "26 inet n - n - - smtpd -o smtpd_tls_security_level=none\n"
        "27 inet n - n - - smtpd -o smtpd_tls_security_level=verify\n"
        "28 inet n - n - - smtpd -o smtpd_tls_chain_files=\n"
    ))
    smtp, sub, wrapper, none, verify, nocert = (listeners[key] for key in (
        "smtp/inet", "587/inet", "465/inet", "26/inet", "27/inet", "28/inet"))
    assert tls_facts.tls_level(smtp) == "may" and tls_facts.starttls_offered(smtp)
    assert tls_facts.auth_offered_before_tls(smtp) and tls_facts.auth_offered_after_tls(smtp)
    assert tls_facts.tls_level(sub) == "encrypt" and tls_facts.tls_required(sub)
    assert not tls_facts.auth_offered_before_tls(sub) and tls_facts.auth_offered_after_tls(sub)
    assert tls_facts.protocols_parameter(sub) == "smtpd_tls_mandatory_protocols"
    # wrapper mode ignores the level and is enforced TLS
    assert tls_facts.wrapper_mode(wrapper) and tls_facts.tls_level(wrapper) == "encrypt"
    assert not tls_facts.starttls_advertised(wrapper) and tls_facts.tls_available(wrapper)
    assert tls_facts.tls_level(none) == "none" and not tls_facts.starttls_advertised(none)
    assert tls_facts.tls_level(verify) == "encrypt"
    # no certificate: advertised, but not offered (454)
    assert tls_facts.starttls_advertised(nocert) and not tls_facts.starttls_offered(nocert)
    assert "certificate" in tls_facts.smtpd_tls(nocert).tls_problem


def test_anonymous_certificate_none(tmp_path: Path) -> None:
    listeners = _listeners(tmp_path, "smtpd_tls_security_level = may\nsmtpd_tls_cert_file = NONE\n", (
        "smtp inet n - n - - smtpd\n"
        "26 inet n - n - - smtpd -o smtpd_tls_ask_ccert=yes\n"
    ))
    assert tls_facts.server_certificate_configured(listeners["smtp/inet"])
    assert not tls_facts.server_certificate_configured(listeners["26/inet"])


def test_invalid_protocol_list_disables_tls(tmp_path: Path) -> None:
    listeners = _listeners(tmp_path, "smtpd_tls_security_level = may\nsmtpd_tls_chain_files = /x.pem\n"
                           "smtpd_tls_protocols = !bogus\n", "smtp inet n - n - - smtpd\n")
    assert not tls_facts.tls_available(listeners["smtp/inet"])


def test_submission_and_mx_ports(tmp_path: Path) -> None:
    listeners = _listeners(tmp_path, "", (
        "smtp inet n - n - - postscreen\n"
        "smtpd pass - - n - - smtpd\n"
        "submissions inet n - n - - smtpd\n"
        "2525 inet n - n - - smtpd\n"
    ))
    assert ports.is_mx_listener(listeners["smtpd/pass"])
    assert ports.is_submission_listener(listeners["submissions/inet"])
    assert not ports.is_mx_listener(listeners["2525/inet"]) and not ports.is_submission_listener(listeners["2525/inet"])
