"""PF907 against postconf on this machine: each inet_interfaces word PF907 reports is one whose
answer depends on the host (postconf fails here for an address this machine lacks), and the
words it leaves alone are accepted by postconf on every host, this one included."""
from __future__ import annotations

from pathlib import Path

import pytest

from pfcheck.postfix.config import load_config_dir
from pfcheck.rules import pf907_host_dependent
from pfcheck.rules.base import RuleContext
from tests.support.postfix_oracle import postconf

pytestmark = pytest.mark.live

#: (inet_interfaces, reported words); 192.0.2.0/24 is TEST-NET-1, on no interface here.
CASES = [
    ("127.0.0.1", []),
    ("127.0.0.1, [::1]", []),
    ("loopback-only", []),
    ("all", []),
    ("192.0.2.10", ["192.0.2.10"]),
    ("127.0.0.1 192.0.2.10", ["192.0.2.10"]),
]


@pytest.mark.parametrize("interfaces,reported", CASES, ids=[c[0] for c in CASES])
def test_reported_words_are_the_host_dependent_ones(interfaces: str, reported: list[str], tmp_path: Path) -> None:
    # mynetworks unset: postconf -n then computes its default from the interfaces.
    (tmp_path / "main.cf").write_text(f"compatibility_level = 3.6\ninet_interfaces = {interfaces}\n")
    (tmp_path / "master.cf").write_text("")
    result = postconf(tmp_path, "-n")
    if interfaces == "127.0.0.1, [::1]" and "::1" in result.stderr:
        pytest.skip("this machine has no IPv6 loopback")
    config = load_config_dir(tmp_path, version="3.7")
    found = [f.actual for f in pf907_host_dependent.check(RuleContext(config, tmp_path), {})]
    assert found == reported
    assert (result.returncode != 0) == bool(reported), result.stderr
    if reported:
        assert f"no local interface found for {reported[0]}" in result.stderr
