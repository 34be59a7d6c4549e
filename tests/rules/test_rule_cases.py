"""Data-driven rule tests (sqlfluff style): one parametrised test over `cases/<CODE>.yaml`.

A case file names its rule and holds named cases::

    rule: PF101
    default_no_on_smtp:
      main_cf: |                 # text of main.cf (required unless `files` has main.cf)
        compatibility_level = 3.6
      master_cf: |               # optional; absent = no master.cf (the package default applies)
        smtp inet n - y - - smtpd
      files: {mynetworks: "..."} # optional: more files next to main.cf (table sources)
      policy: {rules: ...}       # optional: .pfcheck.yaml content (`version: 1` is added)
      postfix_version: "3.7"     # optional: --postfix-version
      args: [main.cf]            # optional: paths to lint, relative to the case dir (default .)
      violations:                # exact: every finding of this rule, nothing more
        - {file: main.cf, line: 1, service: smtp/inet}
      also:                      # optional: exact findings of other rules in the same case
        PF001: [{file: main.cf, line: 1}]
      exclusive: true            # optional: no finding of any other rule at all

A violation always compares `file` and `line`; `column`, `service`, `parameter`, `witness`
(a subset of the finding's witness), `witness_within` (the witness address lies in this
network) and `message_contains` are compared when given. File contents are written as UTF-8
bytes exactly as given (a YAML "\\r\\n" stays CRLF); `encoding: latin-1` writes them in that
encoding instead. A `files` value may be `{directory: true}` or `{symlink: TARGET}`.

The cases run the lint API in-process in a temporary directory without `.git`, with the
built-in policy unless the case gives one.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import pytest
from ruamel.yaml import YAML

from pfcheck.findings import Finding
from pfcheck.engine.run import LintOptions, lint
from pfcheck.policy import PolicyResolver
from pfcheck.rules import RULES

CASES_DIR = Path(__file__).resolve().parent / "cases"

#: Rules whose behaviour this suite must cover, and how many cases each needs at least.
REQUIRED_RULES = ("PF000", "PF001", "PF101", "PF201", "PF202", "PF900")
MIN_CASES = 6

CASE_KEYS = frozenset({
    "main_cf", "master_cf", "files", "policy", "postfix_version", "args", "violations", "also",
    "encoding", "note", "exclusive",
})
VIOLATION_KEYS = frozenset({
    "file", "line", "column", "service", "parameter", "witness", "witness_within", "message_contains",
})


@dataclass(frozen=True)
class RuleCase:
    rule: str
    name: str
    source: Path
    data: Mapping[str, Any]

    @property
    def id(self) -> str:
        return f"{self.rule}::{self.name}"

    def expected(self) -> dict[str, list[Mapping[str, Any]]]:
        """Expected findings by rule code: the case's rule plus any `also` rules."""
        expected = {self.rule: list(self.data.get("violations") or [])}
        for code, violations in (self.data.get("also") or {}).items():
            expected[str(code)] = list(violations or [])
        return expected


@dataclass
class CaseFile:
    path: Path
    rule: str
    cases: list[RuleCase] = field(default_factory=list)


def _yaml() -> YAML:
    return YAML(typ="safe", pure=True)


