"""The policy's JSON Schema (draft-07), generated from the shape table the validator walks
(shape.py) and the rule registry's options: `pfcheck schema` prints it, and the copy shipped
as `pfcheck/policy/pfcheck-policy.schema.json` is what editors point at.

Draft-07 because it is the draft every yaml-language-server release and SchemaStore support;
nothing here needs a later one. Patterns are written in the subset ECMA-262 (editors) and
Python's `re` (jsonschema, the tests) read alike: no inline flags, no escapes that unicode
mode refuses. Where the validator is stricter than a pattern can be (docs/policy.md, "What
the schema does not check") the schema accepts more; it never refuses a valid policy.

Imported only by `pfcheck schema` and the tests: a lint run never builds it.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from pfcheck.policy.model import SCHEMA_VERSION, RuleSpec
from pfcheck.policy.shape import (
    ACCESS_RESULT_EXAMPLES, POLICY, AccessResult, Date, EndpointKey, Flag, ListOf, MapOf, Network, OneOrList,
    PathGlob, PostfixValue, PostfixVersion, Record, RuleRef, RuleTable, SchemaVersion, ServiceName, Shape,
    TableKey, Text, WholeNumber, Word, rule_entry,
)

DRAFT = "http://json-schema.org/draft-07/schema#"
#: Where the committed copy is served from: the file on `main` (no release pins it yet).
SCHEMA_URL = "https://raw.githubusercontent.com/pfcheck/pfcheck/main/pfcheck/policy/pfcheck-policy.schema.json"
#: The committed copy, next to this module (package data).
SCHEMA_FILE_NAME = "pfcheck-policy.schema.json"

_IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"{_IPV4_OCTET}(?:\.{_IPV4_OCTET}){{3}}"
_IPV4_PREFIX = r"0*(?:3[0-2]|[12]?[0-9])"
_IPV6_PREFIX = r"0*(?:12[0-8]|1[01][0-9]|[1-9]?[0-9])"
#: The forms networks.py accepts: a.b.c.d[/len], [addr][/len], [addr/len]. Host bits and
#: the IPv6 address grammar are left to the validator.
_NETWORK = (rf"^\s*(?:{_IPV4}(?:/{_IPV4_PREFIX})?"
            rf"|\[[0-9A-Fa-f:.]+\](?:/{_IPV6_PREFIX})?"
            rf"|\[[0-9A-Fa-f:.]+/{_IPV6_PREFIX}\])\s*$")
#: What path_glob() refuses, each a pattern the text must not match.
_GLOB_REFUSALS = (
    r"^\s*(?:/|[A-Za-z]:[\\/])",        # absolute
    r"\\",                              # backslashes
    r"(?:^\s*|/)\.\.(?:/|\s*$)",        # ".." leaves the policy's directory
    r"^\s*(?:\.?/)*\.?\s*$",            # names no file ("", ".", "./")
)


def _escape(word: str) -> str:
    """A literal in a pattern: only the characters both dialects treat as special."""
    return "".join("\\" + char if char in r".^$*+?()[]{}|\/" else char for char in word)


def _any_case(word: str) -> str:
    """`word` matched without regard to case, without the (?i) flag ECMA-262 lacks."""
    return "".join(f"[{char.upper()}{char.lower()}]" if char.isalpha() else _escape(char) for char in word)


def _alternatives(words: Any) -> str:
    return "(?:" + "|".join(_escape(word) for word in words) + ")"


def _described(schema: dict[str, Any], shape: Shape) -> dict[str, Any]:
    return {"description": shape.description, **schema} if shape.description else schema


def _postfix_version_pattern() -> str:
    from pfcheck.policy.validate import supported_postfix_versions

    by_major: dict[str, list[str]] = {}
    for version in supported_postfix_versions():
        major, _, minor = version.partition(".")
        by_major.setdefault(major, []).append(minor)
    # Leading zeros: the validator compares numbers ("03.07" is 3.7).
    releases = "|".join(f"0*{major}\\.0*{_alternatives(minors)}" for major, minors in by_major.items())
    return rf"^\s*(?:{releases})(?:\.[0-9]+)?\s*$"


class _Generator:
    def __init__(self, specs: Mapping[str, RuleSpec]) -> None:
        self.specs = specs
        self.definitions: dict[str, Any] = {}

    def shape(self, shape: Shape) -> dict[str, Any]:  # noqa: C901 - one branch per shape kind
        if isinstance(shape, Record):
            return _described(self.record(shape), shape)
        if isinstance(shape, ListOf):
            listed: dict[str, Any] = {"type": "array" if shape.min_items else ["array", "null"],
                                      "items": self.shape(shape.item)}
            if shape.min_items:
                listed["minItems"] = shape.min_items
            return _described(listed, shape)
        if isinstance(shape, MapOf):
            return _described({"type": ["object", "null"], "propertyNames": self.shape(shape.key),
                               "additionalProperties": self.shape(shape.value)}, shape)
        if isinstance(shape, OneOrList):
            item = self.shape(shape.item)
            many: dict[str, Any] = {"type": "array", "minItems": 1, "items": item}
            if shape.exclusive:
                many["not"] = {"allOf": [{"contains": {"const": shape.exclusive}},
                                         {"contains": {"enum": list(shape.conflicts)}}]}
            return _described({"anyOf": [item, many]}, shape)
        if isinstance(shape, RuleTable):
            return _described(self.rules(), shape)
        return _described(self.leaf(shape), shape)

    def leaf(self, shape: Shape) -> dict[str, Any]:  # noqa: C901 - one branch per shape kind
        if isinstance(shape, Word):
            return {"type": "string", "enum": list(shape.words())}
        if isinstance(shape, AccessResult):
            return {"type": ["string", "boolean"], "examples": list(ACCESS_RESULT_EXAMPLES)}
        if isinstance(shape, PostfixValue):
            return {"type": ["string", "boolean"]}
        if isinstance(shape, PathGlob):
            return {"type": "string", "pattern": r"\S",
                    "allOf": [{"not": {"pattern": pattern}} for pattern in _GLOB_REFUSALS]}
        if isinstance(shape, Date):
            return {"type": "string", "pattern": r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$"}
        if isinstance(shape, ServiceName):
            return {"type": "string", "pattern": rf"^\s*\S+/{_alternatives(shape.types)}\s*$"}
        if isinstance(shape, RuleRef):
            return {"type": "string", "anyOf": [{"enum": self.rule_words()}, {"pattern": self.code_pattern()}]}
        if isinstance(shape, SchemaVersion):
            return {"type": "integer", "const": SCHEMA_VERSION}
        if isinstance(shape, PostfixVersion):
            from pfcheck.policy.validate import supported_postfix_versions

            return {"type": "string", "pattern": _postfix_version_pattern(),
                    "examples": list(supported_postfix_versions())}
        if isinstance(shape, TableKey):
            from pfcheck.postfix.tables import KNOWN_TYPES

            return {"type": "string",
                    "pattern": rf"^\s*(?:{_any_case('proxy')}:)*{_alternatives(sorted(KNOWN_TYPES))}:.*\S"}
        if isinstance(shape, EndpointKey):
            return {"type": "string", "pattern": rf"^\s*(?:\{{\s*)?{_alternatives(shape.types)}:."}
        if isinstance(shape, Network):
            return {"type": "string", "pattern": _NETWORK}
        if isinstance(shape, Flag):
            return {"anyOf": [{"type": "boolean"},
                              {"type": "string", "pattern": "^(?:" + "|".join(
                                  _any_case(word) for word in ("yes", "no", "true", "false")) + ")$"}]}
        if isinstance(shape, WholeNumber):
            return {"type": "integer"}
        if isinstance(shape, Text):
            return {"type": "string", "pattern": r"\S"}
        raise TypeError(f"no JSON Schema for {type(shape).__name__}")  # a new shape kind needs a branch

    def record(self, shape: Record) -> dict[str, Any]:
        schema: dict[str, Any] = {
            # null counts as an empty mapping, which only satisfies a record nothing is required of.
            "type": "object" if shape.required else ["object", "null"],
            "properties": {key: self.shape(field) for key, field in shape.fields.items()},
            "additionalProperties": False,
        }
        if shape.required:
            schema["required"] = list(shape.required)
        return schema

    def rule_words(self) -> list[str]:
        return [word for spec in self.specs.values() for word in (spec.code, spec.name)]

    def code_pattern(self) -> str:
        return "^(?:" + "|".join(_any_case(code) for code in self.specs) + ")$"

    def rules(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        patterns: dict[str, Any] = {}
        for code, spec in self.specs.items():
            entry = self.record(rule_entry(spec))
            entry["description"] = f"{spec.name}: {spec.summary}" if spec.summary else spec.name
            self.definitions[code] = entry
            reference = {"$ref": f"#/definitions/{code}"}
            properties[code] = properties[spec.name] = reference
            patterns[f"^{_any_case(code)}$"] = reference  # codes match in any case
        return {"type": ["object", "null"], "properties": properties, "patternProperties": patterns,
                "additionalProperties": False}


def policy_schema(specs: Mapping[str, RuleSpec]) -> dict[str, Any]:
    """The JSON Schema of a policy over the rule registry `specs`."""
    generator = _Generator(specs)
    body = generator.shape(POLICY)
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_URL,
        "title": "pfcheck policy (.pfcheck.yaml)",
        **body,
        "definitions": generator.definitions,
    }


def schema_text(specs: Mapping[str, RuleSpec]) -> str:
    """The schema as `pfcheck schema` prints it and the committed file holds: stable order
    (the shape table's, then the registry's), two-space indent, a final newline."""
    return json.dumps(policy_schema(specs), indent=2, ensure_ascii=False) + "\n"


def registry_schema_text() -> str:
    """`schema_text()` over pfcheck's own rule registry, each rule described by its summary."""
    from dataclasses import replace

    from pfcheck.policy.model import rule_specs
    from pfcheck.rules import RULES, summary

    specs = {code: replace(spec, summary=summary(RULES[code])) for code, spec in rule_specs(RULES).items()}
    return schema_text(specs)
