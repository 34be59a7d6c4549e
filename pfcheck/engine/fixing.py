"""`pfcheck --fix` and `--diff`: the fixes whose effect pfcheck can prove, and only those.

After a lint run, each finding a rule can fix (`Finding.fixable`, the rule's `fix()`) is
fixed on an in-memory copy of its directory's main.cf/master.cf, one fix at a time:

    edit the copy -> re-parse -> re-run the rules -> prove -> keep the copy, or refuse the fix

A fix is kept only when all of this holds (`_prove`), else it is refused with the reason
(the file stays as it was, the finding stays):

* the fixed finding is gone (same rule, file, listener and parameter);
* every scope's effective configuration (main.cf, and each master.cf service with its `-o`
  overlay: every parameter main.cf or a `-o` sets, those `show` always lists and every
  default with a `$`, expanded as the daemons expand them) is identical except the fix's one
  parameter (and its unset aliases, `_aliases`), and so are the master.cf entries (fields,
  other `-o` options) and how each listener is reached;
* the client-trust and relay findings (PF2xx, PF3xx) are the same: a fix never changes trust
  or relaying on its own;
* the fix writes no `# pfcheck:` directive (that would change what is suppressed), touches
  only files under the paths the user named, and no symlink (a shared file is not one host's).

Only findings the run reports (after inline suppressions, waivers and the baseline) are
fixed. Nothing is written here except by `write_changes()`, which rewrites each changed file
in place (mode, owner and the bytes outside the edits kept) after checking that it still holds
what was read.
"""
from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from pfcheck.engine.run import DirectoryResult, LintOptions, LintResult, load_target, run_rules
from pfcheck.findings import Finding
from pfcheck.postfix import defaults
from pfcheck.postfix.config import ALWAYS_SHOWN, ConfigDir
from pfcheck.postfix.edits import Fix, apply_edits
from pfcheck.postfix.source import decode, read_bounded
from pfcheck.repository import display_path, find_repo_root
from pfcheck.rules import FIXABLE_RULES
from pfcheck.rules.base import RuleContext

#: Rule-code areas no fix may change: client trust (PF2xx) and relaying (PF3xx).
_GUARDED_AREAS = "23"
#: How many other changed parameters a refusal names.
_NAMED_CHANGES = 3


@dataclass(frozen=True)
class FileChange:
    """A file's text before and after the proven fixes; `display` is its path as findings show it."""

    path: Path
    display: str
    before: str
    after: str


@dataclass(frozen=True)
class Refusal:
    finding: Finding
    reason: str


@dataclass
class FixOutcome:
    changes: list[FileChange] = field(default_factory=list)
    fixed: list[Finding] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


@dataclass
class _State:
    """One version of a directory: its texts, parsed config and rule findings."""

    texts: dict[Path, str]
    config: ConfigDir
    ctx: RuleContext
    findings: list[Finding]


def plan_fixes(result: LintResult, options: LintOptions, named: Sequence[str]) -> FixOutcome:
    """The proven fixes of every directory of a lint run, as file changes (nothing written)."""
    outcome = FixOutcome()
    roots = [os.path.abspath(path) for path in named]
    for directory in result.directories:
        if any(finding.fixable for finding in directory.findings):
            _fix_directory(directory, options, roots, outcome)
    outcome.changes.sort(key=lambda change: change.display)
    return outcome


def _key(finding: Finding) -> tuple[str, str, str, str]:
    """What makes a finding the same problem before and after a fix (lines move)."""
    return finding.code, finding.path, finding.service or "", finding.parameter or ""


def _matching(findings: list[Finding], wanted: Finding) -> Optional[Finding]:
    key = _key(wanted)
    return next((finding for finding in findings if _key(finding) == key), None)


