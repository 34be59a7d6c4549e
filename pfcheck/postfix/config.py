"""The effective configuration of a config directory, per listener, as the daemons compute it.

For each smtpd-like master.cf service the daemon reads main.cf, stores every `-o name=value`
raw (last wins), fills in built-in defaults for parameters still unset (defaults that depend on
`compatibility_level` see that service's own level), and only then expands `$name`. So a
main.cf value `$x` sees a service's `-o x=...`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Callable, Mapping, Optional, Protocol

from pfcheck.postfix import defaults
from pfcheck.postfix.expand import ExpansionError, expand
from pfcheck.postfix.issues import ConfigIssue
from pfcheck.postfix.lines import split_comma_space
from pfcheck.postfix.listening import Binding, service_binding
from pfcheck.postfix.maincf import MainCf, parse_main_cf
from pfcheck.postfix.mastercf import MasterCf, Service, parse_master_cf
from pfcheck.postfix.source import SourceText, decode, read_source
from pfcheck.repository import may_exist

SMTPD_COMMANDS = frozenset({"smtpd"})
POSTSCREEN_COMMANDS = frozenset({"postscreen"})

#: Parameters the `effective` view always shows, whether set or not.
ALWAYS_SHOWN = (
    "compatibility_level", "disable_vrfy_command", "inet_interfaces", "mynetworks",
    "mynetworks_style", "relay_domains", "smtpd_banner", "smtpd_client_restrictions",
    "smtpd_helo_restrictions", "smtpd_recipient_restrictions", "smtpd_relay_restrictions",
    "smtpd_sender_restrictions",
)


#: Where the checked files are installed: `$config_directory/x` names a file next to main.cf,
#: and the table resolver maps this prefix into the repository.
INSTALLED_CONFIG_DIRECTORY = "/etc/postfix"


class _HasValues(Protocol):
    def value(self, name: str) -> str: ...


def config_directory_of(params: _HasValues) -> str:
    """Where the checked files are installed: `config_directory` of a Scope (which derives
    INSTALLED_CONFIG_DIRECTORY), INSTALLED_CONFIG_DIRECTORY when the value is empty (params
    other than a Scope may leave it out)."""
    return params.value("config_directory").strip() or INSTALLED_CONFIG_DIRECTORY

_UNKNOWN = object()
#: Raw values a Scope keeps for lookups, at most.
_MAIN_VALUE_CACHE = 4096
#: Scope.evaluate() keeps Values whose raw value is at least this long.
KEEP_EVALUATED_CHARS = 4096

#: A name an expansion may look up: every one is written right after `$`, `${` or `$(` (and
#: CHARS_SPACE), in the value or in a relational operand or `?`/`:` text inside it.
_REFERENCE = re.compile(r"\$[{(]?[ \t\r\n]*([A-Za-z0-9_]+)")

#: Postfix's DEF_MYDOMAIN, used when the host name has no dot.
DEFAULT_DOMAIN = "localdomain"


@dataclass(frozen=True)
class Origin:
    """Where a value comes from: a main.cf line, a master.cf `-o`, or Postfix's default."""

    kind: str  # "main.cf" | "master.cf" | "default"
    path: Optional[Path] = None
    line: int = 0
    column: int = 0

    @property
    def is_default(self) -> bool:
        return self.kind == "default"

    def label(self) -> str:
        return "default" if self.is_default else f"{self.kind}:{self.line}"


DEFAULT_ORIGIN = Origin("default")


@dataclass(frozen=True)
class Value:
    """A parameter's effective value in one scope. `error` is set when expansion is fatal."""

    name: str
    raw: str
    expanded: str
    origin: Origin
    error: Optional[ExpansionError] = None


