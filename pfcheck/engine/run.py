"""The lint run: the one pass from named paths to a verdict.

    discover -> parse -> effective config -> rules -> --base -> suppress/baseline -> decide

`lint()` reads top to bottom in that order. Each config directory is judged as a unit by
`_judge_directory()`; findings of the whole run (stale baseline entries, unused policy
assumptions) come after the last directory; `decision.decide_failing()` then sets, once,
which findings fail the run. Rendering is the caller's (pfcheck/cli.py, pfcheck/report/).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Generator, Iterable, Iterator, Optional

from pfcheck.discovery import Discovery, Target, discover
from pfcheck.engine.assumptions import AssumptionUsage
from pfcheck.engine.decision import BUILTIN_POLICY_LABEL, decide_failing, fail_on_for
from pfcheck.engine.identity import across_revisions
from pfcheck.engine.suppress import Suppressor
from pfcheck.engine.suppressed import Suppressed
from pfcheck.engine.workers import Job, in_workers, worker_count
from pfcheck.findings import Finding, Severity
from pfcheck.policy.assume import Assumption
from pfcheck.policy.model import Policy
from pfcheck.postfix.config import ConfigDir, load_config_dir
from pfcheck.postfix.source import SourceText, read_source
from pfcheck.repository import display_path, find_repo_root, may_exist, remembering_roots
from pfcheck.rules import BASE_COMPARISON_RULES, DIRECTORY_RULES, FIXABLE_RULES, policy_severity
from pfcheck.rules.base import FixableRule, RuleContext

if TYPE_CHECKING:  # imported where used: a run without --base / --baseline needs neither
    import datetime
    from pfcheck.engine.baseline import BaselineStep
    from pfcheck.engine.git_base import BaseRevision
    from pfcheck.report.hosts import HostFacts

#: The governing policy of a config directory (or of a baseline file): pfcheck.policy.PolicyResolver.
PolicyLookup = Callable[[Path], Policy]
#: What the rules say about one directory: its findings, the policy assumptions its relay
#: verdicts looked up (for PF905), and its HostFacts when the run wants them (else None).
RuleResults = tuple[list[Finding], list[Assumption], "Optional[HostFacts]"]
#: `LintOptions.progress(done, total)`: called after each judged directory.
Progress = Callable[[int, int], None]


@dataclass
class LintOptions:
    policy_path: Optional[Path] = None
    postfix_version: Optional[str] = None
    fail_on: Optional[Severity] = None
    # --- suppressions, waivers, baseline (suppress.py, baseline.py) ---
    baseline: Optional[Path] = None  # --baseline FILE: hide findings recorded there
    write_baseline: Optional[Path] = None  # --write-baseline FILE: record every finding there
    today: Optional[datetime.date] = None  # the date waivers expire against (tests)
    tool_version: Optional[str] = None  # "generated_by" of a written baseline
    # --- comparison with a git revision (git_base.py) ---
    base: Optional[str] = None  # --base REV
    new_only: bool = False  # --new-only: only findings new since REV fail the run
    #: --changed-only: judge only the directories whose files differ from REV (as if only they
    #: had been named); the others have no new finding by construction.
    changed_only: bool = False
    # --- parallel rule evaluation (workers.py) ---
    jobs: Optional[int] = None  # processes evaluating rules; None = one per CPU for many directories
    # --- what the caller wants besides findings ---
    #: Per-host facts for the HTML report (engine/host_facts.py), in DirectoryResult.facts.
    host_facts: bool = False
    #: Told after each judged directory (the CLI's progress line on a terminal).
    progress: Optional[Progress] = None


@dataclass
class DirectoryResult:
    """One config directory's verdict. Its ConfigDir is not kept: with its sources, parse
    trees and expanded values it weighs ~80 KiB, ~1 GiB over 10,000 directories.
    `files` are the display paths of the files judged (main.cf, master.cf, named side files)."""

    target: Target
    policy: Policy
    fail_on: Severity
    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    #: With `LintOptions.host_facts`: the listeners' relay verdicts, VRFY, trust, sockets.
    facts: Optional[HostFacts] = None


@dataclass
class LintResult:
    findings: list[Finding]
    directories: list[DirectoryResult]
    files_checked: int
    #: Findings hidden by inline directives, waivers or the baseline.
    suppressed: list[Suppressed] = field(default_factory=list)
    baseline_written: Optional[int] = None  # entries written by --write-baseline
    #: Findings of the whole run: PF903 stale baseline entries (governed by the baseline file's
    #: policy) and PF905 unused assumptions (by their policy file's).
    run_findings: list[Finding] = field(default_factory=list)
    #: Named paths that belong to no Postfix config (display paths), and those the policy's
    #: `exclude:` says are not configs.
    unrelated: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    #: The threshold each policy that governed a finding applied (`--fail-on` included), by
    #: policy label (`decision.policy_label`); filled in by decide_failing.
    fail_on_by_policy: dict[str, Severity] = field(default_factory=dict)
    #: The threshold of the run when every policy applied the same one, else None.
    fail_on: Optional[Severity] = Severity.ERROR

    @property
    def failed(self) -> bool:
        """Whether some finding fails the run (`Finding.failing`, set by decide_failing)."""
        return any(finding.failing for finding in self.findings)


def lint(paths: Iterable[str], options: LintOptions, policies: PolicyLookup) -> LintResult:
    """Lint paths. `policies(directory)` returns the Policy governing a directory."""
    with remembering_roots():  # each directory's repository is looked up once per run
        return _lint(list(paths), options, policies)


def _lint(paths: list[str], options: LintOptions, policies: PolicyLookup) -> LintResult:
    cwd = Path.cwd()
    _DISPLAYED.clear()  # files may have moved since an earlier run in this process

    def display(path: Path) -> str:  # the form every finding gives its path
        return _display(path, cwd)

    suppressor = Suppressor(display, _baseline_step(options, cwd, display), options.today,
                            comparing=options.base is not None)
    base = _base_revision(options)
    precomputed: Optional[Generator[RuleResults, None, None]] = None
    try:
        found = _discover(paths, options, base)
        targets, excluded = _without_excluded(found, policies)
        usage = AssumptionUsage(paths)
        if base is not None:
            base.prefetch([target.directory for target in targets])
            if options.changed_only:
                targets = _changed(targets, base, policies, usage)
        # With many directories, forked workers run the rules ahead; the rest stays here.
        precomputed = _rules_in_workers(targets, policies, options, cwd)
        # Parse -> effective config -> rules -> --base -> suppress/baseline, a directory at a time.
        directories = []
        for target in targets:
            directories.append(_judge_directory(target, policies(target.directory), precomputed, options, cwd,
                                                base, suppressor, usage))
            if options.progress is not None:
                options.progress(len(directories), len(targets))
        if precomputed is not None:
            precomputed.close()  # every result is in: the workers' memory is not held any longer
        # The findings of the whole run (PF903, PF905), then the pass/fail decision.
        result = _finish_run(directories, options, policies, suppressor, usage, display)
        result.unrelated = [display(path) for path in found.unrelated]
        result.excluded = [display(path) for path in excluded]
        return result
    finally:
        if precomputed is not None:
            precomputed.close()  # stops the workers, also after an error
        if base is not None:
            base.close()


# --- discover ---------------------------------------------------------------------------


def _discover(paths: list[str], options: LintOptions, base: Optional[BaseRevision]) -> Discovery:
    """The config directories the paths amount to (discovery.py)."""
    # pre-commit never passes deleted files: with a base, the change's deletions are named
    # too, so that a directory still referencing a deleted table is judged.
    deleted = base.deleted_files([Path(p) for p in paths]) if base is not None else []
    explicit = options.policy_path
    if explicit is not None and str(explicit) == BUILTIN_POLICY_LABEL:
        explicit = None
    return discover(paths, deleted=[str(p) for p in deleted], policy_file=explicit)


def _changed(targets: list[Target], base: BaseRevision, policies: PolicyLookup,
             usage: AssumptionUsage) -> list[Target]:
    """`--changed-only`: the targets whose files differ from the base revision. The policies
    governing the others are not judged whole (PF905 cannot know what those directories'
    verdicts would have looked up)."""
    kept = []
    for target in targets:
        if target.template is None and target.unreadable is None and base.unchanged(target.directory):
            usage.not_judged(policies(target.directory))
        else:
            kept.append(target)
    return kept


def _without_excluded(found: Discovery, policies: PolicyLookup) -> tuple[list[Target], list[Path]]:
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


# --- parse and effective config ------------------------------------------------------------


def load_target(target: Target, version: str) -> ConfigDir:
    """A target's effective configuration at a Postfix version (pfcheck/postfix/config.py)."""
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


