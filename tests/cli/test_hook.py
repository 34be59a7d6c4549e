"""The pre-commit hooks, run by real pre-commit (`pre-commit try-repo`, and a real `git commit`).

Each test builds a throwaway Postfix config repo (git init, identity local to the repo) and
lets pre-commit install pfcheck from this project into a private hook environment, exactly
as a user's pre-commit would: `pip install` of the hook repo, the manifest's `entry`, `args`,
`files`, `stages`, `pass_filenames` and `always_run`.

pre-commit is pointed at a *snapshot* of this checkout (tracked and untracked, not ignored
files, committed in a temp repo) instead of the checkout itself. try-repo on a dirty checkout
would make its own shadow commit of the tracked files only, which misses new modules that are
not added yet; the snapshot is what the working tree holds, at a fixed revision.

try-repo always uses a throwaway store (pre-commit's `try_repo` creates `Store(tempdir)`,
ignoring PRE_COMMIT_HOME), so every try-repo call builds the hook's virtualenv again
(5-15 s here: virtualenv plus `pip install` of the project with build isolation).
The calls are therefore few and spread over separate tests, so that `-n 2` runs them in
parallel. The `git commit` test uses a `.pre-commit-config.yaml` and builds its environment
once in a private PRE_COMMIT_HOME.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Optional, Sequence

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

# A hook environment is a virtualenv plus `pip install` from the package index (or the local
# wheel directories configured for pip); allow for a slow index.
HOOK_TIMEOUT = 600

MX_MAIN_CF = """\
# mx.example.net: the public MX
compatibility_level = 3.6
myhostname = mx.example.net
mydomain = example.net
mydestination = $myhostname, localhost.$mydomain, localhost, $mydomain
inet_interfaces = all
mynetworks = 127.0.0.0/8 [::1]/128 192.168.10.0/24
disable_vrfy_command = yes
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_forbid_bare_newline = normalize
smtpd_forbid_unauth_pipelining = yes
show_user_unknown_table_name = no
"""

MX_MASTER_CF = """\
smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
"""

# A send-only host: main.cf only (judged with the package's default master.cf).
RELAY_MAIN_CF = """\
compatibility_level = 3.6
myhostname = relay.example.net
inet_interfaces = loopback-only
mynetworks = 127.0.0.0/8 [::1]/128
"""

POLICY = 'version: 1\npostfix_version: "3.7"\n'

VRFY_ON = "disable_vrfy_command = no"
VRFY_LINE = MX_MAIN_CF.splitlines().index("disable_vrfy_command = yes") + 1
VRFY_VALUE_COLUMN = len("disable_vrfy_command = ") + 1
MYNETWORKS_LINE = next(i for i, line in enumerate(MX_MAIN_CF.splitlines(), 1) if line.startswith("mynetworks"))


def _require_tools() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        pytest.skip("pre-commit is not installed (pip install -e '.[test]')")


def _clean_env(pre_commit_home: Path) -> dict[str, str]:
    """The environment of a user's shell, without what would change the hook's behaviour."""
    env = {
        key: value for key, value in os.environ.items()
        # GIT_* (from an outer git hook) would point git at another repository; GITHUB_ACTIONS
        # switches `--format auto` to workflow commands; PRE_COMMIT* from an outer pre-commit.
        if not key.startswith(("GIT_", "PRE_COMMIT", "PFCHECK_")) and key not in ("GITHUB_ACTIONS", "NO_COLOR")
    }
    env["PRE_COMMIT_HOME"] = str(pre_commit_home)
    env["PRE_COMMIT_COLOR"] = "never"
    # The test repos' identity lives in their own .git/config; no user or system git config
    # (a global core.hooksPath would make `pre-commit install` refuse, a signing key would prompt).
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


def _run(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=HOOK_TIMEOUT, check=False)


def _git(repo: Path, env: dict[str, str], *args: str) -> str:
    result = _run(["git", *args], repo, env)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


class HookRepo:
    """A snapshot of this project as a git repo: the hook repository pre-commit installs."""

    def __init__(self, path: Path, rev: str) -> None:
        self.path = path
        self.rev = rev


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> HookRepo:
    _require_tools()
    base = tmp_path_factory.mktemp("hook-repo")
    env = _clean_env(base / "unused-home")
    listing = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT, env)
    if listing.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout: {listing.stderr.strip()}")
    snapshot = base / "pfcheck"
    for name in filter(None, listing.stdout.split("\0")):
        source = ROOT / name
        if source.is_file():  # deleted-but-tracked files are listed too
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    assert (snapshot / ".pre-commit-hooks.yaml").is_file()
    _git(snapshot, env, "init", "-q")
    _git(snapshot, env, "add", "-A")
    _git(snapshot, env, "-c", "user.name=pfcheck tests", "-c", "user.email=tests@pfcheck.invalid",
         "-c", "commit.gpgsign=false", "commit", "-q", "-m", "snapshot")
    return HookRepo(snapshot, _git(snapshot, env, "rev-parse", "HEAD").strip())


class ConfigRepo:
    """A user's Postfix config repo: hosts/mx (main.cf + master.cf), hosts/relay (main.cf only)."""

    def __init__(self, path: Path, env: dict[str, str], hook_repo: HookRepo) -> None:
        self.path = path
        self.env = env
        self.hook_repo = hook_repo

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def git(self, *args: str) -> str:
        return _git(self.path, self.env, *args)

    def stage(self, *names: str) -> None:
        self.git("add", "--", *names)

    def commit_without_hooks(self, message: str) -> None:
        self.git("commit", "-q", "--no-verify", "-m", message)

    def try_repo(self, hook: Optional[str], *run_args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "pre_commit", "try-repo", str(self.hook_repo.path)]
        if hook is not None:
            argv.append(hook)
        return _run([*argv, "--ref", self.hook_repo.rev, "--color", "never", *run_args], self.path, self.env)


