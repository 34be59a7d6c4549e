"""Fail closed, with reviewable assumptions (issue #8).

Unverifiable input fails the run (PF900, PF302 are errors by default); an `assume:` entry in
the policy states what an unseen table or policy service can answer, the relay evaluator
branches over exactly those answers, and every verdict that rests on one says so (PF301,
PF305); an assumption nothing uses is PF905.
"""
from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import SAFE_MASTER, run, write

MYSQL_MAIN = (
    "compatibility_level = 3.6\n"
    "disable_vrfy_command = yes\n"
    "mynetworks = 127.0.0.0/8\n"
    "smtpd_relay_restrictions = permit_mynetworks,\n"
    "    check_client_access mysql:/etc/postfix/sql/clients.cf, reject_unauth_destination\n"
    # the SMTP smuggling defences and a quiet "User unknown" (PF702, PF704)
    "smtpd_forbid_bare_newline = normalize\nsmtpd_forbid_unauth_pipelining = yes\n"
    "show_user_unknown_table_name = no\n"
)


def codes(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [finding["code"] for finding in json.loads(result.stdout)["findings"]]


def test_relay_unproven_fails_the_run_by_default(tmp_path: Path) -> None:
    write(tmp_path / "mx", main=MYSQL_MAIN)
    result = run(["--policy", "builtin", "--format", "json", "mx"], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert [(f["code"], f["severity"]) for f in findings] == [("PF302", "error")]


def test_template_fails_the_run_by_default(tmp_path: Path) -> None:
    write(tmp_path / "mx", main="{% if nets %}\nmynetworks = {{ nets }}\n{% endif %}\n", master=SAFE_MASTER)
    result = run(["--policy", "builtin", "--format", "json", "mx"], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert {(f["code"], f["severity"]) for f in findings} == {("PF900", "error")}


def test_fail_closed_can_be_relaxed_in_the_policy(tmp_path: Path) -> None:
    write(tmp_path / "mx", main=MYSQL_MAIN)
    (tmp_path / "p.yaml").write_text("version: 1\nrules:\n  relay-unproven: {severity: warning}\n")
    assert run(["--policy", "p.yaml", "mx"], tmp_path).returncode == 0


# ------------------------------------------------------------------------------------------
# The policy: `assume:` validated like every other key

import pytest  # noqa: E402

from pfcheck.policy import PolicyError, default_policy, parse_policy  # noqa: E402
from pfcheck.policy.assume import Assumptions, result_problem  # noqa: E402
from pfcheck.rules import RULES  # noqa: E402

ASSUME = """\
version: 1
assume:
  tables:
    "mysql:/etc/postfix/sql/recipient_access.cf": {results: [REJECT, DUNNO]}   # never OK
    "proxy:ldap:$config_directory/ldap/senders.cf":
      results: ["554 5.7.1 Go away", "reject_unauth_destination", "1700000000"]
  policy_services:
    "inet:127.0.0.1:10023": {results: [DUNNO, DEFER_IF_PERMIT]}               # postgrey
"""


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_policy(text, RULES, path=Path("p.yaml"), base=default_policy(RULES))


def error_of(text: str) -> str:
    with pytest.raises(PolicyError) as caught:
        parse(text)
    return str(caught.value)


def test_assume_parses_with_positions() -> None:
    policy = parse(ASSUME)
    tables = [entry for entry in policy.assumptions.entries if entry.kind == "table"]
    services = [entry for entry in policy.assumptions.entries if entry.kind == "policy_service"]
    assert [(e.key, e.results, e.line, e.column) for e in tables] == [
        ("mysql:/etc/postfix/sql/recipient_access.cf", ("REJECT", "DUNNO"), 4, 5),
        ("proxy:ldap:$config_directory/ldap/senders.cf",
         ("554 5.7.1 Go away", "reject_unauth_destination", "1700000000"), 5, 5),
    ]
    assert [(e.key, e.results, e.line) for e in services] == [("inet:127.0.0.1:10023", ("DUNNO", "DEFER_IF_PERMIT"), 8)]
    assert policy.as_data()["assume"]["policy_services"] == {"inet:127.0.0.1:10023": {"results": ["DUNNO", "DEFER_IF_PERMIT"]}}
    assert tables[0].describe() == ("table mysql:/etc/postfix/sql/recipient_access.cf answers only REJECT, DUNNO "
                                    "(assumed in p.yaml:4)")


def test_builtin_policy_assumes_nothing() -> None:
    assert not default_policy(RULES).assumptions
    assert not parse("version: 1\n").assumptions
    assert not parse("version: 1\nassume:\n").assumptions


def test_assumptions_match_as_the_config_writes_the_reference() -> None:
    assumptions = parse(ASSUME).assumptions
    key = "mysql:/etc/postfix/sql/recipient_access.cf"
    assert assumptions.table(key) is not None
    assert assumptions.table("proxy:" + key) is not None  # proxy: is a transport, not another table
    assert assumptions.table("mysql:/etc/postfix//sql/./recipient_access.cf") is not None
    assert assumptions.table("mysql:/etc/postfix/sql/other.cf") is None
    assert assumptions.table("pgsql:/etc/postfix/sql/recipient_access.cf") is None
    # $config_directory in a key is the listener's config_directory.
    assert assumptions.table("ldap:/etc/postfix/ldap/senders.cf") is not None
    assert assumptions.table("ldap:/etc/postfix/ldap/senders.cf", "/srv/postfix") is None
    assert assumptions.table("proxy:ldap:/srv/postfix/ldap/senders.cf", "/srv/postfix") is not None
    assert assumptions.policy_service("inet:127.0.0.1:10023") is not None
    assert assumptions.policy_service("{ inet:127.0.0.1:10023, timeout=10s, default_action=DUNNO }") is not None
    assert assumptions.policy_service("inet:127.0.0.1:10024") is None
    assert assumptions.table("inet:127.0.0.1:10023") is None


def test_a_policy_file_lays_its_assumptions_over_the_base() -> None:
    base = parse(ASSUME)
    over = parse_policy("version: 1\nassume:\n  tables:\n    \"mysql:/etc/postfix/sql/recipient_access.cf\": {results: [OK]}\n",
                        RULES, path=Path("q.yaml"), base=base)
    table = over.assumptions.table("mysql:/etc/postfix/sql/recipient_access.cf")
    assert table is not None and table.results == ("OK",) and table.policy_path == Path("q.yaml")
    assert over.assumptions.policy_service("inet:127.0.0.1:10023") is not None  # inherited
    assert isinstance(Assumptions().layered_on(base.assumptions), Assumptions)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nasume: {}\n", 'p.yaml:2:1: unknown key "asume" (did you mean "assume"?)'),
        ("version: 1\nassume: [x]\n", "p.yaml:2:9: assume must be a mapping (key: value), found a list"),
        ("version: 1\nassume:\n  table: {}\n", 'p.yaml:3:3: unknown key "table" in assume (did you mean "tables"?)'),
        ("version: 1\nassume:\n  policy_service: {}\n",
         'p.yaml:3:3: unknown key "policy_service" in assume (did you mean "policy_services"?)'),
        ("version: 1\nassume:\n  tables:\n    \"mysql:/x.cf\": {result: [OK]}\n",
         'p.yaml:4:21: unknown key "result" in assume.tables."mysql:/x.cf" (did you mean "results"?)'),
        ("version: 1\nassume:\n  tables:\n    \"mysql:/x.cf\": {}\n",
         'p.yaml:4:20: assume.tables."mysql:/x.cf" is missing "results" (the list of answers it can give)'),
        ("version: 1\nassume:\n  tables:\n    \"mysql:/x.cf\": {results: []}\n",
         'p.yaml:4:30: assume.tables."mysql:/x.cf".results must list at least one result'),
        ("version: 1\nassume:\n  tables:\n    \"mysql:/x.cf\": {results: OK}\n",
         'p.yaml:4:30: assume.tables."mysql:/x.cf".results must be a list, found a string'),
        ("version: 1\nassume:\n  tables:\n    \"mysql:/x.cf\": {results: [REJCT]}\n",
         'p.yaml:4:31: assume.tables."mysql:/x.cf": result "REJCT": "REJCT" is not an access(5) action or an '
         'smtpd restriction (did you mean "REJECT"?); restriction class names are not accepted here: list the '
         'results the class can lead to'),
        ("version: 1\nassume:\n  tables:\n    \"mysql:/x.cf\": {results: [\"554\"]}\n",
         'p.yaml:4:31: assume.tables."mysql:/x.cf": result "554": "554" without text is all-numeric, '
         'which Postfix treats as OK; write "554 5.7.1 Access denied" for a rejection, or OK'),
        ("version: 1\nassume:\n  tables:\n    \"mysql:/x.cf\": {results: [554 no]}\n", None),
        ("version: 1\nassume:\n  tables:\n    \"mysql:/x.cf\": {results: [\"check_client_access hash:/y\"]}\n",
         'p.yaml:4:31: assume.tables."mysql:/x.cf": result "check_client_access hash:/y": a lookup table in an '
         'access result is refused by Postfix (451 Server configuration error)'),
        ("version: 1\nassume:\n  tables:\n    \"mysql:/x.cf\": {results: [FILTER]}\n",
         'p.yaml:4:31: assume.tables."mysql:/x.cf": result "FILTER": FILTER needs "transport:destination" after '
         'it (without it Postfix ignores the entry)'),
        ("version: 1\nassume:\n  tables:\n    \"mysql:/x.cf\": {results: [200]}\n",
         "p.yaml:4:31: assume.tables.\"mysql:/x.cf\".results: quote Postfix values: write '200' not 200 "
         "(unquoted, YAML reads it as a number or date)"),
        ("version: 1\nassume:\n  tables:\n    \"mysq:/x.cf\": {results: [OK]}\n",
         'p.yaml:4:5: assume.tables: "mysq:/x.cf": unknown table type "mysq" (did you mean "mysql"?)'),
        ("version: 1\nassume:\n  tables:\n    \"/etc/postfix/access\": {results: [OK]}\n",
         'p.yaml:4:5: assume.tables: "/etc/postfix/access": a table is written as in the config: "type:name" '
         '(e.g. "mysql:/etc/postfix/sql/access.cf")'),
        ("version: 1\nassume:\n  tables:\n    \"mysql:/x.cf\": {results: [OK]}\n    \"proxy:mysql:/x.cf\": {results: [DUNNO]}\n",
         'p.yaml:5:5: assume.tables: "proxy:mysql:/x.cf" names the same table as "mysql:/x.cf" (line 4)'),
        ("version: 1\nassume:\n  tables:\n    \"mysql:/x.cf\": {results: [OK]}\n    \"mysql:/x.cf\": {results: [OK]}\n",
         'p.yaml:5:5: duplicate key "mysql:/x.cf" (first at line 4)'),
        ("version: 1\nassume:\n  policy_services:\n    \"inte:127.0.0.1:10023\": {results: [DUNNO]}\n",
         'p.yaml:4:5: assume.policy_services: "inte:127.0.0.1:10023": unknown endpoint type "inte" '
         '(one of inet, unix, local) (did you mean "inet"?)'),
        ("version: 1\nassume:\n  policy_services:\n    \"127.0.0.1:10023\": {results: [DUNNO]}\n",
         'p.yaml:4:5: assume.policy_services: "127.0.0.1:10023": unknown endpoint type "127.0.0.1" '
         '(one of inet, unix, local)'),
        ("version: 1\nassume:\n  policy_services:\n    \"inet:127.0.0.1:10023\": {results: [dunno, 'PREPEND X-Greylist: yes']}\n", None),
    ],
)
def test_assume_errors_and_positions(text: str, expected: str | None) -> None:
    if expected is None:
        parse(text)
    else:
        assert error_of(text) == expected


@pytest.mark.parametrize("value", [
    "OK", "ok", "RELAY", "DUNNO", "REJECT", "REJECT no relaying", "DEFER", "DEFER_IF_PERMIT greylisted",
    "DEFER_IF_REJECT", "450 4.7.1 later", "554 5.7.1 no", "1700000000", "DISCARD", "HOLD", "INFO x", "WARN",
    "HANGUP", "FILTER smtp:[127.0.0.1]:10025", "REDIRECT a@example.com", "BCC a@example.com",
    "PREPEND X-Tag: yes", "permit", "reject_unauth_destination", "permit_mynetworks, reject",
    "reject_rbl_client zen.spamhaus.org",
])
def test_accepted_results(value: str) -> None:
    assert result_problem(value) is None


@pytest.mark.parametrize("value", [
    "", "PERMITT", "4xx later", "450", "REDIRECT nobody", "PREPEND no header", "my_class",
    "check_policy_service inet:127.0.0.1:1", "reject_rbl_client", "static:OK",
])
def test_refused_results(value: str) -> None:
    assert result_problem(value) is not None


# ------------------------------------------------------------------------------------------
# The evaluator: an unknown lookup branches over the assumed results, and nothing else

from pfcheck.policy.assume import Assumption  # noqa: E402
from pfcheck.postfix.relay import Verdict, evaluate_relay  # noqa: E402
from tests.postfix.test_relay import Params, main_scope  # noqa: E402

TABLE = "mysql:/etc/postfix/sql/clients.cf"
SERVICE = "inet:127.0.0.1:10023"
RELAY_WITH_TABLE = (
    "compatibility_level = 3.6\n"
    "smtpd_relay_restrictions = permit_mynetworks, check_client_access mysql:/etc/postfix/sql/clients.cf,\n"
    "    reject_unauth_destination\n"
)
RELAY_WITH_POLICY = (
    "compatibility_level = 3.6\n"
    "smtpd_relay_restrictions = check_policy_service inet:127.0.0.1:10023, permit_mynetworks,\n"
    "    reject_unauth_destination\n"
)


def table(*results: str, key: str = TABLE) -> Assumption:
    return Assumption("table", key, results, Path("p.yaml"), 4, 5)


def service(*results: str, key: str = SERVICE) -> Assumption:
    return Assumption("policy_service", key, results, Path("p.yaml"), 7, 5)


def judge(main_cf: str, *entries: Assumption):  # type: ignore[no-untyped-def]
    params = Params(main_cf)
    return evaluate_relay(params, version="3.7", resolver=None, trusted=None, rewrite_params=main_scope(params),
                          assumptions=Assumptions(tuple(entries)) if entries else None)


def test_without_an_assumption_an_unknown_table_is_unproven() -> None:
    verdict = judge(RELAY_WITH_TABLE)
    assert verdict.verdict is Verdict.UNPROVEN
    assert verdict.assumed == () and verdict.consulted == ()


def test_assumed_results_that_never_permit_close_the_relay() -> None:
    entry = table("REJECT", "DUNNO")
    verdict = judge(RELAY_WITH_TABLE, entry)
    assert verdict.verdict is Verdict.CLOSED
    assert verdict.assumed == (entry,) and verdict.consulted == (entry,)


def test_every_listed_result_is_possible() -> None:
    entry = table("DUNNO", "REJECT", "OK")  # OK listed last still opens
    verdict = judge(RELAY_WITH_TABLE, entry)
    assert verdict.verdict is Verdict.OPEN
    assert verdict.assumed == (entry,)
    assert verdict.witness is not None and "OK" in verdict.witness.token


@pytest.mark.parametrize(("result", "expected"), [
    ("OK", Verdict.OPEN),
    ("RELAY", Verdict.OPEN),
    ("1700000000", Verdict.OPEN),  # all-numeric: OK
    ("permit", Verdict.OPEN),
    ("REJECT", Verdict.CLOSED),
    ("554 5.7.1 no", Verdict.CLOSED),
    ("DEFER", Verdict.CLOSED),
    ("DEFER_IF_PERMIT", Verdict.CLOSED),
    ("DISCARD", Verdict.CLOSED),  # accepted, but thrown away: not relayed
    ("WARN suspicious", Verdict.CLOSED),  # DUNNO-like: reject_unauth_destination follows
    ("permit_mynetworks", Verdict.CLOSED),  # the attacker is not in mynetworks
    ("reject_unauth_destination", Verdict.CLOSED),
    ("permit_auth_destination", Verdict.CLOSED),
])
def test_assumed_results_act_as_postfix_acts_on_them(result: str, expected: Verdict) -> None:
    assert judge(RELAY_WITH_TABLE, table(result)).verdict is expected


def test_ok_is_refused_where_postfix_forbids_it() -> None:
    main_cf = ("compatibility_level = 3.6\nsmtpd_relay_restrictions = permit_mynetworks,\n"
               "    check_reverse_client_hostname_access mysql:/etc/postfix/sql/clients.cf, reject_unauth_destination\n")
    # Closed even without an assumption: any OK the table could give there is refused.
    assert judge(main_cf).verdict is Verdict.CLOSED
    assert judge(main_cf.replace("check_reverse_client_hostname_access", "check_client_access"),
                 table("OK")).verdict is Verdict.OPEN
    # The attacker controls its reverse DNS; an OK there is "not allowed for security reasons" (451).
    verdict = judge(main_cf, table("OK"))
    assert verdict.verdict is Verdict.CLOSED and verdict.assumed == ()


def test_proxy_wrapper_and_config_directory_match() -> None:
    main_cf = RELAY_WITH_TABLE.replace("mysql:/etc/postfix/sql", "proxy:mysql:$config_directory/sql")
    main_cf = "config_directory = /srv/postfix\n" + main_cf.replace("clients.cf", "c.cf")
    entry = table("REJECT", key="mysql:$config_directory/sql/c.cf")
    assert judge(main_cf, entry).verdict is Verdict.CLOSED
    assert judge(main_cf, table("REJECT", key="mysql:/etc/postfix/sql/c.cf")).verdict is Verdict.UNPROVEN


def test_an_assumption_for_another_table_changes_nothing() -> None:
    verdict = judge(RELAY_WITH_TABLE, table("REJECT", key="mysql:/etc/postfix/sql/other.cf"))
    assert verdict.verdict is Verdict.UNPROVEN and verdict.consulted == ()


def test_one_assumed_table_of_two_leaves_the_other_unproven() -> None:
    main_cf = RELAY_WITH_TABLE.replace("reject_unauth_destination",
                                       "check_sender_access ldap:/etc/postfix/senders.cf, reject_unauth_destination")
    entry = table("DUNNO")
    verdict = judge(main_cf, entry)
    assert verdict.verdict is Verdict.UNPROVEN
    assert [unknown.token for unknown in verdict.unknowns] == ["ldap:/etc/postfix/senders.cf"]
    assert verdict.consulted == (entry,)
    both = judge(main_cf, entry, table("REJECT", "DUNNO", key="ldap:/etc/postfix/senders.cf"))
    assert both.verdict is Verdict.CLOSED and len(both.assumed) == 2


def test_a_verdict_closed_anyway_does_not_rest_on_the_assumption() -> None:
    main_cf = ("compatibility_level = 3.6\n"
               "smtpd_client_restrictions = check_client_access mysql:/etc/postfix/sql/clients.cf\n"
               "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n")
    entry = table("OK", "REJECT")
    verdict = judge(main_cf, entry)
    assert verdict.verdict is Verdict.CLOSED
    assert verdict.assumed == () and verdict.consulted == (entry,)


def test_policy_service_assumptions() -> None:
    assert judge(RELAY_WITH_POLICY).verdict is Verdict.UNPROVEN
    greylist = service("DUNNO", "DEFER_IF_PERMIT", "PREPEND X-Greylist: delayed")
    verdict = judge(RELAY_WITH_POLICY, greylist)
    assert verdict.verdict is Verdict.CLOSED and verdict.assumed == (greylist,)
    assert judge(RELAY_WITH_POLICY, service("DUNNO", "OK")).verdict is Verdict.OPEN
    braced = RELAY_WITH_POLICY.replace("inet:127.0.0.1:10023", "{ inet:127.0.0.1:10023, timeout=10s }")
    assert judge(braced, greylist).verdict is Verdict.CLOSED
    # A table assumption with the same text is not a policy service assumption.
    assert judge(RELAY_WITH_POLICY, table("DUNNO", key="inet:127.0.0.1:10023")).verdict is Verdict.UNPROVEN


# ------------------------------------------------------------------------------------------
# The run: assumptions reach every directory's verdicts (also in worker processes)

from pfcheck.engine.run import LintOptions, lint  # noqa: E402
from pfcheck.policy import PolicyResolver  # noqa: E402

TWO_ASSUMPTIONS = """\
version: 1
assume:
  tables:
    "mysql:/etc/postfix/sql/clients.cf": {results: [REJECT, DUNNO]}
    "mysql:/etc/postfix/sql/unused.cf": {results: [REJECT]}
"""


def _repo(tmp_path: Path) -> Path:
    for name in ("a", "b"):
        write(tmp_path / "hosts" / name, main=MYSQL_MAIN)
    write(tmp_path / "hosts" / "plain")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".pfcheck.yaml").write_text(TWO_ASSUMPTIONS)
    return tmp_path


