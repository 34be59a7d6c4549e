"""From command-line paths to config directories, and which of their files were named.

Each config directory is analysed as a unit (main.cf with its sibling master.cf), because
pre-commit may hand the two files to different processes; findings are reported only for the
files that were named.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

CONFIG_NAMES = ("main.cf", "master.cf")
POLICY_NAMES = (".pfcheck.yaml", ".pfcheck.yml")
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "__pycache__", ".tox"})


class UsageError(Exception):
    """A command-line problem: exit 2 with a one-line message."""


@dataclass
class Target:
    """A config directory; `main_file` is main.cf or a differently named main file given by the user."""

    directory: Path
    named: set[Path] = field(default_factory=set)
    main_file: Optional[Path] = None
    master_file: Optional[Path] = None


def find_repo_root(start: Path) -> Path:
    """The nearest ancestor holding `.git`; the start directory itself when there is none."""
    current = start.resolve()
    for candidate in (current, *current.parents):
        if (candidate / ".git").exists():
            return candidate
    return current


def _walk_config_dirs(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        if any(name in filenames or name in dirnames for name in CONFIG_NAMES):
            yield Path(dirpath)


def discover(paths: Iterable[str]) -> list[Target]:
    """Config directories for the given paths, in a stable order. Raises UsageError."""
    targets: dict[Path, Target] = {}

    def target_for(directory: Path) -> Target:
        key = directory.resolve()
        if key not in targets:
            targets[key] = Target(directory)
        return targets[key]

    def add_tree(root: Path) -> None:
        for directory in _walk_config_dirs(root):
            target = target_for(directory)
            for name in CONFIG_NAMES:
                if os.path.lexists(directory / name):
                    target.named.add((directory / name).resolve())

    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"{raw}: no such file or directory")
        if path.is_dir() and path.name not in CONFIG_NAMES:
            add_tree(path)
        elif path.name in POLICY_NAMES:
            # A policy change re-checks every config it governs.
            add_tree(path.parent)
        else:
            target = target_for(path.parent)
            target.named.add(path.resolve())
            if path.name == "master.cf":
                target.master_file = path
            elif path.name != "main.cf":
                target.main_file = path
    return [targets[key] for key in sorted(targets)]
