"""Postfix lookup tables whose contents pfcheck can know from the repository.

Models `util/dict_static.c`, `dict_inline.c`, `dict_cidr.c` + `cidr_match.c`, `dict_thash.c`
and the postmap(1) source format used for hash/btree/lmdb/cdb/dbm/sdbm (3.7.11), plus the
client-address lookup sequence of smtpd's `check_client_access` (`check_namadr_access`:
hostname and parent domains first, then the address and its shorter octet/hextet prefixes).

What pfcheck can and cannot know:

* `static:`, `inline:`: fully known from the parameter value.
* `cidr:`, `texthash:` and the hash-type maps: known from their source file when the file
  is in the repository. For hash-type maps pfcheck reads the postmap *source* (`access`, not
  `access.db`) and assumes it was compiled with plain `postmap` (keys folded to lower case,
  duplicate keys: first wins).
* `regexp:`, `pcre:`: single lookups are evaluated when every pattern involved uses a small
  regular-expression subset on which POSIX/PCRE and Python agree; a catch-all first rule is
  recognised as matching every client. Otherwise the table is reported as unknown. Patterns
  are run only within a bounded, deterministic cost (`regex_safety`): ambiguous repeated
  groups (`(a+)+`), expensive lookups, and the patterns after the first
  MAX_TABLE_PATTERN_CHARACTERS characters of a table are "cannot tell".
* Network tables (`mysql:`, `ldap:`, `tcp:`, `socketmap:`, ...), missing files and paths
  outside the repository are `UnknownTable`s. Tables that Postfix itself cannot use
  (unsupported type, bad inline syntax, `fail:`) are `FailingTable`s: their lookups fail,
  which smtpd turns into a temporary error.

File access: tables name absolute paths on the mail server (e.g. /etc/postfix/access, with
$config_directory already expanded). `TableResolver` maps them to files inside the checked
repository and refuses anything that would leave it (`..`, symlinks pointing outside).
"""
from __future__ import annotations

import posixpath
import stat
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from pfcheck.postfix.regex_safety import MAX_PATTERN_LENGTH, MAX_TABLE_PATTERN_CHARACTERS
from pfcheck.postfix.regexp_pattern import PatternRun, RegexpPattern
from pfcheck.postfix.source import FileTooLarge, read_bounded
from pfcheck.repository import PERMISSION_DENIED
from pfcheck.postfix.networks import (
    FAMILY_BITS,
    FAMILY_END,
    IPV4,
    IPV6,
    ClientAddress,
    CidrPattern,
    IntervalSet,
    first_match_partition,
    format_address,
    hostname_pattern_can_match,
    parse_address,
    parse_cidr_pattern,
    parse_ipv4,
    parse_ipv6,
    split_list,
)

#: Every dictionary type Postfix 3.7 knows (built in or as a dynamicmaps.cf plugin). Anything
#: else is "unsupported dictionary type": a surrogate table whose lookups fail.
KNOWN_TYPES = frozenset(
    "btree cdb cidr dbm environ fail hash inline internal ldap lmdb memcache mysql netinfo nis "
    "nisplus pcre pgsql pipemap proxy randmap regexp sdbm socketmap sqlite static tcp texthash "
    "unionmap unix".split()
)
#: Indexed maps built by postmap(1) from a text source file next to the database.
POSTMAP_TYPES = frozenset({"hash", "btree", "lmdb", "cdb", "dbm", "sdbm"})
#: Types whose lookup flags include DICT_FLAG_FIXED: they get partial (parent domain, shorter
#: network) lookups in smtpd access checks and parent-domain lookups in match lists.
FIXED_TYPES = POSTMAP_TYPES | {"texthash", "inline", "static"}
_UNKNOWN_CONTENT = {
    "mysql": "SQL database", "pgsql": "SQL database", "sqlite": "SQL database",
    "ldap": "LDAP directory", "memcache": "memcache server", "tcp": "TCP lookup server",
    "socketmap": "socketmap server", "nis": "NIS map", "nisplus": "NIS+ map",
    "netinfo": "NetInfo database", "environ": "process environment", "unix": "UNIX passwd/group file",
    "internal": "in-memory table", "randmap": "random choice for every key",
    "pipemap": "pipeline of tables", "unionmap": "union of tables",
}

_SPACE = " \t\n\v\f\r"  # C isspace()


# --------------------------------------------------------------------------------------------
# References and file resolution


@dataclass(frozen=True)
class TableRef:
    """`type:name` as written, e.g. type "cidr", name "/etc/postfix/clients.cidr"."""

    type: str
    name: str
    text: str


def parse_table_ref(token: str) -> TableRef | None:
    """Split `type:name` at the first `:`; None unless the token is a table reference
    (Postfix: contains `:` and does not start with `[`). `inline:{ a=b }` and
    `static:{OK 1}` keep their braces in `name`. Empty type or name are returned as such
    (Postfix treats them as fatal)."""
    if token.startswith("[") or ":" not in token:
        return None
    table_type, _, name = token.partition(":")
    return TableRef(table_type, name, token)


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


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class LookupResult:
    """One lookup. `value`: the result text, None when not found (or not known).

    `known=False`: pfcheck cannot tell; `value` is then what applies unless an undecidable
    entry (DNS, unknown table, unsupported regular expression) takes precedence. `found` is
    True/False when known even if the value is not (e.g. a regexp `$1` substitution).
    `error`: Postfix's lookup fails (smtpd: "451 4.3.5 Server configuration error").
    """

    value: str | None
    known: bool = True
    line: int | None = None
    found: bool | None = None
    error: str | None = None
    key: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.found is None and self.known:
            object.__setattr__(self, "found", self.value is not None)


NOT_FOUND = LookupResult(None)


@dataclass(frozen=True)
class TableIssue:
    """A warning Postfix logs about the table (`line` in its source file) or a pfcheck note."""

    line: int | None
    message: str


@dataclass
class Membership:
    """What a table matches when used in an address list (mynetworks, ...): lookup result ignored.

    `ipv4`/`ipv6`: client addresses found by the address lookup. `everything`: every lookup
    is found. `dns_keys`: keys the client's hostname (or a parent domain) could hit.
    `unknown_client_key`: the key "unknown" (clients without verified reverse DNS).
    `unknown`: pfcheck cannot know the contents. `error`: Postfix's lookups fail.
    """

    ipv4: IntervalSet = field(default_factory=IntervalSet)
    ipv6: IntervalSet = field(default_factory=IntervalSet)
    dns_keys: list[str] = field(default_factory=list)
    unknown_client_key: bool = False
    unknown: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AddressResult:
    """Clients (by address) that get one result from a client-address access lookup.

    `result` None: not found (the restriction answers DUNNO). `known=False`: approximate.
    """

    ipv4: IntervalSet
    ipv6: IntervalSet
    result: str | None
    line: int | None
    key: str | None = None
    known: bool = True
    error: str | None = None

    def addresses(self, family: int) -> IntervalSet:
        return self.ipv4 if family == IPV4 else self.ipv6


