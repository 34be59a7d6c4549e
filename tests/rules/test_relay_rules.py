"""pfcheck end to end on the relay matrix: the rules' verdicts equal the verdicts Postfix showed.

`tests/live/test_relay_live.py` proves, case by case, that each expected verdict in
`tests/relay_cases/*.yaml` is what a live Postfix does (witness replayed, nmap-style probes
refused, start-up fatal seen), evaluating with values taken from the real `postconf`. Here the
same cases go through pfcheck as a user runs it: the files in a directory, pfcheck's own reader,
effective-config model and rules. Per listener reachable from other hosts, PF301 must be
reported exactly for `open`, PF302 for `unproven`, PF303 for `refused` (on any listener), and
nothing for `closed`.

The cases and how a case becomes a config directory are in tests/support/relay_cases.py; a
case without master.cf is judged with the package's default master.cf (no master.cf written),
one with `master_cf_append` with that default plus its lines: never the host's Postfix config.
This test needs no Postfix. The rule-level cases with exact findings (file, line, witness) of
PF301/PF302/PF303 are tests/rules/cases/PF30*.yaml.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Set

import pytest

from pfcheck.engine.run import LintOptions, lint
from pfcheck.policy import PolicyResolver
from pfcheck.postfix.config import load_config_dir
from pfcheck.rules import RULES
from tests.support.relay_cases import CASES, RelayCase, write_case_dir

RELAY_CODES = {"PF301": "open", "PF302": "unproven", "PF303": "refused"}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_pfcheck_relay_rules_match_the_proven_verdicts(case: RelayCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "repo" / "host"
    write_case_dir(case, directory)
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



def test_appended_master_cf_lines_extend_the_package_default() -> None:
    """`master_cf_append` appends to pfcheck's default master.cf, never to the host's file."""
    from ruamel.yaml import YAML

    from tests.support.relay_cases import CASES_DIR, DEFAULT_MASTER_CF

    by_name = {case.name: case for case in CASES}
    appending = [entry for path in sorted(CASES_DIR.glob("*.yaml"))
                 for entry in YAML(typ="safe", pure=True).load(path.read_text()) or []
                 if entry.get("master_cf_append") and entry.get("master_cf") is None]
    assert len(appending) >= 5
    for entry in appending:
        expected = DEFAULT_MASTER_CF.rstrip("\n") + "\n" + entry["master_cf_append"]
        assert by_name[entry["name"]].master_cf == expected, entry["name"]
