"""The YAML policy: strict validation with exact positions, the built-in default, discovery."""
from __future__ import annotations

import datetime
import ipaddress
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfcheck.findings import Severity
from pfcheck.policy import (
    BOOLEAN,
    INTEGER,
    MAX_EXPANDED_NODES,
    NETWORKS,
    STRING,
    STRINGS,
    NetworkList,
    OptionSpec,
    Policy,
    PolicyError,
    PolicyResolver,
    RuleSpec,
    builtin_policy_text,
    default_policy,
    find_policy,
    load_policy,
    parse_policy,
    parse_policy_network,
    supported_postfix_versions,
)

# A registry shaped like the real one (codes and names are the public interface); PF999 exists
# only here, to exercise the option kinds no real rule has yet.
PF201_OPTIONS = {
    "allowed": OptionSpec(NETWORKS, ["127.0.0.0/8", "[::1]/128"]),
    "allow_single_addresses": OptionSpec(BOOLEAN, False),
}
RULES: dict[str, RuleSpec] = {
    spec.code: spec
    for spec in (
        RuleSpec("PF000", "config-error", Severity.ERROR),
        RuleSpec("PF101", "vrfy-enabled", Severity.ERROR),
        RuleSpec("PF201", "mynetworks-outside-policy", Severity.ERROR, PF201_OPTIONS),
        RuleSpec("PF202", "mynetworks-implicit", Severity.WARNING),
        RuleSpec("PF203", "mynetworks-widened", Severity.WARNING),
        RuleSpec("PF301", "open-relay", Severity.ERROR),
        RuleSpec("PF302", "relay-unproven", Severity.WARNING),
        RuleSpec("PF303", "relay-guard-fails", Severity.ERROR),
        RuleSpec("PF410", "banner-discloses-software", Severity.WARNING),  # off in default.yaml
        RuleSpec("PF304", "relay-opened", Severity.ERROR),
        RuleSpec("PF001", "config-warning", Severity.WARNING),
        RuleSpec("PF900", "not-checked", Severity.WARNING),
        # Turned off in default.yaml (folklore rules): a strict read of it must know them.
        RuleSpec("PF706", "helo-not-required", Severity.WARNING),
        RuleSpec("PF707", "strict-envelopes-off", Severity.WARNING),
        RuleSpec("PF708", "biff-enabled", Severity.WARNING),
        RuleSpec("PF709", "message-size-unlimited", Severity.WARNING),
        RuleSpec(
            "PF999",
            "test-only",
            Severity.INFO,
            {
                "value": OptionSpec(STRING, "no"),
                "values": OptionSpec(STRINGS, []),
                "limit": OptionSpec(INTEGER, 24),
                "strict": OptionSpec(BOOLEAN, True),
            },
        ),
    )
}


#: Folklore rules default.yaml turns off (research/rules.md marks them F).
OFF_IN_BUILTIN_POLICY = frozenset({"PF410", "PF609", "PF706", "PF707", "PF708", "PF709"})


def parse(text: str | bytes, **kwargs: Any) -> Policy:
    return parse_policy(text, RULES, path=Path("p.yaml"), base=default_policy(RULES), **kwargs)


def error_of(text: str | bytes) -> str:
    with pytest.raises(PolicyError) as caught:
        parse(text)
    message = str(caught.value)
    assert "\n" not in message, "errors are one line"
    return message


# ------------------------------------------------------------------------------------------
# A realistic policy, end to end

REALISTIC = """\
version: 1
postfix_version: "3.7"            # selects defaults and evaluation order
fail_on: warning
rules:
  PF101: {severity: warning}
  mynetworks-outside-policy:
    severity: error
    options:
      allowed: ["127.0.0.0/8", "[::1]/128", "10.20.0.0/16"]
  PF302: {severity: off}
suppressions: require-reason
waivers:
  - rule: PF201
    path: hosts/legacy-mx/main.cf
    service: smtp/inet
    reason: "DMZ relay; migration OPS-123"
    expires: 2026-12-31
  - rule: open-relay
    path: "labs/**"
    reason: lab hosts, never reachable
"""


def test_realistic_policy_round_trip() -> None:
    policy = parse(REALISTIC)
    assert policy.version == 1
    assert policy.postfix_version == "3.7"
    assert policy.fail_on is Severity.WARNING
    assert policy.suppressions == "require-reason"
    assert policy.severity("PF101") is Severity.WARNING
    assert policy.severity("vrfy-enabled") is Severity.WARNING
    assert policy.severity("PF302") is None and not policy.enabled("relay-unproven")
    assert policy.severity("PF301") is Severity.ERROR  # not mentioned: default severity
    assert policy.options("PF201")["allowed"] == ("127.0.0.0/8", "[::1]/128", "10.20.0.0/16")
    # An options block replaces the inherited one: what it leaves out takes the rule's default.
    assert policy.options("PF201")["allow_single_addresses"] is False
    first, second = policy.waivers
    assert (first.rule, first.path, first.service, first.reason, first.expires) == (
        "PF201",
        "hosts/legacy-mx/main.cf",
        "smtp/inet",
        "DMZ relay; migration OPS-123",
        datetime.date(2026, 12, 31),
    )
    assert (first.line, first.column) == (13, 5)
    assert second.rule == "PF301" and second.expires is None and second.path == "labs/**"
    assert policy.fails(Severity.WARNING) and not policy.fails(Severity.INFO)
    assert policy.source_description == "p.yaml"
    data = policy.as_data()
    assert data["rules"]["PF201"]["options"]["allowed"] == ["127.0.0.0/8", "[::1]/128", "10.20.0.0/16"]
    assert data["rules"]["PF302"]["severity"] == "off"
    assert data["waivers"][0]["expires"] == "2026-12-31"