def _fix_directory(directory: DirectoryResult, options: LintOptions, roots: list[str], outcome: FixOutcome) -> None:
    target, policy = directory.target, directory.policy
    wanted = [finding for finding in directory.findings if finding.fixable]
    cwd = Path.cwd()
    config = load_target(target, options.postfix_version or policy.postfix_version)
    texts = {source.path: source.text for source in (config.main_source, config.master_source)
             if source is not None and source.checkable}
    state = _state(texts, config, policy, cwd)
    for finding in wanted:
        current = _matching(state.findings, finding)
        if current is None:
            continue  # an earlier fix of this directory removed it too
        fixer = FIXABLE_RULES[finding.code]
        fix = fixer.fix(state.ctx, current)
        if fix is None:
            outcome.refused.append(Refusal(finding, "no fix applies after the earlier fixes"))
            continue
        reason = _unwritable(fix, roots)
        if reason is None:
            try:
                changed = dict(state.texts)
                for path in fix.paths:
                    changed[path] = apply_edits(state.texts[path], [edit for edit in fix.edits if edit.path == path])
            except (KeyError, ValueError) as error:
                reason = f"the edits do not apply ({error})"
        if reason is None:
            after = _state(changed, _config_from(state.config, changed), policy, cwd)
            reason = _prove(state, after, current, fix)
            if reason is None:
                state = after
        if reason is not None:
            outcome.refused.append(Refusal(finding, reason))
    outcome.fixed.extend(finding for finding in wanted if _matching(state.findings, finding) is None)
    display = state.ctx.display
    for path, text in sorted(state.texts.items()):
        if text != texts[path]:
            outcome.changes.append(FileChange(path, display(path), texts[path], text))


def _state(texts: dict[Path, str], config: ConfigDir, policy: object, cwd: Path) -> _State:
    ctx = RuleContext(config, find_repo_root(config.directory), display=lambda path: display_path(path, cwd))
    return _State(texts, config, ctx, run_rules(ctx, policy))  # type: ignore[arg-type]


def _config_from(config: ConfigDir, texts: dict[Path, str]) -> ConfigDir:
    """The directory as it would read with these texts: decoded as if read from disk."""
    def source(path: Path):  # type: ignore[no-untyped-def]
        return decode(path, texts[path].encode("utf-8", "surrogateescape"))

    master = config.master_source
    return ConfigDir(config.directory, source(config.main_source.path),
                     source(master.path) if master is not None else None,
                     version=config.version, host_facts=config.host_facts)


def _unwritable(fix: Fix, roots: list[str]) -> Optional[str]:
    """Why the fix may not write its files, or None."""
    for path in fix.paths:
        if os.path.islink(path):
            return f"{path.name} is a symlink: a shared file is fixed where it lives, not through one host"
        absolute, real = os.path.abspath(path), os.path.realpath(path)
        if not any(_inside(absolute, root) or _inside(real, os.path.realpath(root)) for root in roots):
            return f"{path.name} is not under the paths named on the command line"
    if any("pfcheck:" in edit.replacement for edit in fix.edits):
        return "the edit would write a '# pfcheck:' directive, which would change what is suppressed"
    return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _prove(before: _State, after: _State, finding: Finding, fix: Fix) -> Optional[str]:
    """Why the fixed copy is not what the fix promises, or None when it is (module docstring)."""
    if _matching(after.findings, finding) is not None:
        return f"the finding is still there after the fix ({fix.description})"
    if _guarded(before.findings) != _guarded(after.findings):
        return "the fix would change what the client-trust or relay rules (PF2xx, PF3xx) report"
    if _structure(before.config, fix.parameter) != _structure(after.config, fix.parameter):
        return "the fix would change master.cf entries or how a listener is reached"
    names = _names(before.config)
    for label, wanted in _names(after.config).items():
        names.setdefault(label, set()).update(wanted)
    old, new = _values(before.config, names), _values(after.config, names)
    intended = {fix.parameter} | _aliases(before.config, fix.parameter) & _aliases(after.config, fix.parameter)
    changed = sorted({key for key in old.keys() | new.keys() if old.get(key) != new.get(key) and key[1] not in intended})
    if changed:
        shown = ", ".join(f"{name} ({label})" for label, name in changed[:_NAMED_CHANGES])
        more = f" and {len(changed) - _NAMED_CHANGES} more" if len(changed) > _NAMED_CHANGES else ""
        return f"the fix would also change {shown}{more}, not only {fix.parameter}"
    return None


