"""Tables and access-table results as the evaluator sees them (smtpd_check.c, maps_find()).

`Tables` adapts pfcheck.postfix.tables to the evaluator: one lookup answers "found", "not
found", "failed" (Postfix's dict error, read as the access action 451) or "cannot tell" (the
contents are not in the repository). The lookup keys smtpd builds for a domain, a client
address and a mail address are here too, and which access actions can grant.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

from pfcheck.postfix.relay.syntax import valid_hostaddr
from pfcheck.postfix.relay.model import Location, TableResolverLike
from pfcheck.postfix.source import read_bounded

if TYPE_CHECKING:  # annotations only
    from pfcheck.postfix.resolve import Answer


# ----------------------------------------------------------------------------------------
# Lookups through pfcheck.postfix.tables


@dataclass(frozen=True)
class Lookup:
    """One table lookup: value (None = not found) when known; known False = cannot tell."""

    value: Optional[str]
    known: bool
    location: Optional[Location] = None
    detail: str = ""


@dataclass(frozen=True)
class Entry:
    """One (key, value) of an enumerable table, with its line."""

    key: str
    value: str
    location: Optional[Location]


# Indexed or database tables: lists of specific keys (no patterns, no catch-all by design
# except single-label keys). Pattern tables (regexp, pcre, cidr, static ...) can match anything.
# (The evaluator's own list: pfcheck.postfix.tables has POSTMAP_TYPES and FIXED_TYPES.)
KEYED_TABLE_TYPES = frozenset({
    "hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "texthash", "ldap", "mysql", "pgsql",
    "sqlite", "nis", "nisplus", "netinfo", "memcache", "internal", "unix", "environ",
})
#: smtpd's reply to a configuration it cannot use (a bad restriction, a failed lookup ...).
SERVER_CONFIGURATION_ERROR = "451 4.3.5 Server configuration error"
#: What a failed lookup reads as: the access action that gives that reply (DICT_ERR).
LOOKUP_FAILURE = SERVER_CONFIGURATION_ERROR


_REGEX_META = set("[]{}()*+?|\\^$")
# Table kinds (tables.RegexpTable.kind) whose rules are regular expressions.
PATTERN_TABLE_KINDS = frozenset({"regexp", "pcre"})


def lookup_failed(result: Answer) -> bool:
    """Tables.lookup()'s way of saying the lookup failed (Postfix: dict error)."""
    return result.value == LOOKUP_FAILURE and bool(result.detail)


def regex_example(pattern: str) -> Optional[str]:
    """A string that a simple regular expression matches: anchors, `.*`/`.+` at the ends,
    one-level `(a|b)` groups (first branch) and escaped punctuation; None otherwise. An
    unescaped `.` matches itself, so it is kept."""
    text = pattern
    if text.startswith("^"):
        text = text[1:]
    if text.endswith("$") and not text.endswith("\\$"):
        text = text[:-1]
    for affix in (".*", ".+"):
        if text.startswith(affix):
            text = text[len(affix):]
        if text.endswith(affix) and not text.endswith("\\" + affix):
            text = text[: -len(affix)]
    # Each branch excludes `|`: one way to split `(a|b|c)`, linear time on any pattern text
    # (with `|` allowed in the later branches, `(a||||...\.)` took exponential time).
    text = re.sub(r"\(([^()|\\]*)(?:\|[^()|\\]*)*\)", r"\1", text)
    example = re.sub(r"\\([^A-Za-z0-9])", r"\1", text)
    # What is left must be literal: no metacharacters outside the unescaped ones.
    bare = re.sub(r"\\[^A-Za-z0-9]", "", text)
    if any(char in _REGEX_META for char in bare) or not example:
        return None
    return example


def table_type(token: str) -> str:
    """The dictionary type of a `type:name` token ("" for none), through `proxy:`."""
    kind = token.split(":", 1)[0].strip("{ ").lower() if ":" in token else ""
    if kind == "proxy":
        return table_type(token.split(":", 1)[1])
    return kind