def test_unmentioned_keys_and_rules_keep_the_builtin_values() -> None:
    policy = parse("version: 1\nrules:\n  PF201: {severity: warning}\n")
    builtin = default_policy(RULES)
    assert policy.postfix_version == builtin.postfix_version == "3.7"
    assert policy.fail_on is Severity.ERROR and policy.suppressions == "allow"
    assert policy.severity("PF201") is Severity.WARNING
    # No options block: the built-in options stay (private ranges, single addresses allowed).
    assert policy.options("PF201") == builtin.options("PF201")
    assert policy.options("PF201")["allow_single_addresses"] is True
    assert policy.waivers == ()


def test_load_policy_from_file_and_builtin(tmp_path: Path) -> None:
    path = tmp_path / ".pfcheck.yaml"
    path.write_text(REALISTIC, encoding="utf-8")
    policy = load_policy(path, RULES)
    assert policy.path == path and policy.base_dir == tmp_path
    assert policy.severity("PF101") is Severity.WARNING
    builtin = load_policy(None, RULES)
    assert builtin.path is None and builtin.source_description == "built-in default policy"


# ------------------------------------------------------------------------------------------
# Errors, each with its exact position


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'version: 1\npostfix_versoin: "3.7"\n',
            'p.yaml:2:1: unknown key "postfix_versoin" (did you mean "postfix_version"?)',
        ),
        ("version: 1\nrulez: {}\n", 'p.yaml:2:1: unknown key "rulez" (did you mean "rules"?)'),
        ("version: 1\nzzz: 1\n", 'p.yaml:2:1: unknown key "zzz"'),
        (
            "version: 1\nrules:\n  PF101: {severity: error, severty: info}\n",
            'p.yaml:3:28: unknown key "severty" in rule PF101 (vrfy-enabled) (did you mean "severity"?)',
        ),
        (
            "version: 1\nrules:\n  PF2O1: {severity: error}\n",
            'p.yaml:3:3: unknown rule "PF2O1" (did you mean "PF201"?)',
        ),
        (
            "version: 1\nrules:\n  vrfy-enable: {severity: error}\n",
            'p.yaml:3:3: unknown rule "vrfy-enable" (did you mean "vrfy-enabled"?)',
        ),
        (
            "version: 1\nrules:\n  PF201:\n    options:\n      alowed: []\n",
            'p.yaml:5:7: unknown option "alowed" for rule PF201 (mynetworks-outside-policy) '
            '(did you mean "allowed"?)',
        ),
        (
            "version: 1\nrules:\n  PF101:\n    options: {x: 1}\n",
            "p.yaml:4:15: rule PF101 (vrfy-enabled) has no options",
        ),
        (
            "version: 1\nrules:\n  PF101: {severity: fatal}\n",
            'p.yaml:3:21: severity of PF101 (vrfy-enabled) must be one of error, warning, info, off, not "fatal"',
        ),
        (
            "version: 1\nrules:\n  PF101: {severity: warn}\n",
            'p.yaml:3:21: severity of PF101 (vrfy-enabled) must be one of error, warning, info, off, '
            'not "warn" (did you mean "warning"?)',
        ),
        (
            "version: 1\nrules:\n  PF101: warning\n",
            'p.yaml:3:10: rule PF101 (vrfy-enabled) must be a mapping: write "{severity: warning}"',
        ),
        ("version: 1\nrules: [PF101]\n", "p.yaml:2:8: rules must be a mapping (key: value), found a list"),
        ("version: 1\nfail_on: 3\n", "p.yaml:2:10: fail_on must be one of error, warning, info, found a number '3'"),
        (
            "version: 1\nfail_on: errors\n",
            'p.yaml:2:10: fail_on must be one of error, warning, info, not "errors" (did you mean "error"?)',
        ),
        (
            "version: 1\nsuppressions: forbid\n",
            'p.yaml:2:15: suppressions must be one of allow, require-reason, deny, not "forbid"',
        ),
        ("- version: 1\n", "p.yaml:1:1: a policy must be a mapping (key: value), found a list"),
        ("just text\n", "p.yaml:1:1: a policy must be a mapping (key: value), found a string"),
        ("", 'p.yaml:1:1: policy file is empty (a policy needs at least "version: 1")'),
        ("# only a comment\n\n", 'p.yaml:1:1: policy file is empty (a policy needs at least "version: 1")'),
        ("rules: {}\n", 'p.yaml:1:1: missing key "version" (write "version: 1" as the first line)'),
        ("version: 2\n", "p.yaml:1:10: unsupported policy version 2 (this pfcheck understands version 1)"),
        (
            "extends: builtin:strict\nversion: 2\n",
            "p.yaml:2:10: unsupported policy version 2 (this pfcheck understands version 1)",
        ),
        ("version: '1'\n", "p.yaml:1:10: version must be the number 1, found a string '1'"),
        ("version: 1\nversion: 1\n", 'p.yaml:2:1: duplicate key "version" (first at line 1)'),
        (
            "version: 1\nrules:\n  PF101: {}\n  vrfy-enabled: {}\n",
            "p.yaml:4:3: rule PF101 (vrfy-enabled) is configured twice (first at line 3)",
        ),
        ("version: 1\n? [a]\n: b\n", "p.yaml:2:3: keys must be plain words, found a list"),
        ("version: 1\n<<: {fail_on: info}\n", 'p.yaml:2:1: YAML merge keys ("<<") are not supported in a policy'),
        ("version: 1\nrules: {\n", "p.yaml:3:1: invalid YAML: while parsing a flow node: expected the node content, but found '<stream end>'"),
        ("version: 1\n---\nversion: 1\n", "p.yaml:2:1: invalid YAML: expected a single document in the stream: but found another document"),
    ],
)
def test_error_messages_and_positions(text: str, expected: str) -> None:
    assert error_of(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'version: 1\npostfix_version: "4.0"\n',
            'p.yaml:2:18: unsupported postfix_version "4.0" (supported: ',
        ),
        (
            "version: 1\npostfix_version: 3.10\n",
            'p.yaml:2:18: postfix_version: quote Postfix values: write "3.10" not 3.10 '
            "(unquoted, 3.10 reads as the number 3.1)",
        ),
        ("version: 1\npostfix_version: 3\n", 'p.yaml:2:18: postfix_version: quote Postfix values: write "3" not 3'),
        ('version: 1\npostfix_version: "three"\n', 'p.yaml:2:18: unsupported postfix_version "three"'),
    ],
)
def test_postfix_version_errors(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


def test_postfix_version_lists_supported_versions() -> None:
    message = error_of('version: 1\npostfix_version: "1.1"\n')
    supported = supported_postfix_versions()
    assert "3.7" in supported
    assert message.endswith("(supported: " + ", ".join(supported) + ")")
    for version in supported:
        assert parse(f'version: 1\npostfix_version: "{version}"\n').postfix_version == version
    assert parse('version: 1\npostfix_version: "3.7.11"\n').postfix_version == "3.7.11"


# ------------------------------------------------------------------------------------------
# Networks in Postfix syntax


def allowed_error(item: str) -> str:
    return error_of(f"version: 1\nrules:\n  PF201:\n    options:\n      allowed: ['{item}']\n")


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "2001:db8::/32",
            '"2001:db8::/32": IPv6 networks must be written in brackets, as Postfix requires '
            '(write "[2001:db8::]/32"; unbracketed, Postfix reads it as a lookup table)',
        ),
        ("::1", '"::1": IPv6 networks must be written in brackets, as Postfix requires (write "[::1]";'),
        ("10.0.0.1/8", '"10.0.0.1/8": host bits are set; did you mean "10.0.0.0/8"?'),
        ("[2001:db8::1]/32", '"[2001:db8::1]/32": host bits are set; did you mean "[2001:db8::]/32"?'),
        ("10.0.0.0/33", '"10.0.0.0/33": prefix length 33 is longer than 32'),
        ("10.0.0.0/x", '"10.0.0.0/x": bad prefix length "x"'),
        ("10.0.0.0/", '"10.0.0.0/": missing prefix length after "/"'),
        ("10.0.0.256", '"10.0.0.256": not an IPv4 or IPv6 address'),
        ("mail.example.com", '"mail.example.com": host and domain names are not allowed here'),
        ("cidr:/etc/postfix/net", '"cidr:/etc/postfix/net": files and lookup tables are not allowed here'),
        ("/etc/postfix/networks", '"/etc/postfix/networks": files and lookup tables are not allowed here'),
        ("!10.0.0.0/8", '"!10.0.0.0/8": exclusions ("!") are not allowed here'),
        ("[::1", '"[::1": missing "]" after "["'),
        ("[::1]x", '"[::1]x": unexpected text after "]"'),
    ],
)
def test_bad_networks(item: str, message: str) -> None:
    assert allowed_error(item).startswith("p.yaml:5:17: option allowed: " + message)


