"""Bounded input (issue #8 item 7): the size limit, no unbounded reads, and memory that stays
linear in the file. Speed figures live in benchmarks/large.py, not here: these tests assert
what does not depend on the machine's load (verdicts, bytes read, peak allocations)."""
from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import pytest

from pfcheck.postfix import maincf
from pfcheck.postfix.config import Scope, load_config_dir
from pfcheck.postfix.issues import ConfigIssue
from pfcheck.postfix.lines import logical_lines
from pfcheck.postfix.source import MAX_INPUT_BYTES, MIB, decode, read_bounded, read_source, too_large_reason
from tests.conftest import ROOT
from tests.support.postfix_oracle import parse_postconf_lines, postconf

SMALL_MAIN = b"mynetworks = 127.0.0.0/8\nsmtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n"


def _large() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_large", ROOT / "benchmarks" / "large.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_large"] = module
    spec.loader.exec_module(module)
    return module


# The child reports VmHWM, the peak RSS of its own address space: ru_maxrss would include the
# memory of the pytest worker it was forked from (Linux keeps the high-water mark across exec).
_PEAK_WRAPPER = (
    "import runpy, sys\n"
    "sys.argv = ['pfcheck', *sys.argv[2:]]\n"
    "try:\n"
    "    runpy.run_module('pfcheck', run_name='__main__')\n"
    "finally:\n"
    "    status = open('/proc/self/status').read()\n"
    "    peak = [l.split()[1] for l in status.splitlines() if l.startswith('VmHWM:')]\n"
    "    open(sys.argv_peak, 'w').write(peak[0] if peak else '0')\n"
)


