"""Witness clients at the edges of the address space, judged by a live Postfix 3.7 smtpd.

Each case is one cidr client table used by `check_client_access` between `permit_mynetworks`
and `reject_unauth_destination` (mynetworks is loopback only). pfcheck (the CLI, JSON output,
policy `allowed` = loopback) says which client the entry lets relay (PF201) and whether an
arbitrary client relays (PF301). Then:

* every PF201 and PF301 witness is replayed with XCLIENT on the private smtpd: XCLIENT must
  take the address (no `501 Bad ADDR syntax`) and the relay RCPT must be accepted;
* for an entry pfcheck says grants no client (0.0.0.0/8, multicast, broadcast, ...), samples
  of its range are tried: each must be refused by XCLIENT (501), or not relayed by smtpd (an
  IPv4-mapped address is the IPv4 client), or be an address no TCP client can connect from
  (checked on the kernel, in a private network namespace: a socket bound to it cannot connect
  to a listener that then sees that address). One sample that XCLIENT takes, smtpd relays and
  a client can connect from would be a false "safe".
* PF301 CLOSED: the outside clients 203.0.113.7 and 2001:db8::7 are refused.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from pfcheck.cli import main as pfcheck_main
from pfcheck.postfix import client_addresses
from pfcheck.postfix.addresses import format_address
from pfcheck.postfix.relay import RELAY_TARGET_DOMAIN, RELAY_TARGET_LOCALPART
from tests.support.live_postfix import ACCEPTED, HELPER_SERVICES, live_postfix_factory  # noqa: F401
from tests.support.postfix_oracle import postfix_required

RECIPIENT = f"{RELAY_TARGET_LOCALPART}@{RELAY_TARGET_DOMAIN}"
MAIN_CF = (
    "compatibility_level = 3.6\n"
    "myhostname = mx.example.com\n"
    "mynetworks = 127.0.0.0/8 [::1]/128\n"
    "inet_protocols = all\n"
    "smtpd_relay_restrictions = permit_mynetworks, check_client_access cidr:/etc/postfix/clients.cidr, "
    "reject_unauth_destination\n"
)
MASTER_CF = "smtp      inet  n       -       n       -       -       smtpd\n" + HELPER_SERVICES
OUTSIDE_CLIENTS = ("203.0.113.7", "2001:db8::7")


@dataclass(frozen=True)
class EdgeCase:
    name: str
    entry: str  # the cidr table key (action OK)
    grant: Optional[str]  # PF201's witness for the entry, None: no client can use it
    open_relay: bool  # PF301


EDGE_CASES = [
    EdgeCase("all-ipv4", "0.0.0.0/0", "192.0.2.1", True),
    EdgeCase("this-network", "0.0.0.0/8", None, False),
    EdgeCase("multicast", "224.0.0.0/4", None, False),
    EdgeCase("limited-broadcast", "255.255.255.255/32", None, False),
    EdgeCase("all-ipv6", "::/0", "2001:db8::1", True),
    EdgeCase("first-two-ipv4", "0.0.0.0/31", None, False),
    EdgeCase("no-documentation-address", "10.0.0.0/8", "10.0.0.1", False),
    EdgeCase("class-e", "240.0.0.0/4", "240.0.0.1", False),
    EdgeCase("ipv6-multicast", "ff00::/8", None, False),
    EdgeCase("ipv4-mapped", "::ffff:0:0/96", None, False),
    EdgeCase("first-half-ipv4", "0.0.0.0/1", "1.0.0.1", False),
]


def run_pfcheck(case: EdgeCase, root: Path) -> List[dict]:
    repo = root / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "main.cf").write_text(MAIN_CF)
    (repo / "master.cf").write_text(MASTER_CF)
    (repo / "clients.cidr").write_text(f"{case.entry} OK\n")
    (root / "policy.yaml").write_text(
        'version: 1\npostfix_version: "3.7"\nrules:\n  PF201:\n'
        '    options: {allowed: ["127.0.0.0/8", "[::1]/128"], allow_single_addresses: false}\n')
    output = root / "findings.json"
    status = pfcheck_main(["--format", "json", "--output-file", str(output),
                           "--policy", str(root / "policy.yaml"), str(repo)])
    assert status in (0, 1)
    return json.loads(output.read_text())["findings"]


def range_samples(entry: str) -> List[str]:
    found = client_addresses.key_range(entry)
    assert found is not None
    family, addresses = found
    start, end = addresses.ranges[0]
    values = {start, start + 1, start + (end - start) // 2, end - 2, end - 1}
    return [format_address(value, family) for value in sorted(values) if start <= value < end]


KERNEL_CHECK = r"""
import json, socket, subprocess, sys
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
result = {}
for address in sys.argv[1:]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    flag = ["-6"] if family == socket.AF_INET6 else []
    subprocess.run(["ip", *flag, "addr", "add", address + ("/128" if flag else "/32"), "dev", "lo"]
                   + (["nodad"] if flag else []), capture_output=True)
    server = socket.socket(family)
    server.bind(("::1" if flag else "127.0.0.1", 0))
    server.listen(1)
    server.settimeout(2)
    client = socket.socket(family)
    client.settimeout(2)
    try:
        client.bind((address, 0))
        client.connect(server.getsockname()[:2])
        peer = server.accept()[0].getpeername()[0]
        result[address] = peer == address or peer.lower() == address.lower()
    except OSError as error:
        result[address] = False
    client.close()
    server.close()
