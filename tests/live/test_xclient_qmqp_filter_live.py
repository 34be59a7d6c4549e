"""XCLIENT/XFORWARD authorization, QMQP authorization and re-injection listener binds, judged by
a live Postfix 3.7 (the twins of PF611, PF612 and PF613).

Client matrix (PF611, PF612): each case runs in the harness with the config's own
`smtpd_authorized_xclient_hosts` (LivePostfix `keep_xclient_hosts=True`) inside a private
network namespace whose loopback also holds a few documentation and private addresses and
the rule's witness. The test connects *from* each of those addresses (no XCLIENT posing) and
observes what Postfix grants: `XCLIENT ADDR=...` answered 220 (new greeting) or 550
"insufficient authorization", `XFORWARD ADDR=...` answered 250 or 550, a QMQP netstring
submission answered `K` (queued) or `D` (not authorized). For every probe, pfcheck's reading
of the list (pfcheck/postfix/networks.py) must agree with Postfix; the rule must fire exactly
when Postfix grants a non-loopback client (its witness granted, every probe address outside
loopback refused otherwise). Where PF611 says XCLIENT is a relay, the witness is refused a
relay RCPT on its own and accepted after `XCLIENT ADDR=127.0.0.1`.

Bind matrix (PF613): re-injection listeners run unchanged in addresses (`keep_addresses=True`)
in a namespace with a veth interface (192.0.2.10/24); PF613 must report exactly the
re-injection services that master binds outside loopback.

Bypass matrix (PF613): in the ordinary harness, a message from a mynetworks client is sent to
every smtpd listener; whether cleanup queues it for the content filter (a content_filter
record in its envelope, `postcat -e`) and whether header_checks reject a marked Subject is
observed per listener.
PF613 must report exactly the listeners that skip something the MX listener applies, naming
what they skip.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Set, Tuple

import pytest

from pfcheck.postfix.config import load_config_dir
from pfcheck.postfix.networks import parse_address_list
from pfcheck.rules import pf611_xclient_xforward_too_wide as pf611
from pfcheck.rules import pf612_qmqp_open as pf612
from pfcheck.rules import pf613_filter_listener_exposed as pf613
from pfcheck.rules.base import RuleContext
# The veth namespace and port reading of the bind matrix there (PF401's twin).
from tests.live.test_listening_live import NAMESPACE_SETUP, _needs_namespace, _port
from tests.support.live_postfix import (
    HELPER_SERVICES,
    LivePostfix,
    live_postfix_factory,  # noqa: F401  (pytest fixture)
)

pytestmark = pytest.mark.live

COMMON = ("compatibility_level = 3.6\nmynetworks = 127.0.0.0/8\nqmqpd_error_delay = 0s\n"
          "smtpd_error_sleep_time = 0s\n")
SMTP = "smtp      inet  n       -       n       -       -       smtpd\n"
QMQP = "628       inet  n       -       n       -       -       qmqpd\n"
#: Clients every case connects from (besides the rule's witness), all on the namespace's lo.
PROBE_SOURCES = ("127.0.0.1", "192.0.2.1", "192.0.2.77", "198.51.100.7", "203.0.113.9", "10.1.2.3")
RELAY_RCPT = b"RCPT TO:<relaytest@relay-target.example>\r\n"


def _loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"


def _write(directory: Path, main_cf: str, master_cf: str, files: Mapping[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.cf").write_text(main_cf)
    (directory / "master.cf").write_text(master_cf)
    for name, content in files.items():
        (directory / name).write_text(content)
    return directory


@dataclass(frozen=True)
class ClientCase:
    name: str
    main_cf: str
    master_cf: str = SMTP
    files: Mapping[str, str] = field(default_factory=dict)


XCLIENT_CASES = [
    ClientCase("default_empty", ""),
    ClientCase("loopback_only", "smtpd_authorized_xclient_hosts = 127.0.0.1\n"),
    ClientCase("loopback_network_and_v6", "smtpd_authorized_xclient_hosts = 127.0.0.0/8, [::1]\n"),
    ClientCase("documentation_network", "smtpd_authorized_xclient_hosts = 127.0.0.1, 192.0.2.0/24\n"),
    ClientCase("everyone", "smtpd_authorized_xclient_hosts = 0.0.0.0/0\n"),
    ClientCase("negation_first_match", "smtpd_authorized_xclient_hosts = !192.0.2.1, 192.0.2.0/24\n"),
    ClientCase("negated_everything_first", "smtpd_authorized_xclient_hosts = !0.0.0.0/0, 192.0.2.0/24\n"),
    ClientCase("static_table", "smtpd_authorized_xclient_hosts = static:yes\n"),
    ClientCase("cidr_table", "smtpd_authorized_xclient_hosts = cidr:/etc/postfix/xclient.cidr\n",
               files={"xclient.cidr": "127.0.0.1 OK\n198.51.100.0/24 OK\n"}),
    ClientCase("expanded_continuation",
               "filters = 127.0.0.1,\n  203.0.113.0/28\nsmtpd_authorized_xclient_hosts = $filters\n"),
    ClientCase("later_duplicate_wins",
               "smtpd_authorized_xclient_hosts = 0.0.0.0/0\nsmtpd_authorized_xclient_hosts = 127.0.0.1\n"),
    ClientCase("o_override_widens", "smtpd_authorized_xclient_hosts = 127.0.0.1\n",
               SMTP + "  -o smtpd_authorized_xclient_hosts=10.0.0.0/8\n"),
    ClientCase("o_override_empties", "smtpd_authorized_xclient_hosts = 0.0.0.0/0\n",
               SMTP + "  -o smtpd_authorized_xclient_hosts=\n"),
    ClientCase("no_permit_to_pose_for",
               "smtpd_relay_restrictions = reject_unauth_destination\n"
               "smtpd_authorized_xclient_hosts = 192.0.2.0/24\n"),
]
XFORWARD_CASES = [
    ClientCase("xforward_default_empty", ""),
    ClientCase("xforward_loopback", "smtpd_authorized_xforward_hosts = 127.0.0.0/8\n"),
    ClientCase("xforward_mynetworks_expansion",
               "mynetworks = 127.0.0.0/8, 198.51.100.0/24\nsmtpd_authorized_xforward_hosts = $mynetworks\n"),
    ClientCase("xforward_o_override", "", SMTP + "  -o smtpd_authorized_xforward_hosts=192.0.2.0/25\n"),
]
QMQP_CASES = [
    ClientCase("qmqp_default_empty", "", SMTP + QMQP),
    ClientCase("qmqp_loopback", "qmqpd_authorized_clients = 127.0.0.1\n", SMTP + QMQP),
    ClientCase("qmqp_everyone", "qmqpd_authorized_clients = 0.0.0.0/0\n", SMTP + QMQP),
    ClientCase("qmqp_negation", "qmqpd_authorized_clients = !192.0.2.1, 192.0.2.0/24\n", SMTP + QMQP),
    ClientCase("qmqp_o_override", "qmqpd_authorized_clients = 127.0.0.1\n",
               SMTP + QMQP + "  -o qmqpd_authorized_clients=127.0.0.1,203.0.113.0/24\n"),
    ClientCase("qmqp_o_override_empties", "qmqpd_authorized_clients = 0.0.0.0/0\n",
               SMTP + QMQP + "  -o qmqpd_authorized_clients=\n"),
    ClientCase("qmqp_static", "qmqpd_authorized_clients = static:yes\n", SMTP + QMQP),
]


def _defaults(options: Mapping[str, Tuple[type, object]]) -> Dict[str, object]:
    return {name: default for name, (_, default) in options.items()}


def _lint(case: ClientCase, tmp_path: Path) -> Tuple[RuleContext, List, List]:
    directory = _write(tmp_path / "repo", COMMON + case.main_cf, case.master_cf, case.files)
    config = load_config_dir(directory)
    ctx = RuleContext(config, directory)
    return ctx, list(pf611.check(ctx, _defaults(pf611.OPTIONS))), list(pf612.check(ctx, _defaults(pf612.OPTIONS)))


def _sources(findings: List) -> List[str]:
    extra = [f.witness["address"] for f in findings
             if f.witness and f.witness["replayable"] and ":" not in f.witness["address"]]
    return list(dict.fromkeys(list(PROBE_SOURCES) + extra))


def _instance(case: ClientCase, sources: List[str]) -> LivePostfix:
    commands = [["ip", "addr", "add", f"{address}/32", "dev", "lo"]
                for address in sources if not _loopback(address)]
    return LivePostfix(COMMON + case.main_cf, case.master_cf + HELPER_SERVICES, files=dict(case.files),
                       keep_xclient_hosts=True, namespace_commands=commands)


def _model(ctx: RuleContext, scope_key: Optional[str], name: str, address: str) -> Optional[bool]:
    """pfcheck's reading of the list `name` in that service's scope for a client address."""
    config = ctx.config
    if scope_key is None:
        scope = config.global_scope
    else:
        scope = config.scope(next(s for s in config.master.services if s.key == scope_key))
    parsed = parse_address_list(scope.get(name).expanded, param=name, resolver=ctx.resolver(),
                                parent_domain_matches_subdomains=scope.value("parent_domain_matches_subdomains"))
    return parsed.match(address).matched


def _judge(name: str, ctx: RuleContext, where: Tuple[str, str], observed: Mapping[str, bool],
           findings: List) -> None:
    """Postfix granted each source exactly when pfcheck reads the list (`where`: service key,
    parameter) as matching it; the rule fired exactly when a non-loopback source was granted,
    and its witness was granted."""
    for source, granted in observed.items():
        expected = _model(ctx, where[0], where[1], source)
        assert expected is not None, f"{name}: no DNS-dependent items in the matrix"
        assert granted is expected, (
            f"{name}: Postfix {'grants' if granted else 'refuses'} {where[1]} for {source}, "
            f"pfcheck reads the list as {'matching' if expected else 'not matching'}")
    granted_outside = sorted(s for s, ok in observed.items() if ok and not _loopback(s))
    assert bool(findings) is bool(granted_outside), (
        f"{name}: {[f.message for f in findings]}; Postfix grants {granted_outside}")
    for finding in findings:
        assert observed[finding.witness["address"]], f"{name}: witness refused: {finding.message}"


def _xcommand_granted(pf: LivePostfix, source: str, command: bytes, granted_code: int) -> bool:
    talk = pf.converse("smtp/inet", ((b"EHLO probe.example\r\n", 1), (command, 1)), client=None, source=source)
    assert talk.failure is None and len(talk.replies) == 2, talk.transcript
    code, text = talk.replies[1]
    assert code == granted_code or (code == 550 and "insufficient authorization" in text), talk.replies
    return code == granted_code


@pytest.mark.parametrize("case", XCLIENT_CASES + XFORWARD_CASES, ids=[c.name for c in XCLIENT_CASES + XFORWARD_CASES])
def test_xclient_xforward_granted_as_pfcheck_reads_the_list(case: ClientCase, tmp_path: Path,
                                                            live_postfix_factory: type) -> None:
    _needs_namespace()
    ctx, findings, _ = _lint(case, tmp_path)
    xforward = case in XFORWARD_CASES
    name = pf611.XFORWARD if xforward else pf611.XCLIENT
    findings = [f for f in findings if f.parameter == name]
    command = b"XFORWARD ADDR=192.0.2.200\r\n" if xforward else b"XCLIENT ADDR=127.0.0.1\r\n"
    granted_code = 250 if xforward else 220
    sources = _sources(findings)
    with _instance(case, sources) as pf:
        observed = {source: _xcommand_granted(pf, source, command, granted_code) for source in sources}
        _judge(case.name, ctx, ("smtp/inet", name), observed, findings)
        for finding in findings:
            if not xforward and "it relays mail to any destination" in finding.message:
                _assert_relay_through_xclient(pf, finding.witness["address"], case.name)


def _assert_relay_through_xclient(pf: LivePostfix, source: str, name: str) -> None:
    """On its own the witness may not relay; posing as 127.0.0.1 (mynetworks) it may."""
    steps = ((b"EHLO probe.example\r\n", 1), (b"MAIL FROM:<probe@attacker.example>\r\n", 1), (RELAY_RCPT, 1))
    alone = pf.converse("smtp/inet", steps, client=None, source=source)
    assert alone.replies and alone.replies[-1][0] is not None and alone.replies[-1][0] >= 400, (name, alone.replies)
    posed = pf.converse("smtp/inet", ((b"XCLIENT ADDR=127.0.0.1\r\n", 1),) + steps, client=None, source=source)
    assert posed.replies[0][0] == 220 and posed.replies[-1][0] == 250, (name, posed.replies)


def _netstring(data: bytes) -> bytes:
    return str(len(data)).encode() + b":" + data + b","


def _qmqp(pf: LivePostfix, source: str) -> bytes:
    """One QMQP submission (netstring of message, sender, recipient) from `source`; the reply."""
    packet = (_netstring(b"Subject: qmqp probe\n\nprobe\n") + _netstring(b"probe@attacker.example")
              + _netstring(b"relaytest@relay-target.example"))
    sock = pf.connect("127.0.0.1", pf.other_ports["628/inet"], source=source)
    try:
        sock.settimeout(pf.command_timeout)
        try:
            sock.sendall(_netstring(packet))
        except OSError:
            pass  # a refusal may close the connection before the packet is read
        data = b""
        while True:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    length, _, rest = data.partition(b":")
    assert length.isdigit() and rest[int(length):int(length) + 1] == b",", data
    return rest[:int(length)]


@pytest.mark.parametrize("case", QMQP_CASES, ids=[c.name for c in QMQP_CASES])
def test_qmqp_accepted_as_pfcheck_reads_the_list(case: ClientCase, tmp_path: Path, live_postfix_factory: type) -> None:
    _needs_namespace()
    ctx, _, findings = _lint(case, tmp_path)
    sources = _sources(findings)
    with _instance(case, sources) as pf:
        observed: Dict[str, bool] = {}
        for source in sources:
            reply = _qmqp(pf, source)
            assert reply[:1] in (b"K", b"D"), (case.name, source, reply)
            assert reply[:1] == b"K" or b"is not authorized to use this service" in reply, (case.name, reply)
            observed[source] = reply[:1] == b"K"
    _judge(case.name, ctx, ("628/inet", "qmqpd_authorized_clients"), observed, findings)


# ------------------------------------------------------------------------------------------
# Re-injection listener binds (PF613)

FILTER_MAIN = "compatibility_level = 3.6\ncontent_filter = scan:[127.0.0.1]:10026\n"
REINJECT = " inet n - n - - smtpd -o content_filter= -o receive_override_options=no_header_body_checks\n"


@dataclass(frozen=True)
class BindCase:
    name: str
    main_cf: str
    master_cf: str


BIND_CASES = [
    BindCase("all_interfaces", "", SMTP + "10025" + REINJECT),
    BindCase("loopback_host_part", "", SMTP + "127.0.0.1:10025" + REINJECT),
    BindCase("ipv6_loopback_host_part", "", SMTP + "[::1]:10025" + REINJECT),
    BindCase("loopback_only_interfaces", "inet_interfaces = loopback-only\n", SMTP + "10025" + REINJECT),
    BindCase("one_public_interface", "inet_interfaces = 192.0.2.10\n", SMTP + "10025" + REINJECT),
    BindCase("wildcard_host_part", "inet_interfaces = loopback-only\n", SMTP + "0.0.0.0:10025" + REINJECT),
    BindCase("public_host_part", "inet_interfaces = loopback-only\n", SMTP + "192.0.2.10:10025" + REINJECT),
    BindCase("ipv6_wildcard_host_part", "inet_interfaces = loopback-only\n", SMTP + "[::]:10025" + REINJECT),
    BindCase("two_listeners_one_exposed", "inet_interfaces = loopback-only\n",
             SMTP + "127.0.0.1:10025" + REINJECT + "0.0.0.0:10027" + REINJECT),
    BindCase("override_without_filter_elsewhere_is_no_bypass", "content_filter =\n",
             SMTP + "10025 inet n - n - - smtpd -o content_filter=\n"),
]


@pytest.mark.parametrize("case", BIND_CASES, ids=[c.name for c in BIND_CASES])
def test_pf613_reports_reinjection_listeners_master_binds_outside_loopback(
        case: BindCase, tmp_path: Path, live_postfix_factory: type) -> None:
    _needs_namespace()
    main_cf = FILTER_MAIN + case.main_cf
    directory = _write(tmp_path / "repo", main_cf, case.master_cf, {})
    config = load_config_dir(directory)
    ctx = RuleContext(config, directory)
    reported = {f.service for f in pf613.check(ctx, {})}
    with LivePostfix(main_cf, case.master_cf + HELPER_SERVICES, keep_addresses=True,
                     namespace_commands=NAMESPACE_SETUP) as pf:
        live = pf.listening_sockets()
    by_port: Dict[int, Set[str]] = {}
    for address, port in live:
        by_port.setdefault(port, set()).add(address)
    bypassing = {service.key for service in config.master.services
                 if service.type == "inet" and "content_filter=" in " ".join(service.args)
                 and "receive_override_options" in " ".join(service.args)}
    exposed = {key for key in bypassing
               if any(not _loopback(address) for address in
                      by_port.get(_port(next(s for s in config.master.services if s.key == key).name.rpartition(":")[2]), set()))}
    assert reported == exposed, (f"{case.name}: PF613 reported {sorted(reported)}; re-injection services master "
                                 f"bound outside loopback: {sorted(exposed)} (sockets {sorted(live)})")


# ------------------------------------------------------------------------------------------
# What mail on a re-injection listener skips (PF613's bypasses, listeners moved to loopback)

SCAN = "scan      unix  -       -       n       -       10      smtp\n"
FILTERED_MAIN = (COMMON + "content_filter = scan:[127.0.0.1]:10026\n"
                 "header_checks = regexp:/etc/postfix/header_checks\n")
HEADER_CHECKS = {"header_checks": "/^Subject: blocked-by-header-checks/ REJECT header check\n"}


@dataclass(frozen=True)
class BypassCase:
    name: str
    master_cf: str
    main_cf: str = ""


BYPASS_CASES = [
    BypassCase("content_filter_emptied", SMTP + "10025 inet n - n - - smtpd -o content_filter=\n"),
    BypassCase("content_filter_emptied_by_expansion", SMTP + "10025 inet n - n - - smtpd -o content_filter=$none\n",
               "none =\n"),
    BypassCase("later_override_restores_the_filter",
               SMTP + "10025 inet n - n - - smtpd -o content_filter= -o content_filter=scan:[127.0.0.1]:10026\n"),
    BypassCase("header_checks_skipped",
               SMTP + "10025 inet n - n - - smtpd -o receive_override_options=no_header_body_checks\n"),
    BypassCase("header_checks_skipped_everywhere_already",
               SMTP + "10025 inet n - n - - smtpd -o receive_override_options=no_header_body_checks\n",
               "receive_override_options = no_header_body_checks\n"),
    BypassCase("other_override_is_no_bypass", SMTP + "10025 inet n - n - - smtpd -o smtpd_helo_required=yes\n"),
]


def _send(pf: LivePostfix, service: str, subject: str) -> Tuple[Optional[int], str]:
    """One message from 127.0.0.1 (mynetworks) to a remote recipient: the end-of-DATA reply."""
    message = f"Subject: {subject}\r\n\r\nprobe\r\n.\r\n".encode()
    talk = pf.converse(service, ((b"EHLO probe.example\r\n", 1), (b"MAIL FROM:<probe@example.com>\r\n", 1),
                                 (RELAY_RCPT, 1), (b"DATA\r\n", 1), (message, 1)), client=None)
    assert talk.failure is None and len(talk.replies) == 5 and talk.replies[3][0] == 354, talk.transcript
    return talk.replies[4]


def _filtered(pf: LivePostfix, reply: Tuple[Optional[int], str]) -> bool:
    """Whether cleanup queued the message for the content filter: its envelope holds a
    content_filter record (`postcat -e`; the harness defers every transport, so nothing is
    delivered either way)."""
    code, text = reply
    assert code == 250 and "queued as " in text, reply
    queue_id = text.rsplit("queued as ", 1)[1].strip()
    postcat = shutil.which("postcat") or "/usr/sbin/postcat"
    for _ in range(50):  # the file may be moving between queues
        shown = subprocess.run([postcat, "-c", str(pf.config_directory), "-e", "-q", queue_id],
                               capture_output=True, text=True, timeout=30)
        if shown.returncode == 0:
            return any(line.startswith("content_filter: ") for line in shown.stdout.splitlines())
        time.sleep(0.1)
    raise AssertionError(f"postcat -q {queue_id}: {shown.stderr}")


@pytest.mark.parametrize("case", BYPASS_CASES, ids=[c.name for c in BYPASS_CASES])
def test_pf613_bypasses_are_what_postfix_skips(case: BypassCase, tmp_path: Path, live_postfix_factory: type) -> None:
    main_cf = FILTERED_MAIN + case.main_cf
    directory = _write(tmp_path / "repo", main_cf, case.master_cf + SCAN, HEADER_CHECKS)
    ctx = RuleContext(load_config_dir(directory), directory)
    reported = {f.service: f.message for f in pf613.check(ctx, {})}
    with LivePostfix(main_cf, case.master_cf + SCAN + HELPER_SERVICES, files=HEADER_CHECKS) as pf:
        skipped: Dict[str, Set[str]] = {}
        for service in pf.ports:
            skips = skipped.setdefault(service, set())
            if not _filtered(pf, _send(pf, service, "plain")):
                skips.add("content filter")
            if _send(pf, service, "blocked-by-header-checks")[0] == 250:
                skips.add("header/body checks")
    base = skipped["smtp/inet"]  # the MX listener: what the installation applies everywhere
    for service, skips in skipped.items():
        extra = skips - base
        assert (service in reported) is bool(extra), (
            f"{case.name}: {service} skips {sorted(extra)} beyond smtp/inet; PF613: {reported.get(service)}")
        for what in extra:
            assert what in reported[service], (case.name, what, reported[service])
