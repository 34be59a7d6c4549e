"""Data-driven rule tests (sqlfluff style): one parametrised test over `cases/<CODE>.yaml`.

A case file names its rule and holds named cases::

    rule: PF101
    default_no_on_smtp:
      main_cf: |                 # text of main.cf (required unless `files` has a main.cf)
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

`policy` may also be a string: the .pfcheck.yaml text as written (for exact policy lines).
`today: 2030-04-01` is the date waivers expire against (default: the real date).
A violation may also compare `severity` (error, warning, info) and `status` (new, existing:
only with `base`).

Comparison with a git revision (PF203, PF304, new/existing)::

      base:                      # the config at the base revision, as `--base REV` sees it
        main_cf: |               # optional, like master_cf and files; with neither main.cf
          ...                    # nor master.cf the directory did not exist at REV
        master_cf: ...
        files: {...}

The runner makes the case directory a real git repository (no user or system git config),
commits the `base` files and tags that commit `base`, replaces them with the case's own files
(left uncommitted, as in a pre-commit run) and lints with `--base base`: messages say
"at base".

Baselines (PF903)::

      baseline_from:             # the config a baseline was written from
        main_cf: ...             # main_cf, master_cf, files and args as for a case
      # `baseline_from: {}` writes an empty baseline.

The runner writes these files, lints them with `--write-baseline .pfcheck-baseline.json`,
replaces them with the case's own files and lints those with `--baseline
.pfcheck-baseline.json`. Entries start on line 4 of that file (no "generated_by").

A case that shows a known product bug carries `xfail: "what is wrong"` and runs as a strict
xfail: it must fail, and reports XPASS (a failure) once the bug is fixed.

The cases run the lint API in-process in a temporary directory (without `.git` unless the
case has a `base`), with the built-in policy unless the case gives one. These cases judge
*findings* (rule, file, line, ...). The relay cases in tests/relay_cases/ are another format
on purpose: they judge the relay evaluator's *verdict* per listener (open, closed, unproven,
refused) with no line, take their parameter values from the real postconf, and are replayed
against a live Postfix; tests/rules/test_relay_rules.py checks that PF301/PF302/PF303 agree with
those verdicts. docs/internals.md, "Where a rule's tests live", lists both for each rule.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
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
    "encoding", "note", "exclusive", "base", "baseline_from", "today", "xfail",
})
VIOLATION_KEYS = frozenset({
    "file", "line", "column", "service", "parameter", "witness", "witness_within", "message_contains",
    "severity", "status",
})
#: Keys of `base:` and of `baseline_from:`.
BASE_KEYS = frozenset({"main_cf", "master_cf", "files"})
BASELINE_FROM_KEYS = frozenset({"main_cf", "master_cf", "files", "args"})
BASE_TAG = "base"
BASELINE_FILE = ".pfcheck-baseline.json"
GIT_TIMEOUT = 60


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


def _case_files(data: Mapping[str, Any]) -> dict[str, Any]:
    """`files` plus main_cf/master_cf as main.cf/master.cf."""
    files: dict[str, Any] = dict(data.get("files") or {})
    if "main_cf" in data:
        files.setdefault("main.cf", data["main_cf"])
    if "master_cf" in data:
        files.setdefault("master.cf", data["master_cf"])
    return files


def _write_files(files: Mapping[str, Any], directory: Path, encoding: str) -> None:
    for name, content in files.items():
        _write(directory / name, content, encoding)


def _clear(directory: Path, keep: tuple[str, ...] = ()) -> None:
    """Remove everything in `directory` but `keep` (the next state is written from scratch)."""
    for entry in directory.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def materialise(case: RuleCase, directory: Path) -> Optional[Path]:
    """Write the case's files into `directory`; return the policy file written, if any."""
    data = case.data
    encoding = str(data.get("encoding", "utf-8"))
    files = _case_files(data)
    if not any(name == "main.cf" or name.endswith("/main.cf") for name in files):
        raise ValueError(f"{case.id}: no main_cf (nor a main.cf in `files`)")
    _write_files(files, directory, encoding)
    policy = data.get("policy")
    if policy is None:
        return None
    policy_path = directory / ".pfcheck.yaml"
    if isinstance(policy, str):
        policy_path.write_text(policy, encoding="utf-8")  # as written: its lines are the case's
        return policy_path
    document = {"version": 1, **policy}
    with policy_path.open("w", encoding="utf-8") as handle:
        _yaml().dump(document, handle)
    return policy_path