class Scope:
    """A parameter namespace: main.cf alone (service None) or main.cf + one service's `-o`.

    A service scope answers most names with the main.cf scope's Value: the two differ only where
    an expansion meets one of the service's `-o` names. To know that without expanding twice,
    every expansion records the names it looks up (directly, or through the derived defaults of
    myhostname/mydomain); the main.cf scope keeps those that some service overrides.
    """

    def __init__(self, config: "ConfigDir", service: Optional[Service] = None) -> None:
        self.config = config
        self.service = service
        self._overrides = service.override_map() if service is not None else {}
        self._cache: dict[str, Value] = {}
        #: Parameters only Postfix sets (raw() ignores main.cf for them); one lookup per scope.
        self._read_only = _read_only_parameters(config.version)
        #: One set per expansion in progress: the names it has looked up so far.
        self._recording: list[set[str]] = []
        #: name -> the overridden-somewhere names its value depends on (main.cf scope only).
        self._touches: dict[str, frozenset[str]] = {}
        #: overridden-somewhere name -> names whose value depends on it (main.cf scope only).
        self._touched_by: dict[str, set[str]] = {}
        #: Whether every main.cf value with a `$` was expanded here (so _touched_by is whole).
        self._dependencies_complete = False
        #: Raw main.cf values lookups asked for (myhostname, ... again and again).
        self._main_values: dict[str, Optional[str]] = {}
        #: Names whose dependencies _remember() has seen (main.cf scope only).
        self._recorded: set[str] = set()

    @property
    def label(self) -> str:
        return self.service.key if self.service is not None else "main.cf"

    def raw(self, name: str) -> Optional[tuple[str, Origin]]:
        if self._recording:
            self._recording[-1].add(name)
        read_only = name in self._read_only
        override = self._overrides.get(name)
        # A daemon sets process_name before it applies `-o` (which can still change it), and
        # service_name and process_id after (master/*_server.c); main.cf never sets them
        # (postconf: "read-only parameter assignment").
        if override is not None and (not read_only or name == "process_name"):
            return override.value, Origin("master.cf", override.path, override.line, override.column)
        if read_only:
            return self._read_only_value(name)
        definition = self.config.main.get(name)
        if definition is not None:
            return definition.value, Origin("main.cf", definition.path, definition.value_line, definition.value_column)
        derived = self._derived_default(name)
        if derived is not None:
            return derived, DEFAULT_ORIGIN
        fact = self.config.host_facts.get(name)
        if fact is not None:
            return fact, DEFAULT_ORIGIN
        value = defaults.default_value(name, self.config.version)
        if value is None:
            return None
        return value, DEFAULT_ORIGIN

    def _read_only_value(self, name: str) -> Optional[tuple[str, Origin]]:
        """What Postfix itself puts in a read-only parameter: the program and service names of
        this scope's master.cf service; otherwise (and always for process_id) unknown."""
        if self.service is not None and name == "process_name":
            return self.service.process_name, DEFAULT_ORIGIN
        if self.service is not None and name == "service_name":
            return self.service.name, DEFAULT_ORIGIN
        value = defaults.default_value(name, self.config.version)
        return None if value is None else (value, DEFAULT_ORIGIN)

    def _derived_default(self, name: str) -> Optional[str]:
        """myhostname/mydomain defaults (mail_params.c check_myhostname(), check_mydomainname());
        config_directory is where the files are installed, which table paths are mapped from."""
        if name == "config_directory" and name not in self.config.host_facts:
            return INSTALLED_CONFIG_DIRECTORY
        if name == "myhostname":
            return self._default_myhostname()
        if name == "mydomain":
            hostname = self.daemon_hostname()
            if hostname is None:
                return None
            # check_mydomainname(): what follows the first dot of var_myhostname.
            return hostname.partition(".")[2] if "." in hostname else DEFAULT_DOMAIN
        return None

    def _is_assigned(self, name: str) -> bool:
        """Whether main.cf or this service's `-o` puts `name` in Postfix's parameter dictionary."""
        if self._recording:
            self._recording[-1].add(name)  # whether a service sets it matters
        return name in self._overrides or self.config.main.get(name) is not None

    def _lookup_unassigned(self, missing: str) -> Callable[[str], Optional[str]]:
        """The dictionary as mail_params_init() sees it before it stores `missing`'s default:
        `$missing` is undefined (empty), everything else is looked up as usual."""
        def lookup(name: str) -> Optional[str]:
            if name == missing:
                if self._recording:
                    self._recording[-1].add(name)
                return None
            return self._lookup(name)
        return lookup

    def _default_myhostname(self) -> Optional[str]:
        """check_myhostname(): the host name, or `host.$mydomain` for an undotted one, where
        $mydomain is main.cf's value (expanded while myhostname is still undefined) or
        localdomain. None while the host name is unknown (the placeholder stands for it)."""
        hostname = self.config.host_facts.get("hostname")
        if hostname is None:
            return None
        if "." in hostname:
            return hostname
        domain = DEFAULT_DOMAIN
        if self._is_assigned("mydomain"):
            raw = self._lookup("mydomain") or ""
            try:
                domain = expand(raw, self._lookup_unassigned("myhostname"), name="mydomain")
            except ExpansionError:
                domain = ""  # the daemon dies on mydomain's expansion (reported there)
        return f"{hostname}.{domain}"

    def daemon_hostname(self) -> Optional[str]:
        """var_myhostname as mail_params_init() computes it: a set myhostname is expanded
        before mydomain's default exists (so an unset `$mydomain` is empty there, and later
        `$myhostname` references see the default). None: unknown (host name not given) or
        the expansion fails (reported on myhostname)."""
        cached = self.__dict__.get("_daemon_hostname")
        if cached is None:
            self._recording.append(set())
            try:
                cached = (self._compute_daemon_hostname(), frozenset(self._recording[-1]))
            finally:
                self._recording.pop()
            self.__dict__["_daemon_hostname"] = cached
        result, looked_up = cached
        if self._recording:
            self._recording[-1].update(looked_up)  # what it depends on, for every caller
        return result

    def _compute_daemon_hostname(self) -> Optional[str]:
        if not self._is_assigned("myhostname"):
            return self._default_myhostname()
        raw = self._lookup("myhostname") or ""
        if "$" not in raw:
            return raw
        lookup = self._lookup if self._is_assigned("mydomain") else self._lookup_unassigned("mydomain")
        try:
            return expand(raw, lookup, name="myhostname")
        except ExpansionError:
            return None

    def _lookup(self, name: str) -> Optional[str]:
        """raw(name)'s value without building an Origin: expansion calls this per `$name`."""
        if name in self._overrides or name in self._read_only:
            value = None  # raw() decides (an -o, or what Postfix itself puts in a read-only name)
        else:
            value = self._main_values.get(name, _UNKNOWN)
            if value is _UNKNOWN:
                value = self.config.main.value(name)
                if len(self._main_values) >= _MAIN_VALUE_CACHE:
                    self._main_values.clear()  # bounded: names looked up once need no place
                self._main_values[name] = value
        if value is not None:
            if self._recording:
                self._recording[-1].add(name)
            return value
        found = self.raw(name)
        return None if found is None else found[0]

    def get(self, name: str) -> Value:
        cached = self._cache.get(name)
        if cached is None:
            cached = self._inherited(name)
            if cached is None:
                cached = self._evaluate(name)
            self._cache[name] = cached
        if self._recording:
            # A nested get (a derived default): its dependencies are the caller's too.
            self._recording[-1].add(name)
            self._recording[-1].update(self._dependencies(name))
        return cached

    def evaluate(self, name: str) -> Value:
        """get(name) without keeping the Value: for passes over every parameter, where a
        cache of a million Values would be most of the memory."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        inherited = self._inherited(name, cache=False)
        if inherited is not None:
            return inherited
        value = self._evaluate(name)
        if len(value.raw) >= KEEP_EVALUATED_CHARS:
            self._cache[name] = value  # few (the file is bounded), and costly to expand again
        return value

    def expands_cleanly(self, name: str) -> bool:
        """Whether get(name) would have no expansion error, without building its Value (a pass
        over a million values needs only this for most of them). Dependencies are recorded as
        get() records them."""
        cached = self._cache.get(name)
        if cached is not None or self.service is not None:
            return (cached or self.get(name)).error is None
        self._recording.append(set())
        try:
            raw = self._lookup(name)
            if raw is None or "$" not in raw or name in _raw_parameters(self.config.version):
                return True
            if len(raw) >= KEEP_EVALUATED_CHARS:
                return self.evaluate(name).error is None  # kept: other rules read it too
            try:
                expand(raw, self._lookup, name=name)
            except ExpansionError:
                return False
            return True
        finally:
            self._remember(name, self._recording.pop())

    def _inherited(self, name: str, cache: bool = True) -> Optional[Value]:
        """The main.cf scope's Value when no `-o` of this service can change it."""
        if self.service is None or name in self._overrides:
            return None
        main_scope = self.config.global_scope
        value = main_scope.get(name) if cache else main_scope.evaluate(name)
        if self._overrides and not main_scope._dependencies(name).isdisjoint(self._overrides):
            return None
        return value

    def _dependencies(self, name: str) -> frozenset[str]:
        if self.service is None:
            return self._touches.get(name, frozenset())
        return frozenset()

    def _evaluate(self, name: str) -> Value:
        self._recording.append(set())
        try:
            value = self._compute(name)
        finally:
            looked_up = self._recording.pop()
        if self.service is None:
            self._remember(name, looked_up)
        elif self._recording:
            self._recording[-1].update(looked_up)
        return value

    def _remember(self, name: str, looked_up: set[str]) -> None:
        """Keep the dependencies that matter: names that some service overrides."""
        self._recorded.add(name)
        overridden = self.config.overridden_names
        # Nested gets (derived defaults) have added their own lookups to `looked_up` already.
        touched = frozenset(looked_up & overridden) if looked_up and overridden else frozenset()
        if touched:
            self._touches[name] = touched
            for dependency_name in touched:
                self._touched_by.setdefault(dependency_name, set()).add(name)
        if self._recording:
            self._recording[-1].update(looked_up)
            self._recording[-1].update(touched)

    def _compute(self, name: str) -> Value:
        found = self.raw(name)
        raw, origin = found if found is not None else ("", DEFAULT_ORIGIN)
        # Daemons read these without `$` expansion: their `$name` is expanded per message.
        if "$" not in raw or name in _raw_parameters(self.config.version):
            return Value(name, raw, raw, origin)
        try:
            return Value(name, raw, expand(raw, self._lookup, name=name), origin)
        except ExpansionError as error:
            # Kept for the run: without its traceback, which holds the expansion's whole state.
            error.__context__ = None
            return Value(name, raw, "", origin, error.with_traceback(None))

    def differing_names(self) -> set[str]:
        """Names whose Value here may differ from the main.cf scope's: this service's `-o`
        names and the main.cf parameters whose `$` expansion reaches one of them."""
        if self.service is None:
            return set()
        main_scope = self.config.global_scope
        if not main_scope._dependencies_complete:
            may_depend = main_scope._may_reach(self.config.overridden_names)
            for name in self.config.main.names_containing("$"):
                if name in may_depend and name not in main_scope._recorded:
                    main_scope.evaluate(name)
            main_scope._dependencies_complete = True
        result = set(self._overrides)
        for overridden in self._overrides:
            result |= main_scope._touched_by.get(overridden, set())
        return result

    def expanded_by_postfix(self, name: str) -> bool:
        """Whether a Postfix program expands `name`'s own value in this scope: a parameter it
        knows (built-in, per-service, legacy), or a restriction class smtpd reads. No daemon
        ever looks at any other name, so its expansion error kills nothing by itself (it
        kills what references it)."""
        if self.config.is_known(name):
            return True
        classes = self.__dict__.get("_restriction_classes")
        if classes is None:
            value = self.get("smtpd_restriction_classes")
            classes = frozenset(split_comma_space(value.expanded)) if value.error is None else frozenset()
            self.__dict__["_restriction_classes"] = classes
        return name in classes

    def _may_reach(self, targets: frozenset[str]) -> set[str]:
        """main.cf names with a `$` whose expansion may look up one of `targets`: a superset,
        from the names written after `$`, `${`, `$(` in the values (every name an expansion
        looks up is written so), through built-in defaults and the myhostname/mydomain pair.
        Only these need expanding to learn their dependencies: a 10,000-deep `$x` chain that
        reaches no `-o` name costs one scan, not 10,000 expansions."""
        if not targets:
            return set()
        referrers: dict[str, list[str]] = {}
        main = self.config.main
        builtin = defaults.builtin_defaults(self.config.version)
        unset_referenced: set[str] = set()

        def scan(name: str, raw: str) -> None:
            for reference in set(_REFERENCE.findall(raw)):
                referrers.setdefault(reference, []).append(name)
                if reference not in builtin and reference not in unset_referenced and reference not in main:
                    unset_referenced.add(reference)
                    pending.append(reference)

        pending: list[str] = []
        for name in main.names_containing("$"):
            scan(name, main.value(name) or "")
        for name, raw in builtin.items():
            if "$" in raw and name not in main:
                scan(name, raw)
        while pending:  # per-service defaults (`relay_destination_concurrency_limit`, ...)
            name = pending.pop()
            found = self.raw(name)
            if found is not None and "$" in found[0]:
                scan(name, found[0])
        for derived, source in (("myhostname", "mydomain"), ("mydomain", "myhostname")):
            referrers.setdefault(source, []).append(derived)
        reached: set[str] = set()
        queue = list(targets)
        while queue:
            for name in referrers.get(queue.pop(), ()):
                if name not in reached:
                    reached.add(name)
                    queue.append(name)
        return reached

    # The interface the relay evaluator needs (pfcheck.postfix.relay.EffectiveParams).
    def value(self, name: str) -> str:
        return self.get(name).expanded

    def location(self, name: str) -> Optional[tuple[str, int]]:
        origin = self.get(name).origin
        if origin.is_default or origin.path is None:
            return None
        return str(origin.path), origin.line

    def is_set(self, name: str) -> bool:
        return not self.get(name).origin.is_default

    def compatibility_level(self) -> str:
        return self.value("compatibility_level").strip() or "0"