print(json.dumps(result))
"""
# Addresses a client can connect from: the kernel check must say so, or it proves nothing.
KERNEL_CONTROLS = ("192.0.2.200", "240.0.0.200", "2001:db8::200")


def kernel_presents(addresses: List[str]) -> Dict[str, bool]:
    """Can a TCP client connect from each address (it is configured on the host)? Checked in a
    private network namespace, with controls that must connect."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin")
    if unshare is None or ip is None:
        if postfix_required():
            pytest.fail("unshare and ip are needed to check client source addresses")
        pytest.skip("unshare and ip are needed to check client source addresses")
    wanted = list(addresses) + list(KERNEL_CONTROLS)
    done = subprocess.run([unshare, "--net", sys.executable, "-c", KERNEL_CHECK, *wanted],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert all(result[control] for control in KERNEL_CONTROLS), f"kernel check cannot connect: {result}"
    return {address: result[address] for address in addresses}


def _witness_keys(finding: dict) -> None:
    """These configs need nothing beyond what XCLIENT poses: no assumption, replayable."""
    witness = finding["witness"]
    assert witness["assumptions"] == [] and witness["replayable"] is True, witness


@pytest.mark.live
@pytest.mark.parametrize("case", EDGE_CASES, ids=[case.name for case in EDGE_CASES])
def test_edge_witnesses_against_live_postfix(case: EdgeCase, tmp_path: Path, live_postfix_factory: type) -> None:
    findings = run_pfcheck(case, tmp_path)
    pf201 = [finding for finding in findings if finding["code"] == "PF201"]
    pf301 = [finding for finding in findings if finding["code"] == "PF301"]
    assert [finding["witness"]["address"] for finding in pf201] == ([case.grant] if case.grant else []), pf201
    assert bool(pf301) is case.open_relay, pf301
    for finding in pf201 + pf301:
        _witness_keys(finding)
    problems: List[str] = []
    with live_postfix_factory(MAIN_CF, MASTER_CF, {"/etc/postfix/clients.cidr": f"{case.entry} OK\n"}) as pf:
        assert pf.startup_fatal("smtp/inet") is None
        replays = [(finding["witness"]["address"], "PF201") for finding in pf201]
        replays += [(finding["witness"]["client"], "PF301") for finding in pf301]
        for client, code in replays:
            reply = pf.rcpt("smtp/inet", client=client, recipient=RECIPIENT)
            if reply.outcome != ACCEPTED:
                problems.append(f"{code} witness {client}: Postfix {reply.stage} {reply.code} {reply.text}")
        if not case.open_relay:
            for client in OUTSIDE_CLIENTS:
                reply = pf.rcpt("smtp/inet", client=client, recipient=RECIPIENT)
                if reply.outcome == ACCEPTED:
                    problems.append(f"PF301 closed, but Postfix relays for {client}")
        if case.grant is None:
            problems += _nobody_can_use(pf, case.entry)
    assert not problems, f"{case.name} ({case.entry}):\n  " + "\n  ".join(problems)


def _nobody_can_use(pf: object, entry: str) -> List[str]:
    """Samples of an entry pfcheck says grants no client: each is refused by XCLIENT, not
    relayed, or no client can connect from it."""
    relayed = []
    for sample in range_samples(entry):
        reply = pf.rcpt("smtp/inet", client=sample, recipient=RECIPIENT)  # type: ignore[attr-defined]
        if reply.stage == "xclient" and reply.code == 501:
            continue  # Postfix itself refuses the address
        if reply.outcome != ACCEPTED:
            continue  # smtpd does not relay it (an IPv4-mapped address is the IPv4 client)
        relayed.append(sample)
    if not relayed:
        return []
    presents = kernel_presents(relayed)
    return [f"{sample}: XCLIENT takes it, smtpd relays it and a client can connect from it"
            for sample in relayed if presents[sample]]
