"""Judging a change against the revision it changes (`--base REV`).

Old versions are read with `git show REV:path` into a private temp directory outside the repo:
pfcheck never checks anything out and never writes to the repository.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

from pfcheck.discovery import UsageError
from pfcheck.postfix.source import MAX_INPUT_BYTES

GIT_TIMEOUT = 60
#: Above this many files below a config directory at REV, only its own files are read.
MAX_OLD_FILES = 500


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

    def old_directory(self, directory: Path) -> Optional[Path]:
        """A temp copy of `directory` as it was at the revision, None when it did not exist."""
        if not self.available(directory):
            return None
        listing = _git(directory, "ls-tree", "-r", "-z", "-l", self.revision, "--", ".")
        if listing.returncode != 0:
            return None
        # Paths come relative to `directory`, tables in subdirectories included.
        sizes = _blob_sizes(listing.stdout)
        names = list(sizes)
        if "main.cf" not in names and "master.cf" not in names:
            return None
        if len(names) > MAX_OLD_FILES:
            # A config directory at the top of a big repo: the config files and what sits
            # next to them are what the old model can reference without a subdirectory.
            names = [n for n in names if "/" not in n]
        self._count += 1
        target = self._workdir / str(self._count)
        target.mkdir()
        for name in names:
            if ".." in Path(name).parts or Path(name).is_absolute():
                continue
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            size = sizes[name]
            if size is not None and size > MAX_INPUT_BYTES:
                # Never read into memory: a sparse stand-in of the same size makes the old
                # side report it as too large, exactly as a checked-out copy would be.
                with open(destination, "wb") as handle:
                    handle.truncate(size)
                continue
            blob = _git(directory, "cat-file", "blob", f"{self.revision}:./{name}")
            if blob.returncode == 0:
                destination.write_bytes(blob.stdout)
        return target


def _blob_sizes(listing: bytes) -> dict[str, Optional[int]]:
    """`git ls-tree -r -z -l` output -> path: blob size (None for a submodule or a symlink's
    target size that git does not give)."""
    sizes: dict[str, Optional[int]] = {}
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        fields = meta.split()
        if len(fields) < 4 or fields[1] != b"blob":
            continue
        name = path.decode("utf-8", "surrogateescape")
        sizes[name] = int(fields[3]) if fields[3].isdigit() else None
    return sizes
