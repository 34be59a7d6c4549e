"""The pass/fail decision: whether each finding fails the run.

It is decided here and nowhere else, once, at the end of a lint run (after suppressions,
waivers, the baseline and `--base`): the exit code (`LintResult.failed`) and every output
format read `Finding.failing`.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from pfcheck.findings import Finding, Severity
from pfcheck.policy.model import Policy
from pfcheck.repository import display_path

if TYPE_CHECKING:  # run.py imports this module
    from pfcheck.engine.run import LintOptions, LintResult

#: The label of the built-in policy in `fail_on_by_policy` (what `--policy` calls it).
BUILTIN_POLICY_LABEL = "builtin"


def fail_on_for(policy: Optional[Policy], options: LintOptions) -> Severity:
    """The lowest failing severity for the findings `policy` governs: `--fail-on` beats the
    policy's `fail_on`; without either (no policy governs the finding), error."""
    if options.fail_on is not None:
        return options.fail_on
    return policy.fail_on if policy is not None else Severity.ERROR


def policy_label(policy: Optional[Policy], cwd: Optional[Path] = None) -> str:
    """How outputs name a policy: its file's display path, or `builtin`."""
    path = policy.path if policy is not None else None
    return display_path(Path(path), cwd) if path is not None else BUILTIN_POLICY_LABEL


def fails(finding: Finding, threshold: Severity, new_only: bool) -> bool:
    """The rule: severity at or above the threshold, and with --new-only not `existing`
    (an existing finding is reported as information: adopting pfcheck must not block on it)."""
    return finding.severity >= threshold and not (new_only and finding.status == "existing")


def decide_failing(result: LintResult, options: LintOptions, run_policy: Optional[Policy] = None,
                   policy_findings: Sequence[tuple[Policy, list[Finding]]] = ()) -> LintResult:
    """Set `failing` on every finding of `result`, once, and record the thresholds used.

    A directory's findings (PF904 of the directory's own policy file among them) are judged by
    the policy governing the directory; findings in a policy file (PF905) by that policy;
    other run-level findings (PF903, in the baseline file) by `run_policy`, the policy
    governing the baseline file. `--fail-on` overrides them all.
    """
    decided: dict[int, Finding] = {}
    thresholds: dict[str, Severity] = {}
    # The run's sorted list is rebuilt in place of the old one as each group is judged, so
    # that an old finding is freed once its group is (a fleet's 75,000 findings are not held
    # twice). Only findings still alive are looked up by id, so a freed one's id is never read.
    claimed = {id(f) for d in result.directories for f in d.findings}
    claimed.update(id(f) for f in result.run_findings)
    claimed.update(id(f) for _policy, group in policy_findings for f in group)
    places: dict[int, list[int]] = {}
    unclaimed: list[tuple[int, Finding]] = []
    for index, finding in enumerate(result.findings):
        places.setdefault(id(finding), []).append(index)
        if id(finding) not in claimed:
            unclaimed.append((index, finding))
    judged_run: list[Optional[Finding]] = [None] * len(result.findings)
    result.findings = []
    del claimed

    def judge(findings: list[Finding], policy: Optional[Policy]) -> list[Finding]:
        threshold = fail_on_for(policy, options)
        judged = [finding.with_(failing=fails(finding, threshold, options.new_only)) for finding in findings]
        for old, new in zip(findings, judged):
            decided[id(old)] = new
            for index in places.get(id(old), ()):
                judged_run[index] = new
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
    for _index, finding in unclaimed:
        judge([finding], run_policy)
    result.findings = [finding for finding in judged_run if finding is not None]
    assert len(result.findings) == len(judged_run), "a finding was left unjudged"
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
