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

The package, each module importing only those listed before it:

* `registry`: every dictionary type and its kind (`TABLE_TYPES`), `TableRef`.
* `results`: what a lookup answers (`LookupResult`, `Membership`, `ClientAddressResults`).
* `keys`: the lookup keys of smtpd's access checks (`domain_lookup_keys()`,
  `address_lookup_keys()`).
* `base`: the `Table` interface, `UnknownTable`, `FailingTable`, `StaticTable`.
* `source_text`: the text formats (readllines(), postmap source lines, `name = value`, `{...}`).
* `keyed`, `cidr`, `regexp`: one table family each, with its loader.
* `loading`: `TableResolver` (server paths to repository files) and `load_table()`.

Import from the package (`from pfcheck.postfix.tables import load_table`): the names below are
its interface; the module a name lives in may change.
"""
from __future__ import annotations

from pfcheck.postfix.tables.base import FailingTable, StaticTable, Table, UnknownTable
from pfcheck.postfix.tables.cidr import CidrRule, CidrTable, load_cidr
from pfcheck.postfix.tables.keyed import KeyedEntry, KeyedTable, load_inline, load_keyed
from pfcheck.postfix.tables.keys import LookupKey, address_lookup_keys, domain_lookup_keys, parent_domains
from pfcheck.postfix.tables.loading import SourceLocation, TableResolver, load_table
from pfcheck.postfix.tables.regexp import RegexpRule, RegexpTable, load_regexp, translate_regex
from pfcheck.postfix.tables.registry import (
    CIDR,
    FAIL,
    FIXED_TYPES,
    INLINE,
    KNOWN_TYPES,
    POSTMAP,
    POSTMAP_TYPES,
    PROXY,
    REGEXP,
    STATIC,
    TABLE_TYPES,
    TEXTHASH,
    UNVERIFIABLE,
    TableRef,
    TableType,
    parse_table_ref,
    table_type_of,
)
from pfcheck.postfix.tables.results import (
    NOT_FOUND,
    AddressResult,
    ClientAddressResults,
    HostnameEntry,
    LookupResult,
    Membership,
    TableIssue,
)
from pfcheck.postfix.tables.source_text import logical_lines

__all__ = [
    "AddressResult", "CIDR", "CidrRule", "CidrTable", "ClientAddressResults", "FAIL", "FIXED_TYPES",
    "FailingTable", "HostnameEntry", "INLINE", "KNOWN_TYPES", "KeyedEntry", "KeyedTable", "LookupKey",
    "LookupResult", "Membership", "NOT_FOUND", "POSTMAP", "POSTMAP_TYPES", "PROXY", "REGEXP",
    "RegexpRule", "RegexpTable", "STATIC", "SourceLocation", "StaticTable", "TABLE_TYPES", "TEXTHASH",
    "Table", "TableIssue", "TableRef", "TableResolver", "TableType", "UNVERIFIABLE", "UnknownTable",
    "address_lookup_keys", "domain_lookup_keys", "load_cidr", "load_inline", "load_keyed",
    "load_regexp", "load_table", "logical_lines", "parent_domains", "parse_table_ref", "table_type_of", "translate_regex",
]
