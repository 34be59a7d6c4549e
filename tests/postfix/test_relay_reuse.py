"""Reuse inside the relay evaluator changes no verdict (docs/performance.md, issue 12).

Two kinds of reuse, both disabled by PFCHECK_NO_REUSE=1:

* attempts that agree on every attempt field an earlier evaluation read (client, HELO, sender,
  recipient; session.TracedAttempt) get that evaluation's outcomes (verdict._Outcomes);
* within one attempt, branches that reach the same point of smtpd_check_rcpt() in the same state
  share what follows, joined to their own paths (Evaluator._continued, Path.then).

Each test compares the whole RelayVerdict (witness with its trace, unknowns, notes, counts,
assumptions consulted) with reuse on and off: generated restriction lists over every stage,
with unknown tables and policy services (which branch), HELO- and sender-keyed restrictions,
and small step budgets (so that "too complex" cuts in at the same attempt both ways).
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Any, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pfcheck.postfix.relay.verdict as verdict_module
from pfcheck.postfix.relay import evaluate_relay
from pfcheck.postfix.relay.session import NO_REUSE_ENV, Attempt, Client, Path, traced
from tests.conftest import CORPUS, ROOT
from tests.postfix.test_relay import Params, main_scope

ATOMS = [
    "permit", "reject", "defer_if_permit", "defer_if_reject", "warn_if_reject",
    "permit_mynetworks", "permit_sasl_authenticated", "permit_auth_destination",
    "reject_unauth_destination", "reject_unknown_client_hostname", "reject_unknown_helo_hostname",
    "reject_non_fqdn_sender", "reject_non_fqdn_helo_hostname", "reject_invalid_helo_hostname",
    "reject_non_fqdn_recipient", "reject_unlisted_sender", "reject_unlisted_recipient",
    "reject_unknown_sender_domain", "reject_unknown_recipient_domain",
    "check_client_access static:OK", "check_client_access inline:{unknown=OK}",
    "check_sender_access inline:{<>=OK}", "check_sender_access inline:{<>=REJECT}",
    "check_sender_access inline:{attacker.example=OK}",
    "check_helo_access inline:{probe.attacker.example=OK}", "check_helo_access static:REJECT",
    "check_recipient_access inline:{relay-target.example=OK}",
    # tables pfcheck cannot read and policy services: each branches three ways
    "check_sender_access hash:/etc/postfix/unseen_senders",
    "check_helo_access pcre:/etc/postfix/unseen_helo.pcre",
    "check_client_access hash:/etc/postfix/unseen_clients",
    "check_policy_service inet:127.0.0.1:10023",
    "check_policy_service unix:private/policy",
    "static:DUNNO", "cls",
]

lists = st.lists(st.sampled_from(ATOMS), min_size=0, max_size=4)


def _verdicts(params: Params, monkeypatch: pytest.MonkeyPatch, **limits: int) -> tuple[str, str]:
    for name, value in limits.items():
        monkeypatch.setattr(verdict_module, name, value)

    def judged() -> str:
        return repr(evaluate_relay(params, version="3.7", resolver=None, trusted=None,
                                   rewrite_params=main_scope(params)))

    monkeypatch.delenv(NO_REUSE_ENV, raising=False)
    reused = judged()
    monkeypatch.setenv(NO_REUSE_ENV, "1")
    fresh = judged()
    monkeypatch.delenv(NO_REUSE_ENV)
    return reused, fresh


def _params(client: List[str], helo: List[str], sender: List[str], relay: List[str],
            recipient: List[str], cls: List[str], delay_reject: bool, helo_required: bool,
            unlisted: bool) -> Params:
    lines = [
        f"smtpd_client_restrictions = {', '.join(client)}",
        f"smtpd_helo_restrictions = {', '.join(helo)}",
        f"smtpd_sender_restrictions = {', '.join(sender)}",
        f"smtpd_relay_restrictions = {', '.join(relay)}",
        f"smtpd_recipient_restrictions = {', '.join(recipient + ['reject_unauth_destination'])}",
        "smtpd_restriction_classes = cls",
        f"cls = {', '.join(cls) or 'permit_auth_destination'}",
        f"smtpd_delay_reject = {'yes' if delay_reject else 'no'}",
        f"smtpd_helo_required = {'yes' if helo_required else 'no'}",
        f"smtpd_reject_unlisted_sender = {'yes' if unlisted else 'no'}",
        "mynetworks = 127.0.0.0/8",
        "myhostname = mx.example.com",
    ]
    return Params("\n".join(lines))


worlds = dict(
    client=lists, helo=lists, sender=lists, relay=lists, recipient=lists,
    cls=lists.filter(lambda chosen: "cls" not in chosen),
    delay_reject=st.booleans(), helo_required=st.booleans(), unlisted=st.booleans(),
)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(**worlds)
def test_reuse_gives_the_verdict_a_fresh_evaluation_gives(monkeypatch: pytest.MonkeyPatch, **world: Any) -> None:
    reused, fresh = _verdicts(_params(**world), monkeypatch)
    assert reused == fresh


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(budget=st.sampled_from([3, 8, 20, 60]), total=st.sampled_from([10, 50, 200, 1000]), **worlds)
def test_reuse_runs_out_of_budget_where_a_fresh_evaluation_does(
        monkeypatch: pytest.MonkeyPatch, budget: int, total: int, **world: Any) -> None:
    reused, fresh = _verdicts(_params(**world), monkeypatch, MAX_BRANCHES=budget, MAX_TOTAL_STEPS=total)
    assert reused == fresh


def test_a_list_that_never_looks_at_helo_or_sender_is_evaluated_once_per_client_and_recipient(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The pruning is real: with lists that read neither HELO nor sender, one evaluation per
    (client, recipient), the HELO and sender candidates answered from it."""
    params = Params("smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"
                    "smtpd_recipient_restrictions =\nmynetworks = 127.0.0.0/8\n")
    evaluated: list[Attempt] = []
    original = verdict_module.Evaluator.rcpt

    def counting(self: Any, attempt: Attempt) -> Any:
        evaluated.append(attempt)
        return original(self, attempt)

    monkeypatch.setattr(verdict_module.Evaluator, "rcpt", counting)
    monkeypatch.delenv(NO_REUSE_ENV, raising=False)
    verdict = evaluate_relay(params, version="3.7", resolver=None, trusted=None)
    reused = len(evaluated)
    monkeypatch.setenv(NO_REUSE_ENV, "1")
    assert repr(evaluate_relay(params, version="3.7", resolver=None, trusted=None)) == repr(verdict)
    assert len(evaluated) - reused == verdict.scenarios  # without reuse: every attempt
    assert verdict.scenarios >= 4 * 4 * 4 and reused <= verdict.scenarios / 8


