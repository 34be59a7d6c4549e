"""Judging a change against the revision it changes (`--base REV`).

Old versions are read with `git show REV:path` into a private temp directory outside the repo:
pfcheck never checks anything out and never writes to the repository.
"""
from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pfcheck.discovery import UsageError
from pfcheck.postfix.source import MAX_INPUT_BYTES

GIT_TIMEOUT = 60
#: Above this many files below a config directory at REV, only its own files are read.
MAX_OLD_FILES = 500
#: git's file mode of a symbolic link; links to links are followed this many times.
SYMLINK_MODE = "120000"
MAX_LINK_DEPTH = 8


def _git(directory: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, timeout=GIT_TIMEOUT, check=False,
        )
    except FileNotFoundError:
        raise UsageError("--base needs git, which is not installed") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"git {' '.join(args)} timed out") from None


class BaseRevision:
    """A git revision to compare with; materialises old config directories on demand."""

    def __init__(self, revision: str, *, optional: bool = False) -> None:
        self.revision = revision
        self.optional = optional
        self._verified: dict[Path, bool] = {}
        self._workdir = Path(tempfile.mkdtemp(prefix="pfcheck-base-"))
        self._count = 0

    def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> "BaseRevision":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _toplevel(self, directory: Path) -> Path:
        result = _git(directory, "rev-parse", "--show-toplevel")
        if result.returncode != 0:
            raise UsageError(f"--base {self.revision}: {directory} is not inside a git repository")
        return Path(result.stdout.decode("utf-8", "surrogateescape").strip())

    def available(self, directory: Path) -> bool:
        """Whether the revision exists in this clone; raises UsageError when it must."""
        top = self._toplevel(directory)
        if top not in self._verified:
            result = _git(top, "rev-parse", "--verify", "--quiet", f"{self.revision}^{{commit}}")
            present = result.returncode == 0
            if not present and not self.optional:
                shallow = _git(top, "rev-parse", "--is-shallow-repository").stdout.strip() == b"true"
                hint = (" This is a shallow clone: fetch more history (e.g. git fetch --deepen=50, or "
                        "fetch-depth: 0 in actions/checkout) or fetch the target branch.") if shallow else ""
                raise UsageError(f"--base {self.revision}: no such revision in this clone.{hint}")
            self._verified[top] = present
        return self._verified[top]

    def deleted_files(self, paths: list[Path]) -> list[Path]:
        """Files of the repositories holding `paths` that exist at the revision and not in the
        working tree (absolute). Files below a directory in `paths` are left out: judging
        that directory already covers them."""
        directories = [p for p in paths if os.path.isdir(p)]
        tops = {self._toplevel(p if os.path.isdir(p) else p.parent) for p in paths or [Path.cwd()]}
        deleted: list[Path] = []
        for top in sorted(tops):
            if not self.available(top):
                continue
            listing = _git(top, "diff", "--name-only", "--no-renames", "--diff-filter=D", "-z", self.revision, "--")
            if listing.returncode != 0:
                continue
            for name in listing.stdout.decode("utf-8", "surrogateescape").split("\0"):
                path = top / name
                if name and not any(d.resolve() in path.parents for d in directories):
                    deleted.append(path)
        return deleted

    def old_directory(self, directory: Path) -> Optional[Path]:
        """A temp copy of `directory` as it was at the revision, None when it did not exist.

        A symlink inside the directory (a table shared by several hosts) is copied as the file
        or tree it pointed to at the revision, when that is inside the repository; a link
        leaving the repository is left out, as the table resolver refuses it in the work tree.
        """
        if not self.available(directory):
            return None
        entries = self._tree(directory, ".")
        if entries is None:
            return None
        names = [entry.name for entry in entries]
        if "main.cf" not in names and "master.cf" not in names:
            return None
        if len(entries) > MAX_OLD_FILES:
            # A config directory at the top of a big repo: the config files and what sits
            # next to them are what the old model can reference without a subdirectory.
            entries = [entry for entry in entries if "/" not in entry.name]
        self._count += 1
        target = self._workdir / str(self._count)
        target.mkdir()
        top = self._toplevel(directory)
        prefix = directory.resolve().relative_to(top.resolve()).as_posix() if directory.resolve() != top.resolve() else ""
        for entry in entries:
            if ".." in Path(entry.name).parts or Path(entry.name).is_absolute():
                continue
            repo_path = f"{prefix}/{entry.name}" if prefix else entry.name
            self._materialise(top, repo_path, entry, target / entry.name, depth=0)
        return target

    def _tree(self, directory: Path, spec: str) -> Optional[list[_TreeEntry]]:
        """Every entry below `spec` at the revision, `name` relative to `spec`'s directory."""
        listing = _git(directory, "ls-tree", "-r", "-z", "-l", self.revision, "--", spec)
        if listing.returncode != 0:
            return None
        entries = []
        for record in listing.stdout.decode("utf-8", "surrogateescape").split("\0"):
            if not record:
                continue
            meta, _, name = record.partition("\t")
            fields = meta.split()
            if len(fields) < 4:
                continue
            size = int(fields[3]) if fields[3].isdigit() else None
            entries.append(_TreeEntry(fields[0], fields[1], size, name))
        return entries

    def _blob(self, top: Path, repo_path: str) -> Optional[bytes]:
        blob = _git(top, "cat-file", "blob", f"{self.revision}:{repo_path}")
        return blob.stdout if blob.returncode == 0 else None

    def _materialise(self, top: Path, repo_path: str, entry: _TreeEntry, destination: Path, depth: int) -> None:
        if entry.kind != "blob" or depth > MAX_LINK_DEPTH:
            return  # submodules; link chains too long
        if entry.size is not None and entry.size > MAX_INPUT_BYTES:
            # Never read into memory: a sparse stand-in of the same size makes the old side
            # report it as too large, exactly as a checked-out copy would be.
            destination.parent.mkdir(parents=True, exist_ok=True)
            with open(destination, "wb") as handle:
                handle.truncate(entry.size)
            return
        data = self._blob(top, repo_path)
        if data is None:
            return
        if entry.mode != SYMLINK_MODE:
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data)
            return
        link = data.decode("utf-8", "surrogateescape")
        if link.startswith("/"):
            return
        pointed = posixpath.normpath(posixpath.join(posixpath.dirname(repo_path), link))
        if pointed == ".." or pointed.startswith("../"):
            return  # outside the repository
        kind_of = _git(top, "cat-file", "-t", f"{self.revision}:{pointed}")
        pointed_kind = kind_of.stdout.decode().strip() if kind_of.returncode == 0 else ""
        if pointed_kind == "tree":
            for sub in self._tree(top, pointed) or []:
                relative = posixpath.relpath(sub.name, pointed) if sub.name.startswith(pointed + "/") else sub.name
                self._materialise(top, f"{pointed}/{relative}", sub, destination / relative, depth + 1)
        elif pointed_kind == "blob":
            listed = self._tree(top, pointed) or []
            if listed:
                self._materialise(top, pointed, listed[0], destination, depth + 1)


@dataclass(frozen=True)
class _TreeEntry:
    """One `git ls-tree -r -l` entry: mode, object type, blob size (None for a submodule)."""

    mode: str
    kind: str
    size: Optional[int]
    name: str
