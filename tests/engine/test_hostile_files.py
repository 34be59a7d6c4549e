"""Hostile files: pfcheck reads only regular files inside the repository, never quotes what it
must not read, and answers every path it cannot read with one finding (issue 13).

Real files, symlinks, FIFOs, sockets and devices in temp trees; the CLI in a subprocess. The
permission tests run the CLI as an unprivileged user (`setpriv`, since tests run as root here
and in CI, where chmod does not stop reads). Postfix is the oracle for the binary main.cf.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Sequence

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = "SECRETMARKER123"
SECRET = f"{MARKER}:x\n{MARKER} = 1\n0.0.0.0/0 OK {MARKER}\n"
OUTSIDE = "a symlink that leaves the repository, not read"
PERMISSION = "permission denied, not read"
MAIN = "compatibility_level = 3.6\nmyhostname = mx.example.net\ndisable_vrfy_command = yes\nmynetworks = 127.0.0.0/8\n"
MASTER = "smtp      inet  n       -       y       -       -       smtpd\n"
RELAY = "smtpd_relay_restrictions = permit_mynetworks, check_client_access {table}, reject_unauth_destination\n"
#: Every output format (pfcheck --help) and the show formats.
FORMATS = ("text", "json", "sarif", "github", "gitlab", "junit")
UNPRIVILEGED = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def run(args: Sequence[str], cwd: Path, *, unprivileged: bool = False,
        timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`python -m pfcheck ARGS` in cwd; as user nobody when `unprivileged` and running as root."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8",
           "HOME": str(cwd), "PYTHONDONTWRITEBYTECODE": "1"}
    prefix = UNPRIVILEGED if unprivileged and os.geteuid() == 0 else []
    return subprocess.run([*prefix, sys.executable, "-m", "pfcheck", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, errors="replace", timeout=timeout)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   check=True, capture_output=True)


def one_line_answer(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr


def findings(result: subprocess.CompletedProcess[str]) -> list[tuple[str, str, str]]:
    return [(f["path"], f["code"], f["message"]) for f in json.loads(result.stdout)["findings"]]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository, with a secret file next to it (outside)."""
    (tmp_path / "secret").write_text(SECRET, encoding="utf-8")
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    return root


def host(repo: Path, name: str, main: str = MAIN, master: Optional[str] = MASTER) -> Path:
    directory = repo / "hosts" / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.cf").write_text(main, encoding="utf-8")
    if master is not None:
        (directory / "master.cf").write_text(master, encoding="utf-8")
    return directory


# --------------------------------------------------------------------------- the secret stays out

#: Where the symlink to the secret sits, and the main.cf naming it (None: the link is main.cf).
PLACEMENTS = {
    "main.cf": ("main.cf", None),
    "master.cf": ("master.cf", MAIN),
    "cidr table": ("clients.cidr", MAIN + RELAY.format(table="cidr:/etc/postfix/clients.cidr")),
    "regexp table": ("clients.re", MAIN + RELAY.format(table="regexp:$config_directory/clients.re")),
    "hash table": ("access", MAIN + RELAY.format(table="hash:/etc/postfix/access")),
    "/file/name list": ("networks", MAIN.replace("127.0.0.0/8", "/etc/postfix/networks")
                        + RELAY.format(table="cidr:/etc/postfix/none.cidr")),
}


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_a_symlink_leaving_the_repository_is_never_read(repo: Path, placement: str) -> None:
    link_name, main = PLACEMENTS[placement]
    directory = host(repo, "mx", main or MAIN, master=None if link_name == "master.cf" else MASTER)
    if link_name == "main.cf":
        (directory / "main.cf").unlink()
    (directory / link_name).symlink_to(repo.parent / "secret")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    outputs = [arg for name in FORMATS[1:] for arg in ("--format", name, "--output-file", f"../out.{name}")]
    result = run(["--format", "text", *outputs, "."], repo)
    one_line_answer(result)
    assert result.returncode == 1, result.stdout + result.stderr  # PF900 fails: a gate never passes it
    link = f"hosts/mx/{link_name}"
    assert re.search(rf"^{re.escape(link)}:1:1: PF900 not-checked: not checked: {OUTSIDE}", result.stdout, re.M), \
        result.stdout
    texts = [result.stdout, result.stderr] + [(repo.parent / f"out.{n}").read_text() for n in FORMATS[1:]]
    document = json.loads((repo.parent / "out.json").read_text())
    assert {"path": link, "code": "PF900", "message": f"not checked: {OUTSIDE}"}.items() <= next(
        f for f in document["findings"] if f["path"] == link).items() or link_name not in ("main.cf", "master.cf")
    for args in (["show", "hosts/mx"], ["show", "--format", "json", "hosts/mx"], ["--base", "HEAD", "--format", "json", "."]):
        other = run(args, repo)
        one_line_answer(other)
        texts += [other.stdout, other.stderr]
    leaked = [text for text in texts if MARKER in text or str(repo.parent / "secret") in text]
    assert not leaked, leaked[0][:500]


