"""The relay evaluator against a real Postfix 3.7.11, case by case (tests/relay_cases/*.yaml).

Each case is a config (main.cf, optional master.cf or lines appended to the package's default
master.cf, optional table files) and the expected verdict per listener; the cases, their
loader and the SMTP probes live in tests/support/relay_cases.py. Two tests per case:

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
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

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
from tests.support.live_postfix import live_postfix_factory  # noqa: F401  (pytest fixture)
from tests.support.relay_cases import (
    CASES,
    DEFAULT_MASTER_CF,
    VERSION,
    CaseConfig,
    Probe,
    RelayCase,
    build_config,
    closed_probe_plan,
    needs_more_than_xclient,
    smtp_session,
)


def test_case_files_cover_the_matrix() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CASES) >= 40
    verdicts = {verdict for case in CASES for verdict in case.expect.values()}
    assert verdicts == set(Verdict)


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


def replay_grants(pf: object, service: str, config: CaseConfig, described: str) -> Tuple[int, List[str]]:
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
    master_cf = case.master_cf if case.master_cf is not None else DEFAULT_MASTER_CF
    with live_postfix_factory(case.full_main_cf(), master_cf, case.files) as pf:
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
        with live_postfix_factory(case.full_main_cf(), DEFAULT_MASTER_CF, {}) as pf:
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
