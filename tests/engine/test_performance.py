"""Performance changes keep behaviour: parallel rule evaluation gives exactly the serial result.

`pfcheck.engine` spreads run_rules() over forked workers when a run has many directories
(see docs/performance.md). These tests compare the parallel path with the serial one on
repos built like the benchmark's (benchmarks/run.py): real corpus configs made distinct,
main.cf-only directories mixed with full ones, plus inline suppressions, a baseline with
stale entries and per-directory policies, all of which the parent must still apply in order.
"""
from __future__ import annotations

import importlib.util
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import CORPUS, ROOT

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="parallel rule evaluation needs fork()"
)

DIRECTORIES = 40  # above PARALLEL_MIN_DIRECTORIES, so that the CLI's automatic mode forks too


def _benchmark_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pfcheck_benchmark_run", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 varied config dirs (corpus when present, else examples), one with an inline
    suppression, one governed by its own policy file."""
    run = _benchmark_module()
    sources, _ = run.load_sources(CORPUS / "real")
    root = tmp_path_factory.mktemp("bench") / "repo"
    built = run.build_repo(root, DIRECTORIES, sources)
    assert 0 < built.with_master < DIRECTORIES  # the mix the benchmark promises
    suppressed = built.directories[1] / "main.cf"
    suppressed.write_bytes(suppressed.read_bytes().rstrip(b"\n") + b'\n\n# pfcheck: ignore[PF101] reason="lab host"\n'
                           b"disable_vrfy_command = no\ninet_interfaces = all\n")
    (built.directories[2] / ".pfcheck.yaml").write_text(
        'version: 1\nrules:\n  PF101: {severity: "off"}\n  PF201: {severity: warning}\n', encoding="utf-8")
    return root


def _lint(repo: Path, jobs: int, **options: Any) -> Any:
    from pfcheck.cli import _policy_lookup
    from pfcheck.engine.run import LintOptions, lint

    cwd = os.getcwd()
    os.chdir(repo)
    try:
        return lint(["."], LintOptions(jobs=jobs, **options), _policy_lookup(None))
    finally:
        os.chdir(cwd)


def _comparable(result: Any) -> tuple[Any, ...]:
    return (
        [(f, f.extra) for f in result.findings],
        [(d.target.directory, sorted(d.target.named), d.fail_on, d.findings, getattr(d.policy, "path", None))
         for d in result.directories],
        result.files_checked,
        [(s.kind, s.finding, s.source) for s in result.suppressed],
        result.run_findings,
        result.failed,
    )


def test_parallel_rules_give_the_serial_result(bench_repo: Path) -> None:
    serial = _lint(bench_repo, jobs=1)
    parallel = _lint(bench_repo, jobs=2)
    assert len(serial.directories) == DIRECTORIES
    assert serial.findings, "the corpus configs have findings: the comparison must compare something"
    assert any(s.kind == "inline" for s in serial.suppressed)
    assert _comparable(parallel) == _comparable(serial)


def test_parallel_rules_keep_the_baseline_in_order(bench_repo: Path, tmp_path: Path) -> None:
    """The baseline is applied in the parent: hidden findings and stale entries (PF903) agree."""
    repo = tmp_path / "repo"
    shutil.copytree(bench_repo, repo)
    baseline = tmp_path / "baseline.json"
    assert _lint(repo, jobs=1, write_baseline=baseline).baseline_written
    # VRFY turned off in a quarter of the hosts: their PF101 entries go stale.
    for host in sorted((repo / "hosts").iterdir())[: DIRECTORIES // 4]:
        main_cf = host / "main.cf"
        main_cf.write_bytes(main_cf.read_bytes().rstrip(b"\n") + b"\ndisable_vrfy_command = yes\n")
    serial = _lint(repo, jobs=1, baseline=baseline)
    parallel = _lint(repo, jobs=2, baseline=baseline)
    assert any(f.code == "PF903" for f in serial.run_findings)
    assert any(s.kind == "baseline" for s in serial.suppressed)
    assert _comparable(parallel) == _comparable(serial)


def test_a_policy_error_is_the_same_in_parallel(tmp_path: Path) -> None:
    from pfcheck.policy import PolicyError

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".git").mkdir()
    for index in range(4):
        host = repo / f"h{index}"
        host.mkdir()
        (host / "main.cf").write_text("inet_interfaces = all\n", encoding="utf-8")
    (repo / "h2" / ".pfcheck.yaml").write_text("version: 1\nfail_on: fatal\n", encoding="utf-8")
    errors = []
    for jobs in (1, 2):
        with pytest.raises(PolicyError) as caught:
            _lint(repo, jobs=jobs)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert ".pfcheck.yaml:2:" in errors[0]


def test_cli_output_does_not_depend_on_the_worker_count(bench_repo: Path, tmp_path: Path) -> None:
    """The real command, forced serial and forced onto two workers: stdout, stderr and exit
    status are identical, in the text and the JSON format."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # argv: minimum directories for workers, CPUs to assume, a file noting that workers ran, pfcheck args.
    runner = (
        "import sys, pathlib, pfcheck.engine.workers as lint\n"
        "lint.PARALLEL_MIN_DIRECTORIES = int(sys.argv[1])\n"
        "lint._available_cpus = lambda: int(sys.argv[2])\n"
        "spawn = lint._rule_findings_in_workers\n"
        "def noted(job, workers):\n"
        "    pathlib.Path(sys.argv[3]).write_text(str(workers))\n"
        "    return spawn(job, workers)\n"
        "lint._rule_findings_in_workers = noted\n"
        "from pfcheck.cli import main\n"
        "raise SystemExit(main(sys.argv[4:]))\n"
    )
    outputs = {}
    for mode, minimum, cpus in (("serial", "1000000", "1"), ("parallel", "2", "2")):
        marker = tmp_path / f"{mode}.workers"
        for form in ("text", "json"):
            result = subprocess.run([sys.executable, "-c", runner, minimum, cpus, str(marker), ".", "--format", form],
                                    cwd=bench_repo, env=env, capture_output=True, text=True, timeout=600, check=False)
            assert result.returncode in (0, 1), result.stderr
            outputs[mode, form] = (result.returncode, result.stdout, result.stderr)
        assert (marker.read_text() if marker.exists() else None) == ("2" if mode == "parallel" else None)
    for form in ("text", "json"):
        assert outputs["parallel", form] == outputs["serial", form]
    code, text, _ = outputs["serial", "text"]
    assert code == 1 and text.count("\n") > DIRECTORIES // 2  # findings, not an empty comparison