def load_case_files() -> list[CaseFile]:
    loaded = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        document = _yaml().load(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or "rule" not in document:
            raise ValueError(f"{path}: a case file is a mapping with a `rule` key")
        rule = str(document["rule"])
        case_file = CaseFile(path, rule)
        for name, data in document.items():
            if name == "rule":
                continue
            if not isinstance(data, dict):
                raise ValueError(f"{path}: case {name!r} is not a mapping")
            case_file.cases.append(RuleCase(rule, str(name), path, data))
        loaded.append(case_file)
    return loaded


CASE_FILES = load_case_files()
ALL_CASES = [case for case_file in CASE_FILES for case in case_file.cases]


# --------------------------------------------------------------------------------------------
# Writing a case to disk and running it


def _write(path: Path, content: Any, encoding: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, dict) and content.get("directory"):
        path.mkdir()
    elif isinstance(content, dict) and "symlink" in content:
        path.symlink_to(str(content["symlink"]))
    elif isinstance(content, str):
        # Bytes exactly as given: no newline translation, so "\r\n" in the YAML stays CRLF.
        path.write_bytes(content.encode(encoding, "surrogateescape"))
    else:
        raise ValueError(f"unsupported file content for {path.name}: {content!r}")


def materialise(case: RuleCase, directory: Path) -> Optional[Path]:
    """Write the case's files into `directory`; return the policy file written, if any."""
    data = case.data
    encoding = str(data.get("encoding", "utf-8"))
    files: dict[str, Any] = dict(data.get("files") or {})
    if "main_cf" in data:
        files.setdefault("main.cf", data["main_cf"])
    if "master_cf" in data:
        files.setdefault("master.cf", data["master_cf"])
    if "main.cf" not in files:
        raise ValueError(f"{case.id}: no main_cf")
    for name, content in files.items():
        _write(directory / name, content, encoding)
    policy = data.get("policy")
    if policy is None:
        return None
    document = {"version": 1, **policy}
    policy_path = directory / ".pfcheck.yaml"
    with policy_path.open("w", encoding="utf-8") as handle:
        _yaml().dump(document, handle)
    return policy_path


def run_case(case: RuleCase, directory: Path) -> list[Finding]:
    """Lint the case directory (cwd must be `directory`, so paths are relative)."""
    policy_path = materialise(case, directory)
    resolver = PolicyResolver(RULES, policy_path=policy_path)
    if policy_path is None:
        policies = lambda _directory: resolver.load(None)  # noqa: E731 - the built-in policy
    else:
        policies = resolver.policy_for
    options = LintOptions(policy_path=policy_path, postfix_version=case.data.get("postfix_version"))
    args = [str(a) for a in case.data.get("args") or ["."]]
    return lint(args, options, policies).findings


# --------------------------------------------------------------------------------------------
# Comparing findings with expectations


def _matches(expected: Mapping[str, Any], finding: Finding) -> bool:
    if Path(finding.path).as_posix() != str(expected["file"]) or finding.line != expected["line"]:
        return False
    for key in ("column", "service", "parameter"):
        if key in expected and getattr(finding, key) != expected[key]:
            return False
    if "witness" in expected:
        witness = finding.witness or {}
        if any(witness.get(k) != v for k, v in expected["witness"].items()):
            return False
    if "witness_within" in expected:
        address = (finding.witness or {}).get("address")
        if address is None:
            return False
        if ipaddress.ip_address(str(address)) not in ipaddress.ip_network(str(expected["witness_within"])):
            return False
    if "message_contains" in expected and str(expected["message_contains"]) not in finding.message:
        return False
    return True


def _assign(expected: list[Mapping[str, Any]], findings: list[Finding]) -> bool:
    """Whether each expectation can be paired with its own finding (small sets: backtracking)."""
    if not expected:
        return not findings
    first, rest = expected[0], expected[1:]
    for index, finding in enumerate(findings):
        if _matches(first, finding) and _assign(rest, findings[:index] + findings[index + 1:]):
            return True
    return False


def _describe(findings: list[Finding]) -> str:
    return "\n".join(
        f"  {f.path}:{f.line}:{f.column} {f.code} [{f.service}] witness={f.witness}: {f.message}"
        for f in findings
    ) or "  (none)"


# --------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.id for case in ALL_CASES])
def test_rule_case(case: RuleCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    findings = run_case(case, tmp_path)
    for code, expected in case.expected().items():
        actual = [f for f in findings if f.code == code]
        assert _assign(expected, actual), (
            f"{case.id}: {code} findings differ\nexpected:\n"
            + "\n".join(f"  {dict(e)}" for e in expected) + f"\nactual:\n{_describe(actual)}"
        )
    if case.data.get("exclusive"):
        others = [f for f in findings if f.code not in case.expected()]
        assert not others, f"{case.id}: findings of other rules:\n{_describe(others)}"


def test_case_files_are_well_formed() -> None:
    """Typos in case files would silently weaken the suite."""
    assert CASE_FILES, f"no case files in {CASES_DIR}"
    for case_file in CASE_FILES:
        assert case_file.path.stem == case_file.rule, f"{case_file.path}: file name must be the rule code"
        assert case_file.rule in RULES, f"{case_file.path}: unknown rule {case_file.rule}"
        for case in case_file.cases:
            unknown = set(case.data) - CASE_KEYS
            assert not unknown, f"{case.id}: unknown keys {sorted(unknown)}"
            assert "violations" in case.data, f"{case.id}: `violations` is required (use [] for clean)"
            for code, violations in case.expected().items():
                assert code in RULES, f"{case.id}: unknown rule {code} in `also`"
                for violation in violations:
                    assert {"file", "line"} <= set(violation), f"{case.id}: {violation} needs file and line"
                    assert not set(violation) - VIOLATION_KEYS, f"{case.id}: unknown keys in {violation}"


@pytest.mark.parametrize("code", REQUIRED_RULES)
def test_every_rule_has_enough_cases(code: str) -> None:
    cases = [case for case in ALL_CASES if case.rule == code]
    assert len(cases) >= MIN_CASES, f"{code}: {len(cases)} cases in {CASES_DIR}, want at least {MIN_CASES}"
    assert any(case.data["violations"] for case in cases), f"{code}: no case expects a finding"
    assert any(not case.data["violations"] for case in cases), f"{code}: no clean case"


def test_runner_sees_unexpected_findings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty `violations` list must be able to fail: a default config answers VRFY."""
    monkeypatch.chdir(tmp_path)
    probe = RuleCase("PF101", "probe", CASES_DIR, {"main_cf": "compatibility_level = 3.6\n", "violations": []})
    findings = [f for f in run_case(probe, tmp_path) if f.code == "PF101"]
    assert findings
    assert not _assign([], findings)
    assert _assign([{"file": "main.cf", "line": 1, "service": "smtp/inet"}], findings)
    assert not _assign([{"file": "main.cf", "line": 2}], findings)


# --------------------------------------------------------------------------------------------
# PF101 against a real smtpd: what pfcheck believes each listener answers to VRFY


PF101_CASES = [case for case in ALL_CASES if case.rule == "PF101" and not case.data.get("files")]


def vrfy_predictions(directory: Path) -> dict[str, str]:
    """For each inet smtpd/postscreen listener: refused_startup, disabled or accepted."""
    from pfcheck.postfix.config import load_config_dir
    from pfcheck.rules.relay_common import dies_at_startup
    from tests.support.live_postfix import ACCEPTED, DISABLED, REFUSED_STARTUP

    config = load_config_dir(directory)
    listeners = config.listeners()
    by_key = {listener.key: listener for listener in listeners}
    predictions = {}
    for listener in listeners:
        service = listener.service
        if service.type != "inet":
            continue
        if service.process_name == "postscreen":
            backends = [l for l in listeners if service in l.entry_points and l is not listener]
            if len(backends) != 1:
                continue
            listener = by_key[backends[0].key]
        entry = listener.service
        last_line = max([entry.line] + [o.line for o in entry.overrides] + [t.line for t in entry.stray_args])
        dies = any(issue.fatal and entry.line <= issue.line <= last_line for issue in config.master.issues)
        value = listener.scope.get("disable_vrfy_command")
        word = value.expanded.strip().lower()
        # pfcheck's belief about start-up: a refused value smtpd reads (PF000's refusals).
        if dies or dies_at_startup(listener) or value.error is not None or word not in ("yes", "no"):
            predictions[service.key] = REFUSED_STARTUP
        else:
            predictions[service.key] = DISABLED if word == "yes" else ACCEPTED
    return predictions


@pytest.mark.live
@pytest.mark.parametrize("case", PF101_CASES, ids=[case.id for case in PF101_CASES])
def test_pf101_case_agrees_with_live_smtpd(case: RuleCase, tmp_path: Path) -> None:
    """Reachability cannot be tested live (the harness moves every listener to loopback), but
    what each listener answers to VRFY can: pfcheck's belief must match smtpd's answer."""
    from tests.support.live_postfix import LivePostfix, need_live_postfix

    need_live_postfix()
    materialise(case, tmp_path)
    predictions = vrfy_predictions(tmp_path)
    assert predictions, f"{case.id}: no inet smtpd listener"
    master = case.data.get("master_cf")
    if master is None:
        master = (Path(__file__).resolve().parents[2] / "pfcheck" / "postfix" / "default_master.cf").read_text()
    else:
        # The case's master.cf has only the listeners; smtpd needs the internal services too.
        default = (Path(__file__).resolve().parents[2] / "pfcheck" / "postfix" / "default_master.cf").read_text()
        internal = "\n".join(line for line in default.splitlines() if not line.startswith("smtp      inet"))
        master = master + internal + "\n"
    with LivePostfix(case.data["main_cf"], master) as live:
        observed = {key: live.vrfy(key, "root").outcome for key in predictions}
    assert observed == predictions