def test_a_directory_symlink_leaving_the_repository_is_never_read(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "main.cf").write_text(SECRET, encoding="utf-8")
    (repo / "hosts").mkdir()
    (repo / "hosts" / "evil").symlink_to(elsewhere, target_is_directory=True)
    result = run(["--format", "json", "hosts/evil"], repo)
    one_line_answer(result)
    assert findings(result) == [("hosts/evil/main.cf", "PF900", "not checked: outside the repository, not read")]
    assert MARKER not in result.stdout + result.stderr and "elsewhere" not in result.stdout


def test_a_policy_symlink_leaving_the_repository_is_a_policy_error(repo: Path) -> None:
    host(repo, "mx")
    (repo / ".pfcheck.yaml").symlink_to(repo.parent / "secret")
    for args in (["hosts/mx"], ["show", "hosts/mx"]):
        result = run(args, repo)
        assert result.returncode == 2, result.stdout + result.stderr
        one_line_answer(result)
        # paths relative to the working directory, as findings give them
        assert result.stderr.strip() == f".pfcheck.yaml:1:1: cannot read policy file: {OUTSIDE}"
        assert MARKER not in result.stdout + result.stderr


def test_in_repository_symlinks_keep_working(repo: Path) -> None:
    """A host's main.cf -> ../../common/main.cf and a shared table are read (and judged)."""
    common = repo / "common"
    common.mkdir()
    (common / "main.cf").write_text(MAIN.replace("disable_vrfy_command = yes", "disable_vrfy_command = no"))
    (common / "open.cidr").write_text("0.0.0.0/0 OK\n")
    directory = host(repo, "a", MAIN + RELAY.format(table="cidr:/etc/postfix/shared.cidr"))
    (directory / "shared.cidr").symlink_to("../../common/open.cidr")
    linked = repo / "hosts" / "b"
    linked.mkdir()
    (linked / "main.cf").symlink_to("../../common/main.cf")
    (linked / "master.cf").write_text(MASTER)
    result = run(["--format", "json", "hosts"], repo)
    one_line_answer(result)
    codes = {(path, code) for path, code, _ in findings(result)}
    assert ("common/main.cf", "PF101") in codes  # read through the link
    assert ("hosts/a/main.cf", "PF301") in codes and ("common/open.cidr", "PF201") in codes, codes  # the table was read
    assert not any(code == "PF900" for _, code in codes), codes


# --------------------------------------------------------------------------- special files

def _special(directory: Path, kind: str) -> Iterator[None]:
    """Make main.cf a special file of `kind`; yield while it exists."""
    path = directory / "main.cf"
    if kind == "fifo":
        os.mkfifo(path)
        yield
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.bind(str(path))
            yield
        finally:
            server.close()
    else:
        path.symlink_to(kind)
        yield


@pytest.mark.parametrize("kind, reason", [
    ("/dev/zero", OUTSIDE), ("/dev/urandom", OUTSIDE), ("/dev/null", OUTSIDE),
    ("fifo", "not a regular file (a FIFO), not read"), ("socket", "not a regular file (a socket), not read"),
])
def test_special_files_are_never_opened(tmp_path: Path, kind: str, reason: str) -> None:
    directory = tmp_path / "mx"
    directory.mkdir()
    (directory / "master.cf").write_text(MASTER)
    for _ in _special(directory, kind):
        result = run(["--policy", "builtin", "mx"], tmp_path, timeout=30)  # a FIFO opened would hang
        one_line_answer(result)
        assert result.returncode == 1
        assert result.stdout.splitlines()[0] == f"mx/main.cf:1:1: PF900 not-checked: not checked: {reason}"
        assert len(result.stdout.splitlines()) == 2, result.stdout  # the finding and the summary


