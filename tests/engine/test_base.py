"""`--base REV` against real git repositories (issue "Gate merge requests").

Every test builds a throwaway Postfix config repo (git init, identity local to the repo, no
user or system git config), makes real commits and runs `python -m pfcheck` as a subprocess,
the way CI and the pre-commit hook run it. What is judged:

* PF203 (mynetworks-widened) fires for a widening the policy allows; narrowing and unrelated
  edits pass;
* PF304 (relay-opened) fires when a change opens a relay that Postfix's start-up guard still
  accepts (PF301 fires on the same tree, PF303 does not);
* findings are "existing" when the base revision had them (whatever their line now) and "new"
  otherwise; `--new-only` fails on new ones only;
* a directory absent at REV is all new, with no comparison findings;
* a revision missing from the clone is a one-line usage error (exit 2) that names a shallow
  clone as the cause when it is one; `--base HEAD` before the first commit is no error;
* pfcheck never writes to the repository and leaves no temp files behind.

The live test at the end checks with a private, real Postfix that the witnesses of PF203 and
PF304 are accepted by the changed config and refused by the base config.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from tests.conftest import ROOT
from tests.support.live_postfix import HELPER_SERVICES, live_postfix  # noqa: F401  (pytest fixture)

GIT_TIMEOUT = 60
PFCHECK_TIMEOUT = 120

POLICY = """\
version: 1
postfix_version: "3.7"
rules:
  mynetworks-outside-policy:
    options:
      # 192.168.0.0/16 is allowed: adding it is inside the policy, only PF203 can object.
      allowed: ["127.0.0.0/8", "[::1]/128", "10.20.0.0/16", "192.168.0.0/16"]
  # gw stays at compatibility_level 0 on purpose (its empty relay restrictions are the point).
  compatibility-level-low: {severity: off}
"""

# mx: a public MX that is clean (no finding) at the base revision.
MX_MYNETWORKS = "mynetworks = 127.0.0.0/8 [::1]/128 10.20.0.0/16"
MX_MAIN_CF = f"""\
# mx.example.net: the public MX
compatibility_level = 3.6
myhostname = mx.example.net
mydomain = example.net
mydestination = $myhostname, localhost.$mydomain, localhost
inet_interfaces = all
{MX_MYNETWORKS}
disable_vrfy_command = yes
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_forbid_bare_newline = normalize
smtpd_forbid_unauth_pipelining = yes
show_user_unknown_table_name = no
"""
MX_MYNETWORKS_LINE = MX_MAIN_CF.splitlines().index(MX_MYNETWORKS) + 1
MX_MYNETWORKS_VALUE_COLUMN = len("mynetworks = ") + 1

# The services a running smtpd needs (proxymap for local_recipient_maps, rewrite, anvil, ...):
# the live test below runs these configs as they are.
MASTER_CF = "smtp      inet  n       -       n       -       -       smtpd\n" + HELPER_SERVICES

# gw: a legacy gateway at compatibility_level 0, where smtpd_relay_restrictions defaults to
# empty and smtpd_recipient_restrictions alone decides relaying. Closed at the base revision:
# reject_unauth_destination comes before the sender permit. Postfix's start-up guard only asks
# for reject_unauth_destination somewhere in the list, so moving the permit in front of it
# opens the relay without stopping smtpd (a literal `permit` there would fail the guard: PF303).
GW_RESTRICTIONS_CLOSED = """\
smtpd_recipient_restrictions = permit_mynetworks,
    reject_unauth_destination,
    check_sender_access hash:/etc/postfix/sender_access
"""
GW_RESTRICTIONS_OPEN = """\
smtpd_recipient_restrictions = permit_mynetworks,
    check_sender_access hash:/etc/postfix/sender_access,
    reject_unauth_destination
