"""From a `type:name` reference to a Table: file resolution inside the repository and the
dispatch on the table-type registry."""
from __future__ import annotations

import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path

from pfcheck.postfix.source import FileTooLarge, read_bounded
from pfcheck.postfix.tables import registry
from pfcheck.postfix.tables.base import FailingTable, StaticTable, Table, UnknownTable
from pfcheck.postfix.tables.cidr import load_cidr
from pfcheck.postfix.tables.keyed import load_inline, load_keyed
from pfcheck.postfix.tables.regexp import load_regexp
from pfcheck.postfix.tables.registry import TableRef, parse_table_ref
from pfcheck.postfix.tables.source_text import extpar_strip
from pfcheck.repository import PERMISSION_DENIED


@dataclass(frozen=True)
class SourceLocation:
    """Result of mapping a server path to the repository: `path` or the reason why not."""

    path: Path | None
    reason: str


class TableResolver:
    """Maps file names used in a config to files inside the repository.

    `config_dir`: the repository directory holding main.cf. `config_directory_value`: the
    server's config directory those names use ($config_directory, default /etc/postfix).
    `/etc/postfix/maps/access` -> `<config_dir>/maps/access`; a path outside the server's
    config directory -> `<config_dir>/<basename>`. Nothing outside `repo_root` is ever read.
    """

    def __init__(self, repo_root: Path, config_dir: Path, config_directory_value: str = "/etc/postfix") -> None:
        self.repo_root = Path(repo_root).resolve()
        self.config_dir = Path(config_dir)
        self.config_directory_value = posixpath.normpath(config_directory_value or "/etc/postfix")
        self._cache: dict[str, Table] = {}

    def candidate(self, ref_name: str) -> Path | None:
        """The repository path a server file name maps to (it may not exist, or resolve
        outside the repository); None for names that map to no file (relative, `..`)."""
        if not ref_name.startswith("/") or ".." in ref_name.split("/"):
            return None
        normalized = posixpath.normpath(ref_name)
        prefix = self.config_directory_value.rstrip("/") + "/"
        if normalized.startswith(prefix):
            relative = normalized[len(prefix):]
        else:
            relative = posixpath.basename(normalized)
        return self.config_dir / relative if relative else None

    def locate(self, ref_name: str) -> SourceLocation:
        if not ref_name.startswith("/"):
            return SourceLocation(
                None,
                "relative file name: Postfix daemons resolve it against the queue directory, "
                "which is not part of the repository",
            )
        if ".." in ref_name.split("/"):
            return SourceLocation(None, "path contains '..': refused (pfcheck never leaves the repository)")
        candidate = self.candidate(ref_name)
        if candidate is None:
            return SourceLocation(None, "not a file name")
        try:
            resolved = candidate.resolve()
            config_resolved = self.config_dir.resolve()
        except (OSError, RuntimeError) as exc:  # symlink loops
            return SourceLocation(None, f"cannot resolve {candidate}: {exc}")
        if not _is_within(resolved, self.repo_root) or not _is_within(config_resolved, self.repo_root):
            return SourceLocation(None, f"{candidate} resolves outside the repository: refused")
        try:
            mode = resolved.stat().st_mode
        except FileNotFoundError:
            return SourceLocation(None, f"not in the repository (looked for {candidate})")
        except PermissionError:
            return SourceLocation(None, f"{candidate}: {PERMISSION_DENIED}")
        except OSError as exc:
            return SourceLocation(None, f"{candidate}: {exc.strerror or type(exc).__name__}, not read")
        if not stat.S_ISREG(mode):
            return SourceLocation(None, f"{candidate} is not a regular file")
        return SourceLocation(resolved, "")

    def source_path(self, ref_name: str) -> Path | None:
        """The repository file for a server path, or None (absent, refused, outside)."""
        return self.locate(ref_name).path

    def load(self, ref: TableRef) -> Table:
        cached = self._cache.get(ref.text)
        if cached is None:
            cached = load_table(ref, self)
            self._cache[ref.text] = cached
        return cached


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def load_table(ref: TableRef, resolver: TableResolver | None) -> Table:
    """Build the Table for a reference. File-based tables need `resolver` (else unknown)."""
    if not ref.type or not ref.name:
        return FailingTable(ref, f'open dictionary: expecting "type:name" form instead of "{ref.type}:{ref.name}"')
    table_type = registry.TABLE_TYPES.get(ref.type)
    if table_type is None:
        return FailingTable(ref, f"unsupported dictionary type: {ref.type}")
    if table_type.kind == registry.STATIC:
        return _load_static(ref)
    if table_type.kind == registry.INLINE:
        return load_inline(ref)
    if table_type.kind == registry.FAIL:
        return FailingTable(ref, f"fail:{ref.name} table: every lookup fails")
    if table_type.kind == registry.PROXY:
        inner_ref = parse_table_ref(ref.name)
        if inner_ref is None:
            return FailingTable(ref, f"proxy: bad table name: {ref.name}")
        inner = load_table(inner_ref, resolver)
        inner.caveats.append(
            f"read through proxymap ({ref.text}): lookups fail unless the table is listed in "
            f"proxy_read_maps (its default lists the usual smtpd parameters)"
        )
        return inner
    if table_type.kind == registry.UNVERIFIABLE:
        return UnknownTable(ref, f"{ref.type}: contents live in a {table_type.contents}, not in the repository")
    assert table_type.reads_file, table_type
    # File-based: cidr, regexp, pcre, texthash and the postmap types.
    if resolver is None:
        return UnknownTable(ref, f"{ref.text}: no repository to read the file from")
    location = resolver.locate(ref.name)
    if location.path is None:
        return UnknownTable(ref, f"{ref.name}: {location.reason}")
    try:
        text = read_bounded(location.path).decode("utf-8", errors="surrogateescape")
    except FileTooLarge as exc:
        return UnknownTable(ref, f"{ref.name}: {exc.strerror}", location.path)
    except OSError as exc:
        return UnknownTable(ref, f"{ref.name}: cannot read {location.path}: {exc.strerror}", location.path)
    if table_type.kind == registry.CIDR:
        return load_cidr(ref, text, location.path)
    if table_type.kind == registry.REGEXP:
        return load_regexp(ref, text, location.path)
    return load_keyed(ref, text, location.path)  # POSTMAP, TEXTHASH


def _load_static(ref: TableRef) -> Table:
    if ref.name.startswith("{"):
        value, error = extpar_strip(ref.name)
        if error:
            return FailingTable(ref, f"bad static:name syntax: {error}")
        return StaticTable(ref, value)
    return StaticTable(ref, ref.name)
