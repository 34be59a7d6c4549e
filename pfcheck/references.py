"""Which repository files a config directory depends on, and the reverse: which config
directories a changed file affects.

The unit of judgment is the config directory. A commit may touch only a file that a
directory's values name (a `cidr:` table, a `/file/name` list, `$config_directory/x`), or a
table shared by several hosts through a symlink; every directory whose verdict can depend on
that file has to be judged again. pfcheck cannot ask Postfix which files it will open, so the
dependency set is read off the values, the way the table resolver maps them into the
repository: every absolute path in a parameter value (main.cf, and each listener's `-o`
overrides), after `$name` expansion, mapped by `TableResolver.candidate`. The set is a superset
of what the rules read (a path in `smtpd_banner` counts too): judging a directory once too
often costs time, judging it once too rarely lets a change through.

Building the set parses a directory, so the reverse index is built only when a named path is
not a config file itself, and only for the directories that can reach the path: those above
it (the resolver maps every name below the config directory) and those above a symlink that
points to it or to a directory holding it (a table shared by several hosts).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from pfcheck.postfix.config import ConfigDir, load_config_dir

#: Names a config directory is recognised by.
CONFIG_NAMES = ("main.cf", "master.cf")
#: Directories never searched: version control, environments, caches.
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "__pycache__", ".tox"})

# An absolute path inside a value: after a separator, `:` (type:name) or `{`/`(` (inline and
# pipemap syntax). `10.0.0.0/8` is not one (a digit precedes the slash); `::/0` is, and maps to
# a file named "0" that rarely exists: harmless.
_ABSOLUTE_PATH = re.compile(r"(?:(?<=[\s,:{(=])|^)(/[^\s,{}()]*)")


def _safe_resolve(path: Path) -> Optional[Path]:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # symlink loops
        return None


def _scope_values(config: ConfigDir) -> Iterator[str]:
    """Every expanded value a daemon can read: main.cf's, and for each service with `-o`
    overrides its overrides and the main.cf values that expand `$name` (which an override can
    change)."""
    main = config.main
    names = list(main.params)
    for name in names:
        yield config.global_scope.value(name)
    for service in config.master.services:
        if not service.overrides:
            continue
        scope = config.scope(service)
        for override in service.overrides:
            yield scope.value(override.name)
        for name in names:
            if "$" in main.params[name].value:
                yield scope.value(name)


def referenced_paths(config: ConfigDir, repo_root: Path) -> set[Path]:
    """The repository paths `config` depends on, as named (symlinks unresolved) and resolved.

    Paths that do not exist are included: a deleted table that is still referenced changes
    the verdict (the table is unknown now).
    """
    from pfcheck.postfix.tables import TableResolver

    resolver = TableResolver(repo_root, config.directory)
    paths: set[Path] = set()

    def add(path: Path) -> None:
        paths.add(Path(os.path.abspath(path)))
        resolved = _safe_resolve(path)
        if resolved is not None:
            paths.add(resolved)

    add(config.main_path)
    add(config.master_path)
    if config.main_source.checkable:
        seen: set[str] = set()
        for value in _scope_values(config):
            if "/" not in value:
                continue
            for match in _ABSOLUTE_PATH.finditer(value):
                name = match.group(1)
                if name in seen:
                    continue
                seen.add(name)
                candidate = resolver.candidate(name)
                if candidate is not None:
                    add(candidate)
    return paths


@dataclass
class RepoTree:
    """One walk of a repository: its config directories and where its symlinks are."""

    root: Path
    config_dirs: list[Path] = field(default_factory=list)
    #: (symlink, what it resolves to) for every symlink below the root.
    symlinks: list[tuple[Path, Path]] = field(default_factory=list)

    @classmethod
    def walk(cls, root: Path) -> "RepoTree":
        tree = cls(Path(os.path.abspath(root)))
        stack = [tree.root]
        while stack:
            directory = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            names = {entry.name for entry in entries}
            if any(name in names for name in CONFIG_NAMES):
                tree.config_dirs.append(directory)
            for entry in entries:
                if entry.is_symlink():
                    resolved = _safe_resolve(Path(entry.path))
                    if resolved is not None:
                        tree.symlinks.append((Path(entry.path), resolved))
            for entry in entries:
                if entry.name not in SKIPPED_DIRS and entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
        tree.config_dirs.sort()
        return tree


class ReverseIndex:
    """From a repository path to the config directories that depend on it (built lazily)."""

    def __init__(self, root: Path) -> None:
        self.tree = RepoTree.walk(root)
        self._references: dict[Path, set[Path]] = {}
        self._config_dirs = set(self.tree.config_dirs)
        # What each symlink points to (a file, or a directory holding files): a path elsewhere
        # in the repository is reachable only from the config directories above such a link.
        self._links_to: dict[Path, list[Path]] = {}
        for link, resolved in self.tree.symlinks:
            self._links_to.setdefault(resolved, []).append(link)

    def _references_of(self, directory: Path) -> set[Path]:
        found = self._references.get(directory)
        if found is None:
            config = load_config_dir(directory)
            found = referenced_paths(config, self.tree.root)
            self._references[directory] = found
        return found

    def _above(self, path: Path) -> set[Path]:
        return {d for d in path.parents if d in self._config_dirs}

    def _candidates(self, path: Path, resolved: Optional[Path]) -> list[Path]:
        candidates = self._above(path)
        for target in {path, *path.parents} | ({resolved, *resolved.parents} if resolved else set()):
            for link in self._links_to.get(target, ()):
                candidates |= self._above(link)
        return sorted(candidates)

    def directories_for(self, path: Path) -> list[Path]:
        """Config directories whose verdict can depend on `path` (absolute)."""
        path = Path(os.path.abspath(path))
        resolved = _safe_resolve(path)
        keys = {path} if resolved is None else {path, resolved}
        return [d for d in self._candidates(path, resolved) if keys & self._references_of(d)]