def git_environment() -> dict[str, str]:
    """The environment git runs in for base cases: nothing of an outer hook (GIT_DIR ...), no
    user or system configuration. The lint API runs git with os.environ: the test sets it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


def _git(directory: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=directory, env=git_environment(), capture_output=True,
                            text=True, timeout=GIT_TIMEOUT, check=False)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


def commit_base(case: RuleCase, directory: Path) -> None:
    """A git repository in `directory` whose commit tagged `base` holds the case's `base` files;
    the work tree is left empty but for .git."""
    base = case.data["base"]
    _git(directory, "init", "-q", "-b", "main")
    for key, value in (("user.name", "Postmaster"), ("user.email", "postmaster@example.net"),
                       ("commit.gpgsign", "false"), ("tag.gpgsign", "false")):
        _git(directory, "config", key, value)
    _write_files(_case_files(base), directory, str(case.data.get("encoding", "utf-8")))
    _git(directory, "add", "-A")
    _git(directory, "commit", "-q", "--allow-empty", "-m", "base")
    _git(directory, "tag", BASE_TAG)
    _clear(directory, keep=(".git",))


def _policies(policy_path: Optional[Path]) -> Any:
    resolver = PolicyResolver(RULES, policy_path=policy_path)
    if policy_path is None:
        return lambda _directory: resolver.load(None)  # the built-in policy
    return resolver.policy_for


def write_baseline_from(case: RuleCase, directory: Path) -> Path:
    """Lint the `baseline_from` config with --write-baseline; leave only the baseline file."""
    source = case.data["baseline_from"]
    _write_files(_case_files(source), directory, str(case.data.get("encoding", "utf-8")))
    baseline = directory / BASELINE_FILE
    args = [str(a) for a in source.get("args") or ["."]]
    if _case_files(source):
        lint(args, LintOptions(write_baseline=Path(BASELINE_FILE)), _policies(None))
    else:
        baseline.write_text('{"version": 1, "findings": []}\n', encoding="utf-8")
    assert baseline.is_file(), f"{case.id}: no baseline written"
    _clear(directory, keep=(BASELINE_FILE,))
    return baseline


def run_case(case: RuleCase, directory: Path) -> list[Finding]:
    """Lint the case directory (cwd must be `directory`, so paths are relative). A base case
    needs git_environment() as os.environ."""
    data = case.data
    baseline = None
    if "base" in data:
        commit_base(case, directory)
    if "baseline_from" in data:
        baseline = write_baseline_from(case, directory)
    policy_path = materialise(case, directory)
    today = data.get("today")
    if isinstance(today, str):
        today = datetime.date.fromisoformat(today)
    options = LintOptions(
        policy_path=policy_path, postfix_version=data.get("postfix_version"), today=today,
        base=BASE_TAG if "base" in data else None,
        baseline=Path(BASELINE_FILE) if baseline is not None else None,
    )
    args = [str(a) for a in data.get("args") or ["."]]
    return lint(args, options, _policies(policy_path)).findings


# --------------------------------------------------------------------------------------------
# Comparing findings with expectations


def _matches(expected: Mapping[str, Any], finding: Finding) -> bool:
    if Path(finding.path).as_posix() != str(expected["file"]) or finding.line != expected["line"]:
        return False
    for key in ("column", "service", "parameter", "status"):
        if key in expected and getattr(finding, key) != expected[key]:
            return False
    if "severity" in expected and str(finding.severity) != str(expected["severity"]):
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


def _case_params(cases: list[RuleCase]) -> list[Any]:
    """One param per case; a case with `xfail` is a strict xfail (XPASS fails the run)."""
    return [
        pytest.param(case, id=case.id, marks=pytest.mark.xfail(strict=True, reason=str(case.data["xfail"])))
        if case.data.get("xfail") else pytest.param(case, id=case.id)
        for case in cases
    ]


@pytest.mark.parametrize("case", _case_params(ALL_CASES))
def test_rule_case(case: RuleCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if "base" in case.data:
        if shutil.which("git") is None:
            pytest.skip("git is not installed")
        for key in [key for key in os.environ if key.startswith("GIT_")]:
            monkeypatch.delenv(key)  # an outer hook's GIT_DIR would point git elsewhere
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
        monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
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
            for key, allowed in (("base", BASE_KEYS), ("baseline_from", BASELINE_FROM_KEYS)):
                if key in case.data:
                    assert isinstance(case.data[key], dict), f"{case.id}: `{key}` is a mapping"
                    assert not set(case.data[key]) - allowed, f"{case.id}: unknown keys in `{key}`"
            if "today" in case.data:
                assert isinstance(case.data["today"], (datetime.date, str)), f"{case.id}: `today` is a date"
                datetime.date.fromisoformat(str(case.data["today"]))
            for code, violations in case.expected().items():
                assert code in RULES, f"{case.id}: unknown rule {code} in `also`"
                for violation in violations:
                    assert {"file", "line"} <= set(violation), f"{case.id}: {violation} needs file and line"
                    assert not set(violation) - VIOLATION_KEYS, f"{case.id}: unknown keys in {violation}"
                    assert violation.get("severity", "info") in ("error", "warning", "info"), violation
                    if "status" in violation:
                        assert "base" in case.data, f"{case.id}: `status` needs a `base`"
                        assert violation["status"] in ("new", "existing"), violation


@pytest.mark.parametrize("code", REQUIRED_RULES)
def test_every_rule_has_enough_cases(code: str) -> None:
    cases = [case for case in ALL_CASES if case.rule == code]
    assert len(cases) >= MIN_CASES, f"{code}: {len(cases)} cases in {CASES_DIR}, want at least {MIN_CASES}"
    assert any(case.data["violations"] for case in cases), f"{code}: no case expects a finding"
    assert any(not case.data["violations"] for case in cases), f"{code}: no clean case"


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_registered_rule_has_a_case_file(code: str) -> None:
    """Every rule of the registry: a case file with a case that expects a finding of it and a
    clean case (no finding of it)."""
    files = [case_file for case_file in CASE_FILES if case_file.rule == code]
    assert files, f"{code}: no {CASES_DIR / (code + '.yaml')}"
    cases = [case for case in files[0].cases if not case.data.get("xfail")]
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
