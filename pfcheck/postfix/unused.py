"""postconf's "unused parameter" check: which main.cf names and master.cf `-o` names no Postfix
program of the target version reads.

Restated from postconf (3.7.11 unless noted; src/postconf/):

* postconf.c main(): builtin names are registered first (postconf_builtin.c: every built-in,
  the legacy names of `pcf_legacy_str_table`, the read-only process_name/service_name/
  process_id), then per-service names from master.cf (postconf_service.c), then user-defined
  names (postconf_user.c); the warnings come last (postconf_unused.c).
* Per-service names (pcf_register_service_parameters): for every master.cf entry whose command
  field is exactly local, error, virtual, smtp, lmtp, pipe or spawn, `<service name><suffix>`
  (pfcheck.postfix.defaults has the suffix table per version).
* User-defined names (pcf_register_user_parameters), in this order:
  1. each master.cf entry's namespace holds its `-o name=value` (postconf -P view, last wins;
     entries with the same service/type share one namespace); each namespace is scanned: its
     `smtpd_restriction_classes` (own `-o` only) names are validated, every `-o` value except
     those of raw and read-only parameters is scanned for `$name` references (both branches of
     `?`/`:`, not recursively), and the values of built-in or per-service parameters are
     expanded and searched for `ldap:name`-style tables (postconf_dbms.c);
  2. the defaults of every known parameter not set in main.cf are scanned for `$name`;
  3. main.cf is scanned the same way (restriction classes expanded with main.cf only).
  A `$name` (or class name, or DBMS candidate `<table>_<suffix>`) found in a master.cf
  namespace validates that namespace's `-o name` if it has one, else main.cf's `name`; found in
  main.cf (or a default) it validates main.cf's `name` and every namespace's `-o name`.
* A main.cf name is unused unless known; a `-o` name unless known or validated locally.

Version differences: 2.10 - 2.11 search the values of all parameters for DBMS tables (3.0+
only built-in and per-service ones); 3.8+ do not look inside inline `{...}` regexp/pcre
tables; 3.9+ report removed names as "support for parameter X has been removed; instead, ...".
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from pfcheck.postfix import _unused_data as _data
from pfcheck.postfix import defaults
from pfcheck.postfix.expand import ExpansionError, expand, references
from pfcheck.postfix.lines import CHARS_COMMA_SP, split_braced
from pfcheck.postfix.mastercf import extract_braced

if TYPE_CHECKING:
    from pfcheck.postfix.config import ConfigDir
    from pfcheck.postfix.mastercf import Override, Service

_REGEX_TYPES = frozenset({"regexp", "pcre"})


@dataclass(frozen=True, slots=True)
class UnusedParameter:
    """One name postconf warns about; positioned at the main.cf name or the `-o` value."""

    name: str
    value: str
    file: str  # "main.cf" | "master.cf" | a database client configuration "ldap:/etc/postfix/x.cf"
    path: Path
    line: int
    column: int
    service: Optional[str] = None
    #: 3.9+: the alternative postconf names for a removed parameter (different warning text)
    removed_alternative: Optional[str] = None

    def postconf_warning(self) -> str:
        """postconf's text after `<config_directory>/<file>: `."""
        if self.removed_alternative is not None:
            return f"support for parameter {self.name} has been removed; instead, {self.removed_alternative}"
        return f"unused parameter: {self.name}={self.value}"


def _grouped(data: Dict[str, object], series: str) -> object:
    for members, value in data.items():
        if series in members.split():
            return value
    return {}


def dbms_suffixes(version: str) -> Dict[str, Tuple[str, ...]]:
    """`<type>` -> the suffixes of `<table>_<suffix>` names postconf accepts for `<type>:<table>`."""
    table = _grouped(_data.DBMS_SUFFIXES, defaults.series_of(version))
    assert isinstance(table, dict)
    return {name: tuple(text.split()) for name, text in table.items()}


def removed_parameters(version: str) -> Dict[str, str]:
    """3.9+: removed names -> the alternative postconf suggests."""
    table = _grouped(_data.DEPRECATED, defaults.series_of(version))
    assert isinstance(table, dict)
    return table


