"""`--base REV` judges only what changed (issue 12): git blob ids decide which directories
read the same bytes at REV as in the work tree.

* `BaseRevision.unchanged()` is True exactly for a directory whose every file has the same blob
  id at REV and in the work tree, and False for every other shape (an edit, an added, deleted
  or ignored file, a changed side table, a symbolic link, no revision);
* the shortcut (unchanged directory: every finding existing, its old side neither copied nor
  judged) gives byte-for-byte the output of the long way, on corpus-built repos, with and
  without `--new-only`, with and without worker processes;
* `--changed-only` judges the changed directories only: its output is that of naming them.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pfcheck.cli import main
from pfcheck.engine import git_base
from pfcheck.engine.git_base import BaseRevision, blob_id
from tests.conftest import CORPUS
from tests.engine.test_performance import _benchmark_module

DIRECTORIES = 36  # above workers.PARALLEL_MIN_DIRECTORIES: the CLI's automatic mode forks


def _git(root: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    result = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                             "-c", "commit.gpgsign=false", *args], cwd=root, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _commit(root: Path) -> None:
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "--allow-empty", "-m", "configs")


@pytest.fixture
def small(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "hosts" / "a").mkdir(parents=True)
    _git(root, "init", "-q")
    (root / "hosts" / "a" / "main.cf").write_text("mynetworks = 127.0.0.0/8\n", encoding="utf-8")
    (root / "hosts" / "a" / "access").write_text("example.com OK\n", encoding="utf-8")
    (root / "hosts" / "b").mkdir()
    (root / "hosts" / "b" / "main.cf").write_text("disable_vrfy_command = no\n", encoding="utf-8")
    _commit(root)
    return root


def test_blob_id_is_git_hash_object(small: Path) -> None:
    path = small / "hosts" / "a" / "main.cf"
    assert blob_id(path.read_bytes()) == _git(small, "hash-object", str(path)).strip()


@pytest.mark.parametrize("listed_whole", [False, True])
def test_unchanged_is_true_only_for_identical_bytes(small: Path, listed_whole: bool) -> None:
    a, b = small / "hosts" / "a", small / "hosts" / "b"

    def unchanged(directory: Path) -> bool:
        with BaseRevision("HEAD") as base:
            if listed_whole:
                base.prefetch([a, b] * git_base.WHOLE_TREE_LISTING)
            return base.unchanged(directory)

    assert unchanged(a) and unchanged(b)
    os.utime(a / "main.cf", (0, 0))  # the same bytes, another stat: still unchanged
    assert unchanged(a)
    original = (a / "access").read_bytes()
    (a / "access").write_bytes(original + b"example.net OK\n")  # a side table the config may name
    assert not unchanged(a) and unchanged(b)
    (a / "access").write_bytes(original)
    assert unchanged(a)
    (a / "new_table").write_text("x OK\n", encoding="utf-8")  # untracked
    assert not unchanged(a)
    (a / "new_table").unlink()
    (small / ".gitignore").write_text("*.db\n", encoding="utf-8")
    (a / "access.db").write_bytes(b"\0")  # ignored by git, still in the work tree pfcheck reads
    assert not unchanged(a)
    (a / "access.db").unlink()
    (a / "access").unlink()  # deleted
    assert not unchanged(a)
    (a / "access").write_bytes(original)
    (a / "maps").mkdir()
    os.symlink("../access", a / "maps" / "access")  # a link: its target may change alone
    assert not unchanged(a)
    (a / "maps" / "access").unlink()
    assert unchanged(a)
    (a / "maps" / "access").write_bytes(original)  # a file in a subdirectory
    assert not unchanged(a)


def test_no_revision_means_changed(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "main.cf").write_text("mynetworks = 127.0.0.0/8\n", encoding="utf-8")
    with BaseRevision("HEAD", optional=True) as base:
        assert not base.unchanged(root)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Corpus configs made distinct (as the benchmark builds them), committed; then one host's
    mynetworks widened, one host's comment edited, one host's master.cf removed."""
    run = _benchmark_module()
    sources, _ = run.load_sources(CORPUS / "real")
    root = tmp_path_factory.mktemp("fleet") / "repo"
    built = run.build_repo(root, DIRECTORIES, sources)
    (root / ".pfcheck.yaml").write_text("version: 1\n", encoding="utf-8")
    dirs = built.directories
    widened = dirs[3] / "main.cf"
    # The base trusts loopback only (the last definition wins), whatever the source config
    # trusts (without the corpus, the examples stand in, and legacy-gw trusts everyone).
    before = widened.read_bytes()
    widened.write_bytes(before + b"\nmynetworks = 127.0.0.0/8\n")
    _commit(root)
    widened.write_bytes(before + b"\nmynetworks = 127.0.0.0/8 192.0.2.0/24\n")
    commented = dirs[10] / "main.cf"
    commented.write_bytes(b"# reviewed\n" + commented.read_bytes())
    gone = next(d for d in dirs[20:] if (d / "master.cf").exists())
    (gone / "master.cf").unlink()
    return root, [dirs[3], dirs[10], gone]


def _json(root: Path, args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[int, str]:
    monkeypatch.chdir(root)
    out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}.json"
    code = main([*args, "--format", "json", "--output-file", str(out)])
    return code, out.read_text(encoding="utf-8")


@pytest.mark.parametrize("jobs", [None, 1])
@pytest.mark.parametrize("new_only", [False, True])
def test_the_shortcut_gives_the_long_way_s_output(fleet: tuple[Path, list[Path]], monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path, new_only: bool, jobs: Any) -> None:
    root, _changed = fleet
    args = ["--base", "HEAD", *(["--new-only"] if new_only else []), "."]
    if jobs == 1:
        import pfcheck.engine.workers as workers

        monkeypatch.setattr(workers, "PARALLEL_MIN_DIRECTORIES", 10**6)
    short = _json(root, args, monkeypatch, tmp_path)
    monkeypatch.setattr(BaseRevision, "unchanged", lambda self, directory: False)
    long = _json(root, args, monkeypatch, tmp_path)
    assert short == long
    assert '"status": "existing"' in short[1] and '"status": "new"' in short[1]


def test_changed_only_is_naming_the_changed_directories(fleet: tuple[Path, list[Path]],
                                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root, changed = fleet
    for flags in (["--base", "HEAD"], ["--base", "HEAD", "--new-only"]):
        only = _json(root, [*flags, "--changed-only", "."], monkeypatch, tmp_path)
        named = _json(root, [*flags, *(str(d.relative_to(root)) for d in changed)], monkeypatch, tmp_path)
        assert only == named
        assert '"code": "PF203"' in only[1]


def test_changed_only_needs_a_base(small: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.chdir(small)
    assert main(["--changed-only", "."]) == 2
    assert "--changed-only needs --base REV" in capsys.readouterr().err
