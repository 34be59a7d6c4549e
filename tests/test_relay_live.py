"""The relay evaluator against a real Postfix 3.7.11, case by case (tests/relay_cases/*.yaml).

Each case is a config (main.cf, optional master.cf or lines appended to Debian's master.cf,
optional table files) and the expected verdict per listener. Two tests per case:

* `test_relay_case_verdict` (needs `postconf`): the evaluator's verdict equals the expected one.
  The effective parameters come from the real `postconf -c DIR -x` (main.cf plus each listener's
  `-o` overrides, defaults and expansion done by Postfix itself), so the evaluator is judged on
  its own, not on pfcheck's config model.
* `test_relay_case_live` (needs a private Postfix master): the verdict must match what Postfix
  does. OPEN: the witness, replayed with XCLIENT, is accepted (a witness that relies on DNS the
  attacker controls must at least not be refused with a 5xx). CLOSED: nmap-style probes (null,
  forged and foreign senders x HELO variants x the 16 smtp-open-relay recipient forms, with and
  without a verified client name) are all refused. REFUSED: smtpd dies at start-up with the
  guard's own message. UNPROVEN: the case states what the concrete private instance does.

The private instance gets three extra main.cf lines that only concern error throttling
(`smtpd_soft_error_limit`, `smtpd_hard_error_limit`, `smtpd_error_sleep_time`) so that one
session can carry many refused probes; they play no part in relay decisions.
"""
from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
from ruamel.yaml import YAML

from pfcheck.postfix.relay import (
    ATTACKER_DOMAIN,
    ATTACKER_HOSTNAME,
    RELAY_TARGET_DOMAIN,
    RELAY_TARGET_LITERAL,
    RELAY_TARGET_LOCALPART,
    RelayVerdict,
    Verdict,
    Witness,
    client_grants,
    evaluate_relay,
    smtp_address,
)
from pfcheck.postfix.tables import TableResolver
from tests.support.live_postfix import classify, live_postfix_factory  # noqa: F401  (pytest fixture)
from tests.support.postfix_oracle import need_postconf, parse_postconf_lines, postconf

CASES_DIR = Path(__file__).resolve().parent / "relay_cases"
HOST_MASTER_CF = Path("/etc/postfix/master.cf")
VERSION = "3.7"
COMMON_MAIN = "myhostname = mx.example.com\nmydomain = example.com\n"
# Error throttling only: lets one SMTP session carry many refused probes (see module docstring).
PROBE_LIMITS = "smtpd_soft_error_limit = 10000\nsmtpd_hard_error_limit = 10000\nsmtpd_error_sleep_time = 0\n"
# What the harness sets and what the evaluator must see too (the live instance listens on loopback).
HARNESS_MAIN = "inet_interfaces = loopback-only\n"
VERDICTS = {verdict.value: verdict for verdict in Verdict}


# ------------------------------------------------------------------------------------------
# Cases


@dataclass
class RelayCase:
    name: str
    source: str
    main_cf: str
    master_cf: Optional[str]
    files: Dict[str, str]
    expect: Dict[str, Verdict]
    live: Dict[str, str] = field(default_factory=dict)
    note: str = ""

    def full_main_cf(self) -> str:
        text = self.main_cf if self.main_cf.endswith("\n") or not self.main_cf else self.main_cf + "\n"
        return COMMON_MAIN + text + PROBE_LIMITS


def _default_master_cf() -> str:
    if HOST_MASTER_CF.exists():
        return HOST_MASTER_CF.read_text()
    return ""


def load_cases() -> List[RelayCase]:
    yaml = YAML(typ="safe")
    cases: List[RelayCase] = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for entry in yaml.load(path.read_text()) or []:
            master = entry.get("master_cf")
            append = entry.get("master_cf_append")
            if append:
                master = (master if master is not None else _default_master_cf()).rstrip("\n") + "\n" + append
            cases.append(RelayCase(
                name=str(entry["name"]),
                source=path.name,
                main_cf=entry.get("main_cf") or "",
                master_cf=master,
                files={str(key): str(value) for key, value in (entry.get("files") or {}).items()},
                expect={str(key): VERDICTS[str(value)] for key, value in entry["expect"].items()},
                live={str(key): str(value) for key, value in (entry.get("live") or {}).items()},
                note=str(entry.get("note") or ""),
            ))
    return cases


CASES = load_cases()


def test_case_files_cover_the_matrix() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CASES) >= 40
    verdicts = {verdict for case in CASES for verdict in case.expect.values()}
    assert verdicts == set(Verdict)


