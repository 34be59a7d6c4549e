"""One pass/fail decision, the same in the exit code and in every output format (issue #8).

For every rule the registry knows there is a real config directory that triggers it (in a real
git repository, with a real policy file, baseline or base revision where the rule needs one).
The real CLI (`pfcheck.cli.main`, in-process) checks it at each severity a policy can give the
rule, at each threshold (the policy's `fail_on`, and `--fail-on` overriding a contrary policy
`fail_on`), and with `--base REV --new-only` against a revision where the findings already
existed. One call writes all six formats to files.

The test decides on its own which findings must fail, from what it wrote into the policy
(severity >= threshold, and with `--new-only` not `existing`), and asserts that the exit code,
the text summary, JSON (`summary.failing` and every finding's `failing`), JUnit failures, SARIF
`error` results, GitLab `major`/`critical` issues and GitHub `::error` lines all name exactly
those findings.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from pfcheck.cli import main
from pfcheck.findings import Severity
from pfcheck.policy import default_policy
from pfcheck.rules import RULES

SEVERITIES = ("error", "warning", "info")
FORMAT_FILES = {"text": "out.txt", "json": "out.json", "sarif": "out.sarif", "gitlab": "out.gitlab.json",
                "junit": "out.junit.xml", "github": "out.github.txt"}
#: A --fail-on value -> a policy fail_on on the other side of it, so that obeying the policy
#: instead of the flag would give a different verdict.
CONTRARY_POLICY_FAIL_ON = {"error": "info", "warning": "error", "info": "error"}

SARIF_SCHEMA = Path(os.environ.get(
    "PFCHECK_SARIF_SCHEMA", Path(__file__).resolve().parents[3] / "shared" / "schemas" / "sarif-schema-2.1.0.json"))

MASTER_CF = "smtp  inet  n  -  y  -  -  smtpd\nlocal  unix  -  n  n  -  -  local\n"
# The SMTP smuggling defences and a "User unknown" without the table name (PF702, PF704).
QUIET_DEFAULTS = ("smtpd_forbid_bare_newline = normalize\nsmtpd_forbid_unauth_pipelining = yes\n"
                  "show_user_unknown_table_name = no\n")
# A directory no rule objects to: every scenario changes what its rule needs and nothing else.
CLEAN_MAIN_CF = "compatibility_level = 3.6\ndisable_vrfy_command = yes\nmynetworks = 127.0.0.0/8\n" + QUIET_DEFAULTS
OPEN_RELAY = "smtpd_relay_restrictions = check_client_access static:OK, reject_unauth_destination\n"
# A finding present at the base revision and now (PF001: a redefinition), for the --base rules.
ALREADY_THERE = "disable_vrfy_command = no\n"
EXPIRED_WAIVER = """\
waivers:
  - rule: PF101
    path: mx/main.cf
    reason: "legacy listener, OPS-1"
    expires: 2000-01-01