def test_network_list_type_errors() -> None:
    text = "version: 1\nrules:\n  PF201:\n    options:\n      allowed: [10, '127.0.0.1']\n"
    assert error_of(text) == "p.yaml:5:17: option allowed: quote Postfix values: write '10' not 10"
    text = "version: 1\nrules:\n  PF201:\n    options:\n      allowed: 127.0.0.0/8\n"
    assert error_of(text) == "p.yaml:5:16: option allowed must be a list, found a string"


@pytest.mark.parametrize(
    ("text", "network"),
    [
        ("127.0.0.1", "127.0.0.1/32"),
        ("192.0.2.0/24", "192.0.2.0/24"),
        ("[::1]", "::1/128"),
        ("[2001:db8::]/32", "2001:db8::/32"),
        ("[2001:db8::/32]", "2001:db8::/32"),  # Postfix also strips [] from [addr/len]
        ("[192.0.2.1]", "192.0.2.1/32"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("[::]/0", "::/0"),
    ],
)
def test_good_networks(text: str, network: str) -> None:
    assert parse_policy_network(text) == ipaddress.ip_network(network)


def network_allowed(network: str, allowed: list[str], allow_single_addresses: bool = False) -> bool:
    """PF201's test for a mynetworks of one network: no witness outside the union of `allowed`
    (plus the list's single addresses with `allow_single_addresses`)."""
    from pfcheck.rules.pf201_mynetworks_outside_policy import single_addresses

    networks = networks_module()
    trusted = networks.parse_address_list(network, param="mynetworks", resolver=None)
    if allow_single_addresses:
        allowed = list(allowed) + single_addresses(trusted)
    return networks.witness_outside(trusted, allowed) is None


def test_network_allowed_is_union_containment() -> None:
    allowed = ["10.0.0.0/9", "10.128.0.0/9"]
    assert network_allowed("10.0.0.0/8", allowed)  # covered by two halves
    assert not network_allowed("10.0.0.0/7", allowed)
    assert not network_allowed("[::]/0", allowed)  # other family
    assert not network_allowed("198.51.100.7/32", allowed)
    assert network_allowed("198.51.100.7/32", allowed, allow_single_addresses=True)
    assert not network_allowed("198.51.100.6/31", allowed, allow_single_addresses=True)


# ------------------------------------------------------------------------------------------
# YAML 1.1 vs 1.2 ("Norway problem"), value normalisation


def options_of(body: str) -> Any:
    return parse(f"version: 1\nrules:\n  PF999:\n    options:\n{body}").options("PF999")


def test_norway_yes_no_stay_strings_in_postfix_values() -> None:
    options = options_of("      value: yes\n      values: [NO, no, on, off, 'yes', true, false]\n")
    assert options["value"] == "yes"
    # YAML 1.2: NO/no/on/off are strings as written; the YAML booleans true/false become yes/no.
    assert options["values"] == ("NO", "no", "on", "off", "yes", "yes", "no")


def test_yaml_booleans_become_yes_no() -> None:
    assert options_of("      value: true\n")["value"] == "yes"
    assert options_of("      value: False\n")["value"] == "no"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("      value: 022\n", "p.yaml:5:14: option value: quote Postfix values: write '022' not 022"),
        ("      value: 3.7\n", "p.yaml:5:14: option value: quote Postfix values: write '3.7' not 3.7"),
        ("      value: 2026-01-01\n", "p.yaml:5:14: option value: quote Postfix values: write '2026-01-01'"),
        ("      values: [a, 25]\n", "p.yaml:5:19: option values: quote Postfix values: write '25' not 25"),
        ("      value: ~\n", "p.yaml:5:14: option value must be a string, found nothing (null)"),
        ("      limit: '24'\n", "p.yaml:5:14: option limit must be a whole number, found a string"),
        ("      limit: true\n", "p.yaml:5:14: option limit must be a whole number, found a boolean"),
        ("      strict: maybe\n", "p.yaml:5:15: option strict must be true or false, found a string 'maybe'"),
    ],
)
def test_value_type_errors(body: str, expected: str) -> None:
    assert error_of(f"version: 1\nrules:\n  PF999:\n    options:\n{body}").startswith(expected)