def _own_peak_mib(*args: str, cwd: Path) -> tuple[int, str, float]:
    """Exit code, output and peak RSS (MiB, VmHWM) of one pfcheck process."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    peak_file = cwd.parent / f".{cwd.name}-peak"
    wrapper = _PEAK_WRAPPER.replace("sys.argv_peak", repr(str(peak_file)))
    result = subprocess.run([sys.executable, "-c", wrapper, "pfcheck", "--policy", "builtin", *args], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    return result.returncode, result.stdout, int(peak_file.read_text() or 0) / 1024


# --------------------------------------------------------------------------- the size limit


def test_the_limit_is_one_constant() -> None:
    from pfcheck.postfix import networks, relay, tables
    from pfcheck.postfix.relay import lookups as relay_lookups
    from pfcheck.postfix.tables import loading

    assert MAX_INPUT_BYTES == 64 * MIB
    for module in (tables, loading, networks, relay, relay_lookups):
        source = Path(module.__file__).read_text()  # type: ignore[arg-type]
        assert "64 * 1024" not in source and "read_bytes()" not in source, module.__name__
    assert too_large_reason(65 * MIB) == "too large to check (65.0 MiB > 64 MiB)"


def test_a_sparse_65_mib_main_cf_is_not_checked_and_not_read(tmp_path: Path) -> None:
    main = tmp_path / "main.cf"
    main.write_bytes(b"")
    os.truncate(main, 65 * MIB)  # sparse: costs no disk, and reading it would cost 65 MiB
    code, out, peak = _own_peak_mib(str(tmp_path), cwd=tmp_path)
    assert code == 1, out  # PF900 fails closed: an unread file never passes
    assert "PF900 not-checked: not checked: too large to check (65.0 MiB > 64 MiB)" in out
    assert "Traceback" not in out
    assert peak < 60, f"peak RSS {peak:.0f} MiB: the file was read"


def test_a_large_master_cf_is_not_checked(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_bytes(SMALL_MAIN)
    master = tmp_path / "master.cf"
    master.write_bytes(b"")
    os.truncate(master, MAX_INPUT_BYTES + 1)
    code, out, peak = _own_peak_mib(str(tmp_path), cwd=tmp_path)
    assert "master.cf:1:1: PF900 not-checked: not checked: too large to check (64.0 MiB > 64 MiB)" in out, out
    assert "Traceback" not in out and code in (0, 1)
    assert peak < 60


def test_a_file_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "exact"
    path.write_bytes(b"a" * 10)
    assert read_bounded(path, limit=10) == b"a" * 10
    with pytest.raises(OSError, match="too large to check"):
        read_bounded(path, limit=9)


def test_a_large_table_is_an_unknown_table(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_bytes(
        b"mynetworks = 127.0.0.0/8\n"
        b"smtpd_relay_restrictions = check_client_access cidr:/etc/postfix/clients.cidr, reject_unauth_destination\n")
    table = tmp_path / "clients.cidr"
    table.write_bytes(b"")
    os.truncate(table, 65 * MIB)
    code, out, peak = _own_peak_mib(str(tmp_path), cwd=tmp_path)
    assert "too large to check (65.0 MiB > 64 MiB)" in out, out
    assert "Traceback" not in out and code in (0, 1)
    assert peak < 60


def test_dev_zero_behind_a_symlink_is_never_opened(tmp_path: Path) -> None:
    """/dev/zero is outside the repository: refused before any open (it would never end)."""
    (tmp_path / "main.cf").symlink_to("/dev/zero")
    source = read_source(tmp_path / "main.cf")
    assert source.unreadable == "a symlink that leaves the repository, not read"


def test_a_fifo_is_never_opened(tmp_path: Path) -> None:
    """No writer, a writer that never stops: a FIFO is not a file to check, and not opened."""
    os.mkfifo(tmp_path / "main.cf")
    source = read_source(tmp_path / "main.cf")
    assert source.text == "" and source.unreadable == "not a regular file (a FIFO), not read"


def test_base_does_not_read_a_giant_blob(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "mx").mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    big = repo / "mx" / "main.cf"
    big.write_bytes(b"")
    os.truncate(big, 65 * MIB)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "big"], check=True)
    big.write_bytes(SMALL_MAIN)
    code, out, peak = _own_peak_mib("--base", "HEAD", "mx", cwd=repo)
    assert "Traceback" not in out and code in (0, 1), out
    assert peak < 60, f"peak RSS {peak:.0f} MiB: the old blob was read"


# --------------------------------------------------------------------------- memory and parsing


def test_peak_allocations_for_a_2_mib_main_cf_stay_below_10x(tmp_path: Path) -> None:
    from pfcheck.engine.run import run_rules
    from pfcheck.policy.load import load_policy
    from pfcheck.rules import RULES
    from pfcheck.rules.base import RuleContext

    data = _large().mix_main_cf(2 * MIB)
    (tmp_path / "main.cf").write_bytes(data)
    policy = load_policy(None, RULES)
    tracemalloc.start()
    try:
        config = load_config_dir(tmp_path)
        findings = run_rules(RuleContext(config, tmp_path), policy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert any(f.code == "PF001" for f in findings)
    assert peak < 10 * len(data), f"peak {peak / MIB:.1f} MiB for {len(data) / MIB:.1f} MiB"


def _reference_parse(text: str) -> tuple[list[tuple[Any, ...]], list[ConfigIssue]]:
    """The straightforward reading (what maincf did before it was made compact): every logical
    line through split_nameval, last definition wins."""
    path = Path("main.cf")
    definitions: list[tuple[Any, ...]] = []
    issues: list[ConfigIssue] = []
    current: dict[str, tuple[Any, ...]] = {}
    for logical in logical_lines(text):
        if logical.orphan:
            issues.append(maincf._orphan_issue(path, logical))
            continue
        error, offset, name, value = maincf.split_nameval(logical.text)
        if error is not None:
            shown = logical.text if len(logical.text) <= 60 else logical.text[:60] + "..."
            issues.append(ConfigIssue(path, logical.line, 1, f'{error}: "{shown}"; every Postfix program exits with this fatal error',
                                      "missing-equals" if "'='" in error else "missing-name", fatal=True))
            continue
        definition = (name, value, path, logical.line, 1, *logical.position(offset))
        earlier = current.get(name)
        if earlier is not None and earlier[1] != value:
            issues.append(ConfigIssue(path, logical.line, 1, f"overriding earlier entry at line {earlier[3]}: {name}={earlier[1]}",
                                      "duplicate", parameter=name))
        definitions.append(definition)
        current[name] = definition
    return definitions, issues


PIECES = ["a", "b", "name", "=", " ", "\t", "\r", "\v", "#", "\n", "\n", "\n", "$x", "{", "}", "x = 1",
          "  y", "\n  ", "\n#c\n", "\n\n", "a = 2", "\n a"]


@pytest.mark.parametrize("hash_mask", [None, 3])
def test_the_compact_parser_reads_what_logical_lines_read(monkeypatch: pytest.MonkeyPatch, hash_mask: Optional[int]) -> None:
    if hash_mask is not None:  # every name shares a handful of hash prefixes: collisions everywhere
        monkeypatch.setattr(maincf, "_HASH_MASK", hash_mask)
    rng = random.Random(8)
    for _ in range(3000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 40)))
        parsed = maincf.parse_main_cf(decode(Path("main.cf"), text.encode()))
        expected, issues = _reference_parse(text)
        got = [tuple(vars(d).values()) for d in parsed.definitions]
        assert got == expected, repr(text)
        assert parsed.issues == issues, repr(text)
        last = {d[0]: d for d in expected}
        assert list(parsed.params) == list(last), repr(text)
        assert {n: tuple(vars(d).values()) for n, d in parsed.params.items()} == last, repr(text)
        assert len(parsed.params) == len(last)
        for name in last:
            assert parsed.history(name) == [d for d in parsed.definitions if d.name == name]
        assert sorted(parsed.names_containing("$")) == sorted(n for n, d in last.items() if "$" in d[1])
        assert parsed.names_starting("a") == [n for n in last if n.startswith("a")]


def test_a_generated_1_mib_main_cf_reads_as_postconf_reads_it(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_bytes(_large().mix_main_cf(MIB))
    main = maincf.parse_main_cf(read_source(tmp_path / "main.cf"))
    result = postconf(tmp_path, "-n")
    assert result.returncode == 0, result.stderr[-500:]
    expected = parse_postconf_lines(result.stdout)
    expected.pop("config_directory", None)
    from pfcheck.postfix.lines import collapse_space

    mine = {name: collapse_space(d.value) for name, d in main.params.items()}
    wrong = [(n, v, mine.get(n)) for n, v in expected.items() if mine.get(n) != v]
    assert not wrong[:5]
    warned = result.stderr.count("overriding earlier entry")
    assert warned == sum(1 for i in main.issues if i.kind == "duplicate")


# --------------------------------------------------------------------------- service scopes


class _FreshScope(Scope):
    """A service scope that never reuses the main.cf scope's Values (the reference)."""

    def _inherited(self, name: str, cache: bool = True) -> None:
        return None