def _default_references(version: str) -> Dict[str, FrozenSet[str]]:
    """`$name` -> built-in parameters whose default refers to it (raw parameters skipped)."""
    cache = _DEFAULT_REFS.get(version)
    if cache is None:
        raw = defaults.raw_parameters(version)
        found: Dict[str, Set[str]] = {}
        for name, value in defaults.builtin_defaults(version).items():
            if name in raw or "$" not in value:
                continue
            for ref in references(value):
                found.setdefault(ref, set()).add(name)
        cache = {ref: frozenset(names) for ref, names in found.items()}
        _DEFAULT_REFS[version] = cache
    return cache


_DEFAULT_REFS: Dict[str, Dict[str, FrozenSet[str]]] = {}


# Plain classes, not dataclasses: this module is imported on every lint run.
class _Namespace:
    """A master.cf entry's `-o` namespace (shared by entries with the same service/type)."""

    __slots__ = ("key", "params")

    def __init__(self, key: str) -> None:
        self.key = key
        self.params: Dict[str, "Override"] = {}  # name -> its last `-o`


class _Entry:
    """A master.cf entry that has a namespace, with the names validated locally."""

    __slots__ = ("service", "namespace", "valid")

    def __init__(self, service: "Service", namespace: _Namespace) -> None:
        self.service = service
        self.namespace = namespace
        self.valid: Set[str] = set()


