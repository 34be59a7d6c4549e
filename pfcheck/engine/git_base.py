"""Judging a change against the revision it changes (`--base REV`).

Old versions are read with `git show REV:path` into a private temp directory outside the repo:
pfcheck never checks anything out and never writes to the repository.

`BaseRevision.unchanged(directory)` says, from git blob ids, whether a config directory reads
the same bytes at REV as in the work tree; such a directory has no new finding by
construction, and the engine neither copies nor judges its old side (see `unchanged()`).
"""
from __future__ import annotations

import bisect
import hashlib
import os
import posixpath
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pfcheck.discovery import UsageError
from pfcheck.postfix.source import MAX_INPUT_BYTES
from pfcheck.repository import find_repo_root, real_path

GIT_TIMEOUT = 60
#: Above this many files below a config directory at REV, only its own files are read.
MAX_OLD_FILES = 500
#: git's file mode of a symbolic link; links to links are followed this many times.
SYMLINK_MODE = "120000"
MAX_LINK_DEPTH = 8
#: git's file modes of regular files (the executable bit does not change what pfcheck reads).
REGULAR_MODES = frozenset({"100644", "100755"})
#: With more config directories than this, the whole tree at REV is listed with one git call.
WHOLE_TREE_LISTING = 8


def _git(directory: Path, *args: str, stdin: Optional[bytes] = None,
         reading_index: bool = False) -> subprocess.CompletedProcess[bytes]:
    """Run git in `directory`. `reading_index`: git only reads the index, never refreshes or
    rewrites it (GIT_OPTIONAL_LOCKS=0), and asks no file-system monitor (its answers are
    what the index route below must not take on trust)."""
    command = ["git", "-C", str(directory)]
    env = None
    if reading_index:
        command += ["-c", "core.fsmonitor=false"]
        env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        return subprocess.run(
            [*command, *args], input=stdin, capture_output=True, timeout=GIT_TIMEOUT, check=False, env=env,
        )
    except FileNotFoundError:
        raise UsageError("--base needs git, which is not installed") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"git {' '.join(args)} timed out") from None


