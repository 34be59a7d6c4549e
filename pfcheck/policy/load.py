"""Reading and validating `.pfcheck.yaml`, the built-in default policy, and policy discovery.

The policy is parsed with ruamel.yaml's round-trip parser and composer (YAML 1.2), and then
validated directly on the composed node graph. Nothing is ever *constructed* from the YAML, so
no tag (`!!python/object:...` or any other) can run code, every node keeps its exact position
for error messages, and an alias used many times costs one node, not one copy per use. The
expanded size of the graph is measured before validation, which turns a "billion laughs" file
into a one-line error instead of a hang.

Every problem is a `PolicyError` carrying a 1-based `path:line:col`; the CLI prints it and
exits 2.
"""
from __future__ import annotations

import datetime
import difflib
import ipaddress
import errno
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, Union

from pfcheck.findings import Severity
from pfcheck.policy.assume import NO_ASSUMPTIONS, Assumptions, parse_assume

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

_FALLBACK_POSTFIX_VERSIONS: tuple[str, ...] = (
    "2.10", "2.11", "3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "3.8", "3.9", "3.10",
)

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


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


def _rule_specs(rules: Mapping[str, Any]) -> dict[str, RuleSpec]:
    specs: dict[str, RuleSpec] = {}
    for value in rules.values():
        spec = RuleSpec.of(value)
        specs[spec.code] = spec
    return specs


def _default_option_value(spec: RuleSpec, option_name: str) -> Any:
    option = spec.options[option_name]
    try:
        return _normalise_default(option.kind, option.default)
    except ValueError as error:
        raise ValueError(f"rule {spec.code}: default of option {option_name!r}: {error}") from None


