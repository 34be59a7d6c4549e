"""The CI examples (examples/ci/*.yml) are valid and their pfcheck commands work as written.

Static checks: both files parse as YAML (ruamel, as GitHub and GitLab read YAML 1.2), carry
what makes them work (GitHub: full history, SARIF upload even when pfcheck fails, permission
to upload; GitLab: merge-request pipelines, Code Quality and JUnit reports kept on failure),
every pfcheck flag they use is one `python -m pfcheck --help` lists, and the files the CI
uploads are the ones the command writes.

Dynamic checks: each example's script runs unchanged (but for the `${{ ... }}` expression GitHub
fills in) in a clone of a config repo made from examples/hosts and examples/.pfcheck.yaml,
with an `origin` holding the target branch and a feature branch that widens mynetworks. The
`pfcheck` it calls is this checkout. The files it produces are then read as GitHub and GitLab
would: SARIF against the OASIS 2.1.0 schema (/work/shared/schemas, skipped when absent), the
Code Quality array with GitLab's required fields, JUnit with xml.etree.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest
from ruamel.yaml import YAML

from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"
GITHUB_WORKFLOW = EXAMPLES / "ci" / "github-actions.yml"
GITLAB_CI = EXAMPLES / "ci" / "gitlab-ci.yml"
SARIF_SCHEMA = Path(os.environ.get("PFCHECK_SARIF_SCHEMA", ROOT.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"))
TIMEOUT = 120

TARGET_BRANCH = "main"
MX1_MAIN_CF = "hosts/mx1/main.cf"
MX1_MYNETWORKS = "mynetworks = 127.0.0.0/8 [::1]/128 10.20.0.0/16"
GITLAB_SEVERITIES = {"info", "minor", "major", "critical", "blocker"}


def _load(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def _github() -> dict[str, Any]:
    return _load(GITHUB_WORKFLOW)


def _gitlab() -> dict[str, Any]:
    return _load(GITLAB_CI)


def _github_steps() -> list[dict[str, Any]]:
    jobs = _github()["jobs"]
    assert len(jobs) == 1
    return list(next(iter(jobs.values()))["steps"])


def _github_pfcheck_step() -> dict[str, Any]:
    steps = [step for step in _github_steps() if _pfcheck_lines(step.get("run", ""))]
    assert len(steps) == 1, steps
    return steps[0]


def _gitlab_job() -> dict[str, Any]:
    return _gitlab()["pfcheck"]


def _pfcheck_lines(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines() if line.strip().startswith("pfcheck ")]


GITLAB_MR_TEST = 'if [ "$CI_PIPELINE_SOURCE" = "merge_request_event" ]; then'


def _pfcheck_commands() -> dict[str, list[str]]:
    """Every pfcheck command line of both examples, as argument lists.

    GitLab's script has two paths: merge requests (`gitlab`, with --base) and the default
    branch (`gitlab-default`, the whole repository), in that order of its if/else."""
    github = _pfcheck_lines(_github_pfcheck_step()["run"])
    gitlab = [line for item in _gitlab_job()["script"] for line in _pfcheck_lines(item)]
    assert len(github) == 1 and len(gitlab) == 2, (github, gitlab)
    assert GITLAB_MR_TEST in "\n".join(_gitlab_job()["script"])
    return {"github": shlex.split(github[0]), "gitlab": shlex.split(gitlab[0]),
            "gitlab-default": shlex.split(gitlab[1])}


def _outputs(argv: list[str]) -> dict[str, Optional[str]]:
    """format -> output file (None: stdout), read the way pfcheck pairs --output-file with the
    --format just before it."""
    outputs: list[list[Optional[str]]] = []
    tokens = iter(argv)
    for token in tokens:
        if token == "--format":
            outputs.append([next(tokens), None])
        elif token == "--output-file":
            assert outputs and outputs[-1][1] is None, f"--output-file without its own --format in {argv}"
            outputs[-1][1] = next(tokens)
    return {str(name): path for name, path in outputs}


# --------------------------------------------------------------------------------------
# Static checks


def test_github_workflow_has_the_essentials() -> None:
    workflow = _github()
    assert "pull_request" in workflow["on"]  # ruamel reads YAML 1.2: "on" stays a string
    assert workflow["permissions"]["security-events"] == "write"
    steps = _github_steps()
    checkout = next(step for step in steps if str(step.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # --base needs the target branch's history
    upload = next(step for step in steps if str(step.get("uses", "")).startswith("github/codeql-action/upload-sarif@"))
    assert upload["if"] == "always()"  # pfcheck exits 1 exactly when there is something to show
    assert steps.index(upload) > steps.index(_github_pfcheck_step())
    outputs = _outputs(_pfcheck_commands()["github"])
    assert outputs["sarif"] == upload["with"]["sarif_file"]
    assert outputs["github"] is None  # annotations are workflow commands on stdout
    # The HTML fleet report is kept as an artifact, also when pfcheck fails the job.
    artifact = next(step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact@"))
    assert artifact["if"] == "always()" and steps.index(artifact) > steps.index(_github_pfcheck_step())
    assert outputs["html"] == artifact["with"]["path"]
    assert "--base" in _pfcheck_commands()["github"]


def test_gitlab_ci_has_the_essentials() -> None:
    job = _gitlab_job()
    conditions = [rule.get("if", "") for rule in job["rules"]]
    # Merge requests, and the default branch: the Code Quality widget compares the merge
    # request's report with the target branch's latest one, so the target needs reports too.
    assert len(conditions) == 2, conditions
    assert re.fullmatch(r'\$CI_PIPELINE_SOURCE\s*==\s*"merge_request_event"', conditions[0]), conditions
    assert re.fullmatch(r"\$CI_COMMIT_BRANCH\s*==\s*\$CI_DEFAULT_BRANCH", conditions[1]), conditions
    assert all(set(rule) == {"if"} for rule in job["rules"]), job["rules"]  # no `when: never`, no manual
    assert str(job["variables"]["GIT_DEPTH"]) == "0"
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"  # keep the reports when pfcheck fails the job
    commands = _pfcheck_commands()
    for path in ("gitlab", "gitlab-default"):  # both paths write the reports the job keeps
        outputs = _outputs(commands[path])
        assert outputs["gitlab"] == artifacts["reports"]["codequality"], path
        assert outputs["junit"] == artifacts["reports"]["junit"], path
        assert [outputs["html"]] == artifacts["paths"], path  # the HTML page, a plain artifact
        assert outputs["text"] is None, path  # the job log
    assert "--base" in commands["gitlab"]
    # The default branch judges the whole repository: nothing to compare with.
    assert "--base" not in commands["gitlab-default"] and "--new-only" not in commands["gitlab-default"]
    assert commands["gitlab-default"] == [t for t in commands["gitlab"] if t not in ("--base", "$base")]


def _help_text() -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    result = subprocess.run([sys.executable, "-m", "pfcheck", "--help"], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("example", ["github", "gitlab", "gitlab-default"])
def test_example_commands_use_only_listed_flags(example: str) -> None:
    help_text = _help_text()
    listed = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", help_text))
    formats = set(re.search(r"--format \{([a-z,]+)\}", help_text).group(1).split(","))  # type: ignore[union-attr]
    argv = _pfcheck_commands()[example]
    assert argv[0] == "pfcheck"
    used = {token.split("=", 1)[0] for token in argv if token.startswith("--")}
    assert used and used <= listed, used - listed
    assert set(_outputs(argv)) <= formats
    # At most one format goes to stdout (pfcheck refuses more).
    assert sum(1 for path in _outputs(argv).values() if path is None) <= 1


# --------------------------------------------------------------------------------------
# Running the examples' scripts


@dataclass
class CiRun:
    workspace: Path
    base: str
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                            check=False)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


def _environment(tmp: Path) -> dict[str, str]:
    """A CI runner's shell: `pfcheck` on PATH runs this checkout; git without user config."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("GIT_", "PFCHECK_", "PRE_COMMIT", "CI_", "GITHUB_"))}
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "pfcheck"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m pfcheck "$@"\n', encoding="utf-8")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