#: (path, cwd) -> display_path() within one run: each finding names its file, and resolving
#: it (symlinks, the repository root above it) takes several stat() calls.
_DISPLAYED: dict[tuple[Path, Path], str] = {}


def _display(path: Path, cwd: Path) -> str:
    key = (path, cwd)
    shown = _DISPLAYED.get(key)
    if shown is None:
        shown = _DISPLAYED[key] = display_path(path, cwd)
    return shown


def _rule_context(config: ConfigDir, target: Target, cwd: Path) -> RuleContext:
    return RuleContext(config, find_repo_root(target.directory), display=lambda p: _display(p, cwd))


# --- rules --------------------------------------------------------------------------------


def run_rules(ctx: RuleContext, policy: Policy, roles: Optional[frozenset[str]] = None) -> list[Finding]:
    """Every enabled directory rule over one directory, with the policy's severity applied.
    `roles`: the directory's roles when its path is not the one the policy names (the base
    revision's checkout); by default the policy's roles for ctx's directory."""
    findings: list[Finding] = []
    ctx.assumptions = policy.assumptions
    ctx.roles = policy.roles_for(ctx.config.directory) if roles is None else roles
    ctx.profiles = policy.profiles
    for module in DIRECTORY_RULES:
        severity = policy.severity(module.ID)
        if severity is None:
            continue
        controls = policy.controls_of(module.ID)
        fixer = FIXABLE_RULES.get(module.ID)
        for finding in module.check(ctx, policy.options(module.ID)):
            fixable = fixer is not None and has_fix(fixer, ctx, finding)
            findings.append(finding.with_(severity=severity, controls=controls or finding.controls, fixable=fixable))
    return findings


