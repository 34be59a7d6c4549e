"""The gate's truth table: whatever a commit touches, the hook judges what it affects.

For each kind of change a real git repo gets a clean base commit, the change is staged, and
real pre-commit runs the pfcheck hook of this project (`pre-commit try-repo`, the manifest's
`args`, `types`, `always_run` exactly as a user gets them). Its verdict and its findings must
equal those of `pfcheck --base HEAD` run on the whole repository: the hook may judge fewer
directories, never fewer findings. Each row also states the findings the change must cause,
so that a hook that judges nothing (or a pfcheck that finds nothing) cannot pass.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from tests.cli.test_hook import HookRepo, _clean_env, _git, _hook_output, _run, hook_repo  # noqa: F401

pytestmark = pytest.mark.slow

POLICY = 'version: 1\npostfix_version: "3.7"\n'

MX_MAIN = """\
compatibility_level = 3.6
myhostname = mx.example.net
mydestination = $myhostname, localhost
inet_interfaces = all
mynetworks = 127.0.0.0/8 [::1]/128
disable_vrfy_command = yes
smtpd_relay_restrictions = permit_mynetworks,
    check_client_access cidr:/etc/postfix/clients.cidr,
    reject_unauth_destination
smtpd_forbid_bare_newline = normalize
smtpd_forbid_unauth_pipelining = yes
show_user_unknown_table_name = no
"""
SMTPD_MASTER = "smtp      inet  n       -       y       -       -       smtpd\n"
# VRFY is on, but smtpd listens on loopback only: nobody else can ask.
EDGE_MAIN = "compatibility_level = 3.6\nmyhostname = edge.example.net\nmynetworks = 127.0.0.0/8\ndisable_vrfy_command = no\n"
EDGE_MASTER = "127.0.0.1:smtp inet  n       -       y       -       -       smtpd\n"
SHARED_MAIN = MX_MAIN.replace("mx.example.net", "{host}.example.net").replace("clients.cidr", "shared.cidr")
SCOPED_MAIN = ("compatibility_level = 3.6\nmyhostname = p.example.net\nmynetworks = 127.0.0.0/8 192.168.10.0/24\ndisable_vrfy_command = yes\n"
               "smtpd_forbid_bare_newline = normalize\nsmtpd_forbid_unauth_pipelining = yes\nshow_user_unknown_table_name = no\n")
CLOSED_TABLE = "192.0.2.0/24 REJECT\n"
OPEN_TABLE = CLOSED_TABLE + "0.0.0.0/0 OK\n"


class Repo:
    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self.env = env

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def link(self, name: str, pointing_to: str) -> None:
        (self.path / name).parent.mkdir(parents=True, exist_ok=True)
        (self.path / name).symlink_to(pointing_to)

    def git(self, *args: str) -> str:
        return _git(self.path, self.env, *args)


def _base_repo(repo: Repo) -> None:
    """A clean fleet: every host passes the policy."""
    repo.write(".pfcheck.yaml", POLICY)
    repo.write("README.md", "Postfix configs\n")
    repo.write("hosts/mx/main.cf", MX_MAIN)
    repo.write("hosts/mx/master.cf", SMTPD_MASTER)
    repo.write("hosts/mx/clients.cidr", CLOSED_TABLE)
    repo.write("hosts/edge/main.cf", EDGE_MAIN)
    repo.write("hosts/edge/master.cf", EDGE_MASTER)
    repo.write("shared/clients.cidr", CLOSED_TABLE)
    for host in ("a", "b"):
        repo.write(f"hosts/{host}/main.cf", SHARED_MAIN.format(host=host))
        repo.write(f"hosts/{host}/master.cf", SMTPD_MASTER)
        repo.link(f"hosts/{host}/shared.cidr", "../../shared/clients.cidr")
    repo.write("scoped/.pfcheck.yaml", POLICY)
    repo.write("scoped/p/main.cf", SCOPED_MAIN)


@dataclass(frozen=True)
class Change:
    """One row: what the commit does, and (path, code) pairs it must cause."""

    kind: str
    apply: Callable[[Repo], None]
    causes: frozenset[tuple[str, str]] = field(default_factory=frozenset)


def _rm(name: str) -> Callable[[Repo], None]:
    return lambda repo: repo.git("rm", "-q", "--", name) and None


CHANGES = [
    Change("main.cf", lambda r: r.write("hosts/mx/main.cf", MX_MAIN.replace("vrfy_command = yes", "vrfy_command = no")),
           frozenset({("hosts/mx/main.cf", "PF101")})),
    # master.cf alone exposes main.cf's VRFY: the finding is in the file that was not changed.
    Change("master.cf only", lambda r: r.write("hosts/edge/master.cf", EDGE_MASTER.replace("127.0.0.1:smtp", "smtp")),
           frozenset({("hosts/edge/main.cf", "PF101")})),
    Change("referenced table", lambda r: r.write("hosts/mx/clients.cidr", OPEN_TABLE),
           frozenset({("hosts/mx/main.cf", "PF301"), ("hosts/mx/main.cf", "PF304"), ("hosts/mx/clients.cidr", "PF201")})),
    Change("table shared by two hosts", lambda r: r.write("shared/clients.cidr", OPEN_TABLE),
           frozenset({("hosts/a/main.cf", "PF301"), ("hosts/b/main.cf", "PF301"), ("shared/clients.cidr", "PF201")})),
    Change("policy", lambda r: r.write("scoped/.pfcheck.yaml", POLICY + (
        "rules:\n  mynetworks-outside-policy:\n    options:\n      allowed: [\"127.0.0.0/8\"]\n")),
           frozenset({("scoped/p/main.cf", "PF201")})),
    Change("unrelated file", lambda r: r.write("README.md", "Postfix configs, reviewed\n")),
    Change("file in a config directory that nothing references",
           lambda r: r.write("hosts/mx/NOTES.txt", "0.0.0.0/0 OK\n")),
    Change("renamed host directory", lambda r: r.git("mv", "hosts/edge", "hosts/edge-2") and None),
    Change("renamed host directory that is now exposed", lambda r: (
        r.git("mv", "hosts/edge", "hosts/edge-2"), r.write("hosts/edge-2/master.cf", SMTPD_MASTER)) and None,
           frozenset({("hosts/edge-2/main.cf", "PF101")})),
    # pre-commit passes no deleted file: the hook always runs, and pfcheck adds the deletions.
    Change("deleted table still referenced (only change)", _rm("hosts/mx/clients.cidr"),
           frozenset({("hosts/mx/main.cf", "PF302")})),
    Change("deleted table still referenced, with an unrelated change", lambda r: (
        _rm("hosts/mx/clients.cidr")(r), r.write("README.md", "tables moved\n")) and None,
           frozenset({("hosts/mx/main.cf", "PF302")})),
    Change("new host", lambda r: (r.write("hosts/new/main.cf", EDGE_MAIN), r.write("hosts/new/master.cf", SMTPD_MASTER))
           and None, frozenset({("hosts/new/main.cf", "PF101")})),
]

FINDING_LINE = re.compile(r"^(\S+):\d+:\d+: (PF\d{3}) .*$", re.M)


def _findings(output: str) -> list[str]:
    return sorted(match.group(0) for match in FINDING_LINE.finditer(output))


@pytest.mark.parametrize("change", CHANGES, ids=[c.kind for c in CHANGES])
def test_hook_judges_what_the_commit_affects(change: Change, tmp_path: Path, hook_repo: HookRepo) -> None:  # noqa: F811
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = _clean_env(tmp_path / "pre-commit-home")
    repo = Repo(tmp_path / "configs", env)
    repo.path.mkdir()
    repo.git("init", "-q")
    repo.git("config", "user.name", "Postmaster")
    repo.git("config", "user.email", "postmaster@example.net")
    repo.git("config", "commit.gpgsign", "false")
    _base_repo(repo)
    repo.git("add", "-A")
    repo.git("commit", "-q", "--no-verify", "-m", "clean fleet")
    whole_before = _run([sys.executable, "-m", "pfcheck", "--base", "HEAD"], repo.path, env)
    assert whole_before.returncode == 0, whole_before.stdout + whole_before.stderr  # the base is clean

    change.apply(repo)
    repo.git("add", "-A")
    hook = _run([sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo.path), "pfcheck",
                 "--ref", hook_repo.rev, "--color", "never", "--verbose"], repo.path, env)
    whole = _run([sys.executable, "-m", "pfcheck", "--base", "HEAD"], repo.path, env)
    assert whole.returncode in (0, 1), whole.stderr
    assert "Traceback" not in hook.stdout + hook.stderr

    output = _hook_output(hook.stdout, "pfcheck")
    assert (hook.returncode != 0) == (whole.returncode != 0), f"hook:\n{hook.stdout}\nwhole repo:\n{whole.stdout}"
    assert _findings(output) == _findings(whole.stdout), f"hook:\n{output}\nwhole repo:\n{whole.stdout}"
    caused = {(m.group(1), m.group(2)) for m in FINDING_LINE.finditer(whole.stdout)}
    assert change.causes <= caused, whole.stdout
    if not change.causes:
        assert caused == set() and hook.returncode == 0, output


def test_table_named_on_its_own_is_never_read_as_a_main_cf(tmp_path: Path) -> None:
    """`pfcheck host/clients.cidr` judges the directory that references the table."""
    env = _clean_env(tmp_path / "home")
    repo = Repo(tmp_path / "configs", env)
    repo.path.mkdir()
    repo.git("init", "-q")
    _base_repo(repo)
    repo.write("hosts/mx/clients.cidr", OPEN_TABLE)
    result = subprocess.run([sys.executable, "-m", "pfcheck", "hosts/mx/clients.cidr"], cwd=repo.path,
                            capture_output=True, text=True, check=False)
    codes = {(m.group(1), m.group(2)) for m in FINDING_LINE.finditer(result.stdout)}
    assert ("hosts/mx/main.cf", "PF301") in codes and ("hosts/mx/clients.cidr", "PF201") in codes, result.stdout
    assert "PF000" not in result.stdout and result.returncode == 1
    # Only the directory that references the table was judged.
    assert not any(path.startswith(("hosts/a/", "hosts/b/", "hosts/edge/")) for path, _ in codes)