def _normalise_default(kind: str, value: Any) -> Any:
    """The in-policy form of a default written in Python (the same forms a YAML policy gives)."""
    if kind == NETWORKS:
        return tuple(
            _network_text(_parse_network_or_raise(item) if isinstance(item, str) else _as_network(item))
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
        return (today or datetime.date.today()) > self.expires

    def matches(self, rule: str, relative_path: str, service: Optional[str] = None) -> bool:
        """Whether this waiver covers a finding (expiry aside). `relative_path` is POSIX,
        relative to the policy file's directory."""
        if rule != self.rule:
            return False
        if self.service is not None and service != self.service:
            return False
        return _glob_regex(self.path).fullmatch(relative_path) is not None


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
        return any(_glob_regex(glob).fullmatch(prefix) for glob in self.exclude for prefix in prefixes)

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
        return data


def _option_data(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# --------------------------------------------------------------------------------------------
# Networks in Postfix syntax


def parse_policy_network(text: str) -> Network:
    """Parse one network as Postfix writes it in `mynetworks`: `192.0.2.0/24`, `192.0.2.1`,
    `[2001:db8::]/32`, `[2001:db8::1]`, `[2001:db8::/32]`. Raises ValueError with a message
    fit for a user (host bits set, unbracketed IPv6, hostnames, tables, ...)."""
    return _parse_network_or_raise(text)


_IPV4_DOTTED = re.compile(r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}")


def _parse_network_or_raise(text: str) -> Network:
    item = text.strip()
    if not item:
        raise ValueError("empty network")
    if item.startswith("!"):
        raise ValueError(f'"{item}": exclusions ("!") are not allowed here; list the networks that are allowed')
    if item.startswith("/") or re.match(r"^[A-Za-z][A-Za-z0-9_+-]*:", item):
        raise ValueError(f'"{item}": files and lookup tables are not allowed here; list networks')
    bracketed = item.startswith("[")
    if bracketed:
        close = item.find("]")
        if close < 0:
            raise ValueError(f'"{item}": missing "]" after "["')
        address = item[1:close]
        rest = item[close + 1 :]
        if rest and not rest.startswith("/"):
            raise ValueError(f'"{item}": unexpected text after "]"')
        if "/" in address:
            if rest:
                raise ValueError(f'"{item}": two prefix lengths')
            address, _, length = address.partition("/")
        else:
            length = rest[1:] if rest else ""
    else:
        address, _, length = item.partition("/")
        if ":" in address:
            suggestion = f"[{address}]/{length}" if length else f"[{address}]"
            raise ValueError(
                f'"{item}": IPv6 networks must be written in brackets, as Postfix requires '
                f'(write "{suggestion}"; unbracketed, Postfix reads it as a lookup table)'
            )
    try:
        # ipaddress accepts what inet_pton() (Postfix) refuses: IPv6 scope ids ("%eth0") and,
        # before Python 3.9.5, IPv4 octets with leading zeros.
        if "%" in address or not address.isascii() or (
            "." in address and ":" not in address and not _IPV4_DOTTED.fullmatch(address)
        ):
            raise ValueError(address)
        host = ipaddress.ip_address(address)
    except ValueError:
        if not bracketed and re.fullmatch(r"[A-Za-z0-9.-]+", address) and not re.fullmatch(r"[0-9.]+", address):
            raise ValueError(f'"{item}": host and domain names are not allowed here; list networks') from None
        raise ValueError(f'"{item}": not an IPv4 or IPv6 address') from None
    if "/" in item and not length:
        raise ValueError(f'"{item}": missing prefix length after "/"')
    bits = host.max_prefixlen
    if length:
        if not (length.isascii() and length.isdigit()):
            raise ValueError(f'"{item}": bad prefix length "{length}"')
        prefix = int(length)
        if prefix > bits:
            raise ValueError(f'"{item}": prefix length {prefix} is longer than {bits}')
    else:
        prefix = bits
    network = ipaddress.ip_network(f"{host}/{prefix}", strict=False)
    if network.network_address != host:
        # Postfix itself refuses this pattern at match time ("non-null host address bits").
        raise ValueError(
            f'"{item}": host bits are set; did you mean "{_network_text(network)}"?'
        )
    return network


def _network_text(network: Network) -> str:
    """A network in Postfix syntax, prefix always written, IPv6 in brackets: the form option
    values take (and `pfcheck.postfix.networks` reads)."""
    if network.version == 6:
        return f"[{network.network_address}]/{network.prefixlen}"
    return str(network)


def network_allowed(
    network: Union[str, Network], allowed: Iterable[Union[str, Network]], allow_single_addresses: bool = False
) -> bool:
    """Whether `network` lies inside the union of `allowed` (PF201's test), or is a single
    address (/32, /128) while `allow_single_addresses` is on. Strings are in Postfix syntax."""
    network = _parse_network_or_raise(network) if isinstance(network, str) else network
    if allow_single_addresses and network.prefixlen == network.max_prefixlen:
        return True
    parsed = [_parse_network_or_raise(item) if isinstance(item, str) else item for item in allowed]
    same_family = [candidate for candidate in parsed if candidate.version == network.version]
    # After collapsing, a CIDR block covered by the union lies inside one collapsed block.
    return any(network.subnet_of(block) for block in ipaddress.collapse_addresses(same_family))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Globs for waiver paths


_GLOB_CACHE: dict[str, "re.Pattern[str]"] = {}


def _glob_regex(pattern: str) -> "re.Pattern[str]":
    """`*` and `?` stay inside one path component, `**` spans components, `[...]` is a class."""
    cached = _GLOB_CACHE.get(pattern)
    if cached is not None:
        return cached
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out.append("(?:[^/]*/)*")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif char == "*":
            out.append("[^/]*")
            index += 1
        elif char == "?":
            out.append("[^/]")
            index += 1
        elif char == "[":
            close = pattern.find("]", index + 2 if pattern.startswith(("[!", "[^"), index) else index + 1)
            if close < 0:
                out.append(re.escape(char))
                index += 1
            else:
                body = pattern[index + 1 : close]
                if body.startswith(("!", "^")):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                index = close + 1
        else:
            out.append(re.escape(char))
            index += 1
    compiled = re.compile("".join(out))
    _GLOB_CACHE[pattern] = compiled
    return compiled


# --------------------------------------------------------------------------------------------
# Supported Postfix versions


def supported_postfix_versions() -> tuple[str, ...]:
    """The `postfix_version` values pfcheck has defaults for, as "major.minor" strings."""
    try:
        from pfcheck.postfix import defaults  # written alongside; optional until it exists
    except ImportError:
        return _FALLBACK_POSTFIX_VERSIONS
    versions = getattr(defaults, "SUPPORTED_VERSIONS", None)
    if not versions:
        return _FALLBACK_POSTFIX_VERSIONS
    out: list[str] = []
    for version in versions:
        if isinstance(version, (tuple, list)):
            out.append(".".join(str(part) for part in version[:2]))
        else:
            out.append(".".join(str(version).split(".")[:2]))
    return tuple(dict.fromkeys(out))


def _check_postfix_version(text: str) -> Optional[str]:
    """None when supported, else the error message."""
    supported = supported_postfix_versions()
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if match is None or f"{int(match.group(1))}.{int(match.group(2))}" not in supported:
        return f'unsupported postfix_version "{text}" (supported: {", ".join(supported)})'
    return None


# --------------------------------------------------------------------------------------------
# YAML: reading bytes, composing nodes, measuring expansion


_TAG_PREFIX = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG_PREFIX + name for name in ("str", "int", "float", "bool", "null"))
_TIMESTAMP, _MAP, _SEQ, _MERGE = (_TAG_PREFIX + name for name in ("timestamp", "map", "seq", "merge"))
_ALLOWED_TAGS = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP, _MAP, _SEQ, _MERGE})


def _tag(node: Any) -> str:
    tag = node.tag
    return tag if isinstance(tag, str) else str(getattr(tag, "value", tag))


def _tag_display(tag: str) -> str:
    return "!!" + tag[len(_TAG_PREFIX) :] if tag.startswith(_TAG_PREFIX) else tag


def _line_column(node: Any) -> tuple[int, int]:
    mark = node.start_mark
    return mark.line + 1, mark.column + 1


