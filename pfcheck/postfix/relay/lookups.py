"""Tables and access-table results as the evaluator sees them (smtpd_check.c, maps_find()).

`Tables` adapts pfcheck.postfix.tables to the evaluator: one lookup answers "found", "not
found", "failed" (Postfix's dict error, read as the access action 451) or "cannot tell" (the
contents are not in the repository). The lookup keys smtpd builds for a domain, a client
address and a mail address are here too, and which access actions can grant.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from pfcheck.postfix.relay.model import Location, TableResolverLike
from pfcheck.postfix.source import read_bounded
from pfcheck.postfix.tables import (
    CidrTable,
    KeyedTable,
    RegexpTable,
    Table,
    UnknownTable,
    load_table,
    parse_table_ref,
    parent_domains,
    table_type_of,
)

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


#: smtpd's reply to a configuration it cannot use (a bad restriction, a failed lookup ...).
SERVER_CONFIGURATION_ERROR = "451 4.3.5 Server configuration error"
#: What a failed lookup reads as: the access action that gives that reply (DICT_ERR).
LOOKUP_FAILURE = SERVER_CONFIGURATION_ERROR


_REGEX_META = set("[]{}()*+?|\\^$")


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


class Tables:
    """pfcheck.postfix.tables as the evaluator asks it (static:/inline: need no repository):
    one lookup answers found, not found, failed or cannot tell, and tables are loaded once."""

    def __init__(self, resolver: Optional[TableResolverLike]) -> None:
        self._resolver = resolver
        self._cache: Dict[str, Optional[Table]] = {}
        # Asked once per scenario branch; a table may hold 100,000 patterns.
        self._unconstructible: Dict[str, List[Tuple[Optional[Location], str, str]]] = {}
        self._entries: Dict[str, Optional[List[Entry]]] = {}

    def table(self, token: str) -> Optional[Table]:
        """The Table a `type:name` token names (None when it names none), loaded once."""
        if token in self._cache:
            return self._cache[token]
        ref = parse_table_ref(token)
        table = None
        if ref is not None:
            table = self._resolver.load(ref) if self._resolver is not None else load_table(ref, None)
        self._cache[token] = table
        return table

    @staticmethod
    def _where(table: Table, line: Optional[int]) -> Optional[Location]:
        if table.source is None or line is None:
            return None
        return str(table.source), line

    def lookup(self, token: str, key: str, partial: bool = False) -> Lookup:
        """dict_get() as maps_find() does it: partial keys only for DICT_FLAG_FIXED tables;
        a lookup error reads as the access action "451 4.3.5 Server configuration error"."""
        table = self.table(token)
        if table is None:
            return Lookup(LOOKUP_FAILURE, True, None, f"{token} is not a table")
        if partial and not table.fixed:
            return Lookup(None, True)
        result = table.lookup(key)
        where = self._where(table, result.line)
        if result.error:
            return Lookup(LOOKUP_FAILURE, True, where, result.error)
        if not result.known:
            reason = table.reason if isinstance(table, UnknownTable) else ""
            return Lookup(None, False, where, result.note or reason or f"contents of {token} are not known")
        return Lookup(result.value, True, where)

    def entries(self, token: str) -> Optional[List[Entry]]:
        """The (key, value) pairs of a keyed or cidr table, None when not enumerable (the same
        list every time: callers only read it)."""
        if token not in self._entries:
            self._entries[token] = self._enumerate(token)
        return self._entries[token]

    def _enumerate(self, token: str) -> Optional[List[Entry]]:
        table = self.table(token)
        if table is None or not table.known:
            return None
        if isinstance(table, KeyedTable):
            return [Entry(entry.key, entry.value, self._where(table, entry.line)) for entry in table.entries.values()]
        if isinstance(table, CidrTable):
            return [Entry(rule.pattern.text(), rule.value, self._where(table, rule.line)) for rule in table.rules
                    if rule.op == "match" and rule.pattern is not None and rule.match]
        if isinstance(table, RegexpTable):
            # Not enumerable: a literal example of each simple pattern stands in for its keys
            # (the evaluation looks it up for real, so a wrong example costs nothing).
            examples: List[Entry] = []
            for rule in table.rules:
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
        if not isinstance(table, RegexpTable):
            return []
        result: List[Tuple[Optional[Location], str, str]] = []
        self._unconstructible[token] = result
        for rule in table.rules:
            if rule.op != "match" or rule.first is None or not rule.first.match:
                continue
            value = rule.value if rule.value is not None else "OK"
            if regex_example(rule.first.text) is None and may_permit(value):
                result.append((self._where(table, rule.line), rule.first.text, value))
        return result

    def is_keyed(self, token: str) -> bool:
        """Whether the token's table type holds specific keys only (TableType.exact_keys:
        indexed files and databases; no patterns, no catch-all but single-label keys)."""
        table_type = table_type_of(token)
        return table_type is not None and table_type.exact_keys

    def read_file(self, name: str) -> Optional[str]:
        """A `/file/name` list file from the repository (None when it is not there)."""
        path = self._resolver.source_path(name) if self._resolver is not None else None
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
# Lookup keys, in the order smtpd tries them (domains and client addresses:
# tables.domain_lookup_keys() and tables.address_lookup_keys())


def mail_keys(address: str, parent_style: bool) -> List[Tuple[str, bool]]:
    """mail_addr_find_strategy() lookups: user@domain (FULL), domain, parents, user@ (PARTIAL)."""
    local, at, domain = address.rpartition("@")
    if not at:
        return [(address.lower(), False)]
    keys = [(address.lower(), False), (domain.lower(), True)]
    keys += [(parent, True) for parent in parent_domains(domain.lower(), parent_style=parent_style)]
    keys.append((local.lower() + "@", True))
    return keys
