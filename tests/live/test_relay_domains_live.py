"""PF605 (relay-domains-too-wide) and PF606 (relay-recipients-unvalidated) judged by a live Postfix.

Each case of the matrix is one repo config. pfcheck, run as a user runs it (the CLI, JSON
output), gives the findings of PF605 and PF606 per listener; a private real Postfix
(tests/support/live_postfix.py) runs the same main.cf and master.cf (the case's listeners plus
the helper services, which pfcheck sees too) and is asked, on each listener of the case, as the
outside client 203.0.113.7 (XCLIENT), MAIL FROM then RCPT TO:

* too wide (PF605): `relaytest@D` for each D of WIDE_DOMAINS (a domain nobody lists, the
  top-level domains `org`/`net` and a name under them, a subdomain of `$myhostname` and of
  `localhost`); D is a relay domain when the RCPT is accepted or refused only as "User unknown
  in relay recipient table" (never "Relay access denied"). Postfix relays too widely when D is
  a relay domain that is not, or is not under, a multi-label domain that the case's
  relay_domains names (`Case.named`): accepting
  `relaytest@x.example.com` for `relay_domains = example.com` is the config's own choice.
* unvalidated (PF606, and PF705 where smtpd_reject_unlisted_recipient = no is the cause):
  `nosuchuser-pfcheck@D` for each D of `Case.relay_probes` (domains the case relays for, named
  or through its catch-all or top-level domain): accepted = unknown relay recipients pass.
  The implicit `relay_domains = $mydestination` of compatibility_level < 2 is PF605's by PF606's
  own design, so those cases have no relay probes (PF606 stays silent there).

Assertion: per listener, PF605 fires exactly when Postfix relays too widely, PF606 (or PF705)
exactly when it accepts an unknown relay recipient, and PF301 (open-relay) exactly when it
accepts `relaytest@pfcheck-unlisted.test`, a domain nobody names; and Postfix behaves as each case
says by hand. No relayed message is sent: the probes stop at RCPT.

Postfix fact this relies on (Postfix 3.7, smtpd_check.c / trivial-rewrite resolve.c): the
relay address class comes from trivial-rewrite (the `rewrite` service), so `relay_domains` set
with `-o` on an smtpd listener changes nothing there, while `-o` on the `rewrite` service does;
`relay_recipient_maps` is read by smtpd itself, so its `-o` on a listener counts.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Set, Tuple

import pytest

from pfcheck.cli import main as pfcheck_main
from tests.support.live_postfix import (
    ACCEPTED,
    HELPER_SERVICES,
    LivePostfix,
    REJECTED,
    live_postfix_factory,  # noqa: F401  (pytest fixture)
)

SMTP = "smtp      inet  n       -       n       -       -       smtpd\n"
ALT = "2525      inet  n       -       n       -       -       smtpd\n"
BASE = "compatibility_level = 3.6\nmyhostname = mx.pfcheck-host.test\nmydomain = pfcheck-host.test\n"
OLD = "myhostname = mx.pfcheck-host.test\nmydomain = pfcheck-host.test\n"
WIDE_DOMAINS = ("pfcheck-unlisted.test", "org", "probe.org", "net", "probe.net",
                "sub.mx.pfcheck-host.test", "sub.localhost")
UNKNOWN = "nosuchuser-pfcheck"
RECIPIENTS_TABLE = {"/etc/postfix/relay_recipients": "known@example.com x\nknown@backup.example.org x\n"}
WITH_MAPS = "relay_recipient_maps = hash:/etc/postfix/relay_recipients\n"
RELAY_DOMAINS_TABLE = {"/etc/postfix/relay_domains": "example.com x\norg x\n"}
NO_PARENT_STYLE = ("parent_domain_matches_subdomains = debug_peer_list, fast_flush_domains, "
                   "mynetworks, permit_mx_backup_networks, qmqpd_authorized_clients, smtpd_access_maps\n")
TOO_WIDE = "PF605"
UNVALIDATED = "unvalidated"  # PF606, or PF705 where reject_unlisted_recipient is off
OPEN = "PF301"  # relaytest@pfcheck-unlisted.test accepted: any domain is relayed
UNLISTED = "pfcheck-unlisted.test"


@dataclass
class Case:
    name: str
    main_cf: str
    #: The case's listeners; the helper services (rewrite, ...) follow unless `helpers` is given.
    master_cf: str = SMTP
    helpers: str = HELPER_SERVICES
    files: Mapping[str, str] = field(default_factory=dict)
    #: Multi-label domains relay_domains names (accepting them and their subdomains is chosen).
    named: Tuple[str, ...] = ()
    #: Domains to send an unknown user to (PF606's probe).
    relay_probes: Tuple[str, ...] = ()
    #: Hand-written expectation per listener (both sides must agree with it).
    expect: Dict[str, Set[str]] = field(default_factory=dict)


def _rewrite_with(option: str) -> str:
    return HELPER_SERVICES.replace(
        "rewrite   unix  -       -       n       -       -       trivial-rewrite\n",
        f"rewrite   unix  -       -       n       -       -       trivial-rewrite\n  -o {option}\n")


BOTH = {TOO_WIDE, UNVALIDATED}
CASES = [
    Case("static_catch_all", BASE + "relay_domains = static:anything\n",
         relay_probes=("pfcheck-unlisted.test",), expect={"smtp/inet": BOTH | {OPEN}}),
    Case("static_catch_all_on_rewrite_service", BASE, helpers=_rewrite_with("relay_domains=static:all"),
         relay_probes=("pfcheck-unlisted.test",), expect={"smtp/inet": BOTH | {OPEN}}),
    # In parent style (relay_domains in parent_domain_matches_subdomains, the default) a
    # pattern matches itself and the names under it, and ".org" only names ending in "..org":
    # it matches nothing. Without parent style ".org" is every name under org.
    Case("dotted_top_level_domain_parent_style", BASE + "relay_domains = example.com, .org\n",
         named=("example.com",), relay_probes=("example.com",), expect={"smtp/inet": {UNVALIDATED}}),
    Case("dotted_top_level_domain_without_parent_style",
         BASE + NO_PARENT_STYLE + "relay_domains = example.com, .org\n",
         named=("example.com",), relay_probes=("example.com",), expect={"smtp/inet": BOTH}),
    Case("bare_top_level_domain_parent_style", BASE + "relay_domains = example.com org\n",
         named=("example.com",), relay_probes=("example.com",), expect={"smtp/inet": BOTH}),
    Case("bare_top_level_domain_exact_match", BASE + NO_PARENT_STYLE + "relay_domains = org\n" + WITH_MAPS,
         files=RECIPIENTS_TABLE, expect={"smtp/inet": {TOO_WIDE}}),
    Case("upper_case_top_level_domain", BASE + "relay_domains = example.com, ORG\n" + WITH_MAPS,
         files=RECIPIENTS_TABLE, named=("example.com",), relay_probes=("example.com",),
         expect={"smtp/inet": {TOO_WIDE}}),
    Case("expanded_top_level_domain", BASE + "backups = net\nrelay_domains = example.com, $backups\n" + WITH_MAPS,
         files=RECIPIENTS_TABLE, named=("example.com",), relay_probes=("example.com",),
         expect={"smtp/inet": {TOO_WIDE}}),
    Case("negated_subdomain_then_top_level_domain", BASE + "relay_domains = !probe.org, org\n",
         relay_probes=("org",), expect={"smtp/inet": BOTH}),
    Case("named_domains_and_negation",
         BASE + "relay_domains = example.com, !com, backup.example.org\n" + WITH_MAPS,
         files=RECIPIENTS_TABLE, named=("example.com", "backup.example.org"),
         relay_probes=("example.com", "backup.example.org"), expect={"smtp/inet": set()}),
    Case("named_domain_unvalidated", BASE + "relay_domains = example.com\n",
         named=("example.com",), relay_probes=("example.com",), expect={"smtp/inet": {UNVALIDATED}}),
    Case("later_duplicate_narrows", BASE + "relay_domains = org\nrelay_domains = example.com\n" + WITH_MAPS,
         files=RECIPIENTS_TABLE, named=("example.com",), relay_probes=("example.com",),
         expect={"smtp/inet": set()}),
    Case("later_duplicate_widens", BASE + "relay_domains = example.com\nrelay_domains = example.com, net\n" + WITH_MAPS,
         files=RECIPIENTS_TABLE, named=("example.com",), relay_probes=("example.com",),
         expect={"smtp/inet": {TOO_WIDE}}),
    Case("continuation_line", BASE + "relay_domains = example.com,\n    org\n" + WITH_MAPS,
         files=RECIPIENTS_TABLE, named=("example.com",), relay_probes=("example.com",),
         expect={"smtp/inet": {TOO_WIDE}}),
    # Without compatibility_level smtpd_relay_restrictions is empty: smtpd needs its own.
    Case("implicit_mydestination_no_compatibility_level",
         OLD + "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n",
         expect={"smtp/inet": {TOO_WIDE}}),
    Case("implicit_mydestination_compatibility_level_1", "compatibility_level = 1\n" + OLD,
         expect={"smtp/inet": {TOO_WIDE}}),
    Case("compatibility_level_2_default_is_empty", "compatibility_level = 2\n" + OLD,
         expect={"smtp/inet": set()}),
    Case("implicit_mydestination_without_parent_style", "compatibility_level = 1\n" + OLD + NO_PARENT_STYLE,
         expect={"smtp/inet": set()}),
    Case("implicit_mydestination_empty", "compatibility_level = 1\n" + OLD + "mydestination =\n",
         expect={"smtp/inet": set()}),
    Case("explicit_empty_at_compatibility_level_1", "compatibility_level = 1\n" + OLD + "relay_domains =\n",
         expect={"smtp/inet": set()}),
    Case("expands_to_empty", BASE + "backups =\nrelay_domains = $backups\n", expect={"smtp/inet": set()}),
    Case("smtpd_override_is_not_trivial_rewrites", BASE,
         SMTP + "  -o relay_domains=net\n", expect={"smtp/inet": set()}),
    Case("rewrite_service_override", BASE, helpers=_rewrite_with("relay_domains=net"),
         relay_probes=("net",), expect={"smtp/inet": BOTH}),
    Case("rewrite_service_override_with_maps", BASE + WITH_MAPS, files=RECIPIENTS_TABLE,
         helpers=_rewrite_with("relay_domains=example.com"), named=("example.com",),
         relay_probes=("example.com",), expect={"smtp/inet": set()}),
    Case("recipient_maps_emptied_on_one_listener", BASE + "relay_domains = example.com\n" + WITH_MAPS,
         SMTP + ALT + "  -o relay_recipient_maps=\n", files=RECIPIENTS_TABLE, named=("example.com",),
         relay_probes=("example.com",), expect={"smtp/inet": set(), "2525/inet": {UNVALIDATED}}),
    Case("recipient_maps_set_on_one_listener", BASE + "relay_domains = example.com\n",
         SMTP + ALT + "  -o relay_recipient_maps=hash:/etc/postfix/relay_recipients\n",
         files=RECIPIENTS_TABLE, named=("example.com",), relay_probes=("example.com",),
         expect={"smtp/inet": {UNVALIDATED}, "2525/inet": set()}),
    Case("reject_unlisted_recipient_off", BASE + "relay_domains = example.com\n" + WITH_MAPS
         + "smtpd_reject_unlisted_recipient = no\n", files=RECIPIENTS_TABLE, named=("example.com",),
         relay_probes=("example.com",), expect={"smtp/inet": {UNVALIDATED}}),
    Case("table_lists_top_level_domain", BASE + "relay_domains = hash:/etc/postfix/relay_domains\n" + WITH_MAPS,
         files={**RECIPIENTS_TABLE, **RELAY_DOMAINS_TABLE}, named=("example.com",),
         relay_probes=("example.com",), expect={"smtp/inet": {TOO_WIDE}}),
]


# ------------------------------------------------------------------------------------------
# pfcheck's side


def pfcheck_findings(case: Case, root: Path) -> Dict[str, Set[str]]:
    repo = root / "repo"
    repo.mkdir()
    (repo / "main.cf").write_text(case.main_cf)
    (repo / "master.cf").write_text(case.master_cf + case.helpers)
    for path, text in case.files.items():  # /etc/postfix/NAME is the repo's NAME
        (repo / Path(path).name).write_text(text)
    output = root / "findings.json"
    status = pfcheck_main(["--format", "json", "--output-file", str(output), str(repo)])
    assert status in (0, 1), f"{case.name}: pfcheck exited {status}"
    seen: Dict[str, Set[str]] = {}
    for finding in json.loads(output.read_text())["findings"]:
        if finding["code"] in ("PF301", "PF605", "PF606", "PF705") and finding["service"]:
            seen.setdefault(finding["service"], set()).add(finding["code"])
    return seen


def pfcheck_behaviours(findings: Set[str]) -> Set[str]:
    seen = findings & {TOO_WIDE, OPEN}
    if findings & {"PF606", "PF705"}:
        seen.add(UNVALIDATED)
    return seen


# ------------------------------------------------------------------------------------------
# Postfix's side


def _chosen(domain: str, named: Tuple[str, ...]) -> bool:
    return any(domain == name or domain.endswith("." + name) for name in named)


def postfix_behaviours(pf: LivePostfix, service: str, case: Case) -> Tuple[Set[str], List[str]]:
    seen: Set[str] = set()
    notes: List[str] = []
    for domain in WIDE_DOMAINS:
        reply = pf.rcpt(service, recipient=f"relaytest@{domain}")
        assert reply.outcome in (ACCEPTED, REJECTED), (str(reply), reply.transcript[-4:])
        # A relay domain: accepted, or refused only as an unknown relay recipient.
        if reply.outcome == ACCEPTED or "in relay recipient table" in reply.text:
            notes.append(f"relaytest@{domain}: {reply}")
            if not _chosen(domain, case.named):
                seen.add(TOO_WIDE)
            if domain == UNLISTED and reply.outcome == ACCEPTED:
                seen.add(OPEN)
        else:
            assert "Relay access denied" in reply.text, (str(reply), reply.transcript[-4:])
    for domain in case.relay_probes:
        reply = pf.rcpt(service, recipient=f"{UNKNOWN}@{domain}")
        notes.append(f"{UNKNOWN}@{domain}: {reply}")
        assert reply.outcome in (ACCEPTED, REJECTED), (str(reply), reply.transcript[-4:])
        if reply.outcome == ACCEPTED:
            seen.add(UNVALIDATED)
        else:
            assert "User unknown in relay recipient table" in reply.text, (str(reply), reply.transcript[-4:])
    return seen, notes


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_rules_fire_exactly_when_postfix_relays_so(case: Case, tmp_path: Path,
                                                   live_postfix_factory: type) -> None:
    findings = pfcheck_findings(case, tmp_path)
    with live_postfix_factory(case.main_cf, case.master_cf + case.helpers, files=dict(case.files)) as pf:
        for service in case.expect:
            assert pf.startup_fatal(service) is None, service
            postfix_seen, notes = postfix_behaviours(pf, service, case)
            ours = pfcheck_behaviours(findings.get(service, set()))
            assert ours == postfix_seen, (
                f"{case.name} {service}: pfcheck {sorted(findings.get(service, set()))} != "
                f"Postfix {sorted(postfix_seen)}; {notes}")
            assert postfix_seen == case.expect[service], (
                f"{case.name} {service}: expected {sorted(case.expect[service])}, "
                f"Postfix {sorted(postfix_seen)}; {notes}")
    assert set(findings) <= set(case.expect), findings