class _Analysis:
    def __init__(self, config: "ConfigDir") -> None:
        self.config = config
        self.version = config.version
        self.main = config.main.params
        entries = config.master.entries
        self.services = [(service.name, service.command) for service in entries]
        self.raw = defaults.raw_parameters(self.version)
        self.read_only = defaults.read_only_parameters(self.version)
        self.key = defaults.parse_version(self.version)
        namespaces: Dict[str, _Namespace] = {}
        self.entries: List[_Entry] = []
        for service in entries:
            namespace = namespaces.get(service.key)
            for override in service.postconf_overrides:
                if namespace is None:
                    namespace = namespaces[service.key] = _Namespace(service.key)
                namespace.params.pop(override.name, None)
                namespace.params[override.name] = override
            # An entry without `-o` has no namespace unless an earlier entry with the same
            # service/type created it (dict_handle() of the shared name): then it is scanned
            # and flagged too, and postconf repeats that entry's warnings.
            if namespace is not None:
                self.entries.append(_Entry(service, namespace))
        #: user-defined main.cf names validated so far (pcf_param_table additions)
        self.validated: Set[str] = set()
        #: `type:/absolute/path` database client configurations met, in order (postconf
        #: checks each file once: pcf_check_dbms_client())
        self.client_files: Dict[str, Tuple[str, str]] = {}
        self.unused: List[UnusedParameter] = []
        self._known_cache: Dict[str, bool] = {}

    # -- the global table ------------------------------------------------------------------
    def known(self, name: str) -> bool:
        """Built-in, legacy, read-only or per-service (PCF_PARAM_TABLE_LOCATE before user names)."""
        # Not memoised: one cheap lookup per call, and a cache of every main.cf name would
        # grow with the file (a million names in a generated one).
        return defaults.is_known_parameter(name, self.version, services=self.services)

    def builtin_or_service(self, name: str) -> bool:
        return self.known(name) and name not in defaults.legacy_names(self.version)

    # -- pcf_flag_user_parameter -----------------------------------------------------------
    def flag(self, name: str, entry: Optional[_Entry]) -> None:
        if entry is not None and name in entry.namespace.params:
            entry.valid.add(name)
        elif name in self.main:
            self.validated.add(name)
        if entry is None:
            for other in self.entries:
                if name in other.namespace.params:
                    other.valid.add(name)

    # -- pcf_scan_user_parameter_namespace -------------------------------------------------
    def scan_namespace(self, values: Dict[str, str], entry: Optional[_Entry],
                       lookup: Callable[[str], Optional[str]]) -> None:
        classes = values.get("smtpd_restriction_classes")
        if classes is not None:
            try:
                text = expand(classes, values.get)
            except ExpansionError:
                text = ""
            for name in _split(text):
                self.flag(name, entry)
        for name, value in values.items():
            if name in self.read_only:
                continue
            if name in self.raw:
                continue
            for ref in references(value):
                self.flag(ref, entry)
            if self.key < (3, 0) or self.builtin_or_service(name):
                try:
                    expanded = expand(value, lookup)
                except ExpansionError:
                    continue  # postconf dies here ("macro processing error"); PF000 says so
                self.dbms(expanded, entry, recurse=True)

    def dbms(self, text: str, entry: Optional[_Entry], recurse: bool, depth: int = 0) -> None:
        """pcf_register_dbms_helper(): `type:name` tokens, `proxy:` skipped, `{...}` entered
        (down to MAX_BRACE_DEPTH levels: each level rescans the rest of the text, and a value
        of a million `{` would take hours and overflow the stack; real values nest 2 or 3)."""
        if depth > MAX_BRACE_DEPTH:
            return
        suffixes = dbms_suffixes(self.version)
        # 2.10 - 2.11 split on blanks and commas only (mystrtok); 3.0+ keep `{...}` together.
        tokens = _split(text) if self.key < (3, 0) else (token for token, _ in split_braced(text, CHARS_COMMA_SP))
        for token in tokens:
            if token.startswith("{"):
                # 3.5+ enter a `{...}` token (3.8+ not inside an inline regexp/pcre table);
                # before, its type is "{type" and matches no DBMS.
                if self.key >= (3, 5) and recurse:
                    inner, _error = extract_braced(token)
                    self.dbms(inner, entry, recurse, depth + 1)
                continue
            db_type, sep, prefix = token.partition(":")
            while sep and db_type == "proxy":
                db_type, sep, prefix = prefix.partition(":")
            if sep and prefix.startswith("/") and db_type in suffixes:
                self.client_files.setdefault(f"{db_type}:{prefix}", (db_type, prefix))
                continue
            if not sep or prefix.startswith("/") or prefix.startswith("."):
                continue
            if prefix.startswith("{") and self.key >= (3, 0):
                inner, _error = extract_braced(prefix)
                next_recurse = recurse and not (self.key >= (3, 8) and db_type in _REGEX_TYPES)
                self.dbms(inner, entry, next_recurse, depth + 1)
                continue
            for suffix in suffixes.get(db_type, ()):
                self.flag(f"{prefix}_{suffix}", entry)

    def lookup_for(self, entry: Optional[_Entry]) -> Callable[[str], Optional[str]]:
        """pcf_lookup_parameter_value(): `-o`, main.cf, then the default (user names: "")."""
        def lookup(name: str) -> Optional[str]:
            if entry is not None:
                # The entry's read-only namespace (pcf_parse_master_entry()).
                if name == "process_name":
                    return entry.service.process_name
                if name == "service_name":
                    return entry.service.name
                override = entry.namespace.params.get(name)
                if override is not None:
                    return override.value
            definition = self.main.get(name)
            if definition is not None:
                return definition.value
            if name == "config_directory":
                # Where the files are installed (as pfcheck.postfix.config assumes), so that
                # `ldap:$config_directory/x.cf` names a file the repository can hold.
                return self.config.host_facts.get(name, "/etc/postfix")
            value = defaults.default_value(name, self.version, services=self.services,
                                           host=self.config.host_facts or None)
            if value is None and name in self.validated:
                return ""
            return value
        return lookup

    def run(self) -> List[UnusedParameter]:
        for entry in self.entries:
            values = {name: o.value for name, o in entry.namespace.params.items()}
            self.scan_namespace(values, entry, self.lookup_for(entry))
        # Defaults of parameters main.cf leaves unset; legacy and per-service defaults name only
        # built-in parameters, so the built-in table's references are all that matter.
        for ref, owners in _default_references(self.version).items():
            if any(owner not in self.main for owner in owners):
                self.flag(ref, None)
        main_values = {name: d.value for name, d in self.main.items()}
        self.scan_namespace(main_values, None, self.lookup_for(None))
        return self.report()

    def report(self) -> List[UnusedParameter]:
        removed = removed_parameters(self.version)
        found: List[UnusedParameter] = []
        for name, definition in self.main.items():
            if self.known(name) or name in self.validated:
                continue
            found.append(UnusedParameter(name, definition.value, "main.cf", definition.path,
                                         definition.line, definition.column,
                                         removed_alternative=removed.get(name)))
        for entry in self.entries:
            for name, override in entry.namespace.params.items():
                if name in self.read_only or self.known(name) or name in self.validated or name in entry.valid:
                    continue
                found.append(UnusedParameter(
                    name, override.value, "master.cf", override.path, override.line, override.column,
                    service=entry.service.key, removed_alternative=removed.get(name)))
        return found


