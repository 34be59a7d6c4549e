"""Repository roots are looked up once per directory within a run (repository.remembering_roots).

The remembered answer must be the one the walk gives (nested repositories, no repository, a
symlinked directory that leaves the repository as named), nothing may be remembered outside a
run, and a run over many host directories must not walk up from every file again.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pfcheck import repository
from pfcheck.engine.run import LintOptions, lint
from pfcheck.cli import _policy_lookup
from pfcheck.repository import find_repo_root, remembering_roots


def _tree(tmp_path: Path) -> list[Path]:
    outer = tmp_path / "outer"
    (outer / ".git").mkdir(parents=True)
    inner = outer / "hosts" / "inner"
    inner.mkdir(parents=True)
    (inner / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git is a file
    lone = tmp_path / "lone" / "a" / "b"
    lone.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (outer / "hosts" / "link").symlink_to(elsewhere, target_is_directory=True)
    return [outer, outer / "hosts", inner, inner / "x" if (inner / "x").mkdir() is None else inner,
            lone, lone.parent, tmp_path / "lone", outer / "hosts" / "link", elsewhere, Path("/")]


def test_remembered_roots_are_the_walked_ones(tmp_path: Path) -> None:
    paths = _tree(tmp_path)
    walked = [find_repo_root(path) for path in paths]
    assert walked[2] == walked[3] == (tmp_path / "outer" / "hosts" / "inner").resolve()
    assert walked[7] == (tmp_path / "outer").resolve()  # as named: the link stays in outer
    assert walked[4] == paths[4].resolve()  # no .git anywhere above: the directory itself
    with remembering_roots():
        # Twice, in both orders: the ancestors' answers are shared between the walks.
        assert [find_repo_root(path) for path in paths] == walked
        assert [find_repo_root(path) for path in reversed(paths)] == list(reversed(walked))


def test_nothing_is_remembered_outside_a_run(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b"
    directory.mkdir(parents=True)
    before = find_repo_root(directory)
    (tmp_path / "a" / ".git").mkdir()
    assert find_repo_root(directory) == (tmp_path / "a").resolve() != before
    with remembering_roots():
        assert find_repo_root(directory) == (tmp_path / "a").resolve()
    assert repository._ROOTS is None and repository._ANCESTORS is None


def test_a_run_walks_each_ancestor_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    hosts = tmp_path / "fleet" / "hosts"
    for index in range(20):
        host = hosts / f"h{index:02d}"
        host.mkdir(parents=True)
        (host / "main.cf").write_text(f"myhostname = h{index:02d}.example\n")
        (host / "master.cf").write_text("smtp inet n - n - - smtpd\n")
    asked: list[str] = []
    real_lexists = os.path.lexists

    def counting(path: str) -> bool:
        if sys._getframe(1).f_code.co_filename == repository.__file__:  # the walk, not other code
            asked.append(str(path))
        return real_lexists(path)

    monkeypatch.setattr(repository.os.path, "lexists", counting)
    monkeypatch.chdir(tmp_path)
    result = lint([str(hosts)], LintOptions(jobs=1), _policy_lookup(None))
    assert len(result.directories) == 20
    walk = [name for name in asked if "/fleet" in name]
    # Each host directory once, the two directories above it once: not once per file read.
    assert len(walk) == len(set(walk)) == 20 + 2, walk
