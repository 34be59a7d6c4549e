"""Unit tests of the open-relay evaluator and Postfix's start-up guard (pfcheck.postfix.relay).

The configurations are test data: a dict-backed EffectiveParams built from main.cf-style text
plus `-o` overrides, with Postfix 3.7.11's own default strings (as `postconf -d` prints them)
expanded by pfcheck's expander. The observed tables of rules.md §3.2 are asserted exactly; the
live counterpart (tests/live/test_relay_live.py) replays the same kind of configurations on a real
Postfix.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfcheck.postfix import networks
from pfcheck.postfix.expand import expand
from pfcheck.postfix.relay import (
    ATTACKER_HOSTNAME,
    REQUIRED_RESTRICTIONS,
    RelayVerdict,
    Verdict,
    client_grants,
    evaluate_relay,
    split_restrictions,
    startup_guard,
)
from pfcheck.postfix.tables import TableResolver

# `postconf -d` of Postfix 3.7.11 for the parameters the evaluator reads.
DEFAULTS_3_7: Dict[str, str] = {
    "compatibility_level": "0",
    "smtpd_relay_restrictions": "${{$compatibility_level} <level {1} ? {} : "
                                "{permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination}}",
    "smtpd_recipient_restrictions": "",
    "smtpd_client_restrictions": "",
    "smtpd_helo_restrictions": "",
    "smtpd_sender_restrictions": "",
    "relay_domains": "${{$compatibility_level} <level {2} ? {$mydestination} : {}}",
    "smtpd_relay_before_recipient_restrictions": "${{$compatibility_level} <level {3.6} ? {no} : {yes}}",
    "mydestination": "$myhostname, localhost.$mydomain, localhost",
    "myhostname": "mx.example.com",
    "mydomain": "example.com",
    "myorigin": "$myhostname",
    "mynetworks": "127.0.0.0/8 [::1]/128",
    "parent_domain_matches_subdomains": "debug_peer_list,fast_flush_domains,mynetworks,"
                                        "permit_mx_backup_networks,qmqpd_authorized_clients,"
                                        "relay_domains,smtpd_access_maps",
    "smtpd_delay_reject": "yes",
    "smtpd_helo_required": "no",
    "allow_untrusted_routing": "no",
    "allow_percent_hack": "yes",
    "swap_bangpath": "yes",
    "resolve_dequoted_address": "yes",
    "append_dot_mydomain": "${{$compatibility_level} <level {1} ? {yes} : {no}}",
    "smtpd_reject_unlisted_recipient": "yes",
    "smtpd_reject_unlisted_sender": "no",
    "smtpd_null_access_lookup_key": "<>",
    "inet_protocols": "all",
    "inet_interfaces": "all",
    "proxy_interfaces": "",
    "default_transport": "smtp",
    "relay_transport": "relay",
    "local_transport": "local:$myhostname",
    "virtual_transport": "virtual",
    "transport_maps": "",
    "relocated_maps": "",
    "recipient_delimiter": "",
    "sender_dependent_default_transport_maps": "",
    "canonical_maps": "",
    "recipient_canonical_maps": "",
    "sender_canonical_maps": "",
    "virtual_alias_domains": "$virtual_alias_maps",
    "virtual_alias_maps": "$virtual_maps",
    "virtual_maps": "",
    "virtual_mailbox_domains": "$virtual_mailbox_maps",
    "virtual_mailbox_maps": "",
    "smtpd_sasl_auth_enable": "no",
    "permit_mx_backup_networks": "",
    "relay_recipient_maps": "",
    "smtpd_restriction_classes": "",
    "smtpd_tls_security_level": "",
    "smtpd_milters": "",
    "smtpd_proxy_filter": "",
    "smtpd_sender_login_maps": "",
}


class Params:
    """EffectiveParams for tests: main.cf lines (name = value), `-o` overrides, 3.7 defaults."""

    def __init__(self, main_cf: str = "", overrides: Optional[Mapping[str, str]] = None,
                 service: str = "smtp/inet") -> None:
        self.service = service
        self.raw: Dict[str, str] = {}
        self.where: Dict[str, Tuple[str, int]] = {}
        for number, line in enumerate(main_cf.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0].isspace():  # continuation
                last = list(self.raw)[-1]
                self.raw[last] += line
                continue
            name, _, value = line.partition("=")
            self.raw[name.strip()] = value.strip()
            self.where[name.strip()] = ("main.cf", number)
        for index, (name, value) in enumerate((overrides or {}).items(), start=1):
            self.raw[name] = value
            self.where[name] = ("master.cf", 100 + index)

    def _lookup(self, name: str) -> Optional[str]:
        if name in self.raw:
            return self.raw[name]
        return DEFAULTS_3_7.get(name)

    def value(self, name: str) -> str:
        raw = self._lookup(name)
        return "" if raw is None else expand(raw, self._lookup, name=name).strip()

    def location(self, name: str) -> Optional[Tuple[str, int]]:
        return self.where.get(name)


def main_scope(params: Params) -> Params:
    """The same configuration without the `-o` overrides (what trivial-rewrite reads)."""
    scope = Params(service="main.cf")
    scope.raw = {name: value for name, value in params.raw.items() if params.where[name][0] == "main.cf"}
    scope.where = {name: where for name, where in params.where.items() if where[0] == "main.cf"}
    return scope


def verdict_of(main_cf: str = "", overrides: Optional[Mapping[str, str]] = None, *, version: str = "3.7",
               resolver: Optional[TableResolver] = None) -> RelayVerdict:
    params = Params(main_cf, overrides)
    return evaluate_relay(params, version=version, resolver=resolver, trusted=None,
                          rewrite_params=main_scope(params))


# ------------------------------------------------------------------------------------------
# Tokenizer


def test_split_restrictions_commas_whitespace_and_braces() -> None:
    assert split_restrictions("permit_mynetworks,reject_unauth_destination") == [
        "permit_mynetworks", "reject_unauth_destination"]
    assert split_restrictions("  a ,\n\tb,,c  ") == ["a", "b", "c"]
    assert split_restrictions("check_client_access inline:{1.2.3.4=OK, 5.6.7.8=REJECT}, permit") == [
        "check_client_access", "inline:{1.2.3.4=OK, 5.6.7.8=REJECT}", "permit"]
    assert split_restrictions("") == []


# ------------------------------------------------------------------------------------------
# The start-up guard: rules.md §3.2 observed table, row by row

GUARD_FATAL = ("in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at "
               "least one working instance of: reject_unauth_destination, defer_unauth_destination, "
               "reject, defer, defer_if_permit or check_relay_domains")

GUARD_TABLE = [
    ("compatibility_level = 3.6", True, ()),
    ("", False, ()),
    ("compatibility_level = 2", True, ()),
    ("smtpd_relay_restrictions = permit_mynetworks", False, ()),
    ("smtpd_relay_restrictions = permit, reject_unauth_destination", False,
     ("restriction `reject_unauth_destination' after `permit' is ignored",)),
    ("smtpd_relay_restrictions = warn_if_reject reject_unauth_destination", False, ()),
    ("smtpd_relay_restrictions = permit_mynetworks\n"
     "smtpd_recipient_restrictions = check_client_access static:OK, reject_unauth_destination", True, ()),
    ("smtpd_relay_restrictions = permit_mynetworks mycls\nsmtpd_restriction_classes = mycls\n"
     "mycls = reject_unauth_destination", True, ()),
    ("smtpd_relay_restrictions = permit_mynetworks, defer_if_permit", True, ()),
    ("smtpd_relay_restrictions = permit_mynetworks, check_relay_domains", True, ()),
    ("smtpd_relay_restrictions =\n"
     "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination", True, ()),
    ("smtpd_relay_restrictions = permit_mynetworks, REJECT_UNAUTH_DESTINATION", True, ()),
]


@pytest.mark.parametrize("main_cf,passes,warnings", GUARD_TABLE)
def test_startup_guard_matches_observed_table(main_cf: str, passes: bool, warnings: Tuple[str, ...]) -> None:
    result = startup_guard(Params(main_cf))
    assert result.passes is passes
    assert result.warnings == warnings
    if passes:
        assert result.message is None
        assert result.satisfied_by is not None and result.satisfied_by[1].lower() in REQUIRED_RESTRICTIONS
    else:
        assert result.message == GUARD_FATAL


def test_guard_checks_recipient_list_first_and_skips_relay_warnings() -> None:
    # smtpd stops at the recipient list when it passes: the relay list is never scanned.
    result = startup_guard(Params("smtpd_recipient_restrictions = reject_unauth_destination\n"
                                  "smtpd_relay_restrictions = permit, reject"))
    assert result.passes and result.warnings == ()
    assert result.satisfied_by == ("smtpd_recipient_restrictions", "reject_unauth_destination")


def test_guard_class_expanding_to_permit_is_only_skipped() -> None:
    # live-postfix-harness.md: `let_in, reject_unauth_destination` with `let_in = permit` passes.
    params = Params("smtpd_restriction_classes = let_in\nlet_in = permit\n"
                    "smtpd_relay_restrictions = let_in, reject_unauth_destination")
    assert startup_guard(params).passes
    verdict = evaluate_relay(params, version="3.7", resolver=None, trusted=None)
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None and verdict.witness.token == "permit"


def test_guard_warn_if_reject_skips_exactly_one_item() -> None:
    assert not startup_guard(Params("smtpd_relay_restrictions = warn_if_reject reject")).passes
    assert startup_guard(Params("smtpd_relay_restrictions = warn_if_reject check_client_access "
                                "static:OK reject_unauth_destination")).passes
    # warn_if_reject as the last item is not a skip: nothing follows it
    assert not startup_guard(Params("smtpd_relay_restrictions = permit_mynetworks warn_if_reject")).passes


def test_guard_class_names_are_case_sensitive_restrictions_are_not() -> None:
    params = Params("smtpd_restriction_classes = Mycls\nMycls = reject\nsmtpd_relay_restrictions = mycls")
    assert not startup_guard(params).passes
    assert startup_guard(Params("smtpd_relay_restrictions = Defer_If_Permit")).passes


def test_guard_undefined_class_is_its_own_fatal() -> None:
    result = startup_guard(Params("smtpd_restriction_classes = ghost\n"
                                  "smtpd_relay_restrictions = reject_unauth_destination"))
    assert not result.passes
    assert result.message == "restriction class `ghost' needs a definition"


def test_guard_self_including_class_crashes_smtpd() -> None:
    result = startup_guard(Params("compatibility_level = 3.6\nsmtpd_restriction_classes = a\na = a\n"
                                  "smtpd_relay_restrictions = a"))
    assert not result.passes and result.crashes
    # A required restriction before the self-reference ends the scan first: no crash.
    assert startup_guard(Params("smtpd_restriction_classes = a\na = reject_unauth_destination a\n"
                                "smtpd_relay_restrictions = a")).passes


def test_guard_before_2_10_has_no_relay_list() -> None:
    params = Params("smtpd_relay_restrictions = reject_unauth_destination")
    assert startup_guard(params, version="3.7").passes
    assert not startup_guard(params, version="2.9").passes


def test_refused_listener_is_never_open() -> None:
    verdict = verdict_of("smtpd_recipient_restrictions = permit")
    assert verdict.verdict is Verdict.REFUSED
    assert verdict.witness is None and verdict.guard.message == GUARD_FATAL


# ------------------------------------------------------------------------------------------
# Verdicts


def test_defaults_by_compatibility_level() -> None:
    assert verdict_of("compatibility_level = 3.6").verdict is Verdict.CLOSED
    assert verdict_of("compatibility_level = 2").verdict is Verdict.CLOSED
    assert verdict_of("compatibility_level = 1").verdict is Verdict.CLOSED
    assert verdict_of("").verdict is Verdict.REFUSED


def test_static_ok_before_reject_unauth_destination_is_open() -> None:
    verdict = verdict_of("smtpd_relay_restrictions = permit_mynetworks\n"
                         "smtpd_recipient_restrictions = check_client_access static:OK, reject_unauth_destination")
    assert verdict.verdict is Verdict.OPEN
    witness = verdict.witness
    assert witness is not None
    assert witness.parameter == "smtpd_recipient_restrictions"
    assert witness.token.startswith("check_client_access static:OK")
    assert witness.location == ("main.cf", 2)
    assert witness.client == "203.0.113.7" and witness.replayable


def test_permissive_recipient_list_is_harmless_with_default_relay_list() -> None:
    assert verdict_of("compatibility_level = 2\nsmtpd_recipient_restrictions = permit").verdict is Verdict.CLOSED
    # ... but the same line at level 0 has no relay list behind it (and fails the guard)
    assert verdict_of("smtpd_recipient_restrictions = permit").verdict is Verdict.REFUSED


def test_empty_relay_list_at_level_0_with_permissive_recipient_list() -> None:
    verdict = verdict_of("smtpd_recipient_restrictions = permit_mynetworks, check_sender_access "
                         "inline:{example.com=OK}, reject_unauth_destination")
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None
    assert verdict.witness.sender.endswith("example.com")  # parent-domain match included
    assert "smtpd_relay_restrictions: empty (no restrictions)" in verdict.witness.steps


def test_forged_helo_of_own_hostname() -> None:
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = permit_mynetworks, "
                         "check_helo_access inline:{mx.example.com=OK}, reject_unauth_destination")
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None and verdict.witness.helo == "mx.example.com"


def test_null_sender_key() -> None:
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = check_sender_access "
                         "inline:{<>=OK}, reject_unauth_destination")
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None and verdict.witness.sender == ""


def test_sender_rejects_null_but_trusts_own_domain() -> None:
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = check_sender_access "
                         "inline:{<>=REJECT, attacker.example=REJECT, example.com=OK}, reject_unauth_destination")
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None and verdict.witness.sender.endswith("example.com")


@pytest.mark.parametrize("action", ["OK", "ok", "RELAY", "12345", "permit", "permit_auth_destination permit"])
def test_access_actions_that_accept(action: str) -> None:
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = check_client_access "
                         f"inline:{{{{unknown={action}}}}}, reject_unauth_destination")
    assert verdict.verdict is Verdict.OPEN, action
    assert verdict.witness is not None and verdict.witness.client_name is None


@pytest.mark.parametrize("action", ["DUNNO", "REJECT", "DEFER", "450 try later", "WARN hello", "DISCARD",
                                    "DEFER_IF_PERMIT", "reject_unauth_destination", "bogus_restriction",
                                    "hash:/etc/postfix/x"])
def test_access_actions_that_do_not_open(action: str) -> None:
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = check_client_access "
                         f"inline:{{{{unknown={action}}}}}, reject_unauth_destination")
    assert verdict.verdict is Verdict.CLOSED, action


def test_restriction_class_as_access_result() -> None:
    verdict = verdict_of("compatibility_level = 2\nsmtpd_restriction_classes = let_in\nlet_in = permit\n"
                         "smtpd_relay_restrictions = check_client_access static:let_in, reject_unauth_destination")
    assert verdict.verdict is Verdict.OPEN


def test_forbidden_ok_in_reverse_client_access_is_a_server_error() -> None:
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = check_reverse_client_hostname_access "
                         "static:OK, check_client_access static:OK, reject_unauth_destination")
    # OK from this table is refused with 451 ("not allowed for security reasons"): not open.
    assert verdict.verdict is Verdict.CLOSED


def test_dns_server_access_checks_are_bypassed_by_the_attackers_dns() -> None:
    # check_recipient_mx_access looks up the recipient domain's MX hosts; a lookup that fails
    # makes Postfix skip it (observed offline: 250), so only the address-literal form is caught.
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = check_recipient_mx_access "
                         "static:REJECT, check_client_access static:OK, reject_unauth_destination")
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None
    assert verdict.witness.recipient == "relaytest@relay-target.example"
    assert any("MX lookup" in text for text in verdict.witness.assumptions)


def test_bare_table_means_recipient_in_relay_list_and_client_in_client_list() -> None:
    assert verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = static:OK, reject_unauth_destination"
                      ).verdict is Verdict.OPEN
    assert verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = "
                      "inline:{partner.example=OK}, reject_unauth_destination").verdict is Verdict.CLOSED
    # a recipient-keyed grant for one domain is a destination, not an open relay; a TLD is
    assert verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = "
                      "inline:{com=OK}, reject_unauth_destination").verdict is Verdict.OPEN


def test_unknown_restriction_name_is_a_451() -> None:
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = permit_mynetworks, "
                         "reject_unauth_destinaton")
    assert verdict.verdict is Verdict.REFUSED  # the typo does not count for the guard ...
    verdict = verdict_of("compatibility_level = 2\nsmtpd_recipient_restrictions = reject_unauth_destination\n"
                         "smtpd_relay_restrictions = reject_unauth_destinaton, permit")
    assert verdict.verdict is Verdict.CLOSED  # ... and answers 451 at run time


def test_warn_if_reject_neutralises_only_the_next_restriction() -> None:
    assert verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = warn_if_reject "
                      "reject_unauth_destination, reject_unauth_destination").verdict is Verdict.CLOSED
    verdict = verdict_of("compatibility_level = 2\nsmtpd_recipient_restrictions = reject_unauth_destination\n"
                         "smtpd_relay_restrictions = warn_if_reject reject_unauth_destination")
    assert verdict.verdict is Verdict.CLOSED  # the recipient list still rejects
    verdict = verdict_of("smtpd_recipient_restrictions = warn_if_reject reject_unauth_destination, defer_if_permit\n"
                         "smtpd_relay_restrictions = ")
    assert verdict.verdict is Verdict.CLOSED  # defer_if_permit turns the accept into 450


def test_warn_if_reject_turns_a_barrier_into_a_warning() -> None:
    main = ("compatibility_level = 2\nsmtpd_relay_restrictions = {warn}check_client_access static:REJECT, "
            "check_client_access static:OK, reject_unauth_destination")
    assert verdict_of(main.format(warn="")).verdict is Verdict.CLOSED
    verdict = verdict_of(main.format(warn="warn_if_reject "))
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None
    assert any(step.startswith("reject_warning") for step in verdict.witness.steps)


def test_warn_if_reject_covers_a_whole_class() -> None:
    verdict = verdict_of("compatibility_level = 2\nsmtpd_restriction_classes = strict\n"
                         "strict = reject_unauth_destination, reject\n"
                         "smtpd_relay_restrictions = warn_if_reject strict, reject_unauth_destination")
    assert verdict.verdict is Verdict.CLOSED
    verdict = verdict_of("smtpd_restriction_classes = strict\nstrict = reject_unauth_destination, reject\n"
                         "smtpd_relay_restrictions =\n"
                         "smtpd_recipient_restrictions = warn_if_reject strict, defer_if_reject")
    assert verdict.verdict is Verdict.REFUSED  # guard: the class is skipped after warn_if_reject


def test_defer_if_permit_defers_the_accept() -> None:
    assert verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = permit_mynetworks, defer_if_permit"
                      ).verdict is Verdict.CLOSED
    # defer_if_permit in the client list carries over to RCPT
    assert verdict_of("smtpd_client_restrictions = defer_if_permit\n"
                      "smtpd_relay_restrictions = check_client_access static:OK, defer"
                      ).verdict is Verdict.CLOSED


def test_delay_reject_decides_whether_client_list_sees_the_recipient() -> None:
    main = ("smtpd_client_restrictions = reject_unauth_destination\n"
            "smtpd_recipient_restrictions = permit_mynetworks, check_client_access static:OK, "
            "reject_unauth_destination\n")
    assert verdict_of(main).verdict is Verdict.CLOSED
    verdict = verdict_of(main + "smtpd_delay_reject = no")
    assert verdict.verdict is Verdict.OPEN


def test_client_list_permit_does_not_grant_relay() -> None:
    assert verdict_of("compatibility_level = 2\nsmtpd_client_restrictions = permit"
                      ).verdict is Verdict.CLOSED


def test_check_relay_domains() -> None:
    main = "compatibility_level = 2\nsmtpd_relay_restrictions = check_relay_domains"
    assert verdict_of(main, version="3.7").verdict is Verdict.CLOSED
    assert verdict_of(main, version="3.9").verdict is Verdict.CLOSED  # removed: 451
    # 3.7: a client whose hostname is in relay_domains may relay (DNS-controlled by the client)
    open_main = "compatibility_level = 2\nrelay_domains = attacker.example\nsmtpd_relay_restrictions = check_relay_domains"
    assert verdict_of(open_main, version="3.7").verdict is Verdict.OPEN
    assert verdict_of(open_main, version="3.9").verdict is Verdict.CLOSED


def test_permit_mx_backup_without_networks_is_open_by_dns() -> None:
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = permit_mx_backup, reject_unauth_destination")
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None and not verdict.witness.replayable
    assert any("backup MX" in text for text in verdict.witness.assumptions)
    verdict = verdict_of("compatibility_level = 2\npermit_mx_backup_networks = 192.0.2.0/24\n"
                         "smtpd_relay_restrictions = permit_mx_backup, reject_unauth_destination")
    assert verdict.verdict is Verdict.CLOSED


def test_dns_restrictions_are_passed_with_replayable_inputs_when_possible() -> None:
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = reject_unknown_client_hostname, "
                         "reject_unknown_helo_hostname, reject_unknown_sender_domain, "
                         "reject_unknown_recipient_domain, reject_rbl_client zen.example, "
                         "check_client_access static:OK, reject_unauth_destination")
    assert verdict.verdict is Verdict.OPEN
    witness = verdict.witness
    assert witness is not None and witness.replayable
    assert witness.client_name == ATTACKER_HOSTNAME  # XCLIENT NAME= replays the verified name
    assert witness.helo is not None and witness.helo.startswith("[")  # a literal needs no DNS
    assert witness.recipient.endswith("[198.51.100.9]")  # neither does a literal recipient


def test_policy_service_and_unreadable_tables_are_unproven() -> None:
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = check_policy_service "
                         "inet:127.0.0.1:10023, reject_unauth_destination")
    assert verdict.verdict is Verdict.UNPROVEN
    assert [unknown.kind for unknown in verdict.unknowns] == ["policy_service"]
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = check_sender_access "
                         "hash:/etc/postfix/senders, reject_unauth_destination")
    assert verdict.verdict is Verdict.UNPROVEN
    assert verdict.unknowns[0].token == "hash:/etc/postfix/senders"
    # an unknown table *after* the relay control does not matter
    assert verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = reject_unauth_destination, "
                      "check_sender_access hash:/etc/postfix/senders").verdict is Verdict.CLOSED


def test_tables_from_the_repository(tmp_path: Path) -> None:
    (tmp_path / "clients.cidr").write_text("192.0.2.0/24 OK\n")
    (tmp_path / "everyone.cidr").write_text("# all of IPv4\n0.0.0.0/0 OK\n")
    (tmp_path / "senders").write_text("postmaster@example.com OK\n")
    resolver = TableResolver(tmp_path, tmp_path)
    base = "compatibility_level = 2\nsmtpd_relay_restrictions = permit_mynetworks, "
    verdict = verdict_of(base + "check_client_access cidr:/etc/postfix/clients.cidr, reject_unauth_destination",
                         resolver=resolver)
    assert verdict.verdict is Verdict.CLOSED  # a partner network is a trust grant, not open relay
    verdict = verdict_of(base + "check_client_access cidr:/etc/postfix/everyone.cidr, reject_unauth_destination",
                         resolver=resolver)
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None
    assert verdict.witness.table_entry == (str((tmp_path / "everyone.cidr").resolve()), 2)
    verdict = verdict_of(base + "check_sender_access hash:/etc/postfix/senders, reject_unauth_destination",
                         resolver=resolver)
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None and verdict.witness.sender == "postmaster@example.com"


def test_attacker_dodges_specific_blocks_but_not_broad_ones(tmp_path: Path) -> None:
    (tmp_path / "dodge.cidr").write_text("203.0.113.0/24 REJECT\n0.0.0.0/0 OK\n")
    (tmp_path / "wall.cidr").write_text("0.0.0.0/0 REJECT\n")
    resolver = TableResolver(tmp_path, tmp_path)
    main = ("compatibility_level = 2\ninet_protocols = ipv4\nsmtpd_relay_restrictions = "
            "check_client_access cidr:/etc/postfix/{}, reject_unauth_destination")
    verdict = verdict_of(main.format("dodge.cidr"), resolver=resolver)
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None and verdict.witness.client == "198.51.100.7"
    assert verdict_of(main.format("wall.cidr"), resolver=resolver).verdict is Verdict.CLOSED
    # 0.0.0.0/0 covers no IPv6 client
    verdict = verdict_of(main.format("wall.cidr").replace("inet_protocols = ipv4", "inet_protocols = all")
                         .replace("reject_unauth_destination", "check_client_access static:OK, reject_unauth_destination"),
                         resolver=resolver)
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None and verdict.witness.client == "2001:db8::7"


def test_regexp_tables_keyed_by_attacker_data(tmp_path: Path) -> None:
    (tmp_path / "senders.regexp").write_text("/^[0-9]+@spam\\.example$/ REJECT\n/@partner\\.example$/ OK\n")
    (tmp_path / "helos.regexp").write_text("/.*\\.trusted\\.example$/ OK\n")
    (tmp_path / "fancy.regexp").write_text("/^[a-z]+[0-9]{2}@partner\\.example$/ OK\n")
    resolver = TableResolver(tmp_path, tmp_path)
    base = "compatibility_level = 2\nsmtpd_relay_restrictions = permit_mynetworks, "
    verdict = verdict_of(base + "check_sender_access regexp:/etc/postfix/senders.regexp, reject_unauth_destination",
                         resolver=resolver)
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None and verdict.witness.sender == "probe@partner.example"
    assert verdict.witness.table_entry == (str((tmp_path / "senders.regexp").resolve()), 2)
    verdict = verdict_of(base + "check_helo_access regexp:/etc/postfix/helos.regexp, reject_unauth_destination",
                         resolver=resolver)
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None and verdict.witness.helo == "probe.trusted.example"
    # a pattern pfcheck cannot write an example for: the attacker may still find one
    verdict = verdict_of(base + "check_sender_access regexp:/etc/postfix/fancy.regexp, reject_unauth_destination",
                         resolver=resolver)
    assert verdict.verdict is Verdict.UNPROVEN
    assert [unknown.kind for unknown in verdict.unknowns] == ["attacker_key"]


def test_client_grants(tmp_path: Path) -> None:
    (tmp_path / "clients.cidr").write_text("192.0.2.0/24 OK\n198.51.100.0/24 REJECT\n127.0.0.0/8 OK\n")
    resolver = TableResolver(tmp_path, tmp_path)
    params = Params("compatibility_level = 2\nsmtpd_relay_restrictions = permit_mynetworks, "
                    "check_client_access cidr:/etc/postfix/clients.cidr, reject_unauth_destination")
    grants = client_grants(params, version="3.7", resolver=resolver, trusted=None)
    assert [(grant.entry, grant.address, grant.relays) for grant in grants] == [("192.0.2.0/24", "192.0.2.1", True)]
    assert grants[0].parameter == "smtpd_relay_restrictions"
    # the same table behind reject_unauth_destination grants nothing
    params = Params("compatibility_level = 2\nsmtpd_relay_restrictions = reject_unauth_destination, "
                    "check_client_access cidr:/etc/postfix/clients.cidr")
    grants = client_grants(params, version="3.7", resolver=resolver, trusted=None)
    assert [grant.relays for grant in grants] == [False]


def test_relay_domains_are_read_by_trivial_rewrite_not_smtpd() -> None:
    # observed: `smtpd -o relay_domains=static:all` still answers "Relay access denied"
    params = Params("compatibility_level = 3.6", {"relay_domains": "static:all"})
    verdict = evaluate_relay(params, version="3.7", resolver=None, trusted=None, rewrite_params=main_scope(params))
    assert verdict.verdict is Verdict.CLOSED
    verdict = verdict_of("compatibility_level = 3.6\nrelay_domains = static:all")
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None and verdict.witness.parameter == "relay_domains"


def test_relay_domains_parent_matching_and_unknown_keyed_tables() -> None:
    # example.com in relay_domains covers sub.example.com, not relay-target.example
    assert verdict_of("compatibility_level = 3.6\nrelay_domains = example.com").verdict is Verdict.CLOSED
    verdict = verdict_of("compatibility_level = 3.6\nrelay_domains = hash:/etc/postfix/relay_domains")
    assert verdict.verdict is Verdict.CLOSED
    assert any("does not list relay-target.example" in note for note in verdict.notes)


def test_everyone_trusted_is_an_open_relay() -> None:
    verdict = verdict_of("compatibility_level = 3.6\nmynetworks = 0.0.0.0/0")
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None
    assert verdict.witness.token == "permit_mynetworks" and verdict.witness.parameter == "mynetworks"
    assert verdict.witness.location == ("main.cf", 2)
    # a wide but partial mynetworks trusts someone, not everyone: that is PF201's business
    assert verdict_of("compatibility_level = 3.6\nmynetworks = 203.0.113.0/24 198.51.100.0/24 192.0.2.0/24"
                      ).verdict is Verdict.CLOSED


def test_ipv6_only_server_uses_an_ipv6_attacker() -> None:
    verdict = verdict_of("compatibility_level = 3.6\ninet_protocols = ipv6\nmynetworks = [::]/0")
    assert verdict.verdict is Verdict.OPEN
    assert verdict.witness is not None and verdict.witness.client == "2001:db8::7"
    assert verdict_of("compatibility_level = 3.6\ninet_protocols = ipv4\nmynetworks = [::]/0"
                      ).verdict is Verdict.CLOSED


def test_error_transport_rejects_remote_recipients() -> None:
    main = ("compatibility_level = 2\nsmtpd_relay_restrictions = check_client_access static:OK, "
            "reject_unauth_destination\ndefault_transport = error:no relaying\n")
    assert verdict_of(main).verdict is Verdict.CLOSED
    # without the check smtpd answers 250, but the mail bounces through the error transport
    assert verdict_of(main + "smtpd_reject_unlisted_recipient = no").verdict is Verdict.CLOSED


_PERMISSIVE = ("compatibility_level = 3.6\nsmtpd_relay_restrictions = check_client_access static:OK, "
               "reject_unauth_destination\n")


def test_wildcard_error_transport_closes_every_foreign_recipient() -> None:
    assert verdict_of(_PERMISSIVE + "transport_maps = inline:{{* = error:only local}}").verdict is Verdict.CLOSED
    # a canonical mapping makes smtpd accept before it looks at the transport
    assert verdict_of(_PERMISSIVE + "transport_maps = inline:{{* = error:only local}}\n"
                      "canonical_maps = static:someone@example.com").verdict is Verdict.OPEN


def test_error_entries_send_the_witness_elsewhere() -> None:
    verdict = verdict_of(_PERMISSIVE + "transport_maps = inline:{{* = error:only local}, partner.example=smtp:}")
    assert verdict.verdict is Verdict.OPEN and verdict.witness is not None
    assert verdict.witness.smtp_recipient == "relaytest@partner.example"
    verdict = verdict_of(_PERMISSIVE + "transport_maps = inline:{.example=error:no, [198.51.100.9]=error:no}")
    assert verdict.verdict is Verdict.OPEN and verdict.witness is not None
    assert verdict.witness.smtp_recipient == "relaytest@relay-target.net"


def test_unreadable_transport_table_is_unproven_and_named() -> None:
    verdict = verdict_of(_PERMISSIVE + "transport_maps = hash:/etc/postfix/transport")
    assert verdict.verdict is Verdict.UNPROVEN
    assert any(unknown.token == "hash:/etc/postfix/transport" and unknown.parameter == "transport_maps"
               for unknown in verdict.unknowns), verdict.unknowns
    # a sender-dependent default transport is not modelled: never a false "closed"
    verdict = verdict_of(_PERMISSIVE + "default_transport = error:no\n"
                         "sender_dependent_default_transport_maps = inline:{probe@attacker.example=smtp}")
    assert verdict.verdict is Verdict.UNPROVEN


def test_discard_is_not_a_relay() -> None:
    assert verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = check_sender_access static:DISCARD, "
                      "check_client_access static:OK, reject_unauth_destination").verdict is Verdict.CLOSED


def test_helo_required_excludes_the_no_helo_witness() -> None:
    main = ("compatibility_level = 2\nsmtpd_relay_restrictions = check_helo_access static:REJECT, "
            "check_client_access static:OK, reject\n")
    verdict = verdict_of(main)
    assert verdict.verdict is Verdict.OPEN and verdict.witness is not None and verdict.witness.helo is None
    assert verdict_of(main + "smtpd_helo_required = yes").verdict is Verdict.CLOSED


def test_version_order_of_relay_and_recipient_lists() -> None:
    main = ("compatibility_level = 2\nsmtpd_relay_restrictions = permit\n"
            "smtpd_recipient_restrictions = reject_unauth_destination")
    for version, first in (("3.2", "smtpd_relay_restrictions"), ("3.4", "smtpd_recipient_restrictions"),
                           ("3.7", "smtpd_relay_restrictions")):
        verdict = verdict_of(main if version != "3.7" else main.replace("= 2", "= 3.6"), version=version)
        assert verdict.verdict is Verdict.CLOSED
    params = Params(main)  # level 2 on 3.7: smtpd_relay_before_recipient_restrictions = no
    verdict = evaluate_relay(params, version="3.7", resolver=None, trusted=None)
    assert verdict.verdict is Verdict.CLOSED


def test_order_shows_in_witness_steps() -> None:
    main = ("smtpd_relay_restrictions = permit\n"
            "smtpd_recipient_restrictions = check_client_access static:OK, reject_unauth_destination\n")
    early = verdict_of("compatibility_level = 3.6\n" + main).witness
    late = verdict_of("compatibility_level = 2\n" + main).witness
    assert early is not None and late is not None
    assert early.steps[0].startswith("smtpd_relay_restrictions")
    assert late.steps[0].startswith("smtpd_recipient_restrictions")


def test_nmap_address_forms_resolve_to_the_remote_target() -> None:
    # With the default resolver settings every nmap form lands on the remote domain, so a
    # plain reject_unauth_destination rejects them; open lists accept them.
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = check_recipient_access "
                         "inline:{someone@partner.example=OK}, reject_unauth_destination")
    assert verdict.verdict is Verdict.CLOSED  # a grant for one address is a destination grant
    verdict = verdict_of("compatibility_level = 2\nsmtpd_relay_restrictions = reject_non_fqdn_recipient, "
                         "check_client_access static:OK, reject_unauth_destination\nmyhostname = mx")
    assert verdict.verdict is Verdict.OPEN


def test_sender_login_mismatch_blocks_owned_senders_only() -> None:
    main = ("compatibility_level = 2\nsmtpd_sasl_auth_enable = yes\n"
            "smtpd_sender_login_maps = static:someone\n"
            "smtpd_relay_restrictions = reject_sender_login_mismatch, check_sender_access static:OK, "
            "reject_unauth_destination\n")
    verdict = verdict_of(main)
    # every non-null sender is owned (static): only the null sender gets through
    assert verdict.verdict is Verdict.OPEN and verdict.witness is not None and verdict.witness.sender == ""


# ------------------------------------------------------------------------------------------
# Property tests: a generated restriction-list world and an independent small simulator

ATOMS = [
    "permit", "permit", "reject", "defer", "defer_if_permit", "defer_if_reject", "warn_if_reject",
    "permit_mynetworks", "permit_sasl_authenticated", "permit_auth_destination",
    "reject_unauth_destination", "defer_unauth_destination", "reject_unknown_client_hostname",
    "reject_non_fqdn_sender", "reject_non_fqdn_helo_hostname",
    "check_client_access static:OK", "check_client_access static:REJECT",
    "check_client_access inline:{unknown=OK}", "check_sender_access inline:{<>=OK}",
    "check_sender_access inline:{<>=REJECT}", "check_helo_access static:OK",
    "check_helo_access static:REJECT", "check_recipient_access static:OK", "static:DUNNO",
    "static:OK", "cls", "cls",
]

# A small model of the attacker: the features the atoms above can see.
SMALL_MODEL = [
    {"name": name, "helo": helo, "null_sender": null}
    for name in (False, True) for helo in (False, True) for null in (False, True)
]


def simulate(lists: Mapping[str, List[str]], cls: List[str], scenario: Mapping[str, bool],
             delay_reject: bool, relay_first: bool) -> bool:
    """An independent, direct reading of generic_checks()/smtpd_check_rcpt() for the atoms
    above: does RCPT TO a remote domain get 250 for this concrete client?"""

    def run(tokens: List[str], context: Mapping[str, bool], flags: Dict[str, bool], depth: int,
            inherited_warn: bool = False) -> int:
        warn = inherited_warn
        index = 0
        while index < len(tokens):
            word = tokens[index]
            arg = tokens[index + 1] if index + 1 < len(tokens) else ""
            index += 1
            if word == "warn_if_reject":
                warn = True
                continue
            status = 0
            table = None
            if word.startswith("check_"):
                table = arg
                index += 1
            elif ":" in word:
                word, table = "bare", word
            if word == "permit":
                status = 1
            elif word in ("reject", "defer"):
                status = -1
            elif word == "defer_if_permit":
                if not warn:
                    flags["defer"] = True
            elif word in ("reject_unauth_destination", "defer_unauth_destination"):
                status = -1 if context["recipient"] else 0
            elif word == "reject_unknown_client_hostname":
                status = 0 if scenario["name"] else -1
            elif word == "reject_non_fqdn_sender":
                status = 0  # the attacker's senders are fully qualified (or null)
            elif word == "reject_non_fqdn_helo_hostname":
                status = 0
            elif word == "cls":
                status = run(cls, context, flags, depth + 1, warn) if depth < 3 else -1
            elif table is not None:
                kind = {"check_client_access": "client", "check_sender_access": "sender",
                        "check_helo_access": "helo", "check_recipient_access": "recipient",
                        "bare": context["bare"]}[word]
                value = None
                if kind == "helo" and not (scenario["helo"] and context["helo"]):
                    value = None
                elif kind == "sender" and not context["sender"]:
                    value = None
                elif kind == "recipient" and not context["recipient"]:
                    value = None
                elif table.startswith("static:"):
                    value = table[len("static:"):]
                elif table == "inline:{unknown=OK}":
                    value = "OK" if (kind == "client" and not scenario["name"]) else None
                elif table.startswith("inline:{<>="):
                    value = table[len("inline:{<>="):-1] if (kind == "sender" and scenario["null_sender"]) else None
                if value == "OK":
                    status = 1
                elif value == "REJECT":
                    status = -1
            if warn and status == -1 and word != "cls":
                status = 0
            warn = inherited_warn
            if status != 0:
                return status
        return 0

    flags = {"defer": False}
    context_all = {"helo": True, "sender": True, "recipient": True}
    stages = [("smtpd_client_restrictions", "client", {"helo": delay_reject, "sender": delay_reject, "recipient": delay_reject}),
              ("smtpd_helo_restrictions", "helo", {"helo": True, "sender": delay_reject, "recipient": delay_reject}),
              ("smtpd_sender_restrictions", "sender", {"helo": True, "sender": True, "recipient": delay_reject})]
    for name, bare, context in stages:
        if name == "smtpd_helo_restrictions" and not scenario["helo"]:
            continue
        if run(lists[name], dict(context, bare=bare), flags, 0) == -1:
            return False
    order = ["smtpd_relay_restrictions", "smtpd_recipient_restrictions"]
    if not relay_first:
        order.reverse()
    for name in order:
        if run(lists[name], dict(context_all, bare="recipient"), flags, 0) == -1:
            return False
    return not flags["defer"]


restriction_lists = st.lists(st.sampled_from(ATOMS), min_size=0, max_size=5)
# client/helo/sender lists: short, so that more generated worlds get as far as RCPT TO
early_lists = st.lists(st.sampled_from(ATOMS), min_size=0, max_size=2)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    client=early_lists, helo=early_lists, sender=early_lists,
    relay=restriction_lists, recipient=restriction_lists, cls=restriction_lists.filter(lambda l: "cls" not in l),
    compat=st.sampled_from(["0", "0", "2", "3.6"]), relay_set=st.sampled_from([True, True, False]),
    delay_reject=st.booleans(), tail=st.sampled_from(["", "reject_unauth_destination", "defer_if_permit"]),
)
def test_generated_lists_agree_with_a_small_simulator(
    client: List[str], helo: List[str], sender: List[str], relay: List[str], recipient: List[str],
    cls: List[str], compat: str, relay_set: bool, delay_reject: bool, tail: str,
) -> None:
    # A required restriction at the end of the recipient list lets most worlds pass the guard.
    recipient = recipient + ([tail] if tail else [])
    lines = [f"compatibility_level = {compat}",
             f"smtpd_client_restrictions = {', '.join(client)}",
             f"smtpd_helo_restrictions = {', '.join(helo)}",
             f"smtpd_sender_restrictions = {', '.join(sender)}",
             f"smtpd_recipient_restrictions = {', '.join(recipient)}",
             "smtpd_restriction_classes = cls",
             f"cls = {', '.join(cls) or 'permit_auth_destination'}",
             f"smtpd_delay_reject = {'yes' if delay_reject else 'no'}",
             # an attacker-chosen client with PTR is not in mynetworks either way
             "mynetworks = 127.0.0.0/8"]
    if relay_set:
        lines.append(f"smtpd_relay_restrictions = {', '.join(relay)}")
    params = Params("\n".join(lines))
    verdict = evaluate_relay(params, version="3.7", resolver=None, trusted=None)
    guard = startup_guard(params)

    # Invariant 1: a listener Postfix refuses to run is never reported open (nor anything else).
    if not guard.passes:
        assert verdict.verdict is Verdict.REFUSED
        return
    assert verdict.verdict in (Verdict.OPEN, Verdict.CLOSED)  # every atom is decidable

    effective_relay = params.value("smtpd_relay_restrictions")
    lists = {name: split_restrictions(params.value(name)) for name in (
        "smtpd_client_restrictions", "smtpd_helo_restrictions", "smtpd_sender_restrictions",
        "smtpd_relay_restrictions", "smtpd_recipient_restrictions")}
    class_tokens = split_restrictions(params.value("cls"))
    relay_first = compat == "3.6" and (relay_set or compat != "0")

    # Invariant 2: a relay or recipient list that starts with `reject` closes everything.
    if (split_restrictions(effective_relay)[:1] == ["reject"] or lists["smtpd_recipient_restrictions"][:1] == ["reject"]):
        assert verdict.verdict is Verdict.CLOSED

    # Invariant 3: OPEN <=> some client of the small model gets through in the simulator,
    # and the witness is such a client.
    accepted = [scenario for scenario in SMALL_MODEL
                if simulate(lists, class_tokens, scenario, delay_reject, relay_first)]
    if verdict.verdict is Verdict.OPEN:
        witness = verdict.witness
        assert witness is not None
        scenario = {"name": witness.client_name is not None, "helo": witness.helo is not None,
                    "null_sender": witness.sender == ""}
        assert simulate(lists, class_tokens, scenario, delay_reject, relay_first), (witness, lists)
    else:
        assert not accepted, (accepted, lists)


# ------------------------------------------------------------------------------------------
# Values Postfix refuses (smtpd exits at start-up): never CLOSED


@pytest.mark.parametrize("line", [
    "smtpd_sasl_auth_enable = true",  # Postfix: yes/no in any case, nothing else
    "smtpd_delay_reject = 1",
    "allow_untrusted_routing = maybe",
    "smtpd_relay_before_recipient_restrictions = true",
    "inet_protocols = ipv4x",
    "inet_protocols = IPV4",  # inet_proto_init() compares words case-sensitively
])
def test_a_value_postfix_refuses_never_reads_as_closed(line: str) -> None:
    main = ("smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"
            "smtpd_recipient_restrictions = permit_mynetworks\n" + line + "\n")
    verdict = verdict_of(main)
    assert verdict.verdict is Verdict.UNPROVEN
    name = line.split(" =")[0]
    assert [(item.kind, item.parameter) for item in verdict.unknowns if item.kind == "refused"] == [("refused", name)]
    valid = main.replace(line, "")
    assert verdict_of(valid).verdict is Verdict.CLOSED


def test_a_malformed_compatibility_level_never_reads_as_closed(tmp_path: Path) -> None:
    """Through the config model (the test Params cannot expand a default at level `3x`)."""
    from pfcheck.postfix.config import load_config_dir

    (tmp_path / "main.cf").write_text(
        "compatibility_level = 3x\n"
        "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n")
    scope = next(listener.scope for listener in load_config_dir(tmp_path).listeners()
                 if listener.key == "smtp/inet")
    verdict = evaluate_relay(scope, version="3.7", resolver=None, trusted=None)
    assert verdict.verdict is Verdict.UNPROVEN
    assert [item.parameter for item in verdict.unknowns if item.kind == "refused"] == ["compatibility_level"]


def test_a_refused_value_is_read_both_ways() -> None:
    """evaluate_relay() judges a refused value with each reading (an OPEN in either stands)."""
    from pfcheck.postfix.relay.evaluator import Evaluator

    main = ("compatibility_level = 3.6\nsmtpd_relay_before_recipient_restrictions = true\n"
            "smtpd_sasl_auth_enable = 1\nallow_percent_hack = on\n")
    params = Params(main)
    for reading in (False, True):
        evaluator = Evaluator(params, version="3.7", resolver=None, trusted=None,
                              rewrite_params=main_scope(params), refused_reads=reading)
        assert evaluator.relay_first is reading and evaluator.sasl_enabled is reading
        assert evaluator.address_model.percent_hack is reading
        assert sorted(evaluator.refused) == ["allow_percent_hack", "smtpd_relay_before_recipient_restrictions",
                                             "smtpd_sasl_auth_enable"]
    valid = Evaluator(Params(main.replace("= true", "= yes").replace("= 1", "= YES").replace("= on", "= No")),
                      version="3.7", resolver=None, trusted=None, rewrite_params=None)
    assert (valid.relay_first, valid.sasl_enabled, valid.address_model.percent_hack, valid.refused) == \
        (True, True, False, {})
