"""The path from files to verdict: discover -> parse -> effective config -> rules -> policy."""
from __future__ import annotations

import datetime
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterable, Iterator, Optional, Sequence

from pfcheck.discovery import Discovery, Target, discover, find_repo_root
from pfcheck.findings import Finding, Severity
from pfcheck.postfix.config import ConfigDir, load_config_dir
from pfcheck.postfix.source import SourceText, read_source
from pfcheck.repository import is_within, may_exist
from pfcheck.rules import RULES, pf203_mynetworks_widened, pf304_relay_opened
from pfcheck.rules.base import RuleContext
from pfcheck.rules.pf905_unused_assumption import AssumptionUsage
from pfcheck.suppress import Suppressor

if TYPE_CHECKING:  # imported where used: a run without --base / --baseline needs neither
    from pfcheck.base import BaseRevision


def display_path(path: Path, cwd: Optional[Path] = None) -> str:
    """Relative to the working directory when below it, POSIX separators. Symlinks are
    followed (a shared table is one file, wherever it is named) unless they leave the
    repository: pfcheck never reads those, and never says where they point."""
    lexical = Path(os.path.abspath(path))
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        resolved = lexical
    if resolved != lexical and not is_within(resolved, find_repo_root(lexical.parent)):
        resolved = lexical
    try:
        return resolved.relative_to((cwd or Path.cwd()).resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


@dataclass
class LintOptions:
    policy_path: Optional[Path] = None
    postfix_version: Optional[str] = None
    fail_on: Optional[Severity] = None
    # --- suppressions, waivers, baseline (pfcheck/suppress.py, pfcheck/baseline.py) ---
    baseline: Optional[Path] = None  # --baseline FILE: hide findings recorded there
    write_baseline: Optional[Path] = None  # --write-baseline FILE: record every finding there
    today: Optional[datetime.date] = None  # the date waivers expire against (tests)
    tool_version: Optional[str] = None  # "generated_by" of a written baseline
    # --- comparison with a git revision (pfcheck/base.py) ---
    base: Optional[str] = None  # --base REV
    new_only: bool = False  # --new-only: only findings new since REV fail the run
    # --- parallel rule evaluation (see _rule_findings_in_workers) ---
    jobs: Optional[int] = None  # processes evaluating rules; None = one per CPU for many directories


@dataclass
class DirectoryResult:
    """One config directory's verdict. Its ConfigDir is not kept: with its sources, parse
    trees and expanded values it weighs ~80 KiB, ~1 GiB over 10,000 directories.
    `files` are the display paths of the files judged (main.cf, master.cf, named side files)."""

    target: Target
    policy: Any
    fail_on: Severity
    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


@dataclass
class LintResult:
    findings: list[Finding]
    directories: list[DirectoryResult]
    files_checked: int
    # Findings hidden by inline directives, waivers or the baseline (pfcheck.suppress.Suppressed).
    suppressed: list[Any] = field(default_factory=list)
    baseline_written: Optional[int] = None  # entries written by --write-baseline
    # Findings of the whole run (PF903 stale baseline entries), governed by the baseline file's policy.
    run_findings: list[Finding] = field(default_factory=list)
    new_only: bool = False
    #: Named paths that belong to no Postfix config (display paths), and those the policy's
    #: `exclude:` says are not configs.
    unrelated: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    # The threshold each policy that governed a finding applied (`--fail-on` included), by
    # policy label (`policy_label`); filled in by decide_failing.
    fail_on_by_policy: dict[str, Severity] = field(default_factory=dict)
    # The threshold of the run when every policy applied the same one, else None.
    fail_on: Optional[Severity] = Severity.ERROR

    @property
    def failed(self) -> bool:
        """Whether some finding fails the run (`Finding.failing`, set by decide_failing)."""
        return any(finding.failing for finding in self.findings)


def load_target(target: Target, version: str) -> ConfigDir:
    if target.unreadable is not None:
        # A directory that cannot be listed: nothing in it is known, PF900 says so.
        return ConfigDir(target.directory, SourceText(target.directory, unreadable=target.unreadable), None,
                         version=version)
    if target.template is not None and target.main_file is not None:
        # `main.cf.j2`: what a deployment tool renders, judged as nothing but "not checked".
        source = read_source(target.main_file)
        if source.checkable and source.placeholders:
            # Placeholders alone make a main.cf PF906 (judged); the name says it is never read.
            first = source.placeholders[0]
            source.template, source.template_line, source.template_column = first.language, first.line, first.column
        elif source.checkable:
            source.template = f"{target.template}, by its file name {target.main_file.name}"
        return ConfigDir(target.directory, source, None, version=version)
    main_source = read_source(target.main_file) if target.main_file is not None else None
    master_source = read_source(target.master_file) if target.master_file is not None else None
    return load_config_dir(target.directory, version=version, main_source=main_source, master_source=master_source)


def run_rules(ctx: RuleContext, policy: Any) -> list[Finding]:
    """Every enabled rule over one directory, with the policy's severity applied."""
    findings: list[Finding] = []
    ctx.assumptions = getattr(policy, "assumptions", None)
    for code, module in RULES.items():
        severity = policy.severity(code)
        if severity is None:
            continue
        for finding in module.check(ctx, policy.options(code)):
            findings.append(finding.with_(severity=severity))
    return findings


def _rules_and_assumptions(ctx: RuleContext, policy: Any) -> tuple[list[Finding], list[Any]]:
    """run_rules(), and the policy assumptions this directory's relay verdicts looked up (PF905)."""
    findings = run_rules(ctx, policy)
    if not getattr(policy, "assumptions", None):
        return findings, []
    from pfcheck.rules.relay_common import consulted_assumptions

    return findings, consulted_assumptions(ctx)


def _identity(finding: Finding) -> tuple[str, str, str, str]:
    """What makes two findings the same problem across revisions: rule, listener and parameter,
    not the line, and not the value (a narrowing that is still too wide stays "existing"; the
    widening itself is PF203). Findings about no parameter are told apart by their kind."""
    kind = finding.actual or "" if finding.parameter is None else ""
    return (finding.code, finding.service or "", finding.parameter or "", kind)


def compare_with_base(ctx: RuleContext, base: BaseRevision, policy: Any, findings: list[Finding]) -> list[Finding]:
    """PF203/PF304 against the base revision, and every finding marked new or existing."""
    old_directory = base.old_directory(ctx.config.directory)
    if old_directory is None:  # new in this change: everything is new
        return [f.with_(status="new") for f in findings]
    old_config = load_config_dir(old_directory, version=ctx.config.version)
    old_ctx = RuleContext(old_config, old_directory)
    old_identities = {_identity(f) for f in run_rules(old_ctx, policy)}
    marked = [f.with_(status="existing" if _identity(f) in old_identities else "new") for f in findings]
    for module in (pf203_mynetworks_widened, pf304_relay_opened):
        severity = policy.severity(module.ID)
        if severity is None:
            continue
        for finding in module.compare(ctx, old_ctx, base.revision):
            marked.append(finding.with_(severity=severity, status="new"))
    return marked


def lint(paths: Iterable[str], options: LintOptions, policies: Callable[[Path], Any]) -> LintResult:
    """Lint paths. `policies(directory)` returns the Policy governing a directory."""
    paths = list(paths)
    cwd = Path.cwd()
    suppressor = _suppressor(options, cwd)
    base = None
    if options.base:
        from pfcheck.base import BaseRevision

        base = BaseRevision(options.base, optional=options.base == "HEAD")
    precomputed = None
    try:
        # pre-commit never passes deleted files: with a base, the change's deletions are named
        # too, so that a directory still referencing a deleted table is judged.
        deleted = base.deleted_files([Path(p) for p in paths]) if base is not None else []
        explicit = options.policy_path if options.policy_path is not None and str(options.policy_path) != "builtin" else None
        found = discover(paths, deleted=[str(p) for p in deleted], policy_file=explicit)
        targets, excluded = _without_excluded(found, policies)
        display = lambda p: display_path(p, cwd)  # noqa: E731
        unrelated = [display(p) for p in found.unrelated]
        workers = _worker_count(options, len(targets), base)
        if workers > 1:
            # Every policy is resolved here, in target order, before the workers fork: a policy
            # error is the one a serial run meets first, and the workers inherit the cache.
            job = _Job(targets, [policies(t.directory) for t in targets], options.postfix_version, cwd)
            precomputed = _rule_findings_in_workers(job, workers)
        result = _lint_targets(targets, options, policies, cwd, suppressor, base, precomputed,
                               AssumptionUsage(paths))
        result.unrelated = unrelated
        result.excluded = [display(p) for p in excluded]
        return result
    finally:
        if precomputed is not None:
            precomputed.close()  # stops the workers, also after an error
        if base is not None:
            base.close()


def _without_excluded(found: Discovery, policies: Callable[[Path], Any]) -> tuple[list[Target], list[Path]]:
    """The targets the governing policy does not `exclude:`, and the excluded files."""
    kept: list[Target] = []
    excluded: list[Path] = []
    for target in found.targets:
        policy = policies(target.directory)
        files = sorted(target.named) or [target.directory]
        if target.template is not None and target.main_file is not None:
            files = [target.main_file]
        if any(policy.excludes(path) for path in (target.directory, *files)):
            excluded.extend(files)
        else:
            kept.append(target)
    return kept, excluded


def _lint_targets(targets: list[Target], options: LintOptions, policies: Callable[[Path], Any], cwd: Path,
                  suppressor: Suppressor, base: Optional[BaseRevision],
                  precomputed: Optional[Iterator[tuple[list[Finding], list[Any]]]] = None,
                  usage: Optional[AssumptionUsage] = None) -> LintResult:
    """`precomputed` yields each target's _rules_and_assumptions() in target order (from workers)."""
    results: list[DirectoryResult] = []
    findings: list[Finding] = []
    files_checked = 0
    for target in targets:
        policy = policies(target.directory)
        version = options.postfix_version or policy.postfix_version
        config = load_target(target, version)
        ctx = _rule_context(config, target, cwd)
        raw_findings, consulted = next(precomputed) if precomputed is not None else _rules_and_assumptions(ctx, policy)
        if usage is not None:
            usage.record(policy, consulted)
        if base is not None and target.template is None:
            raw_findings = compare_with_base(ctx, base, policy, raw_findings)
        # The directory is judged as a unit: every finding is reported where it is (main.cf,
        # master.cf, a table line), whichever of its files was named.
        files = _judged_files(ctx, config, target)
        raw_findings = _name_directory_outside(raw_findings, ctx.display(config.directory))
        judged = set(files) | {f.path for f in raw_findings}
        dir_findings = suppressor.directory(raw_findings, config, policy, judged)
        files_checked += len(files)
        results.append(DirectoryResult(target, policy, fail_on_for(policy, options), dir_findings, files))
        findings.extend(dir_findings)
    run_policy = _run_policy(options, policies)
    run_findings = _with_policy_severity(suppressor.finish(), run_policy)
    # PF905 lives in a policy file and is judged by that policy's fail_on.
    policy_findings = usage.findings_by_policy(lambda p: display_path(p, cwd)) if usage is not None else []
    findings.extend(run_findings)
    findings.extend(f for _policy, group in policy_findings for f in group)
    findings.sort(key=Finding.sort_key)
    written = getattr(suppressor.baseline, "written", None)
    result = LintResult(findings, results, files_checked, suppressor.suppressed, written,
                        run_findings, options.new_only)
    result.run_findings.extend(f for _policy, group in policy_findings for f in group)
    return decide_failing(result, options, run_policy, policy_findings)


# --- the pass/fail decision ----------------------------------------------------------------
#
# Whether a finding fails the run is decided here and nowhere else: the exit code
# (LintResult.failed) and every output format read `Finding.failing`.

#: The label of the built-in policy in `fail_on_by_policy` (what `--policy` calls it).
BUILTIN_POLICY_LABEL = "builtin"


def fail_on_for(policy: Any, options: LintOptions) -> Severity:
    """The lowest failing severity for the findings `policy` governs: `--fail-on` beats the
    policy's `fail_on`; without either (no policy governs the finding), error."""
    if options.fail_on is not None:
        return options.fail_on
    return policy.fail_on if policy is not None else Severity.ERROR


def policy_label(policy: Any, cwd: Optional[Path] = None) -> str:
    """How outputs name a policy: its file's display path, or `builtin`."""
    path = getattr(policy, "path", None)
    return display_path(Path(path), cwd) if path is not None else BUILTIN_POLICY_LABEL


def fails(finding: Finding, threshold: Severity, new_only: bool) -> bool:
    """The rule: severity at or above the threshold, and with --new-only not `existing`
    (an existing finding is reported as information: adopting pfcheck must not block on it)."""
    return finding.severity >= threshold and not (new_only and finding.status == "existing")


def decide_failing(result: LintResult, options: LintOptions, run_policy: Any = None,
                   policy_findings: Sequence[tuple[Any, list[Finding]]] = ()) -> LintResult:
    """Set `failing` on every finding of `result`, once, and record the thresholds used.

    A directory's findings (PF904 of the directory's own policy file among them) are judged by
    the policy governing the directory; findings in a policy file (PF905) by that policy;
    other run-level findings (PF903, in the baseline file) by `run_policy`, the policy
    governing the baseline file. `--fail-on` overrides them all.
    """
    decided: dict[int, Finding] = {}
    thresholds: dict[str, Severity] = {}

    def judge(findings: list[Finding], policy: Any) -> list[Finding]:
        threshold = fail_on_for(policy, options)
        judged = [finding.with_(failing=fails(finding, threshold, options.new_only)) for finding in findings]
        decided.update((id(old), new) for old, new in zip(findings, judged))
        return judged

    for directory in result.directories:
        directory.findings = judge(directory.findings, directory.policy)
        thresholds[policy_label(directory.policy)] = fail_on_for(directory.policy, options)
    in_policies = {id(f) for _policy, group in policy_findings for f in group}
    for policy, group in policy_findings:
        judge(group, policy)
        if group:
            thresholds[policy_label(policy)] = fail_on_for(policy, options)
    others = [f for f in result.run_findings if id(f) not in in_policies]
    result.run_findings = [decided.get(id(f), f) for f in result.run_findings if id(f) in in_policies]
    result.run_findings += judge(others, run_policy)
    if others:
        thresholds[policy_label(run_policy)] = fail_on_for(run_policy, options)
    # A finding no directory claims (none today) is judged as a run-level one: never unjudged.
    result.findings = [decided.get(id(f)) or judge([f], run_policy)[0] for f in result.findings]
    result.fail_on_by_policy = thresholds
    result.fail_on = _common_threshold(thresholds, options)
    return result


def _common_threshold(thresholds: dict[str, Severity], options: LintOptions) -> Optional[Severity]:
    """The one threshold every governing policy applied; None when they differ (outputs must
    not claim one then); with no policy at all, what a finding would be judged by."""
    distinct = set(thresholds.values())
    if not distinct:
        return fail_on_for(None, options)
    return distinct.pop() if len(distinct) == 1 else None


def _run_policy(options: LintOptions, policies: Callable[[Path], Any]) -> Any:
    """The policy governing run-level findings: the baseline file's (PF903 lives there)."""
    if options.baseline is None:
        return None
    return policies(options.baseline)


def _with_policy_severity(findings: list[Finding], policy: Any) -> list[Finding]:
    """Run-level findings at `policy`'s severity for their rule; none for a rule it turns off."""
    if policy is None:
        return findings
    kept = []
    for finding in findings:
        try:
            severity = policy.severity(finding.code)
        except KeyError:  # a rule the policy does not know keeps its default
            severity = finding.severity
        if severity is not None:
            kept.append(finding.with_(severity=severity))
    return kept


def _name_directory_outside(findings: list[Finding], directory: str) -> list[Finding]:
    """A finding in a file outside its config directory (a table shared through a symlink)
    names the directory: the same table line can open one host and not another."""
    inside = directory.rstrip("/") + "/"
    return [f if f.path.startswith(inside) or f.path == directory or directory == "." else
            f.with_(message=f"{f.message} (config directory {directory})") for f in findings]


def _judged_files(ctx: RuleContext, config: ConfigDir, target: Target) -> list[str]:
    """Display paths of the files a directory's verdict was read from: its main.cf and
    master.cf where they exist (or the template), and the side files that were named."""
    if target.template is not None:
        return [ctx.display(config.main_path)]
    files = [ctx.display(path) for path in (config.main_path, config.master_path) if may_exist(path)]
    side = {ctx.display(path) for path in target.named if may_exist(path)} - set(files)
    return files + sorted(side)


def _rule_context(config: ConfigDir, target: Target, cwd: Path) -> RuleContext:
    return RuleContext(config, find_repo_root(target.directory), display=lambda p: display_path(p, cwd))


# --- parallel rule evaluation -------------------------------------------------------------
#
# Rules are the cost of a run (the relay evaluator above all: ~5-50 ms per directory), and
# directories are independent, so many directories are spread over forked worker processes.
# Only run_rules() runs there; everything with state across directories (suppressions, the
# baseline, --base, the order of findings) stays in the parent, which reads the workers'
# results in target order. The output is therefore the same as a serial run's.

#: Below this many directories a run stays in one process: forking and sending findings back
#: would cost more than the rules of so few directories.
PARALLEL_MIN_DIRECTORIES = 32
#: More processes than this gain little and multiply the memory (~30 MiB each).
MAX_WORKERS = 8


@dataclass
class _Job:
    """What a forked worker needs, inherited from the parent (nothing is pickled to it)."""

    targets: list[Target]
    policies: list[Any]
    postfix_version: Optional[str]
    cwd: Path


_FORKED_JOB: Optional[_Job] = None


def _available_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _worker_count(options: LintOptions, directories: int, base: Optional[BaseRevision]) -> int:
    """How many processes evaluate rules: 1 means here, serially."""
    if base is not None:  # BaseRevision numbers its temp copies: one process owns it
        return 1
    if options.jobs is None and (directories < PARALLEL_MIN_DIRECTORIES or threading.active_count() > 1):
        return 1  # (forking a process that runs other threads can deadlock the child)
    import multiprocessing  # only now: a small run does not pay for its import

    if "fork" not in multiprocessing.get_all_start_methods():
        return 1  # spawned workers would re-import and re-resolve everything
    if options.jobs is not None:
        return max(1, min(options.jobs, directories))
    return max(1, min(_available_cpus(), MAX_WORKERS, directories))


def _ignore_interrupts() -> None:
    import signal

    # Ctrl-C reaches the whole process group; the parent alone handles it (and stops the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _rules_of(index: int) -> tuple[list[Finding], list[Any]]:
    """In a worker: _rules_and_assumptions() on the index-th directory, as the serial path does."""
    job = _FORKED_JOB
    assert job is not None, "worker started without a job"
    target, policy = job.targets[index], job.policies[index]
    config = load_target(target, job.postfix_version or policy.postfix_version)
    return _rules_and_assumptions(_rule_context(config, target, job.cwd), policy)


def _rule_findings_in_workers(job: _Job, workers: int) -> Generator[tuple[list[Finding], list[Any]], None, None]:
    """Each directory's run_rules() findings, computed by `workers` forked processes, in order."""
    import multiprocessing

    global _FORKED_JOB
    # Set while the pool lives: a worker the pool replaces is forked from this state too.
    _FORKED_JOB = job
    try:
        pool = multiprocessing.get_context("fork").Pool(workers, initializer=_ignore_interrupts)
        try:
            # Small chunks balance uneven directories and keep few results waiting in the parent.
            chunksize = max(1, min(16, len(job.targets) // (workers * 8)))
            yield from pool.imap(_rules_of, range(len(job.targets)), chunksize)
            pool.close()
        finally:
            pool.terminate()
            pool.join()
    finally:
        _FORKED_JOB = None


def _suppressor(options: LintOptions, cwd: Path) -> Suppressor:
    """Inline directives -> policy waivers -> baseline, applied to each directory's findings."""
    display = lambda p: display_path(p, cwd)  # noqa: E731 - the same form rules give paths
    baseline: Any = None
    if options.write_baseline is not None or options.baseline is not None:
        from pfcheck.baseline import Baseline, BaselineWriter
    if options.write_baseline is not None:
        generated_by = f"pfcheck {options.tool_version}" if options.tool_version else None
        baseline = BaselineWriter(options.write_baseline, cwd, generated_by, display(options.write_baseline))
    elif options.baseline is not None:
        baseline = Baseline.load(options.baseline, cwd, display(options.baseline))
    return Suppressor(display, baseline, options.today)