class BaseRevision:
    """A git revision to compare with; materialises old config directories on demand."""

    def __init__(self, revision: str, *, optional: bool = False, use_index: bool = True) -> None:
        self.revision = revision
        self.optional = optional
        self._verified: dict[Path, bool] = {}
        self._workdir = Path(tempfile.mkdtemp(prefix="pfcheck-base-"))
        self._count = 0
        #: directory -> its git top level; the top levels git has named so far.
        self._tops: dict[Path, Path] = {}
        self._known_tops: set[Path] = set()
        #: top level -> every entry at the revision (names relative to it, sorted), when listed whole.
        self._listings: dict[Path, tuple[list[str], list[_TreeEntry]]] = {}
        #: top level -> what its index says of the work tree (prefetch; None: not usable).
        self._indexes: dict[Path, Optional[_IndexView]] = {}
        self._use_index = use_index
        self._unchanged: dict[Path, bool] = {}

    def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> "BaseRevision":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _toplevel(self, directory: Path) -> Path:
        cached = self._tops.get(directory)
        if cached is not None:
            return cached
        # The nearest `.git` above a directory's real path is the top level git would find,
        # when git has already named it for another directory and no GIT_DIR/GIT_WORK_TREE
        # redirects it.
        real = Path(real_path(directory))
        if self._known_tops and not {"GIT_DIR", "GIT_WORK_TREE"} & os.environ.keys():
            candidate = find_repo_root(real)  # the nearest `.git` at or above (remembered per run)
            if candidate in self._known_tops:
                self._tops[directory] = candidate
                return candidate
        result = _git(directory, "rev-parse", "--show-toplevel")
        if result.returncode != 0:
            raise UsageError(f"--base {self.revision}: {directory} is not inside a git repository")
        top = Path(result.stdout.decode("utf-8", "surrogateescape").strip())
        self._tops[directory] = top
        if top == real or top in real.parents:
            self._known_tops.add(top)
        return top

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

    def prefetch(self, directories: list[Path]) -> None:
        """Many directories will be asked about: list each repository's tree at the revision
        once, with one git call, instead of once per directory."""
        if len(directories) <= WHOLE_TREE_LISTING:
            return
        for directory in directories:
            top = self._toplevel(directory)
            if top in self._listings or not self.available(top):
                continue
            view = self._index_view(top) if self._use_index else None
            self._indexes[top] = view
            if view is not None:
                self._listings[top] = view.listing
                continue
            entries = self._tree(top, ".", full_tree=True) or []
            entries.sort(key=lambda entry: entry.name)
            self._listings[top] = ([entry.name for entry in entries], entries)

    def _index_view(self, top: Path) -> Optional[_IndexView]:
        """What git's index says about the work tree of `top` against the revision, from
        three git calls that read no file content (see `_IndexView`); None when the index
        cannot be taken on trust: git fails, or `core.autocrlf` converts line ends of any
        file, so that the bytes in the work tree are not the bytes of the blob."""
        autocrlf = _git(top, "config", "--get", "core.autocrlf", reading_index=True)
        if autocrlf.returncode == 0 and autocrlf.stdout.strip().lower() not in (b"false", b"0", b"no", b"off"):
            return None
        index = _git(top, "ls-files", "--stage", "-v", "-z", reading_index=True)
        differences = _git(top, "diff-index", "--raw", "-z", "--no-renames", self.revision, "--",
                           reading_index=True)
        if index.returncode != 0 or differences.returncode != 0:
            return None
        return _IndexView.parse(top, index.stdout, differences.stdout)

    def _entries_below(self, top: Path, prefix: str, directory: Path) -> Optional[list[_TreeEntry]]:
        """Every entry below `prefix` (relative to top; "" for the top) at the revision,
        names relative to `prefix`; None when git cannot list it."""
        listing = self._listings.get(top)
        if listing is None:
            return self._tree(directory, ".")
        names, entries = listing
        if not prefix:
            return list(entries)
        start = prefix + "/"
        low = bisect.bisect_left(names, start)
        high = bisect.bisect_left(names, prefix + "0")  # "0" follows "/" in every ordering of str
        return [_TreeEntry(e.mode, e.kind, e.size, e.name[len(start):], e.oid) for e in entries[low:high]]

    def unchanged(self, directory: Path) -> bool:
        """Whether `directory` reads exactly what it read at the revision, so that judging its
        old copy cannot find anything the work tree does not have (every finding is
        `existing`, no comparison rule can fire): every file below it has the same git blob id
        in the work tree as at the revision, none is added or deleted, and nothing would make
        the old copy differ from the work tree (a symbolic link, whose target may have changed;
        a submodule; a file pfcheck reads only up to a limit; more files than an old copy
        holds). Every table a config names maps below its directory (tables.TableResolver), so
        these are also the referenced files. When in doubt: False, and the directory is
        compared the long way."""
        known = self._unchanged.get(directory)
        if known is None:
            known = self._unchanged[directory] = self._compare_blobs(directory)
        return known

    def _compare_blobs(self, directory: Path) -> bool:
        if not self.available(directory):
            return False
        top = self._toplevel(directory)
        try:
            real, real_top = Path(real_path(directory)), Path(real_path(top))
            prefix = real.relative_to(real_top).as_posix() if real != real_top else ""
        except ValueError:
            return False
        old = self._entries_below(top, prefix, directory)
        if old is None or len(old) > MAX_OLD_FILES or not {"main.cf", "master.cf"} & {e.name for e in old}:
            return False  # (without a main.cf or master.cf at REV the directory is new there)
        expected: dict[str, str] = {}
        for entry in old:
            if entry.kind != "blob" or entry.mode not in REGULAR_MODES or not entry.oid:
                return False
            expected[entry.name] = entry.oid
        files = _work_tree_files(real, real == real_top, len(expected))
        if files is None or files.keys() != expected.keys():
            return False
        view = self._indexes.get(top)
        if view is None:
            return all(_file_blob_id(path) == expected[name] for name, path in files.items())
        # The index vouches for the files git reports no difference for; the others are read.
        below = f"{prefix}/" if prefix else ""
        for name, path in files.items():
            if below + name in view.differing and _file_blob_id(path) != expected[name]:
                return False
        return True

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

    def _tree(self, directory: Path, spec: str, full_tree: bool = False) -> Optional[list[_TreeEntry]]:
        """Every entry below `spec` at the revision, `name` relative to `spec`'s directory
        (with `full_tree`: the whole tree, names relative to the top level)."""
        options = ["--full-tree"] if full_tree else []
        listing = _git(directory, "ls-tree", "-r", "-z", "-l", *options, self.revision, "--", spec)
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
            entries.append(_TreeEntry(fields[0], fields[1], size, name, fields[2]))
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
    """One `git ls-tree -r -l` entry: mode, object type, blob size (None for a submodule),
    name, object id."""

    mode: str
    kind: str
    size: Optional[int]
    name: str
    oid: str = ""


def blob_id(data: bytes) -> str:
    """git's object id of a blob with these bytes (SHA-1, as `git hash-object` computes it
    without filters: the bytes pfcheck reads, which are the bytes `git cat-file blob` gives)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 (git's id, not security)


def _work_tree_files(directory: Path, is_top: bool, limit: int) -> Optional[dict[str, str]]:
    """name (POSIX, relative to `directory`) -> path of every file below it in the work tree;
    None as soon as something cannot be compared: a symbolic link, anything but a regular
    file or directory, a file above MAX_INPUT_BYTES, more than `limit` files (the revision has
    fewer), a nested repository. The top level's own `.git` is not part of the tree. Nothing
    is read: the index, or `_file_blob_id`, tells whether the bytes are the revision's."""
    found: dict[str, str] = {}
    pending = [("", str(directory))]
    while pending:
        relative, path = pending.pop()
        try:
            with os.scandir(path) as listing:
                items = list(listing)
        except OSError:
            return None
        for item in items:
            name = f"{relative}{item.name}"
            if item.name == ".git":
                if is_top and not relative:
                    continue
                return None
            try:
                status = item.stat(follow_symlinks=False)
            except OSError:
                return None
            if stat.S_ISDIR(status.st_mode):
                pending.append((name + "/", item.path))
                continue
            if not stat.S_ISREG(status.st_mode) or len(found) >= limit or status.st_size > MAX_INPUT_BYTES:
                return None
            if not os.access(item.path, os.R_OK):
                return None  # (the work tree would report what the revision's copy does not)
            found[name] = item.path
    return found