def has_fix(fixer: FixableRule, ctx: RuleContext, finding: Finding) -> bool:
    """Whether the rule offers a fix for the finding (`[*]` in the text output). A fix whose
    positions do not add up is no fix: the run goes on, and --fix would refuse it anyway."""
    try:
        return fixer.fix(ctx, finding) is not None
    except (ValueError, IndexError):
        return False


def _rules_and_assumptions(ctx: RuleContext, policy: Policy, with_facts: bool = False) -> RuleResults:
    """run_rules(), the policy assumptions this directory's relay verdicts looked up (PF905),
    and, when asked, the directory's HostFacts (after the rules: they reuse their verdicts)."""
    findings = run_rules(ctx, policy)
    facts = None
    if with_facts:
        from pfcheck.engine.host_facts import host_facts

        facts = host_facts(ctx)
    if not policy.assumptions:
        return findings, [], facts
    from pfcheck.rules.relay_common import consulted_assumptions

    return findings, consulted_assumptions(ctx), facts


def _rules_in_workers(targets: list[Target], policies: PolicyLookup, options: LintOptions,
                      cwd: Path) -> Optional[Generator[RuleResults, None, None]]:
    """Each target's _rules_and_assumptions(), computed by forked workers and yielded in target
    order (workers.py); None when the run evaluates rules here, directory by directory. With
    `--base`, the workers judge the work tree only; the old side of a changed directory is
    judged here (BaseRevision numbers its temp copies: one process owns it)."""
    count = worker_count(options.jobs, len(targets))
    if count <= 1:
        return None
    # Every policy is resolved here, in target order, before the workers fork: a policy error
    # is the one a serial run meets first, and the workers inherit the cache.
    resolved = [policies(target.directory) for target in targets]

    def evaluate(index: int) -> RuleResults:  # in a worker: what the serial path does
        target, policy = targets[index], resolved[index]
        config = load_target(target, options.postfix_version or policy.postfix_version)
        return _rules_and_assumptions(_rule_context(config, target, cwd), policy, options.host_facts)

    return in_workers(Job(evaluate, len(targets)), count)


# --- one directory ------------------------------------------------------------------------


def _judge_directory(target: Target, policy: Policy, precomputed: Optional[Iterator[RuleResults]],
                     options: LintOptions, cwd: Path, base: Optional[BaseRevision], suppressor: Suppressor,
                     usage: AssumptionUsage) -> DirectoryResult:
    """One config directory: parse, rules (the next of `precomputed` when workers ran them),
    --base, then suppressions, waivers and the baseline."""
    config = load_target(target, options.postfix_version or policy.postfix_version)
    ctx = _rule_context(config, target, cwd)
    findings, consulted, facts = next(precomputed) if precomputed is not None else \
        _rules_and_assumptions(ctx, policy, options.host_facts)
    usage.record(policy, consulted)
    if base is not None and target.template is None:
        findings = compare_with_base(ctx, base, policy, findings)
    # The directory is judged as a unit: every finding is reported where it is (main.cf,
    # master.cf, a table line), whichever of its files was named.
    files = _judged_files(ctx, config, target)
    findings = _name_directory_outside(findings, ctx.display(config.directory))
    judged = set(files) | {f.path for f in findings}
    kept = suppressor.directory(findings, config, policy, judged)
    return DirectoryResult(target, policy, fail_on_for(policy, options), kept, files, facts)