@dataclass(frozen=True)
class HostnameEntry:
    """A table entry looked up with the client's hostname (before any address entry)."""

    key: str
    result: str
    line: int | None
    note: str = ""


@dataclass(frozen=True)
class ClientAddressResults:
    """`check_client_access TABLE` over all clients.

    `by_address` covers the whole IPv4 and IPv6 space (disjoint). `by_hostname` entries are
    consulted first with the client's verified hostname ("unknown" when it has none), so they
    may override the address result for any client: DNS-controlled unless the key is "unknown",
    which every client without valid reverse DNS hits.
    """

    by_address: tuple[AddressResult, ...]
    by_hostname: tuple[HostnameEntry, ...] = ()
    known: bool = True
    note: str = ""

    def result_for(self, address: str, *, ipv4_enabled: bool = True) -> AddressResult:
        client = ClientAddress.parse(address, ipv4_enabled=ipv4_enabled)
        for entry in self.by_address:
            if client.value in entry.addresses(client.family):
                return entry
        raise AssertionError("by_address must cover the address space")


def _everything_result(result: str | None, line: int | None = None, *, known: bool = True,
                       error: str | None = None, key: str | None = None) -> AddressResult:
    return AddressResult(
        IntervalSet.everything(IPV4), IntervalSet.everything(IPV6), result, line, key, known, error
    )


# --------------------------------------------------------------------------------------------
# Tables


class Table:
    """Base class. `fixed`: Postfix's DICT_FLAG_FIXED (exact-key tables that get partial lookups)."""

    kind: str = "table"
    fixed: bool = False

    def __init__(self, ref: TableRef, source: Path | None = None) -> None:
        self.ref = ref
        self.source = source
        self.issues: list[TableIssue] = []
        self.caveats: list[str] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ref.text!r})"

    @property
    def known(self) -> bool:
        return True

    @property
    def error(self) -> str | None:
        return None

    def lookup(self, key: str, *, fold_key: bool = True) -> LookupResult:
        """One dict_get(). `fold_key`: the caller opened the table with DICT_FLAG_FOLD_FIX
        (smtpd access maps do; address lists instead casefold the key themselves)."""
        raise NotImplementedError

    # -- smtpd check_client_access ----------------------------------------------------------

    def may_match_hostnames(self, *, parent_style: bool = True) -> bool:
        """Could the hostname step of a client lookup find something (unknown client name)?"""
        return False

    def client_access_lookup(
        self,
        address: str,
        client_name: str | None = None,
        *,
        parent_style: bool = True,
        ipv4_enabled: bool = True,
    ) -> LookupResult:
        """check_namadr_access(): the client's verified hostname ("unknown" if none; None =
        not known to pfcheck) and its parent domains, then the address and, for exact-key
        tables, its shorter prefixes (1.2.3.4, 1.2.3, 1.2, 1; IPv6 by ':'-truncation)."""
        client = ClientAddress.parse(address, ipv4_enabled=ipv4_enabled)
        name_undecided = False
        if client_name is None:
            name_undecided = self.may_match_hostnames(parent_style=parent_style)
        else:
            for key, partial in domain_lookup_keys(client_name.lower(), parent_style=parent_style):
                if partial and not self.fixed:
                    continue
                result = self.lookup(key)
                if result.error or not result.known or result.found:
                    return result
        for key, partial in address_lookup_keys(client.text):
            if partial and not self.fixed:
                continue
            result = self.lookup(key)
            if result.error or result.found or not result.known:
                if name_undecided and result.known:
                    return _undecided(result, "a hostname entry may match first")
                return result
        if name_undecided:
            return LookupResult(None, known=False, note="a hostname entry may match first")
        return NOT_FOUND

    def client_address_results(self, *, parent_style: bool = True) -> ClientAddressResults:
        raise NotImplementedError

    # -- address lists (mynetworks, ...) ---------------------------------------------------

    def match_list_membership(self, *, parent_style: bool, hostnames: bool) -> Membership:
        raise NotImplementedError


def _undecided(result: LookupResult, note: str) -> LookupResult:
    return LookupResult(result.value, False, result.line, result.found, result.error, result.key, note)


def domain_lookup_keys(name: str, *, parent_style: bool) -> list[tuple[str, bool]]:
    """check_domain_access(): (key, is_partial) for a hostname and its parent domains."""
    keys = [(name, False)]
    if parse_ipv4(name) is not None or parse_ipv6(name) is not None:
        return keys  # "Don't apply subdomain magic to numerical hostnames."
    rest = name
    while True:
        dot = rest.find(".", 1)
        if dot < 0:
            break
        rest = rest[dot + 1:] if parent_style else rest[dot:]
        keys.append((rest, True))
    return keys


def address_lookup_keys(text: str) -> list[tuple[str, bool]]:
    """check_addr_access(): the address text, then repeatedly cut at the last '.' or ':'."""
    delimiter = ":" if ":" in text else "."
    keys = [(text, False)]
    current = text
    while delimiter in current:
        current = current[: current.rindex(delimiter)]
        if not current:
            break  # maps_find() returns "not found" for an empty key
        keys.append((current, True))
    return keys


class UnknownTable(Table):
    """A table whose contents pfcheck cannot know (network service, missing file, ...)."""

    kind = "unknown"

    def __init__(self, ref: TableRef, reason: str, source: Path | None = None) -> None:
        super().__init__(ref, source)
        self.reason = reason
        self.fixed = ref.type in FIXED_TYPES

    @property
    def known(self) -> bool:
        return False

    def lookup(self, key: str, *, fold_key: bool = True) -> LookupResult:
        return LookupResult(None, known=False, note=self.reason)

    def may_match_hostnames(self, *, parent_style: bool = True) -> bool:
        return True

    def client_access_lookup(self, address: str, client_name: str | None = None, *,
                             parent_style: bool = True, ipv4_enabled: bool = True) -> LookupResult:
        ClientAddress.parse(address, ipv4_enabled=ipv4_enabled)
        return LookupResult(None, known=False, note=self.reason)

    def client_address_results(self, *, parent_style: bool = True) -> ClientAddressResults:
        return ClientAddressResults((_everything_result(None, known=False),), known=False, note=self.reason)

    def match_list_membership(self, *, parent_style: bool, hostnames: bool) -> Membership:
        return Membership(unknown=self.reason)