@pytest.mark.parametrize("jobs", [1, 2])
def test_assumptions_in_a_run_serial_and_in_workers(tmp_path: Path, jobs: int, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    repo = _repo(tmp_path)
    monkeypatch.chdir(repo)
    resolver = PolicyResolver(RULES)
    result = lint(["."], LintOptions(jobs=jobs), resolver.policy_for)
    found = sorted((f.code, f.path, f.line) for f in result.findings)
    assert found == [
        ("PF305", "hosts/a/main.cf", 4), ("PF305", "hosts/b/main.cf", 4), ("PF905", ".pfcheck.yaml", 5),
    ]
    assert not result.failed
    # A run over one directory does not judge what the others use: no PF905.
    partial = lint(["hosts/plain"], LintOptions(jobs=jobs), resolver.policy_for)
    assert [f.code for f in partial.findings] == []


def test_cli_json_names_the_assumption_in_the_witness(tmp_path: Path) -> None:
    write(tmp_path / "mx", main=MYSQL_MAIN)
    (tmp_path / "p.yaml").write_text(
        "version: 1\nassume:\n  tables:\n    \"mysql:/etc/postfix/sql/clients.cf\": {results: [DUNNO, OK]}\n")
    result = run(["--policy", "p.yaml", "--format", "json", "."], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["code"] == "PF301"
    expected = "table mysql:/etc/postfix/sql/clients.cf answers only DUNNO, OK (assumed in p.yaml:4)"
    assert expected in finding["witness"]["assumptions"]
    assert expected in finding["message"]


def test_unproven_despite_an_assumption_names_what_is_still_missing(tmp_path: Path) -> None:
    main = MYSQL_MAIN.replace("reject_unauth_destination",
                              "check_sender_access ldap:/etc/postfix/senders.cf, reject_unauth_destination")
    write(tmp_path / "mx", main=main)
    (tmp_path / "p.yaml").write_text(
        "version: 1\nassume:\n  tables:\n    \"mysql:/etc/postfix/sql/clients.cf\": {results: [DUNNO]}\n")
    result = run(["--policy", "p.yaml", "--format", "json", "."], tmp_path)
    assert result.returncode == 1
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["code"] == "PF302"
    assert "ldap:/etc/postfix/senders.cf" in finding["message"]
    assert "(even assuming table mysql:/etc/postfix/sql/clients.cf answers only DUNNO (assumed in p.yaml:4))" \
        in finding["message"]