def test_traced_attempts_note_what_is_read_and_only_that() -> None:
    reads: set[str] = set()
    client = Client("203.0.113.7", "unknown", False, "unknown", False, None)
    attempt = traced(Attempt(client, "probe.attacker.example", "", "x@relay-target.example"), reads)
    assert attempt.helo == "probe.attacker.example" and reads == {"helo"}
    assert attempt.recipient.endswith("relay-target.example") and reads == {"helo", "recipient"}
    assert isinstance(attempt, Attempt) and attempt.__dict__["sender"] == "" and "sender" not in reads


def test_path_then_is_the_path_an_evaluation_from_there_builds() -> None:
    from pfcheck.postfix.relay.model import Unknown

    first = Unknown("table", "hash:/a", "p", None, "a")
    second = Unknown("table", "hash:/b", "p", None, "b")
    start = Path().unknown(first).assume("dns", replayable=False).step("one")

    def later(base: Path) -> Path:
        return base.unknown(second).unknown(first).assume("dns").assume("other").step("two")

    joined, direct = start.then(later(Path())), later(start)
    # unknowns: the same ordered set (then() keeps repeats); everything else equal
    assert tuple(dict.fromkeys(joined.unknowns)) == direct.unknowns
    assert dataclasses.replace(joined, unknowns=direct.unknowns) == direct
    assert start.then(Path()) is start


def _json_report(directories: List[str], no_reuse: bool) -> "subprocess.CompletedProcess[bytes]":
    env = {key: value for key, value in os.environ.items() if key != NO_REUSE_ENV}
    if no_reuse:
        env[NO_REUSE_ENV] = "1"
    return subprocess.run([sys.executable, "-m", "pfcheck", "--format", "json", *directories],
                          cwd=ROOT, env=env, capture_output=True, timeout=600)


def test_corpus_and_examples_report_byte_for_byte_the_same_without_reuse() -> None:
    """The whole JSON report of the corpus (every real config, ../shared/corpus/real) and the
    examples, with reuse and with PFCHECK_NO_REUSE=1: stdout, stderr and exit status equal."""
    real = CORPUS / "real"
    directories = sorted(str(path) for path in real.iterdir() if path.is_dir()) if real.is_dir() else []
    directories += sorted({str(path.parent.relative_to(ROOT)) for path in (ROOT / "examples").rglob("main.cf")})
    reused, fresh = _json_report(directories, False), _json_report(directories, True)
    assert (reused.returncode, reused.stderr) == (fresh.returncode, fresh.stderr)
    assert reused.stdout == fresh.stdout
    findings = json.loads(reused.stdout)
    assert any(item["code"] in ("PF301", "PF302") for item in findings["findings"])