"""
GW_MAIN_CF_HEAD = """\
# gw.example.net: the old gateway
compatibility_level = 0
# no relay domains (the compatibility_level 0 default $mydestination relays its subdomains: PF605)
relay_domains =
myhostname = gw.example.net
mynetworks = 127.0.0.0/8 [::1]/128
disable_vrfy_command = yes
smtpd_forbid_bare_newline = normalize
smtpd_forbid_unauth_pipelining = yes
show_user_unknown_table_name = no
"""
GW_MAIN_CF_CLOSED = GW_MAIN_CF_HEAD + GW_RESTRICTIONS_CLOSED
GW_MAIN_CF_OPEN = GW_MAIN_CF_HEAD + GW_RESTRICTIONS_OPEN
GW_RESTRICTIONS_LINE = GW_MAIN_CF_HEAD.count("\n") + 1
# Any client can forge an example.net sender.
SENDER_ACCESS = "# our own domain may always send\nexample.net OK\n"

OFFICE_NETWORK = ipaddress.ip_network("192.168.0.0/16")


def _environment(tmp: Path) -> dict[str, str]:
    """A user's shell: this checkout importable, git without user/system config, private TMPDIR."""
    env = {
        key: value for key, value in os.environ.items()
        # GIT_* from an outer hook would point git elsewhere; GITHUB_ACTIONS switches the format.
        if not key.startswith(("GIT_", "PFCHECK_", "PRE_COMMIT")) and key != "GITHUB_ACTIONS"
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    # pfcheck materialises old revisions in a temp dir: a private TMPDIR shows it cleans up.
    temp = tmp / "tmpdir"
    temp.mkdir(exist_ok=True)
    env["TMPDIR"] = str(temp)
    return env


@dataclass
class PfcheckRun:
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    @property
    def findings(self) -> list[dict[str, Any]]:
        """The findings of a `--format json` run."""
        return list(json.loads(self.stdout)["findings"])

    def codes(self) -> list[str]:
        return sorted(finding["code"] for finding in self.findings)

    def only(self, code: str) -> dict[str, Any]:
        matching = [finding for finding in self.findings if finding["code"] == code]
        assert len(matching) == 1, f"expected one {code}, got {matching}\n{self}"
        return matching[0]


class ConfigRepo:
    """A Postfix config repo in a temp dir: .pfcheck.yaml, hosts/<name>/main.cf, ..."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self.env = env

    def git(self, *args: str, cwd: Optional[Path] = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["git", *args], cwd=cwd or self.path, env=self.env, capture_output=True,
                                text=True, timeout=GIT_TIMEOUT, check=False)
        if check:
            assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
        return result

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def commit(self, message: str) -> str:
        """Commit every change of the work tree; the new commit's id."""
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").stdout.strip()

    def pfcheck(self, *args: str, cwd: Optional[Path] = None) -> PfcheckRun:
        result = subprocess.run([sys.executable, "-m", "pfcheck", *args], cwd=cwd or self.path, env=self.env,
                                capture_output=True, text=True, timeout=PFCHECK_TIMEOUT, check=False)
        return PfcheckRun(result.returncode, result.stdout, result.stderr)


def _require_git() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")


def _init_repo(path: Path, env: dict[str, str]) -> ConfigRepo:
    path.mkdir(parents=True, exist_ok=True)
    repo = ConfigRepo(path, env)
    repo.git("init", "-q", "-b", "main")
    repo.git("config", "user.name", "Postmaster")
    repo.git("config", "user.email", "postmaster@example.net")
    repo.git("config", "commit.gpgsign", "false")
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> ConfigRepo:
    """The base revision (HEAD): hosts/mx and hosts/gw, both without any finding."""
    _require_git()
    repo = _init_repo(tmp_path / "postfix-configs", _environment(tmp_path))
    repo.write(".pfcheck.yaml", POLICY)
    repo.write("hosts/mx/main.cf", MX_MAIN_CF)
    repo.write("hosts/mx/master.cf", MASTER_CF)
    repo.write("hosts/gw/main.cf", GW_MAIN_CF_CLOSED)
    repo.write("hosts/gw/master.cf", MASTER_CF)
    repo.write("hosts/gw/sender_access", SENDER_ACCESS)
    repo.commit("base")
    return repo


def _widened(main_cf: str = MX_MAIN_CF) -> str:
    return main_cf.replace(MX_MYNETWORKS, MX_MYNETWORKS + " 192.168.0.0/16")


def _check_json(repo: ConfigRepo, *args: str, cwd: Optional[Path] = None) -> PfcheckRun:
    run = repo.pfcheck(*args, "--format", "json", cwd=cwd)
    assert run.returncode in (0, 1), str(run)
    assert run.stderr == "", str(run)
    return run


# --------------------------------------------------------------------------------------
# The base revision itself


def test_the_base_revision_is_clean(repo: ConfigRepo) -> None:
    """The premise of the tests below: every finding they see comes from their change."""
    run = _check_json(repo, "--base", "HEAD", ".")
    assert run.returncode == 0, str(run)
    assert run.findings == []


# --------------------------------------------------------------------------------------
# PF203 mynetworks-widened


def test_widening_mynetworks_inside_the_policy_fails_with_pf203(repo: ConfigRepo) -> None:
    base = repo.head()
    repo.write("hosts/mx/main.cf", _widened())
    repo.commit("mx: trust the office")

    # The policy allows 192.168.0.0/16: without a base there is nothing to object to ...
    without_base = _check_json(repo, ".")
    assert without_base.returncode == 0, str(without_base)
    assert without_base.findings == []

    # ... but compared with the base, the change trusts 65,536 more clients.
    run = _check_json(repo, "--base", base, ".")
    assert run.returncode == 1, str(run)
    assert run.codes() == ["PF203"], str(run)
    finding = run.only("PF203")
    assert ipaddress.ip_address(finding["witness"]["address"]) in OFFICE_NETWORK
    assert finding["status"] == "new"
    assert finding["severity"] == "error"
    assert finding["service"] == "smtp/inet"
    assert finding["parameter"] == "mynetworks"
    assert (finding["path"], finding["line"]) == ("hosts/mx/main.cf", MX_MYNETWORKS_LINE)
    # The value, or better the item that widened it.
    assert finding["column"] in (MX_MYNETWORKS_VALUE_COLUMN,
                                 MX_MYNETWORKS_VALUE_COLUMN + len("127.0.0.0/8 [::1]/128 10.20.0.0/16 "))
    assert finding["expected"] == "127.0.0.0/8 [::1]/128 10.20.0.0/16"
    assert finding["actual"] == "127.0.0.0/8 [::1]/128 10.20.0.0/16 192.168.0.0/16"
    assert base in finding["message"]


def test_widening_through_a_listener_override_fails_with_pf203(repo: ConfigRepo) -> None:
    """`-o mynetworks=` on one listener widens that listener only; the finding points at it."""
    base = repo.head()
    master_cf = MASTER_CF.replace(
        "smtp      inet  n       -       n       -       -       smtpd\n",
        "smtp      inet  n       -       n       -       -       smtpd\n  -o mynetworks=127.0.0.0/8,192.168.0.0/16\n",
    )
    repo.write("hosts/mx/master.cf", master_cf)
    repo.commit("mx: trust the office on smtp")
    run = _check_json(repo, "--base", base, ".")
    assert run.returncode == 1, str(run)
    finding = run.only("PF203")
    assert ipaddress.ip_address(finding["witness"]["address"]) in OFFICE_NETWORK
    assert (finding["path"], finding["line"]) == ("hosts/mx/master.cf", 2)


def test_widening_through_a_variable_fails_with_pf203(repo: ConfigRepo) -> None:
    """mynetworks = ... $office: the change is to another parameter, Postfix expands it."""
    repo.write("hosts/mx/main.cf", MX_MAIN_CF.replace(
        MX_MYNETWORKS, "office = 10.20.0.0/16\nmynetworks = 127.0.0.0/8 [::1]/128 $office"))
    base = repo.commit("mx: office variable")
    assert _check_json(repo, "--base", base, ".").findings == []
    repo.write("hosts/mx/main.cf", MX_MAIN_CF.replace(
        MX_MYNETWORKS, "office = 10.20.0.0/16 192.168.0.0/16\nmynetworks = 127.0.0.0/8 [::1]/128 $office"))
    run = _check_json(repo, "--base", base, ".")
    assert run.returncode == 1, str(run)
    assert ipaddress.ip_address(run.only("PF203")["witness"]["address"]) in OFFICE_NETWORK


def test_narrowing_mynetworks_passes(repo: ConfigRepo) -> None:
    base = repo.head()
    repo.write("hosts/mx/main.cf", MX_MAIN_CF.replace(MX_MYNETWORKS, "mynetworks = 127.0.0.0/8 [::1]/128 10.20.30.0/24"))
    repo.commit("mx: only the mail subnet")
    run = _check_json(repo, "--base", base, ".")
    assert run.returncode == 0, str(run)
    assert run.findings == []


@pytest.mark.parametrize("edit", [
    pytest.param(lambda text: "# reviewed 2024-05-01\n" + text, id="comment"),
    pytest.param(lambda text: text + "smtpd_banner = $myhostname ESMTP\n", id="smtpd_banner"),
    pytest.param(lambda text: text.replace(MX_MYNETWORKS, "mynetworks = 10.20.0.0/16, [::1]/128\n    127.0.0.0/8"),
                 id="same-networks-reordered"),
])
def test_unrelated_edits_pass(repo: ConfigRepo, edit: Callable[[str], str]) -> None:
    base = repo.head()
    repo.write("hosts/mx/main.cf", edit(MX_MAIN_CF))
    repo.commit("mx: cosmetic")
    run = _check_json(repo, "--base", base, ".")
    assert run.returncode == 0, str(run)
    assert run.findings == []


# --------------------------------------------------------------------------------------
# PF304 relay-opened


def _reorder_restrictions(repo: ConfigRepo) -> None:
    repo.write("hosts/gw/main.cf", GW_MAIN_CF_OPEN)


def _table_only_change(repo: ConfigRepo) -> None:
    """main.cf already consults the table first; the commit adds the permitting entry."""
    repo.write("hosts/gw/main.cf", GW_MAIN_CF_OPEN)
    repo.write("hosts/gw/sender_access", "spammer.example REJECT\n")
    repo.commit("gw: sender checks first (nothing permitted yet)")
    repo.write("hosts/gw/sender_access", "spammer.example REJECT\n" + SENDER_ACCESS)


def _new_listener_override(repo: ConfigRepo) -> None:
    repo.write("hosts/mx/master.cf", MASTER_CF + (
        "2525      inet  n       -       n       -       -       smtpd\n"
        "  -o smtpd_relay_restrictions=permit_mynetworks,check_client_access,static:OK,reject_unauth_destination\n"
    ))


@pytest.mark.parametrize("change, listener, path, was", [
    pytest.param(_reorder_restrictions, "smtp/inet", "hosts/gw/main.cf", "closed", id="permit-moved-before-reject"),
    pytest.param(_table_only_change, "smtp/inet", "hosts/gw/main.cf", "closed", id="table-entry-added"),
    pytest.param(_new_listener_override, "2525/inet", "hosts/mx/master.cf", "absent", id="new-listener-override"),
])
def test_opening_a_relay_fails_with_pf304(repo: ConfigRepo, change: Callable[[ConfigRepo], None], listener: str,
                                          path: str, was: str) -> None:
    change(repo)
    base = repo.head()  # the table case commits a closed intermediate state: compare with that
    repo.commit("open the relay")

    # PF301 first: the change leaves an open relay that Postfix starts with (no PF303).
    plain = _check_json(repo, ".")
    assert plain.returncode == 1, str(plain)
    assert plain.codes() == ["PF301"], str(plain)
    open_relay = plain.only("PF301")
    assert open_relay["service"] == listener

    run = _check_json(repo, "--base", base, ".")
    assert run.returncode == 1, str(run)
    assert run.codes() == ["PF301", "PF304"], str(run)
    opened = run.only("PF304")
    assert opened["status"] == "new" and run.only("PF301")["status"] == "new"
    assert opened["service"] == listener
    assert opened["path"] == path
    assert f"was {was} at {base}" in opened["message"]
    witness = opened["witness"]
    assert set(witness) >= {"client", "sender", "recipient"}
    # The witness is an outsider asking for a foreign domain: the same one PF301 found.
    assert ipaddress.ip_address(witness["client"]) not in ipaddress.ip_network("127.0.0.0/8")
    assert witness["client"] == open_relay["witness"]["client"]
    assert witness["recipient"] == open_relay["witness"]["recipient"]
    assert witness["recipient"].rsplit("@", 1)[1] not in ("gw.example.net", "mx.example.net", "localhost")


def test_a_relay_open_at_the_base_is_existing_not_opened(repo: ConfigRepo) -> None:
    repo.write("hosts/gw/main.cf", GW_MAIN_CF_OPEN)
    base = repo.commit("gw: open (already in production)")
    repo.write("hosts/gw/main.cf", "# TODO close this\n" + GW_MAIN_CF_OPEN)
    repo.commit("gw: comment")
    run = _check_json(repo, "--base", base, ".")
    assert run.codes() == ["PF301"], str(run)
    assert run.only("PF301")["status"] == "existing"
    assert run.returncode == 1
    assert _check_json(repo, "--base", base, "--new-only", ".").returncode == 0


# --------------------------------------------------------------------------------------
# new / existing and --new-only


def test_findings_are_marked_existing_or_new_and_new_only_fails_on_new_ones(repo: ConfigRepo) -> None:
    vrfy_on = MX_MAIN_CF.replace("disable_vrfy_command = yes", "disable_vrfy_command = no")
    repo.write("hosts/mx/main.cf", vrfy_on)
    base = repo.commit("mx: VRFY on (the finding every later commit inherits)")

    # Lines move and an unrelated parameter changes: PF101 is the same problem as before.
    repo.write("hosts/mx/main.cf", "# owner: postmaster\n# ticket: OPS-1\n" + vrfy_on + "smtpd_banner = $myhostname ESMTP\n")
    repo.commit("mx: banner")
    run = _check_json(repo, "--base", base, ".")
    assert run.codes() == ["PF101"], str(run)
    existing = run.only("PF101")
    assert existing["status"] == "existing"
    assert existing["line"] == vrfy_on.splitlines().index("disable_vrfy_command = no") + 1 + 2
    assert run.returncode == 1  # without --new-only every finding counts
    new_only = _check_json(repo, "--base", base, "--new-only", ".")
    assert new_only.returncode == 0, str(new_only)
    assert new_only.codes() == ["PF101"]  # still reported, just not failing

    # Now also widen mynetworks: PF203 is new and fails --new-only; PF101 stays existing.
    repo.write("hosts/mx/main.cf", "# owner: postmaster\n# ticket: OPS-1\n" + _widened(vrfy_on))
    repo.commit("mx: trust the office")
    run = _check_json(repo, "--base", base, "--new-only", ".")
    assert run.returncode == 1, str(run)
    assert run.codes() == ["PF101", "PF203"], str(run)
    assert {f["code"]: f["status"] for f in run.findings} == {"PF101": "existing", "PF203": "new"}


def test_a_finding_introduced_by_the_change_is_new(repo: ConfigRepo) -> None:
    base = repo.head()
    repo.write("hosts/mx/main.cf", MX_MAIN_CF.replace("disable_vrfy_command = yes", "disable_vrfy_command = no"))
    repo.commit("mx: VRFY on")
    run = _check_json(repo, "--base", base, "--new-only", ".")
    assert run.returncode == 1, str(run)
    assert run.only("PF101")["status"] == "new"


def test_without_base_findings_have_no_status(repo: ConfigRepo) -> None:
    repo.write("hosts/mx/main.cf", MX_MAIN_CF.replace("disable_vrfy_command = yes", "disable_vrfy_command = no"))
    assert _check_json(repo, ".").only("PF101")["status"] is None


def test_new_only_needs_base(repo: ConfigRepo) -> None:
    run = repo.pfcheck("--new-only", ".")
    assert run.returncode == 2, str(run)
    assert "--base" in run.stderr and len(run.stderr.splitlines()) == 1


def test_a_directory_new_in_the_change_has_no_comparison_findings(repo: ConfigRepo) -> None:
    base = repo.head()
    # A new host that is wide, VRFY-enabled and an open relay: every finding is new, but there
    # is nothing it could have widened or opened.
    repo.write("hosts/edge/main.cf", GW_MAIN_CF_OPEN.replace(
        "mynetworks = 127.0.0.0/8 [::1]/128", "mynetworks = 127.0.0.0/8 [::1]/128 192.168.0.0/16"
    ).replace("disable_vrfy_command = yes", "disable_vrfy_command = no"))
    repo.write("hosts/edge/master.cf", MASTER_CF)
    repo.write("hosts/edge/sender_access", SENDER_ACCESS)
    repo.commit("edge: new host")
    run = _check_json(repo, "--base", base, ".")
    assert run.returncode == 1, str(run)
    assert run.codes() == ["PF101", "PF301"], str(run)
    assert all(f["path"].startswith("hosts/edge/") for f in run.findings), str(run)
    assert {f["status"] for f in run.findings} == {"new"}


def test_run_from_a_subdirectory_and_a_merge_base(repo: ConfigRepo) -> None:
    """The CI shape: a feature branch, the target branch moves on, base = git merge-base."""
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("hosts/mx/main.cf", _widened())
    repo.commit("mx: trust the office")
    repo.git("checkout", "-q", "main")
    repo.write("hosts/gw/main.cf", "# gw: reviewed\n" + GW_MAIN_CF_CLOSED)
    repo.commit("gw: comment on main")
    repo.git("checkout", "-q", "feature")
    base = repo.git("merge-base", "main", "HEAD").stdout.strip()

    run = _check_json(repo, "--base", base, ".", cwd=repo.path / "hosts" / "mx")
    assert run.returncode == 1, str(run)
    finding = run.only("PF203")
    assert (finding["path"], finding["line"]) == ("main.cf", MX_MYNETWORKS_LINE)
    # A branch name works as well as a commit id.
    assert _check_json(repo, "--base", "main", "hosts/mx/main.cf").codes() == ["PF203"]


# --------------------------------------------------------------------------------------
# Revisions that are not there


def _one_line_error(run: PfcheckRun) -> str:
    assert run.returncode == 2, str(run)
    assert run.stdout == "", str(run)
    lines = run.stderr.splitlines()
    assert len(lines) == 1, str(run)
    assert "Traceback" not in run.stderr
    assert lines[0].startswith("pfcheck: ")
    return lines[0]


@pytest.mark.parametrize("revision", ["0123456789abcdef0123456789abcdef01234567", "no-such-branch", "HEAD~5"])
def test_unknown_revision_is_a_one_line_usage_error(repo: ConfigRepo, revision: str) -> None:
    message = _one_line_error(repo.pfcheck("--base", revision, "--format", "json", "."))
    assert revision in message
    assert "shallow" not in message  # a full clone: the hint would mislead


def test_not_a_git_repository_is_a_one_line_usage_error(tmp_path: Path) -> None:
    _require_git()
    plain = ConfigRepo(tmp_path / "plain", _environment(tmp_path))
    plain.write("main.cf", MX_MAIN_CF)
    plain.write("master.cf", MASTER_CF)
    message = _one_line_error(plain.pfcheck("--base", "HEAD~1", "."))
    assert "not inside a git repository" in message


def _widening_history(repo: ConfigRepo) -> str:
    """base -> unrelated -> widening; returns the base commit."""
    base = repo.head()
    repo.write("hosts/gw/main.cf", "# gw: reviewed\n" + GW_MAIN_CF_CLOSED)
    repo.commit("gw: comment")
    repo.write("hosts/mx/main.cf", _widened())
    repo.commit("mx: trust the office")
    return base


def _clone(repo: ConfigRepo, target: Path, depth: int) -> ConfigRepo:
    # file:// makes git honour --depth for a local clone.
    repo.git("clone", "-q", "--depth", str(depth), f"file://{repo.path}", str(target), cwd=repo.path.parent)
    return ConfigRepo(target, repo.env)


def test_shallow_clone_without_the_base_says_it_is_shallow(repo: ConfigRepo, tmp_path: Path) -> None:
    base = _widening_history(repo)
    clone = _clone(repo, tmp_path / "shallow-1", depth=1)
    assert clone.git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    for revision in (base, "HEAD~1"):
        message = _one_line_error(clone.pfcheck("--base", revision, "--format", "json", "."))
        assert revision in message
        assert "shallow clone" in message
        assert "fetch-depth: 0" in message or "--deepen" in message


def test_shallow_clone_with_enough_history_works(repo: ConfigRepo, tmp_path: Path) -> None:
    _widening_history(repo)
    clone = _clone(repo, tmp_path / "shallow-2", depth=2)
    assert clone.git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    run = _check_json(clone, "--base", "HEAD~1", ".")
    assert run.returncode == 1, str(run)
    assert run.codes() == ["PF203"]


def test_base_head_before_the_first_commit_is_no_error(tmp_path: Path) -> None:
    """The pre-commit hook's `--base HEAD` on the commit that creates the repo."""
    _require_git()
    fresh = _init_repo(tmp_path / "fresh", _environment(tmp_path))
    fresh.write(".pfcheck.yaml", POLICY)
    fresh.write("hosts/mx/main.cf", MX_MAIN_CF)
    fresh.write("hosts/mx/master.cf", MASTER_CF)
    fresh.git("add", "-A")
    clean = _check_json(fresh, "--base", "HEAD", ".")
    assert clean.returncode == 0, str(clean)
    assert clean.findings == []

    fresh.write("hosts/mx/main.cf", MX_MAIN_CF.replace("disable_vrfy_command = yes", "disable_vrfy_command = no"))
    fresh.git("add", "-A")
    run = _check_json(fresh, "--base", "HEAD", ".")
    assert run.returncode == 1, str(run)
    assert run.codes() == ["PF101"]
    assert run.only("PF101")["status"] == "new"
    # Only HEAD gets this grace: any other missing revision is still an error.
    _one_line_error(fresh.pfcheck("--base", "HEAD~1", "."))


# --------------------------------------------------------------------------------------
# Read-only


def _tree_state(path: Path) -> dict[str, str]:
    """Every file below path (including .git) with a hash of its content."""
    state: dict[str, str] = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file() or p.is_symlink()):
        state[file.relative_to(path).as_posix()] = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else "link"
    return state