def _split(text: str) -> Iterable[str]:
    for part in text.replace(",", " ").split():
        if part:
            yield part


#: `{...}` levels the DBMS-client scan enters (see _Analysis.dbms).
MAX_BRACE_DEPTH = 10

#: main.cf definitions above which the analysis is not run (`too_many_names`). Real configs have
#: tens to hundreds; the analysis keeps every name and value of the file, which for a
#: generated file of a million names costs more than 10x the file in memory.
MAX_ANALYSED_DEFINITIONS = 20_000


def too_many_names(config: "ConfigDir") -> Optional[int]:
    """The number of main.cf definitions when it is above MAX_ANALYSED_DEFINITIONS, else None."""
    if not config.main_source.checkable:
        return None
    count = len(config.main.definitions)
    return count if count > MAX_ANALYSED_DEFINITIONS else None


def _analysis(config: "ConfigDir") -> Optional[_Analysis]:
    cached = getattr(config, "_pfcheck_unused_analysis", False)
    if cached is False:
        master = config.master_source
        readable = config.main_source.checkable and (master is None or master.checkable)
        readable = readable and too_many_names(config) is None
        cached = None
        if readable:
            cached = _Analysis(config)
            cached.unused = cached.run()
        setattr(config, "_pfcheck_unused_analysis", cached)
    return cached  # type: ignore[return-value]


def dbms_client_unused(config: "ConfigDir", locate: Callable[[str], Optional[Path]]) -> List[UnusedParameter]:
    """pcf_check_dbms_client(): in each `ldap:/path`, `mysql:/path`, ... client configuration
    that a built-in or per-service value names, the settings that are not options of that
    client (`ldap:/etc/postfix/users.cf: unused parameter: NAME=VALUE`). `locate` maps the
    server path to the repository file (None: not in the repository, nothing to say)."""
    from pfcheck.postfix.maincf import parse_main_cf
    from pfcheck.postfix.source import read_source

    analysis = _analysis(config)
    if analysis is None:
        return []
    suffixes = dbms_suffixes(config.version)
    found: List[UnusedParameter] = []
    for spec, (db_type, server_path) in analysis.client_files.items():
        path = locate(server_path)
        if path is None:
            continue
        source = read_source(path)
        if source.unreadable is not None:
            continue  # (a `%s` in query_filter is no template: postconf reads the file as is)
        # dict_load_fp(): the same reader as main.cf, last definition wins.
        for name, definition in parse_main_cf(source).params.items():
            if name not in suffixes[db_type]:
                found.append(UnusedParameter(name, definition.value, spec, path, definition.line, definition.column))
    return found


def unused_parameters(config: "ConfigDir") -> List[UnusedParameter]:
    """postconf's unused-parameter warnings for this config at its target version, in
    postconf's order (main.cf first, then master.cf entries in file order). Empty when
    main.cf or master.cf is a template or unreadable (PF900): master.cf's services and `-o`
    references decide which main.cf names are used, so nothing can be said then."""
    analysis = _analysis(config)
    return [] if analysis is None else analysis.unused


def unused_names(config: "ConfigDir") -> FrozenSet[str]:
    """main.cf names postconf calls unused (what `postconf -n` leaves out)."""
    return frozenset(item.name for item in unused_parameters(config) if item.file == "main.cf")
