"""From command-line paths to the config directories to judge.

The unit of judgment is the config directory (main.cf with its master.cf and every file their
values name). Whatever path is given, pfcheck judges each directory the path belongs to as a
whole and reports all of its findings, wherever they are (main.cf, master.cf, a table line):

* `main.cf`, `master.cf`, or a directory: the directories found there;
* a policy file: every config directory below it (the policy governs them);
* a template named like a config (`main.cf.j2`, `master.cf.erb`, ...): reported as not
  checked (PF900) unless the policy excludes it;
* any other file, existing or deleted (a table, a `/file/name` list, a shared table behind
  a symlink): the directories whose values reference it (`pfcheck.references`); a table is
  never parsed as a main.cf. Files that belong to no config are counted, not judged.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from pfcheck.references import CONFIG_NAMES, SKIPPED_DIRS
from pfcheck.repository import PERMISSION_DENIED, find_repo_root, real_path

POLICY_NAMES = (".pfcheck.yaml", ".pfcheck.yml")

#: Template languages recognised by a config file's suffix (`main.cf.j2`): the file is what a
#: deployment tool renders into main.cf, not what Postfix reads.
TEMPLATE_SUFFIXES: dict[str, str] = {
    "j2": "Jinja2", "jinja": "Jinja2", "jinja2": "Jinja2", "erb": "ERB", "epp": "Puppet EPP",
    "tmpl": "Go text/template", "gotmpl": "Go text/template", "ctmpl": "consul-template",
    "tpl": "template", "template": "template", "tt": "Template Toolkit", "mustache": "Mustache",
    "hbs": "Handlebars", "liquid": "Liquid", "in": "template (.in)", "mako": "Mako",
}
_TEMPLATE_NAME = re.compile(r"^(?:main|master)\.cf\.(?P<suffix>[A-Za-z0-9]+)$")


class UsageError(Exception):
    """A command-line problem: exit 2 with a one-line message."""


def template_language(name: str) -> Optional[str]:
    """The template language a file name says (`main.cf.j2` -> Jinja2), None for other names."""
    match = _TEMPLATE_NAME.match(name)
    if match is None:
        return None
    return TEMPLATE_SUFFIXES.get(match.group("suffix").lower())


@dataclass
class Target:
    """A config directory to judge, or one template file (`template` set, `main_file` it).

    `named` are the paths given (or found) that made it a target.
    """

    directory: Path
    named: set[Path] = field(default_factory=set)
    main_file: Optional[Path] = None
    master_file: Optional[Path] = None
    template: Optional[str] = None
    #: Why the directory itself could not be read (it cannot be listed): reported as PF900.
    unreadable: Optional[str] = None


@dataclass
class Discovery:
    """What the given paths amount to: targets in a stable order, and the paths that belong to
    no config (absolute)."""

    targets: list[Target]
    unrelated: list[Path] = field(default_factory=list)


def _walk_targets(root: Path, unreadable: Optional[list[Path]] = None) -> Iterable[tuple[Path, list[str]]]:
    """(directory, names of its config files and templates) for each directory below root.
    Directories that cannot be listed are appended to `unreadable`: what pfcheck could not
    read must not pass as if it held no config."""

    def listing_failed(error: OSError) -> None:
        if unreadable is not None and error.filename is not None:
            unreadable.append(Path(error.filename))

    for dirpath, dirnames, filenames in os.walk(root, onerror=listing_failed):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        names = [n for n in (*filenames, *dirnames) if n in CONFIG_NAMES or template_language(n)]
        if names:
            yield Path(dirpath), sorted(names)


class _Collector:
    def __init__(self, policy_file: Optional[Path] = None) -> None:
        self.policy_file = Path(os.path.abspath(policy_file)) if policy_file is not None else None
        self.targets: dict[tuple[Path, str], Target] = {}
        self.unrelated: list[Path] = []
        self._index: dict[Path, object] = {}

    def directory(self, directory: Path) -> Target:
        key = (Path(real_path(directory)), "")
        if key not in self.targets:
            self.targets[key] = Target(_as_given(directory))
        return self.targets[key]

    def template(self, path: Path, language: str) -> None:
        key = (Path(real_path(path.parent)), path.name)
        if key not in self.targets:
            self.targets[key] = Target(path.parent, {path.absolute()}, main_file=path, template=language)

    def tree(self, root: Path) -> None:
        unreadable: list[Path] = []
        for directory, names in _walk_targets(root, unreadable):
            for name in names:
                language = template_language(name)
                if language is not None:
                    self.template(directory / name, language)
                else:
                    self.directory(directory).named.add((directory / name).absolute())
        for directory in unreadable:
            self.unreadable_directory(directory)

    def unreadable_directory(self, directory: Path) -> None:
        """A directory (or a path below one) that cannot be listed: one PF900 for it."""
        key = (Path(os.path.abspath(directory)), "/unreadable")
        if key not in self.targets:
            self.targets[key] = Target(_as_given(directory), {Path(os.path.abspath(directory))},
                                       unreadable=PERMISSION_DENIED)

    def side_file(self, path: Path) -> None:
        """A file that is not a config file: the directories referencing it, if any."""
        from pfcheck.references import ReverseIndex

        absolute = Path(os.path.abspath(path))
        root = _search_root(absolute)
        index = self._index.get(root)
        if index is None:
            index = self._index[root] = ReverseIndex(root)
        assert isinstance(index, ReverseIndex)
        directories = index.directories_for(absolute)
        if not directories:
            self.unrelated.append(absolute)
        for directory in directories:
            self.directory(directory).named.add(absolute)

    def path(self, raw: str, *, deleted: bool = False) -> None:
        path = Path(raw)
        if _permission_denied(path):
            # Below a directory pfcheck may not search: whether it exists is unknown, so it
            # is judged with its directory (main.cf there is PF900 "permission denied").
            if path.name in CONFIG_NAMES:
                self.directory(path.parent).named.add(path.absolute())
            else:
                self.unreadable_directory(path)
            return
        exists = os.path.lexists(path)
        if not exists and not deleted:
            raise UsageError(f"{raw}: no such file or directory")
        language = template_language(path.name)
        if not exists and (path.name in CONFIG_NAMES or path.name in POLICY_NAMES or language is not None):
            # A config, policy or template the change deleted: judge what remains.
            if path.name in POLICY_NAMES:
                if os.path.isdir(path.parent):
                    self.tree(path.parent)
            elif any(os.path.lexists(path.parent / name) for name in CONFIG_NAMES):
                self.directory(path.parent)
            return
        if exists and os.path.isdir(path) and path.name not in CONFIG_NAMES:
            self.tree(path)
        elif path.name in POLICY_NAMES:
            # A policy change re-judges every config it governs.
            self.tree(path.parent)
        elif self.policy_file is not None and Path(os.path.abspath(path)) == self.policy_file:
            # The --policy file governs every config the run can reach.
            self.tree(Path("."))
        elif path.name in CONFIG_NAMES:
            target = self.directory(path.parent)
            target.named.add(path.absolute())
            if path.name == "master.cf":
                target.master_file = path
        elif language is not None and exists:
            self.template(path, language)
        else:
            self.side_file(path)


def _permission_denied(path: Path) -> bool:
    """Whether looking `path` up is refused (a directory on the way is not searchable)."""
    try:
        os.lstat(path)
    except PermissionError:
        return True
    except OSError:
        return False
    return False


def _as_given(directory: Path) -> Path:
    """An absolute directory below the working directory as a relative path, the way a user
    names it (messages quote the directory's paths: "looked for hosts/mx/clients.cidr")."""
    if not directory.is_absolute():
        return directory
    try:
        cwd = Path.cwd()
        return Path(os.path.relpath(directory, cwd)) if directory == cwd or cwd in directory.parents else directory
    except ValueError:
        return directory


def _search_root(path: Path) -> Path:
    """The tree whose config directories may reference `path`: its git repository, else the
    working directory when it holds the path, else the path's own directory."""
    for candidate in path.parents:
        if os.path.lexists(candidate / ".git"):
            return candidate
    cwd = Path.cwd()
    return cwd if cwd in path.parents else path.parent


def discover(paths: Iterable[str], deleted: Iterable[str] = (), policy_file: Optional[Path] = None) -> Discovery:
    """Targets for the given paths, plus `deleted` paths (files a change removed, which no
    longer exist: the directories still referencing them are judged). `policy_file` is the
    `--policy` file, which governs every directory. Raises UsageError."""
    collector = _Collector(policy_file)
    for raw in paths:
        collector.path(raw)
    for raw in deleted:
        collector.path(raw, deleted=True)
    targets = [collector.targets[key] for key in sorted(collector.targets)]
    return Discovery(targets, sorted(set(collector.unrelated)))