def test_a_fifo_table_is_never_opened(tmp_path: Path) -> None:
    directory = tmp_path / "mx"
    directory.mkdir()
    (directory / "main.cf").write_text(MAIN + RELAY.format(table="cidr:/etc/postfix/clients.cidr"))
    (directory / "master.cf").write_text(MASTER)
    os.mkfifo(directory / "clients.cidr")
    result = run(["--policy", "builtin", "--format", "json", "mx"], tmp_path, timeout=30)
    one_line_answer(result)
    assert ("mx/clients.cidr", "PF900",
            "not checked: not a regular file (a FIFO), not read (named as /etc/postfix/clients.cidr)") in findings(result)


def test_a_fifo_policy_is_never_opened(tmp_path: Path) -> None:
    host(tmp_path, "mx")
    os.mkfifo(tmp_path / "hosts" / "mx" / ".pfcheck.yaml")
    result = run(["hosts/mx"], tmp_path, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("cannot read policy file: not a regular file (a FIFO), not read")


# --------------------------------------------------------------------------- what messages quote

def _nul_free_binary(size: int, seed: int = 13) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.choice(range(1, 256)) for _ in range(size)).replace(b"\n", b"\x01")


@pytest.mark.parametrize("prefix", [b"\x93\xff \x01", b""], ids=["name-then-junk", "random"])
def test_binary_main_cf_without_nul_agrees_with_postconf_and_is_bounded(tmp_path: Path, prefix: bytes) -> None:
    """Random bytes without NUL or newline: postconf either dies with "missing '=' after
    attribute name" (a name, then no '=') or reads a strange definition; pfcheck says the same
    (PF000 exactly when postconf dies), and prints only bounded, printable lines."""
    postconf = shutil.which("postconf") or "/usr/sbin/postconf"
    if not os.path.exists(postconf):
        pytest.skip("postconf is not installed")
    data = prefix + b"\x93" + _nul_free_binary(5000)  # (first byte: no comment, no leading space)
    directory = tmp_path / "mx"
    directory.mkdir()
    (directory / "main.cf").write_bytes(data + b"\n")
    (directory / "master.cf").write_text(MASTER)
    oracle = subprocess.run([postconf, "-c", str(directory), "-n"], capture_output=True, timeout=30)
    postconf_dies = oracle.returncode != 0 and b"fatal: " in oracle.stderr
    result = run(["--policy", "builtin", "--format", "json", "mx"], tmp_path)
    one_line_answer(result)
    fatal = [f for f in json.loads(result.stdout)["findings"]
             if f["code"] == "PF000" and f["message"].startswith("missing '=' after attribute name: \"")]
    assert bool(fatal) == postconf_dies, oracle.stderr[:300]
    if prefix:
        assert postconf_dies and b"missing '=' after attribute name" in oracle.stderr
    text = run(["--policy", "builtin", "mx"], tmp_path)
    for line in text.stdout.splitlines():
        assert len(line) < 5000
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line), repr(line[:200])


@pytest.mark.parametrize("main", [
    "x" * 1_000_000 + "\n",                                       # PF000: missing '='
    "smtpd_client_connection_rate_limit = " + "A" * 1_000_000 + "\n",  # PF000: bad number
    "A" * 1_000_000 + " = 1\n",                                   # PF002: unknown name
    "myhostname = ${" + "A" * 1_000_000 + "\n",                   # PF000: macro syntax
])
def test_a_one_megabyte_line_gives_bounded_messages(tmp_path: Path, main: str) -> None:
    directory = tmp_path / "mx"
    directory.mkdir()
    (directory / "main.cf").write_text(main)
    (directory / "master.cf").write_text(MASTER)
    result = run(["--policy", "builtin", "--format", "json", "mx"], tmp_path)
    one_line_answer(result)
    document = json.loads(result.stdout)
    assert document["findings"]
    for finding in document["findings"]:
        for key, value in finding.items():
            if isinstance(value, str) and key != "path":
                assert len(value) <= 4000, (key, len(value))
    assert len(result.stdout) < 60_000


# --------------------------------------------------------------------------- unreadable paths