"""


@dataclass(frozen=True)
class Scenario:
    """A config directory `mx/` that triggers `code`.

    `master_cf` is mx/master.cf (one smtp listener unless a rule needs another).
    `base_main_cf` is main.cf at the base revision when the rule compares with one (every run
    then passes `--base`); otherwise the base revision is the current state, used by the
    `--new-only` runs. `policy_extra` is appended to the policy file; `off` are rules turned
    off so that they do not hide the verdict of the rule under test. `baseline_main_cf`: write
    a baseline while main.cf is this, then check with `--baseline` (stale entries: PF903).
    """

    code: str
    main_cf: str
    base_main_cf: Optional[str] = None
    policy_extra: str = ""
    off: tuple[str, ...] = ()
    baseline_main_cf: Optional[str] = None
    paths: tuple[str, ...] = ("mx",)
    master_cf: str = MASTER_CF


MX_ROLE = 'roles:\n  "**": mx\n'
SUBMISSION_ROLE = 'roles:\n  "**": submission\n'
TLS_CERT = "smtpd_tls_chain_files = /etc/postfix/mx.pem\n"
SUBMISSION = "submission  inet  n  -  y  -  -  smtpd"

POLICY_SERVICE = "inet:127.0.0.1:10023"
ASSUMED_CLOSED = f'assume:\n  policy_services:\n    "{POLICY_SERVICE}": {{results: [DUNNO, DEFER_IF_PERMIT]}}\n'
ASSUMED_NOTHING = 'assume:\n  tables:\n    "mysql:/etc/postfix/nowhere.cf": {results: [REJECT]}\n'

SEND_ONLY = 'roles:\n  "**": send-only\n'

SCENARIOS = {s.code: s for s in [
    Scenario("PF000", CLEAN_MAIN_CF + "this line has no equals sign\n"),
    Scenario("PF001", "compatibility_level = 3.6\ndisable_vrfy_command = no\nmynetworks = 127.0.0.0/8\n"
                      "disable_vrfy_command = yes\n" + QUIET_DEFAULTS),
    Scenario("PF002", CLEAN_MAIN_CF + "mydistination = example.com\n"),
    Scenario("PF101", CLEAN_MAIN_CF.replace("disable_vrfy_command = yes", "disable_vrfy_command = no")),
    Scenario("PF201", CLEAN_MAIN_CF.replace("127.0.0.0/8", "127.0.0.0/8 192.0.2.0/24")),
    Scenario("PF202", "compatibility_level = 3.6\ndisable_vrfy_command = yes\nmynetworks_style = subnet\n"
                      + QUIET_DEFAULTS),
    Scenario("PF203", ALREADY_THERE + CLEAN_MAIN_CF.replace("127.0.0.0/8", "127.0.0.0/8 [::1]/128"),
             base_main_cf=ALREADY_THERE + CLEAN_MAIN_CF, off=("PF201",)),
    Scenario("PF301", CLEAN_MAIN_CF + OPEN_RELAY),
    Scenario("PF302", CLEAN_MAIN_CF + "smtpd_relay_restrictions = permit_mynetworks, "
                      "check_policy_service inet:127.0.0.1:10023, reject_unauth_destination\n"),
    Scenario("PF303", CLEAN_MAIN_CF + "smtpd_relay_restrictions =\nsmtpd_recipient_restrictions = permit_mynetworks\n"),
    Scenario("PF304", ALREADY_THERE + CLEAN_MAIN_CF + OPEN_RELAY, base_main_cf=ALREADY_THERE + CLEAN_MAIN_CF,
             off=("PF301",)),
    Scenario("PF501", CLEAN_MAIN_CF, policy_extra=MX_ROLE),
    Scenario("PF502", CLEAN_MAIN_CF + TLS_CERT + "smtpd_tls_security_level = encrypt\n", policy_extra=MX_ROLE),
    Scenario("PF503", CLEAN_MAIN_CF + TLS_CERT, policy_extra=SUBMISSION_ROLE,
             master_cf=MASTER_CF + SUBMISSION + " -o smtpd_tls_security_level=may -o smtpd_sasl_auth_enable=yes"
             " -o smtpd_tls_auth_only=yes -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n"),
    Scenario("PF504", CLEAN_MAIN_CF + TLS_CERT, policy_extra=SUBMISSION_ROLE,
             master_cf=MASTER_CF + SUBMISSION + " -o smtpd_tls_security_level=encrypt\n"),
    Scenario("PF505", CLEAN_MAIN_CF + "smtpd_sasl_auth_enable = yes\n"),
    Scenario("PF506", CLEAN_MAIN_CF + "smtpd_sasl_auth_enable = yes\nsmtpd_sasl_security_options = noplaintext\n"),
    Scenario("PF507", CLEAN_MAIN_CF + "smtpd_tls_security_level = may\nsmtpd_tls_protocols =\n"),
    Scenario("PF508", CLEAN_MAIN_CF + "smtpd_tls_security_level = may\nsmtpd_tls_ciphers = export\n"),
    Scenario("PF509", CLEAN_MAIN_CF + "smtpd_tls_eecdh_grade = strong\n"),
    Scenario("PF510", CLEAN_MAIN_CF + "smtpd_tls_security_level = may\nsmtpd_tls_CApath = /etc/ssl/certs\n"
                      "smtpd_relay_restrictions = permit_tls_all_clientcerts, reject_unauth_destination\n"),
    Scenario("PF511", CLEAN_MAIN_CF + "smtpd_tls_security_level = may\nsmtpd_tls_fingerprint_digest = md5\n"
                      "smtpd_relay_restrictions = permit_tls_clientcerts, reject_unauth_destination\n"),
    Scenario("PF601", CLEAN_MAIN_CF + "smtpd_relay_restrictions = permit_mynetworks,"
                      " warn_if_reject reject_unauth_destination\n"),
    Scenario("PF602", CLEAN_MAIN_CF + "smtpd_client_restrictions = reject_maps_rbl\n"),
    Scenario("PF603", CLEAN_MAIN_CF + "smtpd_relay_restrictions = permit_mynetworks, permit_mx_backup,"
                      " reject_unauth_destination\n"),
    Scenario("PF604", CLEAN_MAIN_CF + "smtpd_sender_restrictions = check_sender_mx_access static:OK\n"),
    Scenario("PF605", CLEAN_MAIN_CF + "relay_domains = org\n"),
    Scenario("PF606", CLEAN_MAIN_CF + "relay_domains = example.com\n"),
    Scenario("PF607", CLEAN_MAIN_CF + "allow_untrusted_routing = yes\n"),
    Scenario("PF608", CLEAN_MAIN_CF + "resolve_dequoted_address = no\n"),
    # Off in the built-in policy; the scenario's policy gives it a severity (its defaults fire).
    Scenario("PF609", CLEAN_MAIN_CF),
    Scenario("PF610", CLEAN_MAIN_CF + "smtpd_client_restrictions = permit_mynetwork\n"),
    Scenario("PF611", CLEAN_MAIN_CF + "smtpd_authorized_xclient_hosts = 192.0.2.0/24\n"),
    Scenario("PF612", CLEAN_MAIN_CF + "qmqpd_authorized_clients = 192.0.2.0/24\n",
             master_cf=MASTER_CF + "628  inet  n  -  n  -  -  qmqpd\n"),
    Scenario("PF613", CLEAN_MAIN_CF + "content_filter = scan:[127.0.0.1]:10026\n",
             master_cf=MASTER_CF + "10025  inet  n  -  n  -  -  smtpd -o content_filter=\n"),
    Scenario("PF401", CLEAN_MAIN_CF, policy_extra=SEND_ONLY),
    Scenario("PF402", CLEAN_MAIN_CF + "inet_interfaces = loopback-only\n", policy_extra=SEND_ONLY),
    Scenario("PF403", CLEAN_MAIN_CF + "inet_interfaces = 192.0.3.20\n", policy_extra='roles:\n  "**": internal\n'),
    Scenario("PF410", CLEAN_MAIN_CF),
    Scenario("PF411", CLEAN_MAIN_CF + "smtpd_banner = $myhostname ESMTP $mail_version\n"),
    Scenario("PF412", CLEAN_MAIN_CF + "smtpd_banner = ESMTP\n"),
    Scenario("PF701", CLEAN_MAIN_CF.replace("compatibility_level = 3.6", "compatibility_level = 1")),
    Scenario("PF702", CLEAN_MAIN_CF.replace("smtpd_forbid_unauth_pipelining = yes", "smtpd_forbid_unauth_pipelining = no")),
    Scenario("PF703", CLEAN_MAIN_CF + "soft_bounce = yes\n"),
    Scenario("PF704", CLEAN_MAIN_CF.replace("show_user_unknown_table_name = no", "show_user_unknown_table_name = yes")),
    Scenario("PF705", CLEAN_MAIN_CF + "smtpd_reject_unlisted_recipient = no\n"),
    # Off in the built-in policy; each run's policy gives the rule its severity.
    Scenario("PF706", CLEAN_MAIN_CF + "smtpd_helo_required = no\n"),
    Scenario("PF707", CLEAN_MAIN_CF + "strict_rfc821_envelopes = no\n"),
    Scenario("PF708", CLEAN_MAIN_CF + "biff = yes\n"),
    Scenario("PF709", CLEAN_MAIN_CF + "message_size_limit = 0\n"),
    Scenario("PF900", CLEAN_MAIN_CF + "{% if relay %}relayhost = [{{ relay }}]{% endif %}\n"),
    Scenario("PF901", CLEAN_MAIN_CF.replace("mynetworks", "# pfcheck: ignore[PF101]\nmynetworks")),
    Scenario("PF902", CLEAN_MAIN_CF.replace("mynetworks", '# pfcheck: ignore[PF101] reason="legacy"\nmynetworks')),
    Scenario("PF903", CLEAN_MAIN_CF,
             baseline_main_cf=CLEAN_MAIN_CF.replace("disable_vrfy_command = yes", "disable_vrfy_command = no")),
    Scenario("PF904", CLEAN_MAIN_CF, policy_extra=EXPIRED_WAIVER),
    Scenario("PF305", CLEAN_MAIN_CF + "smtpd_relay_restrictions = permit_mynetworks, "
                      f"check_policy_service {POLICY_SERVICE}, reject_unauth_destination\n",
             policy_extra=ASSUMED_CLOSED),
    # PF905 is reported when the run judges the policy whole: the directory holding it is named.
    Scenario("PF905", CLEAN_MAIN_CF, policy_extra=ASSUMED_NOTHING, paths=(".",)),
    # PF908 likewise: a waiver that covers nothing, in a run that judges the policy whole.
    Scenario("PF908", CLEAN_MAIN_CF, policy_extra='waivers:\n  - {rule: PF101, path: "*", reason: r}\n', paths=(".",)),
    Scenario("PF906", CLEAN_MAIN_CF + "smtpd_banner = {{ banner }}\n"),
    Scenario("PF801", CLEAN_MAIN_CF, policy_extra="profiles: [stig]\n"),
    Scenario("PF907", CLEAN_MAIN_CF + "inet_interfaces = 192.0.2.10\n"),
]}

# (threshold source, threshold, --new-only): the policy's fail_on and --fail-on, each at every
# value; --new-only (with a base revision) at every policy threshold.
THRESHOLDS = ([("policy", value, False) for value in SEVERITIES] + [("flag", value, False) for value in SEVERITIES]
              + [("policy", value, True) for value in SEVERITIES])


def _git_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    return env


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, env=_git_env(), capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def _commit(root: Path, message: str) -> str:
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=Postmaster", "-c", "user.email=postmaster@example.net",
         "-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "-m", message)
    return _git(root, "rev-parse", "HEAD")


class _InDirectory:
    def __init__(self, path: Path) -> None:
        self.path, self.previous = path, Path.cwd()

    def __enter__(self) -> None:
        os.chdir(self.path)

    def __exit__(self, *_exc: Any) -> None:
        os.chdir(self.previous)


@dataclass
class Tree:
    root: Path
    scenario: Scenario
    base: str  # the base revision of --base runs

    def policy(self, severity: str, fail_on: str) -> str:
        rules = "".join(f"  {code}: {{severity: off}}\n" for code in self.scenario.off)
        return (f"version: 1\nfail_on: {fail_on}\nrules:\n  {self.scenario.code}: {{severity: {severity}}}\n"
                f"{rules}{self.scenario.policy_extra}")


def _build(root: Path, scenario: Scenario) -> Tree:
    (root / "mx").mkdir(parents=True)
    _git(root, "init", "-q", "-b", "main")
    (root / "mx" / "master.cf").write_text(scenario.master_cf, encoding="utf-8")
    (root / ".pfcheck.yaml").write_text(Tree(root, scenario, "").policy("error", "error"), encoding="utf-8")
    main_cf = root / "mx" / "main.cf"
    if scenario.baseline_main_cf is not None:
        main_cf.write_text(scenario.baseline_main_cf, encoding="utf-8")
        with _InDirectory(root):
            assert main(["mx", "--write-baseline", "baseline.json", "--format", "json", "--output-file",
                         "setup.json"]) == 0
        assert "PF101" in (root / "baseline.json").read_text(encoding="utf-8")
    if scenario.base_main_cf is not None:
        main_cf.write_text(scenario.base_main_cf, encoding="utf-8")
        base = _commit(root, "base revision")
        main_cf.write_text(scenario.main_cf, encoding="utf-8")
        _commit(root, "the change under review")
    else:
        main_cf.write_text(scenario.main_cf, encoding="utf-8")
        base = _commit(root, "findings that already exist")
    return Tree(root, scenario, base)


_TREES: dict[str, Tree] = {}


@pytest.fixture
def tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Tree]:
    """One tree per rule, built on first use and reused by all of that rule's combinations."""
    code: str = request.node.callspec.params["code"]
    if code not in _TREES:
        _TREES[code] = _build(tmp_path_factory.mktemp(f"decision-{code}"), SCENARIOS[code])
    built = _TREES[code]
    for key in [key for key in os.environ if key.startswith(("GIT_", "PFCHECK_")) or key == "GITHUB_ACTIONS"]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.chdir(built.root)
    yield built