def _workspace(tmp: Path, env: dict[str, str]) -> tuple[Path, str]:
    """origin (bare) with the examples on main; a clone on a feature branch that widens mx1.

    Returns the clone and the commit the feature branched from."""
    seed = tmp / "seed"
    seed.mkdir()
    shutil.copytree(EXAMPLES / "hosts", seed / "hosts")
    shutil.copy2(EXAMPLES / ".pfcheck.yaml", seed / ".pfcheck.yaml")
    _git(seed, env, "init", "-q", "-b", TARGET_BRANCH)
    for key, value in (("user.name", "Postmaster"), ("user.email", "postmaster@example.net"), ("commit.gpgsign", "false")):
        _git(seed, env, "config", key, value)
    _git(seed, env, "add", "-A")
    _git(seed, env, "commit", "-q", "-m", "configs")
    base = _git(seed, env, "rev-parse", "HEAD").strip()
    origin = tmp / "origin.git"
    _git(tmp, env, "clone", "-q", "--bare", str(seed), str(origin))

    workspace = tmp / "workspace"
    _git(tmp, env, "clone", "-q", str(origin), str(workspace))
    for key, value in (("user.name", "Dev"), ("user.email", "dev@example.net"), ("commit.gpgsign", "false")):
        _git(workspace, env, "config", key, value)
    _git(workspace, env, "checkout", "-q", "-b", "feature")
    main_cf = workspace / MX1_MAIN_CF
    text = main_cf.read_text(encoding="utf-8")
    assert MX1_MYNETWORKS in text, "examples/hosts/mx1/main.cf changed: update this test"
    main_cf.write_text(text.replace(MX1_MYNETWORKS, MX1_MYNETWORKS + " 192.168.0.0/16"), encoding="utf-8")
    _git(workspace, env, "commit", "-q", "-am", "mx1: trust the office")
    return workspace, base


