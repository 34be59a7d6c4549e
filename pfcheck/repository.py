"""The repository boundary: which paths pfcheck may open.

pfcheck judges a repository, not the machine it runs on. A file is read only when its real
path (every symlink followed) lies inside the repository and it is a regular file: a symlink
to `/etc/shadow`, `/dev/zero` or another checkout is never opened, and neither is a FIFO, a
socket or a device inside the repository (opening one can block, never end, or have side
effects). Refusals name the path as given (the link), never where it points, and never
anything read from it.
"""
from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Iterator, Optional, Union

#: Why a path is not read. PF900 and unknown tables quote these after "not checked: ".
OUTSIDE_REPOSITORY = "a symlink that leaves the repository, not read"
OUTSIDE_REPOSITORY_PATH = "outside the repository, not read"
PERMISSION_DENIED = "permission denied, not read"
NO_SUCH_FILE = "no such file"
IS_DIRECTORY = "is a directory, not a file"
SYMLINK_LOOP = "a symlink loop, not read"

_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def find_repo_root(start: Path) -> Path:
    """The nearest ancestor of `start` (as named, not through symlinks) holding `.git`, else
    `start` itself; returned resolved. Walking the names as given keeps a symlinked directory
    (`hosts/evil -> /etc`) inside the repository that names it, so its files resolve outside."""
    current = os.path.abspath(start)
    if _ROOTS is not None:
        known = _ROOTS.get(current)
        if known is None:
            known = _ROOTS[current] = _git_ancestor(current) or Path(current).resolve()
        return known
    return _git_ancestor(current) or Path(current).resolve()


def _git_ancestor(directory: str) -> Optional[Path]:
    """The nearest ancestor of an absolute `directory` (itself included) holding `.git`,
    resolved; None when there is none. Within a run each ancestor is asked once (`_ANCESTORS`):
    a fleet's thousand host directories share the walk above them."""
    memory = _ANCESTORS if _ANCESTORS is not None else {}
    walked: list[str] = []
    found: Optional[Path] = None
    while True:
        if directory in memory:
            found = memory[directory]
            break
        walked.append(directory)
        if os.path.lexists(os.path.join(directory, ".git")):
            found = Path(directory).resolve()
            break
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for name in walked:
        memory[name] = found
    return found


#: Within one run (`remembering_roots()`): find_repo_root() per directory as named, and the
#: answer of each ancestor on the way. None outside a run, where nothing is remembered: a test
#: or a caller may create a `.git` between two calls.
_ROOTS: Optional[dict[str, Path]] = None
_ANCESTORS: Optional[dict[str, Optional[Path]]] = None
#: Within one run: the real path (os.path.realpath) of each absolute path asked so far.
_REAL: Optional[dict[str, str]] = None


def real_path(path: Union[str, Path]) -> str:
    """`os.path.realpath(path)`; within a run (`remembering_roots()`) each directory's answer is
    remembered and a child's is its parent's plus its name when the child is no symlink: a
    fleet's thousand host directories resolve their common ancestors once, with one lstat()
    each instead of one per component."""
    absolute = os.path.abspath(path)
    if _REAL is None:
        return os.path.realpath(absolute)
    known = _REAL.get(absolute)
    if known is None:
        parent, name = os.path.split(absolute)
        if not name or os.path.islink(absolute):
            known = os.path.realpath(absolute)
        else:
            parent_real = _REAL.get(parent)
            if parent_real is None:
                parent_real = real_path(parent)
            known = os.path.join(parent_real, name)
        _REAL[absolute] = known
    return known


@contextlib.contextmanager
def remembering_roots() -> Iterator[None]:
    """Remember repository roots and real paths for the duration of one run (engine.run.lint):
    every file of every directory asks for its repository, and the walk up with a resolve()
    costs several system calls each time. A run that starts inside another keeps the outer memory."""
    global _ROOTS, _ANCESTORS, _REAL
    if _ROOTS is not None:
        yield
        return
    _ROOTS, _ANCESTORS, _REAL = {}, {}, {}
    try:
        yield
    finally:
        _ROOTS = _ANCESTORS = _REAL = None


