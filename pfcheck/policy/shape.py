"""The shape of a policy document, declared once: every section, key, kind, closed word list
and message label. `PolicyValidator` (validate.py) walks it to read a policy, and schema.py
turns the same table into a JSON Schema for editors, so the two cannot drift apart.

What a shape cannot say (host bits of a network, a date that does not exist, one rule named
twice, an access(5) result's grammar) stays procedural in the validator; docs/policy.md lists
it under "What the schema does not check".

This module imports neither ruamel.yaml nor jsonschema: both readers of the table are lazy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Union

from pfcheck.policy.assume import ACTION_WORDS, POLICY_SERVICE_TYPES
from pfcheck.policy.model import (
    BOOLEAN, FAIL_ON_WORDS, INTEGER, NETWORKS, ROLES, RECEIVING_ROLES, SCHEMA_VERSION, SERVICE_TYPES,
    SEVERITY_WORDS, STRING, STRINGS, SUPPRESSION_MODES, RuleSpec,
)

#: A closed word list, or a function giving it (profile names live in pfcheck/compliance.py,
#: which a plain run does not import).
Choices = Union[tuple[str, ...], Callable[[], tuple[str, ...]]]


@dataclass(frozen=True)
class Shape:
    """A node of the policy document. `what` names it in messages ("fail_on", "waiver
    reason"); `{key}` in it is the mapping key the node belongs to."""

    what: str
    description: str = ""


@dataclass(frozen=True)
class Word(Shape):
    """One word of a closed list (severity, fail_on, suppression mode, role, profile)."""

    choices: Choices = ()

    def words(self) -> tuple[str, ...]:
        return self.choices() if callable(self.choices) else self.choices


@dataclass(frozen=True)
class Text(Shape):
    """Free text that must not be empty (a reason)."""


@dataclass(frozen=True)
class PathGlob(Shape):
    """A glob relative to the policy file's directory (pfcheck/policy/globs.py)."""


@dataclass(frozen=True)
class PostfixValue(Shape):
    """A Postfix value: a string; a YAML boolean becomes yes/no; a number must be quoted."""


@dataclass(frozen=True)
class Date(Shape):
    """A date written YYYY-MM-DD, quoted or not."""


@dataclass(frozen=True)
class ServiceName(Shape):
    """A master.cf service as findings name it: `name/type`."""

    types: tuple[str, ...] = SERVICE_TYPES


@dataclass(frozen=True)
class RuleRef(Shape):
    """A rule code (any case) or name from the rule registry."""


@dataclass(frozen=True)
class SchemaVersion(Shape):
    """The schema version: the number `SCHEMA_VERSION`."""


@dataclass(frozen=True)
class PostfixVersion(Shape):
    """A supported Postfix release, "major.minor" or "major.minor.patch", quoted."""


@dataclass(frozen=True)
class TableKey(Shape):
    """An `assume.tables` key: `type:name`, optionally behind `proxy:`."""


@dataclass(frozen=True)
class EndpointKey(Shape):
    """An `assume.policy_services` key: a check_policy_service endpoint."""

    types: tuple[str, ...] = POLICY_SERVICE_TYPES


@dataclass(frozen=True)
class Network(Shape):
    """A network in Postfix syntax (networks.py): 192.0.2.0/24, [2001:db8::]/32."""


@dataclass(frozen=True)
class Flag(Shape):
    """true or false; the strings yes/no/true/false (any case) are accepted too."""


@dataclass(frozen=True)
class WholeNumber(Shape):
    """A YAML integer."""


@dataclass(frozen=True)
class AccessResult(PostfixValue):
    """One answer a table or policy service can give (assume.py `result_problem()`)."""


@dataclass(frozen=True)
class ListOf(Shape):
    """A list (null counts as empty) of `item`s; `min_items` and its message when too short."""

    item: Shape = field(default_factory=lambda: Text(""))
    min_items: int = 0
    too_short: str = ""


@dataclass(frozen=True)
class Record(Shape):
    """A mapping with a closed set of keys (null counts as empty unless a key is required).
    `context` follows "unknown key" in messages; `missing` is the message for a required key
    left out (`{key}`: that key, `{what}`: this record)."""

    fields: Mapping[str, Shape] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    context: str = ""
    missing: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.fields)


@dataclass(frozen=True)
class MapOf(Shape):
    """A mapping whose keys are data (a path glob, a table reference) and values all `value`."""

    key: Shape = field(default_factory=lambda: Text(""))
    value: Shape = field(default_factory=lambda: Text(""))


@dataclass(frozen=True)
class OneOrList(Shape):
    """One `item`, or a non-empty list of them (`roles:` values)."""

    item: Shape = field(default_factory=lambda: Text(""))
    too_short: str = ""
    #: A word that contradicts any of `conflicts` in the same list (send-only vs mx...).
    exclusive: Optional[str] = None
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleTable(Shape):
    """`rules:`: keyed by the registry's rule codes or names, each a `rule_entry(spec)`."""


# --------------------------------------------------------------------------------------------
# Rules: an entry per registry rule, its options from the rule's OPTIONS


def rule_label(code: str, name: str) -> str:
    return f"{code} ({name})"


