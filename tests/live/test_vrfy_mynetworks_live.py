"""PF101 (vrfy-enabled) and PF201 (mynetworks-outside-policy) judged by a live Postfix 3.7.

Cases: tests/live/live_cases/vrfy_mynetworks.yaml (written by hand; the file's header lists the keys).
Every case is one repo config: main.cf, master.cf and the table/mynetworks files it names.

What is compared, per case:

* pfcheck, run as a user runs it (`pfcheck.cli.main(["--format", "json", ...])` on a temp
  repo holding the case files, with a policy whose PF201 `allowed` is the case's), gives the
  PF101 findings per listener and the PF201 witness per listener. pfcheck's library
  (`load_config_dir`, the PF201 rule's own `trusted_list`) gives the effective
  `disable_vrfy_command` of every listener and which clients its `mynetworks` trusts.
* a private real Postfix (tests/support/live_postfix.py, one instance per case, so the file is
  safe under pytest-xdist) answers VRFY on every listener, and RCPT probes tell which clients
  `permit_mynetworks` trusts.

Assertions:

* VRFY: Postfix's answer on each listener is what pfcheck's effective value says
  (`no` -> 250/252, `yes` -> 502 disabled, anything else -> smtpd refuses to start). PF101
  reports a listener exactly when that listener is reachable from other hosts per the config
  AND Postfix answers VRFY on it. Reachability is computed here from the real `postconf -M`
  (service names as Postfix parses them) and `postconf -x inet_interfaces`, not from
  pfcheck's model. The harness itself always reaches every listener on loopback, so a
  loopback-only listener still answers here; pfcheck must stay silent about it.
* trust: for every probed client address (the case's hand-written ones, pfcheck's PF201
  witness, and samples taken from both sides of every boundary of pfcheck's computed trust
  partition), pfcheck's verdict (trusted / untrusted / failing) equals Postfix's. The case's
  hand-written verdicts must match both. A temporary failure is never counted as trusted.
* every certain PF201 witness is really relayed for by Postfix, and every PF301 witness,
  replayed with XCLIENT, gets its relay RCPT accepted; PF201 and PF101 report exactly the
  listeners the case lists.

How trust is observed: the test puts two lines in front of every case's main.cf (for pfcheck and
Postfix alike, so both judge the same files):

    smtpd_relay_restrictions = permit_auth_destination, permit_mynetworks, reject
    smtpd_recipient_restrictions =

For the probe recipient `relaytest@example.org` (never a local or relay destination here)
`permit_auth_destination` does not apply, so the decision is exactly `permit_mynetworks,
reject`: accepted (250) iff the client is trusted, 554 "Access denied" when it is not, 451
"Temporary lookup failure" when Postfix cannot evaluate mynetworks for that client.
`permit_auth_destination` is there for VRFY: smtpd runs the recipient restrictions on VRFY too
(smtpd.c vrfy_cmd -> smtpd_check_rcpt), and without it an outside client's `VRFY root` would
be rejected by `reject` (or fail with mynetworks) whatever disable_vrfy_command says.
"""
from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import pytest
from ruamel.yaml import YAML

from pfcheck.cli import main as pfcheck_main
from pfcheck.postfix.config import ConfigDir, Listener, load_config_dir
from pfcheck.postfix.addresses import IPV4, IPV6, format_address
from pfcheck.postfix.networks import AddressList, TrustedNetworks
from pfcheck.rules.base import RuleContext
from pfcheck.rules.relay_common import dies_at_startup
from pfcheck.rules.pf201_mynetworks_outside_policy import ipv4_enabled, trusted_list
from tests.support.live_postfix import (
    ACCEPTED,
    DISABLED,
    HELPER_SERVICES,
    REFUSED_STARTUP,
    REJECTED,
    UNDETERMINED,
    Reply,
    live_postfix_factory,  # noqa: F401  (pytest fixture)
)
from tests.support.postfix_oracle import need_postconf, parse_postconf_lines, postconf

CASES_FILE = Path(__file__).resolve().parent / "live_cases" / "vrfy_mynetworks.yaml"
POSTFIX_VERSION = "3.7"
RELAY_RECIPIENT = "relaytest@example.org"
PROBE_PARAMETERS = ("smtpd_relay_restrictions", "smtpd_recipient_restrictions")
PROBE_MAIN_CF = (
    "smtpd_relay_restrictions = permit_auth_destination, permit_mynetworks, reject\n"
    "smtpd_recipient_restrictions =\n"
)
DEFAULT_LISTENERS = "smtp      inet  n       -       n       -       -       smtpd\n"
DEFAULT_ALLOWED = ["127.0.0.0/8", "[::1]/128"]

