"""pfcheck end to end on the relay matrix: the rules' verdicts equal the verdicts Postfix showed.

`tests/test_relay_live.py` proves, case by case, that each expected verdict in
`tests/relay_cases/*.yaml` is what a live Postfix does (witness replayed, nmap-style probes
refused, start-up fatal seen), evaluating with values taken from the real `postconf`. Here the
same cases go through pfcheck as a user runs it: the files in a directory, pfcheck's own reader,
effective-config model and rules. Per listener reachable from other hosts, PF301 must be
reported exactly for `open`, PF302 for `unproven`, PF303 for `refused` (on any listener), and
nothing for `closed`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Set

import pytest

from pfcheck.engine.run import LintOptions, lint
from pfcheck.policy import PolicyResolver
from pfcheck.postfix.config import load_config_dir
from pfcheck.rules import RULES
from tests.test_relay_live import CASES, RelayCase

RELAY_CODES = {"PF301": "open", "PF302": "unproven", "PF303": "refused"}
DEFAULT_MASTER_CF = (Path(__file__).resolve().parent.parent / "pfcheck" / "postfix" / "default_master.cf").read_text()


def write_case(case: RelayCase, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.cf").write_text(case.full_main_cf())
    master = case.master_cf
    if master is not None and master.startswith(_host_master_prefix()):
        # Cases that append to Debian's master.cf: use pfcheck's copy of that file.
        master = DEFAULT_MASTER_CF.rstrip("\n") + "\n" + master[len(_host_master_prefix()):].lstrip("\n")
    if master is not None:
        (directory / "master.cf").write_text(master)
    for name, text in case.files.items():
        # Cases name tables as a repo would, /etc/postfix/<file>: they live next to main.cf.
        relative = name[len("/etc/postfix/"):] if name.startswith("/etc/postfix/") else name
        target = (directory / relative).resolve()
        assert target.is_relative_to(directory.resolve()), f"{name} would be written outside the config directory"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def _host_master_prefix() -> str:
    host = Path("/etc/postfix/master.cf")
    return host.read_text().rstrip("\n") if host.exists() else "\0"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_pfcheck_relay_rules_match_the_proven_verdicts(case: RelayCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "repo" / "host"
    write_case(case, directory)
    (tmp_path / "repo" / ".git").mkdir()  # the repository root for table resolution
    monkeypatch.chdir(tmp_path / "repo")
    resolver = PolicyResolver(RULES)
    result = lint([str(directory)], LintOptions(), lambda _d: resolver.load(None))
    reported: Dict[str, Set[str]] = {}
    for finding in result.findings:
        if finding.code in RELAY_CODES and finding.service:
            reported.setdefault(finding.service, set()).add(RELAY_CODES[finding.code])
    remote = {listener.key: listener.remote for listener in load_config_dir(directory).listeners()}
    problems = []
    for service, verdict in case.expect.items():
        expected = {verdict.value} & {"open", "unproven", "refused"}
        if not remote.get(service, False):
            expected -= {"open", "unproven"}  # PF301/PF302 are about listeners others can reach
        got = reported.get(service, set())
        if got != expected:
            problems.append(f"{service}: pfcheck reports {sorted(got) or 'nothing'}, Postfix: {verdict.value}")
    assert not problems, f"{case.name}: " + "; ".join(problems)