#: How an option of each kind (model.OPTION_KINDS) is written.
OPTION_SHAPES: Mapping[str, Callable[[str], Shape]] = {
    NETWORKS: lambda what: ListOf(what, "networks in Postfix syntax: 192.0.2.0/24, [2001:db8::]/32",
                                  item=Network(what)),
    BOOLEAN: lambda what: Flag(what, "true or false (yes/no accepted)"),
    INTEGER: lambda what: WholeNumber(what, "a whole number"),
    STRING: lambda what: PostfixValue(what),
    STRINGS: lambda what: ListOf(what, "a list of Postfix values", item=PostfixValue(what)),
}


def rule_entry(spec: RuleSpec) -> Record:
    """The shape of one rule's settings, its options from the rule's `OPTIONS`."""
    label = rule_label(spec.code, spec.name)
    option_fields = {
        option: _described(OPTION_SHAPES[option_spec.kind](f"option {option}"), option_spec.description)
        for option, option_spec in spec.options.items()
    }
    return Record(
        f"rule {label}",
        fields={
            "severity": Word(f"severity of {label}", "the severity of this rule's findings; off disables it",
                             choices=SEVERITY_WORDS),
            "options": Record(f"options of rule {label}", "this rule's options: they replace the inherited "
                              "ones, and any left out take the rule's default", fields=option_fields),
        },
        context=f" in rule {label}",
    )


def _described(shape: Shape, description: str) -> Shape:
    from dataclasses import replace

    return replace(shape, description=description) if description else shape


# --------------------------------------------------------------------------------------------
# The document


def _profile_names() -> tuple[str, ...]:
    from pfcheck.compliance import profile_names

    return profile_names()


WAIVER = Record(
    "a waiver",
    "accepts the findings of one rule in matching files until a date",
    fields={
        "rule": RuleRef("waiver rule", "rule code or name"),
        "path": PathGlob("waiver path", "glob relative to the policy file's directory: hosts/*/main.cf, labs/**"),
        "service": ServiceName("waiver service", "only this master.cf service, name/type: smtp/inet"),
        "reason": Text("waiver reason", "why the finding is accepted"),
        "expires": Date("expires", "the last day the waiver applies, YYYY-MM-DD"),
    },
    required=("rule", "path", "reason"),
    context=" in waiver",
    missing='waiver is missing "{key}"',
)

#: One `assume:` entry; `{section}` in `what` is filled with tables/policy_services.
ASSUMED_ANSWERS = Record(
    'assume.{section}."{key}"',
    fields={
        "results": ListOf('assume.{section}."{key}".results', "every answer it can give: access(5) actions",
                          item=AccessResult('assume.{section}."{key}".results'),
                          min_items=1, too_short="{what} must list at least one result"),
    },
    required=("results",),
    context=' in assume.{section}."{key}"',
    missing='{what} is missing "results" (the list of answers it can give)',
)

ASSUME = Record(
    "assume",
    "what tables and policy services pfcheck cannot see can answer",
    fields={
        "tables": MapOf("assume.tables", "keyed by the table reference as the config writes it: mysql:/etc/postfix/x.cf",
                        key=TableKey("assume.tables"), value=ASSUMED_ANSWERS),
        "policy_services": MapOf("assume.policy_services", "keyed by the check_policy_service endpoint: "
                                 "inet:127.0.0.1:10023", key=EndpointKey("assume.policy_services"),
                                 value=ASSUMED_ANSWERS),
    },
    context=" in assume",
)

#: A `roles:` value: one role or a list of them.
ROLES_VALUE = OneOrList('roles of "{key}"', item=Word('role of "{key}"', choices=ROLES),
                        too_short='roles of "{key}": name at least one role (one of ' + ", ".join(ROLES) + ")",
                        exclusive="send-only", conflicts=tuple(sorted(RECEIVING_ROLES)))

ROLES_SECTION = MapOf(
    "roles",
    "what each host is for, keyed by a path glob matching a config directory",
    key=PathGlob("roles pattern"),
    value=ROLES_VALUE,
)

POLICY = Record(
    "a policy",
    "pfcheck policy (.pfcheck.yaml), see docs/policy.md",
    fields={
        "version": SchemaVersion("version", f"schema version: must be {SCHEMA_VERSION}"),
        "postfix_version": PostfixVersion("postfix_version", 'the Postfix release deployed, quoted: "3.7"'),
        "fail_on": Word("fail_on", "lowest severity that fails the run", choices=FAIL_ON_WORDS),
        "rules": RuleTable("rules", "rule settings, keyed by rule code or name"),
        "suppressions": Word("suppressions", 'how inline "# pfcheck: ignore[...]" directives are treated',
                             choices=SUPPRESSION_MODES),
        "waivers": ListOf("waivers", "central waivers", item=WAIVER),
        "exclude": ListOf("exclude", "globs of paths that are not Postfix configs", item=PathGlob("exclude pattern")),
        "assume": ASSUME,
        "roles": ROLES_SECTION,
        "profiles": ListOf("profiles", "compliance profiles whose rules are turned on",
                           item=Word("profile", choices=_profile_names)),
    },
    required=("version",),
)

#: Words an access result may start with, offered by editors (not a closed list: see assume.py).
ACCESS_RESULT_EXAMPLES: tuple[str, ...] = ACTION_WORDS