@pytest.fixture
def config_repo(tmp_path: Path, hook_repo: HookRepo) -> Iterator[ConfigRepo]:
    path = tmp_path / "postfix-configs"
    path.mkdir()
    repo = ConfigRepo(path, _clean_env(tmp_path / "pre-commit-home"), hook_repo)
    repo.git("init", "-q")
    repo.git("config", "user.name", "Postmaster")
    repo.git("config", "user.email", "postmaster@example.net")
    repo.git("config", "commit.gpgsign", "false")
    repo.write("hosts/mx/main.cf", MX_MAIN_CF)
    repo.write("hosts/mx/master.cf", MX_MASTER_CF)
    repo.write("hosts/relay/main.cf", RELAY_MAIN_CF)
    repo.write(".pfcheck.yaml", POLICY)
    yield repo


def _hook_output(output: str, hook_id: str) -> str:
    """The part of pre-commit's output that belongs to one hook (after its `- hook id:` line)."""
    sections = re.split(r"^- hook id: ", output, flags=re.M)
    for section in sections[1:]:
        if section.split("\n", 1)[0].strip() == hook_id:
            return section
    raise AssertionError(f"no output of hook {hook_id} in:\n{output}")


def _status_line(output: str, name_prefix: str) -> str:
    """`pfcheck (every config ...)......Failed`: the hook's status word."""
    for line in output.splitlines():
        status = re.search(r"\.\.\.(?:\([^)]*\))?(Passed|Failed|Skipped)$", line.rstrip())
        if line.startswith(name_prefix) and status:
            return status.group(1)
    raise AssertionError(f"no status line for {name_prefix!r} in:\n{output}")


PFCHECK_NAME = "pfcheck (Postfix main.cf"
PFCHECK_ALL_NAME = "pfcheck (every config"


def test_commit_enabling_vrfy_fails_and_the_fix_passes(config_repo: ConfigRepo) -> None:
    config_repo.stage(".")
    config_repo.commit_without_hooks("configs")

    # The commit being prepared enables VRFY: only main.cf is staged, so its directory is
    # judged (with master.cf for the listeners).
    config_repo.write("hosts/mx/main.cf", MX_MAIN_CF.replace("disable_vrfy_command = yes", VRFY_ON))
    config_repo.stage("hosts/mx/main.cf")
    failed = config_repo.try_repo("pfcheck")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert _status_line(failed.stdout, PFCHECK_NAME) == "Failed"
    hook = _hook_output(failed.stdout, "pfcheck")
    assert "- exit code: 1" in hook
    location = f"hosts/mx/main.cf:{VRFY_LINE}:{VRFY_VALUE_COLUMN}: PF101 vrfy-enabled:"
    assert f"{location} [*] smtp/inet answers VRFY" in hook
    assert f"{location} [*] submission/inet answers VRFY" in hook
    # The staged file's directory is judged whole (main.cf and master.cf), no other host.
    assert "2 files," in hook
    assert "hosts/relay" not in hook

    # The fix: VRFY off again. Every file of the repo passes (--all-files).
    config_repo.write("hosts/mx/main.cf", MX_MAIN_CF)
    config_repo.stage("hosts/mx/main.cf")
    passed = config_repo.try_repo("pfcheck", "--all-files")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert _status_line(passed.stdout, PFCHECK_NAME) == "Passed"
    assert "PF101" not in passed.stdout


def test_policy_error_reports_file_line_column_and_fails(config_repo: ConfigRepo) -> None:
    config_repo.stage(".")
    config_repo.commit_without_hooks("configs")
    bad_policy = POLICY + "rules:\n  vrfy-enabled: {severity: fatal}\n"
    config_repo.write(".pfcheck.yaml", bad_policy)
    config_repo.stage(".pfcheck.yaml")
    line = bad_policy.splitlines().index("  vrfy-enabled: {severity: fatal}") + 1
    column = "  vrfy-enabled: {severity: fatal}".index("fatal") + 1

    result = config_repo.try_repo("pfcheck", "--files", ".pfcheck.yaml")
    assert result.returncode != 0, result.stdout
    assert _status_line(result.stdout, PFCHECK_NAME) == "Failed"
    hook = _hook_output(result.stdout, "pfcheck")
    assert "- exit code: 2" in hook
    assert re.search(rf"\.pfcheck\.yaml:{line}:{column}: severity of PF101 \(vrfy-enabled\) must be one of .*\"fatal\"",
                     hook), hook
    assert "Traceback" not in hook