def test_pfcheck_never_writes_to_the_repository(repo: ConfigRepo, tmp_path: Path) -> None:
    base = repo.head()
    repo.write("hosts/mx/main.cf", _widened())
    repo.commit("mx: trust the office")
    repo.write("hosts/gw/main.cf", GW_MAIN_CF_OPEN)  # an uncommitted change as well
    repo.write("hosts/new/main.cf", MX_MAIN_CF)  # and an untracked directory
    status_before = repo.git("status", "--porcelain", "--untracked-files=all").stdout
    state_before = _tree_state(repo.path)

    runs = [
        repo.pfcheck("--base", base, "--format", "json", "."),
        repo.pfcheck("--base", "HEAD", "--new-only", "hosts/gw/main.cf", "hosts/new"),
        repo.pfcheck("--base", base, "--format", "sarif", "."),
        repo.pfcheck("--base", "no-such-revision", "."),
    ]
    assert [run.returncode for run in runs] == [1, 1, 1, 2], "\n".join(map(str, runs))

    assert _tree_state(repo.path) == state_before
    assert repo.git("status", "--porcelain", "--untracked-files=all").stdout == status_before
    # The old revisions were materialised in TMPDIR and removed again.
    assert list(Path(repo.env["TMPDIR"]).iterdir()) == []


