"""PF607 (untrusted-routing), PF608 (dequoted-address-unresolved) and PF609 (percent-bang-hack)
judged by a live Postfix 3.7.

Each case of the matrix is one repo config; pfcheck (the CLI, JSON output, a policy that turns
the off-by-default PF609 on) and a private real Postfix (tests/support/live_postfix.py) read
the same main.cf and master.cf (the case's listeners plus the helper services). Every case has
`relay_domains = relay.example`. On each listener Postfix is asked:

* untrusted routing (PF607): as the outside client 203.0.113.7 (XCLIENT), RCPT TO each
  sender-routed form in the relay domain: `relaytest@remote.example@relay.example`,
  `relaytest%remote.example@relay.example`, `remote.example!relaytest@relay.example`,
  `"relaytest@remote.example"@relay.example`. trivial-rewrite flags all four as routed
  (resolve.c: any `@`, `%` or `!` left in the local part, whatever allow_percent_hack,
  swap_bangpath and resolve_dequoted_address say), so they stand or fall together: accepted =
  smtpd trusts sender-specified routing; "Relay access denied" = it does not.
* how trivial-rewrite resolves (PF608, PF609), as a trusted client (the harness's own
  127.0.0.1, in mynetworks: relaying is allowed, so only the resolved address decides):
  `"relaytest@remote.example"@localhost` (PF608), `relaytest%remote.example@localhost`
  (PF609 allow_percent_hack), `remote.example!relaytest@localhost` (PF609 swap_bangpath).
  Accepted = resolved to relaytest@remote.example and relayed; 550 "User unknown in local
  recipient table" = resolved as a local user named as written.

Assertion: per listener, each rule (PF609 per parameter) fires exactly when Postfix behaves so.
PF607 is judged on the listener (smtpd reads allow_untrusted_routing); PF608 and PF609 on the
trivial-rewrite service that the listener asks (`rewrite/unix`), whose `-o` count and smtpd's
do not. The probes stop at RCPT: nothing is relayed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from tests.support.live_rules import pfcheck_findings
from tests.support.live_postfix import (
    ACCEPTED,
    HELPER_SERVICES,
    LivePostfix,
    REJECTED,
    live_postfix_factory,  # noqa: F401  (pytest fixture)
)

POLICY = 'version: 1\npostfix_version: "3.7"\nrules:\n  PF609: {severity: warning}\n'
SMTP = "smtp      inet  n       -       n       -       -       smtpd\n"
ALT = "2525      inet  n       -       n       -       -       smtpd\n"
REWRITE = "rewrite   unix  -       -       n       -       -       trivial-rewrite\n"
BASE = ("compatibility_level = 3.6\nmyhostname = mx.pfcheck-host.test\nmydomain = pfcheck-host.test\n"
        "relay_domains = relay.example\n")
ROUTED_FORMS = ("relaytest@remote.example@relay.example", "relaytest%remote.example@relay.example",
                "remote.example!relaytest@relay.example", '"relaytest@remote.example"@relay.example')
UNTRUSTED = "PF607"
DEQUOTED = "PF608"
PERCENT = "PF609 allow_percent_hack"
BANG = "PF609 swap_bangpath"
RESOLVE_PROBES = {DEQUOTED: '"relaytest@remote.example"@localhost',
                  PERCENT: "relaytest%remote.example@localhost",
                  BANG: "remote.example!relaytest@localhost"}
#: Where each Postfix behaviour shows (the resolving ones are trivial-rewrite's). Postfix's
#: defaults: allow_percent_hack = yes, swap_bangpath = yes.
HACKS = {PERCENT, BANG}


@dataclass
class Case:
    name: str
    main_cf: str
    master_cf: str = SMTP
    rewrite: str = REWRITE
    expect: Dict[str, Set[str]] = field(default_factory=dict)
    #: A known disagreement (strict xfail): why pfcheck and Postfix differ.
    xfail: str = ""


def _with(line: str, option: str) -> str:
    return line + f"  -o {option}\n"


NO_HACKS = "allow_percent_hack = no\nswap_bangpath = no\n"
CASES = [
    Case("defaults", BASE, expect={"smtp/inet": HACKS}),
    Case("all_off", BASE + NO_HACKS, expect={"smtp/inet": set()}),
    Case("untrusted_routing_yes", BASE + NO_HACKS + "allow_untrusted_routing = yes\n",
         expect={"smtp/inet": {UNTRUSTED}}),
    Case("untrusted_routing_upper_case", BASE + NO_HACKS + "allow_untrusted_routing = YES\n",
         expect={"smtp/inet": {UNTRUSTED}}),
    Case("untrusted_routing_later_duplicate_no",
         BASE + NO_HACKS + "allow_untrusted_routing = yes\nallow_untrusted_routing = no\n",
         expect={"smtp/inet": set()}),
    Case("untrusted_routing_expanded", BASE + NO_HACKS + "trust = yes\nallow_untrusted_routing = $trust\n",
         expect={"smtp/inet": {UNTRUSTED}}),
    Case("untrusted_routing_on_one_listener", BASE + NO_HACKS, SMTP + _with(ALT, "allow_untrusted_routing=yes"),
         expect={"smtp/inet": set(), "2525/inet": {UNTRUSTED}}),
    Case("untrusted_routing_off_on_one_listener", BASE + NO_HACKS + "allow_untrusted_routing = yes\n",
         SMTP + _with(ALT, "allow_untrusted_routing=no"),
         expect={"smtp/inet": {UNTRUSTED}, "2525/inet": set()}),
    # smtpd reads allow_untrusted_routing; trivial-rewrite's -o is not smtpd's.
    Case("untrusted_routing_on_rewrite_service_is_not_read", BASE + NO_HACKS,
         rewrite=_with(REWRITE, "allow_untrusted_routing=yes"), expect={"smtp/inet": set()}),
    Case("untrusted_routing_without_relay_domains",
         BASE.replace("relay_domains = relay.example\n", "") + NO_HACKS + "allow_untrusted_routing = yes\n",
         expect={"smtp/inet": set()},
         xfail="PF607 fires on allow_untrusted_routing = yes alone; without relay domains (or "
               "permit_mx_backup) Postfix relays no routed address (permit_auth_destination only "
               "lets routed addresses pass to relay or final domains, and final ones are then "
               "validated as local/virtual users): a latent setting, not accepted routing"),
    Case("dequoted_no", BASE + NO_HACKS + "resolve_dequoted_address = no\n", expect={"smtp/inet": {DEQUOTED}}),
    Case("dequoted_no_upper_case_with_hacks", BASE + "resolve_dequoted_address = NO\n",
         expect={"smtp/inet": {DEQUOTED} | HACKS}),
    Case("dequoted_later_duplicate_yes", BASE + NO_HACKS + "resolve_dequoted_address = no\n"
         "resolve_dequoted_address = yes\n", expect={"smtp/inet": set()}),
    Case("dequoted_no_on_rewrite_service", BASE + NO_HACKS,
         rewrite=_with(REWRITE, "resolve_dequoted_address=no"), expect={"smtp/inet": {DEQUOTED}}),
    Case("dequoted_back_to_yes_on_rewrite_service", BASE + NO_HACKS + "resolve_dequoted_address = no\n",
         rewrite=_with(REWRITE, "resolve_dequoted_address=yes"), expect={"smtp/inet": set()}),
    # smtpd does not resolve addresses itself: its -o changes nothing.
    Case("dequoted_no_on_smtpd_is_not_read", BASE + NO_HACKS, _with(SMTP, "resolve_dequoted_address=no"),
         expect={"smtp/inet": set()}),
    Case("percent_hack_off_only", BASE + "allow_percent_hack = no\n", expect={"smtp/inet": {BANG}}),
    Case("bangpath_off_only", BASE + "swap_bangpath = No\n", expect={"smtp/inet": {PERCENT}}),
    Case("hacks_off_on_rewrite_service", BASE,
         rewrite=_with(_with(REWRITE, "allow_percent_hack=no"), "swap_bangpath=no"),
         expect={"smtp/inet": set()}),
    Case("bangpath_back_on_rewrite_service", BASE + NO_HACKS, rewrite=_with(REWRITE, "swap_bangpath=YES"),
         expect={"smtp/inet": {BANG}}),
    Case("hacks_off_on_smtpd_is_not_read", BASE,
         _with(_with(SMTP, "allow_percent_hack=no"), "swap_bangpath=no"), expect={"smtp/inet": HACKS}),
]


def _helpers(case: Case) -> str:
    return HELPER_SERVICES.replace(REWRITE, case.rewrite)


# ------------------------------------------------------------------------------------------
# pfcheck's side


def pfcheck_behaviours(case: Case, root: Path) -> Dict[str, Set[str]]:
    seen: Dict[str, Set[str]] = {}
    for finding in pfcheck_findings(case.main_cf, case.master_cf + _helpers(case), {}, root, POLICY):
        code = finding["code"]
        if code == "PF607":
            seen.setdefault(finding["service"], set()).add(UNTRUSTED)
        elif code in ("PF608", "PF609"):
            # trivial-rewrite's: every listener of the case asks rewrite/unix.
            assert finding["service"] == "rewrite/unix", finding
            name = DEQUOTED if code == "PF608" else f"PF609 {finding['parameter']}"
            for service in case.expect:
                seen.setdefault(service, set()).add(name)
    return seen


# ------------------------------------------------------------------------------------------
# Postfix's side


def postfix_behaviours(pf: LivePostfix, service: str) -> Tuple[Set[str], List[str]]:
    seen: Set[str] = set()
    notes: List[str] = []
    accepted = []
    for recipient in ROUTED_FORMS:
        reply = pf.rcpt(service, recipient=recipient)
        notes.append(f"{recipient}: {reply}")
        assert reply.outcome in (ACCEPTED, REJECTED), notes
        if reply.outcome == REJECTED:
            assert "Relay access denied" in reply.text, notes
        accepted.append(reply.outcome == ACCEPTED)
    assert len(set(accepted)) == 1, notes  # all four are routed alike
    if accepted[0]:
        seen.add(UNTRUSTED)
    for name, recipient in RESOLVE_PROBES.items():
        reply = pf.rcpt(service, client=None, recipient=recipient)
        notes.append(f"trusted {recipient}: {reply}")
        assert reply.outcome in (ACCEPTED, REJECTED), notes
        resolved_remote = reply.outcome == ACCEPTED
        if not resolved_remote:
            assert "User unknown in local recipient table" in reply.text, notes
        # PF608 is about the quotes left closed; PF609 about the hack applied.
        if resolved_remote != (name == DEQUOTED):
            seen.add(name)
    return seen, notes


@pytest.mark.parametrize("case", [
    pytest.param(case, id=case.name,
                 marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else [])
    for case in CASES])
def test_rules_fire_exactly_when_postfix_routes_so(case: Case, tmp_path: Path,
                                                   live_postfix_factory: type) -> None:
    pfcheck_seen = pfcheck_behaviours(case, tmp_path)
    with live_postfix_factory(case.main_cf, case.master_cf + _helpers(case)) as pf:
        for service in case.expect:
            assert pf.startup_fatal(service) is None, service
            postfix_seen, notes = postfix_behaviours(pf, service)
            ours = pfcheck_seen.get(service, set())
            assert ours == postfix_seen, (
                f"{case.name} {service}: pfcheck {sorted(ours)} != Postfix {sorted(postfix_seen)}; {notes}")
            assert postfix_seen == case.expect[service], (
                f"{case.name} {service}: expected {sorted(case.expect[service])}, "
                f"Postfix {sorted(postfix_seen)}; {notes}")
    assert set(pfcheck_seen) <= set(case.expect), pfcheck_seen
