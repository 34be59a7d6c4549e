"""Validation of a composed policy document, node by node, into a `Policy`: every problem is
a `PolicyError` at the node's line and column, with a did-you-mean where one is close."""
from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

from pfcheck.findings import Severity
from pfcheck.policy.assume import NO_ASSUMPTIONS, parse_assume
from pfcheck.policy.model import BOOLEAN, DEFAULT_POSTFIX_VERSION, INTEGER, NETWORKS, Policy, PolicyError, RulePolicy, RuleSpec, SCHEMA_VERSION, SEVERITY_WORDS, STRING, Waiver, default_option_value, RoleEntry
from pfcheck.policy.networks import network_text, parse_policy_network
from pfcheck.policy.shape import POLICY, ROLES_SECTION, ROLES_VALUE, WAIVER, ASSUME, ListOf, Record, Word, rule_entry
from pfcheck.policy.suggest import suggest
from pfcheck.policy.yaml_safe import TAG_BOOL, TAG_FLOAT, TAG_INT, TAG_MAP, TAG_MERGE, TAG_NULL, TAG_SEQ, TAG_STR, TAG_TIMESTAMP, node_position, node_tag

if TYPE_CHECKING:
    import datetime


# --------------------------------------------------------------------------------------------
# Supported Postfix versions


def supported_postfix_versions() -> tuple[str, ...]:
    """The `postfix_version` values pfcheck has defaults for, as "major.minor" strings."""
    from pfcheck.postfix import defaults

    return tuple(dict.fromkeys(".".join(str(version).split(".")[:2]) for version in defaults.SUPPORTED_VERSIONS))


def _check_postfix_version(text: str) -> Optional[str]:
    """None when supported, else the error message."""
    supported = supported_postfix_versions()
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if match is None or f"{int(match.group(1))}.{int(match.group(2))}" not in supported:
        return f'unsupported postfix_version "{text}" (supported: {", ".join(supported)})'
    return None


# --------------------------------------------------------------------------------------------
# Validation on nodes


_KIND_WORDS = {
    TAG_STR: "a string",
    TAG_INT: "a number",
    TAG_FLOAT: "a number",
    TAG_BOOL: "a boolean",
    TAG_NULL: "nothing (null)",
    TAG_TIMESTAMP: "a date",
    TAG_MAP: "a mapping",
    TAG_SEQ: "a list",
}