# --------------------------------------------------------------------------------------
# Old side files below a subdirectory of the config directory


def test_an_unchanged_open_relay_with_a_table_in_a_subdirectory_is_not_opened(repo: ConfigRepo) -> None:
    repo.write("hosts/gw/main.cf", GW_MAIN_CF_OPEN.replace("/etc/postfix/sender_access", "/etc/postfix/maps/sender_access"))
    repo.write("hosts/gw/maps/sender_access", SENDER_ACCESS)
    (repo.path / "hosts" / "gw" / "sender_access").unlink()
    base = repo.commit("gw: open, table in maps/")
    repo.write("hosts/gw/master.cf", "# unchanged listeners\n" + MASTER_CF)
    repo.commit("gw: comment")
    run = _check_json(repo, "--base", base, "--new-only", ".")
    assert run.codes() == ["PF301"], str(run)
    assert run.only("PF301")["status"] == "existing"
    assert run.returncode == 0


def test_widening_a_mynetworks_file_in_a_subdirectory_fails_with_pf203(repo: ConfigRepo) -> None:
    repo.write("hosts/mx/main.cf", MX_MAIN_CF.replace(MX_MYNETWORKS, "mynetworks = /etc/postfix/nets/trusted"))
    repo.write("hosts/mx/nets/trusted", "127.0.0.0/8\n[::1]/128\n10.20.0.0/16\n")
    base = repo.commit("mx: mynetworks from a file")
    repo.write("hosts/mx/nets/trusted", "127.0.0.0/8\n[::1]/128\n10.20.0.0/16\n192.168.0.0/16\n")
    repo.commit("mx: trust the office")
    run = _check_json(repo, "--base", base, ".")
    assert run.returncode == 1, str(run)
    assert ipaddress.ip_address(run.only("PF203")["witness"]["address"]) in OFFICE_NETWORK