def test_changing_only_the_policy_rechecks_every_config(config_repo: ConfigRepo) -> None:
    # The configs pass the first policy (the built-in allowlist has 192.168.0.0/16) ...
    config_repo.stage(".")
    config_repo.commit_without_hooks("configs")
    # ... and the commit changes nothing but the policy, which now trusts loopback only.
    config_repo.write(".pfcheck.yaml", POLICY + (
        "rules:\n"
        "  mynetworks-outside-policy:\n"
        "    options:\n"
        '      allowed: ["127.0.0.0/8", "[::1]/128"]\n'
    ))
    config_repo.stage(".pfcheck.yaml")
    assert config_repo.git("diff", "--cached", "--name-only").split() == [".pfcheck.yaml"]

    result = config_repo.try_repo("pfcheck")  # the staged files: .pfcheck.yaml alone
    assert result.returncode == 1, result.stdout + result.stderr
    assert _status_line(result.stdout, PFCHECK_NAME) == "Failed"
    hook = _hook_output(result.stdout, "pfcheck")
    assert re.search(rf"^hosts/mx/main\.cf:{MYNETWORKS_LINE}:\d+: PF201 mynetworks-outside-policy: smtp/inet", hook, flags=re.M), hook
    assert "192.168.10.0/24" in hook
    # Every config file below the policy was checked, not only the (non-config) staged file.
    assert "3 files," in hook


def test_pfcheck_all_in_the_manual_stage_checks_every_config(config_repo: ConfigRepo) -> None:
    # Both hosts enable VRFY and are already committed (hooks skipped); nothing is staged.
    config_repo.write("hosts/mx/main.cf", MX_MAIN_CF.replace("disable_vrfy_command = yes", VRFY_ON))
    config_repo.write("hosts/relay/main.cf", RELAY_MAIN_CF.replace("inet_interfaces = loopback-only", "inet_interfaces = all"))
    config_repo.stage(".")
    config_repo.commit_without_hooks("configs")

    # No hook id: every hook of the manifest that has the manual stage runs.
    result = config_repo.try_repo(None, "--hook-stage", "manual")
    assert result.returncode == 1, result.stdout + result.stderr
    # pfcheck always runs (a commit may only delete a table): with no changed file at all it
    # judges the whole repo, like pfcheck-all, which ignores file names.
    assert _status_line(result.stdout, PFCHECK_NAME) == "Failed"
    assert _status_line(result.stdout, PFCHECK_ALL_NAME) == "Failed"
    hook = _hook_output(result.stdout, "pfcheck-all")
    assert re.search(r"^hosts/mx/main\.cf:\d+:\d+: PF101 vrfy-enabled: \[\*\] smtp/inet", hook, flags=re.M), hook
    # relay has no master.cf: its smtp listener is the default master.cf's, reported in main.cf.
    assert re.search(r"^hosts/relay/main\.cf:\d+:\d+: PF101 vrfy-enabled: \[\*\] smtp/inet", hook, flags=re.M), hook
    assert "3 files," in hook


def test_git_commit_is_blocked_by_the_installed_hook(config_repo: ConfigRepo, tmp_path: Path) -> None:
    """The real path: `pre-commit install`, then `git commit`, with a .pre-commit-config.yaml."""
    hook_repo = config_repo.hook_repo
    config_repo.write(".pre-commit-config.yaml", (
        "repos:\n"
        f"  - repo: {hook_repo.path.as_posix()}\n"
        f"    rev: {hook_repo.rev}\n"
        "    hooks:\n"
        "      - id: pfcheck\n"
    ))
    installed = _run([sys.executable, "-m", "pre_commit", "install"], config_repo.path, config_repo.env)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    # The first commit (no HEAD yet, so `--base HEAD` has nothing to compare with) enables VRFY.
    config_repo.write("hosts/mx/main.cf", MX_MAIN_CF.replace("disable_vrfy_command = yes", VRFY_ON))
    config_repo.stage(".")
    blocked = _run(["git", "commit", "-m", "mx: enable VRFY"], config_repo.path, config_repo.env)
    output = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0, output
    assert f"hosts/mx/main.cf:{VRFY_LINE}:{VRFY_VALUE_COLUMN}: PF101 vrfy-enabled:" in output
    head = _run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], config_repo.path, config_repo.env)
    assert head.returncode != 0, "the commit was made although the hook failed"

    config_repo.write("hosts/mx/main.cf", MX_MAIN_CF)
    config_repo.stage("hosts/mx/main.cf")
    committed = _run(["git", "commit", "-m", "mx: configs"], config_repo.path, config_repo.env)
    assert committed.returncode == 0, committed.stdout + committed.stderr
    assert _status_line(committed.stdout + committed.stderr, PFCHECK_NAME) == "Passed"
    assert config_repo.git("log", "--format=%s").strip() == "mx: configs"