@pytest.fixture
def shared_tree() -> Iterator[Path]:
    """A temp tree the unprivileged user can reach (pytest's tmp_path is private to root)."""
    if os.geteuid() == 0:
        assert shutil.which("setpriv"), "setpriv (util-linux) is needed to test permissions as root"
    top = Path(tempfile.mkdtemp(prefix="pfcheck-perm-", dir="/tmp"))
    top.chmod(0o755)
    try:
        yield top
    finally:
        for path in [top, *top.rglob("*")] if top.exists() else []:
            if not path.is_symlink():
                try:
                    path.chmod(0o755 if path.is_dir() else 0o644)
                except OSError:
                    pass
        shutil.rmtree(top, ignore_errors=True)


def _locked(path: Path) -> None:
    path.chmod(0)


def test_an_unreadable_directory_is_reported_not_skipped(shared_tree: Path) -> None:
    repo = shared_tree
    host(repo, "ok")
    host(repo, "mx")
    host(repo, "hidden")
    _locked(repo / "hosts" / "hidden")
    _locked(repo / "hosts" / "mx" / "main.cf")
    result = run(["--policy", "builtin", "--format", "json", "."], repo, unprivileged=True)
    one_line_answer(result)
    assert result.returncode == 1, result.stdout + result.stderr
    refused = sorted((path, message) for path, code, message in findings(result) if code == "PF900")
    assert refused == [("hosts/hidden", f"not checked: {PERMISSION}"),
                       ("hosts/mx/main.cf", f"not checked: {PERMISSION}")], refused
    whole = run(["--policy", "builtin", "hosts/hidden"], repo, unprivileged=True)
    assert whole.returncode == 1 and whole.stdout.startswith(f"hosts/hidden:1:1: PF900 not-checked: not checked: {PERMISSION}")


def test_a_file_below_an_unsearchable_directory(shared_tree: Path) -> None:
    repo = shared_tree
    host(repo, "mx")
    _locked(repo / "hosts" / "mx")
    result = run(["--policy", "builtin", "hosts/mx/main.cf"], repo, unprivileged=True)
    one_line_answer(result)
    assert result.returncode == 1
    assert f"hosts/mx/main.cf:1:1: PF900 not-checked: not checked: {PERMISSION}" in result.stdout
    show = run(["show", "--policy", "builtin", "hosts/mx"], repo, unprivileged=True)
    assert show.returncode == 2
    assert "Traceback" not in show.stderr and "internal error" not in show.stderr
    assert f"pfcheck: hosts/mx/main.cf: {PERMISSION}" in show.stderr.splitlines()


def test_an_unreadable_table_is_reported(shared_tree: Path) -> None:
    repo = shared_tree
    directory = host(repo, "mx", MAIN + RELAY.format(table="cidr:/etc/postfix/clients.cidr"))
    (directory / "clients.cidr").write_text("0.0.0.0/0 OK\n")
    _locked(directory / "clients.cidr")
    result = run(["--policy", "builtin", "--format", "json", "hosts/mx"], repo, unprivileged=True)
    one_line_answer(result)
    assert ("hosts/mx/clients.cidr", "PF900",
            f"not checked: {PERMISSION} (named as /etc/postfix/clients.cidr)") in findings(result)
    assert result.returncode == 1


def test_the_unprivileged_user_really_cannot_read(shared_tree: Path) -> None:
    """The permission tests above prove something only if the lock holds for their user."""
    (shared_tree / "f").write_text("x")
    _locked(shared_tree / "f")
    prefix = UNPRIVILEGED if os.geteuid() == 0 else []
    probe = subprocess.run([*prefix, "cat", str(shared_tree / "f")], capture_output=True, timeout=30)
    assert probe.returncode != 0 and stat.S_IMODE((shared_tree / "f").stat().st_mode) == 0


def test_without_git_the_boundary_is_the_config_directory_and_the_refusal_says_so(tmp_path: Path) -> None:
    """No .git: a host's main.cf linked to a sibling file of the tree is not read, and the
    message tells how to share it (a git checkout is one repository)."""
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "main.cf").write_text("mynetworks = 0.0.0.0/0\n")
    host = tmp_path / "hosts" / "a"
    host.mkdir(parents=True)
    (host / "main.cf").symlink_to("../../common/main.cf")
    lonely = run(["hosts"], cwd=tmp_path)
    assert "hosts/a/main.cf:1:1: PF900" in lonely.stdout and "run pfcheck in a git checkout" in lonely.stdout
    assert "0.0.0.0/0" not in lonely.stdout
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shared = run(["hosts"], cwd=tmp_path)
    assert "PF900" not in shared.stdout and "0.0.0.0/0" in shared.stdout