def test_widening_a_mynetworks_file_next_to_main_cf_fails_with_pf203(repo: ConfigRepo) -> None:
    """The same as above with the file at the top level of the directory (which works)."""
    repo.write("hosts/mx/main.cf", MX_MAIN_CF.replace(MX_MYNETWORKS, "mynetworks = /etc/postfix/trusted"))
    repo.write("hosts/mx/trusted", "127.0.0.0/8\n[::1]/128\n10.20.0.0/16\n")
    base = repo.commit("mx: mynetworks from a file")
    repo.write("hosts/mx/trusted", "127.0.0.0/8\n[::1]/128\n10.20.0.0/16\n192.168.0.0/16\n")
    repo.commit("mx: trust the office")
    run = _check_json(repo, "--base", base, ".")
    assert run.returncode == 1, str(run)
    finding = run.only("PF203")
    assert ipaddress.ip_address(finding["witness"]["address"]) in OFFICE_NETWORK
    assert (finding["path"], finding["line"]) == ("hosts/mx/trusted", 4)


# --------------------------------------------------------------------------------------
# Real Postfix: the witnesses are real


@pytest.mark.live
def test_witnesses_of_pf203_and_pf304_agree_with_real_postfix(repo: ConfigRepo, live_postfix: Any) -> None:
    base = repo.head()
    repo.write("hosts/mx/main.cf", _widened())
    repo.write("hosts/gw/main.cf", GW_MAIN_CF_OPEN)
    repo.commit("mx: trust the office; gw: sender checks first")
    run = _check_json(repo, "--base", base, ".")
    widened = run.only("PF203")["witness"]
    opened = run.only("PF304")["witness"]
    foreign_recipient = opened["recipient"]

    tables = {"/etc/postfix/sender_access": SENDER_ACCESS}
    mx_before = live_postfix(MX_MAIN_CF, MASTER_CF)
    mx_after = live_postfix(_widened(), MASTER_CF)
    gw_before = live_postfix(GW_MAIN_CF_CLOSED, MASTER_CF, tables)
    gw_after = live_postfix(GW_MAIN_CF_OPEN, MASTER_CF, tables)

    def relay(instance: Any, witness: dict[str, Any]) -> Any:
        return instance.rcpt("smtp/inet", client=witness["client"], helo=witness.get("helo") or "probe.example",
                             sender=witness.get("sender", "probe@example.org"), recipient=foreign_recipient)

    office_client = {"client": widened["address"]}
    assert relay(mx_after, office_client).outcome == "accepted", str(relay(mx_after, office_client))
    assert relay(mx_before, office_client).outcome == "rejected", str(relay(mx_before, office_client))
    assert relay(gw_after, opened).outcome == "accepted", str(relay(gw_after, opened))
    assert relay(gw_before, opened).outcome == "rejected", str(relay(gw_before, opened))


@pytest.mark.live
def test_pf304_witness_of_a_new_listener_agrees_with_real_postfix(repo: ConfigRepo, live_postfix: Any) -> None:
    base = repo.head()
    _new_listener_override(repo)
    repo.commit("mx: port 2525 for the scanners")
    opened = _check_json(repo, "--base", base, ".").only("PF304")
    assert opened["service"] == "2525/inet"
    witness = opened["witness"]
    mx = live_postfix(MX_MAIN_CF, (repo.path / "hosts" / "mx" / "master.cf").read_text(encoding="utf-8"))
    probe = {"client": witness["client"], "sender": witness["sender"], "recipient": witness["recipient"]}
    if witness.get("helo"):
        probe["helo"] = witness["helo"]
    assert mx.rcpt("2525/inet", **probe).outcome == "accepted", str(mx.rcpt("2525/inet", **probe))
    assert mx.rcpt("smtp/inet", **probe).outcome == "rejected", str(mx.rcpt("smtp/inet", **probe))

