"""`pfcheck --fix` and `--diff` (pfcheck/engine/fixing.py), run as a user runs them.

Cases: tests/cli/fix_cases/*.yaml (files before, the files --fix must write, refusals). Each is
judged in a real git repository in a temp dir through `pfcheck.cli.main`, and for each:
--diff writes nothing and its output, applied with `git apply` and with `patch -p1` to a copy,
gives exactly what --fix writes; a second --fix changes nothing; a refused fix leaves every
file byte for byte and says why on stderr.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from pfcheck.cli import main

CASES_DIR = Path(__file__).resolve().parent / "fix_cases"
CASES = [case for path in sorted(CASES_DIR.glob("*.yaml")) for case in YAML(typ="safe").load(path.read_text())]


def _write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (directory / name).write_bytes(text.encode("utf-8"))


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--policy", "builtin", "--select", "PF000,PF101", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "host").mkdir()
    return tmp_path


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_fix_case(case: dict[str, Any], repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    host = repo / "host"
    _write(host, case["files"])
    os.chmod(host / "main.cf", 0o640)
    before = _snapshot(host)
    code, diff, err = _run(capsys, "--diff", "host")
    assert _snapshot(host) == before, "--diff wrote a file"
    expected = dict(before)
    expected.update({name: text.encode("utf-8") for name, text in case.get("after", {}).items()})
    for words in case.get("refused", []):
        assert words in err, err
    assert code == (1 if expected != before else 0), err
    assert bool(diff) == (expected != before)
    # The diff applies with both tools to give exactly what --fix writes.
    for tool in (["git", "apply"], ["patch", "-s", "-p1"]):
        if shutil.which(tool[0]) is None:
            pytest.skip(f"{tool[0]} not installed")
        copy = repo.parent / f"{repo.name}-{tool[0]}"
        shutil.copytree(repo / "host", copy / "host")
        if diff:
            subprocess.run(tool, input=diff.encode("utf-8"), cwd=copy, check=True)
        assert _snapshot(copy / "host") == expected, tool
    code, out, err = _run(capsys, "--fix", "host")
    assert _snapshot(host) == expected
    assert stat.S_IMODE(os.stat(host / "main.cf").st_mode) == 0o640
    for words in case.get("refused", []):
        assert words in err, err
    if expected != before:
        assert "[*]" not in out.replace("PF000", "") or case.get("refused"), out
    # Idempotent: a second --fix writes nothing and the diff is empty.
    code, diff, _ = _run(capsys, "--diff", "host")
    assert (code, diff) == (0, "")
    _run(capsys, "--fix", "host")
    assert _snapshot(host) == expected


def test_fix_reports_what_remains_with_its_exit_code(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(repo / "host", {"main.cf": "compatibility_level = 3.6\ndisable_vrfy_command = no\n"})
    code, out, err = _run(capsys, "host")
    assert code == 1 and "PF101 vrfy-enabled: [*] " in out and "1 fixable with --fix" in out
    code, out, err = _run(capsys, "--fix", "host")
    assert code == 0, out
    assert "fixed 1 finding in 1 file (host/main.cf)" in err
    assert "PF101" not in out and "fixable" not in out


def test_nothing_fixable_touches_nothing(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(repo / "host", {"main.cf": "compatibility_level = 3.6\ndisable_vrfy_command = yes\n"})
    before = os.stat(repo / "host" / "main.cf")
    code, diff, err = _run(capsys, "--diff", "host")
    assert (code, diff) == (0, "")
    _run(capsys, "--fix", "host")
    after = os.stat(repo / "host" / "main.cf")
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)


def test_never_writes_outside_the_named_paths(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Naming master.cf judges the directory, but main.cf was not named: its fix is refused."""
    _write(repo / "host", {"main.cf": "compatibility_level = 3.6\ndisable_vrfy_command = no\n",
                           "master.cf": "smtp inet n - y - - smtpd\n"})
    before = _snapshot(repo / "host")
    code, out, err = _run(capsys, "--fix", "host/master.cf")
    assert _snapshot(repo / "host") == before
    assert "not under the paths named" in err and code == 1


def test_symlinked_main_cf_is_not_written(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(repo, {"shared.cf": "compatibility_level = 3.6\ndisable_vrfy_command = no\n"})
    os.symlink("../shared.cf", repo / "host" / "main.cf")
    before = (repo / "shared.cf").read_bytes()
    code, out, err = _run(capsys, "--fix", ".")
    assert (repo / "shared.cf").read_bytes() == before
    assert "symlink" in err


@pytest.mark.parametrize("other", ["--base=HEAD", "--write-baseline=b.json"])
@pytest.mark.parametrize("mode", ["--fix", "--diff"])
def test_fix_refuses_base_and_write_baseline(mode: str, other: str, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(repo / "host", {"main.cf": "disable_vrfy_command = no\n"})
    code, _, err = _run(capsys, mode, other, "host")
    assert code == 2 and "cannot be combined" in err
    assert not (repo / "b.json").exists()


def test_fix_and_diff_exclude_each_other(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--fix", "--diff", "host")
    assert code == 2 and "not allowed with" in err


def test_json_marks_fixable(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    _write(repo / "host", {"main.cf": "compatibility_level = 3.6\ndisable_vrfy_command = no\n"})
    _, out, _ = _run(capsys, "--format", "json", "host")
    document = json.loads(out)
    assert [f["fixable"] for f in document["findings"] if f["code"] == "PF101"] == [True]
    assert document["summary"]["fixable"] == 1