# ------------------------------------------------------------------------------------------
# EffectiveParams from the real postconf (the oracle for values)


@dataclass
class PostconfParams:
    service: str
    values: Dict[str, str]
    locations: Dict[str, Tuple[str, int]]

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def location(self, name: str) -> Optional[Tuple[str, int]]:
        return self.locations.get(name)


def _main_locations(text: str) -> Dict[str, Tuple[str, int]]:
    locations: Dict[str, Tuple[str, int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#") or line[0].isspace() or "=" not in line:
            continue
        locations[line.split("=", 1)[0].strip()] = ("main.cf", number)
    return locations


def _master_override_lines(text: str) -> Dict[Tuple[str, str, str], int]:
    """(service, type, parameter) -> master.cf line of its `-o`."""
    result: Dict[Tuple[str, str, str], int] = {}
    service: Optional[Tuple[str, str]] = None
    pending_o = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = line.split()
        if not line[0].isspace():
            service = (words[0], words[1]) if len(words) > 1 else None
            words = words[8:]
        for word in words:
            if service is None:
                break
            if pending_o:
                result[(service[0], service[1], word.lstrip("{").split("=", 1)[0].strip())] = number
                pending_o = False
            elif word == "-o":
                pending_o = True
            elif word.startswith("-o") and "=" in word:
                result[(service[0], service[1], word[2:].split("=", 1)[0])] = number
    return result


def _services(directory: Path) -> List[Tuple[str, str, str]]:
    """(name, type, command basename) of every master.cf service, via postconf -M."""
    output = postconf(directory, "-M")
    assert output.returncode == 0, output.stderr
    joined: List[str] = []
    for line in output.stdout.splitlines():
        if line[:1].isspace() and joined:
            joined[-1] += " " + line.strip()
        elif line.strip():
            joined.append(line)
    services = []
    for line in joined:
        fields = line.split()
        if len(fields) >= 8:
            services.append((fields[0], fields[1], fields[7].rsplit("/", 1)[-1]))
    return services


@dataclass
class CaseConfig:
    main: PostconfParams
    listeners: Dict[str, PostconfParams]
    resolver: TableResolver


def build_config(case: RelayCase, workdir: Path) -> CaseConfig:
    """main.cf scope and one EffectiveParams per smtpd listener, from `postconf -x`."""
    need_postconf()
    base = workdir / "base"
    base.mkdir(parents=True)
    main_text = case.full_main_cf() + HARNESS_MAIN
    master_text = case.master_cf if case.master_cf is not None else _default_master_cf()
    (base / "main.cf").write_text(main_text)
    (base / "master.cf").write_text(master_text)
    for name, content in case.files.items():
        relative = name[len("/etc/postfix/"):] if name.startswith("/etc/postfix/") else Path(name).name
        target = base / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    output = postconf(base, "-x")
    assert output.returncode == 0, output.stderr
    main_values = parse_postconf_lines(output.stdout)
    main_locations = _main_locations(main_text)
    main = PostconfParams("main.cf", main_values, main_locations)
    overrides: Dict[str, List[Tuple[str, str]]] = {}
    listed = postconf(base, "-P")
    for line in listed.stdout.splitlines():
        key, sep, value = line.partition(" = ")
        if not sep:
            key, sep, value = line.partition(" =")
        parts = key.strip().split("/")
        if len(parts) == 3:
            overrides.setdefault(f"{parts[0]}/{parts[1]}", []).append((parts[2], value.strip()))
    override_lines = _master_override_lines(master_text)
    listeners: Dict[str, PostconfParams] = {}
    for name, kind, command in _services(base):
        if command != "smtpd":
            continue
        key = f"{name}/{kind}"
        own = overrides.get(key, [])
        values = main_values
        if own:
            directory = workdir / f"listener-{len(listeners)}"
            directory.mkdir()
            text = main_text + "".join(f"{param} = {value}\n" for param, value in own)
            (directory / "main.cf").write_text(text)
            (directory / "master.cf").write_text("")
            result = postconf(directory, "-x")
            assert result.returncode == 0, result.stderr
            values = parse_postconf_lines(result.stdout)
            values["config_directory"] = main_values.get("config_directory", str(base))
        locations = dict(main_locations)
        for param, _ in own:
            line = override_lines.get((name, kind, param))
            if line is not None:
                locations[param] = ("master.cf", line)
        listeners[key] = PostconfParams(key, values, locations)
    resolver = TableResolver(workdir, base, main_values.get("config_directory", str(base)))
    return CaseConfig(main, listeners, resolver)


def evaluate_case(case: RelayCase, workdir: Path) -> Tuple[CaseConfig, Dict[str, RelayVerdict]]:
    config = build_config(case, workdir)
    verdicts: Dict[str, RelayVerdict] = {}
    for service in case.expect:
        assert service in config.listeners, f"{case.name}: no smtpd listener {service} in {sorted(config.listeners)}"
        verdicts[service] = evaluate_relay(config.listeners[service], version=VERSION, resolver=config.resolver,
                                           trusted=None, rewrite_params=config.main)
    return config, verdicts


def _describe(verdict: RelayVerdict) -> str:
    parts = [f"{verdict.verdict}"]
    if verdict.witness is not None:
        witness = verdict.witness
        parts.append(f"witness client={witness.client} name={witness.client_name} helo={witness.helo} "
                     f"from=<{witness.smtp_sender}> to=<{witness.smtp_recipient}> via {witness.parameter}: "
                     f"{witness.token}; steps={list(witness.steps)}; assumptions={list(witness.assumptions)}")
    if verdict.unknowns:
        parts.append("unknowns=" + "; ".join(str(unknown) for unknown in verdict.unknowns))
    if verdict.guard.message:
        parts.append(f"guard: {verdict.guard.message}")
    return " | ".join(parts)


@pytest.mark.live
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_relay_case_verdict(case: RelayCase, tmp_path: Path) -> None:
    _, verdicts = evaluate_case(case, tmp_path)
    for service, expected in case.expect.items():
        assert verdicts[service].verdict is expected, f"{case.name} {service}: {_describe(verdicts[service])}"


# ------------------------------------------------------------------------------------------
# Against the live instance


@dataclass(frozen=True)
class Probe:
    sender: str
    recipient: str  # external form, as in RCPT TO:<...>


def nmap_recipients(myhostname: str, server_ip: str = "127.0.0.1") -> List[str]:
    """nmap smtp-open-relay's 16 recipient forms (the script's ip is the server's address),
    with the relay target of the evaluator, plus a remote address literal."""
    target = f"{RELAY_TARGET_LOCALPART}@{RELAY_TARGET_DOMAIN}"
    domain, local, literal = RELAY_TARGET_DOMAIN, RELAY_TARGET_LOCALPART, f"[{server_ip}]"
    return [
        target,
        f"{local}@{RELAY_TARGET_LITERAL}",
        f"{local}%{domain}@{literal}",
        f"{local}%{domain}@{myhostname}",
        f'"{target}"',
        f'"{local}%{domain}"',
        f"{target}@{literal}",
        f'"{target}"@{literal}',
        f"{target}@{myhostname}",
        f"@{literal}:{target}",
        f"@{myhostname}:{target}",
        f"{domain}!{local}",
        f"{domain}!{local}@{literal}",
        f"{domain}!{local}@{myhostname}",
    ]


def _classify(code: Optional[int], text: str) -> str:
    return classify(code, text)


class _RawSmtp:
    """A minimal SMTP client on a socket inside the instance's network namespace.

    The harness's public `rcpt()` always sends EHLO and opens one connection per probe; the
    relay tests need "no HELO at all" witnesses and many refused probes per session. The socket
    comes from the harness (`_new_socket`: created in the private namespace when isolated)."""

    def __init__(self, pf: object, service: str, timeout: float = 30.0) -> None:
        listener = pf.listeners[service]  # type: ignore[attr-defined]
        family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
        self.sock = pf._new_socket(family)  # type: ignore[attr-defined]
        self.sock.settimeout(timeout)
        self.sock.connect((listener.host, listener.port))
        self.buffer = b""

    def reply(self) -> Tuple[Optional[int], str]:
        lines: List[str] = []
        while True:
            while b"\r\n" not in self.buffer:
                data = self.sock.recv(65536)
                if not data:
                    return None, " ".join(lines) or "connection closed"
                self.buffer += data
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            text = line.decode("utf-8", "replace")
            lines.append(text[4:])
            if len(text) < 4 or text[3] != "-":
                try:
                    return int(text[:3]), " ".join(lines)
                except ValueError:
                    return None, " ".join(lines)

    def command(self, text: str) -> Tuple[Optional[int], str]:
        self.sock.sendall(text.encode("utf-8") + b"\r\n")
        return self.reply()

    def close(self) -> None:
        try:
            self.sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        self.sock.close()


def smtp_session(pf: object, service: str, client: str, client_name: Optional[str], helo: Optional[str],
                 probes: Sequence[Probe]) -> List[Tuple[Probe, Optional[int], str, str]]:
    """One connection: XCLIENT as `client`, EHLO unless helo is None, then MAIL/RCPT per probe
    (RSET between them). Returns (probe, code, reply, outcome) per probe."""
    results: List[Tuple[Probe, Optional[int], str, str]] = []
    try:
        smtp = _RawSmtp(pf, service)
    except OSError as error:
        return [(probe, None, str(error), "undetermined") for probe in probes]
    try:
        code, text = smtp.reply()
        if code != 220:
            return [(probe, code, f"greeting: {text}", "undetermined") for probe in probes]
        address = f"IPV6:{client}" if ":" in client else client
        name = client_name if client_name is not None else "[UNAVAILABLE]"
        code, text = smtp.command(f"XCLIENT ADDR={address} NAME={name}")
        if code != 220:
            return [(probe, code, f"XCLIENT: {text}", "undetermined") for probe in probes]
        if helo is not None:
            code, text = smtp.command(f"EHLO {helo}")
            if code is None or code >= 400:
                return [(probe, code, f"EHLO: {text}", _classify(code, text)) for probe in probes]
        for probe in probes:
            smtp.command("RSET")
            code, text = smtp.command(f"MAIL FROM:<{probe.sender}>")
            if code is None or code >= 400:
                results.append((probe, code, f"MAIL: {text}", _classify(code, text)))
                continue
            code, text = smtp.command(f"RCPT TO:<{probe.recipient}>")
            results.append((probe, code, text, _classify(code, text)))
    except (TimeoutError, ConnectionError, OSError) as error:
        done = len(results)
        results += [(probe, None, str(error), "undetermined") for probe in probes[done:]]
    finally:
        smtp.close()
    return results


def closed_probe_plan(params: PostconfParams, full: bool = True
                      ) -> Iterator[Tuple[str, Optional[str], Optional[str], List[Probe]]]:
    """(client, verified name, HELO, probes) per SMTP session. `full`: every combination for
    IPv4 and the plain/literal recipients for IPv6; otherwise one short session (used when
    every probe waits for an absent policy server or table)."""
    myhostname = params.value("myhostname")
    mydomain = params.value("mydomain")
    protocols = params.value("inet_protocols").lower()
    senders = ["", f"probe@{ATTACKER_DOMAIN}", f"postmaster@{myhostname}", f"probe@{mydomain}", "probe@[127.0.0.1]"]
    recipients = nmap_recipients(myhostname)
    if not full:
        yield "203.0.113.7", None, ATTACKER_HOSTNAME, [Probe(senders[1], recipients[0])]
        return
    if "all" in protocols or "ipv4" in protocols:
        probes = [Probe(sender, recipient) for sender in senders for recipient in recipients]
        for client_name in (None, ATTACKER_HOSTNAME):
            for helo in (ATTACKER_HOSTNAME, "[203.0.113.7]", None, myhostname):
                yield "203.0.113.7", client_name, helo, probes
    if "all" in protocols or "ipv6" in protocols:
        probes = [Probe(sender, recipient) for sender in senders for recipient in recipients[:2]]
        for client_name in (None, ATTACKER_HOSTNAME):
            for helo in (ATTACKER_HOSTNAME, "[IPv6:2001:db8::7]", None):
                yield "2001:db8::7", client_name, helo, probes


# What a witness may assume and still be replayed with XCLIENT, and what it may not: the
# assumptions whose text says they need a DNS answer, address verification or TLS.
NOT_REPLAYABLE_MARKERS = ("has an a/aaaa or mx record", "has mx or address records", "publishes mx records",
                          "address verification", "uses starttls")


def needs_more_than_xclient(assumptions: Sequence[str]) -> bool:
    return any(marker in text.lower() for text in assumptions for marker in NOT_REPLAYABLE_MARKERS)


def replay_witness(pf: object, service: str, witness: Witness, described: str) -> Tuple[bool, str]:
    """Replay a PF301 witness with XCLIENT: (agrees, Postfix's answer). Replayable: accepted.
    Not replayable (needs DNS the attacker controls): offline Postfix must not refuse it with
    a 5xx, and XCLIENT must still take the client (no 501 Bad ADDR syntax)."""
    assert witness.replayable is not needs_more_than_xclient(witness.assumptions), \
        f"{described}; replayable={witness.replayable} but assumptions={list(witness.assumptions)}"
    [(_, code, text, outcome)] = smtp_session(pf, service, witness.client, witness.client_name, witness.helo,
                                              [Probe(witness.smtp_sender, witness.smtp_recipient)])
    if text.startswith("XCLIENT:"):
        return False, f"{code} {text}"
    if witness.replayable:
        return outcome == "accepted", f"{code} {text}"
    return code is None or code < 500, f"{code} {text}"


def replay_grants(pf: object, service: str, config: "CaseConfig", described: str) -> Tuple[int, List[str]]:
    """PF201's client grants of this listener: each grant's client must be taken by XCLIENT,
    and one that relays (per pfcheck) is relayed for by Postfix with that client's witness."""
    params = config.listeners[service]
    grants = client_grants(params, version=VERSION, resolver=config.resolver, trusted=None,
                           rewrite_params=config.main)
    problems: List[str] = []
    for grant in grants:
        verdict = evaluate_relay(params, version=VERSION, resolver=config.resolver, trusted=None,
                                 rewrite_params=config.main, client=grant.address)
        if grant.relays:
            assert verdict.witness is not None and verdict.witness.client == grant.address
            agrees, answer = replay_witness(pf, service, verdict.witness, described)
        else:
            [(_, code, text, _)] = smtp_session(pf, service, grant.address, None, ATTACKER_HOSTNAME,
                                                [Probe(f"probe@{ATTACKER_DOMAIN}", RELAY_TARGET)])
            agrees, answer = not text.startswith("XCLIENT:"), f"{code} {text}"
        if not agrees:
            problems.append(f"grant {grant.entry!r} client {grant.address} (relays={grant.relays}): Postfix {answer}")
    return len(grants), problems


RELAY_TARGET = f"{RELAY_TARGET_LOCALPART}@{RELAY_TARGET_DOMAIN}"


@pytest.mark.live
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_relay_case_live(case: RelayCase, tmp_path: Path, live_postfix_factory: type, record_property) -> None:
    config, verdicts = evaluate_case(case, tmp_path / "eval")
    replayed = {"pf301": 0, "pf201_grants": 0}
    with live_postfix_factory(case.full_main_cf(), case.master_cf, case.files) as pf:
        for service, verdict in verdicts.items():
            described = f"{case.name} {service}: pfcheck says {_describe(verdict)}"
            if verdict.verdict is Verdict.REFUSED:
                fatal = pf.startup_fatal(service)
                assert fatal is not None, f"{described}; but smtpd starts"
                if verdict.guard.crashes:
                    assert "bad command startup" in fatal or "signal" in fatal, f"{described}; Postfix: {fatal}"
                else:
                    assert verdict.guard.message is not None and verdict.guard.message in fatal, \
                        f"{described}; Postfix: {fatal}"
                continue
            assert pf.startup_fatal(service) is None, f"{described}; but smtpd dies: {pf.startup_fatal(service)}"
            count, problems = replay_grants(pf, service, config, described)
            replayed["pf201_grants"] += count
            assert not problems, f"{described}; " + "; ".join(problems)
            if verdict.verdict is Verdict.OPEN:
                witness = verdict.witness
                assert witness is not None
                agrees, answer = replay_witness(pf, service, witness, described)
                replayed["pf301"] += 1
                assert agrees, f"{described}; Postfix: {answer}"
                continue
            accepted = []
            refused = 0
            full = verdict.verdict is Verdict.CLOSED
            for client, client_name, helo, probes in closed_probe_plan(config.listeners[service], full):
                for probe, code, text, outcome in smtp_session(pf, service, client, client_name, helo, probes):
                    if outcome == "accepted":
                        accepted.append(f"{client} name={client_name} helo={helo} from=<{probe.sender}> "
                                        f"to=<{probe.recipient}>: {code} {text}")
                    else:
                        refused += 1
            if verdict.verdict is Verdict.CLOSED:
                assert not accepted, f"{described}; Postfix accepted {len(accepted)}: {accepted[:5]}"
                assert refused > 0
            else:
                expected_live = case.live.get(service)
                assert expected_live in ("accepted", "rejected"), \
                    f"{case.name}: an UNPROVEN case must state what the private instance does"
                if expected_live == "rejected":
                    assert not accepted, f"{described}; Postfix accepted: {accepted[:5]}"
                else:
                    assert accepted, f"{described}; Postfix refused every probe"
    for kind, number in replayed.items():
        record_property(f"{kind}_witnesses_replayed", number)


# ------------------------------------------------------------------------------------------
# Randomised differential: generated restriction lists, evaluator versus the live instance

RANDOM_ATOMS = [
    "permit", "reject", "defer_if_permit", "defer_if_reject", "warn_if_reject", "permit_mynetworks",
    "permit_auth_destination", "permit_sasl_authenticated", "reject_unauth_destination",
    "defer_unauth_destination", "reject_unknown_client_hostname", "reject_unknown_helo_hostname",
    "reject_unknown_sender_domain", "reject_non_fqdn_sender", "reject_non_fqdn_helo_hostname",
    "reject_invalid_helo_hostname", "check_client_access static:OK", "check_client_access static:REJECT",
    "check_client_access inline:{unknown=OK}", "check_client_access static:cls",
    "check_sender_access inline:{<>=OK}", "check_sender_access inline:{<>=REJECT}",
    "check_sender_access inline:{example.com=OK}", "check_helo_access static:OK",
    "check_helo_access static:REJECT", "check_helo_access inline:{mx.example.com=OK}",
    "check_recipient_access static:OK", "check_recipient_access inline:{example=OK}",
    "static:DUNNO", "static:OK", "cls",
]


def random_case(rng: random.Random, number: int) -> RelayCase:
    def pick(limit: int) -> str:
        return ", ".join(rng.choice(RANDOM_ATOMS) for _ in range(rng.randint(0, limit)))

    lines = [
        f"compatibility_level = {rng.choice(['0', '0', '2', '3.6'])}",
        f"smtpd_client_restrictions = {pick(2)}",
        f"smtpd_helo_restrictions = {pick(2)}",
        f"smtpd_sender_restrictions = {pick(2)}",
        f"smtpd_recipient_restrictions = {pick(4)}"
        f"{rng.choice(['', ', reject_unauth_destination', ', defer_if_permit'])}",
        "smtpd_restriction_classes = cls",
        f"cls = {pick(3).replace('cls', 'permit') or 'permit_auth_destination'}",
        f"smtpd_delay_reject = {rng.choice(['yes', 'no'])}",
        f"smtpd_helo_required = {rng.choice(['yes', 'no', 'no'])}",
    ]
    if rng.random() < 0.5:
        lines.append(f"smtpd_relay_restrictions = {pick(4)}")
    return RelayCase(f"random-{number}", "random", "\n".join(lines) + "\n", None, {},
                     {"smtp/inet": Verdict.CLOSED})


@pytest.mark.live
@pytest.mark.slow
def test_random_worlds_agree_with_postfix(tmp_path: Path, live_postfix_factory: type, record_property) -> None:
    """PFCHECK_RELAY_RANDOM worlds (default 25, seed PFCHECK_RELAY_SEED): the verdict must be
    what the private Postfix does (same checks as test_relay_case_live)."""
    rng = random.Random(int(os.environ.get("PFCHECK_RELAY_SEED", "20240229")))
    disagreements: List[str] = []
    replayed = 0
    for number in range(int(os.environ.get("PFCHECK_RELAY_RANDOM", "25"))):
        case = random_case(rng, number)
        config, verdicts = evaluate_case(case, tmp_path / case.name)
        verdict = verdicts["smtp/inet"]
        with live_postfix_factory(case.full_main_cf(), None, {}) as pf:
            fatal = pf.startup_fatal("smtp/inet")
            if verdict.verdict is Verdict.REFUSED or fatal is not None:
                agrees = (verdict.verdict is Verdict.REFUSED) == (fatal is not None)
                live = f"fatal: {fatal}"
            elif verdict.verdict is Verdict.OPEN:
                witness = verdict.witness
                assert witness is not None
                agrees, live = replay_witness(pf, "smtp/inet", witness, case.main_cf)
                replayed += 1
            else:
                accepted = [f"{client} {name} {helo} <{probe.sender}> <{probe.recipient}>"
                            for client, name, helo, probes in closed_probe_plan(config.listeners["smtp/inet"])
                            for probe, _, _, outcome in smtp_session(pf, "smtp/inet", client, name, helo, probes)
                            if outcome == "accepted"]
                agrees = not accepted
                live = f"accepted {accepted[:2]}"
        if not agrees:
            disagreements.append(f"{case.main_cf}\n  pfcheck: {_describe(verdict)}\n  Postfix: {live}")
    record_property("pf301_witnesses_replayed", replayed)
    assert not disagreements, "\n".join(disagreements[:3])