class Tables:
    """Adapter over pfcheck.postfix.tables (static:/inline: need no repository).

    It reads the tables' results by attribute (`known`, `error`, `note`, `line`, ...) and
    imports the module when first built: the evaluator needs no more of it than that."""

    def __init__(self, resolver: Optional[TableResolverLike]) -> None:
        from pfcheck.postfix import tables as tables_module

        self._module = tables_module
        self._resolver = resolver
        self._cache: Dict[str, Any] = {}
        # Asked once per scenario branch; a table may hold 100,000 patterns.
        self._unconstructible: Dict[str, List[Tuple[Optional[Location], str, str]]] = {}
        self._entries: Dict[str, Optional[List[Entry]]] = {}

    def table(self, token: str) -> Any:
        """The tables.Table a `type:name` token names (None when it names none), loaded once."""
        if token in self._cache:
            return self._cache[token]
        ref = self._module.parse_table_ref(token)
        table = None
        if ref is not None:
            table = self._resolver.load(ref) if self._resolver is not None else self._module.load_table(ref, None)
        self._cache[token] = table
        return table

    def _where(self, table: Any, line: Optional[int]) -> Optional[Location]:
        source = getattr(table, "source", None)
        if source is None or line is None:
            return None
        return str(source), int(line)

    def lookup(self, token: str, key: str, partial: bool = False) -> Lookup:
        """dict_get() as maps_find() does it: partial keys only for DICT_FLAG_FIXED tables;
        a lookup error reads as the access action "451 4.3.5 Server configuration error"."""
        table = self.table(token)
        if table is None:
            return Lookup(LOOKUP_FAILURE, True, None, f"{token} is not a table")
        if partial and not getattr(table, "fixed", False):
            return Lookup(None, True)
        result = table.lookup(key)
        where = self._where(table, getattr(result, "line", None))
        if getattr(result, "error", None):
            return Lookup(LOOKUP_FAILURE, True, where, str(result.error))
        if not getattr(result, "known", True):
            detail = getattr(result, "note", "") or getattr(table, "reason", "") or f"contents of {token} are not known"
            return Lookup(None, False, where, detail)
        return Lookup(result.value, True, where)

    def entries(self, token: str) -> Optional[List[Entry]]:
        """The (key, value) pairs of a keyed or cidr table, None when not enumerable (the same
        list every time: callers only read it)."""
        if token not in self._entries:
            self._entries[token] = self._enumerate(token)
        return self._entries[token]

    def _enumerate(self, token: str) -> Optional[List[Entry]]:
        table = self.table(token)
        if table is None or not getattr(table, "known", False):
            return None
        keyed = getattr(table, "entries", None)
        if isinstance(keyed, dict):
            return [Entry(entry.key, entry.value, self._where(table, entry.line)) for entry in keyed.values()]
        rules = getattr(table, "rules", None)
        if rules is not None and getattr(table, "kind", "") == "cidr":
            result: List[Entry] = []
            for rule in rules:
                if rule.op == "match" and rule.pattern is not None and rule.match:
                    result.append(Entry(rule.pattern.text(), rule.value, self._where(table, rule.line)))
            return result
        if rules is not None and getattr(table, "kind", "") in PATTERN_TABLE_KINDS:
            # Not enumerable: a literal example of each simple pattern stands in for its keys
            # (the evaluation looks it up for real, so a wrong example costs nothing).
            examples: List[Entry] = []
            for rule in rules:
                if rule.op == "match" and rule.first is not None and rule.first.match:
                    example = regex_example(rule.first.text)
                    if example is not None:
                        examples.append(Entry(example, rule.value or "", self._where(table, rule.line)))
            return examples
        return None

    def unconstructible(self, token: str) -> List[Tuple[Optional[Location], str, str]]:
        """Permitting regexp/pcre rules for which pfcheck cannot write a matching key:
        (location, pattern, value)."""
        if token in self._unconstructible:
            return self._unconstructible[token]
        table = self.table(token)
        rules = getattr(table, "rules", None)
        if rules is None or getattr(table, "kind", "") not in PATTERN_TABLE_KINDS:
            return []
        result: List[Tuple[Optional[Location], str, str]] = []
        self._unconstructible[token] = result
        for rule in rules:
            if rule.op != "match" or rule.first is None or not rule.first.match:
                continue
            value = rule.value if rule.value is not None else "OK"
            if regex_example(rule.first.text) is None and may_permit(value):
                result.append((self._where(table, rule.line), rule.first.text, value))
        return result

    def is_keyed(self, token: str) -> bool:
        """Whether the token's table type holds specific keys only (KEYED_TABLE_TYPES)."""
        return table_type(token) in KEYED_TABLE_TYPES

    def read_file(self, name: str) -> Optional[str]:
        """A `/file/name` list file from the repository (None when it is not there)."""
        source_path = getattr(self._resolver, "source_path", None)
        if source_path is None:
            return None
        path = source_path(name)
        if path is None:
            return None
        try:
            return read_bounded(path).decode("utf-8", "surrogateescape")
        except OSError:  # FileTooLarge included: unknown, as an unreadable file is
            return None