def _run(tree: Tree, severity: str, source: str, threshold: str, new_only: bool) -> tuple[int, dict[str, str]]:
    policy_fail_on = threshold if source == "policy" else CONTRARY_POLICY_FAIL_ON[threshold]
    (tree.root / ".pfcheck.yaml").write_text(tree.policy(severity, policy_fail_on), encoding="utf-8")
    args = list(tree.scenario.paths)
    if source == "flag":
        args += ["--fail-on", threshold]
    if tree.scenario.base_main_cf is not None or new_only:
        args += ["--base", tree.base]
    if new_only:
        args.append("--new-only")
    if tree.scenario.baseline_main_cf is not None:
        args += ["--baseline", "baseline.json"]
    for name, file_name in FORMAT_FILES.items():
        args += ["--format", name, "--output-file", file_name]
    code = main(args)
    return code, {name: (tree.root / file_name).read_text(encoding="utf-8") for name, file_name in FORMAT_FILES.items()}


# --- what each format says fails ----------------------------------------------------------


def _text_failing(text: str) -> tuple[int, Optional[tuple[int, int]]]:
    """(failing, (new, existing) or None) from the summary line."""
    summary = text.splitlines()[-1]
    match = re.search(r", (\d+) failing\b", summary)
    if match is None:
        assert re.match(r"\d+ files?, 0 findings", summary), summary
        return 0, None
    statuses = re.search(r"; (\d+) new, (\d+) existing\)", summary)
    return int(match.group(1)), (int(statuses.group(1)), int(statuses.group(2))) if statuses else None