def compare_with_base(ctx: RuleContext, base: BaseRevision, policy: Policy, findings: list[Finding]) -> list[Finding]:
    """The base-comparison rules (PF203, PF304) against the base revision, and every finding
    marked new or existing. A directory that reads the same bytes at the revision
    (`BaseRevision.unchanged`) has the same findings there and nothing a comparison rule could
    report: every finding is existing, and its old side is neither copied nor judged."""
    if base.unchanged(ctx.config.directory):
        return [f.with_(status="existing") for f in findings]
    old_directory = base.old_directory(ctx.config.directory)
    if old_directory is None:  # new in this change: everything is new
        return [f.with_(status="new") for f in findings]
    old_config = load_config_dir(old_directory, version=ctx.config.version)
    old_ctx = RuleContext(old_config, old_directory)
    # The checkout lives outside the policy's tree: it has the roles of the directory it was.
    old_identities = {across_revisions(f) for f in run_rules(old_ctx, policy, roles=ctx.roles)}
    marked = [f.with_(status="existing" if across_revisions(f) in old_identities else "new") for f in findings]
    for module in BASE_COMPARISON_RULES:
        severity = policy.severity(module.ID)
        if severity is None:
            continue
        controls = policy.controls_of(module.ID)
        for finding in module.compare(ctx, old_ctx, base.revision):
            marked.append(finding.with_(severity=severity, status="new", controls=controls))
    return marked


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


# --- the whole run ------------------------------------------------------------------------


def _finish_run(directories: list[DirectoryResult], options: LintOptions, policies: PolicyLookup,
                suppressor: Suppressor, usage: AssumptionUsage, display: Callable[[Path], str]) -> LintResult:
    """Findings of the whole run once every directory is judged, then the decision."""
    run_policy = policies(options.baseline) if options.baseline is not None else None
    # PF903 lives in the baseline file and is judged by that file's policy.
    run_findings = _with_policy_severity(suppressor.finish(), run_policy)
    # PF905 lives in a policy file and is judged by that policy's fail_on.
    policy_findings = usage.findings_by_policy(display, suppressor.waivers_used, suppressor.ran, options.today)
    in_policy_files = [f for _policy, group in policy_findings for f in group]
    findings = [f for directory in directories for f in directory.findings] + run_findings + in_policy_files
    findings.sort(key=Finding.sort_key)
    baseline = suppressor.baseline
    result = LintResult(findings, directories, sum(len(d.files) for d in directories), suppressor.suppressed,
                        baseline.written if baseline is not None else None, run_findings + in_policy_files)
    del findings  # decide_failing replaces the list; the old findings are freed as it goes
    return decide_failing(result, options, run_policy, policy_findings)


def _with_policy_severity(findings: list[Finding], policy: Optional[Policy]) -> list[Finding]:
    """Run-level findings at `policy`'s severity for their rule; none for a rule it turns off."""
    if policy is None:
        return findings
    kept = []
    for finding in findings:
        severity = policy_severity(policy, finding.code)
        if severity is not None:
            kept.append(finding.with_(severity=severity))
    return kept


# --- the optional steps: --baseline / --write-baseline, --base -----------------------------


def _baseline_step(options: LintOptions, cwd: Path, display: Callable[[Path], str]) -> Optional[BaselineStep]:
    """The baseline to apply last (`--baseline`) or to write (`--write-baseline`), if any."""
    if options.write_baseline is not None:
        from pfcheck.engine.baseline import BaselineWriter

        generated_by = f"pfcheck {options.tool_version}" if options.tool_version else None
        return BaselineWriter(options.write_baseline, cwd, generated_by, display(options.write_baseline))
    if options.baseline is not None:
        from pfcheck.engine.baseline import Baseline

        return Baseline.load(options.baseline, cwd, display(options.baseline))
    return None


def _base_revision(options: LintOptions) -> Optional[BaseRevision]:
    """The `--base REV` to compare with; `--base HEAD` before the first commit means none."""
    if not options.base:
        return None
    from pfcheck.engine.git_base import BaseRevision

    return BaseRevision(options.base, optional=options.base == "HEAD")