# VRFY answers and trust verdicts, in the words the case file uses.
ENABLED, REFUSED = "enabled", "refused"
VRFY_ANSWERS = (ENABLED, DISABLED, REFUSED)
TRUSTED, UNTRUSTED, FAILING = "trusted", "untrusted", "failing"
TRUST_VERDICTS = (TRUSTED, UNTRUSTED, FAILING)
MAYBE = "maybe"  # pfcheck: depends on DNS or on a table it cannot read (never in this matrix)

# Samples of pfcheck's trust partition: at most this many segments per family, and a few
# IPv4-mapped IPv6 forms of the IPv4 samples.
MAX_SEGMENTS_PER_FAMILY = 12
MAPPED_SAMPLES = 3
# Client addresses the harness cannot sensibly pose as (XCLIENT ADDR=0.0.0.0, broadcast, ::).
_UNUSABLE = (
    ipaddress.ip_network("0.0.0.0/8"),
    ipaddress.ip_network("255.255.255.255/32"),
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("::ffff:0:0/96"),
)
LOOPBACK_INTERFACE_NAMES = ("loopback-only", "localhost")


# ------------------------------------------------------------------------------------------
# Cases


@dataclass
class Case:
    name: str
    main_cf: str
    master_cf: str
    files: Dict[str, str]
    allowed: List[str]
    vrfy: Dict[str, str]  # harness listener -> enabled | disabled | refused
    pf101: Set[str]  # pfcheck listener keys
    pf201: Dict[str, str]  # pfcheck listener key -> witness address
    trust: Dict[str, Dict[str, str]]  # harness listener -> client -> verdict
    note: str = ""
    known_bug: str = ""  # a pfcheck disagreement with Postfix, reported; the case xfails until fixed

    def main_text(self) -> str:
        """main.cf as both pfcheck and Postfix read it: the probe lines, then the case's."""
        return PROBE_MAIN_CF + self.main_cf

    def master_text(self) -> str:
        listeners = self.master_cf if self.master_cf.endswith("\n") else self.master_cf + "\n"
        return listeners + HELPER_SERVICES


def load_cases() -> List[Case]:
    cases: List[Case] = []
    for entry in YAML(typ="safe").load(CASES_FILE.read_text()) or []:
        main_cf = str(entry.get("main_cf") or "")
        master_cf = str(entry.get("master_cf") or DEFAULT_LISTENERS)
        for parameter in PROBE_PARAMETERS:
            # The probe lines are the only restrictions; a case that changed them would make
            # RCPT answers say something else than "trusted by permit_mynetworks".
            assert parameter not in main_cf and parameter not in master_cf, \
                f"{entry['name']}: cases must not set {parameter}"
        cases.append(Case(
            name=str(entry["name"]),
            main_cf=main_cf,
            master_cf=master_cf,
            files={str(path): str(text) for path, text in (entry.get("files") or {}).items()},
            allowed=[str(item) for item in entry.get("allowed", DEFAULT_ALLOWED)],
            vrfy={str(key): str(value) for key, value in entry["vrfy"].items()},
            pf101={str(key) for key in entry["pf101"]},
            pf201={str(key): str(value) for key, value in (entry.get("pf201") or {}).items()},
            trust={str(listener): {str(address): str(verdict) for address, verdict in clients.items()}
                   for listener, clients in (entry.get("trust") or {}).items()},
            note=str(entry.get("note") or ""),
            known_bug=str(entry.get("known_bug") or ""),
        ))
    return cases


CASES = load_cases()
CASE_IDS = [case.name for case in CASES]
# strict: once pfcheck is fixed the case passes, and the xfail must then be removed.
CASE_PARAMS = [
    pytest.param(case, id=case.name,
                 marks=[pytest.mark.xfail(strict=True, reason=case.known_bug)] if case.known_bug else [])
    for case in CASES
]