def _decode(data: bytes, where: Union[str, Path, None]) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise PolicyError(where, 1, 1, "policy file is UTF-16 text; save it as UTF-8")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        line, column = _byte_position(data, nul)
        raise PolicyError(where, line, column, "policy file is binary (NUL byte), not YAML text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _byte_position(data, error.start)
        raise PolicyError(
            where, line, column, f"policy file is not UTF-8 text (byte 0x{data[error.start]:02x})"
        ) from None


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return line, column


def _text_position(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _check_flow_depth(text: str, where: Union[str, Path, None]) -> None:
    """Reject flow collections nested deeper than `MAX_FLOW_DEPTH`, in linear time."""
    too_deep = _flow_depth_over(text, MAX_FLOW_DEPTH)
    if too_deep is not None:
        line, column = too_deep
        raise PolicyError(where, line, column, f"YAML nested deeper than {MAX_FLOW_DEPTH} levels")


def _flow_depth_over(text: str, limit: int) -> Optional[tuple[int, int]]:
    """Where `[`/`{` nesting first exceeds `limit` (1-based line, column), or None.

    An approximation of YAML's lexical rules that never under-counts and over-counts only in
    exotic plain scalars: quoted scalars and comments are skipped, and outside flow context a
    bracket counts only where a value can start (line start, or after ": ", "- ", "? ").
    """
    depth = 0
    line, line_start = 1, 0
    last = ""  # last non-blank character on this line ("" at line start)
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char == "\n":
            line, line_start, last = line + 1, index + 1, ""
            index += 1
            continue
        if char in " \t":
            index += 1
            continue
        blank_before = index == line_start or text[index - 1] in " \t"
        if char == "#" and blank_before:
            newline = text.find("\n", index)
            index = length if newline < 0 else newline
            continue
        at_token_start = (
            last == ""
            or last in "[{,"
            or (last in ":-?" and blank_before)
            or (depth > 0 and last == ":")
        )
        if char in "'\"" and at_token_start:
            index = _skip_quoted(text, index)
            last = char
            continue
        if char in "[{" and (depth > 0 or at_token_start):
            depth += 1
            if depth > limit:
                return line, index - line_start + 1
        elif char in "]}" and depth > 0:
            depth -= 1
        elif depth == 0 and not at_token_start and char != ":":
            # Inside a block-context plain scalar (a key or a value): brackets there are text.
            # Skip to whichever comes first: the line's end, a comment, or a ": " after a key.
            newline = text.find("\n", index)
            newline = length if newline < 0 else newline
            stops = [newline]
            for marker in (" #", ": ", ":\t"):
                found = text.find(marker, index, newline)
                if found >= 0:
                    stops.append(found + 1 if marker[0] == ":" else found)
            if text.endswith(":", index, newline):
                stops.append(newline - 1)
            stop = min(stops)
            index = stop if stop > index else index + 1
            last = "x"
            continue
        last = char
        index += 1
    return None


def _skip_quoted(text: str, start: int) -> int:
    """Index just past the quoted scalar opening at `start` (or the end of the text)."""
    quote = text[start]
    index = start + 1
    while index < len(text):
        char = text[index]
        if quote == '"' and char == "\\":
            index += 2
            continue
        if char == quote:
            if quote == "'" and text.startswith("''", index):
                index += 2
                continue
            return index + 1
        index += 1
    return index


def _compose(text: str, where: Union[str, Path, None]) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    yaml = YAML(typ="rt")
    try:
        root = yaml.compose(text)
    except ReaderError as error:
        line, column = _text_position(text, int(getattr(error, "position", 0) or 0))
        character = getattr(error, "character", "")
        if isinstance(character, str) and character:
            character = ord(character[0])
        code = f"U+{character:04X}" if isinstance(character, int) else repr(character)
        raise PolicyError(where, line, column, f"character {code} is not allowed in YAML") from None
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        parts = [part for part in (error.context, error.problem) if part]
        raise PolicyError(where, line, column, "invalid YAML: " + ": ".join(parts)) from None
    except RecursionError:
        raise PolicyError(where, 1, 1, "invalid YAML: nesting is too deep") from None
    except YAMLError as error:
        raise PolicyError(where, 1, 1, "invalid YAML: " + " ".join(str(error).split())) from None
    version = getattr(yaml, "version", None)
    if version is not None and tuple(version) != (1, 2):
        match = re.search(r"(?m)^%YAML\b", text)
        line = text.count("\n", 0, match.start()) + 1 if match else 1
        raise PolicyError(
            where,
            line,
            1,
            f"%YAML {version[0]}.{version[1]} directive: pfcheck reads policies as YAML 1.2 only "
            "(1.1 turns yes/no/on/off into booleans); remove the directive",
        )
    return root


def _measure(root: Any, where: Union[str, Path, None]) -> None:
    """Reject disallowed tags, recursive aliases and graphs that expand to too many nodes.

    Sizes are memoised per node object, so a billion-laughs file costs time proportional to
    its text, not to its expansion.
    """
    sizes: dict[int, int] = {}
    on_stack: set[int] = set()
    # Iterative post-order walk: deep nesting must not hit Python's recursion limit.
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_stack.discard(key)
            sizes[key] = min(MAX_EXPANDED_NODES + 1, 1 + sum(sizes[id(child)] for child in _children(node)))
            continue
        if key in sizes:
            continue
        if key in on_stack:
            line, column = _line_column(node)
            raise PolicyError(where, line, column, "recursive YAML alias (a node that contains itself)")
        tag = _tag(node)
        if tag not in _ALLOWED_TAGS:
            line, column = _line_column(node)
            raise PolicyError(where, line, column, f'YAML tag "{_tag_display(tag)}" is not allowed in a policy')
        on_stack.add(key)
        stack.append((node, True))
        for child in reversed(list(_children(node))):
            if id(child) in on_stack:
                line, column = _line_column(child)
                raise PolicyError(where, line, column, "recursive YAML alias (a node that contains itself)")
            if id(child) not in sizes:
                stack.append((child, False))
    if sizes[id(root)] > MAX_EXPANDED_NODES:
        node = root
        while True:
            bigger = next((child for child in _children(node) if sizes[id(child)] > MAX_EXPANDED_NODES), None)
            if bigger is None:
                break
            node = bigger
        line, column = _line_column(node)
        raise PolicyError(
            where,
            line,
            column,
            f"YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes here (an alias bomb?)",
        )


def _children(node: Any) -> Iterator[Any]:
    value = node.value
    if isinstance(value, list):
        for item in value:
            if isinstance(item, tuple):
                yield item[0]
                yield item[1]
            else:
                yield item


# --------------------------------------------------------------------------------------------
# Validation on nodes


def _suggest(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean "x"?)' for the closest candidate, '' when none is close.

    Ties go to the candidate listed first (registry order), not to difflib's reverse order.
    """
    best, best_score = "", 0.0
    for candidate in candidates:
        matcher = difflib.SequenceMatcher(None, word.lower(), candidate.lower())
        if matcher.real_quick_ratio() < 0.6 or matcher.quick_ratio() < 0.6:
            continue
        score = matcher.ratio()
        if score >= 0.6 and score > best_score:
            best, best_score = candidate, score
    return f' (did you mean "{best}"?)' if best else ""


_KIND_WORDS = {
    _STR: "a string",
    _INT: "a number",
    _FLOAT: "a number",
    _BOOL: "a boolean",
    _NULL: "nothing (null)",
    _TIMESTAMP: "a date",
    _MAP: "a mapping",
    _SEQ: "a list",
}


class _Validator:
    def __init__(
        self, where: Union[str, Path, None], specs: Mapping[str, RuleSpec], skip_unknown_rules: bool = False
    ) -> None:
        self.where = where
        # The built-in policy may name rules a partial registry (a test, a subset) lacks.
        self.skip_unknown_rules = skip_unknown_rules
        self.specs = specs
        self.by_name = {spec.name: spec for spec in specs.values()}
        self.by_upper_code = {code.upper(): spec for code, spec in specs.items()}

    # -- primitives -----------------------------------------------------------------------

    def fail(self, node: Any, message: str) -> PolicyError:
        line, column = _line_column(node)
        return PolicyError(self.where, line, column, message)

    def describe(self, node: Any) -> str:
        return _KIND_WORDS.get(_tag(node), "a value")

    def is_null(self, node: Any) -> bool:
        return _tag(node) == _NULL

    def mapping(self, node: Any, what: str) -> list[tuple[str, Any, Any]]:
        """(key, key node, value node) in order; null counts as an empty mapping."""
        if self.is_null(node):
            return []
        if _tag(node) != _MAP:
            raise self.fail(node, f"{what} must be a mapping (key: value), found {self.describe(node)}")
        items: list[tuple[str, Any, Any]] = []
        seen: dict[str, Any] = {}
        for key_node, value_node in node.value:
            tag = _tag(key_node)
            if tag == _MERGE:
                raise self.fail(key_node, 'YAML merge keys ("<<") are not supported in a policy')
            if tag != _STR:
                raise self.fail(key_node, f"keys must be plain words, found {self.describe(key_node)}")
            key = key_node.value
            if key in seen:
                first_line, _ = _line_column(seen[key])
                raise self.fail(key_node, f'duplicate key "{key}" (first at line {first_line})')
            seen[key] = key_node
            items.append((key, key_node, value_node))
        return items

    def check_keys(
        self, items: Sequence[tuple[str, Any, Any]], allowed: Sequence[str], context: str = ""
    ) -> dict[str, tuple[Any, Any]]:
        found: dict[str, tuple[Any, Any]] = {}
        for key, key_node, value_node in items:
            if key not in allowed:
                raise self.fail(key_node, f'unknown key "{key}"{context}{_suggest(key, allowed)}')
            found[key] = (key_node, value_node)
        return found

    def sequence(self, node: Any, what: str) -> list[Any]:
        if self.is_null(node):
            return []
        if _tag(node) != _SEQ:
            raise self.fail(node, f"{what} must be a list, found {self.describe(node)}")
        return list(node.value)

    def word(self, node: Any, what: str, choices: Sequence[str]) -> str:
        """One of a closed set of words (severity, fail_on, suppression mode)."""
        if _tag(node) != _STR:
            raise self.fail(
                node, f"{what} must be one of {', '.join(choices)}, found {self.describe(node)} {node.value!r}"
            )
        value = node.value
        if value not in choices:
            raise self.fail(
                node, f'{what} must be one of {", ".join(choices)}, not "{value}"{_suggest(value, choices)}'
            )
        return value

    def postfix_value(self, node: Any, what: str) -> str:
        """A Postfix value: a string; a YAML boolean becomes yes/no; numbers must be quoted."""
        tag = _tag(node)
        if tag == _STR:
            return str(node.value)
        if tag == _BOOL:
            return "yes" if node.value.lower() in ("true", "yes", "on", "y") else "no"
        if tag in (_INT, _FLOAT, _TIMESTAMP):
            raise self.fail(
                node,
                f"{what}: quote Postfix values: write '{node.value}' not {node.value} "
                "(unquoted, YAML reads it as a number or date)",
            )
        raise self.fail(node, f"{what} must be a string, found {self.describe(node)}")

    def text(self, node: Any, what: str) -> str:
        """Free text (a reason, a glob): must be a string, and not empty."""
        if _tag(node) != _STR:
            raise self.fail(node, f"{what} must be a string, found {self.describe(node)}")
        value = str(node.value)
        if not value.strip():
            raise self.fail(node, f"{what} must not be empty")
        return value

    def rule_spec(self, key_node: Any, word: str) -> RuleSpec:
        spec = self.by_upper_code.get(word.upper()) or self.by_name.get(word)
        if spec is None:
            candidates = list(self.specs) + list(self.by_name)
            raise self.fail(key_node, f'unknown rule "{word}"{_suggest(word, candidates)}')
        return spec

    # -- sections ---------------------------------------------------------------------------

    def document(self, root: Any, base: Optional[Policy], path: Optional[Path]) -> Policy:
        if root is None:
            raise PolicyError(self.where, 1, 1, 'policy file is empty (a policy needs at least "version: 1")')
        if _tag(root) != _MAP:
            raise self.fail(root, f"a policy must be a mapping (key: value), found {self.describe(root)}")
        items = self.mapping(root, "a policy")
        # The schema version comes first: a newer policy's new keys are not "unknown keys".
        version_node = next((value for key, _, value in items if key == "version"), None)
        if version_node is None:
            raise self.fail(root, 'missing key "version" (write "version: 1" as the first line)')
        version = self.version(version_node)
        keys = self.check_keys(
            items, ("version", "postfix_version", "fail_on", "rules", "suppressions", "waivers", "exclude", "assume")
        )

        postfix_version = base.postfix_version if base else DEFAULT_POSTFIX_VERSION
        if "postfix_version" in keys:
            node = keys["postfix_version"][1]
            if _tag(node) in (_INT, _FLOAT):
                raise self.fail(
                    node,
                    f"postfix_version: quote Postfix values: write \"{node.value}\" not {node.value} "
                    "(unquoted, 3.10 reads as the number 3.1)",
                )
            postfix_version = self.text(node, "postfix_version").strip()
            problem = _check_postfix_version(postfix_version)
            if problem:
                raise self.fail(node, problem)

        fail_on = base.fail_on if base else Severity.ERROR
        if "fail_on" in keys:
            fail_on = Severity.parse(self.word(keys["fail_on"][1], "fail_on", FAIL_ON_WORDS))

        suppressions = base.suppressions if base else "allow"
        if "suppressions" in keys:
            suppressions = self.word(keys["suppressions"][1], "suppressions", SUPPRESSION_MODES)

        rules_node = keys["rules"][1] if "rules" in keys else None
        rules = self.rules(rules_node, base)
        waivers = self.waivers(keys["waivers"][1], path) if "waivers" in keys else ()
        exclude = self.exclude(keys["exclude"][1]) if "exclude" in keys else ()
        assumptions = base.assumptions if base else NO_ASSUMPTIONS
        if "assume" in keys:
            assumptions = parse_assume(self, keys["assume"][1], path).layered_on(assumptions)
        return Policy(
            version=version,
            postfix_version=postfix_version,
            fail_on=fail_on,
            suppressions=suppressions,
            rules=MappingProxyType(rules),
            waivers=waivers,
            path=path,
            source_description=str(path) if path is not None else "built-in default policy",
            exclude=exclude,
            assumptions=assumptions,
        )

    def version(self, node: Any) -> int:
        if _tag(node) == _INT:
            try:
                number = int(node.value.replace("_", ""), 0)
            except ValueError:
                number = -1
            if number == SCHEMA_VERSION:
                return number
            raise self.fail(
                node, f"unsupported policy version {node.value} (this pfcheck understands version {SCHEMA_VERSION})"
            )
        raise self.fail(node, f"version must be the number {SCHEMA_VERSION}, found {self.describe(node)} {node.value!r}")

    def rules(self, node: Optional[Any], base: Optional[Policy]) -> dict[str, RulePolicy]:
        resolved: dict[str, RulePolicy] = {}
        for code, spec in self.specs.items():
            inherited = base.rules.get(code) if base else None
            if inherited is not None:
                resolved[code] = inherited
            else:
                options = {name: _default_option_value(spec, name) for name in spec.options}
                resolved[code] = RulePolicy(code, spec.name, spec.severity, MappingProxyType(options))
        if node is None:
            return resolved
        configured_at: dict[str, Any] = {}
        for key, key_node, value_node in self.mapping(node, "rules"):
            if self.skip_unknown_rules and self.by_upper_code.get(key.upper()) is None and key not in self.by_name:
                continue
            spec = self.rule_spec(key_node, key)
            if spec.code in configured_at:
                first_line, _ = _line_column(configured_at[spec.code])
                raise self.fail(
                    key_node,
                    f'rule {spec.code} ({spec.name}) is configured twice (first at line {first_line})',
                )
            configured_at[spec.code] = key_node
            resolved[spec.code] = self.rule_entry(spec, value_node, resolved[spec.code])
        return resolved

    def rule_entry(self, spec: RuleSpec, node: Any, current: RulePolicy) -> RulePolicy:
        label = f"{spec.code} ({spec.name})"
        if _tag(node) == _STR and node.value in SEVERITY_WORDS:
            raise self.fail(node, f'rule {label} must be a mapping: write "{{severity: {node.value}}}"')
        keys = self.check_keys(
            self.mapping(node, f"rule {label}"), ("severity", "options"), f" in rule {label}"
        )
        severity = current.severity
        if "severity" in keys:
            word = self.word(keys["severity"][1], f"severity of {label}", SEVERITY_WORDS)
            severity = None if word == "off" else Severity.parse(word)
        options = current.options
        if "options" in keys:
            options = MappingProxyType(self.options(spec, keys["options"][1]))
        return RulePolicy(spec.code, spec.name, severity, options)

    def options(self, spec: RuleSpec, node: Any) -> dict[str, Any]:
        """Options given replace the inherited set: the ones left out take the rule's defaults."""
        label = f"{spec.code} ({spec.name})"
        items = self.mapping(node, f"options of rule {label}")
        if items and not spec.options:
            raise self.fail(items[0][1], f"rule {label} has no options")
        values = {name: _default_option_value(spec, name) for name in spec.options}
        for key, key_node, value_node in items:
            if key not in spec.options:
                raise self.fail(
                    key_node, f'unknown option "{key}" for rule {label}{_suggest(key, list(spec.options))}'
                )
            values[key] = self.option_value(spec.options[key].kind, value_node, f"option {key}")
        return values

    def option_value(self, kind: str, node: Any, what: str) -> Any:
        if kind == NETWORKS:
            networks = []
            for item in self.sequence(node, what):
                if _tag(item) != _STR:
                    if _tag(item) in (_INT, _FLOAT):
                        raise self.fail(item, f"{what}: quote Postfix values: write '{item.value}' not {item.value}")
                    raise self.fail(item, f"{what}: a network must be a string, found {self.describe(item)}")
                try:
                    networks.append(_network_text(_parse_network_or_raise(item.value)))
                except ValueError as error:
                    raise self.fail(item, f"{what}: {error}") from None
            return tuple(networks)
        if kind == BOOLEAN:
            tag = _tag(node)
            if tag == _BOOL:
                return node.value.lower() in ("true", "yes", "on", "y")
            if tag == _STR and node.value.lower() in ("yes", "no", "true", "false"):
                return node.value.lower() in ("yes", "true")
            raise self.fail(node, f"{what} must be true or false, found {self.describe(node)} {node.value!r}")
        if kind == INTEGER:
            if _tag(node) == _INT:
                try:
                    return int(node.value.replace("_", ""), 0)
                except ValueError:
                    pass
            raise self.fail(node, f"{what} must be a whole number, found {self.describe(node)}")
        if kind == STRING:
            return self.postfix_value(node, what)
        return tuple(self.postfix_value(item, what) for item in self.sequence(node, what))

    def waivers(self, node: Any, path: Optional[Path]) -> tuple[Waiver, ...]:
        waivers: list[Waiver] = []
        for item in self.sequence(node, "waivers"):
            keys = self.check_keys(
                self.mapping(item, "a waiver"), ("rule", "path", "service", "reason", "expires"), " in waiver"
            )
            for required in ("rule", "path", "reason"):
                if required not in keys:
                    raise self.fail(item, f'waiver is missing "{required}"')
            rule_node = keys["rule"][1]
            spec = self.rule_spec(rule_node, self.text(rule_node, "waiver rule"))
            glob = self.waiver_path(keys["path"][1])
            service = self.service(keys["service"][1]) if "service" in keys else None
            reason = self.text(keys["reason"][1], "waiver reason").strip()
            expires = self.date(keys["expires"][1]) if "expires" in keys else None
            line, column = _line_column(item)
            waivers.append(Waiver(spec.code, glob, reason, service, expires, path, line, column))
        return tuple(waivers)

    def waiver_path(self, node: Any) -> str:
        return self.path_glob(node, "waiver path")

    def path_glob(self, node: Any, what: str) -> str:
        """A glob relative to the policy file's directory, in POSIX form."""
        glob = self.text(node, what).strip()
        if glob.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", glob):
            raise self.fail(node, f'{what} "{glob}" must be relative to the policy file\'s directory')
        if "\\" in glob:
            raise self.fail(node, f'{what} "{glob}": use "/" between directories')
        parts = glob.split("/")
        if ".." in parts:
            raise self.fail(node, f'{what} "{glob}" must not leave the policy file\'s directory ("..")')
        glob = "/".join(part for part in parts if part not in ("", "."))
        if not glob:
            raise self.fail(node, f"{what} must name files (use \"**\" for every file)")
        return glob

    def exclude(self, node: Any) -> tuple[str, ...]:
        """`exclude:` globs: paths that are not Postfix configs (templates, fixtures)."""
        return tuple(self.path_glob(item, "exclude pattern") for item in self.sequence(node, "exclude"))

    def service(self, node: Any) -> str:
        service = self.text(node, "waiver service").strip()
        name, slash, kind = service.rpartition("/")
        if not slash or not name or any(char.isspace() for char in name):
            raise self.fail(node, f'waiver service "{service}" must be "name/type", e.g. "smtp/inet"')
        if kind not in SERVICE_TYPES:
            raise self.fail(
                node,
                f'waiver service "{service}": unknown service type "{kind}" '
                f'(one of {", ".join(SERVICE_TYPES)}){_suggest(kind, SERVICE_TYPES)}',
            )
        return service

    def date(self, node: Any) -> datetime.date:
        tag = _tag(node)
        if tag in (_TIMESTAMP, _STR):
            text = str(node.value).strip()
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                try:
                    return datetime.date.fromisoformat(text)
                except ValueError as error:
                    raise self.fail(node, f'expires: "{text}" is not a valid date ({error})') from None
        raise self.fail(node, f"expires must be a date like 2026-12-31, found {node.value!r}")


# --------------------------------------------------------------------------------------------
# Loading


def parse_policy(
    data: Union[bytes, str],
    rules: Mapping[str, Any],
    *,
    path: Optional[Path] = None,
    base: Optional[Policy] = None,
    skip_unknown_rules: bool = False,
) -> Policy:
    """Validate policy text. `path` is where it came from (for messages and waiver globs);
    `base` is the policy it is layered on (None: rule defaults only)."""
    where: Union[str, Path, None] = path
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(where, 1, 1, f"policy file is larger than {MAX_POLICY_BYTES} bytes")
    text = _decode(data, where)
    _check_flow_depth(text, where)
    root = _compose(text, where)
    if root is not None:
        _measure(root, where)
    return _Validator(where, _rule_specs(rules), skip_unknown_rules).document(root, base, path)


def _read_policy_bytes(path: Path, *, discovered: bool = False) -> bytes:
    """The policy file's bytes (at most MAX_POLICY_BYTES + 1). Only a regular file is opened (a
    FIFO would block); a `discovered` one (found next to the configs, part of the repository)
    also only when its real path is inside the repository: a `.pfcheck.yaml` symlink to a
    file elsewhere is refused, and nothing of that file is ever quoted."""
    from pfcheck.postfix.source import FileTooLarge, read_bounded
    from pfcheck.repository import IS_DIRECTORY, NO_SUCH_FILE, find_repo_root, refusal

    root = find_repo_root(Path(os.path.abspath(path)).parent) if discovered else None
    real, reason = refusal(path, root)
    if real is None:
        if reason == IS_DIRECTORY:
            raise PolicyError(path, 1, 1, "policy path is a directory, not a file")
        if reason == NO_SUCH_FILE:
            reason = os.strerror(errno.ENOENT)  # the wording this error always had
        raise PolicyError(path, 1, 1, f"cannot read policy file: {reason}")
    try:
        return read_bounded(real, limit=MAX_POLICY_BYTES)
    except FileTooLarge:
        raise PolicyError(path, 1, 1, f"policy file is larger than {MAX_POLICY_BYTES} bytes") from None
    except OSError as error:
        raise PolicyError(path, 1, 1, f"cannot read policy file: {error.strerror or error}") from None


def builtin_policy_text() -> str:
    """The text of `pfcheck/policy/default.yaml`."""
    try:
        from importlib.resources import files

        return files("pfcheck.policy").joinpath("default.yaml").read_text(encoding="utf-8")
    except (ImportError, AttributeError, FileNotFoundError):  # pragma: no cover - unusual installs
        return (Path(__file__).with_name("default.yaml")).read_text(encoding="utf-8")


def default_policy(rules: Mapping[str, Any]) -> Policy:
    """The built-in default policy, over the given rule registry (entries in default.yaml for
    rules the registry lacks are skipped; everything else is validated strictly)."""
    return parse_policy(builtin_policy_text(), rules, path=None, base=None, skip_unknown_rules=True)


def load_policy(path: Optional[Path], rules: Mapping[str, Any]) -> Policy:
    """Load and validate the policy at `path` (None: the built-in default policy).

    A policy file is layered on the built-in default policy: top-level keys and rules it does
    not mention keep their built-in values. Raises `PolicyError`.
    """
    builtin = default_policy(rules)
    if path is None:
        return builtin
    return parse_policy(_read_policy_bytes(Path(path)), rules, path=Path(path), base=builtin)


# --------------------------------------------------------------------------------------------
# Discovery


def find_policy(start: Path, stop_at: Optional[Path] = None) -> Optional[Path]:
    """The nearest policy file walking up from `start` (a file or a directory).

    The walk ends after the first of: `stop_at`, the git root (a directory holding a `.git`
    entry, found without running git), the filesystem root. Two policy file names in one
    directory is a `PolicyError`.
    """
    directory = Path(os.path.abspath(start))
    if not os.path.isdir(directory):  # (os.path: False, not PermissionError, where it cannot look)
        directory = directory.parent
    stop = Path(os.path.abspath(stop_at)) if stop_at is not None else None
    for candidate_dir in _walk_up(directory, stop):
        found = _policy_in(candidate_dir)
        if found is not None:
            return found
    return None


def _walk_up(directory: Path, stop: Optional[Path]) -> Iterator[Path]:
    while True:
        yield directory
        if directory == stop or os.path.lexists(directory / ".git") or directory.parent == directory:
            return
        directory = directory.parent


def _is_policy_file(path: Path) -> bool:
    """Whether a policy file is there: anything but a directory, so that a FIFO or a symlink
    that leaves the repository is an error (see _read_policy_bytes), not silently no policy.
    False where pfcheck may not look (a directory it cannot search is reported by the lint
    run as PF900, and governed by the policy above it)."""
    return os.path.lexists(path) and not os.path.isdir(path)


def _policy_in(directory: Path) -> Optional[Path]:
    present = [directory / name for name in POLICY_FILE_NAMES if _is_policy_file(directory / name)]
    if len(present) > 1:
        raise PolicyError(
            present[1], 1, 1, f"both {' and '.join(p.name for p in present)} exist in {directory}; keep one"
        )
    return present[0] if present else None


class PolicyResolver:
    """The policy for each checked path, each policy file read and validated once per run.

    With `policy_path` (the CLI's `--policy`) every path gets that policy; otherwise each path
    gets its nearest policy file (see `find_policy`), or the built-in default policy.
    """

    def __init__(
        self,
        rules: Mapping[str, Any],
        policy_path: Optional[Path] = None,
        stop_at: Optional[Path] = None,
    ) -> None:
        self._rules = rules
        self._explicit = Path(policy_path) if policy_path is not None else None
        self._stop_at = stop_at
        self._file_for_dir: dict[Path, Optional[Path]] = {}
        self._policies: dict[Optional[Path], Policy] = {}
        #: Policy files read so far, in order (each appears once).
        self.loaded: list[Optional[Path]] = []

    def policy_file_for(self, path: Path) -> Optional[Path]:
        """The policy file that governs `path`, None for the built-in default policy."""
        if self._explicit is not None:
            return self._explicit
        directory = Path(os.path.abspath(path))
        if not os.path.isdir(directory):
            directory = directory.parent
        stop = Path(os.path.abspath(self._stop_at)) if self._stop_at is not None else None
        visited: list[Path] = []
        found: Optional[Path] = None
        for candidate_dir in _walk_up(directory, stop):
            if candidate_dir in self._file_for_dir:
                found = self._file_for_dir[candidate_dir]
                break
            visited.append(candidate_dir)
            found = _policy_in(candidate_dir)
            if found is not None:
                break
        for seen in visited:
            self._file_for_dir[seen] = found
        return found

    def policy_for(self, path: Path) -> Policy:
        """The validated policy for a checked file or directory. Raises `PolicyError`."""
        policy_file = self.policy_file_for(path)
        return self.load(policy_file)

    def load(self, policy_file: Optional[Path]) -> Policy:
        cached = self._policies.get(policy_file)
        if cached is not None:
            return cached
        builtin = self._policies.get(None)
        if builtin is None:
            builtin = default_policy(self._rules)
            self._policies[None] = builtin
            self.loaded.append(None)
        if policy_file is None:
            return builtin
        discovered = self._explicit is None or policy_file != self._explicit
        policy = parse_policy(_read_policy_bytes(policy_file, discovered=discovered), self._rules,
                              path=policy_file, base=builtin)
        self._policies[policy_file] = policy
        self.loaded.append(policy_file)
        return policy


def policy_source_chain(policy: Policy) -> list[str]:
    """Where a policy's values come from, nearest first (for a `show-policy` command)."""
    chain = [policy.source_description]
    if policy.path is not None:
        chain.append("built-in default policy")
    return chain


__all__: list[str] = [
    "BOOLEAN",
    "DEFAULT_POSTFIX_VERSION",
    "FAIL_ON_WORDS",
    "INTEGER",
    "MAX_EXPANDED_NODES",
    "MAX_FLOW_DEPTH",
    "MAX_POLICY_BYTES",
    "NETWORKS",
    "Network",
    "NetworkList",
    "OPTION_KINDS",
    "OptionSpec",
    "POLICY_FILE_NAMES",
    "Policy",
    "PolicyError",
    "PolicyResolver",
    "RulePolicy",
    "RuleSpec",
    "SCHEMA_VERSION",
    "SEVERITY_WORDS",
    "STRING",
    "STRINGS",
    "SUPPRESSION_MODES",
    "Waiver",
    "builtin_policy_text",
    "default_policy",
    "find_policy",
    "load_policy",
    "network_allowed",
    "parse_policy",
    "parse_policy_network",
    "policy_source_chain",
    "supported_postfix_versions",
]