@dataclass
class Listener:
    """An smtpd-like service with its scope and how remote clients can reach it."""

    service: Service
    scope: Scope
    #: inet entries through which remote clients reach this service (itself, or postscreen).
    entry_points: list[Service] = field(default_factory=list)
    remote: bool = False
    binding: str = ""

    @property
    def key(self) -> str:
        return self.service.key


def split_inet_name(name: str) -> tuple[Optional[str], str]:
    """`host:port`, `[v6]:port` or `port` -> (host or None, port)."""
    if name.startswith("[") and "]:" in name:
        host, _, port = name[1:].partition("]:")
        return host, port
    if ":" in name:
        host, _, port = name.rpartition(":")
        return host, port
    return None, name


@dataclass
class ConfigDir:
    """Everything pfcheck knows about one Postfix config directory."""

    directory: Path
    main_source: SourceText
    #: None when the directory has no master.cf: Postfix's package default is assumed.
    master_source: Optional[SourceText]
    version: str = defaults.DEFAULT_VERSION
    host_facts: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.global_scope = Scope(self)
        self._listeners: Optional[list[Listener]] = None

    @property
    def main_path(self) -> Path:
        return self.main_source.path

    @property
    def master_path(self) -> Path:
        return self.master_source.path if self.master_source is not None else self.directory / "master.cf"

    # Parsed on first use: a run whose rules ran in worker processes only needs the sources here.
    @cached_property
    def main(self) -> MainCf:
        source = self.main_source
        main = parse_main_cf(source) if source.checkable else MainCf(source.path)
        main.present = os.path.exists(source.path) or source.text != ""
        return main

    @cached_property
    def master(self) -> MasterCf:
        source = self.master_source
        if source is None:
            master = parse_master_cf(decode(self.master_path, _packaged_master_cf()))
            master.issues = []
            master.present = False
            master.assumed_default = True
        elif source.checkable:
            master = parse_master_cf(source)
        else:
            master = MasterCf(source.path)
        return master

    @cached_property
    def overridden_names(self) -> frozenset[str]:
        """Every name some master.cf service sets with `-o` (what a service scope can change)."""
        return frozenset(o.name for service in self.master.services for o in service.overrides)

    def is_known(self, name: str) -> bool:
        """Whether the target Postfix version knows `name` (with this master.cf's services)."""
        services = self.__dict__.get("_service_pairs")
        if services is None:
            services = self.__dict__["_service_pairs"] = tuple(
                (service.name, service.command) for service in self.master.entries)
        return defaults.is_known_parameter(name, self.version, services=services)

    @property
    def issues(self) -> list[ConfigIssue]:
        return [*self.main.issues, *self.master.issues]

    def scope(self, service: Optional[Service]) -> Scope:
        return Scope(self, service)

    def inet_interfaces(self) -> list[str]:
        # master reads inet_interfaces from main.cf only; `-o` cannot change it.
        value = self.global_scope.value("inet_interfaces")
        return [item for item in value.replace(",", " ").split() if item]

    def binding(self, service: Service) -> Binding:
        """What master binds for an inet service (pfcheck.postfix.listening), once per service."""
        bindings: dict[str, Binding] = self.__dict__.setdefault("_bindings", {})
        found = bindings.get(service.name)
        if found is None:
            found = bindings[service.name] = service_binding(
                service.name, self.global_scope.value("inet_interfaces"),
                self.global_scope.value("inet_protocols"))
        return found

    def listens_remotely(self, service: Service) -> tuple[bool, str]:
        """Whether an inet service accepts connections from other hosts, and its binding."""
        binding = self.binding(service)
        host, port = split_inet_name(service.name)
        if host is not None:
            return binding.remote, service.name
        interfaces = self.inet_interfaces()
        if not interfaces or any(item.lower() == "all" for item in interfaces):
            return binding.remote, f"all interfaces, port {port}"
        return binding.remote, f"inet_interfaces = {', '.join(interfaces)}, port {port}"

    def listeners(self) -> list[Listener]:
        """smtpd services (and postscreen front ends), each with how it is reached."""
        if self._listeners is not None:
            return self._listeners
        if not self.main_source.checkable:
            # A template or unreadable main.cf: the values Postfix will use are unknown (PF900),
            # so no listener may be judged as if main.cf were empty.
            self._listeners = []
            return self._listeners
        services = self.master.services
        listeners: list[Listener] = []
        smtpd_by_name: dict[str, list[Listener]] = {}
        for service in services:
            if service.process_name in SMTPD_COMMANDS | POSTSCREEN_COMMANDS:
                listener = Listener(service, Scope(self, service))
                listeners.append(listener)
                if service.process_name in SMTPD_COMMANDS:
                    smtpd_by_name.setdefault(service.name, []).append(listener)
        for listener in listeners:
            service = listener.service
            if service.type != "inet":
                continue
            remote, binding = self.listens_remotely(service)
            listener.binding = binding
            if service.process_name in SMTPD_COMMANDS:
                listener.entry_points.append(service)
                listener.remote = listener.remote or remote
            else:
                listener.remote = remote
                target = listener.scope.value("smtpd_service_name") or "smtpd"
                for backend in smtpd_by_name.get(target, []):
                    if backend.service.type == "pass":
                        backend.entry_points.append(service)
                        backend.remote = backend.remote or remote
                        backend.binding = backend.binding or f"via postscreen {service.name}: {binding}"
        self._listeners = listeners
        return listeners


def load_config_dir(
    directory: Path,
    *,
    version: str = defaults.DEFAULT_VERSION,
    host_facts: Optional[Mapping[str, str]] = None,
    main_source: Optional[SourceText] = None,
    master_source: Optional[SourceText] = None,
) -> ConfigDir:
    """Read main.cf and master.cf of a directory (a missing master.cf means Postfix's default)."""
    main_path = directory / "main.cf"
    master_path = directory / "master.cf"
    if main_source is None:
        main_source = read_source(main_path) if may_exist(main_path) else SourceText(main_path)
    if master_source is None and may_exist(master_path):
        master_source = read_source(master_path)
    return ConfigDir(directory, main_source, master_source, version=version, host_facts=dict(host_facts or {}))


@lru_cache(maxsize=None)
def _raw_parameters(version: str) -> frozenset[str]:
    return defaults.raw_parameters(version)


@lru_cache(maxsize=None)
def _read_only_parameters(version: str) -> frozenset[str]:
    return defaults.read_only_parameters(version)


@lru_cache(maxsize=1)
def _packaged_master_cf() -> bytes:
    return Path(__file__).with_name("default_master.cf").read_bytes()