class FailingTable(Table):
    """A table Postfix cannot use: every lookup fails (smtpd: temporary error)."""

    kind = "failing"

    def __init__(self, ref: TableRef, reason: str, source: Path | None = None) -> None:
        super().__init__(ref, source)
        self.reason = reason

    @property
    def error(self) -> str | None:
        return self.reason

    def lookup(self, key: str, *, fold_key: bool = True) -> LookupResult:
        return LookupResult(None, error=self.reason)

    def client_access_lookup(self, address: str, client_name: str | None = None, *,
                             parent_style: bool = True, ipv4_enabled: bool = True) -> LookupResult:
        ClientAddress.parse(address, ipv4_enabled=ipv4_enabled)
        return LookupResult(None, error=self.reason)

    def client_address_results(self, *, parent_style: bool = True) -> ClientAddressResults:
        return ClientAddressResults((_everything_result(None, error=self.reason),), note=self.reason)

    def match_list_membership(self, *, parent_style: bool, hostnames: bool) -> Membership:
        return Membership(error=self.reason)


class StaticTable(Table):
    """`static:value` / `static:{ value with spaces }`: every key is found."""

    kind = "static"
    fixed = True

    def __init__(self, ref: TableRef, value: str) -> None:
        super().__init__(ref)
        self.value = value

    def lookup(self, key: str, *, fold_key: bool = True) -> LookupResult:
        return LookupResult(self.value, key=key)

    def client_access_lookup(self, address: str, client_name: str | None = None, *,
                             parent_style: bool = True, ipv4_enabled: bool = True) -> LookupResult:
        client = ClientAddress.parse(address, ipv4_enabled=ipv4_enabled)
        return LookupResult(self.value, key=client_name if client_name is not None else client.text)

    def client_address_results(self, *, parent_style: bool = True) -> ClientAddressResults:
        return ClientAddressResults((_everything_result(self.value),))

    def match_list_membership(self, *, parent_style: bool, hostnames: bool) -> Membership:
        return Membership(IntervalSet.everything(IPV4), IntervalSet.everything(IPV6))


@dataclass(frozen=True)
class KeyedEntry:
    key: str  # as stored (folded for postmap-built maps)
    value: str
    line: int | None
    raw_key: str  # as written in the source


class KeyedTable(Table):
    """Exact-key tables: hash-type maps (from their postmap source), texthash, inline."""

    kind = "hash"
    fixed = True

    def __init__(self, ref: TableRef, entries: Iterable[KeyedEntry], *, keys_folded: bool,
                 source: Path | None = None, duplicate_error: str | None = None,
                 duplicate_error_unfolded: str | None = None, later_replaces: bool = False) -> None:
        super().__init__(ref, source)
        # postmap keeps the first of duplicate keys; dict_ht (inline:) lets later ones replace.
        ordered = list(entries)
        self.entries: dict[str, KeyedEntry] = {}
        self._folded: dict[str, KeyedEntry] = {}
        for entry in ordered:
            if later_replaces:
                self.entries[entry.key] = entry
                self._folded[entry.key.lower()] = entry
            else:
                self.entries.setdefault(entry.key, entry)
                self._folded.setdefault(entry.key.lower(), entry)
        self.keys_folded = keys_folded
        # texthash: Postfix daemons open it without duplicate handling, so a duplicate key
        # makes the whole table unusable. Whether keys are duplicates depends on folding.
        self._duplicate_error = duplicate_error
        self._duplicate_error_unfolded = duplicate_error_unfolded

    @property
    def error(self) -> str | None:
        return self._duplicate_error

    def lookup(self, key: str, *, fold_key: bool = True) -> LookupResult:
        error = self._duplicate_error if fold_key else self._duplicate_error_unfolded
        if error:
            return LookupResult(None, error=error)
        if fold_key:
            entry = self._folded.get(key.lower())
        else:
            entry = self.entries.get(key)
        if entry is None:
            return NOT_FOUND
        return LookupResult(entry.value, line=entry.line, key=entry.key)

    def _lookup_keys(self, fold_key: bool) -> dict[str, KeyedEntry]:
        return self._folded if fold_key else self.entries

    def may_match_hostnames(self, *, parent_style: bool = True) -> bool:
        return any(_hostname_key(key, parent_style) for key in self._folded)

    def client_address_results(self, *, parent_style: bool = True) -> ClientAddressResults:
        if self._duplicate_error:
            return ClientAddressResults((_everything_result(None, error=self._duplicate_error),),
                                        note=self._duplicate_error)
        by_hostname = tuple(
            HostnameEntry(
                entry.key, entry.value, entry.line,
                "every client without verified reverse DNS" if key == "unknown" else "DNS-controlled",
            )
            for key, entry in self._folded.items()
            if _hostname_key(key, parent_style)
        )
        by_address: list[AddressResult] = []
        for family in (IPV4, IPV6):
            entries: list[tuple[int, int, int]] = []
            labels: list[tuple[KeyedEntry, bool]] = []
            for key, entry in self._folded.items():
                for start, prefixlen, exact in _access_key_networks(key, family):
                    specificity = FAMILY_BITS[family] - prefixlen
                    # Exact entries before approximate ones of the same length, then longest
                    # prefix first (the lookup order), then a unique tie-breaker.
                    priority = ((specificity * 2 + (0 if exact else 1)) << 40) | len(labels)
                    labels.append((entry, exact))
                    end = start + (1 << (FAMILY_BITS[family] - prefixlen))
                    entries.append((start, end, priority))
            grouped: dict[int | None, list[tuple[int, int]]] = {}
            for start, end, winner in first_match_partition(entries, FAMILY_END[family]):
                label = None if winner is None else winner & ((1 << 40) - 1)
                grouped.setdefault(label, []).append((start, end))
            for label, ranges in grouped.items():
                addresses = IntervalSet(ranges)
                empty = IntervalSet()
                v4, v6 = (addresses, empty) if family == IPV4 else (empty, addresses)
                if label is None:
                    by_address.append(AddressResult(v4, v6, None, None))
                else:
                    entry, exact = labels[label]
                    by_address.append(AddressResult(v4, v6, entry.value, entry.line, entry.key, exact))
        return ClientAddressResults(tuple(by_address), by_hostname)

    def match_list_membership(self, *, parent_style: bool, hostnames: bool) -> Membership:
        # Address lists look up the casefolded address text without DICT_FLAG_FOLD_FIX.
        if self._duplicate_error_unfolded:
            return Membership(error=self._duplicate_error_unfolded)
        membership = Membership()
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        for key, entry in self.entries.items():
            ipv4 = parse_ipv4(key)
            if ipv4 is not None and format_address(ipv4, IPV4) == key:
                v4.append((ipv4, ipv4 + 1))
                continue
            ipv6 = parse_ipv6(key)
            if ipv6 is not None:
                if format_address(ipv6, IPV6) == key:
                    v6.append((ipv6, ipv6 + 1))
                else:
                    membership.notes.append(
                        f"key {entry.raw_key!r} (line {entry.line}) never matches: clients are "
                        f"looked up as {format_address(ipv6, IPV6)!r}"
                    )
                continue
            if _access_key_networks(key, IPV4) and key.count(".") < 3:
                membership.notes.append(
                    f"key {entry.raw_key!r} (line {entry.line}) never matches in an address list: "
                    f"only complete addresses are looked up there (shorter octet keys work in "
                    f"check_client_access only)"
                )
                continue
            if "/" in key and isinstance(parse_cidr_pattern(key), CidrPattern):
                membership.notes.append(
                    f"key {entry.raw_key!r} (line {entry.line}) never matches: network/mask "
                    f"needs a cidr: table, indexed tables match complete addresses only"
                )
                continue
            if hostnames and key == "unknown":
                membership.unknown_client_key = True
            elif hostnames and _hostname_key(key, parent_style):
                membership.dns_keys.append(key)
            elif key.lower() != key and _hostname_key(key.lower(), parent_style):
                membership.notes.append(
                    f"key {entry.raw_key!r} (line {entry.line}) has upper case: this table type "
                    f"does not fold keys, so it never matches in an address list"
                )
        membership.ipv4 = IntervalSet(v4)
        membership.ipv6 = IntervalSet(v6)
        return membership