def test_matrix_shape() -> None:
    assert len(CASES) >= 30
    assert len(set(CASE_IDS)) == len(CASE_IDS), "case names must be unique"
    for case in CASES:
        assert set(case.vrfy.values()) <= set(VRFY_ANSWERS), case.name
        for clients in case.trust.values():
            assert set(clients.values()) <= set(TRUST_VERDICTS), case.name
            for address in clients:
                ipaddress.ip_address(address)
    answers = {answer for case in CASES for answer in case.vrfy.values()}
    verdicts = {verdict for case in CASES for clients in case.trust.values() for verdict in clients.values()}
    assert answers == set(VRFY_ANSWERS) and verdicts == set(TRUST_VERDICTS)
    assert sum(1 for case in CASES if case.pf101) >= 10 and sum(1 for case in CASES if case.pf201) >= 10


# ------------------------------------------------------------------------------------------
# pfcheck's side


def write_repo(case: Case, root: Path) -> Path:
    """The case as a repo holds it: main.cf, master.cf and the files next to them
    (/etc/postfix/X -> X), plus a policy file outside the config directory."""
    repo = root / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "main.cf").write_text(case.main_text())
    (repo / "master.cf").write_text(case.master_text())
    for name, content in case.files.items():
        assert name.startswith("/etc/postfix/"), f"{case.name}: put {name} under /etc/postfix"
        target = repo / name[len("/etc/postfix/"):]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    allowed = ", ".join(json.dumps(item) for item in case.allowed)
    (root / "policy.yaml").write_text(
        "version: 1\n"
        f'postfix_version: "{POSTFIX_VERSION}"\n'
        "rules:\n"
        "  PF201:\n"
        f"    options: {{allowed: [{allowed}], allow_single_addresses: false}}\n"
    )
    return repo


@dataclass
class PfcheckView:
    """What pfcheck says about one case."""

    findings: List[dict]
    config: ConfigDir
    context: RuleContext

    def codes(self, code: str) -> List[dict]:
        return [finding for finding in self.findings if finding["code"] == code]

    @property
    def pf101(self) -> Set[str]:
        return {finding["service"] for finding in self.codes("PF101")}

    @property
    def pf201(self) -> Dict[str, dict]:
        return {finding["service"]: finding for finding in self.codes("PF201")}

    def pf201_witnesses(self, key: str) -> List[str]:
        """Every PF201 witness address on this listener (a listener may have several)."""
        return [finding["witness"]["address"] for finding in self.codes("PF201") if finding["service"] == key]

    def listener(self, key: str) -> Listener:
        for listener in self.config.listeners():
            if listener.key == key:
                return listener
        raise AssertionError(f"pfcheck has no listener {key}; has {[l.key for l in self.config.listeners()]}")

    def vrfy_answer(self, key: str) -> str:
        """What Postfix must answer on this listener, per pfcheck's model: refused when pfcheck
        says its smtpd exits at start-up, else what the effective value means."""
        if dies_at_startup(self.listener(key)):
            return REFUSED
        value = self.listener(key).scope.get("disable_vrfy_command")
        if value.error is not None:
            return REFUSED
        # smtpd compares booleans case-insensitively; anything else is fatal at start-up.
        word = value.expanded.strip().lower()
        return {"no": ENABLED, "yes": DISABLED}.get(word, REFUSED)

    def trust_list(self, key: str) -> Optional[Tuple[AddressList, bool]]:
        """The listener's mynetworks as the PF201 rule reads it, or None when it is Postfix's
        computed default (pfcheck keeps that symbolic)."""
        scope = self.listener(key).scope
        value = scope.get("mynetworks")
        if value.origin.is_default or value.error is not None:
            return None
        return trusted_list(self.context, scope, value.expanded), ipv4_enabled(scope)

    def trust_verdict(self, key: str, address: str) -> str:
        found = self.trust_list(key)
        assert found is not None, f"pfcheck does not compute the trust of {key} (default mynetworks)"
        addresses, v4 = found
        # XCLIENT NAME=[UNAVAILABLE]: smtpd sees the client name "unknown".
        match = addresses.match(address, client_name="unknown", ipv4_enabled=v4)
        if match.matched is None:
            return MAYBE
        if match.matched:
            return TRUSTED
        return FAILING if match.error else UNTRUSTED


def run_pfcheck(case: Case, root: Path) -> PfcheckView:
    repo = write_repo(case, root)
    output = root / "findings.json"
    status = pfcheck_main(["--format", "json", "--output-file", str(output),
                           "--policy", str(root / "policy.yaml"), str(repo)])
    assert status in (0, 1), f"{case.name}: pfcheck exited {status}"
    findings = json.loads(output.read_text())["findings"]
    config = load_config_dir(repo, version=POSTFIX_VERSION)
    return PfcheckView(findings, config, RuleContext(config, repo))


