"""The pre-commit hook's `--base HEAD`, run by real pre-commit (`pre-commit try-repo`).

The `pfcheck` hook of `.pre-commit-hooks.yaml` passes `--base HEAD`: the commit being prepared
is compared with the last one. A staged change that adds `192.168.0.0/16` to `mynetworks`
fails with PF203 although the policy allows that network; a staged narrowing passes.
(tests/cli/test_hook.py covers the hook's file selection, VRFY and policy errors.)

pre-commit installs pfcheck from a snapshot of this checkout (tracked and untracked, not
ignored files of tests.conftest.ROOT, committed in a temp repo): try-repo on a dirty checkout
would install its own shadow commit of the tracked files only, missing modules not added yet.

try-repo builds the hook environment in a throwaway store (pre-commit's `try_repo` uses
`Store(tempdir)`, whatever PRE_COMMIT_HOME says), so each call builds it again (virtualenv plus
`pip install` of the snapshot, 10-20 s). The module therefore makes two calls only, in two
tests that `-n 2` runs in parallel; PRE_COMMIT_HOME still points at a private directory shared
by the module so that nothing lands in the user's cache.
"""
from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import pytest

from tests.conftest import ROOT
from tests.engine.test_base import MASTER_CF, MX_MAIN_CF, MX_MYNETWORKS, MX_MYNETWORKS_LINE, POLICY

pytestmark = pytest.mark.slow

# virtualenv plus pip install of the project from the configured index / wheel directories.
HOOK_TIMEOUT = 600

# The same config repo as tests/engine/test_base.py, through the hook this time.
MAIN_CF, MYNETWORKS, MYNETWORKS_LINE = MX_MAIN_CF, MX_MYNETWORKS, MX_MYNETWORKS_LINE
HOOK_NAME = "pfcheck (Postfix main.cf"


def _environment(pre_commit_home: Path) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("GIT_", "PRE_COMMIT", "PFCHECK_")) and key not in ("GITHUB_ACTIONS", "NO_COLOR")
    }
    env["PRE_COMMIT_HOME"] = str(pre_commit_home)
    env["PRE_COMMIT_COLOR"] = "never"
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


def _run(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=HOOK_TIMEOUT,
                          check=False)


def _git(repo: Path, env: dict[str, str], *args: str) -> str:
    result = _run(["git", *args], repo, env)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory, pre_commit_home: Path) -> tuple[Path, str]:
    """This checkout's work tree committed in a temp repo: (path, commit)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        pytest.skip("pre-commit is not installed (pip install -e '.[test]')")
    env = _environment(pre_commit_home)
    listing = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT, env)
    if listing.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout: {listing.stderr.strip()}")
    snapshot = tmp_path_factory.mktemp("hook-repo") / "pfcheck"
    for name in filter(None, listing.stdout.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is still listed
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    _git(snapshot, env, "init", "-q")
    _git(snapshot, env, "add", "-A")
    _git(snapshot, env, "-c", "user.name=pfcheck tests", "-c", "user.email=tests@pfcheck.invalid",
         "-c", "commit.gpgsign=false", "commit", "-q", "-m", "snapshot")
    return snapshot, _git(snapshot, env, "rev-parse", "HEAD").strip()


@pytest.fixture
def config_repo(tmp_path: Path, pre_commit_home: Path) -> tuple[Path, dict[str, str]]:
    """A Postfix config repo whose last commit holds a clean hosts/mx."""
    env = _environment(pre_commit_home)
    repo = tmp_path / "postfix-configs"
    (repo / "hosts" / "mx").mkdir(parents=True)
    _git(repo, env, "init", "-q")
    _git(repo, env, "config", "user.name", "Postmaster")
    _git(repo, env, "config", "user.email", "postmaster@example.net")
    _git(repo, env, "config", "commit.gpgsign", "false")
    (repo / ".pfcheck.yaml").write_text(POLICY, encoding="utf-8")
    (repo / "hosts" / "mx" / "main.cf").write_text(MAIN_CF, encoding="utf-8")
    (repo / "hosts" / "mx" / "master.cf").write_text(MASTER_CF, encoding="utf-8")
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-q", "-m", "mx")
    return repo, env


def _stage_and_try(repo: Path, env: dict[str, str], hook_repo: tuple[Path, str], main_cf: str) -> str:
    """Stage a new hosts/mx/main.cf and run the pfcheck hook on it; pre-commit's output."""
    (repo / "hosts" / "mx" / "main.cf").write_text(main_cf, encoding="utf-8")
    _git(repo, env, "add", "hosts/mx/main.cf")
    path, rev = hook_repo
    result = _run([sys.executable, "-m", "pre_commit", "try-repo", str(path), "pfcheck", "--ref", rev,
                   "--color", "never", "--verbose", "--files", "hosts/mx/main.cf"], repo, env)
    output = result.stdout + result.stderr
    status = re.search(rf"^{re.escape(HOOK_NAME)}.*?\.\.\.(Passed|Failed|Skipped)$", result.stdout, flags=re.M)
    assert status is not None, output
    assert (result.returncode == 0) == (status.group(1) == "Passed"), output
    return output


def test_hook_fails_a_commit_that_widens_mynetworks_inside_the_policy(
        config_repo: tuple[Path, dict[str, str]], hook_repo: tuple[Path, str]) -> None:
    repo, env = config_repo
    output = _stage_and_try(repo, env, hook_repo, MAIN_CF.replace(MYNETWORKS, MYNETWORKS + " 192.168.0.0/16"))
    assert f"{HOOK_NAME}" in output and "Failed" in output, output
    assert "- exit code: 1" in output, output
    match = re.search(rf"^hosts/mx/main\.cf:{MYNETWORKS_LINE}:\d+: PF203 mynetworks-widened: smtp/inet now trusts "
                      r"client (\S+) .*which it did not trust at HEAD", output, flags=re.M)
    assert match is not None, output
    assert ipaddress.ip_address(match.group(1)) in ipaddress.ip_network("192.168.0.0/16")
    assert "PF201" not in output  # the policy allows the network: the comparison alone fails it
    assert "Traceback" not in output


def test_hook_passes_a_commit_that_narrows_mynetworks(
        config_repo: tuple[Path, dict[str, str]], hook_repo: tuple[Path, str]) -> None:
    repo, env = config_repo
    output = _stage_and_try(repo, env, hook_repo, MAIN_CF.replace(MYNETWORKS, "mynetworks = 127.0.0.0/8 10.20.30.0/24"))
    assert re.search(rf"^{re.escape(HOOK_NAME)}.*\.\.\.Passed$", output, flags=re.M), output
    assert "PF2" not in output
    # --verbose shows a passing hook's output: pfcheck ran on the staged file and found nothing.
    # (its directory: main.cf and master.cf).
    assert "2 files, 0 findings" in output, output