def _hostname_key(key: str, parent_style: bool) -> bool:
    return key == "unknown" or hostname_pattern_can_match(key, parent_style=parent_style)


_HEXTET_TEXT = re.compile(r"[1-9a-f][0-9a-f]{0,3}\Z")
_ANY_HEXTET_TEXT = re.compile(r"(0|[1-9a-f][0-9a-f]{0,3})\Z")


def _access_key_networks(key: str, family: int) -> list[tuple[int, int, bool]]:
    """Networks a key of an exact-key access table covers in check_addr_access():
    (network, prefixlen, exact). `exact=False` marks an over-approximation (IPv6 keys whose
    text-prefix semantics are not a network: zero groups or '::' that compression may move)."""
    if family == IPV4:
        parts = key.split(".")
        if not 1 <= len(parts) <= 4:
            return []
        value = 0
        for part in parts:
            if not re.fullmatch(r"0|[1-9][0-9]{0,2}", part) or int(part) > 255:
                return []
            value = (value << 8) | int(part)
        return [(value << (8 * (4 - len(parts))), 8 * len(parts), True)]
    if ":" not in key and not _HEXTET_TEXT.match(key):
        return []
    full = parse_ipv6(key)
    if full is not None and format_address(full, IPV6) == key:
        networks = [(full, 128, True)]
        head, double_colon, tail = key.partition("::")
        if double_colon and tail and "." not in tail:
            # "a:b::c" is also a truncation of longer addresses such as a:b::c:d.
            high = [int(group, 16) for group in head.split(":")] if head else []
            prefix_groups = high + [0, 0]
            if len(prefix_groups) <= 8:
                value = 0
                for group in prefix_groups:
                    value = (value << 16) | group
                prefixlen = 16 * len(prefix_groups)
                networks.append((value << (128 - prefixlen), prefixlen, False))
        return networks
    groups = key.split(":")
    if len(groups) > 7:
        return []
    if all(_HEXTET_TEXT.match(group) for group in groups):
        value = 0
        for group in groups:
            value = (value << 16) | int(group, 16)
        prefixlen = 16 * len(groups)
        return [(value << (128 - prefixlen), prefixlen, True)]
    # Zero groups or a trailing ':' (a truncation of "a:b::c" is "a:b:"): the matching
    # addresses depend on where inet_ntop puts '::'. Approximate by the leading groups.
    leading: list[int] = []
    for group in groups:
        if group == "" or not _ANY_HEXTET_TEXT.match(group) or int(group, 16) == 0:
            break
        leading.append(int(group, 16))
    if not all(group == "" or _ANY_HEXTET_TEXT.match(group) for group in groups) or not leading:
        return []
    value = 0
    for group in leading:
        value = (value << 16) | group
    prefixlen = 16 * len(leading)
    return [(value << (128 - prefixlen), prefixlen, False)]


@dataclass(frozen=True)
class CidrRule:
    op: str  # "match", "if", "endif"
    pattern: CidrPattern | None
    match: bool  # False for "!pattern"
    value: str
    line: int
    block_end: int | None = None  # index of the matching ENDIF (IF rules)