def _junit_failing(text: str) -> Counter[str]:
    root = ET.fromstring(text)
    failures = root.findall(".//testcase/failure")
    assert int(root.get("failures", "-1")) == len(failures)
    assert int(root.find("testsuite").get("failures", "-1")) == len(failures)  # type: ignore[union-attr]
    return Counter(re.search(r": (PF\d{3}) ", failure.text or "").group(1) for failure in failures)  # type: ignore[union-attr]


def _sarif_failing(text: str) -> Counter[str]:
    results = json.loads(text)["runs"][0]["results"]
    for result in results:
        # SARIF 2.1.0 §3.27.10: a level other than "none" needs kind "fail".
        assert result["kind"] == "fail" and result["level"] in {"error", "warning", "note"}
        assert (result["level"] == "error") is result["properties"]["failing"]
    return Counter(result["ruleId"] for result in results if result["level"] == "error")


def _gitlab_failing(text: str) -> Counter[str]:
    return Counter(issue["check_name"].split()[0] for issue in json.loads(text) if issue["severity"] in {"major", "critical"})


def _github_failing(text: str) -> Counter[str]:
    return Counter(re.search(r",title=(PF\d{3}) ", line).group(1)  # type: ignore[union-attr]
                   for line in text.splitlines() if line.startswith("::error "))


