"""pfcheck.postfix.listening: master's binds and the greeting, read as Postfix reads them (the
live proof is tests/live/test_listening_live.py); and the fields `pfcheck show` adds."""
from __future__ import annotations

from pathlib import Path

import pytest

from pfcheck.postfix.config import load_config_dir
from pfcheck.postfix.listening import banner_facts, is_loopback, service_binding, split_service_name
from pfcheck.show import render_show_text, show_model


@pytest.mark.parametrize("name, expected", [
    ("smtp", ("", "smtp")), ("2525", ("", "2525")), (":2525", ("", "2525")),
    ("127.0.0.1:2525", ("127.0.0.1", "2525")), ("[::1]:2525", ("::1", "2525")),
    ("[IPv6:2001:db8::1]:smtp", ("2001:db8::1", "smtp")), ("mx.example.com:smtp", ("mx.example.com", "smtp")),
])
def test_split_service_name(name: str, expected: tuple[str, str]) -> None:
    assert split_service_name(name) == expected


@pytest.mark.parametrize("name, interfaces, protocols, endpoints, remote", [
    ("smtp", "all", "all", ("0.0.0.0:25", "[::]:25"), True),
    ("smtp", "All", "ipv4", ("0.0.0.0:25",), True),
    ("smtp", "loopback-only", "all", ("127.0.0.1:25", "[::1]:25"), False),
    ("smtp", "loopback-only", "ipv6", ("[::1]:25",), False),
    ("submission", "127.0.0.2, [::1]", "all", ("127.0.0.2:587", "[::1]:587"), False),
    ("smtp", "192.0.2.10 ::1", "all", ("192.0.2.10:25", "[::1]:25"), True),
    ("smtp", "localhost", "all", ("localhost:25",), False),
    ("smtp", "mx.example.com", "all", ("mx.example.com:25",), True),
    ("0.0.0.0:2525", "loopback-only", "all", ("0.0.0.0:2525",), True),
    ("[::1]:2525", "all", "all", ("[::1]:2525",), False),
    ("foo", "all", "all", ("0.0.0.0:foo", "[::]:foo"), True),
])
def test_service_binding(name: str, interfaces: str, protocols: str, endpoints: tuple[str, ...], remote: bool) -> None:
    binding = service_binding(name, interfaces, protocols)
    assert binding.error is None
    assert (binding.endpoints, binding.remote) == (endpoints, remote)


def test_refusals_and_disabled() -> None:
    assert service_binding("smtp", "", "all").error == "no valid IP address found: smtp"
    assert service_binding("[::]:25", "all", "ipv4").error == "bad hostname or network address: [::]:25"
    assert service_binding("smtp", "::1", "ipv4").error == "config variable inet_interfaces: host not found: ::1"
    disabled = service_binding("smtp", "all", " ")
    assert disabled.disabled and not disabled.remote and disabled.endpoints == ()


def test_loopback_is_postfix_s() -> None:
    assert is_loopback("127.255.0.1") and is_loopback("::1")
    assert not is_loopback("::ffff:127.0.0.1") and not is_loopback("::") and not is_loopback("0.0.0.0")


def test_banner_facts() -> None:
    facts = banner_facts("mx.debian.example ESMTP Postfix (Debian/GNU) 3.7.11", "mx.debian.example", "3.7.11")
    assert facts.software == "Postfix" and facts.systems == ("Debian", "GNU")
    assert facts.versions == ("3.7.11",) and facts.starts_with_hostname
    assert not banner_facts(" mx ESMTP", "mx", "").starts_with_hostname
    assert banner_facts("<myhostname> ESMTP <mail_version>", "<myhostname>", "<mail_version>").versions == ("<mail_version>",)


def test_show_lists_binds_and_greeting(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\ninet_interfaces = 127.0.0.1, 192.0.2.10\n")
    (tmp_path / "master.cf").write_text(
        "smtp inet n - n - 1 postscreen\nsmtpd pass - - n - - smtpd\n"
        "[::]:2525 inet n - n - - smtpd -o smtpd_banner=$myhostname\n")
    model = show_model(load_config_dir(tmp_path))
    listeners = model["listeners"]
    assert listeners["smtp/inet"]["binds"] == ["127.0.0.1:25", "192.0.2.10:25"]
    assert listeners["smtp/inet"]["banner"] is None  # postscreen: smtpd greets behind it
    assert listeners["smtpd/pass"]["binds"] == ["127.0.0.1:25", "192.0.2.10:25"]
    assert listeners["smtpd/pass"]["banner"] == "<myhostname> ESMTP Postfix"
    assert listeners["[::]:2525/inet"] == {
        "remote": True, "binding": "[::]:2525", "entry_points": ["[::]:2525/inet"],
        "binds": ["[::]:2525"], "bind_error": None, "banner": "<myhostname>",
        "tls": {"level": "none", "wrappermode": False, "starttls_advertised": False, "starttls_offered": False, "problem": None,
                "auth_before_tls": False, "auth_after_tls": False}}
    assert listeners["smtp/inet"]["tls"] is None  # postscreen: TLS is smtpd's, behind it
    text = render_show_text(model)
    assert "# binds: 127.0.0.1:25, 192.0.2.10:25" in text and "# greeting: 220 <myhostname>\n" in text
    assert "# tls: none (no STARTTLS); AUTH before TLS: no, after TLS: no" in text


def test_show_tls_level_and_auth_before_tls(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text(
        "compatibility_level = 3.6\nsmtpd_tls_security_level = may\nsmtpd_sasl_auth_enable = yes\n")
    (tmp_path / "master.cf").write_text(
        "smtp inet n - n - - smtpd\nsubmission inet n - n - - smtpd -o smtpd_tls_security_level=encrypt\n"
        "smtps inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n")
    listeners = show_model(load_config_dir(tmp_path))["listeners"]
    smtp, submission, smtps = (listeners[key]["tls"] for key in ("smtp/inet", "submission/inet", "smtps/inet"))
    # No certificate: STARTTLS is advertised, then answered 454.
    assert smtp["level"] == "may" and not smtp["starttls_offered"] and "no server certificate" in smtp["problem"]
    assert smtp["auth_before_tls"] and not smtp["auth_after_tls"]
    assert submission["level"] == "encrypt" and not submission["auth_before_tls"]
    assert smtps["wrappermode"] and smtps["level"] == "encrypt" and not smtps["auth_before_tls"]
    text = render_show_text(show_model(load_config_dir(tmp_path)))
    assert "# tls: may (STARTTLS advertised, refused with 454; TLS cannot start: no server certificate is configured" in text