class CidrTable(Table):
    """cidr_table(5): ordered rules, first match wins; IF/ENDIF blocks; `!` negation.

    Bad rules are skipped with Postfix's warning (`issues`); they never cause lookup errors.
    A negated rule only applies to addresses of its own family.
    """

    kind = "cidr"
    fixed = False

    def __init__(self, ref: TableRef, rules: list[CidrRule], source: Path | None = None) -> None:
        super().__init__(ref, source)
        self.rules = rules

    def lookup(self, key: str, *, fold_key: bool = True) -> LookupResult:
        family = IPV6 if ":" in key else IPV4
        value = parse_address(key, family)
        if value is None:
            return NOT_FOUND
        client = ClientAddress.of(value, family)
        index = 0
        while index < len(self.rules):
            rule = self.rules[index]
            if rule.op == "match":
                if self._applies(rule, client):
                    return LookupResult(rule.value, line=rule.line, key=key)
            elif rule.op == "if":
                if not self._applies(rule, client):
                    if rule.block_end is None:
                        return NOT_FOUND  # an IF without ENDIF has no end-of-block entry
                    index = rule.block_end
            index += 1
        return NOT_FOUND

    @staticmethod
    def _applies(rule: CidrRule, client: ClientAddress) -> bool:
        assert rule.pattern is not None
        if rule.pattern.family != client.family:
            return False
        return (client in rule.pattern) == rule.match

    def _rule_sets(self, family: int) -> list[tuple[int, IntervalSet]]:
        """(rule index, the addresses of `family` that reach and match it) for match rules."""
        result: list[tuple[int, IntervalSet]] = []
        conditions: list[IntervalSet] = []
        scope_ends: list[int | None] = []
        everything = IntervalSet.everything(family)
        for index, rule in enumerate(self.rules):
            while scope_ends and scope_ends[-1] is not None and index > scope_ends[-1]:
                scope_ends.pop()
                conditions.pop()
            if rule.op == "endif":
                continue
            assert rule.pattern is not None
            if rule.pattern.family != family:
                own = IntervalSet()
            else:
                network = rule.pattern.addresses
                own = network if rule.match else everything.difference(network)
            scope = own
            for condition in conditions:
                scope = scope.intersection(condition)
            if rule.op == "if":
                conditions.append(scope)
                scope_ends.append(rule.block_end)
            else:
                result.append((index, scope))
        return result

    def client_address_results(self, *, parent_style: bool = True) -> ClientAddressResults:
        by_address: list[AddressResult] = []
        for family in (IPV4, IPV6):
            entries = [
                (start, end, index)
                for index, addresses in self._rule_sets(family)
                for start, end in addresses.ranges
            ]
            grouped: dict[int | None, list[tuple[int, int]]] = {}
            for start, end, winner in first_match_partition(entries, FAMILY_END[family]):
                grouped.setdefault(winner, []).append((start, end))
            for winner, ranges in grouped.items():
                addresses = IntervalSet(ranges)
                empty = IntervalSet()
                v4, v6 = (addresses, empty) if family == IPV4 else (empty, addresses)
                if winner is None:
                    by_address.append(AddressResult(v4, v6, None, None))
                else:
                    rule = self.rules[winner]
                    assert rule.pattern is not None
                    key = ("!" if not rule.match else "") + rule.pattern.text()
                    by_address.append(AddressResult(v4, v6, rule.value, rule.line, key))
        return ClientAddressResults(tuple(by_address))

    def match_list_membership(self, *, parent_style: bool, hostnames: bool) -> Membership:
        sets = {}
        for family in (IPV4, IPV6):
            combined = IntervalSet()
            for _, addresses in self._rule_sets(family):
                combined = combined.union(addresses)
            sets[family] = combined
        return Membership(sets[IPV4], sets[IPV6])


# -- regexp / pcre ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegexpRule:
    op: str  # "match", "if", "endif"
    first: RegexpPattern | None
    second: RegexpPattern | None
    value: str | None  # None: contains $number substitution (value unknown)
    line: int
    block_end: int | None = None


_CATCH_ALL_CHARS = frozenset("^$.*+()")
_MAX_CACHED_ANSWERS = 10_000


class RegexpTable(Table):
    """regexp_table(5) / pcre_table(5). Evaluated only on a safe regular-expression subset."""

    kind = "regexp"
    fixed = False

    def __init__(self, ref: TableRef, rules: list[RegexpRule], source: Path | None = None) -> None:
        super().__init__(ref, source)
        self.rules = rules
        self._answers: dict[str, LookupResult] = {}

    def lookup(self, key: str, *, fold_key: bool = True) -> LookupResult:
        # The relay evaluator asks the same keys again and again (per scenario).
        cached = self._answers.get(key)
        if cached is None:
            cached = self._lookup(key)
            if len(self._answers) < _MAX_CACHED_ANSWERS:
                self._answers[key] = cached
        return cached

    def _lookup(self, key: str) -> LookupResult:
        # Every run is estimated first (regexp_pattern.PatternRun): the lookup stops, "cannot
        # tell", before a pattern or the whole walk would exceed its budget, deterministically.
        run = PatternRun(key)

        def evaluate(pattern: RegexpPattern, line: int) -> bool | LookupResult:
            outcome = run.matches(pattern)
            if isinstance(outcome, str):
                return LookupResult(None, known=False, line=line, note=f"line {line}: {outcome}")
            return outcome

        index = 0
        while index < len(self.rules):
            rule = self.rules[index]
            if rule.op == "match":
                assert rule.first is not None
                first = evaluate(rule.first, rule.line)
                if isinstance(first, LookupResult):
                    return first
                if first and rule.second is not None:
                    first = evaluate(rule.second, rule.line)
                    if isinstance(first, LookupResult):
                        return first
                if first:
                    if rule.value is None:
                        return LookupResult(None, known=False, line=rule.line, found=True, key=key,
                                            note="result uses $number substitution")
                    return LookupResult(rule.value, line=rule.line, key=key)
            elif rule.op == "if":
                assert rule.first is not None
                condition = evaluate(rule.first, rule.line)
                if isinstance(condition, LookupResult):
                    return condition
                if not condition:
                    if rule.block_end is None:
                        return NOT_FOUND
                    index = rule.block_end
            index += 1
        return NOT_FOUND

    def catch_all_rule(self) -> RegexpRule | None:
        """The first rule when it matches every non-empty key unconditionally."""
        for rule in self.rules:
            if rule.op != "match":
                return None
            first = rule.first
            if (
                first is None or rule.second is not None or not first.match
                or first.compiled is None or first.anchored
                or not set(first.text) <= _CATCH_ALL_CHARS
                or first.compiled.search("x") is None
            ):
                return None
            return rule
        return None

    def may_match_hostnames(self, *, parent_style: bool = True) -> bool:
        # A catch-all first rule answers the hostname lookup exactly as the address lookup.
        if self.catch_all_rule() is not None:
            return False
        return any(rule.op == "match" for rule in self.rules)

    def client_address_results(self, *, parent_style: bool = True) -> ClientAddressResults:
        rule = self.catch_all_rule()
        if rule is not None:
            value = rule.value
            return ClientAddressResults(
                (_everything_result(value, rule.line, known=value is not None, key=rule.first.text if rule.first else None),),
                note=f"line {rule.line}: catch-all pattern matches every client",
            )
        note = f"{self.ref.type} table: pfcheck does not enumerate which clients its patterns match"
        return ClientAddressResults((_everything_result(None, known=False),), known=False, note=note)

    def match_list_membership(self, *, parent_style: bool, hostnames: bool) -> Membership:
        if self.catch_all_rule() is not None:
            return Membership(IntervalSet.everything(IPV4), IntervalSet.everything(IPV6))
        if not any(rule.op == "match" for rule in self.rules):
            return Membership()
        return Membership(unknown=f"{self.ref.type} table: patterns may match client hostnames or addresses")