def _file_blob_id(path: str) -> Optional[str]:
    """git's blob id of the bytes pfcheck would read from `path`; None when it cannot."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError:
        return None
    return blob_id(data) if len(data) <= MAX_INPUT_BYTES else None


#: git's object id of nothing: "no blob" on one side of a difference.
_NO_OBJECT = "0" * 40
#: check-attr's answers that leave a file's bytes as they are.
_NO_CONVERSION = (b"unspecified", b"unset")
#: The attributes under which git's stored blob may differ from the work tree's bytes.
CONVERTING_ATTRIBUTES = ("text", "eol", "crlf", "ident", "filter", "working-tree-encoding")


@dataclass(frozen=True)
class _IndexView:
    """A repository's work tree against the revision, as git's index knows it, without reading
    the files: `git ls-files --stage -v` (the index: mode and blob of each file, and whether
    git vouches for it) and `git diff-index REV` (every file whose blob differs between the
    revision and the index, or whose stat data no longer matches the index).

    `listing`: the revision's files (sorted names, entries), rebuilt as the index minus
    what diff-index reports plus the revision's side of what it reports, so that no
    `git ls-tree` of the whole revision is needed. `differing`: the files whose work-tree bytes
    the index does not vouch are the revision's: what diff-index reports, files git is told
    not to look at (assume-unchanged, skip-worktree), unmerged files, and files whose
    attributes convert their bytes between the work tree and the blob. `unchanged()` reads
    these (at most the few a change touched) and trusts the index for the rest."""

    listing: tuple[list[str], list[_TreeEntry]]
    differing: frozenset[str]

    @staticmethod
    def parse(top: Path, index: bytes, differences: bytes) -> Optional["_IndexView"]:
        revision: dict[str, _TreeEntry] = {}
        differing: set[str] = set()
        for record in index.split(b"\0"):
            if not record:
                continue
            meta, _, raw_name = record.partition(b"\t")
            fields = meta.split()
            if len(fields) != 4:
                return None
            tag, mode, oid, stage = (field.decode("ascii", "replace") for field in fields)
            name = raw_name.decode("utf-8", "surrogateescape")
            if stage != "0" or tag == "S" or tag.islower():
                differing.add(name)  # unmerged, skip-worktree, assume-unchanged
            revision[name] = _TreeEntry(mode, "commit" if mode == "160000" else "blob", None, name, oid)
        parts = differences.split(b"\0")
        for position in range(0, len(parts) - 1, 2):
            meta, raw_name = parts[position], parts[position + 1]
            fields = meta.lstrip(b":").split()
            if len(fields) != 5:
                return None
            old_mode, _, old_oid, _, _ = (field.decode("ascii", "replace") for field in fields)
            name = raw_name.decode("utf-8", "surrogateescape")
            differing.add(name)
            if old_mode == "000000" or old_oid == _NO_OBJECT:
                revision.pop(name, None)  # added since the revision
            else:
                kind = "commit" if old_mode == "160000" else "blob"
                revision[name] = _TreeEntry(old_mode, kind, None, name, old_oid)
        converted = _converted_files(top, [name for name, entry in revision.items() if entry.mode in REGULAR_MODES])
        if converted is None:
            return None
        names = sorted(revision)
        return _IndexView((names, [revision[name] for name in names]), frozenset(differing | converted))


def _converted_files(top: Path, names: list[str]) -> Optional[set[str]]:
    """The files among `names` whose attributes (.gitattributes, info/attributes,
    core.attributesFile, ...) make git convert between the blob and the work tree: their
    bytes in the work tree may differ from the revision's blob while the index says they are
    unchanged. One `git check-attr` for all of them; None when git fails."""
    if not names:
        return set()
    answer = _git(top, "check-attr", "-z", "--stdin", *CONVERTING_ATTRIBUTES,
                  stdin=b"\0".join(name.encode("utf-8", "surrogateescape") for name in names) + b"\0",
                  reading_index=True)
    if answer.returncode != 0:
        return None
    parts = answer.stdout.split(b"\0")
    converted: set[str] = set()
    for position in range(0, len(parts) - 2, 3):
        if parts[position + 2] not in _NO_CONVERSION:
            converted.add(parts[position].decode("utf-8", "surrogateescape"))
    return converted
