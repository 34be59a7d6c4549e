"""The conventions users know from ruff: -V, --select/--ignore, --exit-zero, --statistics,
--quiet, --color with NO_COLOR/FORCE_COLOR, `rules --format json`, global options before a
subcommand, relative paths in policy errors, `show` on a directory that is no config."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Optional, Sequence

import pytest

from tests.cli.test_cli import ROOT, SAFE_MAIN, SUMMARY_LINE, TEXT_LINE, assert_no_traceback, write

OPEN = SAFE_MAIN.replace("disable_vrfy_command = yes\n", "").replace("127.0.0.0/8", "0.0.0.0/0")


def run(args: Sequence[str], cwd: Path, env: Optional[Mapping[str, str]] = None) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8",
                   "HOME": str(cwd), **(env or {})}
    return subprocess.run([sys.executable, "-m", "pfcheck", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    write(tmp_path / "mx", OPEN)  # PF101 vrfy-enabled, PF201 mynetworks-outside-policy, PF301 open-relay
    return tmp_path


def _codes(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {match.group("code") for line in result.stdout.splitlines() if (match := TEXT_LINE.match(line))}


def test_version_short_and_long(tmp_path: Path) -> None:
    from pfcheck import __version__

    for flag in ("-V", "--version"):
        result = run([flag], tmp_path)
        assert result.returncode == 0 and result.stdout == f"pfcheck {__version__}\n"


def test_version_lives_in_one_place() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject and 'attr = "pfcheck.__version__"' in pyproject
    assert '\nversion = "' not in pyproject  # no second copy of the number
    from importlib.metadata import version

    from pfcheck import __version__

    assert version("pfcheck") == __version__


def test_select_and_ignore(repo: Path) -> None:
    everything = _codes(run(["mx"], repo))
    assert {"PF101", "PF201", "PF301"} <= everything
    assert _codes(run(["--select", "PF1", "mx"], repo)) == {"PF101"}
    assert _codes(run(["--select", "vrfy-enabled,PF30", "mx"], repo)) == {"PF101", "PF301"}
    assert _codes(run(["--select", "PF3", "--select", "PF1", "--ignore", "PF301", "mx"], repo)) == {"PF101"}
    assert _codes(run(["--ignore", "PF2", "mx"], repo)) == everything - {"PF201"}
    # a rule off in the built-in policy runs when selected
    assert "PF410" not in everything and "PF410" in _codes(run(["--select", "PF410", "mx"], repo))
    # what Postfix refuses is never hidden by a selection
    write(repo / "broken", SAFE_MAIN + "disable_vrfy_command = yes # no\n")
    assert _codes(run(["--select", "PF301", "broken"], repo)) == {"PF000"}
    result = run(["--select", "PF99", "mx"], repo)
    assert result.returncode == 2 and "--select: 'PF99' matches no rule" in result.stderr
    assert_no_traceback(result)


def test_exit_zero_keeps_the_report(repo: Path) -> None:
    failing = run(["mx"], repo)
    zero = run(["--exit-zero", "mx"], repo)
    assert failing.returncode == 1 and zero.returncode == 0 and zero.stdout == failing.stdout
    assert run(["--exit-zero", "--policy", "missing.yaml", "mx"], repo).returncode == 2


def test_statistics_and_quiet(repo: Path) -> None:
    statistics = run(["--statistics", "mx"], repo)
    rows = statistics.stdout.splitlines()
    assert SUMMARY_LINE.match(rows[-1]) and statistics.returncode == 1
    counted = {row.split()[1]: int(row.split()[0]) for row in rows[:-1]}
    plain = run(["mx"], repo).stdout.splitlines()
    assert counted == {code: sum(f" {code} " in line for line in plain) for code in counted}
    assert any("failing" in row for row in rows[:-1])
    quiet = run(["-q", "mx"], repo)
    assert quiet.stdout.splitlines() == plain[:-1] and quiet.returncode == 1
    write(repo / "clean")
    assert run(["-q", "clean"], repo).stdout == ""


def test_colour(repo: Path) -> None:
    escape = "\x1b["
    assert escape not in run(["mx"], repo).stdout  # not a terminal
    assert escape in run(["--color", "always", "mx"], repo).stdout
    assert escape in run(["mx"], repo, {"FORCE_COLOR": "1"}).stdout
    assert escape not in run(["mx"], repo, {"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    assert escape not in run(["--color", "never", "mx"], repo, {"FORCE_COLOR": "1"}).stdout
    assert escape in run(["--color", "always", "mx"], repo, {"NO_COLOR": "1"}).stdout
    # never in files or in the machine formats
    out = repo / "out.txt"
    run(["--color", "always", "--format", "text", "--output-file", str(out), "mx"], repo)
    assert escape not in out.read_text(encoding="utf-8")
    assert escape not in run(["--color", "always", "--format", "json", "mx"], repo).stdout


def test_rules_as_json(tmp_path: Path) -> None:
    from pfcheck.rules import RULES

    document = json.loads(run(["rules", "--format", "json"], tmp_path).stdout)
    assert [rule["code"] for rule in document] == list(RULES)
    by_code = {rule["code"]: rule for rule in document}
    assert by_code["PF301"]["name"] == "open-relay" and by_code["PF301"]["default_severity"] == "error"
    assert by_code["PF410"]["builtin_severity"] == "off" and by_code["PF410"]["default_severity"] == "warning"
    assert "allowed" in by_code["PF201"]["options"]
    assert run(["rules", "extra"], tmp_path).returncode == 2


def test_global_options_before_the_subcommand(repo: Path) -> None:
    before = run(["--policy", "builtin", "show", "mx"], repo)
    after = run(["show", "mx", "--policy", "builtin"], repo)
    assert before.returncode == after.returncode == 0 and before.stdout == after.stdout
    assert "smtp/inet" in before.stdout
    # a path named like a subcommand after another path is a path
    write(repo / "rules")
    assert run(["mx", "rules"], repo).returncode == 1


def test_show_on_a_directory_without_main_cf(repo: Path) -> None:
    (repo / "empty").mkdir()
    result = run(["show", "empty"], repo)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == "pfcheck: empty: no main.cf here: not a Postfix config directory"


def test_policy_errors_name_paths_as_findings_do(repo: Path) -> None:
    (repo / ".pfcheck.yaml").write_text("version: 1\nrules: {PF999: {}}\n", encoding="utf-8")
    result = run(["mx"], repo)
    assert result.returncode == 2
    assert result.stderr.startswith(".pfcheck.yaml:2:9: unknown rule"), result.stderr
    nested = run(["."], repo / "mx")
    assert nested.stderr.startswith("../.pfcheck.yaml:2:9:") or nested.stderr.startswith(str(repo)), nested.stderr