def _run_script(tmp: Path, script: str, extra_env: dict[str, str], checkout: Optional[str] = None) -> CiRun:
    """Run `script` in the workspace, on the feature branch or, with `checkout`, on that branch
    (as a branch pipeline of GitLab checks it out)."""
    env = _environment(tmp)
    workspace, base = _workspace(tmp, env)
    if checkout is not None:
        _git(workspace, env, "checkout", "-q", checkout)
    env.update(extra_env)
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=workspace,
                            env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    return CiRun(workspace, base, result.returncode, result.stdout, result.stderr)


def _require_tools() -> None:
    for tool in ("git", "bash"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def _check_the_change_is_reported(findings: list[tuple[str, str]]) -> None:
    """(rule, path) pairs: the feature's widening of mx1 and the old legacy-gw problems."""
    assert ("PF203", MX1_MAIN_CF) in findings, findings
    assert ("PF301", "hosts/legacy-gw/main.cf") in findings, findings


def _check_html_artifact(page: Path) -> None:
    """The HTML report the job keeps: legacy-gw's open listener, and new findings marked."""
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert '<tr data-host="hosts/legacy-gw" data-relay="open">' in text, text[:2000]
    assert 'data-count="status-new"><b>0<' not in text  # the widening of mx1 is new


def test_github_example_runs_and_its_sarif_validates(tmp_path: Path) -> None:
    _require_tools()
    step = _github_pfcheck_step()
    # The one expression GitHub substitutes before the shell sees the script.
    script = step["run"].replace("${{ github.base_ref }}", TARGET_BRANCH)
    assert "${{" not in script
    run = _run_script(tmp_path, script, {"GITHUB_ACTIONS": "true"})
    assert run.returncode == 1, str(run)  # legacy-gw is unsafe on purpose, mx1 widened
    assert "Traceback" not in run.stderr

    # Annotations on stdout: workflow commands, one per finding, the widening among them.
    assert re.search(rf"^::error file={re.escape(MX1_MAIN_CF)},line=\d+,.*title=PF203 mynetworks-widened::", run.stdout, flags=re.M), str(run)

    upload = next(step for step in _github_steps() if str(step.get("uses", "")).startswith("github/codeql-action/upload-sarif@"))
    sarif_path = run.workspace / upload["with"]["sarif_file"]
    sarif = json.loads(sarif_path.read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    located = [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results]
    _check_the_change_is_reported(located)
    for _rule, uri in located:  # repo-relative URIs that exist: what code scanning can place
        assert not uri.startswith(("/", "file:")) and (run.workspace / uri).is_file(), uri
    assert all(r["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1 for r in results)
    assert run.base in next(r["message"]["text"] for r in results if r["ruleId"] == "PF203")
    # --base marks what the pull request brought (new) and what it inherited (unchanged).
    states = {(rule, uri): r.get("baselineState") for (rule, uri), r in zip(located, results)}
    assert states[("PF203", MX1_MAIN_CF)] == "new"
    assert states[("PF301", "hosts/legacy-gw/main.cf")] == "unchanged"
    _check_html_artifact(run.workspace / _outputs(_pfcheck_commands()["github"])["html"])

    if not SARIF_SCHEMA.is_file():
        pytest.skip(f"SARIF schema not present at {SARIF_SCHEMA} (the run itself was checked)")
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_class(schema).iter_errors(sarif), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def test_gitlab_example_runs_and_its_reports_parse(tmp_path: Path) -> None:
    _require_tools()
    job = _gitlab_job()
    script = "\n".join(job["script"])
    run = _run_script(tmp_path, script, {"CI_PIPELINE_SOURCE": "merge_request_event",
                                         "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": TARGET_BRANCH,
                                         "CI_COMMIT_BRANCH": "", "CI_DEFAULT_BRANCH": TARGET_BRANCH})
    assert run.returncode == 1, str(run)
    assert "Traceback" not in run.stderr
    # The text format on stdout, for the job log.
    assert re.search(rf"^{re.escape(MX1_MAIN_CF)}:\d+:\d+: PF203 mynetworks-widened:", run.stdout, flags=re.M), str(run)

    reports = job["artifacts"]["reports"]
    quality = json.loads((run.workspace / reports["codequality"]).read_bytes().decode("utf-8"))
    assert isinstance(quality, list) and quality
    for issue in quality:
        assert isinstance(issue["description"], str) and issue["description"]
        assert isinstance(issue["check_name"], str) and issue["check_name"]
        assert isinstance(issue["fingerprint"], str) and issue["fingerprint"]
        assert issue["severity"] in GITLAB_SEVERITIES
        path = issue["location"]["path"]
        assert not path.startswith("/") and (run.workspace / path).is_file(), path
        assert isinstance(issue["location"]["lines"]["begin"], int) and issue["location"]["lines"]["begin"] >= 1
    assert len({issue["fingerprint"] for issue in quality}) == len(quality)  # duplicates would collapse
    _check_the_change_is_reported([(issue["check_name"], issue["location"]["path"]) for issue in quality])
    assert not (run.workspace / reports["codequality"]).read_bytes().startswith(b"\xef\xbb\xbf")  # no BOM

    _check_html_artifact(run.workspace / job["artifacts"]["paths"][0])
    junit = ET.parse(run.workspace / reports["junit"]).getroot()
    assert junit.tag in ("testsuite", "testsuites")
    cases = list(junit.iter("testcase"))
    failed = [case for case in cases if case.find("failure") is not None]
    # Errors fail; legacy-gw's warnings and notes (PF701, PF702, PF704) do not.
    assert len(failed) == sum(issue["severity"] in ("critical", "major", "blocker") for issue in quality)
    assert any(case.get("classname") == MX1_MAIN_CF and "PF203" in (case.get("name") or "") for case in failed), \
        [(case.get("classname"), case.get("name")) for case in failed]
    suites = [junit] if junit.tag == "testsuite" else list(junit.iter("testsuite"))
    assert sum(int(suite.get("failures", "0")) for suite in suites) == len(failed)


def test_gitlab_example_on_the_default_branch_reports_the_whole_repository(tmp_path: Path) -> None:
    """A push pipeline on the default branch: no merge request variables, no --base. The Code
    Quality report it keeps is the one GitLab compares the next merge requests with."""
    _require_tools()
    job = _gitlab_job()
    script = "\n".join(job["script"])
    run = _run_script(tmp_path, script, {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": TARGET_BRANCH,
                                         "CI_DEFAULT_BRANCH": TARGET_BRANCH}, checkout=TARGET_BRANCH)
    assert run.returncode == 1, str(run)  # legacy-gw is unsafe on purpose
    assert "Traceback" not in run.stderr
    # Judged without a base: no findings marked new/existing, no comparison findings.
    assert re.search(r"^hosts/legacy-gw/main\.cf:\d+:\d+: PF301 ", run.stdout, flags=re.M), str(run)
    assert " (new)" not in run.stdout and " (existing)" not in run.stdout, str(run)
    assert "PF203" not in run.stdout and "PF304" not in run.stdout, str(run)

    reports = job["artifacts"]["reports"]
    quality = json.loads((run.workspace / reports["codequality"]).read_bytes().decode("utf-8"))
    located = [(issue["check_name"], issue["location"]["path"]) for issue in quality]
    assert ("PF301", "hosts/legacy-gw/main.cf") in located, located
    assert all(rule != "PF203" for rule, _path in located), located
    junit = ET.parse(run.workspace / reports["junit"]).getroot()
    assert any(case.find("failure") is not None for case in junit.iter("testcase"))

    # The fingerprints on the default branch are those the merge request's report carries for
    # the same findings: what lets the widget tell new findings from old ones.
    (tmp_path / "mr").mkdir()
    mr = _run_script(tmp_path / "mr", script, {"CI_PIPELINE_SOURCE": "merge_request_event",
                                                "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": TARGET_BRANCH})
    assert mr.returncode == 1, str(mr)
    mr_quality = json.loads((mr.workspace / reports["codequality"]).read_bytes().decode("utf-8"))
    default_prints = {issue["fingerprint"] for issue in quality}
    mr_only = [issue["check_name"] for issue in mr_quality if issue["fingerprint"] not in default_prints]
    assert "PF203" in mr_only, mr_only  # the merge request's widening: new in the widget
    legacy = {issue["fingerprint"] for issue in quality if issue["location"]["path"].startswith("hosts/legacy-gw/")}
    assert legacy <= {issue["fingerprint"] for issue in mr_quality}  # old findings: unchanged in the widget