class PolicyValidator:
    def __init__(
        self, where: Union[str, Path, None], specs: Mapping[str, RuleSpec], skip_unknown_rules: bool = False
    ) -> None:
        self.where = where
        # The built-in policy may name rules a partial registry (a test, a subset) lacks.
        self.skip_unknown_rules = skip_unknown_rules
        self.specs = specs
        self.by_name = {spec.name: spec for spec in specs.values()}
        self.by_upper_code = {code.upper(): spec for code, spec in specs.items()}
        #: Set per document: severities a policy file sets count as chosen (RulePolicy.configured).
        self.is_policy_file = False

    # -- primitives -----------------------------------------------------------------------

    def fail(self, node: Any, message: str) -> PolicyError:
        line, column = node_position(node)
        return PolicyError(self.where, line, column, message)

    def describe(self, node: Any) -> str:
        return _KIND_WORDS.get(node_tag(node), "a value")

    def is_null(self, node: Any) -> bool:
        return node_tag(node) == TAG_NULL

    def mapping(self, node: Any, what: str) -> list[tuple[str, Any, Any]]:
        """(key, key node, value node) in order; null counts as an empty mapping."""
        if self.is_null(node):
            return []
        if node_tag(node) != TAG_MAP:
            raise self.fail(node, f"{what} must be a mapping (key: value), found {self.describe(node)}")
        items: list[tuple[str, Any, Any]] = []
        seen: dict[str, Any] = {}
        for key_node, value_node in node.value:
            tag = node_tag(key_node)
            if tag == TAG_MERGE:
                raise self.fail(key_node, 'YAML merge keys ("<<") are not supported in a policy')
            if tag != TAG_STR:
                raise self.fail(key_node, f"keys must be plain words, found {self.describe(key_node)}")
            key = key_node.value
            if key in seen:
                first_line, _ = node_position(seen[key])
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
                raise self.fail(key_node, f'unknown key "{key}"{context}{suggest(key, allowed)}')
            found[key] = (key_node, value_node)
        return found

    def record(self, node: Any, shape: Record, **labels: str) -> dict[str, tuple[Any, Any]]:
        """A mapping of `shape`'s closed set of keys, its required ones present. `labels` fill
        the `{key}`/`{section}` placeholders of the shape's messages."""
        what = shape.what.format(**labels)
        keys = self.check_keys(self.mapping(node, what), shape.keys, shape.context.format(**labels))
        for required in shape.required:
            if required not in keys:
                raise self.fail(node, shape.missing.format(key=required, what=what))
        return keys

    def items(self, node: Any, shape: ListOf, **labels: str) -> list[Any]:
        """The items of a list of `shape`, at least `shape.min_items` of them."""
        what = shape.what.format(**labels)
        items = self.sequence(node, what)
        if len(items) < shape.min_items:
            raise self.fail(node, shape.too_short.format(what=what))
        return items

    def choice(self, node: Any, shape: Word, **labels: str) -> str:
        return self.word(node, shape.what.format(**labels), shape.words())

    def sequence(self, node: Any, what: str) -> list[Any]:
        if self.is_null(node):
            return []
        if node_tag(node) != TAG_SEQ:
            raise self.fail(node, f"{what} must be a list, found {self.describe(node)}")
        return list(node.value)

    def word(self, node: Any, what: str, choices: Sequence[str]) -> str:
        """One of a closed set of words (severity, fail_on, suppression mode)."""
        if node_tag(node) != TAG_STR:
            raise self.fail(
                node, f"{what} must be one of {', '.join(choices)}, found {self.describe(node)} {node.value!r}"
            )
        value = node.value
        if value not in choices:
            raise self.fail(
                node, f'{what} must be one of {", ".join(choices)}, not "{value}"{suggest(value, choices)}'
            )
        return value

    def postfix_value(self, node: Any, what: str) -> str:
        """A Postfix value: a string; a YAML boolean becomes yes/no; numbers must be quoted."""
        tag = node_tag(node)
        if tag == TAG_STR:
            return str(node.value)
        if tag == TAG_BOOL:
            return "yes" if node.value.lower() in ("true", "yes", "on", "y") else "no"
        if tag in (TAG_INT, TAG_FLOAT, TAG_TIMESTAMP):
            raise self.fail(
                node,
                f"{what}: quote Postfix values: write '{node.value}' not {node.value} "
                "(unquoted, YAML reads it as a number or date)",
            )
        raise self.fail(node, f"{what} must be a string, found {self.describe(node)}")

    def text(self, node: Any, what: str) -> str:
        """Free text (a reason, a glob): must be a string, and not empty."""
        if node_tag(node) != TAG_STR:
            raise self.fail(node, f"{what} must be a string, found {self.describe(node)}")
        value = str(node.value)
        if not value.strip():
            raise self.fail(node, f"{what} must not be empty")
        return value

    def rule_spec(self, key_node: Any, word: str) -> RuleSpec:
        spec = self.by_upper_code.get(word.upper()) or self.by_name.get(word)
        if spec is None:
            candidates = list(self.specs) + list(self.by_name)
            raise self.fail(key_node, f'unknown rule "{word}"{suggest(word, candidates)}')
        return spec

    # -- sections ---------------------------------------------------------------------------

    def document(self, root: Any, base: Optional[Policy], path: Optional[Path]) -> Policy:
        if root is None:
            raise PolicyError(self.where, 1, 1, 'policy file is empty (a policy needs at least "version: 1")')
        if node_tag(root) != TAG_MAP:
            raise self.fail(root, f"a policy must be a mapping (key: value), found {self.describe(root)}")
        items = self.mapping(root, "a policy")
        # The schema version comes first: a newer policy's new keys are not "unknown keys".
        version_node = next((value for key, _, value in items if key == "version"), None)
        if version_node is None:
            raise self.fail(root, 'missing key "version" (write "version: 1" as the first line)')
        version = self.version(version_node)
        keys = self.check_keys(items, POLICY.keys)
        fields = POLICY.fields

        postfix_version = base.postfix_version if base else DEFAULT_POSTFIX_VERSION
        if "postfix_version" in keys:
            node = keys["postfix_version"][1]
            if node_tag(node) in (TAG_INT, TAG_FLOAT):
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
            fail_on = Severity.parse(self.choice(keys["fail_on"][1], fields["fail_on"]))

        suppressions = base.suppressions if base else "allow"
        if "suppressions" in keys:
            suppressions = self.choice(keys["suppressions"][1], fields["suppressions"])

        rules_node = keys["rules"][1] if "rules" in keys else None
        self.is_policy_file = path is not None
        rules = self.rules(rules_node, base)
        waivers = self.waivers(keys["waivers"][1], path) if "waivers" in keys else ()
        exclude = self.exclude(keys["exclude"][1]) if "exclude" in keys else ()
        roles = self.roles_section(keys["roles"][1]) if "roles" in keys else (base.roles if base else ())
        assumptions = base.assumptions if base else NO_ASSUMPTIONS
        if "assume" in keys:
            assumptions = parse_assume(self, keys["assume"][1], path, ASSUME).layered_on(assumptions)
        policy = Policy(
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
            roles=roles,
        )
        # A policy file's `profiles:` replaces the base's, as every top-level key does.
        profiles = self.profiles(keys["profiles"][1]) if "profiles" in keys else (base.profiles if base else ())
        return policy.with_profiles(profiles, self.specs) if profiles else policy

    def version(self, node: Any) -> int:
        if node_tag(node) == TAG_INT:
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
                options = {name: default_option_value(spec, name) for name in spec.options}
                resolved[code] = RulePolicy(code, spec.name, spec.severity, MappingProxyType(options))
        if node is None:
            return resolved
        configured_at: dict[str, Any] = {}
        for key, key_node, value_node in self.mapping(node, "rules"):
            if self.skip_unknown_rules and self.by_upper_code.get(key.upper()) is None and key not in self.by_name:
                continue
            spec = self.rule_spec(key_node, key)
            if spec.code in configured_at:
                first_line, _ = node_position(configured_at[spec.code])
                raise self.fail(
                    key_node,
                    f'rule {spec.code} ({spec.name}) is configured twice (first at line {first_line})',
                )
            configured_at[spec.code] = key_node
            resolved[spec.code] = self.rule_entry(spec, value_node, resolved[spec.code])
        return resolved

    def rule_entry(self, spec: RuleSpec, node: Any, current: RulePolicy) -> RulePolicy:
        label = f"{spec.code} ({spec.name})"
        shape = rule_entry(spec)
        if node_tag(node) == TAG_STR and node.value in SEVERITY_WORDS:
            raise self.fail(node, f'rule {label} must be a mapping: write "{{severity: {node.value}}}"')
        keys = self.record(node, shape)
        severity = current.severity
        configured = current.configured
        if "severity" in keys:
            word = self.choice(keys["severity"][1], shape.fields["severity"])
            severity = None if word == "off" else Severity.parse(word)
            configured = configured or self.is_policy_file
        options = current.options
        if "options" in keys:
            options = MappingProxyType(self.options(spec, keys["options"][1], shape.fields["options"]))
        return RulePolicy(spec.code, spec.name, severity, options, configured)

    def options(self, spec: RuleSpec, node: Any, shape: Any) -> dict[str, Any]:
        """Options given replace the inherited set: the ones left out take the rule's defaults."""
        label = f"{spec.code} ({spec.name})"
        items = self.mapping(node, shape.what)
        if items and not shape.keys:
            raise self.fail(items[0][1], f"rule {label} has no options")
        values = {name: default_option_value(spec, name) for name in spec.options}
        for key, key_node, value_node in items:
            if key not in shape.fields:
                raise self.fail(
                    key_node, f'unknown option "{key}" for rule {label}{suggest(key, list(shape.keys))}'
                )
            values[key] = self.option_value(spec.options[key].kind, value_node, shape.fields[key].what)
        return values

    def option_value(self, kind: str, node: Any, what: str) -> Any:
        if kind == NETWORKS:
            networks = []
            for item in self.sequence(node, what):
                if node_tag(item) != TAG_STR:
                    if node_tag(item) in (TAG_INT, TAG_FLOAT):
                        raise self.fail(item, f"{what}: quote Postfix values: write '{item.value}' not {item.value}")
                    raise self.fail(item, f"{what}: a network must be a string, found {self.describe(item)}")
                try:
                    networks.append(network_text(parse_policy_network(item.value)))
                except ValueError as error:
                    raise self.fail(item, f"{what}: {error}") from None
            return tuple(networks)
        if kind == BOOLEAN:
            tag = node_tag(node)
            if tag == TAG_BOOL:
                return node.value.lower() in ("true", "yes", "on", "y")
            if tag == TAG_STR and node.value.lower() in ("yes", "no", "true", "false"):
                return node.value.lower() in ("yes", "true")
            raise self.fail(node, f"{what} must be true or false, found {self.describe(node)} {node.value!r}")
        if kind == INTEGER:
            if node_tag(node) == TAG_INT:
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
        shape = POLICY.fields["waivers"]
        assert isinstance(shape, ListOf) and isinstance(shape.item, Record)
        fields = shape.item.fields
        for item in self.items(node, shape):
            keys = self.record(item, shape.item)
            rule_node = keys["rule"][1]
            spec = self.rule_spec(rule_node, self.text(rule_node, fields["rule"].what))
            glob = self.path_glob(keys["path"][1], fields["path"].what)
            service = self.service(keys["service"][1]) if "service" in keys else None
            reason = self.text(keys["reason"][1], fields["reason"].what).strip()
            expires = self.date(keys["expires"][1]) if "expires" in keys else None
            line, column = node_position(item)
            waivers.append(Waiver(spec.code, glob, reason, service, expires, path, line, column))
        return tuple(waivers)

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
        shape = POLICY.fields["exclude"]
        assert isinstance(shape, ListOf)
        return tuple(self.path_glob(item, shape.item.what) for item in self.items(node, shape))

    def profiles(self, node: Any) -> tuple[str, ...]:
        """`profiles:`: compliance profiles by name (pfcheck/compliance.py, imported only for a
        policy that names profiles)."""
        shape = POLICY.fields["profiles"]
        assert isinstance(shape, ListOf) and isinstance(shape.item, Word)
        names: list[str] = []
        for item in self.items(node, shape):
            name = self.choice(item, shape.item)
            if name not in names:
                names.append(name)
        return tuple(names)

    def roles_section(self, node: Any) -> tuple[RoleEntry, ...]:
        """`roles:`: a mapping from path glob to a role or a list of roles."""
        if self.is_null(node):
            return ()
        shape = ROLES_SECTION
        entries: list[RoleEntry] = []
        for key, key_node, value in self.mapping(node, shape.what):
            glob = self.path_glob(key_node, shape.key.what)
            listed = ROLES_VALUE
            items = self.sequence(value, listed.what.format(key=key)) if node_tag(value) == TAG_SEQ else [value]
            if not items:
                raise self.fail(value, listed.too_short.format(key=key))
            roles: list[str] = []
            for item in items:
                role = self.choice(item, listed.item, key=key)
                if role not in roles:
                    roles.append(role)
            clash = [role for role in listed.conflicts if role in roles]
            if listed.exclusive in roles and clash:
                raise self.fail(
                    value, f'roles of "{key}": "send-only" (listens on loopback only) contradicts "{clash[0]}"'
                )
            line, column = node_position(key_node)
            entries.append(RoleEntry(glob, tuple(roles), line, column))
        return tuple(entries)

    def service(self, node: Any) -> str:
        service = self.text(node, "waiver service").strip()
        name, slash, kind = service.rpartition("/")
        if not slash or not name or any(char.isspace() for char in name):
            raise self.fail(node, f'waiver service "{service}" must be "name/type", e.g. "smtp/inet"')
        types = WAIVER.fields["service"].types  # type: ignore[attr-defined]
        if kind not in types:
            raise self.fail(
                node,
                f'waiver service "{service}": unknown service type "{kind}" '
                f'(one of {", ".join(types)}){suggest(kind, types)}',
            )
        return service

    def date(self, node: Any) -> datetime.date:
        tag = node_tag(node)
        if tag in (TAG_TIMESTAMP, TAG_STR):
            text = str(node.value).strip()
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                import datetime  # only a policy with expires: needs it

                try:
                    return datetime.date.fromisoformat(text)
                except ValueError as error:
                    raise self.fail(node, f'expires: "{text}" is not a valid date ({error})') from None
        raise self.fail(node, f"expires must be a date like 2026-12-31, found {node.value!r}")