# --------------------------------------------------------------------------------------------
# Loading


def load_table(ref: TableRef, resolver: TableResolver | None) -> Table:
    """Build the Table for a reference. File-based tables need `resolver` (else unknown)."""
    if not ref.type or not ref.name:
        return FailingTable(ref, f'open dictionary: expecting "type:name" form instead of "{ref.type}:{ref.name}"')
    if ref.type not in KNOWN_TYPES:
        return FailingTable(ref, f"unsupported dictionary type: {ref.type}")
    if ref.type == "static":
        return _load_static(ref)
    if ref.type == "inline":
        return _load_inline(ref)
    if ref.type == "fail":
        return FailingTable(ref, f"fail:{ref.name} table: every lookup fails")
    if ref.type == "proxy":
        inner_ref = parse_table_ref(ref.name)
        if inner_ref is None:
            return FailingTable(ref, f"proxy: bad table name: {ref.name}")
        inner = load_table(inner_ref, resolver)
        inner.caveats.append(
            f"read through proxymap ({ref.text}): lookups fail unless the table is listed in "
            f"proxy_read_maps (its default lists the usual smtpd parameters)"
        )
        return inner
    if ref.type in _UNKNOWN_CONTENT:
        return UnknownTable(ref, f"{ref.type}: contents live in a {_UNKNOWN_CONTENT[ref.type]}, not in the repository")
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
    if ref.type == "cidr":
        return _load_cidr(ref, text, location.path)
    if ref.type in ("regexp", "pcre"):
        return _load_regexp(ref, text, location.path)
    return _load_keyed(ref, text, location.path)


def _extpar_strip(text: str) -> tuple[str, str | None]:
    """extpar(..., "{}", EXTPAR_FLAG_STRIP): (inner text, error)."""
    length = _balpar(text)
    if length == 0:
        return text[1:].strip(_SPACE), f"missing '}}' in \"{text}\""
    inner = text[1:length - 1].strip(_SPACE)
    if length != len(text):
        return inner, f"syntax error after '}}' in \"{text}\""
    return inner, None


def _balpar(text: str) -> int:
    if not text.startswith("{"):
        return 0
    level = 0
    for position, char in enumerate(text):
        if char == "{":
            level += 1
        elif char == "}":
            level -= 1
            if level == 0:
                return position + 1
    return 0


def _load_static(ref: TableRef) -> Table:
    if ref.name.startswith("{"):
        value, error = _extpar_strip(ref.name)
        if error:
            return FailingTable(ref, f"bad static:name syntax: {error}")
        return StaticTable(ref, value)
    return StaticTable(ref, ref.name)


def _split_qnameval(text: str) -> tuple[str, str] | str:
    """split_qnameval(): `name = value` with optional quotes around the name; error text."""
    key_start = 0
    while key_start < len(text) and text[key_start] in _SPACE:
        key_start += 1
    if key_start >= len(text):
        return "no key found; expected format: key = value"
    in_quotes = False
    position = key_start
    while position < len(text):
        char = text[position]
        if char == "\\":
            position += 1
            if position >= len(text):
                break
        elif char in _SPACE or char == "=":
            if not in_quotes:
                break
        elif char == '"':
            in_quotes = not in_quotes
        position += 1
    if in_quotes:
        return "unbalanced '\"'"
    key = text[key_start:position]
    rest = text[position:].lstrip(_SPACE)
    if not rest.startswith("="):
        return "missing '=' after attribute name"
    return key, rest[1:].strip(_SPACE)


def _load_inline(ref: TableRef) -> Table:
    name = ref.name
    length = _balpar(name)
    syntax_error = f'bad syntax: "inline:{name}"; need "inline:{{name=value...}}"'
    if length == 0 or length != len(name) or length == 2:
        return FailingTable(ref, syntax_error)
    entries: list[KeyedEntry] = []
    error: str | None = None
    for token, _ in split_list(name[1:-1]):
        if token.startswith("{"):
            token, error = _extpar_strip(token)
            if error:
                break
        parsed = _split_qnameval(token)
        if isinstance(parsed, str):
            error = parsed
            break
        key, value = parsed
        entries.append(KeyedEntry(key, value, None, key))
    if error is not None or not entries:
        reason = error if error is not None else "empty table"
        return FailingTable(ref, f'{reason}: "inline:{name}"; need "inline:{{name=value...}}"')
    # dict_ht update: a later duplicate replaces the earlier value (after folding, when the
    # caller folds keys).
    table = KeyedTable(ref, entries, keys_folded=False, later_replaces=True)
    table.kind = "inline"
    return table


def logical_lines(text: str) -> tuple[list[tuple[int, str]], list[TableIssue]]:
    """readllines(): (first line number, logical line); comments and blank lines are skipped
    without ending a logical line, lines starting with whitespace continue it (joined with no
    separator). A logical line that starts with whitespace is dropped with a warning."""
    result: list[tuple[int, str]] = []
    issues: list[TableIssue] = []
    current: str | None = None
    first = 0

    def flush() -> None:
        if current is None:
            return
        if current[0] in _SPACE:
            issues.append(TableIssue(first, f'logical line must not start with whitespace: "{current[:30]}"'))
        else:
            result.append((first, current))

    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    for number, line in enumerate(physical, start=1):
        stripped = line.lstrip(_SPACE)
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in _SPACE and current is not None:
            current += line
            continue
        flush()
        current, first = line, number
    flush()
    return result, issues


def _split_key_value(line: str) -> tuple[str, str] | None:
    """postmap: the key ends at the first unquoted whitespace (backslash escapes); None when
    the quotes are unbalanced."""
    in_quotes = False
    position = 0
    while position < len(line):
        char = line[position]
        if char == "\\":
            position += 1
            if position >= len(line):
                break
        elif char in _SPACE:
            if not in_quotes:
                break
        elif char == '"':
            in_quotes = not in_quotes
        position += 1
    if in_quotes:
        return None
    key = line[:position]
    value = line[position + 1:].strip(_SPACE) if position < len(line) else ""
    return key, value


