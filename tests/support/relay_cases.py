"""The relay cases (tests/relay_cases/*.yaml) and what their tests share.

A relay case is a config (main.cf; master.cf, or lines appended to the package's default
master.cf; table files named as a repo names them, /etc/postfix/<file>) and the expected
verdict of the relay evaluator per smtpd listener: open, closed, unproven or refused. Three
tests read them:

* tests/live/test_relay_live.py: the evaluator's verdict, on values from the real `postconf`, and
  the same verdict replayed against a private live Postfix (witness accepted, probes refused,
  start-up fatal seen);
* tests/rules/test_relay_rules.py: pfcheck end to end (reader, config model, rules) reports PF301 /
  PF302 / PF303 exactly for those verdicts;
* tests/live/test_transport_live.py and tests/live/test_assume_live.py reuse the probes below.

Why this is not the rule-case format of tests/rules/cases/: a relay case states a *verdict*
per listener, independent of where pfcheck reports it (no file or line), with main.cf lines
common to every case (COMMON_MAIN, PROBE_LIMITS) that make one live session carry many
probes, and an UNPROVEN case says what the concrete live instance does (`live:`). A rule case
states *findings* (rule, file, line, column, message) and is run in-process only. One case
file per rule and one per relay topic would each lose what the other checks.

Nothing here reads the host's Postfix configuration: a case without master.cf means the
package's default master.cf (pfcheck/postfix/default_master.cf, equivalent to Debian's), also
when it is replayed live.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ruamel.yaml import YAML

from pfcheck.postfix.relay import (
    ATTACKER_DOMAIN,
    ATTACKER_HOSTNAME,
    RELAY_TARGET_DOMAIN,
    RELAY_TARGET_LITERAL,
    RELAY_TARGET_LOCALPART,
    Verdict,
)
from pfcheck.postfix.tables import TableResolver
from tests.support.live_postfix import classify
from tests.support.postfix_oracle import need_postconf, parse_postconf_lines, postconf

TESTS_DIR = Path(__file__).resolve().parent.parent
CASES_DIR = TESTS_DIR / "relay_cases"
#: The master.cf a case without one runs with: pfcheck's default, never the host's.
DEFAULT_MASTER_CF = (TESTS_DIR.parent / "pfcheck" / "postfix" / "default_master.cf").read_text()

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




def load_cases() -> List[RelayCase]:
    yaml = YAML(typ="safe")
    cases: List[RelayCase] = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for entry in yaml.load(path.read_text()) or []:
            master = entry.get("master_cf")
            append = entry.get("master_cf_append")
            if append:
                master = (master if master is not None else DEFAULT_MASTER_CF).rstrip("\n") + "\n" + append
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
    master_text = case.master_cf if case.master_cf is not None else DEFAULT_MASTER_CF
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


# ------------------------------------------------------------------------------------------
# A case as a config directory pfcheck reads


def write_case_dir(case: RelayCase, directory: Path) -> None:
    """main.cf (with the common lines), master.cf when the case has one, and the tables: the
    cases name them as a repo does, /etc/postfix/<file>, so they live next to main.cf."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.cf").write_text(case.full_main_cf())
    if case.master_cf is not None:
        (directory / "master.cf").write_text(case.master_cf)
    for name, text in case.files.items():
        relative = name[len("/etc/postfix/"):] if name.startswith("/etc/postfix/") else name
        target = (directory / relative).resolve()
        assert target.is_relative_to(directory.resolve()), f"{name} would be written outside the config directory"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