def display_path(path: Path, cwd: Optional[Path] = None) -> str:
    """How findings and messages name a path: relative to the working directory when below
    it, POSIX separators. Symlinks are followed (a shared table is one file, wherever it is
    named) unless they leave the repository: pfcheck never reads those, and never says where
    they point."""
    lexical = Path(os.path.abspath(path))
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        resolved = lexical
    if resolved != lexical and not is_within(resolved, find_repo_root(lexical.parent)):
        resolved = lexical
    try:
        return resolved.relative_to((cwd or Path.cwd()).resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def is_within(path: Union[str, Path], root: Union[str, Path]) -> bool:
    """Whether `path` is `root` or below it (both resolved, compared by components)."""
    try:
        Path(path).relative_to(root)
    except ValueError:
        return False
    return True


def may_exist(path: Union[str, Path]) -> bool:
    """Whether a file (or a symlink, even dangling) is there, or may be: where a directory on
    the way cannot be searched the answer is unknown, and the reader must say "permission
    denied" rather than pfcheck judge a missing file (an empty main.cf, the default master.cf)."""
    try:
        os.lstat(path)
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def not_regular_reason(mode: int) -> Optional[str]:
    """Why a file of this mode is not read, None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return IS_DIRECTORY
    kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), "a special file")
    return f"not a regular file ({kind}), not read"


def refusal(path: Path, root: Optional[Path]) -> tuple[Optional[Path], str]:
    """(the real path to open, "") for a regular file inside `root`; (None, reason) otherwise.

    Nothing is opened: the real path is computed and stat()ed. `root` None skips the boundary
    (the caller has checked it). `source.read_bounded` checks the file type again on the open
    descriptor, so a file swapped in between is still never read as something else.
    """
    try:
        real = Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        real = Path(os.path.realpath(path))  # dangling: where it would be, for the boundary
        if root is not None and not is_within(real, root):
            return None, _outside(path, root, real)
        return None, NO_SUCH_FILE
    except PermissionError:
        return None, PERMISSION_DENIED
    except OSError as error:  # ELOOP, ENOTDIR, ENAMETOOLONG
        if error.errno is not None and error.errno == getattr(os, "ELOOP", 40):
            return None, SYMLINK_LOOP
        if isinstance(error, NotADirectoryError):
            return None, NO_SUCH_FILE
        return None, f"{error.strerror or type(error).__name__}, not read"
    if root is not None and not is_within(real, root):
        return None, _outside(path, root, real)
    try:
        mode = os.stat(real).st_mode
    except PermissionError:
        return None, PERMISSION_DENIED
    except OSError as error:
        return None, f"{error.strerror or type(error).__name__}, not read"
    reason = not_regular_reason(mode)
    if reason is not None:
        return None, reason
    if not os.access(real, os.R_OK):  # (the real uid: what open() will be allowed)
        return None, PERMISSION_DENIED
    return real, ""


def _outside(path: Path, root: Path, real: Path) -> str:
    """The refusal for a path whose real location leaves the repository: a symlink says so;
    otherwise a directory above it is the link (a config directory that points elsewhere).
    Without a `.git` the repository is the config directory alone (find_repo_root): a link to
    a sibling host's file in the tree being checked is refused too, and then the message says
    how to widen the boundary."""
    reason = OUTSIDE_REPOSITORY if os.path.islink(path) else OUTSIDE_REPOSITORY_PATH
    cwd = Path(os.getcwd()).resolve()
    if not os.path.lexists(Path(root) / ".git") and cwd != Path(cwd.anchor) and is_within(real, cwd):
        reason += " (no .git above it, so the repository is its own directory: run pfcheck in a git checkout)"
    return reason
