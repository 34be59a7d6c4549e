"""The policy as pfcheck uses it: constants of the format, `PolicyError`, the rule registry's
view (`RuleSpec`, `OptionSpec`) and the validated `Policy` with its rules, waivers, excludes
and assumptions. Reading and validating YAML is elsewhere (yaml_safe.py, validate.py, load.py).
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

from pfcheck.findings import Severity
from pfcheck.policy.assume import NO_ASSUMPTIONS, Assumptions
from pfcheck.policy.globs import glob_regex
from pfcheck.policy.networks import Network, network_text, parse_policy_network

if TYPE_CHECKING:  # annotations; imported where a date is needed (a waiver with expires:)
    import datetime


# --------------------------------------------------------------------------------------------
# Public constants

#: Names a policy file may have, in order of preference. Both in one directory is an error.
POLICY_FILE_NAMES: tuple[str, ...] = (".pfcheck.yaml", ".pfcheck.yml")

#: The only schema version this pfcheck understands.
SCHEMA_VERSION = 1

#: Postfix version assumed when neither the policy nor the built-in policy says otherwise.
DEFAULT_POSTFIX_VERSION = "3.7"

#: How inline `# pfcheck: ignore[...]` directives are treated.
SUPPRESSION_MODES: tuple[str, ...] = ("allow", "require-reason", "deny")

#: Severity words a rule may be set to; "off" disables the rule.
SEVERITY_WORDS: tuple[str, ...] = ("error", "warning", "info", "off")

#: Thresholds for `fail_on`.
FAIL_ON_WORDS: tuple[str, ...] = ("error", "warning", "info")

#: master.cf service types, for the `name/type` form of a waiver's `service`.
SERVICE_TYPES: tuple[str, ...] = ("inet", "unix", "unix-dgram", "fifo", "pass")

#: A policy is a handful of lines; anything bigger is a mistake or an attack.
MAX_POLICY_BYTES = 1024 * 1024

#: Upper bound on YAML nodes after alias expansion (a realistic policy has a few hundred).
MAX_EXPANDED_NODES = 100_000

#: Deepest `[`/`{` nesting accepted. ruamel.yaml's scanner is quadratic in flow depth (20,000
#: levels take minutes) and its composer recursive, so depth is checked before it runs.
MAX_FLOW_DEPTH = 64

#: Kinds of rule option, as named in a rule's `OPTIONS`.
NETWORKS = "networks"  #: list of Postfix networks, normalised to `a.b.c.d/len` / `[addr]/len`
BOOLEAN = "boolean"  #: true/false (yes/no accepted)
INTEGER = "integer"  #: a YAML integer
STRING = "string"  #: a Postfix value: YAML booleans become yes/no, numbers must be quoted
STRINGS = "strings"  #: list of Postfix values
OPTION_KINDS: tuple[str, ...] = (NETWORKS, BOOLEAN, INTEGER, STRING, STRINGS)

#: What a host is for (`roles:`): rules that depend on a host's purpose read these, and no
#: rule guesses a role the policy does not state.
#: mx: public port 25 for the domains it receives; relay: relays for `mynetworks` clients;
#: submission: authenticated clients on 587/465; send-only: a null client, nothing listens
#: beyond loopback; internal: no listener meant for the Internet.
ROLES: tuple[str, ...] = ("mx", "relay", "submission", "send-only", "internal")

#: Roles that contradict `send-only` when one `roles:` entry names both.
RECEIVING_ROLES: frozenset[str] = frozenset({"mx", "relay", "submission"})



#: Rules a `--select` keeps: what Postfix refuses to start with, and files pfcheck could not
#: read. Without them a selection could pass a config no rule was able to judge.
ALWAYS_SELECTED: frozenset[str] = frozenset({"PF000", "PF900"})


def selected_codes(selectors: Sequence[str], specs: Mapping[str, "RuleSpec"], option: str) -> frozenset[str]:
    """The codes `--select`/`--ignore` name: `ALL`, a code (`PF301`), a code prefix (`PF3`,
    `PF30`) or a rule name (`open-relay`), case-insensitive for codes. A selector that matches
    no rule is a usage error (ValueError), as a typo would otherwise select nothing."""
    codes: set[str] = set()
    for selector in selectors:
        key = selector.strip()
        if not key:
            continue
        matched = {code for code, spec in specs.items()
                   if key.upper() == "ALL" or code.startswith(key.upper()) or spec.name == key.lower()}
        if not matched:
            raise ValueError(f"{option}: '{key}' matches no rule (a code such as PF301, a prefix "
                             f"such as PF3, a name such as open-relay, or ALL)")
        codes |= matched
    return frozenset(codes)


# --------------------------------------------------------------------------------------------
# Errors


class PolicyError(Exception):
    """A policy that cannot be used, located at a 1-based line and column of `path`."""

    def __init__(self, path: Union[str, Path, None], line: int, column: int, message: str) -> None:
        self.path = path
        self.line = max(1, line)
        self.column = max(1, column)
        self.message = message
        super().__init__(str(self))

    @property
    def location(self) -> str:
        where = "<built-in policy>" if self.path is None else str(self.path)
        return f"{where}:{self.line}:{self.column}"

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


# --------------------------------------------------------------------------------------------
# Rule registry view


@dataclass(frozen=True)
class OptionSpec:
    """One option a rule accepts: its kind (one of `OPTION_KINDS`), default and meaning."""

    kind: str
    default: Any
    description: str = ""


@dataclass(frozen=True)
class RuleSpec:
    """What the policy needs to know about a rule: identity, default severity and options."""

    code: str
    name: str
    severity: Severity
    options: Mapping[str, OptionSpec] = field(default_factory=dict)
    summary: str = ""

    @classmethod
    def of(cls, rule: Any) -> "RuleSpec":
        """A `RuleSpec`, a rule module (`ID`, `NAME`, `SEVERITY`, `OPTIONS`) or a look-alike.

        `OPTIONS` values may be `OptionSpec`s or `(kind, default[, description])` tuples, where
        kind is one of `OPTION_KINDS` or the Python type `bool`, `int`, `str` or `list`.
        """
        if isinstance(rule, RuleSpec):
            return rule
        code = getattr(rule, "code", None) or getattr(rule, "ID")
        name = getattr(rule, "name", None) or getattr(rule, "NAME")
        severity = getattr(rule, "severity", None) or getattr(rule, "SEVERITY")
        if isinstance(severity, str):
            severity = Severity.parse(severity)
        raw_options = getattr(rule, "options", None)
        if raw_options is None:
            raw_options = getattr(rule, "OPTIONS", None) or {}
        summary = getattr(rule, "summary", None) or getattr(rule, "SUMMARY", None) or ""
        options = {
            option_name: _option_spec(code, option_name, raw)
            for option_name, raw in dict(raw_options).items()
        }
        return cls(str(code), str(name), Severity(severity), MappingProxyType(options), str(summary))


class NetworkList(tuple):  # type: ignore[type-arg]
    """Type marker for a rule's `OPTIONS`: `{"allowed": (NetworkList, [...])}` declares a list
    of Postfix networks (the same as the kind `NETWORKS`). Options typed `list` are strings."""


_PYTHON_TYPE_KINDS: dict[Any, str] = {
    bool: BOOLEAN, int: INTEGER, str: STRING, list: STRINGS, tuple: STRINGS, NetworkList: NETWORKS,
}


def _option_spec(code: str, option_name: str, raw: Any) -> OptionSpec:
    if isinstance(raw, OptionSpec):
        spec = raw
    else:
        kind, default, *rest = raw
        spec = OptionSpec(_PYTHON_TYPE_KINDS.get(kind, kind), default, str(rest[0]) if rest else "")
    if spec.kind not in OPTION_KINDS:
        raise ValueError(f"rule {code}: option {option_name!r} has unknown kind {spec.kind!r}")
    return spec


def rule_specs(rules: Mapping[str, Any]) -> dict[str, RuleSpec]:
    specs: dict[str, RuleSpec] = {}
    for value in rules.values():
        spec = RuleSpec.of(value)
        specs[spec.code] = spec
    return specs


def default_option_value(spec: RuleSpec, option_name: str) -> Any:
    option = spec.options[option_name]
    try:
        return _normalise_default(option.kind, option.default)
    except ValueError as error:
        raise ValueError(f"rule {spec.code}: default of option {option_name!r}: {error}") from None


def _normalise_default(kind: str, value: Any) -> Any:
    """The in-policy form of a default written in Python (the same forms a YAML policy gives)."""
    if kind == NETWORKS:
        return tuple(
            network_text(parse_policy_network(item) if isinstance(item, str) else _as_network(item))
            for item in value
        )
    if kind == BOOLEAN:
        return bool(value)
    if kind == INTEGER:
        return int(value)
    if kind == STRING:
        return _postfix_word(value)
    return tuple(_postfix_word(item) for item in value)


def _as_network(value: Any) -> Network:
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return value
    raise ValueError(f"not a network: {value!r}")


def _postfix_word(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --------------------------------------------------------------------------------------------
# The validated policy


@dataclass(frozen=True)
class RulePolicy:
    """A rule as the policy configures it: `severity` None means the rule is off."""

    code: str
    name: str
    severity: Optional[Severity]
    options: Mapping[str, Any]
    #: Whether a policy file set this rule's severity (the built-in policy does not count): a
    #: profile turns on only the rules nobody turned off on purpose.
    configured: bool = False

    @property
    def enabled(self) -> bool:
        return self.severity is not None


@dataclass(frozen=True)
class Waiver:
    """A central waiver: findings of `rule` in files matching `path` (a glob relative to the
    policy file's directory) and, when given, for `service` only, are accepted for `reason`
    until `expires` (inclusive). `line`/`column` locate the waiver in `policy_path`."""

    rule: str
    path: str
    reason: str
    service: Optional[str] = None
    expires: Optional[datetime.date] = None
    policy_path: Optional[Path] = None
    line: int = 1
    column: int = 1

    def expired(self, today: Optional[datetime.date] = None) -> bool:
        if self.expires is None:
            return False
        if today is None:
            import datetime

            today = datetime.date.today()
        return today > self.expires

    def matches(self, rule: str, relative_path: str, service: Optional[str] = None) -> bool:
        """Whether this waiver covers a finding (expiry aside). `relative_path` is POSIX,
        relative to the policy file's directory."""
        if rule != self.rule:
            return False
        if self.service is not None and service != self.service:
            return False
        return glob_regex(self.path).fullmatch(relative_path) is not None


@dataclass(frozen=True)
class RoleEntry:
    """One `roles:` entry: config directories matching `glob` (relative to the policy file's
    directory) have `roles`. `line`/`column` locate the entry in the policy file."""

    glob: str
    roles: tuple[str, ...]
    line: int = 1
    column: int = 1

    def matches(self, candidates: list[str]) -> bool:
        pattern = glob_regex(self.glob)
        return any(pattern.fullmatch(candidate) for candidate in candidates)


@dataclass(frozen=True)
class Policy:
    """A validated policy, every rule of the registry resolved to a severity and options.

    `path` is the policy file, or None for the built-in default policy.
    """

    version: int
    postfix_version: str
    fail_on: Severity
    suppressions: str
    rules: Mapping[str, RulePolicy]
    waivers: tuple[Waiver, ...]
    path: Optional[Path]
    source_description: str
    #: Globs (relative to the policy file's directory) of paths that are not configs.
    exclude: tuple[str, ...] = ()
    #: `assume:` entries (pfcheck/policy/assume.py), laid over the base policy's.
    assumptions: Assumptions = NO_ASSUMPTIONS
    #: `roles:` entries, in policy order (a directory gets the union of every match).
    roles: tuple[RoleEntry, ...] = ()
    #: Compliance profiles (pfcheck/compliance.py PROFILES) whose rules this policy turns on
    #: and whose control ids tag findings.
    profiles: tuple[str, ...] = ()

    @property
    def base_dir(self) -> Optional[Path]:
        """The directory waiver paths are relative to (None for the built-in policy)."""
        return None if self.path is None else Path(os.path.abspath(self.path)).parent

    def severity(self, rule: str) -> Optional[Severity]:
        """The effective severity of a rule (code or name), None when the rule is off."""
        return self.rule(rule).severity

    def enabled(self, rule: str) -> bool:
        return self.rule(rule).enabled

    def options(self, rule: str) -> Mapping[str, Any]:
        """The rule's options with every default filled in."""
        return self.rule(rule).options

    def rule(self, rule: str) -> RulePolicy:
        found = self.rules.get(rule) or self.rules.get(rule.upper())
        if found is not None:
            return found
        for candidate in self.rules.values():
            if candidate.name == rule:
                return candidate
        raise KeyError(rule)

    def with_profiles(self, profiles: "tuple[str, ...] | list[str]", specs: Mapping[str, "RuleSpec"]) -> "Policy":
        """This policy with `profiles` added (the policy's own first, each once): every rule a
        control of theirs names is turned on at its default severity, unless a policy file
        set its severity (an explicit `off` stays off)."""
        from pfcheck.compliance import rules_of

        names = tuple(dict.fromkeys((*self.profiles, *profiles)))
        rules = dict(self.rules)
        for code in sorted(rules_of(names)):
            current, spec = rules.get(code), specs.get(code)
            if current is None or spec is None or current.configured or current.enabled:
                continue
            rules[code] = replace(current, severity=spec.severity)
        return replace(self, rules=MappingProxyType(rules), profiles=names)

    def with_selection(self, select: frozenset[str], ignore: frozenset[str],
                       specs: Mapping[str, "RuleSpec"]) -> "Policy":
        """This policy narrowed by `--select`/`--ignore` (codes from `selected_codes()`): with a
        selection, the selected rules run (at the policy's severity, or their default one when
        the policy turns them off) and the others are off, except `ALWAYS_SELECTED`; ignored
        rules are off, whatever else says."""
        rules = dict(self.rules)
        for code, current in self.rules.items():
            if code in ignore:
                rules[code] = replace(current, severity=None)
            elif select and code not in select and code not in ALWAYS_SELECTED:
                rules[code] = replace(current, severity=None)
            elif code in select and not current.enabled and code in specs:
                rules[code] = replace(current, severity=specs[code].severity)
        return replace(self, rules=MappingProxyType(rules))

    def controls_of(self, code: str) -> tuple[str, ...]:
        """The control ids of this policy's profiles that a finding of rule `code` answers."""
        if not self.profiles:
            return ()
        from pfcheck.compliance import controls_of

        return controls_of(code, self.profiles)

    def fails(self, severity: Severity) -> bool:
        """Whether a finding of this severity makes the run fail."""
        return severity >= self.fail_on

    def relative_path(self, path: Union[str, Path]) -> Optional[str]:
        """`path` relative to the policy's directory in POSIX form, None when outside it."""
        base = self.base_dir
        if base is None:
            return None
        relative = os.path.relpath(os.path.abspath(path), base)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep) or os.path.isabs(relative):
            return None
        return Path(relative).as_posix()

    def excludes(self, path: Union[str, Path]) -> bool:
        """Whether `path` (a file or directory) or a directory above it, up to the policy's
        directory, matches an `exclude:` glob."""
        relative = self.relative_path(path) if self.exclude else None
        if relative is None:
            return False
        parts = relative.split("/")
        prefixes = ["/".join(parts[:count]) for count in range(1, len(parts) + 1)]
        return any(glob_regex(glob).fullmatch(prefix) for glob in self.exclude for prefix in prefixes)

    def roles_for(self, directory: Union[str, Path]) -> frozenset[str]:
        """The roles of a config directory: every `roles:` entry whose glob matches the
        directory, a directory above it (up to the policy's directory), or its main.cf or
        master.cf. A single-host repository with the policy beside main.cf writes `"**"` or
        `main.cf`."""
        if not self.roles:
            return frozenset()
        relative = self.relative_path(directory)
        if relative is None:
            return frozenset()
        parts = [] if relative == "." else relative.split("/")
        candidates = ["/".join(parts[:count]) for count in range(1, len(parts) + 1)]
        candidates += ["/".join([*parts, name]) for name in ("main.cf", "master.cf")]
        found: set[str] = set()
        for entry in self.roles:
            if entry.matches(candidates):
                found.update(entry.roles)
        return frozenset(found)

    def find_waiver(
        self,
        rule: str,
        path: Union[str, Path],
        service: Optional[str] = None,
        today: Optional[datetime.date] = None,
    ) -> Optional[Waiver]:
        """The first unexpired waiver that covers a finding of `rule` (a code) in `path`."""
        relative = self.relative_path(path)
        if relative is None:
            return None
        for waiver in self.waivers:
            if waiver.matches(rule, relative, service) and not waiver.expired(today):
                return waiver
        return None

    def expired_waivers(self, today: Optional[datetime.date] = None) -> list[Waiver]:
        """Waivers past their date: each should be reported at its line in the policy."""
        return [waiver for waiver in self.waivers if waiver.expired(today)]

    def as_data(self) -> dict[str, Any]:
        """Plain data (YAML/JSON-ready) describing the resolved policy (for a `show-policy` command)."""
        rules: dict[str, Any] = {}
        for code, rule in sorted(self.rules.items()):
            entry: dict[str, Any] = {"name": rule.name, "severity": str(rule.severity) if rule.severity else "off"}
            if rule.options:
                entry["options"] = {key: _option_data(value) for key, value in rule.options.items()}
            rules[code] = entry
        data: dict[str, Any] = {
            "source": self.source_description,
            "version": self.version,
            "postfix_version": self.postfix_version,
            "fail_on": str(self.fail_on),
            "suppressions": self.suppressions,
            "rules": rules,
        }
        if self.exclude:
            data["exclude"] = list(self.exclude)
        if self.waivers:
            data["waivers"] = [
                {
                    key: value
                    for key, value in (
                        ("rule", waiver.rule),
                        ("path", waiver.path),
                        ("service", waiver.service),
                        ("reason", waiver.reason),
                        ("expires", waiver.expires.isoformat() if waiver.expires else None),
                    )
                    if value is not None
                }
                for waiver in self.waivers
            ]
        if self.assumptions:
            data["assume"] = self.assumptions.as_data()
        if self.profiles:
            data["profiles"] = list(self.profiles)
        if self.roles:
            data["roles"] = {entry.glob: list(entry.roles) for entry in self.roles}
        return data


def _option_data(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
