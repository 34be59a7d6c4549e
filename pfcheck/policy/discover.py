"""Which policy governs a path: the nearest `.pfcheck.yaml` above it, or `--policy`."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Union

from pfcheck.policy.load import default_policy, parse_policy, read_policy_bytes
from pfcheck.policy.model import POLICY_FILE_NAMES, Policy, PolicyError


# --------------------------------------------------------------------------------------------
# Discovery


def find_policy(start: Path, stop_at: Optional[Path] = None) -> Optional[Path]:
    """The nearest policy file walking up from `start` (a file or a directory).

    The walk ends after the first of: `stop_at`, the git root (a directory holding a `.git`
    entry, found without running git), the filesystem root. Two policy file names in one
    directory is a `PolicyError`.
    """
    directory = Path(os.path.abspath(start))
    if not os.path.isdir(directory):  # (os.path: False, not PermissionError, where it cannot look)
        directory = directory.parent
    stop = Path(os.path.abspath(stop_at)) if stop_at is not None else None
    for candidate_dir in _walk_up(directory, stop):
        found = _policy_in(candidate_dir)
        if found is not None:
            return found
    return None


def _walk_up(directory: Path, stop: Optional[Path]) -> Iterator[Path]:
    while True:
        yield directory
        if directory == stop or os.path.lexists(directory / ".git") or directory.parent == directory:
            return
        directory = directory.parent


def _is_policy_file(path: Union[str, Path]) -> bool:
    """Whether a policy file is there: anything but a directory, so that a FIFO or a symlink
    that leaves the repository is an error (see read_policy_bytes), not silently no policy.
    False where pfcheck may not look (a directory it cannot search is reported by the lint
    run as PF900, and governed by the policy above it)."""
    return os.path.lexists(path) and not os.path.isdir(path)


def _policy_in(directory: Union[str, Path]) -> Optional[Path]:
    present = [Path(directory, name) for name in POLICY_FILE_NAMES
               if _is_policy_file(os.path.join(directory, name))]
    if len(present) > 1:
        raise PolicyError(
            present[1], 1, 1, f"both {' and '.join(p.name for p in present)} exist in {directory}; keep one"
        )
    return present[0] if present else None


_UNKNOWN = object()


class PolicyResolver:
    """The policy for each checked path, each policy file read and validated once per run.

    With `policy_path` (the CLI's `--policy`) every path gets that policy; otherwise each path
    gets its nearest policy file (see `find_policy`), or the built-in default policy.
    """

    def __init__(
        self,
        rules: Mapping[str, Any],
        policy_path: Optional[Path] = None,
        stop_at: Optional[Path] = None,
    ) -> None:
        self._rules = rules
        self._explicit = Path(policy_path) if policy_path is not None else None
        self._stop_at = stop_at
        self._file_for_dir: dict[str, Optional[Path]] = {}
        #: Each path asked so far, as asked (with the working directory of a relative one): a
        #: run asks for every directory several times.
        self._file_for_path: dict[tuple[Path, str], Optional[Path]] = {}
        self._policies: dict[Optional[Path], Policy] = {}
        #: Policy files read so far, in order (each appears once).
        self.loaded: list[Optional[Path]] = []

    def policy_file_for(self, path: Path) -> Optional[Path]:
        """The policy file that governs `path`, None for the built-in default policy."""
        if self._explicit is not None:
            return self._explicit
        key = (path, "" if os.path.isabs(path) else os.getcwd())
        known = self._file_for_path.get(key, _UNKNOWN)
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        found = self._file_for_path[key] = self._find_policy_file(path)
        return found

    def _find_policy_file(self, path: Path) -> Optional[Path]:
        # find_policy's walk, on strings (a fleet asks this for thousands of directories),
        # each directory's answer remembered for the directories below it.
        directory = os.path.abspath(path)
        if not os.path.isdir(directory):
            directory = os.path.dirname(directory)
        stop = os.path.abspath(self._stop_at) if self._stop_at is not None else None
        visited: list[str] = []
        found: Optional[Path] = None
        while True:
            known = self._file_for_dir.get(directory, _UNKNOWN)
            if known is not _UNKNOWN:
                found = known  # type: ignore[assignment]
                break
            visited.append(directory)
            found = _policy_in(directory)
            if found is not None or directory == stop or os.path.lexists(os.path.join(directory, ".git")):
                break
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        for seen in visited:
            self._file_for_dir[seen] = found
        return found

    def policy_for(self, path: Path) -> Policy:
        """The validated policy for a checked file or directory. Raises `PolicyError`."""
        policy_file = self.policy_file_for(path)
        return self.load(policy_file)

    def load(self, policy_file: Optional[Path]) -> Policy:
        cached = self._policies.get(policy_file)
        if cached is not None:
            return cached
        builtin = self._policies.get(None)
        if builtin is None:
            builtin = default_policy(self._rules)
            self._policies[None] = builtin
            self.loaded.append(None)
        if policy_file is None:
            return builtin
        discovered = self._explicit is None or policy_file != self._explicit
        policy = parse_policy(read_policy_bytes(policy_file, discovered=discovered), self._rules,
                              path=policy_file, base=builtin)
        self._policies[policy_file] = policy
        self.loaded.append(policy_file)
        return policy