def _usable_client(value: int, family: int) -> bool:
    address = ipaddress.ip_address(value if family == IPV4 else value.to_bytes(16, "big"))
    return not any(address in network for network in _UNUSABLE if network.version == address.version)


def partition_samples(networks: TrustedNetworks) -> List[str]:
    """Client addresses on both sides of every boundary of the trust partition: the first, a
    middle and the last address of each segment (segments alternate between outcomes)."""
    samples: List[str] = []
    for family in (IPV4, IPV6):
        segments = [segment for segment in networks.segments if segment.family == family]
        if len(segments) > MAX_SEGMENTS_PER_FAMILY:
            step = len(segments) / MAX_SEGMENTS_PER_FAMILY
            segments = [segments[int(index * step)] for index in range(MAX_SEGMENTS_PER_FAMILY)]
        for segment in segments:
            for value in (segment.start, segment.start + (segment.end - segment.start) // 2, segment.end - 1):
                candidates = (value, value + 1, value - 1)
                chosen = next((candidate for candidate in candidates
                               if segment.start <= candidate < segment.end and _usable_client(candidate, family)),
                              None)
                if chosen is not None:
                    text = format_address(chosen, family)
                    if text not in samples:
                        samples.append(text)
    ipv4_samples = [sample for sample in samples if ":" not in sample]
    samples += ["::ffff:" + sample for sample in ipv4_samples[:MAPPED_SAMPLES]]
    return samples


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_pfcheck_matches_the_hand_written_expectations(case: Case, tmp_path: Path) -> None:
    """No Postfix needed: pfcheck's findings and trust verdicts are the ones the case states."""
    view = run_pfcheck(case, tmp_path)
    problems: List[str] = []
    if view.pf101 != case.pf101:
        problems.append(f"PF101 on {sorted(view.pf101)}, case says {sorted(case.pf101)}")
    witnesses = {key: finding["witness"]["address"] for key, finding in view.pf201.items()}
    if witnesses != case.pf201:
        problems.append(f"PF201 witnesses {witnesses}, case says {case.pf201}")
    for finding in view.codes("PF201"):
        if " trusts client " not in finding["message"]:
            problems.append(f"PF201 witness on {finding['service']} is not certain: {finding['message']}")
        # A certain witness rests on its address alone: nothing assumed, XCLIENT can pose as it.
        if finding["witness"].get("assumptions") != [] or finding["witness"].get("replayable") is not True:
            problems.append(f"PF201 witness on {finding['service']}: {finding['witness']}")
    for harness_key, answer in case.vrfy.items():
        pfcheck_key = _answering_key_per_pfcheck(view, harness_key)
        if view.vrfy_answer(pfcheck_key) != answer:
            problems.append(f"{pfcheck_key}: effective disable_vrfy_command means "
                            f"{view.vrfy_answer(pfcheck_key)}, case says {answer}")
    for harness_key, clients in case.trust.items():
        pfcheck_key = _answering_key_per_pfcheck(view, harness_key)
        for address, expected in clients.items():
            said = view.trust_verdict(pfcheck_key, address)
            if said != expected:
                problems.append(f"{pfcheck_key} client {address}: pfcheck says {said}, case says {expected}")
    assert not problems, f"{case.name}:\n  " + "\n  ".join(problems)


def _answering_key_per_pfcheck(view: PfcheckView, harness_key: str) -> str:
    """The smtpd that answers on an inet listener, from pfcheck's own model (for the
    Postfix-free test; the live test derives it from `postconf -M`)."""
    listener = view.listener(harness_key)
    if listener.service.process_name == "smtpd":
        return harness_key
    backends = [candidate.key for candidate in view.config.listeners()
                if candidate.service.type == "pass" and listener.service in candidate.entry_points]
    assert len(backends) == 1, f"{harness_key}: no single smtpd pass behind it ({backends})"
    return backends[0]


# ------------------------------------------------------------------------------------------
# The config as real Postfix parses it (postconf), independent of pfcheck's model


@dataclass(frozen=True)
class InetListener:
    """An inet service as `postconf -M` shows it, with the smtpd that answers on it."""

    key: str  # "name/inet", the name as written (the harness's key too)
    command: str
    answering: Optional[str]  # "name/type" of the smtpd answering there (postscreen: smtpd/pass)
    remote: bool


def _is_loopback(host: str) -> bool:
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host in LOOPBACK_INTERFACE_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def postfix_inet_listeners(repo: Path) -> List[InetListener]:
    """Which inet smtpd/postscreen services exist and whether other hosts reach them: a host
    part in the service name binds exactly there; otherwise inet_interfaces decides."""
    need_postconf()
    services = postconf(repo, "-M")
    assert services.returncode == 0, services.stderr
    interfaces = postconf(repo, "-x", "inet_interfaces")
    assert interfaces.returncode == 0, interfaces.stderr
    interface_list = parse_postconf_lines(interfaces.stdout)["inet_interfaces"].replace(",", " ").split()
    all_interfaces = "all" in interface_list or not interface_list
    lines: List[str] = []
    for line in services.stdout.splitlines():
        if line[:1].isspace() and lines:
            lines[-1] += " " + line.strip()
        elif line.strip():
            lines.append(line)
    entries = [line.split() for line in lines if len(line.split()) >= 8]
    by_key = {f"{fields[0]}/{fields[1]}": fields[7].rsplit("/", 1)[-1] for fields in entries}
    listeners: List[InetListener] = []
    for fields in entries:
        name, kind, command = fields[0], fields[1], fields[7].rsplit("/", 1)[-1]
        if kind != "inet" or command not in ("smtpd", "postscreen"):
            continue
        if name.startswith("["):
            host: Optional[str] = name[: name.index("]") + 1]
        else:
            host = name.rpartition(":")[0] or None
        if host is not None:
            remote = not _is_loopback(host)
        else:
            remote = all_interfaces or not all(_is_loopback(item) for item in interface_list)
        if command == "smtpd":
            answering: Optional[str] = f"{name}/inet"
        else:
            # postscreen hands clients to the "smtpd" pass service (smtpd_service_name default)
            answering = "smtpd/pass" if by_key.get("smtpd/pass") == "smtpd" else None
        listeners.append(InetListener(f"{name}/inet", command, answering, remote))
    return listeners


# ------------------------------------------------------------------------------------------
# Postfix's side


def vrfy_answer(reply: Reply) -> str:
    if reply.outcome == ACCEPTED and reply.code in (250, 252):
        return ENABLED
    if reply.outcome == DISABLED:
        return DISABLED
    if reply.outcome == REFUSED_STARTUP:
        return REFUSED
    return f"unexpected({reply})"


def trust_answer(reply: Reply) -> str:
    """The RCPT reply under `permit_auth_destination, permit_mynetworks, reject`."""
    if reply.stage != "rcpt":
        return f"unexpected({reply})"
    if reply.outcome == ACCEPTED:
        return TRUSTED
    if reply.outcome == REJECTED and reply.code == 554 and "Access denied" in reply.text:
        return UNTRUSTED
    if reply.outcome == UNDETERMINED and reply.code == 451 and "Temporary lookup failure" in reply.text:
        return FAILING
    return f"unexpected({reply})"


@dataclass
class Tally:
    """Postfix probes sent (VRFY and RCPT), checks made, and every disagreement found."""

    probes: int = 0
    checks: int = 0
    witnesses: int = 0  # PF201 and PF301 witnesses replayed
    problems: List[str] = field(default_factory=list)

    def check(self, condition: bool, message: str) -> None:
        self.checks += 1
        if not condition:
            self.problems.append(message)


@pytest.mark.live
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_pfcheck_agrees_with_live_postfix(
    case: Case, tmp_path: Path, live_postfix_factory: type, record_property
) -> None:
    view = run_pfcheck(case, tmp_path)
    repo = tmp_path / "repo"
    inet = {listener.key: listener for listener in postfix_inet_listeners(repo)}
    tally = Tally()
    pf101 = view.pf101
    pf201 = view.pf201
    with live_postfix_factory(case.main_text(), case.master_text(), case.files) as pf:
        assert set(pf.listeners) == set(inet), f"{case.name}: harness {sorted(pf.listeners)} vs postconf {sorted(inet)}"
        assert set(case.vrfy) == set(inet), f"{case.name}: the case must state VRFY for {sorted(inet)}"

        # ---- VRFY on every listener ------------------------------------------------------
        reported_by_rule: Set[str] = set()
        for key, listener in inet.items():
            answer = vrfy_answer(pf.vrfy(key))
            tally.probes += 1
            answering = listener.answering
            assert answering is not None, f"{case.name}: {key} has no smtpd behind it"
            tally.check(answer == case.vrfy[key], f"{key}: Postfix VRFY answer {answer}, case says {case.vrfy[key]}")
            effective = view.vrfy_answer(answering)
            tally.check(answer == effective,
                        f"{key}: Postfix VRFY answer {answer}, pfcheck's effective disable_vrfy_command "
                        f"on {answering} means {effective}")
            should_report = listener.remote and answer == ENABLED
            tally.check((answering in pf101) == should_report,
                        f"{answering}: PF101 {'reported' if answering in pf101 else 'silent'}; remote={listener.remote}, "
                        f"Postfix VRFY answer {answer}")
            if should_report:
                reported_by_rule.add(answering)
        answering_keys = {listener.answering for listener in inet.values()}
        tally.check(pf101 <= answering_keys, f"PF101 on listeners Postfix does not serve: {sorted(pf101 - answering_keys)}")
        tally.check(pf101 == case.pf101, f"PF101 on {sorted(pf101)}, case says {sorted(case.pf101)}")

        # ---- trust: hand-written clients, PF201 witnesses, partition samples --------------
        witnesses = {key: finding["witness"]["address"] for key, finding in pf201.items()}
        tally.check(witnesses == case.pf201, f"PF201 witnesses {witnesses}, case says {case.pf201}")
        for key, listener in inet.items():
            answering = listener.answering
            assert answering is not None
            probes: Dict[str, str] = {}  # client -> why it is probed
            for address in case.trust.get(key, {}):
                probes.setdefault(address, "case")
            finding = pf201.get(answering)
            for witness in view.pf201_witnesses(answering):
                probes[witness] = "PF201 witness"
            computed = view.trust_list(answering)
            if computed is not None and (key in case.trust or finding is not None):
                addresses, v4 = computed
                for address in partition_samples(addresses.trusted_networks(ipv4_enabled=v4)):
                    probes.setdefault(address, "partition sample")
            if not probes:
                continue
            assert computed is not None, f"{case.name}: {answering} probed but pfcheck left mynetworks symbolic"
            for address, why in probes.items():
                postfix_says = trust_answer(pf.rcpt(key, client=address, recipient=RELAY_RECIPIENT))
                tally.probes += 1
                pfcheck_says = view.trust_verdict(answering, address)
                where = f"{key} ({answering}) client {address} [{why}]"
                tally.check(postfix_says == pfcheck_says, f"{where}: Postfix {postfix_says}, pfcheck {pfcheck_says}")
                if postfix_says == FAILING:
                    tally.check(pfcheck_says != TRUSTED, f"{where}: a temporary failure counted as trusted")
                expected = case.trust.get(key, {}).get(address)
                if expected is not None:
                    tally.check(postfix_says == expected, f"{where}: Postfix {postfix_says}, case says {expected}")
                if why == "PF201 witness":
                    tally.witnesses += 1
                    tally.check(postfix_says == TRUSTED, f"{where}: PF201 witness not relayed for: {postfix_says}")

        # ---- PF301 witnesses: replayed with XCLIENT, the relay RCPT is accepted ------------
        for key, listener in inet.items():
            for finding in view.codes("PF301"):
                if finding["service"] != listener.answering:
                    continue
                witness = finding["witness"]
                tally.check(witness["replayable"] is True and witness["assumptions"] == [],
                            f"{key}: PF301 witness needs more than XCLIENT here: {witness}")
                reply = pf.rcpt(key, client=witness["client"], helo=witness["helo"] or "probe.example",
                                sender=witness["sender"], recipient=witness["recipient"])
                tally.probes += 1
                tally.witnesses += 1
                tally.check(reply.outcome == ACCEPTED, f"{key}: PF301 witness {witness} not relayed: {reply}")
    record_property("probes", tally.probes)
    record_property("checks", tally.checks)
    record_property("witnesses_replayed", tally.witnesses)
    record_property("disagreements", len(tally.problems))
    assert not tally.problems, (f"{case.name} ({tally.probes} probes, {tally.checks} checks):\n  "
                                + "\n  ".join(tally.problems))