def _load_keyed(ref: TableRef, text: str, path: Path) -> Table:
    lines, issues = logical_lines(text)
    texthash = ref.type == "texthash"
    entries: list[KeyedEntry] = []
    seen: dict[str, int] = {}
    seen_unfolded: dict[str, int] = {}
    duplicate_error: str | None = None
    duplicate_error_unfolded: str | None = None
    for number, line in lines:
        parsed = _split_key_value(line)
        if parsed is None:
            issues.append(TableIssue(number, f"unbalanced '\"' in '{line}' -- ignoring this line"))
            continue
        raw_key, value = parsed
        if not raw_key or not value:
            issues.append(TableIssue(number, "expected format: key whitespace value -- ignoring this line"))
            continue
        if raw_key.endswith(":"):
            issues.append(TableIssue(number, 'record is in "key: value" format; is this an alias file?'))
        folded = raw_key.lower()
        if folded in seen:
            message = f'{ref.name}, line {number}: duplicate entry: "{folded}"'
            if texthash:
                duplicate_error = duplicate_error or message
            else:
                issues.append(TableIssue(number, f'duplicate entry: "{folded}" (postmap keeps line {seen[folded]})'))
        else:
            seen[folded] = number
        if raw_key in seen_unfolded:
            if texthash:
                duplicate_error_unfolded = duplicate_error_unfolded or (
                    f'{ref.name}, line {number}: duplicate entry: "{raw_key}"'
                )
        else:
            seen_unfolded[raw_key] = number
        # postmap folds keys by default (DICT_FLAG_FOLD_FIX); texthash stores them as written.
        stored = raw_key if texthash else folded
        entries.append(KeyedEntry(stored, value, number, raw_key))
    table = KeyedTable(
        ref, entries, keys_folded=not texthash, source=path,
        duplicate_error=duplicate_error, duplicate_error_unfolded=duplicate_error_unfolded,
    )
    table.kind = ref.type
    table.issues.extend(issues)
    if not texthash:
        table.caveats.append(
            f"read from the postmap source {path.name}: assumes `postmap {ref.type}:{ref.name}` "
            f"was run after the last change (without -f)"
        )
    return table


def _load_cidr(ref: TableRef, text: str, path: Path) -> Table:
    lines, issues = logical_lines(text)
    rules: list[CidrRule] = []
    if_stack: list[int] = []

    def skip(number: int, why: str) -> None:
        issues.append(TableIssue(number, f"cidr map {ref.name}, line {number}: {why}: skipping this rule"))

    for number, line in lines:
        lowered = line.lower()
        if lowered.startswith("if") and not (len(line) > 2 and line[2].isalnum()):
            rest = line[2:]
            match = True
            position = 0
            while position < len(rest) and (rest[position] == "!" or rest[position] in _SPACE):
                if rest[position] == "!":
                    match = not match
                position += 1
            pattern_text = rest[position:].rstrip(_SPACE)
            if not pattern_text:
                skip(number, "no address pattern")
                continue
            parsed = parse_cidr_pattern(pattern_text)
            if isinstance(parsed, str):
                skip(number, parsed)
                continue
            if_stack.append(len(rules))
            rules.append(CidrRule("if", parsed, match, "", number))
            continue
        if lowered.startswith("endif") and not (len(line) > 5 and line[5].isalnum()):
            if line[5:].strip(_SPACE):
                skip(number, "garbage after ENDIF")
                continue
            if not if_stack:
                skip(number, "ENDIF without IF")
                continue
            opened = if_stack.pop()
            opening = rules[opened]
            rules[opened] = CidrRule(opening.op, opening.pattern, opening.match, opening.value,
                                     opening.line, block_end=len(rules))
            rules.append(CidrRule("endif", None, True, "", number))
            continue
        match = True
        position = 0
        while position < len(line) and (line[position] == "!" or line[position] in _SPACE):
            if line[position] == "!":
                match = not match
            position += 1
        rest = line[position:]
        end = 0
        while end < len(rest) and rest[end] not in _SPACE:
            end += 1
        pattern_text, value = rest[:end], rest[end:].strip(_SPACE)
        if not pattern_text:
            skip(number, "no address pattern")
            continue
        parsed = parse_cidr_pattern(pattern_text)
        if isinstance(parsed, str):
            skip(number, parsed)
            continue
        if not value:
            skip(number, "no lookup result")
            continue
        rules.append(CidrRule("match", parsed, match, value, number))
    for opened in if_stack:
        issues.append(TableIssue(rules[opened].line,
                                 f"cidr map {ref.name}, line {rules[opened].line}: IF has no matching ENDIF"))
    table = CidrTable(ref, rules, path)
    table.issues.extend(issues)
    return table


_INTERVAL = re.compile(r"\{\d+(,\d*)?\}")


def _translate_regex(regex: str, *, pcre: bool) -> str | None:
    """Translate a POSIX ERE (regexp:) or PCRE (pcre:) pattern to Python when it only uses
    constructs on which they agree: literals, escaped punctuation, `. ^ $ * + ? | ( )`, simple
    bracket expressions and `{m,n}`. None otherwise."""
    out: list[str] = []
    position = 0
    length = len(regex)
    while position < length:
        char = regex[position]
        if char == "\\":
            if position + 1 >= length:
                return None
            escaped = regex[position + 1]
            if escaped.isalnum():
                if pcre and escaped in "dws":
                    out.append("\\" + escaped)
                    position += 2
                    continue
                return None
            out.append(re.escape(escaped))
            position += 2
            continue
        if char == "[":
            end = position + 1
            if end < length and regex[end] == "^":
                end += 1
            if end < length and regex[end] == "]":
                end += 1
            while end < length and regex[end] != "]":
                if regex[end] in "[\\":
                    return None
                end += 1
            if end >= length:
                return None
            body = regex[position + 1:end]
            if any(pair in body for pair in ("--", "&&", "~~", "||")):
                return None
            out.append("[" + body + "]")
            position = end + 1
            continue
        if char == "{":
            interval = _INTERVAL.match(regex, position)  # at `position`: no copy of the rest
            if interval is None or not out:
                return None
            out.append(interval.group(0))
            position += len(interval.group(0))
            continue
        if char in ".^$*+?|()":
            out.append(char)
        elif char.isalnum() or char in " _-@=,;:/%#'\"<>!&~`":
            out.append(re.escape(char))
        else:
            return None
        position += 1
    # Whether Python accepts it is decided when it is first run (RegexpPattern.compiled):
    # compiling every pattern of a large table up front costs ~100 us a pattern.
    return "".join(out)


