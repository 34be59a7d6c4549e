"""`--base REV` over many directories asks git's index, not every file (issue 12, "compare git
blob ids first"): `git ls-files --stage -v`, `git diff-index REV` and `git check-attr` say which
work-tree files still hold the revision's bytes, and only the files they report are read.

The index route must answer `BaseRevision.unchanged()` exactly as hashing every file does. Each
case below changes one thing about a committed two-host repository, in a way git's index can
be fooled by or not: a staged edit, an edit undone after staging, assume-unchanged and
skip-worktree files, an edit of the same size with the old modification time put back, a
line-end conversion by `.gitattributes` and by `core.autocrlf`, a filter, an intent-to-add file.
Every route (index, whole-tree listing, per-directory hashing) must give the expected answer.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from pfcheck.engine import git_base
from pfcheck.engine.git_base import BaseRevision
from tests.engine.test_base_unchanged import _commit, _git

ROUTES = ("index", "tree listing", "per directory")


def _unchanged(root: Path, directory: Path, route: str) -> bool:
    with BaseRevision("HEAD", use_index=route == "index") as base:
        if route != "per directory":
            others = [root / "hosts" / name for name in ("a", "b")]
            base.prefetch(others * git_base.WHOLE_TREE_LISTING)
        return base.unchanged(directory)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for host, text in (("a", "mynetworks = 127.0.0.0/8\n"), ("b", "disable_vrfy_command = no\n")):
        (root / "hosts" / host).mkdir(parents=True)
        (root / "hosts" / host / "main.cf").write_text(text, encoding="utf-8")
    (root / "hosts" / "a" / "access").write_text("example.com OK\n", encoding="utf-8")
    _git(root, "init", "-q")
    _commit(root)
    return root


def _staged_edit(root: Path) -> None:
    (root / "hosts/a/access").write_text("example.net OK\n", encoding="utf-8")
    _git(root, "add", "hosts/a/access")


def _edit_undone_after_staging(root: Path) -> None:
    table = root / "hosts/a/access"
    original = table.read_bytes()
    table.write_text("example.net OK\n", encoding="utf-8")
    _git(root, "add", "hosts/a/access")
    table.write_bytes(original)  # the index differs from REV, the work tree does not


def _assume_unchanged(root: Path) -> None:
    _git(root, "update-index", "--assume-unchanged", "hosts/a/access")
    (root / "hosts/a/access").write_text("example.net OK\n", encoding="utf-8")


def _skip_worktree(root: Path) -> None:
    _git(root, "update-index", "--skip-worktree", "hosts/a/access")
    (root / "hosts/a/access").write_text("example.net OK\n", encoding="utf-8")


def _same_size_same_mtime(root: Path) -> None:
    table = root / "hosts/a/access"
    before = table.stat()
    table.write_text("example.org OK\n", encoding="utf-8")  # as long as "example.com OK"
    os.utime(table, ns=(before.st_atime_ns, before.st_mtime_ns))


def _touched(root: Path) -> None:
    os.utime(root / "hosts/a/access", (0, 0))  # other stat data, the same bytes


def _gitattributes_crlf(root: Path) -> None:
    # The blob has LF line ends; the work tree's copy has CRLF, which `text` turns back into
    # the same blob: the index calls it unchanged, the bytes pfcheck reads are not.
    (root / ".gitattributes").write_text("hosts/a/access text\n", encoding="utf-8")
    _commit(root)
    table = root / "hosts/a/access"
    table.write_bytes(table.read_bytes().replace(b"\n", b"\r\n"))
    _git(root, "add", "hosts/a/access")


def _autocrlf(root: Path) -> None:
    _git(root, "config", "core.autocrlf", "true")
    table = root / "hosts/a/access"
    table.write_bytes(table.read_bytes().replace(b"\n", b"\r\n"))
    _git(root, "add", "hosts/a/access")


def _filter(root: Path) -> None:
    # A clean filter that drops a marker line: the work tree holds more than the blob.
    (root / ".gitattributes").write_text("hosts/a/access filter=strip\n", encoding="utf-8")
    _git(root, "config", "filter.strip.clean", "grep -v MARKER")
    _git(root, "config", "filter.strip.smudge", "cat")
    _commit(root)
    table = root / "hosts/a/access"
    table.write_bytes(table.read_bytes() + b"MARKER\n")
    _git(root, "add", "hosts/a/access")


def _intent_to_add(root: Path) -> None:
    (root / "hosts/a/extra").write_text("x OK\n", encoding="utf-8")
    _git(root, "add", "-N", "hosts/a/extra")


def _removed_from_index(root: Path) -> None:
    _git(root, "rm", "-q", "--cached", "hosts/a/access")  # still in the work tree, untracked


CASES: list[tuple[str, Callable[[Path], None], bool]] = [
    ("nothing changed", lambda root: None, True),
    ("touched, same bytes", _touched, True),
    ("staged edit", _staged_edit, False),
    ("edit undone after staging", _edit_undone_after_staging, True),
    ("assume-unchanged and edited", _assume_unchanged, False),
    ("skip-worktree and edited", _skip_worktree, False),
    ("same size, old mtime put back", _same_size_same_mtime, False),
    (".gitattributes converts line ends", _gitattributes_crlf, False),
    ("core.autocrlf converts line ends", _autocrlf, False),
    ("a clean filter", _filter, False),
    ("an intent-to-add file", _intent_to_add, False),
    ("removed from the index only", _removed_from_index, True),
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("change", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_every_route_answers_as_the_bytes_do(repo: Path, change: Callable[[Path], None], expected: bool,
                                             route: str) -> None:
    change(repo)
    assert _unchanged(repo, repo / "hosts" / "a", route) is expected
    assert _unchanged(repo, repo / "hosts" / "b", route)  # the other host is untouched


def test_the_index_route_reads_only_what_git_reports(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []
    original = git_base._file_blob_id

    def counting(path: str) -> object:
        read.append(Path(path).name)
        return original(path)

    monkeypatch.setattr(git_base, "_file_blob_id", counting)
    _touched(repo)
    assert _unchanged(repo, repo / "hosts" / "a", "index")
    assert read == ["access"]  # the touched file, not main.cf
    read.clear()
    assert _unchanged(repo, repo / "hosts" / "a", "per directory")
    assert sorted(read) == ["access", "main.cf"]