def test_boolean_options_accept_yes_no() -> None:
    assert options_of("      strict: no\n")["strict"] is False
    assert options_of("      strict: Yes\n")["strict"] is True
    assert options_of("      strict: false\n")["strict"] is False
    assert options_of("      limit: 16\n")["limit"] == 16
    # Defaults fill what the options block leaves out.
    assert options_of("      limit: 16\n")["value"] == "no"


def test_severity_off_is_a_string_in_yaml_1_2() -> None:
    policy = parse("version: 1\nrules:\n  PF101: {severity: off}\n  PF301: {severity: 'off'}\n")
    assert policy.severity("PF101") is None and policy.severity("PF301") is None


def test_yaml_1_1_directive_is_rejected() -> None:
    message = error_of("# policy\n%YAML 1.1\n---\nversion: 1\n")
    assert message.startswith("p.yaml:2:1: %YAML 1.1 directive: pfcheck reads policies as YAML 1.2 only")
    assert parse("%YAML 1.2\n---\nversion: 1\nrules: {PF101: {severity: off}}\n").severity("PF101") is None


# ------------------------------------------------------------------------------------------
# Hostile input: tags, aliases, encodings


def test_python_tags_are_rejected_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    text = f'version: 1\nx: !!python/object/apply:os.system ["touch {marker}"]\n'
    assert error_of(text) == 'p.yaml:2:4: YAML tag "!!python/object/apply:os.system" is not allowed in a policy'
    assert not marker.exists()
    assert error_of("version: !!python/object:object {}\n") == (
        'p.yaml:1:10: YAML tag "!!python/object:object" is not allowed in a policy'
    )
    assert error_of("version: 1\nfail_on: !custom error\n") == 'p.yaml:2:10: YAML tag "!custom" is not allowed in a policy'
    assert error_of("version: 1\nwaivers: !!set {a}\n") == 'p.yaml:2:10: YAML tag "!!set" is not allowed in a policy'


def test_explicit_str_tag_is_a_quote() -> None:
    assert parse('version: 1\npostfix_version: !!str 3.7\n').postfix_version == "3.7"


