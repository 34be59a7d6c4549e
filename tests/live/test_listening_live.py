"""What master(8) binds and what smtpd greets with, judged by a live Postfix 3.7 (the twins of
pfcheck/postfix/listening.py, PF401 and PF410-PF412).

Bind matrix: each case's main.cf/master.cf run unchanged in addresses (LivePostfix
`keep_addresses=True`) inside the test's own network namespace, which has loopback and a veth
interface with documentation addresses (192.0.2.10/24, 2001:db8::10/64). The LISTEN sockets of
that namespace (/proc/PID/net/tcp, tcp6) must be exactly what pfcheck's `ConfigDir.binding()`
computes for the inet services (per port), and PF401 (role send-only) must report exactly the
services that have a socket outside loopback. A case master refuses to start with must be one
whose binding pfcheck marks as refused (`Binding.error`).

Greeting matrix: each case runs in the ordinary harness (listeners moved to 127.0.0.1:PORT); the
text after `220 ` of every smtpd listener must equal `listening.greeting_banner()` computed with
this machine's host facts (host name, mail_version), and PF410/PF411/PF412 (run without host
facts, as a user runs pfcheck) must fire exactly when the real greeting names Postfix or an OS,
names a version, or does not start with the real $myhostname: judged here from the greeting
text with the test's own small checks, not with pfcheck's.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import pytest

from pfcheck.postfix.config import load_config_dir
from pfcheck.postfix.listening import greeting_banner
from pfcheck.rules import pf401_send_only_listens_remotely as pf401
from pfcheck.rules import pf410_banner_discloses_software as pf410
from pfcheck.rules import pf411_banner_discloses_version as pf411
from pfcheck.rules import pf412_banner_without_hostname as pf412
from pfcheck.rules.base import RuleContext
from pfcheck.show import show_model
from tests.support.banner_oracle import banner_oracle
from tests.support.differential import host_facts as machine_host_facts
from tests.support.live_postfix import (
    HELPER_SERVICES,
    LivePostfix,
    LivePostfixError,
    live_postfix_factory,  # noqa: F401  (pytest fixture)
    namespace_isolation_available,
)
from tests.support.postfix_oracle import postfix_required

pytestmark = pytest.mark.live

NAMESPACE_SETUP = [
    ["ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1"],
    ["ip", "addr", "add", "192.0.2.10/24", "dev", "d0"],
    ["ip", "addr", "add", "2001:db8::10/64", "dev", "d0", "nodad"],
    ["ip", "link", "set", "d0", "up"],
    ["ip", "link", "set", "d1", "up"],
]
COMPAT = "compatibility_level = 3.6\n"
SMTP = "smtp      inet  n       -       n       -       -       smtpd\n"


@dataclass(frozen=True)
class BindCase:
    name: str
    main_cf: str
    master_cf: str = SMTP


BIND_CASES = [
    BindCase("default_all", ""),
    BindCase("loopback_only", "inet_interfaces = loopback-only\n"),
    BindCase("one_address", "inet_interfaces = 192.0.2.10\n"),
    BindCase("address_list", "inet_interfaces = 192.0.2.10, [2001:db8::10] 127.0.0.1\n"),
    BindCase("ipv6_literal_without_brackets", "inet_interfaces = 2001:db8::10,::1\n"),
    BindCase("all_ipv4_only", "inet_protocols = ipv4\n"),
    BindCase("all_ipv6_only", "inet_protocols = ipv6\n"),
    BindCase("loopback_ipv6_only", "inet_protocols = ipv6\ninet_interfaces = loopback-only\n"),
    BindCase("refused_address_of_a_disabled_family", "inet_protocols = ipv4\ninet_interfaces = 192.0.2.10, ::1\n"),
    BindCase("later_duplicate_wins", "inet_interfaces = loopback-only\ninet_interfaces = all\n"),
    BindCase("earlier_all_overridden", "inet_interfaces = all\ninet_interfaces = 127.0.0.1\n"),
    BindCase("continuation_line", "inet_interfaces = 127.0.0.1,\n  192.0.2.10\n"),
    BindCase("expanded", "inet_interfaces = $listen_on\nlisten_on = 192.0.2.10\n"),
    BindCase("o_override_is_ignored_by_master", "inet_interfaces = loopback-only\n",
             SMTP + "  -o inet_interfaces=all\n"),
    BindCase("no_family_binds_nothing", "inet_protocols =\n"),
    BindCase("host_ports", "inet_interfaces = loopback-only\n",
             "127.0.0.1:2525 inet n - n - - smtpd\n"
             "[::1]:2526     inet n - n - - smtpd\n"
             "0.0.0.0:smtp   inet n - n - - smtpd\n"
             "[::]:2527      inet n - n - - smtpd\n"
             "192.0.2.10:2528 inet n - n - - smtpd\n"
             "[2001:db8::10]:2529 inet n - n - - smtpd\n"
             ":2530          inet n - n - - smtpd\n"
             "2531           inet n - n - - smtpd\n"),
    BindCase("host_port_overrides_all", "",
             "127.0.0.1:smtp inet n - n - - smtpd\n[::1]:2526 inet n - n - - smtpd\n"),
    BindCase("other_inet_services", "",
             "127.0.0.1:smtp inet n - n - - smtpd\n"
             "628       inet  n       -       n       -       -       qmqpd\n"
             "2532      inet  n       -       n       -       1       postscreen\n"
             "smtpd     pass  -       -       n       -       -       smtpd\n"
             "10025     inet  n       -       n       -       -       smtpd -o content_filter=\n"),
    BindCase("localhost", "inet_interfaces = localhost\n"),
    # master refuses to start: pfcheck must mark the binding as refused.
    BindCase("refused_empty_interfaces", "inet_interfaces =\n"),
    BindCase("refused_wildcard_of_a_disabled_family", "inet_protocols = ipv4\n",
             "[::]:2526 inet n - n - - smtpd\n"),
]


def _port(text: str) -> int:
    return int(text) if text.isdigit() else socket.getservbyname(text, "tcp")


def _needs_namespace() -> None:
    if not namespace_isolation_available():
        message = "the bind matrix needs a private network namespace (unshare --net, setns)"
        if postfix_required():
            pytest.fail(message + " and PFCHECK_REQUIRE_POSTFIX=1")
        pytest.skip(message)


def _write(directory: Path, main_cf: str, master_cf: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.cf").write_text(main_cf)
    (directory / "master.cf").write_text(master_cf)
    return directory


@pytest.mark.parametrize("case", BIND_CASES, ids=[c.name for c in BIND_CASES])
def test_master_binds_what_pfcheck_computes(case: BindCase, tmp_path: Path, live_postfix_factory: type) -> None:
    _needs_namespace()
    main_cf = COMPAT + case.main_cf
    config = load_config_dir(_write(tmp_path / "repo", main_cf, case.master_cf))
    inet = [s for s in config.master.services if s.type == "inet"]
    bindings = {s.key: config.binding(s) for s in inet}
    refused = [key for key, b in bindings.items() if b.error is not None]
    instance = LivePostfix(main_cf, case.master_cf + HELPER_SERVICES, keep_addresses=True,
                           namespace_commands=NAMESPACE_SETUP)
    try:
        try:
            instance.__enter__()
        except LivePostfixError as error:
            assert refused, f"{case.name}: master refused to start, pfcheck expected it to bind:\n{error}"
            fatal = [line for line in str(error).splitlines() if "fatal:" in line]
            assert any(bindings[key].error.split(": ")[-1] in line for key in refused for line in fatal), (
                f"{case.name}: pfcheck's reason {[bindings[k].error for k in refused]} is not master's {fatal}")
            return
        assert not refused, f"{case.name}: pfcheck says master refuses {refused}, but it started"
        live = instance.listening_sockets()
    finally:
        instance.stop()

    by_port: Dict[int, Set[str]] = {}
    for address, port in live:
        by_port.setdefault(port, set()).add(address)
    expected: Dict[int, Set[str]] = {}
    for key, binding in bindings.items():
        if binding.disabled:
            continue
        port = _port(binding.port)
        expected.setdefault(port, set()).update(binding.addresses)
        for name in binding.names:
            assert name == "localhost", f"{case.name}: host names other than localhost are not in the matrix"
            # localhost: whatever the resolver gives, loopback only (a host fact, /etc/hosts).
            resolved = by_port.get(port, set()) - set(binding.addresses)
            assert resolved and all(a.startswith("127.") or a == "::1" for a in resolved), (case.name, resolved)
            expected[port] |= resolved
    assert by_port == expected, f"{case.name}: master bound {sorted(live)}, pfcheck computed {expected}"

    # `pfcheck show` lists, per listener, sockets master really opened.
    opened = {f"[{a}]:{port}" if ":" in a else f"{a}:{port}" for a, port in live}
    for key, shown in show_model(config)["listeners"].items():
        numeric = [b for b in shown["binds"] if not b.startswith("localhost:")]
        assert set(numeric) <= opened, f"{case.name}: show says {key} binds {numeric}; master opened {opened}"

    # PF401 reports exactly the services with a socket outside loopback.
    ctx = RuleContext(config, tmp_path / "repo", roles=frozenset({"send-only"}))
    reported = {f.service for f in pf401.check(ctx, {})}
    outside = {key for key, b in bindings.items() if not b.disabled
               and any(not (a.startswith("127.") or a == "::1") for a in by_port.get(_port(b.port), set()))}
    assert reported == outside, f"{case.name}: PF401 reported {reported}, sockets outside loopback: {outside}"


# ------------------------------------------------------------------------------------------
# Greetings


@dataclass(frozen=True)
class GreetingCase:
    name: str
    main_cf: str
    master_cf: str = SMTP


TWO = SMTP + "2525      inet  n       -       n       -       -       smtpd\n"
GREETING_CASES = [
    GreetingCase("default", ""),
    GreetingCase("custom", "smtpd_banner = $myhostname ESMTP\n"),
    GreetingCase("debian", "smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)\n"),
    GreetingCase("mail_name", "mail_name = Mailer\n"),
    GreetingCase("mail_name_with_os", "mail_name = Mailer (Ubuntu)\n"),
    GreetingCase("mail_version_in_banner", "smtpd_banner = $myhostname ESMTP $mail_name $mail_version\n"),
    GreetingCase("mail_version_set", "mail_version = 9.9\nsmtpd_banner = $myhostname ESMTP $mail_version\n"),
    GreetingCase("mail_version_word", "mail_version = unknown\nsmtpd_banner = $myhostname ESMTP ${mail_version}\n"),
    GreetingCase("mail_version_parenthesised", "smtpd_banner = $myhostname ESMTP $(mail_version)\n"),
    GreetingCase("override_on_one_listener", "smtpd_banner = $myhostname ESMTP\n",
                 TWO + "  -o smtpd_banner=$myhostname_ESMTP_$mail_name\n"),
    GreetingCase("override_with_braces", "",
                 TWO + "  -o { smtpd_banner = $myhostname ESMTP Linux 2.0 }\n"),
    GreetingCase("continuation", "smtpd_banner = $myhostname ESMTP\n  Red Hat mail\n"),
    GreetingCase("duplicates_last_wins", "smtpd_banner = $myhostname ESMTP $mail_name\nsmtpd_banner = $myhostname ESMTP\n"),
    GreetingCase("conditionals", "smtpd_banner = $myhostname ESMTP ${mail_name?yes} ${nonesuch?FreeBSD} ${nonesuch:none}\n"),
    GreetingCase("no_hostname", "smtpd_banner = ESMTP ready\n"),
    GreetingCase("empty_name_first", "smtpd_banner = $nothing_here $myhostname ESMTP\n"),
    GreetingCase("glued", "smtpd_banner = ${myhostname}ESMTP\n"),
    GreetingCase("hostname_later", "smtpd_banner = ESMTP $myhostname\n"),
    GreetingCase("literal_version", "smtpd_banner = $myhostname ESMTP Postfix 3.7.11\n"),
    GreetingCase("hostname_set", "myhostname = mx.debian-postfix.example\n"),
    GreetingCase("literal_other_name", "myhostname = mx.example.com\nsmtpd_banner = mail.example.com ESMTP\n"),
]

@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    return machine_host_facts(tmp_path_factory.mktemp("empty"))


@pytest.mark.parametrize("case", GREETING_CASES, ids=[c.name for c in GREETING_CASES])
def test_greeting_is_the_banner_pfcheck_computes(case: GreetingCase, tmp_path: Path, facts: Dict[str, str],
                                                 live_postfix_factory: type) -> None:
    main_cf = COMPAT + case.main_cf
    directory = _write(tmp_path / "repo", main_cf, case.master_cf)
    with live_postfix_factory(main_cf, case.master_cf + HELPER_SERVICES) as pf:
        greetings = {key: pf.greeting(key) for key in pf.ports}
        real = pf.postconf("myhostname", "mail_version")
    hostname = real["myhostname"]
    with_facts = load_config_dir(directory, host_facts=facts)
    computed = {listener.key: greeting_banner(listener.scope) for listener in with_facts.listeners()}
    for key, reply in greetings.items():
        assert reply.code == 220, f"{case.name} {key}: {reply}"
        assert reply.text == computed[key], f"{case.name} {key}: Postfix says {reply.text!r}, pfcheck {computed[key]!r}"

    # The rules, run as a user runs pfcheck (no host facts), fire exactly when the greeting does.
    config = load_config_dir(directory)
    ctx = RuleContext(config, directory)
    fired = {module.ID: {f.service for f in module.check(ctx, {})} for module in (pf410, pf411, pf412)}
    for key, reply in greetings.items():
        mail_version = real["mail_version"] if "mail_version" not in case.main_cf else \
            with_facts.global_scope.value("mail_version")
        software, version, starts = banner_oracle(reply.text, hostname, mail_version)
        got = (key in fired["PF410"], key in fired["PF411"], key not in fired["PF412"])
        assert got == (software, version, starts), (
            f"{case.name} {key}: greeting {reply.text!r}: (software/OS, version, starts with {hostname}) "
            f"is {(software, version, starts)}, the rules say {got}")
