"""Exact-key tables: hash-type maps read from their postmap source, texthash and inline."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pfcheck.postfix.addresses import (
    FAMILY_BITS, IPV4, IPV6, CidrPattern, IntervalSet, format_address, hostname_pattern_can_match,
    parse_cidr_pattern, parse_ipv4, parse_ipv6, split_list,
)
from pfcheck.postfix.tables.base import FailingTable, Table
from pfcheck.postfix.tables.registry import TableRef
from pfcheck.postfix.tables.results import (
    NOT_FOUND, AddressResult, ClientAddressResults, HostnameEntry, LookupResult, Membership,
    TableIssue, everything_result, first_match_results,
)
from pfcheck.postfix.tables.source_text import balpar, extpar_strip, logical_lines, split_key_value, split_qnameval


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
            return ClientAddressResults((everything_result(None, error=self._duplicate_error),),
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

            def entry_result(priority: int, v4: IntervalSet, v6: IntervalSet) -> AddressResult:
                # Called before the next family's loop rebinds `labels`.
                entry, exact = labels[priority & ((1 << 40) - 1)]
                return AddressResult(v4, v6, entry.value, entry.line, entry.key, exact)

            by_address.extend(first_match_results(family, entries, entry_result))
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
                for hextet in prefix_groups:
                    value = (value << 16) | hextet
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
    for hextet in leading:
        value = (value << 16) | hextet
    prefixlen = 16 * len(leading)
    return [(value << (128 - prefixlen), prefixlen, False)]


def load_inline(ref: TableRef) -> Table:
    name = ref.name
    length = balpar(name)
    syntax_error = f'bad syntax: "inline:{name}"; need "inline:{{name=value...}}"'
    if length == 0 or length != len(name) or length == 2:
        return FailingTable(ref, syntax_error)
    entries: list[KeyedEntry] = []
    error: str | None = None
    for token, _ in split_list(name[1:-1]):
        if token.startswith("{"):
            token, error = extpar_strip(token)
            if error:
                break
        parsed = split_qnameval(token)
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


def load_keyed(ref: TableRef, text: str, path: Path) -> Table:
    lines, issues = logical_lines(text)
    texthash = ref.type == "texthash"
    entries: list[KeyedEntry] = []
    seen: dict[str, int] = {}
    seen_unfolded: dict[str, int] = {}
    duplicate_error: str | None = None
    duplicate_error_unfolded: str | None = None
    for number, line in lines:
        parsed = split_key_value(line)
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