BUILTIN = default_policy(RULES)


def test_every_rule_has_a_scenario() -> None:
    assert sorted(SCENARIOS) == sorted(RULES)


@pytest.mark.parametrize("source, threshold, new_only", THRESHOLDS,
                         ids=[f"{s}-{t}{'-new-only' if n else ''}" for s, t, n in THRESHOLDS])
@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("code", sorted(SCENARIOS))
def test_exit_code_and_every_format_agree_on_what_fails(tree: Tree, code: str, severity: str, source: str,
                                                        threshold: str, new_only: bool) -> None:
    exit_code, outputs = _run(tree, severity, source, threshold, new_only)
    document = json.loads(outputs["json"])
    findings = document["findings"]

    # The run is what the scenario claims: the rule fires, at the severity the policy gave it.
    assert code in {f["code"] for f in findings}, findings
    for finding in findings:
        expected_severity = severity if finding["code"] == code else str(BUILTIN.severity(finding["code"]))
        assert finding["severity"] == expected_severity, finding
    if new_only and tree.scenario.base_main_cf is None and code < "PF900":
        assert {f["status"] for f in findings if f["code"] == code} == {"existing"}

    # The oracle: computed here from the policy this test wrote, not read from pfcheck.
    limit = Severity.parse(threshold)
    should_fail = [f for f in findings
                   if Severity.parse(f["severity"]) >= limit and not (new_only and f["status"] == "existing")]
    expected = Counter(f["code"] for f in should_fail)

    assert exit_code == (1 if should_fail else 0), outputs["text"]
    assert [f["failing"] for f in findings] == [f in should_fail for f in findings]
    summary = document["summary"]
    assert summary["failing"] == len(should_fail)
    assert summary["fail_on"] == threshold and summary["fail_on_by_policy"] == {".pfcheck.yaml": threshold}
    assert summary["new_only"] is new_only
    text_failing, text_statuses = _text_failing(outputs["text"])
    assert text_failing == len(should_fail), outputs["text"]
    statuses = Counter(f["status"] for f in findings)
    marked = Counter(line.rsplit(" (", 1)[1].rstrip(")") for line in outputs["text"].splitlines()[:-1]
                     if line.endswith((" (new)", " (existing)")))
    assert (marked["new"], marked["existing"]) == (statuses["new"], statuses["existing"]), outputs["text"]
    if tree.scenario.base_main_cf is not None or new_only:
        assert (summary["new"], summary["existing"]) == (statuses["new"], statuses["existing"])
        assert text_statuses == (statuses["new"], statuses["existing"])
    else:
        assert text_statuses is None and summary["new"] is None and summary["existing"] is None
        assert not statuses.keys() - {None}
    assert _junit_failing(outputs["junit"]) == expected
    assert _sarif_failing(outputs["sarif"]) == expected
    assert _gitlab_failing(outputs["gitlab"]) == expected
    assert _github_failing(outputs["github"]) == expected