BILLION_LAUGHS = """\
version: 1
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_alias_bomb_fails_fast_with_one_line() -> None:
    started = time.monotonic()
    message = error_of(BILLION_LAUGHS)
    assert time.monotonic() - started < 2.0
    # Expanded sizes: a = 10, b = 91, c = 820, d = 7381, e = 66430, f = 597871: f (line 7) is
    # the first collection over the limit (100,000), reported at its anchor.
    assert message == f"p.yaml:7:4: YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes here (an alias bomb?)"


def test_alias_bomb_inside_a_valid_key_fails_the_same_way() -> None:
    bomb = BILLION_LAUGHS.replace("i: &i", "rules: {PF201: {options: {allowed: &i").rstrip() + "}}}\n"
    assert "alias bomb" in error_of(bomb)


def test_modest_aliases_are_fine() -> None:
    text = (
        "version: 1\n"
        "rules:\n"
        "  PF201: {options: {allowed: &nets ['127.0.0.0/8', '10.1.0.0/16']}}\n"
        "  PF999: {options: {values: *nets}}\n"
    )
    policy = parse(text)
    assert policy.options("PF999")["values"] == ("127.0.0.0/8", "10.1.0.0/16")


def test_recursive_alias_is_an_error() -> None:
    assert error_of("version: 1\nx: &a [*a]\n") == "p.yaml:2:4: recursive YAML alias (a node that contains itself)"


def test_deep_flow_nesting_fails_fast_before_ruamel_sees_it() -> None:
    # ruamel.yaml's scanner is quadratic in flow depth: 20,000 levels would take minutes.
    started = time.monotonic()
    message = error_of("version: 1\nx: " + "[" * 20000 + "]" * 20000 + "\n")
    assert time.monotonic() - started < 1.0
    assert message == "p.yaml:2:68: YAML nested deeper than 64 levels"
    nested_map = "version: 1\nx: " + "{a: " * 70 + "1" + "}" * 70 + "\n"
    assert error_of(nested_map) == "p.yaml:2:260: YAML nested deeper than 64 levels"


def test_brackets_in_quoted_and_plain_scalars_are_not_nesting() -> None:
    many = "[" * 100
    text = (
        "version: 1\n"
        "rules:\n"
        "  PF999:\n"
        "    options:\n"
        f"      value: a:b {many}  # {many}\n"
        f"      values: ['{many}', \"{many}\\\"\", \"it's\", 'it''s {many}']\n"
        f"# {many}\n"
    )
    options = parse(text).options("PF999")
    assert options["value"] == "a:b " + many
    assert options["values"] == (many, many + '"', "it's", "it's " + many)


def test_deep_block_nesting_is_one_line_error() -> None:
    text = "version: 1\nx:\n" + "".join(" " * level + f"k{level}:\n" for level in range(1, 1400))
    started = time.monotonic()
    message = error_of(text)
    assert time.monotonic() - started < 2.0
    assert message in ("p.yaml:1:1: invalid YAML: nesting is too deep", 'p.yaml:2:1: unknown key "x"')


def test_non_utf8_reports_the_byte_position() -> None:
    assert error_of(b"version: 1\nrules:\n  # caf\xe9\n") == "p.yaml:3:8: policy file is not UTF-8 text (byte 0xe9)"
    assert error_of("version: 1\n# héllo \udcff\n") == "p.yaml:2:9: policy file is not UTF-8 text (byte 0xff)"


def test_binary_and_utf16_files() -> None:
    assert error_of(b"version: 1\n\x00\x01\x02") == "p.yaml:2:1: policy file is binary (NUL byte), not YAML text"
    utf16 = "version: 1\n".encode("utf-16")
    assert error_of(utf16) == "p.yaml:1:1: policy file is UTF-16 text; save it as UTF-8"
    assert error_of("version: 1\nx: '\x07'\n") == "p.yaml:2:5: character U+0007 is not allowed in YAML"


def test_utf8_bom_is_accepted() -> None:
    assert parse(b"\xef\xbb\xbfversion: 1\n").version == 1


def test_oversized_file() -> None:
    text = "version: 1\n" + "# padding\n" * 120_000
    assert error_of(text) == "p.yaml:1:1: policy file is larger than 1048576 bytes"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200) | st.text(alphabet="version: 1\n-[]{}&*!'\"#%<>|@`PF201abc\t ", max_size=120))
def test_any_input_gives_a_policy_or_a_policy_error(data: bytes | str) -> None:
    try:
        policy = parse(data)
    except PolicyError as error:
        assert error.line >= 1 and error.column >= 1 and "\n" not in str(error)
    else:
        assert policy.version == 1


# ------------------------------------------------------------------------------------------
# Waivers


def waiver_error(body: str) -> str:
    return error_of("version: 1\nwaivers:\n" + body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  - {rule: PF201, path: a.cf}\n", 'p.yaml:3:5: waiver is missing "reason"'),
        ("  - {rule: PF201, reason: x}\n", 'p.yaml:3:5: waiver is missing "path"'),
        ("  - {path: a, reason: x}\n", 'p.yaml:3:5: waiver is missing "rule"'),
        ("  - {rule: PF201, path: a, reason: '  '}\n", "p.yaml:3:36: waiver reason must not be empty"),
        ("  - {rule: PF20, path: a, reason: x}\n", 'p.yaml:3:12: unknown rule "PF20" (did you mean "PF201"?)'),
        (
            "  - {rule: PF201, path: a, reason: x, reson: y}\n",
            'p.yaml:3:39: unknown key "reson" in waiver (did you mean "reason"?)',
        ),
        (
            "  - {rule: PF201, path: /etc/postfix/main.cf, reason: x}\n",
            "p.yaml:3:25: waiver path \"/etc/postfix/main.cf\" must be relative to the policy file's directory",
        ),
        (
            "  - {rule: PF201, path: ../other/main.cf, reason: x}\n",
            "p.yaml:3:25: waiver path \"../other/main.cf\" must not leave the policy file's directory (\"..\")",
        ),
        (
            "  - {rule: PF201, path: a, reason: x, service: smtp}\n",
            'p.yaml:3:48: waiver service "smtp" must be "name/type", e.g. "smtp/inet"',
        ),
        (
            "  - {rule: PF201, path: a, reason: x, service: smtp/inte}\n",
            'p.yaml:3:48: waiver service "smtp/inte": unknown service type "inte" '
            '(one of inet, unix, unix-dgram, fifo, pass) (did you mean "inet"?)',
        ),
        (
            "  - {rule: PF201, path: a, reason: x, expires: 2026-02-30}\n",
            'p.yaml:3:48: expires: "2026-02-30" is not a valid date (day is out of range for month)',
        ),
        (
            "  - {rule: PF201, path: a, reason: x, expires: 2026-12-31T10:00:00}\n",
            "p.yaml:3:48: expires must be a date like 2026-12-31, found '2026-12-31T10:00:00'",
        ),
        (
            "  - {rule: PF201, path: a, reason: x, expires: soon}\n",
            "p.yaml:3:48: expires must be a date like 2026-12-31, found 'soon'",
        ),
        ("  - PF201\n", "p.yaml:3:5: a waiver must be a mapping (key: value), found a string"),
        ("  rule: PF201\n", "p.yaml:3:3: waivers must be a list, found a mapping"),
    ],
)
def test_waiver_errors(body: str, expected: str) -> None:
    assert waiver_error(body) == expected


def test_waiver_matching_and_expiry(tmp_path: Path) -> None:
    policy_file = tmp_path / ".pfcheck.yaml"
    policy_file.write_text(
        "version: 1\n"
        "waivers:\n"
        "  - {rule: mynetworks-outside-policy, path: hosts/legacy-mx/main.cf, service: smtp/inet,"
        " reason: DMZ, expires: '2026-12-31'}\n"
        "  - {rule: PF101, path: 'labs/**', reason: lab}\n"
        "  - {rule: PF301, path: '*/main.cf', reason: one level only}\n",
        encoding="utf-8",
    )
    policy = load_policy(policy_file, RULES)
    before, after = datetime.date(2026, 12, 31), datetime.date(2027, 1, 1)
    legacy = tmp_path / "hosts" / "legacy-mx" / "main.cf"
    assert policy.find_waiver("PF201", legacy, "smtp/inet", today=before) is policy.waivers[0]
    assert policy.find_waiver("PF201", legacy, "submission/inet", today=before) is None
    assert policy.find_waiver("PF201", legacy, "smtp/inet", today=after) is None
    assert policy.expired_waivers(today=after) == [policy.waivers[0]]
    assert policy.expired_waivers(today=before) == []
    assert policy.find_waiver("PF101", tmp_path / "labs" / "a" / "b" / "master.cf") is policy.waivers[1]
    assert policy.find_waiver("PF101", tmp_path / "labsx" / "main.cf") is None
    assert policy.find_waiver("PF301", tmp_path / "mx" / "main.cf") is policy.waivers[2]
    assert policy.find_waiver("PF301", tmp_path / "a" / "mx" / "main.cf") is None
    assert policy.find_waiver("PF301", tmp_path.parent / "mx" / "main.cf") is None  # outside
    # Relative paths resolve against the working directory, like any CLI argument.
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert policy.find_waiver("PF101", Path("labs/x/main.cf")) is policy.waivers[1]
    finally:
        os.chdir(cwd)
    assert policy.waivers[0].policy_path == policy_file and policy.waivers[0].line == 3


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("hosts/*/main.cf", "hosts/mx1/main.cf", True),
        ("hosts/*/main.cf", "hosts/a/b/main.cf", False),
        ("hosts/**/main.cf", "hosts/main.cf", True),
        ("hosts/**/main.cf", "hosts/a/b/main.cf", True),
        ("**/master.cf", "master.cf", True),
        ("**", "x/y/z", True),
        ("mx[12]/main.cf", "mx2/main.cf", True),
        ("mx[!12]/main.cf", "mx2/main.cf", False),
        ("mx?/main.cf", "mx10/main.cf", False),
        ("./a.cf", "a.cf", True),
    ],
)
def test_waiver_globs(glob: str, path: str, matches: bool) -> None:
    policy = parse(f"version: 1\nwaivers:\n  - {{rule: PF101, path: '{glob}', reason: r}}\n")
    assert policy.waivers[0].matches("PF101", path) is matches


# ------------------------------------------------------------------------------------------
# The built-in default policy


def test_builtin_policy_enables_every_rule_at_its_default_severity() -> None:
    policy = default_policy(RULES)
    assert policy.version == 1 and policy.postfix_version == "3.7"
    assert policy.fail_on is Severity.ERROR and policy.suppressions == "allow"
    assert policy.waivers == ()
    for code, spec in RULES.items():
        expected = None if code in OFF_IN_BUILTIN_POLICY else spec.severity
        assert policy.severity(code) is expected, code


def builtin_flags(network: str) -> bool:
    options = default_policy(RULES).options("PF201")
    return not network_allowed(network, options["allowed"], options["allow_single_addresses"])


@pytest.mark.parametrize(
    "network",
    ["0.0.0.0/0", "[::]/0", "8.8.8.0/24", "198.51.100.6/31", "[2001:db8::]/32", "[2a00:1450::]/64",
     "0.0.0.0/1", "128.0.0.0/1", "100.64.0.0/10", "172.0.0.0/8"],
)
def test_builtin_policy_flags_wide_non_private_networks(network: str) -> None:
    assert builtin_flags(network)


@pytest.mark.parametrize(
    "network",
    ["127.0.0.1", "127.0.0.0/8", "[::1]/128", "[::1]", "10.0.0.0/8", "172.16.0.0/12", "192.168.1.0/24",
     "169.254.0.0/16", "[fd00::]/8", "[fe80::fc:ff:fe00:1]/128", "203.0.113.5/32", "[2001:db8::25]"],
)
def test_builtin_policy_allows_local_private_and_single_addresses(network: str) -> None:
    assert not builtin_flags(network)


def test_builtin_policy_text_is_a_valid_strict_policy() -> None:
    # Read as a user policy file (strict about unknown rules), the shipped text validates
    # against the real registry (it may name rules the test registry above lacks).
    from pfcheck.rules import RULES as REAL_RULES

    policy = parse_policy(builtin_policy_text(), REAL_RULES, path=Path("default.yaml"))
    assert policy.as_data()["rules"] == default_policy(REAL_RULES).as_data()["rules"]


def test_builtin_policy_skips_rules_a_partial_registry_lacks() -> None:
    partial = {"PF101": RULES["PF101"]}
    policy = default_policy(partial)
    assert set(policy.rules) == {"PF101"}


def test_rule_modules_and_tuple_options_are_accepted() -> None:
    class FakeRuleModule:
        ID = "PF201"
        NAME = "mynetworks-outside-policy"
        SEVERITY = Severity.ERROR
        OPTIONS = {"allowed": (NetworkList, ["127.0.0.0/8"]), "allow_single_addresses": (bool, False)}

    policy = default_policy({"PF201": FakeRuleModule})
    assert policy.options("PF201")["allow_single_addresses"] is True
    user = parse_policy("version: 1\nrules: {PF201: {options: {allowed: ['[::1]']}}}\n", {"PF201": FakeRuleModule})
    assert user.options("PF201") == {"allowed": ("[::1]/128",), "allow_single_addresses": False}


def test_real_registry_loads_the_builtin_policy() -> None:
    from pfcheck.rules import RULES as REAL_RULES

    from ruamel.yaml import YAML

    policy = load_policy(None, REAL_RULES)
    # Rules the built-in policy turns off (folklore, or wanted by some hosts only).
    entries = (YAML(typ="safe").load(builtin_policy_text()) or {}).get("rules") or {}
    off = {code for code, entry in entries.items() if str((entry or {}).get("severity", "")) in ("off", "False")}
    for code, module in REAL_RULES.items():
        expected = None if code in off else RuleSpec.of(module).severity
        assert policy.severity(code) is expected, code
    if "PF201" in REAL_RULES:
        options = policy.options("PF201")
        assert options["allow_single_addresses"] is True
        assert "127.0.0.0/8" in options["allowed"]


# ------------------------------------------------------------------------------------------
# Discovery and caching


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "hosts" / "mx1").mkdir(parents=True)
    (repo / "hosts" / "dmz" / "relay").mkdir(parents=True)
    return repo


def test_find_policy_walks_up_to_the_git_root(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (tmp_path / ".pfcheck.yaml").write_text("version: 1\n")  # above the git root: never used
    mx1 = repo / "hosts" / "mx1" / "main.cf"
    assert find_policy(mx1) is None
    (repo / ".pfcheck.yaml").write_text("version: 1\n")
    assert find_policy(mx1) == repo / ".pfcheck.yaml"
    (repo / "hosts" / "dmz" / ".pfcheck.yml").write_text("version: 1\n")
    assert find_policy(repo / "hosts" / "dmz" / "relay" / "main.cf") == repo / "hosts" / "dmz" / ".pfcheck.yml"
    assert find_policy(repo / "hosts" / "dmz" / "relay") == repo / "hosts" / "dmz" / ".pfcheck.yml"
    assert find_policy(mx1, stop_at=repo / "hosts") is None


def test_find_policy_git_file_marks_a_root(tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    (worktree / "sub").mkdir(parents=True)
    (worktree / ".git").write_text("gitdir: /elsewhere\n")
    (tmp_path / ".pfcheck.yaml").write_text("version: 1\n")
    assert find_policy(worktree / "sub" / "main.cf") is None


def test_find_policy_without_git_goes_to_the_top(tmp_path: Path) -> None:
    if any(os.path.lexists(parent / ".git") for parent in tmp_path.parents):
        pytest.skip("the temporary directory is inside a git work tree")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert find_policy(tmp_path / "a" / "b" / "main.cf") is None or not str(
        find_policy(tmp_path / "a" / "b" / "main.cf")
    ).startswith(str(tmp_path))
    (tmp_path / ".pfcheck.yaml").write_text("version: 1\n")
    assert find_policy(tmp_path / "a" / "b" / "main.cf") == tmp_path / ".pfcheck.yaml"


def test_two_policy_names_in_one_directory_is_an_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / ".pfcheck.yaml").write_text("version: 1\n")
    (repo / ".pfcheck.yml").write_text("version: 1\n")
    with pytest.raises(PolicyError) as caught:
        find_policy(repo / "hosts" / "mx1")
    assert str(caught.value) == f"{repo / '.pfcheck.yml'}:1:1: both .pfcheck.yaml and .pfcheck.yml exist in {repo}; keep one"


def test_resolver_loads_each_policy_file_once(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / ".pfcheck.yaml").write_text("version: 1\nfail_on: warning\n")
    (repo / "hosts" / "dmz" / ".pfcheck.yaml").write_text("version: 1\nfail_on: info\n")
    dirs = []
    for index in range(300):
        for parent in (repo / "hosts" / "many", repo / "hosts" / "dmz" / "many"):
            directory = parent / f"d{index}" / "etc"
            directory.mkdir(parents=True)
            dirs.append(directory)
    resolver = PolicyResolver(RULES)
    for directory in dirs:
        policy = resolver.policy_for(directory / "main.cf")
        expected = Severity.INFO if "dmz" in directory.parts else Severity.WARNING
        assert policy.fail_on is expected
    assert resolver.loaded == [None, repo / ".pfcheck.yaml", repo / "hosts" / "dmz" / ".pfcheck.yaml"]


def test_resolver_without_policy_uses_builtin_and_explicit_policy_wins(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    resolver = PolicyResolver(RULES)
    assert resolver.policy_for(repo / "hosts" / "mx1" / "main.cf").path is None
    explicit = tmp_path / "org-policy.yaml"
    explicit.write_text("version: 1\nfail_on: info\n")
    (repo / ".pfcheck.yaml").write_text("version: 1\n")
    forced = PolicyResolver(RULES, policy_path=explicit)
    assert forced.policy_for(repo / "hosts" / "mx1" / "main.cf").path == explicit
    assert forced.policy_for(repo / "hosts" / "mx1" / "main.cf").fail_on is Severity.INFO


def test_unreadable_policy_paths(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "missing.yaml", RULES)
    assert str(caught.value) == f"{tmp_path / 'missing.yaml'}:1:1: cannot read policy file: No such file or directory"
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path, RULES)
    assert str(caught.value) == f"{tmp_path}:1:1: policy path is a directory, not a file"


def test_policy_error_fields() -> None:
    error = PolicyError(Path("x/.pfcheck.yaml"), 3, 7, "boom")
    assert (error.line, error.column, error.message) == (3, 7, "boom")
    assert str(error) == "x/.pfcheck.yaml:3:7: boom"
    assert str(PolicyError(None, 0, 0, "bad builtin")) == "<built-in policy>:1:1: bad builtin"


def ruamel_flow_depth(text: str) -> int:
    """Bracket nesting as ruamel.yaml's parser sees it (a single-pair mapping inside `[...]`,
    as in `[a: b]`, is a flow collection without a bracket of its own: not counted)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

    styles: list[bool] = []
    depth = deepest = 0
    for event in YAML(typ="rt").parse(text):
        if isinstance(event, CollectionStartEvent):
            bracket = text[event.start_mark.index : event.start_mark.index + 1]
            styles.append(bool(event.flow_style) and bracket in ("[", "{"))
            depth += styles[-1]
            deepest = max(deepest, depth)
        elif isinstance(event, CollectionEndEvent):
            depth -= styles.pop()
    return deepest