def _parse_regex_pattern(text: str, *, pcre: bool, budget: list[int] | None = None) -> tuple[RegexpPattern, str] | str:
    """dict_regexp_get_pat() / dict_pcre_get_pat(): (pattern, rest of line) or a warning."""
    match = True
    position = 0
    while position < len(text) and (text[position] == "!" or text[position] in _SPACE):
        if text[position] == "!":
            match = not match
        position += 1
    if position >= len(text):
        return "no regexp: skipping this rule"
    delimiter = text[position]
    position += 1
    start = position
    while position < len(text):
        if text[position] == "\\":
            if position + 1 < len(text):
                position += 1
            else:
                break
        elif text[position] == delimiter:
            break
        position += 1
    if position >= len(text) or text[position] != delimiter:
        return f'no closing regexp delimiter "{delimiter}": skipping this rule'
    regex = text[start:position]
    position += 1
    ignore_case = True
    anchored = False
    supported = True
    while position < len(text) and text[position] not in _SPACE and text[position] != "!":
        option = text[position]
        if option == "i":
            ignore_case = not ignore_case
        elif option == "m" or (pcre and option in "sEUX"):
            pass  # no effect on single-line keys / on whether a match exists
        elif pcre and option == "A":
            anchored = not anchored
        elif option == "x":
            supported = False  # regexp: basic RE syntax; pcre: extended (whitespace) syntax
        else:
            return f'unknown regexp option "{option}": skipping this rule'
        position += 1
    # Limits first: the translator is a loop over the characters in Python, and compiling
    # costs ~2.5 us a character. `budget`: pattern characters left for this table; the cut
    # falls at the same line for every lookup.
    refusal = None
    if len(regex) > MAX_PATTERN_LENGTH:
        refusal = f"pattern longer than {MAX_PATTERN_LENGTH:,} characters"
    elif budget is not None and supported:
        budget[0] -= len(regex)
        if budget[0] < 0:
            refusal = (f"the table's patterns exceed the {MAX_TABLE_PATTERN_CHARACTERS:,} characters "
                       f"pfcheck compiles, and this one comes after them")
    translated = _translate_regex(regex, pcre=pcre) if supported and refusal is None else None
    flags = (re.IGNORECASE if ignore_case else 0) | re.ASCII
    pattern = RegexpPattern(regex, match, translated, flags, pcre=pcre, anchored=anchored)
    if refusal is not None:
        pattern.refuse(refusal)
    return pattern, text[position:]


_SUBSTITUTION = re.compile(r"\$(\d|\{\d+\}|\(\d+\))")


def _load_regexp(ref: TableRef, text: str, path: Path) -> Table:
    pcre = ref.type == "pcre"
    lines, issues = logical_lines(text)
    rules: list[RegexpRule] = []
    if_stack: list[int] = []
    label = "pcre map" if pcre else "regexp map"
    budget = [MAX_TABLE_PATTERN_CHARACTERS]
    for number, line in lines:
        if budget[0] < 0:
            _cut_regexp_table(rules, if_stack, number - 1 if rules else number)
            break
        if not line[0].isalnum():
            first = _parse_regex_pattern(line, pcre=pcre, budget=budget)
            if isinstance(first, str):
                issues.append(TableIssue(number, f"{label} {ref.name}, line {number}: {first}"))
                continue
            first_pattern, rest = first
            second_pattern: RegexpPattern | None = None
            if rest.startswith("!"):
                second = _parse_regex_pattern(rest, pcre=pcre, budget=budget)
                if isinstance(second, str):
                    issues.append(TableIssue(number, f"{label} {ref.name}, line {number}: {second}"))
                    continue
                second_pattern, rest = second
            value: str | None = rest.strip(_SPACE)
            if not value:
                issues.append(TableIssue(number, f"{label} {ref.name}, line {number}: no replacement text: using empty string"))
            if value is not None and _SUBSTITUTION.search(value):
                value = None
            elif value is not None:
                value = value.replace("$$", "$")
            rules.append(RegexpRule("match", first_pattern, second_pattern, value, number))
        elif line[:2].lower() == "if" and not (len(line) > 2 and line[2].isalnum()):
            parsed = _parse_regex_pattern(line[2:], pcre=pcre, budget=budget)
            if isinstance(parsed, str):
                issues.append(TableIssue(number, f"{label} {ref.name}, line {number}: {parsed}"))
                continue
            if_stack.append(len(rules))
            rules.append(RegexpRule("if", parsed[0], None, None, number))
        elif line[:5].lower() == "endif" and not (len(line) > 5 and line[5].isalnum()):
            if not if_stack:
                issues.append(TableIssue(number, f"{label} {ref.name}, line {number}: ignoring ENDIF without matching IF"))
                continue
            opened = if_stack.pop()
            opening = rules[opened]
            rules[opened] = RegexpRule(opening.op, opening.first, None, None, opening.line, block_end=len(rules))
            rules.append(RegexpRule("endif", None, None, None, number))
        else:
            issues.append(TableIssue(number, f"{label} {ref.name}, line {number}: ignoring unrecognized request"))
    table = RegexpTable(ref, rules, path)
    table.kind = ref.type
    table.issues.extend(issues)
    # What was refused at load: the rest is assessed when a lookup reaches it.
    unsupported = [rule.line for rule in rules if rule.first is not None and rule.first.translated is None]
    if unsupported:
        table.caveats.append(
            f"patterns on lines {', '.join(map(str, unsupported[:10]))} use syntax pfcheck does "
            f"not evaluate: lookups reaching them are unknown"
        )
    return table


def _cut_regexp_table(rules: list[RegexpRule], if_stack: list[int], line: int) -> None:
    """End a table whose patterns exceed MAX_TABLE_PATTERN_CHARACTERS at its last rule (whose
    pattern is refused already): lookups that get that far are unknown, so the rest is not
    parsed (a 64 MiB table is some million rules). Open IF blocks end there too, so that a
    lookup skipping one lands on the unknown, never past it."""
    reason = rules[-1].first.refusal if rules and rules[-1].first is not None else None
    terminal = RegexpPattern("...", False, None, 0)
    terminal.refuse(reason or f"the table's patterns exceed the {MAX_TABLE_PATTERN_CHARACTERS:,} "
                              f"characters pfcheck compiles")
    rules.append(RegexpRule("match", terminal, None, None, rules[-1].line if rules else line))
    for opened in if_stack:
        opening = rules[opened]
        rules[opened] = RegexpRule(opening.op, opening.first, None, None, opening.line, block_end=len(rules) - 2)
    if_stack.clear()
