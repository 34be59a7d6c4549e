"""Command line: `pfcheck [PATH ...]`, `pfcheck show DIR`, `pfcheck rules`, `pfcheck explain RULE`,
`pfcheck profiles`, `pfcheck schema`.

Exit codes: 0 clean, 1 findings at or above the failing severity, 2 usage, policy or internal
error. Errors are one line, `path:line:col: message` where there is a position; never a
traceback (set PFCHECK_DEBUG=1 to see one).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from pfcheck import __version__

if TYPE_CHECKING:  # imported where used: `pfcheck --version` and `show` need neither
    from pfcheck.engine.run import PolicyLookup
    from pfcheck.progress import ProgressLine
    from pfcheck.rules.base import RuleModule

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

SUBCOMMANDS = ("show", "rules", "explain", "profiles", "schema")
PROJECT_URI = "https://github.com/pfcheck/pfcheck"
#: `--format auto`: github under GitHub Actions when it goes to stdout, else text.
AUTO_FORMAT = "auto"


class CliError(Exception):
    """A one-line error for the user; exit 2."""


def _help_width() -> int:
    """The width argparse would wrap help at (shutil.get_terminal_size()'s reading, minus 2),
    without importing shutil, which argparse imports for every argument it adds (~1 ms of a
    hook run that never prints help)."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


class _HelpFormatter(argparse.HelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: Optional[int] = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _help_width() if width is None else width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> "None":  # type: ignore[override]
        raise CliError(f"{self.prog}: {message} (see --help)")


class _FormatAction(argparse.Action):
    """`--format NAME` starts a new output (to stdout until an --output-file follows)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        outputs = list(getattr(namespace, self.dest) or [])
        outputs.append([values, None])
        setattr(namespace, self.dest, outputs)


class _OutputFileAction(argparse.Action):
    """`--output-file FILE` redirects the output of the --format just before it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        outputs = list(getattr(namespace, self.dest) or [])
        if not outputs or outputs[-1][1] is not None:
            outputs.append([AUTO_FORMAT, None])
        outputs[-1][1] = values
        setattr(namespace, self.dest, outputs)


def _profile_name(text: str) -> str:
    """`--profile NAME`, checked against the profiles table only when the option is given (the
    table is not imported by a plain run)."""
    from pfcheck.compliance import profile_names

    if text not in profile_names():
        raise argparse.ArgumentTypeError(f"invalid choice: '{text}' (choose from {', '.join(profile_names())})")
    return text


def _lint_parser() -> argparse.ArgumentParser:
    from pfcheck.report import FORMATS

    parser = _Parser(
        prog="pfcheck",
        description="Check Postfix main.cf/master.cf against a policy, judged the way Postfix reads them. "
        "Other commands: 'pfcheck show DIR', 'pfcheck rules', 'pfcheck explain RULE', 'pfcheck profiles', "
        "'pfcheck schema' (the policy file's JSON Schema).",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="main.cf/master.cf files or directories (default: .)")
    parser.add_argument("--policy", type=Path, help="policy file, or 'builtin' for the built-in default policy (default: nearest .pfcheck.yaml up to the git root, else the built-in policy)")
    parser.add_argument("--postfix-version", help="target Postfix version for defaults, e.g. 3.7 (default: the policy's)")
    parser.add_argument("--format", action=_FormatAction, dest="outputs", choices=(*FORMATS, AUTO_FORMAT), default=[],
                        help="output format (default auto: github under GitHub Actions, else text); repeatable")
    parser.add_argument("--output-file", action=_OutputFileAction, dest="outputs", type=Path, metavar="FILE",
                        help="write the --format given just before it to FILE instead of stdout")
    parser.add_argument("--fail-on", choices=("error", "warning", "info"), help="lowest severity that fails the run (default: the policy's fail_on)")
    parser.add_argument("--profile", action="append", dest="profiles", default=[], type=_profile_name, metavar="NAME",
                        help="compliance profile (cac, lynis, stig or cis; pfcheck profiles lists them): turn on its rules and tag findings with its control ids, in addition to the policy's profiles; repeatable")
    # --- baseline (pfcheck/engine/baseline.py) ---
    baseline = parser.add_mutually_exclusive_group()
    baseline.add_argument("--baseline", type=Path, metavar="FILE", help="hide the findings recorded in FILE (written by --write-baseline); stale entries are reported as PF903")
    baseline.add_argument("--write-baseline", type=Path, metavar="FILE", help="record every finding (after inline suppressions and waivers) in FILE and accept them for this run")
    # --- comparison with a git revision (pfcheck/engine/git_base.py) ---
    parser.add_argument("--base", metavar="REV", help="compare with git revision REV (e.g. the merge base): report PF203/PF304 and mark findings new or existing; '--base HEAD' before the first commit means no base")
    parser.add_argument("--new-only", action="store_true", help="with --base: only findings that are new since REV fail the run")
    parser.add_argument("--changed-only", action="store_true", help="with --base: judge only the config directories whose files differ from REV (git blob ids), as if only they were named; the others have no new finding")
    # --- fixes (pfcheck/engine/fixing.py) ---
    fixing = parser.add_mutually_exclusive_group()
    fixing.add_argument("--fix", action="store_true",
                        help="apply the fixes pfcheck can prove (findings marked [*]) to the files, then report what remains")
    fixing.add_argument("--diff", action="store_true",
                        help="print the proven fixes as a unified diff instead of writing them (exit 1 when there is something to fix)")
    # --- selection and output conventions (ruff's names) ---
    parser.add_argument("--select", action="append", default=[], metavar="RULES",
                        help="run only these rules: codes, code prefixes (PF3), names or ALL, comma-separated, repeatable "
                        "(PF000 and PF900 stay on: a config Postfix refuses, or a file pfcheck could not read, is never passed)")
    parser.add_argument("--ignore", action="append", default=[], metavar="RULES",
                        help="turn these rules off (codes, prefixes, names, comma-separated; wins over --select)")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings fail the run (2 still means an error)")
    parser.add_argument("--statistics", action="store_true", help="text output: a count per rule instead of one line per finding")
    parser.add_argument("-q", "--quiet", action="store_true", help="text output: the findings only, no summary line")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour the text output (auto: on a terminal, unless NO_COLOR is set; FORCE_COLOR turns it on)")
    parser.add_argument("-V", "--version", action="version", version=f"pfcheck {__version__}")
    return parser


def _show_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pfcheck show", description="Print the effective configuration pfcheck believes Postfix uses, with the origin of every value.")
    parser.add_argument("directory", type=Path, metavar="DIR")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--postfix-version", help="target Postfix version for defaults (default: the policy's)")
    parser.add_argument("--policy", type=Path)
    return parser


def _rules_registry() -> dict[str, RuleModule]:
    from pfcheck.rules import RULES

    return RULES


BUILTIN_POLICY = "builtin"


def _policy_lookup(policy_path: Optional[Path], profiles: Sequence[str] = (),
                   select: Sequence[str] = (), ignore: Sequence[str] = ()) -> PolicyLookup:
    """A function from a config directory to the Policy that governs it, with the command
    line's `--profile`s added to each policy's own, then narrowed by `--select`/`--ignore`
    (each governing policy file adjusted once)."""
    from pfcheck.policy import PolicyResolver

    if policy_path is not None and str(policy_path) == BUILTIN_POLICY:
        resolver = PolicyResolver(_rules_registry())
        lookup: PolicyLookup = lambda _directory: resolver.load(None)  # noqa: E731
    elif policy_path is not None and not os.path.lexists(policy_path):  # (a FIFO: the loader says so)
        raise CliError(f"{policy_path}: policy file not found")
    else:
        lookup = PolicyResolver(_rules_registry(), policy_path=policy_path).policy_for
    if not profiles and not select and not ignore:
        return lookup
    from pfcheck.policy.model import rule_specs, selected_codes

    specs = rule_specs(_rules_registry())
    try:
        selected = selected_codes(_split_selectors(select), specs, "--select")
        ignored = selected_codes(_split_selectors(ignore), specs, "--ignore")
    except ValueError as error:
        raise CliError(str(error)) from None
    adjusted: dict[Optional[Path], Any] = {}  # by policy file (None: the built-in policy)

    def with_options(directory: Path) -> Any:
        policy = lookup(directory)
        if policy.path not in adjusted:
            changed = policy.with_profiles(tuple(profiles), specs) if profiles else policy
            if selected or ignored:
                changed = changed.with_selection(selected, ignored, specs)
            adjusted[policy.path] = changed
        return adjusted[policy.path]

    return with_options


def _split_selectors(values: Sequence[str]) -> list[str]:
    return [part for value in values for part in value.split(",") if part.strip()]


def _check_version(text: Optional[str]) -> Optional[str]:
    if text is None:
        return None
    from pfcheck.postfix import defaults

    try:
        major, minor = defaults.parse_version(text)
    except ValueError as error:
        raise CliError(f"--postfix-version: {error}") from None
    return f"{major}.{minor}"


def cmd_show(argv: Sequence[str]) -> int:
    from pfcheck.postfix.config import load_config_dir
    from pfcheck.show import render_show_text, show_model

    args = _show_parser().parse_args(argv)
    directory: Path = args.directory
    if os.path.isfile(directory):
        directory = directory.parent
    if not os.path.isdir(directory):
        raise CliError(f"{args.directory}: no such directory")
    try:
        os.lstat(os.path.join(directory, "main.cf"))
    except FileNotFoundError:
        # postconf -c DIR exits the same way: without main.cf there is no configuration to show.
        raise CliError(f"{args.directory}: no main.cf here: not a Postfix config directory") from None
    except OSError:
        pass  # a directory pfcheck may not search: the model below says what was not read
    version = _check_version(args.postfix_version)
    if version is None:
        version = _policy_lookup(args.policy)(directory).postfix_version
    config = load_config_dir(directory, version=version)
    model = show_model(config)
    if args.format == "json":
        import json

        sys.stdout.write(json.dumps(model, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_show_text(model))
    # A model without the files it rests on is not the configuration Postfix uses: say which
    # were not read (the reason, never their content) and fail, as the lint run does (PF900).
    unread = [s for s in (config.main_source, config.master_source) if s is not None and s.unreadable is not None]
    for source in unread:
        sys.stderr.write(f"pfcheck: {source.path}: {source.unreadable}\n")
    return EXIT_ERROR if unread else EXIT_CLEAN


def cmd_rules(argv: Sequence[str]) -> int:
    """`pfcheck rules [--format text|json]`: every rule with its default severity."""
    from pfcheck.rules import summary

    parser = _Parser(prog="pfcheck rules", description="List every rule: code, name, default severity and summary.")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    rules = _rules_registry()
    if args.format == "json":
        import json

        from pfcheck.policy import default_policy

        builtin = default_policy(rules)
        document = [
            {"code": code, "name": module.NAME, "default_severity": str(module.SEVERITY),
             "builtin_severity": str(builtin.severity(code)) if builtin.enabled(code) else "off",
             "summary": summary(module),
             "options": {name: default for name, (_kind, default) in module.OPTIONS.items()}}
            for code, module in rules.items()
        ]
        sys.stdout.write(json.dumps(document, indent=2, default=list) + "\n")
        return EXIT_CLEAN
    for code, module in rules.items():
        sys.stdout.write(f"{code}  {module.NAME:<28} {str(module.SEVERITY):<8} {summary(module)}\n")
    return EXIT_CLEAN


def cmd_profiles(argv: Sequence[str]) -> int:
    """`pfcheck profiles [NAME ...] [--format text|json]`: the control-to-rule map."""
    import json

    from pfcheck.compliance import PROFILES, controls_in

    parser = _Parser(prog="pfcheck profiles", description="List the compliance profiles, their controls and the rules that answer each.")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"profiles to list: {', '.join(PROFILES)} (default: all)")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in PROFILES]
    if unknown:
        raise CliError(f"pfcheck profiles: unknown profile \"{unknown[0]}\" (one of {', '.join(PROFILES)})")
    names = args.names or list(PROFILES)
    if args.format == "markdown":
        from pfcheck.compliance import markdown_table

        sys.stdout.write(markdown_table(names))
        return EXIT_CLEAN
    if args.format == "json":
        document = [
            {
                "profile": name, "title": PROFILES[name].title, "source": PROFILES[name].source,
                "controls": [
                    {"ids": list(control.ids), "title": control.title, "source": control.source,
                     "rules": list(control.rules),
                     "literal": control.literal.describe() if control.literal else None}
                    for control in controls_in([name])
                ],
            }
            for name in names
        ]
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return EXIT_CLEAN
    for name in names:
        profile = PROFILES[name]
        sys.stdout.write(f"{name}: {profile.title} ({profile.source})\n")
        for control in controls_in([name]):
            sys.stdout.write(f"  {', '.join(control.ids)}: {control.title}\n")
            sys.stdout.write(f"    rules: {', '.join(control.rules)}")
            if control.literal is not None:
                sys.stdout.write(f"; literal form (PF801): {control.literal.describe()}")
            sys.stdout.write("\n")
    return EXIT_CLEAN


def cmd_schema(argv: Sequence[str]) -> int:
    """`pfcheck schema`: the policy file's JSON Schema (draft-07), generated from the table the
    policy validator walks; the same text as pfcheck/policy/pfcheck-policy.schema.json."""
    parser = _Parser(prog="pfcheck schema", description="Print the JSON Schema (draft-07) of the policy file "
                     "(.pfcheck.yaml), for editors: the same as pfcheck/policy/pfcheck-policy.schema.json.")
    # Global options written before the subcommand arrive here; none changes the schema.
    parser.add_argument("--format", choices=("json",), default="json", help="the schema is JSON (default)")
    for flag in ("--policy", "--color"):
        parser.add_argument(flag, help=argparse.SUPPRESS)
    parser.add_argument("-q", "--quiet", action="store_true", help=argparse.SUPPRESS)
    parser.parse_args(argv)
    from pfcheck.policy.schema import registry_schema_text

    sys.stdout.write(registry_schema_text())
    return EXIT_CLEAN


def cmd_explain(argv: Sequence[str]) -> int:
    import inspect

    from pfcheck.rules import RULES, resolve

    if len(argv) != 1:
        raise CliError("usage: pfcheck explain RULE (a code such as PF201 or a name such as mynetworks-outside-policy)")
    module = resolve(argv[0])
    if module is None:
        import difflib

        candidates = [*RULES, *(m.NAME for m in RULES.values())]
        close = difflib.get_close_matches(argv[0], candidates, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        raise CliError(f'unknown rule "{argv[0]}"{hint}; see pfcheck rules')
    doc = inspect.getdoc(module) or ""
    sys.stdout.write(f"# {module.ID} {module.NAME} (default severity: {module.SEVERITY})\n\n{doc}\n")
    options = module.OPTIONS
    if options:
        sys.stdout.write("\n## Option defaults of the rule (the built-in policy sets its own: pfcheck docs/policy.md)\n")
        for name, (_kind, default) in options.items():
            shown = ", ".join(default) if isinstance(default, (list, tuple)) else str(default).lower()
            sys.stdout.write(f"- `{name}`: {shown}\n")
    return EXIT_CLEAN


def _formats(args: argparse.Namespace) -> list[tuple[str, Optional[Path]]]:
    resolved = []
    for name, output in args.outputs or [[AUTO_FORMAT, None]]:
        if name == AUTO_FORMAT:
            name = "github" if os.environ.get("GITHUB_ACTIONS") == "true" and output is None else "text"
        resolved.append((name, output))
    if sum(1 for _, output in resolved if output is None) > 1:
        raise CliError("only one --format can go to stdout; give the others an --output-file")
    return resolved


def cmd_lint(argv: Sequence[str]) -> int:
    from dataclasses import replace

    from pfcheck.engine.run import LintOptions, lint
    from pfcheck.findings import Severity
    from pfcheck.report import HOST_FACT_FORMATS, RENDERERS, Report, RuleInfo

    args = _lint_parser().parse_args(argv)
    formats = _formats(args)
    progress = _progress_line(args.quiet)
    options = LintOptions(
        policy_path=args.policy,
        postfix_version=_check_version(args.postfix_version),
        fail_on=Severity.parse(args.fail_on) if args.fail_on else None,
        baseline=args.baseline, write_baseline=args.write_baseline, tool_version=__version__,
        base=args.base, new_only=args.new_only, changed_only=args.changed_only,
        host_facts=any(name in HOST_FACT_FORMATS for name, _output in formats), progress=progress,
    )
    if args.new_only and not args.base:
        raise CliError("--new-only needs --base REV")
    if args.changed_only and not args.base:
        raise CliError("--changed-only needs --base REV")
    if (args.fix or args.diff) and (args.base or args.write_baseline):
        raise CliError(f"{'--fix' if args.fix else '--diff'} cannot be combined with "
                       f"{'--base' if args.base else '--write-baseline'}: fix first, then compare or record")
    paths = args.paths or ["."]
    policies = _policy_lookup(args.policy, args.profiles, args.select, args.ignore)
    try:
        result = lint(paths, options, policies)
    finally:
        if progress is not None:
            progress.close()  # the line is gone before anything else is written
    if args.fix or args.diff:
        outcome = _apply_fixes(result, options, paths, write=args.fix)
        if args.diff:
            return EXIT_FINDINGS if outcome.changes and not args.exit_zero else EXIT_CLEAN
        if outcome.changes:  # report what remains, as the files now read (no second progress line)
            result = lint(paths, replace(options, progress=None), policies)
    if result.baseline_written is not None and not args.quiet:
        sys.stderr.write(f"pfcheck: wrote {result.baseline_written} baseline entries to {args.write_baseline}\n")
    rules = {code: RuleInfo.from_module(module) for code, module in _rules_registry().items()}
    report = Report(
        findings=result.findings, rules=rules, files_checked=result.files_checked,
        tool_version=__version__, fail_on=result.fail_on, fail_on_by_policy=result.fail_on_by_policy,
        base=options.base, new_only=options.new_only,
        checked_paths=sorted({p for d in result.directories for p in d.files}),
        information_uri=PROJECT_URI, unrelated_files=len(result.unrelated), excluded_files=len(result.excluded),
        statistics=args.statistics, quiet=args.quiet,
        hosts=[replace(d.facts, findings=tuple(d.findings)) for d in result.directories if d.facts is not None],
    )

    for name, output in formats:
        shown = replace(report, color=output is None and _colour_wanted(args.color)) if name == "text" else report
        text = RENDERERS[name](shown)
        if output is None:
            sys.stdout.write(text)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text, encoding="utf-8")
    return EXIT_FINDINGS if result.failed and not args.exit_zero else EXIT_CLEAN


def _apply_fixes(result: Any, options: Any, paths: Sequence[str], write: bool) -> Any:
    """--fix / --diff: plan the proven fixes, say on stderr what was refused and why, then
    write the files (--fix) or print the diff to stdout (--diff)."""
    from pfcheck.engine.fixing import ChangedMeanwhile, plan_fixes, unified_diff, write_changes

    outcome = plan_fixes(result, options, paths)
    for refusal in outcome.refused:
        finding = refusal.finding
        sys.stderr.write(f"pfcheck: {finding.path}:{finding.line}:{finding.column}: {finding.code} not fixed: "
                         f"{refusal.reason}\n")
    files = len(outcome.changes)
    if not write:
        sys.stdout.buffer.write(unified_diff(outcome.changes).encode("utf-8", "surrogateescape"))
        sys.stdout.flush()
        sys.stderr.write(f"pfcheck: would fix {_count(len(outcome.fixed), 'finding')} in {_count(files, 'file')}\n")
        return outcome
    try:
        written = write_changes(outcome.changes)
    except ChangedMeanwhile as error:
        raise CliError(str(error)) from None
    sys.stderr.write(f"pfcheck: fixed {_count(len(outcome.fixed), 'finding')} in {_count(len(written), 'file')}"
                     + (f" ({', '.join(written)})" if written else "") + "\n")
    return outcome


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


#: Global options that take a value (`--policy FILE`): a subcommand name right after one is
#: that value, not the subcommand.
_OPTIONS_WITH_VALUES = frozenset({
    "--policy", "--postfix-version", "--format", "--output-file", "--fail-on", "--profile",
    "--baseline", "--write-baseline", "--base", "--select", "--ignore", "--color",
})


def _subcommand_position(argv: Sequence[str]) -> Optional[int]:
    """Where the subcommand is when only options precede it (`pfcheck --policy P show DIR`),
    else None (a lint run: `pfcheck show` names a subcommand, `pfcheck x show` a path)."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word in SUBCOMMANDS:
            return index
        if word == "--" or not word.startswith("-"):
            return None
        index += 2 if word in _OPTIONS_WITH_VALUES else 1
    return None


def _relative(path: Any) -> str:
    """`path` relative to the working directory when it is below it, else as given."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if relative.startswith("..") else relative


def _progress_line(quiet: bool) -> Optional[ProgressLine]:
    """`143/1000 directories` on stderr while a long run judges, only when stderr is a terminal
    (never in a pipe, a file or a CI log) and not with --quiet (pfcheck/progress.py)."""
    if quiet:
        return None
    try:
        if not sys.stderr.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    from pfcheck.progress import ProgressLine

    return ProgressLine(sys.stderr)


def _colour_wanted(choice: str) -> bool:
    """`--color`: always/never as said; auto colours a terminal, unless NO_COLOR is set (any
    non-empty value, no-color.org); a non-empty FORCE_COLOR colours whatever stdout is."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from pfcheck.discovery import UsageError
    from pfcheck.policy import PolicyError

    try:
        position = _subcommand_position(argv)
        if position is not None:
            command = {"show": cmd_show, "rules": cmd_rules, "explain": cmd_explain, "profiles": cmd_profiles,
                       "schema": cmd_schema}[argv[position]]
            # Options written before the subcommand (`pfcheck --policy builtin show DIR`) are its own.
            return command(argv[:position] + argv[position + 1:])
        return cmd_lint(argv)
    except (CliError, UsageError) as error:
        sys.stderr.write(f"pfcheck: {error}\n" if not str(error).startswith("pfcheck") else f"{error}\n")
        return EXIT_ERROR
    except PolicyError as error:
        if error.path is not None:  # one style of path in every message: relative to the cwd
            error = PolicyError(_relative(error.path), error.line, error.column, error.message)
        sys.stderr.write(f"{error}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_CLEAN
    except Exception as error:  # noqa: BLE001 - the user gets one line, never a traceback
        if os.environ.get("PFCHECK_DEBUG") == "1":
            raise
        sys.stderr.write(f"pfcheck: internal error: {type(error).__name__}: {error} (set PFCHECK_DEBUG=1 for details)\n")
        return EXIT_ERROR