@pytest.mark.parametrize("code", sorted(SCENARIOS))
def test_real_sarif_matches_the_2_1_0_schema(tree: Tree, code: str) -> None:
    """The SARIF of real runs, failing and non-failing results mixed (--new-only at warning)."""
    jsonschema = pytest.importorskip("jsonschema")
    if not SARIF_SCHEMA.is_file():
        pytest.skip(f"SARIF schema not present at {SARIF_SCHEMA}")
    _exit, outputs = _run(tree, "warning", "policy", "warning", True)
    assert code in outputs["sarif"]
    jsonschema.validate(json.loads(outputs["sarif"]), _sarif_schema())


_SCHEMA: list[Any] = []


def _sarif_schema() -> Any:
    if not _SCHEMA:
        _SCHEMA.append(json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))
    return _SCHEMA[0]


def test_directories_governed_by_different_thresholds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each directory is judged by its own policy; the baseline's stale entries by the policy
    governing the baseline file; `summary.fail_on` is null because the thresholds differ."""
    root = tmp_path / "repo"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        (root / name / "master.cf").write_text(MASTER_CF, encoding="utf-8")
        (root / name / "main.cf").write_text(SCENARIOS["PF001"].main_cf, encoding="utf-8")  # one PF001 warning
    _git(root, "init", "-q", "-b", "main")
    # Thresholds other than the fallback (error), so that judging PF903 by no policy would show.
    (root / ".pfcheck.yaml").write_text(
        "version: 1\nfail_on: warning\nrules:\n  PF001: {severity: info}\n  PF903: {severity: warning}\n",
        encoding="utf-8")
    (root / "a" / ".pfcheck.yaml").write_text("version: 1\nfail_on: info\n", encoding="utf-8")
    (root / "b" / "main.cf").write_text(
        SCENARIOS["PF001"].main_cf.replace("disable_vrfy_command = yes", "disable_vrfy_command = no"), encoding="utf-8")
    monkeypatch.chdir(root)
    assert main(["b", "--write-baseline", "baseline.json", "--format", "json", "--output-file", "setup.json"]) == 0
    (root / "b" / "main.cf").write_text(SCENARIOS["PF001"].main_cf, encoding="utf-8")  # PF101 fixed: entry stale

    args = ["a", "b", "--baseline", "baseline.json"]
    for name, file_name in FORMAT_FILES.items():
        args += ["--format", name, "--output-file", file_name]
    assert main(args) == 1
    document = json.loads((root / "out.json").read_text(encoding="utf-8"))
    verdicts = sorted((f["path"], f["code"], f["severity"], f["failing"]) for f in document["findings"])
    assert verdicts == [
        ("a/main.cf", "PF001", "warning", True),  # a/.pfcheck.yaml: fail_on info
        ("b/main.cf", "PF001", "info", False),  # .pfcheck.yaml: PF001 info, fail_on warning
        ("baseline.json", "PF903", "warning", True),  # the baseline file's policy: .pfcheck.yaml
    ]
    assert document["summary"]["fail_on"] is None
    assert document["summary"]["fail_on_by_policy"] == {".pfcheck.yaml": "warning", "a/.pfcheck.yaml": "info"}
    assert document["summary"]["failing"] == 2
    failing = Counter({"PF001": 1, "PF903": 1})
    assert _text_failing((root / "out.txt").read_text(encoding="utf-8"))[0] == 2
    assert _junit_failing((root / "out.junit.xml").read_text(encoding="utf-8")) == failing
    assert _sarif_failing((root / "out.sarif").read_text(encoding="utf-8")) == failing
    assert _gitlab_failing((root / "out.gitlab.json").read_text(encoding="utf-8")) == failing
    assert _github_failing((root / "out.github.txt").read_text(encoding="utf-8")) == failing

    # --fail-on overrides every policy: one threshold again, either way.
    for flag, code, count in (("info", 1, 3), ("error", 0, 0)):
        assert main([*args, "--fail-on", flag]) == code
        summary = json.loads((root / "out.json").read_text(encoding="utf-8"))["summary"]
        assert (summary["fail_on"], summary["failing"]) == (flag, count)
        assert summary["fail_on_by_policy"] == {".pfcheck.yaml": flag, "a/.pfcheck.yaml": flag}