def test_benchmark_script_runs(tmp_path: Path) -> None:
    """benchmarks/run.py end to end on tiny repos (so that it does not rot)."""
    figures = tmp_path / "figures.json"
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--sizes", "1,3", "--runs-small", "2",
         "--postconf-dirs", "2", "--json", str(figures)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pfcheck, 3 dir(s)" in result.stdout and "Targets" in result.stdout
    import json

    data = json.loads(figures.read_text())
    assert data["pfcheck_3"]["returncode"] in (0, 1)
    assert data["pfcheck_3"]["wall_seconds"] > 0


def test_relay_fast_replace_builds_what_dataclasses_replace_builds(bench_repo: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """pfcheck.postfix.relay.replace (a cheaper dataclasses.replace) changes no verdict."""
    import dataclasses

    import pfcheck.postfix.relay as relay

    @dataclasses.dataclass(frozen=True)
    class Plain:
        name: str
        items: tuple[str, ...] = ()
        count: int = 0

    @dataclasses.dataclass(frozen=True)
    class Checked:
        count: int

        def __post_init__(self) -> None:
            if self.count < 0:
                raise ValueError("negative")

    original = Plain("a", ("x",), 1)
    copied = relay.replace(original, count=2)
    assert copied == dataclasses.replace(original, count=2) and copied is not original
    assert original.count == 1 and copied.items is original.items
    with pytest.raises(TypeError):
        relay.replace(original, nonsense=1)
    with pytest.raises(ValueError):  # __post_init__ still runs: the slow path
        relay.replace(Checked(1), count=-1)

    fast = _lint(bench_repo, jobs=1)
    # Every module of the package that uses it holds its own reference.
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("pfcheck.postfix.relay") \
                and getattr(module, "replace", None) is relay.replace:
            monkeypatch.setattr(module, "replace", dataclasses.replace)
    # Reuse traces reads through instances replace() copies as they are; the slow path is the
    # plain evaluation: no reuse, dataclasses.replace.
    monkeypatch.setenv("PFCHECK_NO_REUSE", "1")
    slow = _lint(bench_repo, jobs=1)
    assert _comparable(fast) == _comparable(slow)
    assert any(f.code.startswith("PF30") for f in slow.findings)


def test_workers_are_stopped_before_the_decision(bench_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers' memory is not held while the run's findings are decided and reported: by
    the time decide_failing runs, no worker process is left; and the decided list holds the
    judged copy of every finding, in the sorted order."""
    import multiprocessing

    import pfcheck.engine.run as run_module
    from pfcheck.findings import Finding

    seen: dict[str, Any] = {}
    decide = run_module.decide_failing

    def watching(result: Any, *args: Any, **kwargs: Any) -> Any:
        seen["children"] = multiprocessing.active_children()
        seen["before"] = len(result.findings)
        return decide(result, *args, **kwargs)

    monkeypatch.setattr(run_module, "decide_failing", watching)
    result = _lint(bench_repo, jobs=2)
    assert "children" in seen, "the decision did not run"
    assert seen["children"] == []
    assert len(result.findings) == seen["before"] > 0
    assert result.findings == sorted(result.findings, key=Finding.sort_key)
    by_directory = {id(f) for d in result.directories for f in d.findings}
    assert all(id(f) in by_directory or f in result.run_findings for f in result.findings)
