"""Every dictionary type Postfix 3.7 knows, what kind of table each is, and `type:name`
references.

One registry for every reader: `load_table()` dispatches on `TableType.kind`, table objects
take `fixed` from it, the policy's `assume:` checks names against `KNOWN_TYPES`, and the relay
evaluator asks `exact_keys` whether an unseen table can hold a key nobody configured. A new
table type is one entry here (plus its loader when pfcheck can read its contents).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

# Kinds of table, by how pfcheck can learn their contents.
#: hash, btree, lmdb, cdb, dbm, sdbm: indexed files that postmap(1) builds from a text source.
POSTMAP = "postmap"
#: texthash: the postmap source format, read by the daemons themselves.
TEXTHASH = "texthash"
#: inline:{ key=value ... }: the entries are in the parameter value.
INLINE = "inline"
#: static:value: every key is found, with that value.
STATIC = "static"
#: cidr: ordered network/mask rules, first match wins.
CIDR = "cidr"
#: regexp, pcre: ordered regular-expression rules, first match wins.
REGEXP = "regexp"
#: fail: every lookup fails.
FAIL = "fail"
#: proxy: the table named after it, read through proxymap(8).
PROXY = "proxy"
#: Contents outside the repository: databases, servers, the process, other tables.
UNVERIFIABLE = "unverifiable"

#: Kinds whose contents pfcheck reads from a file in the repository.
FILE_KINDS = frozenset({POSTMAP, TEXTHASH, CIDR, REGEXP})


@dataclass(frozen=True)
class TableType:
    """One dictionary type.

    `fixed`: its lookups carry DICT_FLAG_FIXED, so smtpd access checks also look up partial
    keys (parent domains, shorter networks) and match lists try parent domains. `exact_keys`:
    a lookup finds only keys stored as such (no patterns, no catch-all), so a key nobody wrote
    into the table is absent even when pfcheck cannot read it. `contents`: for UNVERIFIABLE
    types, where the contents live (said in "contents unknown" notes).
    """

    name: str
    kind: str
    fixed: bool = False
    exact_keys: bool = False
    contents: str = ""

    @property
    def reads_file(self) -> bool:
        return self.kind in FILE_KINDS


def _unverifiable(name: str, contents: str, *, exact_keys: bool) -> TableType:
    return TableType(name, UNVERIFIABLE, exact_keys=exact_keys, contents=contents)


_ENTRIES = (
    *(TableType(name, POSTMAP, fixed=True, exact_keys=True)
      for name in ("hash", "btree", "lmdb", "cdb", "dbm", "sdbm")),
    TableType("texthash", TEXTHASH, fixed=True, exact_keys=True),
    TableType("inline", INLINE, fixed=True, exact_keys=True),
    TableType("static", STATIC, fixed=True),
    TableType("cidr", CIDR),
    TableType("regexp", REGEXP),
    TableType("pcre", REGEXP),
    TableType("fail", FAIL),
    TableType("proxy", PROXY),
    # Keyed stores whose keys pfcheck cannot see.
    _unverifiable("mysql", "SQL database", exact_keys=True),
    _unverifiable("pgsql", "SQL database", exact_keys=True),
    _unverifiable("sqlite", "SQL database", exact_keys=True),
    _unverifiable("ldap", "LDAP directory", exact_keys=True),
    _unverifiable("memcache", "memcache server", exact_keys=True),
    _unverifiable("nis", "NIS map", exact_keys=True),
    _unverifiable("nisplus", "NIS+ map", exact_keys=True),
    _unverifiable("netinfo", "NetInfo database", exact_keys=True),
    _unverifiable("environ", "process environment", exact_keys=True),
    _unverifiable("unix", "UNIX passwd/group file", exact_keys=True),
    _unverifiable("internal", "in-memory table", exact_keys=True),
    # Servers and compositions that may answer any key.
    _unverifiable("tcp", "TCP lookup server", exact_keys=False),
    _unverifiable("socketmap", "socketmap server", exact_keys=False),
    _unverifiable("randmap", "random choice for every key", exact_keys=False),
    _unverifiable("pipemap", "pipeline of tables", exact_keys=False),
    _unverifiable("unionmap", "union of tables", exact_keys=False),
)

#: Type name -> TableType, for every type Postfix 3.7 knows (built in or as a dynamicmaps.cf
#: plugin). Anything else is "unsupported dictionary type": a surrogate table whose lookups fail.
TABLE_TYPES: Mapping[str, TableType] = {entry.name: entry for entry in _ENTRIES}

#: The names of TABLE_TYPES.
KNOWN_TYPES = frozenset(TABLE_TYPES)
#: Indexed maps built by postmap(1) from a text source file next to the database.
POSTMAP_TYPES = frozenset(name for name, entry in TABLE_TYPES.items() if entry.kind == POSTMAP)
#: Types whose lookup flags include DICT_FLAG_FIXED: they get partial (parent domain, shorter
#: network) lookups in smtpd access checks and parent-domain lookups in match lists.
FIXED_TYPES = frozenset(name for name, entry in TABLE_TYPES.items() if entry.fixed)


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


def table_type_of(token: str) -> TableType | None:
    """The type of the table a `type:name` token reads, through `proxy:` to the table it
    names; None for a token that is no table reference or whose type Postfix does not know
    (its lookups fail)."""
    ref = parse_table_ref(token)
    while ref is not None:
        entry = TABLE_TYPES.get(ref.type)
        if entry is None or entry.kind != PROXY:
            return entry
        ref = parse_table_ref(ref.name)
    return None