YAMLISH = st.text(alphabet="ab:-?#'\"[]{}, \n\\", max_size=60)


@settings(max_examples=400, deadline=None)
@given(YAMLISH)
def test_flow_depth_scan_never_undercounts(text: str) -> None:
    from pfcheck.policy.yaml_safe import flow_depth_over

    try:
        depth = ruamel_flow_depth(text)
    except Exception:  # not YAML: nothing to compare
        return
    if depth:
        assert flow_depth_over(text, depth - 1) is not None, depth


def test_network_options_are_normalised_postfix_strings() -> None:
    text = "version: 1\nrules:\n  PF201:\n    options:\n      allowed: ['192.0.2.7', '[2001:DB8::1]', '[2001:db8::/32]']\n"
    assert parse(text).options("PF201")["allowed"] == ("192.0.2.7/32", "[2001:db8::1]/128", "[2001:db8::]/32")


# ------------------------------------------------------------------------------------------
# Agreement with pfcheck.postfix.networks (Postfix's cidr_match_parse model), when present

NETWORK_SAMPLES = [
    "127.0.0.1", "127.0.0.0/8", "10.0.0.1/8", "10.0.0.0/33", "0.0.0.0/0", "[::]/0", "[::1]", "[::1]/128",
    "[2001:db8::/32]", "[2001:db8::1]/32", "[2001:db8::]/129", "10.0.0.0/", "10.0.0.0/x", "256.0.0.0",
    "[192.0.2.1]", "[::1", "[::1]x", "10.0.0", "010.0.0.1", "[fe80::1%eth0]", "1.2.3.4/032",
    "1.2.3.4/\u0663\u0662", "[::ffff:1.2.3.4]", "[::ffff:01.2.3.4]", "1.2.3.04",
]


