"""The policy's JSON Schema (pfcheck/policy/schema.py) against the validator it is generated
beside: every valid policy the project ships or tests passes both, every invalid policy the
test suite uses is refused by both (except the listed ones a schema cannot express), and
random mutations of a valid policy are refused by both."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfcheck.policy import PolicyError, default_policy, parse_policy
from pfcheck.policy.model import rule_specs
from pfcheck.policy.schema import SCHEMA_FILE_NAME, SCHEMA_URL, policy_schema, registry_schema_text
from pfcheck.policy.yaml_safe import (
    TAG_BOOL, TAG_FLOAT, TAG_INT, TAG_MAP, TAG_NULL, TAG_SEQ, TAG_TIMESTAMP, compose, decode_policy_text, node_tag,
)
from pfcheck.rules import RULES

from tests.engine import test_assume, test_compliance, test_policy, test_roles

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "pfcheck" / "policy" / SCHEMA_FILE_NAME
MODELINE = "# yaml-language-server: $schema="


def _validator(rules: Mapping[str, Any]) -> jsonschema.Draft7Validator:
    schema = policy_schema(rule_specs(rules))
    return jsonschema.Draft7Validator(schema)


REAL = _validator(RULES)
TEST_REGISTRY = _validator(test_policy.RULES)


def as_editor_data(text: str) -> Any:
    """The policy as an editor's YAML 1.2 reader hands it to the schema: plain JSON data. A
    date is a string there (YAML 1.2's core schema has no timestamps)."""
    root = compose(decode_policy_text(text.encode("utf-8"), None), None)
    return None if root is None else _data(root)


def _data(node: Any) -> Any:
    tag = node_tag(node)
    if tag == TAG_MAP:
        # A key that is not a string (`? [a]`) becomes its text, as editors show it.
        return {str(_data(key)): _data(value) for key, value in node.value}
    if tag == TAG_SEQ:
        return [_data(item) for item in node.value]
    if tag == TAG_NULL:
        return None
    if tag == TAG_BOOL:
        return node.value.lower() == "true"
    if tag == TAG_INT:
        text = node.value.replace("_", "")
        try:
            return int(text, 0)
        except ValueError:
            return int(text, 10)
    if tag == TAG_FLOAT:
        return float(node.value)
    if tag == TAG_TIMESTAMP:
        return str(node.value)
    return str(node.value)


def schema_errors(validator: jsonschema.Draft7Validator, data: Any) -> list[str]:
    return [error.message for error in validator.iter_errors(data)]


# ------------------------------------------------------------------------------------------
# The schema itself


def test_the_schema_is_a_valid_draft_07_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#" and schema["$id"] == SCHEMA_URL
    # Every rule and every option of the registry, by code and by name.
    rules = schema["properties"]["rules"]["properties"]
    for code, module in RULES.items():
        assert rules[code] == rules[module.NAME] == {"$ref": f"#/definitions/{code}"}
        options = schema["definitions"][code]["properties"]["options"]["properties"]
        assert set(options) == set(module.OPTIONS)


def test_the_committed_schema_is_the_generated_one() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == registry_schema_text(), (
        "regenerate it: python -m pfcheck schema > pfcheck/policy/pfcheck-policy.schema.json")


def test_pfcheck_schema_prints_it_also_after_global_options() -> None:
    for argv in (["schema"], ["--policy", "builtin", "-q", "schema"], ["schema", "--format", "json"]):
        result = subprocess.run([sys.executable, "-m", "pfcheck", *argv], cwd=ROOT, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout == SCHEMA_FILE.read_text(encoding="utf-8") and result.stdout.endswith("}\n")
    wrong = subprocess.run([sys.executable, "-m", "pfcheck", "schema", "--format", "yaml"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120, check=False)
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1
    listed = subprocess.run([sys.executable, "-m", "pfcheck", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert "'pfcheck schema'" in " ".join(listed.stdout.split())


def test_the_schema_builds_without_ruamel_and_a_plain_run_does_not_build_it(tmp_path: Path) -> None:
    code = ("import sys\nsys.modules['ruamel'] = None\nsys.modules['ruamel.yaml'] = None\n"
            "from pfcheck.policy.schema import registry_schema_text\nassert registry_schema_text()\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode == 0, result.stderr
    (tmp_path / ".git").mkdir()
    (tmp_path / "main.cf").write_text("mynetworks = 127.0.0.0/8\n", encoding="utf-8")
    code = ("import sys\nfrom pfcheck.cli import main\nmain(['.'])\n"
            "assert 'pfcheck.policy.schema' not in sys.modules and 'jsonschema' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------------------------------
# Valid policies: both accept them


def _doc_policies() -> Iterator[tuple[str, str]]:
    """```yaml blocks of the docs with a top-level `version: 1`: whole policies."""
    for path in sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")]):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"```ya?ml\n(.*?)```", text, re.S):
            if re.search(r"^version: 1$", match.group(1), re.M):
                yield f"{path.relative_to(ROOT)}:{text[:match.start()].count(chr(10)) + 2}", match.group(1)


def _valid_policies() -> list[tuple[str, str, Mapping[str, Any]]]:
    found = [(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"), RULES)
             for path in sorted(ROOT.glob("examples/**/.pfcheck.y*ml"))]
    found.append(("pfcheck/policy/default.yaml", (ROOT / "pfcheck/policy/default.yaml").read_text(), RULES))
    found += [(where, text, RULES) for where, text in _doc_policies()]
    found += [("test_policy.REALISTIC", test_policy.REALISTIC, test_policy.RULES),
              ("test_assume.ASSUME", test_assume.ASSUME, RULES)]
    return found


VALID = _valid_policies()


def test_the_valid_policies_are_found() -> None:
    names = [where for where, _, _ in VALID]
    assert "examples/.pfcheck.yaml" in names and any(name.startswith("docs/policy.md") for name in names)
    assert any(name.startswith("docs/compliance.md") for name in names)


@pytest.mark.parametrize(("where", "text", "rules"), VALID, ids=[where for where, _, _ in VALID])
def test_valid_policies_pass_the_validator_and_the_schema(where: str, text: str, rules: Mapping[str, Any]) -> None:
    parse_policy(text, rules, path=Path("p.yaml"), base=default_policy(rules), skip_unknown_rules=where.endswith("default.yaml"))
    assert schema_errors((REAL if rules is RULES else TEST_REGISTRY), as_editor_data(text)) == []


def test_shipped_example_policies_name_the_schema() -> None:
    for path in sorted(ROOT.glob("examples/**/.pfcheck.y*ml")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(MODELINE), path
        assert (path.parent / first[len(MODELINE):]).resolve() == SCHEMA_FILE.resolve(), path
    for where, text in _doc_policies():
        if "allow_single_addresses: true" not in text:  # the built-in policy's listing is default.yaml
            assert text.startswith(MODELINE + SCHEMA_URL + "\n"), where


@pytest.mark.parametrize("network", [
    "127.0.0.0/8", "192.0.2.1", "[::1]", "[::1]/128", "[2001:db8::]/32", "[2001:db8::/32]", "10.0.0.0/08",
    " 10.0.0.0/8 ", "[::ffff:192.0.2.1]", "[192.0.2.1]",
] + [network for network, _ in test_policy.test_good_networks.pytestmark[0].args[1]])
def test_every_network_the_validator_accepts_matches_the_pattern(network: str) -> None:
    policy = {"version": 1, "rules": {"PF201": {"options": {"allowed": [network]}}}}
    parse_policy(json.dumps(policy), RULES)
    assert schema_errors(REAL, policy) == []


# ------------------------------------------------------------------------------------------
# Invalid policies of the test suite: both refuse them


def _cases(test: Any, template: str = "{}") -> list[str]:
    """The policy texts of a parametrized test's table (its first argument)."""
    return [template.format(values[0]) for values in test.pytestmark[0].args[1]
            if len(values) < 2 or values[1] is not None]


def _invalid_policies() -> list[tuple[str, str, Mapping[str, Any]]]:
    pf999 = "version: 1\nrules:\n  PF999:\n    options:\n{}"
    allowed = "version: 1\nrules:\n  PF201:\n    options:\n      allowed: ['{}']\n"
    tables: list[tuple[str, Any, str, Mapping[str, Any]]] = [
        ("policy", test_policy.test_error_messages_and_positions, "{}", test_policy.RULES),
        ("postfix_version", test_policy.test_postfix_version_errors, "{}", test_policy.RULES),
        ("network", test_policy.test_bad_networks, allowed, test_policy.RULES),
        ("value", test_policy.test_value_type_errors, pf999, test_policy.RULES),
        ("waiver", test_policy.test_waiver_errors, "version: 1\nwaivers:\n{}", test_policy.RULES),
        ("assume", test_assume.test_assume_errors_and_positions, "{}", RULES),
        ("roles", test_roles.test_role_errors_are_located, "version: 1\n{}", RULES),
        ("profiles", test_compliance.test_profile_errors, "version: 1\n{}", RULES),
    ]
    found = [(f"{name}:{text!r}", text, rules) for name, test, template, rules in tables
             for text in _cases(test, template)]
    found += [("network:list", "version: 1\nrules:\n  PF201:\n    options:\n      allowed: 127.0.0.0/8\n",
               test_policy.RULES),
              ("network:number", "version: 1\nrules:\n  PF201:\n    options:\n      allowed: [10, '127.0.0.1']\n",
               test_policy.RULES)]
    return found


INVALID = _invalid_policies()

#: Invalid policies a JSON Schema cannot refuse, each with the reason (docs/policy.md, "What
#: the schema does not check"). Keyed by a fragment of the policy text.
YAML_LEVEL = "the YAML text itself is refused before there is any data to check (the editor's YAML parser reports it)"
CANNOT: dict[str, str] = {
    "rules: {\n": YAML_LEVEL,
    "---\nversion: 1": YAML_LEVEL,
    "version: 1\nversion: 1": "duplicate keys: the editor's YAML parser reports them, the data has one key",
    "PF101: {}\n  vrfy-enabled: {}": "one rule named by code and by name: a cross-key check",
    '"mysql:/x.cf": {results: [OK]}\n    "mysql:/x.cf"': "duplicate keys (as above)",
    '"proxy:mysql:/x.cf"': "two keys naming the same table after proxy: is dropped: a cross-key check",
    "10.0.0.1/8": "host bits set: arithmetic on the address",
    "[2001:db8::1]/32": "host bits set: arithmetic on the address",
    "2026-02-30": "a date that does not exist: calendar arithmetic",
    "value: 2026-01-01": "an unquoted date is a timestamp in pfcheck's reading but a string in YAML 1.2's "
                         "core schema, which editors use",
    "results: [REJCT]": "access(5) result grammar (result_problem()): editors get the action words as examples",
    'results: ["554"]': "access(5) result grammar (result_problem())",
    "check_client_access hash:/y": "access(5) result grammar (result_problem())",
    "results: [FILTER]": "access(5) result grammar (result_problem())",
}


def _cannot(text: str) -> Optional[str]:
    return next((reason for fragment, reason in CANNOT.items() if fragment in text), None)


@pytest.mark.parametrize(("where", "text", "rules"), INVALID, ids=[where for where, _, _ in INVALID])
def test_invalid_policies_are_refused_by_the_validator_and_the_schema(where: str, text: str,
                                                                       rules: Mapping[str, Any]) -> None:
    with pytest.raises(PolicyError):
        parse_policy(text, rules, path=Path("p.yaml"), base=default_policy(rules))
    reason = _cannot(text)
    try:
        data = as_editor_data(text)
    except PolicyError:
        assert reason == YAML_LEVEL, f"{where}: YAML-level refusal not listed in CANNOT"
        return
    errors = schema_errors((REAL if rules is RULES else TEST_REGISTRY), data)
    if reason is None:
        assert errors, f"{where}: the schema accepts an invalid policy"
    else:
        assert not errors, f"{where}: listed as beyond a schema ({reason}), but the schema refuses it: unlist it"


def test_the_invalid_cases_are_collected() -> None:
    assert len(INVALID) > 80
    unused = [fragment for fragment in CANNOT if not any(fragment in text for _, text, _ in INVALID)]
    assert not unused, f"CANNOT entries that match no invalid case: {unused}"
    assert len(CANNOT) < len(INVALID) / 4  # most refusals are the schema's too


# ------------------------------------------------------------------------------------------
# Mutations of a valid policy: both refuse them

BASE: dict[str, Any] = {
    "version": 1,
    "postfix_version": "3.7",
    "fail_on": "warning",
    "suppressions": "require-reason",
    "rules": {
        "PF101": {"severity": "warning"},
        "mynetworks-outside-policy": {"severity": "error",
                                      "options": {"allowed": ["127.0.0.0/8", "[::1]/128"],
                                                  "allow_single_addresses": True}},
    },
    "waivers": [{"rule": "PF201", "path": "hosts/*/main.cf", "service": "smtp/inet", "reason": "DMZ",
                 "expires": "2030-12-31"}],
    "exclude": ["templates/**"],
    "roles": {"hosts/mx*": ["mx", "submission"], "hosts/null": "send-only"},
    "profiles": ["stig"],
    "assume": {"tables": {"mysql:/etc/postfix/x.cf": {"results": ["REJECT", "DUNNO"]}},
               "policy_services": {"inet:127.0.0.1:10023": {"results": ["DUNNO"]}}},
}

#: Positions holding a closed word list: a made-up word there is wrong.
WORD_PATHS = {("fail_on",), ("suppressions",), ("rules", "PF101", "severity"), ("profiles", 0),
              ("rules", "mynetworks-outside-policy", "severity"), ("roles", "hosts/null"), ("roles", "hosts/mx*", 1)}


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield prefix, data
    children = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in children:
        yield from _paths(value, (*prefix, key))


PATHS = [(path, value) for path, value in _paths(BASE)]


def _mutated(path: tuple[Any, ...], kind: str) -> Any:
    data = json.loads(json.dumps(BASE))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    target = parent[path[-1]] if path else data
    if kind == "unknown key" and isinstance(target, dict):
        target["zz-unknown"] = 12345
    elif kind == "bad word" and path in WORD_PATHS:
        parent[path[-1]] = "zz-bogus"
    elif path:  # a wrong type: a number for a container, a mapping for a scalar
        parent[path[-1]] = 12345 if isinstance(target, (dict, list)) else {"zz": 1}
    else:
        data = ["version", 1]
    return data


def test_the_mutation_base_is_valid() -> None:
    parse_policy(json.dumps(BASE), RULES)
    assert schema_errors(REAL, BASE) == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(PATHS))), st.sampled_from(["unknown key", "bad word", "wrong type"]))
def test_mutations_of_a_valid_policy_are_refused_by_both(index: int, kind: str) -> None:
    data = _mutated(PATHS[index][0], kind)
    with pytest.raises(PolicyError):
        parse_policy(json.dumps(data), RULES)  # JSON is YAML 1.2
    assert schema_errors(REAL, data), (kind, PATHS[index][0])