def _aliases(config: ConfigDir, parameter: str) -> set[str]:
    """Parameters that are `parameter` under another name: Postfix's default is `$parameter`
    (postscreen_disable_vrfy_command = $disable_vrfy_command) and neither main.cf nor a `-o`
    sets them. They follow the fix by Postfix's own design; a value someone wrote that
    expands `$parameter` is no alias, and a change to it refuses the fix."""
    spellings = {f"${parameter}", f"${{{parameter}}}", f"$({parameter})"}
    builtin = defaults.builtin_defaults(config.version)
    return {name for name, raw in builtin.items()
            if raw.strip() in spellings and name not in config.main and name not in config.overridden_names}


def _guarded(findings: list[Finding]) -> list[tuple[str, ...]]:
    return sorted((f.code, f.path, f.service or "", f.parameter or "", json.dumps(f.witness, sort_keys=True, default=str))
                  for f in findings if f.code[2:3] in _GUARDED_AREAS)


def _structure(config: ConfigDir, parameter: str) -> list[tuple[object, ...]]:
    """The master.cf entries (without `parameter`'s `-o`) and how each listener is reached."""
    entries: list[tuple[object, ...]] = [
        (service.key, tuple(service.fields()[:8]),
         tuple((o.name, o.value) for o in service.overrides if o.name != parameter),
         tuple(token.text for token in service.stray_args), tuple(service.startup_fatal))
        for service in config.master.entries
    ]
    entries += [(listener.key, listener.remote, listener.binding, tuple(s.key for s in listener.entry_points))
                for listener in config.listeners()]
    return entries


def _names(config: ConfigDir) -> dict[str, set[str]]:
    """Per scope, the names compared: every name main.cf or a `-o` sets, those `show` always
    lists, and every default that expands `$`; a service scope differs from main.cf's only in
    its differing_names()."""
    # Defaults with a `$` are the only unset values a fix can change (by expansion).
    expanding = {name for name, raw in defaults.builtin_defaults(config.version).items() if "$" in raw}
    names = {"main.cf": set(config.main.names()) | set(ALWAYS_SHOWN) | set(config.overridden_names) | expanding}
    for service in config.master.services:
        names[service.key] = config.scope(service).differing_names() | {o.name for o in service.overrides}
    return names


def _values(config: ConfigDir, names: dict[str, set[str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(scope, name) -> (raw value in main.cf's scope, expanded value or the expansion error)."""
    scopes = {"main.cf": config.global_scope}
    scopes.update((service.key, config.scope(service)) for service in config.master.services)
    values: dict[tuple[str, str], tuple[str, str]] = {}
    for label, wanted in names.items():
        scope = scopes.get(label)
        for name in wanted:
            if scope is None:
                values[(label, name)] = ("", "<no such service>")
                continue
            value = scope.get(name)
            expanded = value.expanded if value.error is None else f"<expansion error: {value.error.message}>"
            values[(label, name)] = (value.raw if label == "main.cf" else "", expanded)
    return values


# --- --diff and --fix ------------------------------------------------------------------------


def unified_diff(changes: Sequence[FileChange]) -> str:
    """`--- a/path` / `+++ b/path` unified diffs (paths relative to the working directory), which
    `git apply` and `patch -p1` apply to give exactly what --fix writes."""
    out: list[str] = []
    for change in changes:
        shown = change.display
        lines = difflib.unified_diff(change.before.splitlines(keepends=True), change.after.splitlines(keepends=True),
                                     f"a/{shown}", f"b/{shown}")
        for line in lines:
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


class ChangedMeanwhile(Exception):
    """A file no longer holds what pfcheck read: nothing of it is written."""


def write_changes(changes: Sequence[FileChange]) -> list[str]:
    """Write each change in place; the display paths of the files written. A file whose bytes
    changed since they were read is not written (ChangedMeanwhile names it, after the others)."""
    written: list[str] = []
    stale: list[str] = []
    for change in changes:
        before = change.before.encode("utf-8", "surrogateescape")
        if read_bounded(change.path) != before:
            stale.append(change.display)
            continue
        with open(change.path, "r+b") as handle:  # in place: mode, owner and links stay
            handle.write(change.after.encode("utf-8", "surrogateescape"))
            handle.truncate()
        written.append(change.display)
    if stale:
        raise ChangedMeanwhile(f"{', '.join(stale)} changed while pfcheck ran: not written")
    return written