def networks_module() -> Any:
    try:
        from pfcheck.postfix import addresses, networks, witness
    except ImportError as error:  # written concurrently by another engineer
        pytest.skip(f"pfcheck.postfix.networks not importable: {error}")
    return SimpleNamespace(IPV4=addresses.IPV4, IPV6=addresses.IPV6,
                           allowed_networks=witness.allowed_networks,
                           parse_address_list=networks.parse_address_list,
                           witness_outside=witness.witness_outside)


@pytest.mark.parametrize("text", NETWORK_SAMPLES)
def test_policy_networks_parse_like_postfix(text: str) -> None:
    networks = networks_module()
    try:
        expected = networks.allowed_networks([text])
    except ValueError:
        expected = None
    try:
        ours = parse_policy_network(text)
    except ValueError:
        ours = None
    if expected is None:
        assert ours is None, f"{text!r}: Postfix refuses it, the policy accepted {ours}"
        return
    assert ours is not None, f"{text!r}: Postfix accepts it, the policy refused it"
    family = networks.IPV4 if ours.version == 4 else networks.IPV6
    start, end = int(ours.network_address), int(ours.broadcast_address) + 1
    assert expected[family].ranges == ((start, end),)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_random_ipv4_networks_parse_like_postfix(value: int, prefix: int) -> None:
    networks = networks_module()
    text = f"{ipaddress.IPv4Address(value)}/{prefix}"
    try:
        networks.allowed_networks([text])
        postfix_accepts = True
    except ValueError:
        postfix_accepts = False
    try:
        parse_policy_network(text)
        policy_accepts = True
    except ValueError:
        policy_accepts = False
    assert policy_accepts == postfix_accepts


@pytest.mark.parametrize(
    ("mynetworks", "flagged"),
    [
        ("0.0.0.0/0", True),
        ("[::]/0", True),
        ("127.0.0.0/8 8.8.8.0/24", True),
        ("127.0.0.0/8, [2001:db8::]/32", True),
        ("127.0.0.1", False),
        ("127.0.0.0/8 [::1]/128 10.0.0.0/8 192.168.0.0/16 [fe80::]/10", False),
    ],
)
def test_builtin_allowed_list_through_witness_outside(mynetworks: str, flagged: bool) -> None:
    networks = networks_module()
    trusted = networks.parse_address_list(mynetworks, param="mynetworks", resolver=None)
    allowed = default_policy(RULES).options("PF201")["allowed"]
    witness = networks.witness_outside(trusted, allowed)
    assert (witness is not None) is flagged, witness
