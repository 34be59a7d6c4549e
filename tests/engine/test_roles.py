"""`roles:` in the policy: validation with positions, matching config directories, layering."""
from __future__ import annotations

from pathlib import Path

import pytest

from pfcheck.policy import PolicyError, load_policy
from pfcheck.rules import RULES


def policy_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / ".pfcheck.yaml"
    path.write_text("version: 1\n" + body, encoding="utf-8")
    return path


def test_roles_match_directories_their_parents_and_their_files(tmp_path: Path) -> None:
    policy = load_policy(policy_file(tmp_path, (
        "roles:\n"
        '  "hosts/mx*": [mx, submission]\n'
        '  "hosts/mx1/main.cf": relay\n'
        '  "fleet/**": send-only\n'
    )), RULES)
    assert policy.roles_for(tmp_path / "hosts/mx1") == {"mx", "submission", "relay"}
    assert policy.roles_for(tmp_path / "hosts/mx2") == {"mx", "submission"}
    assert policy.roles_for(tmp_path / "fleet/eu/web3") == {"send-only"}
    assert policy.roles_for(tmp_path / "hosts/relay1") == frozenset()
    assert policy.roles_for(tmp_path.parent / "elsewhere") == frozenset()
    assert policy.as_data()["roles"] == {
        "hosts/mx*": ["mx", "submission"], "hosts/mx1/main.cf": ["relay"], "fleet/**": ["send-only"],
    }


def test_single_host_repository_names_its_own_directory(tmp_path: Path) -> None:
    policy = load_policy(policy_file(tmp_path, 'roles: {"**": mx}\n'), RULES)
    assert policy.roles_for(tmp_path) == {"mx"}
    policy = load_policy(policy_file(tmp_path, 'roles: {"main.cf": send-only}\n'), RULES)
    assert policy.roles_for(tmp_path) == {"send-only"}


def test_no_roles_means_no_role(tmp_path: Path) -> None:
    policy = load_policy(policy_file(tmp_path, "roles:\n"), RULES)
    assert policy.roles == () and policy.roles_for(tmp_path) == frozenset()
    assert "roles" not in policy.as_data()


@pytest.mark.parametrize(("body", "expected"), [
    ('roles: {"a": [mx, send-only]}\n', '2:14: roles of "a": "send-only" (listens on loopback only) contradicts "mx"'),
    ('roles: {"a": []}\n', '2:14: roles of "a": name at least one role'),
    ('roles: {"a": sendonly}\n', '2:14: role of "a" must be one of mx, relay, submission, send-only, internal, '
                                 'not "sendonly" (did you mean "send-only"?)'),
    ("roles: [a]\n", "2:8: roles must be a mapping"),
    ('roles: {"/a": mx}\n', '2:9: roles pattern "/a" must be relative'),
    ('roles: {"../a": mx}\n', '2:9: roles pattern "../a" must not leave'),
    ('roles: {"a": 3}\n', '2:14: role of "a" must be one of'),
    ('rolse: {"a": mx}\n', '2:1: unknown key "rolse" (did you mean "roles"?)'),
])
def test_role_errors_are_located(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(PolicyError) as raised:
        load_policy(policy_file(tmp_path, body), RULES)
    assert expected in str(raised.value)