# ----------------------------------------------------------------------------------------
# Access-table actions


NON_PERMITTING_ACTIONS = frozenset({
    "DUNNO", "REJECT", "DEFER", "DEFER_IF_PERMIT", "DEFER_IF_REJECT", "HANGUP", "DISCARD",
    "INFO", "WARN", "FILTER", "HOLD", "REDIRECT", "BCC", "PREPEND",
})


def may_permit(value: str) -> bool:
    """Whether an access-table action can grant (OK, all-numeric, permit..., a class)."""
    command = value.strip().split(" ", 1)[0].upper()
    if command in NON_PERMITTING_ACTIONS:
        return False
    if len(command) == 3 and command[0] in "45" and command.isdigit() and " " in value.strip():
        return False
    if command in ("REJECT_UNAUTH_DESTINATION", "DEFER_UNAUTH_DESTINATION", "DEFER"):
        return False
    return True


# ----------------------------------------------------------------------------------------
# Lookup keys, in the order smtpd tries them (domain_keys and addr_keys are the evaluator's
# copies of tables.domain_lookup_keys and tables.address_lookup_keys; see docs/internals.md)


def _parent_domains(domain: str, parent_style: bool) -> Iterator[str]:
    """The parent domains smtpd tries after `domain` (lower case): `example.com` then `com`
    (parent style), or `.example.com` then `.com`."""
    current = domain
    while True:
        position = current.find(".", 1)
        if position < 0:
            return
        current = current[position + 1:] if parent_style else current[position:]
        if not current:
            return
        yield current


def domain_keys(name: str, parent_style: bool) -> List[Tuple[str, bool]]:
    """check_domain_access() lookups: (the name, FULL), then parent domains (PARTIAL)."""
    keys = [(name.lower(), False)]
    if valid_hostaddr(name):
        return keys  # "Don't apply subdomain magic to numerical hostnames."
    keys += [(parent, True) for parent in _parent_domains(name.lower(), parent_style)]
    return keys


def addr_keys(address: str) -> List[Tuple[str, bool]]:
    """check_addr_access() lookups: the address (FULL), then prefixes cut at . or : (PARTIAL)."""
    delimiter = ":" if ":" in address else "."
    keys = [(address, False)]
    current = address
    while delimiter in current:
        current = current[: current.rindex(delimiter)]
        if not current:
            break
        keys.append((current, True))
    return keys


def mail_keys(address: str, parent_style: bool) -> List[Tuple[str, bool]]:
    """mail_addr_find_strategy() lookups: user@domain (FULL), domain, parents, user@ (PARTIAL)."""
    local, at, domain = address.rpartition("@")
    if not at:
        return [(address.lower(), False)]
    keys = [(address.lower(), False), (domain.lower(), True)]
    keys += [(parent, True) for parent in _parent_domains(domain.lower(), parent_style)]
    keys.append((local.lower() + "@", True))
    return keys