MAIN_WITH_REFERENCES = """\
mynetworks = 127.0.0.0/8 $extra_networks
extra_networks =
banner_host = $myhostname
smtpd_banner = $banner_host ESMTP
mydomain = example.com
myhostname = mx.$mydomain
relay_domains = $mydestination
mydestination = $myhostname, localhost.$mydomain
smtpd_relay_restrictions = permit_mynetworks, $relay_extra reject_unauth_destination
relay_extra =
smtpd_helo_required = $helo_flag
helo_flag = yes
"""

MASTER_WITH_OVERRIDES = """\
smtp      inet  n       -       y       -       -       smtpd
2525      inet  n       -       y       -       -       smtpd
  -o extra_networks=0.0.0.0/0
2526      inet  n       -       y       -       -       smtpd
  -o mydomain=other.example
  -o helo_flag=maybe
2527      inet  n       -       y       -       -       smtpd
  -o syslog_name=postfix/2527
2528      inet  n       -       y       -       -       smtpd
  -o relay_extra=permit,
"""


def test_service_scopes_equal_scopes_computed_from_scratch(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text(MAIN_WITH_REFERENCES)
    (tmp_path / "master.cf").write_text(MASTER_WITH_OVERRIDES)
    for facts in ({}, {"hostname": "box"}):
        config = load_config_dir(tmp_path, host_facts=facts)
        names = set(config.main.params) | {"smtpd_banner", "myorigin", "mynetworks", "relay_domains"}
        for listener in config.listeners():
            fresh = _FreshScope(load_config_dir(tmp_path, host_facts=facts), listener.service)
            for name in sorted(names):
                assert listener.scope.get(name) == fresh.get(name), (listener.key, name, facts)
            differing = listener.scope.differing_names()
            for name in names - differing:
                assert fresh.get(name) == config.global_scope.get(name), (listener.key, name)


def test_shared_relay_verdicts_give_the_findings_of_separate_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pfcheck.engine.run import run_rules
    from pfcheck.policy.load import load_policy
    from pfcheck.rules import RULES
    from pfcheck.rules import relay_common
    from pfcheck.rules.base import RuleContext

    (tmp_path / "main.cf").write_text(MAIN_WITH_REFERENCES)
    (tmp_path / "master.cf").write_text(MASTER_WITH_OVERRIDES)
    policy = load_policy(None, RULES)

    def findings() -> list[Any]:
        return run_rules(RuleContext(load_config_dir(tmp_path), tmp_path), policy)

    shared = findings()
    monkeypatch.setattr(relay_common, "_SHARED_VERDICTS", 0)
    separate = findings()
    assert shared == separate
    assert any(f.code == "PF301" and "2525" in (f.service or "") for f in shared)
    assert any(f.code == "PF303" and "2528" in (f.service or "") for f in shared)
    assert not any(f.code == "PF301" and "2527" in (f.service or "") for f in shared)


# --------------------------------------------------------------------------- hostile shapes


@pytest.mark.parametrize("shape", ["one-line", "many-refs", "deep", "services", "options"])
def test_hostile_shapes_finish_without_a_traceback(tmp_path: Path, shape: str) -> None:
    large = _large()
    spec = next(s for s in large.SHAPES if s.name == shape)
    large.build(spec, tmp_path / shape, MIB // 2)
    code, out, peak = _own_peak_mib(shape, cwd=tmp_path)
    assert code in (0, 1) and "Traceback" not in out, out[-2000:]
    assert peak < 200


def test_the_large_file_benchmark_runs(tmp_path: Path) -> None:
    """benchmarks/large.py end to end on small files (so that it does not rot)."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "large.py"), "--mib", "0.2",
                             "--shapes", "mix,services"], env=env, capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith(("mix ", "services "))]
    assert {(row[0], row[2]) for row in rows} >= {("mix", "pfcheck"), ("services", "pfcheck")}
    assert "# mix: pfcheck/postconf wall" in result.stdout or not Path("/usr/sbin/postconf").exists()
