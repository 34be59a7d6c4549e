"""Baselines: accept the findings that exist today, report only new ones.

`pfcheck --write-baseline FILE` records the run's findings (after inline suppressions and
waivers) in FILE; `pfcheck --baseline FILE` hides every finding that matches an entry. The file
is JSON, one entry per line, sorted, so that it diffs and reviews well:

    {
      "version": 1,
      "generated_by": "pfcheck 0.1.0",
      "findings": [
        {"path": "hosts/mx1/main.cf", "rule": "PF101", "parameter": "disable_vrfy_command", "service": "smtp/inet", "value_sha256": "4bf5..."}
      ]
    }

* An entry is keyed by the file's path **relative to the baseline file's directory** (with `/`,
  so the baseline works from any working directory and on any checkout), the rule code, the
  parameter, the master.cf listener (`name/type`) and the SHA-256 of the offending value
  (`Finding.actual`): the finding's identity (identity.py). A key is left out when the finding
  has none. There are **no line numbers**: inserting or moving lines keeps findings
  baselined, while changing the offending value brings the finding back.
* Matching is a multiset: two identical findings need two entries.
* An entry that matches nothing, for a file that was checked in this run (or that no longer
  exists), is **stale** and reported as PF903 (stale-baseline-entry, info by default) at its
  line in the baseline file, so the file shrinks as findings get fixed. Entries for files the
  run did not check (pre-commit passes only the changed files) are neither used nor stale.
* Baselined findings never fail the run; stale entries fail it only under `--fail-on info`.
* Writing keeps the entries of files that this run did not check and that still exist, so
  `--write-baseline` from a pre-commit run on some files does not forget the others.

A missing or malformed baseline file is a `BaselineError` (a `UsageError`: exit 2).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Optional, Protocol, Sequence

from pfcheck.discovery import UsageError
from pfcheck.engine.identity import OPTIONAL_BASELINE_KEYS, BaselineKey, baseline_key, baseline_path
from pfcheck.engine.suppressed import BASELINE, Suppressed
from pfcheck.findings import Finding
from pfcheck.rules import engine_finding

BASELINE_VERSION = 1

#: The finding this module reports (the rule's documentation: pfcheck/rules/pf903_*.py).
STALE_BASELINE_ENTRY = "PF903"

#: A baseline is one line per finding; anything bigger is not one.
MAX_BASELINE_BYTES = 64 * 1024 * 1024


class BaselineError(UsageError):
    """A baseline file that cannot be read or used (exit 2)."""


class BaselineStep(Protocol):
    """The last step of the suppression pipeline (engine/suppress.py, Suppressor): a baseline
    being read (`Baseline`) or written (`BaselineWriter`)."""

    #: Entries written by `finish()`; None when this step writes no file.
    written: Optional[int]

    def filter(self, findings: Iterable[Finding]) -> tuple[list[Finding], list[Suppressed]]:
        """(the findings that stay, the ones the baseline accepts)."""
        ...

    def finish(self, checked: Iterable[str]) -> list[Finding]:
        """Once every directory is done; `checked` are the display paths judged."""
        ...


def _base_dir(path: Path, cwd: Path) -> Path:
    """The directory entry paths are relative to: the baseline file's, resolved."""
    return Path(os.path.normpath(cwd / path)).resolve().parent


def render_baseline(keys: Iterable[BaselineKey], generated_by: Optional[str] = None) -> str:
    """The baseline file's text: sorted entries, one per line."""
    entries = sorted(keys, key=BaselineKey.sort_key)
    header = [f'  "version": {BASELINE_VERSION},']
    if generated_by:
        header.append(f'  "generated_by": {json.dumps(generated_by)},')
    if not entries:
        return "{\n" + "\n".join(header) + '\n  "findings": []\n}\n'
    body = ",\n".join("    " + json.dumps(entry.as_data(), ensure_ascii=False) for entry in entries)
    return "{\n" + "\n".join(header) + '\n  "findings": [\n' + body + "\n  ]\n}\n"


_ENTRY_LINE = re.compile(r'\s*\{\s*"path"\s*:')


def _entry_lines(text: str, count: int) -> list[int]:
    """Line of each entry, when the file has one entry per line (as pfcheck writes it)."""
    lines = [number for number, raw in enumerate(text.split("\n"), start=1) if _ENTRY_LINE.match(raw)]
    return lines if len(lines) == count else [1] * count


def _entry(item: Any, index: int, where: str) -> BaselineKey:
    label = f"{where}: findings[{index}]"
    if not isinstance(item, dict):
        raise BaselineError(f"{label} must be an object")
    unknown = sorted(set(item) - {"path", "rule", *OPTIONAL_BASELINE_KEYS})
    if unknown:
        raise BaselineError(f'{label}: unknown key "{unknown[0]}" (keys: path, rule, {", ".join(OPTIONAL_BASELINE_KEYS)})')
    for required in ("path", "rule"):
        if not isinstance(item.get(required), str) or not item[required]:
            raise BaselineError(f'{label}: "{required}" must be a non-empty string')
    path = item["path"]
    if "\\" in path or path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise BaselineError(f'{label}: path "{path}" must be relative to the baseline file, with "/"')
    values: dict[str, Optional[str]] = {}
    for key in OPTIONAL_BASELINE_KEYS:
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            raise BaselineError(f'{label}: "{key}" must be a string')
        values[key] = value
    return BaselineKey(path, item["rule"], values["parameter"], values["service"], values["value_sha256"])


def parse_baseline(text: str, where: str = "baseline") -> tuple[list[BaselineKey], list[int]]:
    """Entries of a baseline text, with the line of each. Raises BaselineError."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BaselineError(f"{where}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}") from None
    if not isinstance(data, dict):
        raise BaselineError(f"{where}: a baseline is a JSON object with \"version\" and \"findings\"")
    unknown = sorted(set(data) - {"version", "generated_by", "findings"})
    if unknown:
        raise BaselineError(f'{where}: unknown key "{unknown[0]}"')
    if data.get("version") != BASELINE_VERSION:
        raise BaselineError(
            f"{where}: unsupported baseline version {data.get('version')!r} (this pfcheck reads version "
            f"{BASELINE_VERSION}); write it again with --write-baseline"
        )
    items = data.get("findings")
    if not isinstance(items, list):
        raise BaselineError(f'{where}: "findings" must be a list')
    entries = [_entry(item, index, where) for index, item in enumerate(items)]
    return entries, _entry_lines(text, len(entries))


def _read(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BASELINE_BYTES + 1)
    except OSError as error:
        raise BaselineError(f"{path}: cannot read baseline: {error.strerror or error}") from None
    if len(data) > MAX_BASELINE_BYTES:
        raise BaselineError(f"{path}: baseline is larger than {MAX_BASELINE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BaselineError(f"{path}: baseline is not UTF-8 ({error.reason} at byte {error.start})") from None


class Baseline:
    """A loaded baseline, consumed as findings match (`filter`), then asked for stale entries
    (`finish`). `cwd` is the directory the findings' relative paths are relative to."""

    def __init__(self, path: Path, entries: Sequence[BaselineKey], lines: Sequence[int],
                 cwd: Optional[Path] = None, display: Optional[str] = None) -> None:
        self.path = Path(path)
        self.cwd = (cwd or Path.cwd()).resolve()
        self.base_dir = _base_dir(self.path, self.cwd)
        self.display = display or self.path.as_posix()
        self.written: Optional[int] = None  # reading never writes the file
        self.entries = list(entries)
        # Unmatched entries, each with its own line, in file order (duplicates are separate).
        self._remaining: dict[BaselineKey, list[int]] = {}
        for entry, line in zip(entries, lines):
            self._remaining.setdefault(entry, []).append(line)

    @classmethod
    def load(cls, path: Path, cwd: Optional[Path] = None, display: Optional[str] = None) -> "Baseline":
        if not Path(path).is_file():
            raise BaselineError(f"{path}: baseline file not found (create it with --write-baseline {path})")
        entries, lines = parse_baseline(_read(Path(path)), str(path))
        return cls(path, entries, lines, cwd, display)

    def key(self, finding: Finding) -> BaselineKey:
        return baseline_key(finding, self.base_dir, self.cwd)

    def take(self, finding: Finding) -> bool:
        """Consume one matching entry; False when none is left for this finding."""
        lines = self._remaining.get(self.key(finding))
        if not lines:
            return False
        lines.pop(0)
        return True

    def filter(self, findings: Iterable[Finding]) -> tuple[list[Finding], list[Suppressed]]:
        """(findings not in the baseline, the baselined ones)."""
        kept: list[Finding] = []
        baselined: list[Suppressed] = []
        for finding in findings:
            if self.take(finding):
                baselined.append(Suppressed(finding, BASELINE, "", self.display))
            else:
                kept.append(finding)
        return kept, baselined

    def stale(self, checked: Iterable[str]) -> list[tuple[BaselineKey, int]]:
        """Unmatched entries for checked files (display paths) or for files that are gone."""
        checked_relative = {baseline_path(path, self.base_dir, self.cwd) for path in checked}
        stale: list[tuple[BaselineKey, int]] = []
        for entry, lines in self._remaining.items():
            if not lines:
                continue
            gone = not (self.base_dir / entry.path).exists()
            if entry.path in checked_relative or gone:
                stale.extend((entry, line) for line in lines)
        return sorted(stale, key=lambda item: (item[1], item[0].sort_key()))

    def finish(self, checked: Iterable[str]) -> list[Finding]:
        """PF903 for each stale entry, at its line in the baseline file (at the rule's default
        severity: the engine applies the policy's)."""
        return [
            engine_finding(
                STALE_BASELINE_ENTRY, self.display, line, 1,
                f"stale baseline entry: no {entry.describe()} finding in {entry.path} any more"
                f"{' (the file is gone)' if not (self.base_dir / entry.path).exists() else ''}; "
                f"remove the entry or write the baseline again",
                parameter=entry.parameter, service=entry.service,
                actual=f"{entry.path} {entry.rule} {entry.value_sha256 or ''}".strip(),
            )
            for entry, line in self.stale(checked)
        ]


class BaselineWriter:
    """`--write-baseline`: every finding that reaches the baseline step is recorded (and counts
    as baselined for this run); `finish` writes the file."""

    def __init__(self, path: Path, cwd: Optional[Path] = None, generated_by: Optional[str] = None,
                 display: Optional[str] = None) -> None:
        self.path = Path(path)
        self.cwd = (cwd or Path.cwd()).resolve()
        self.base_dir = _base_dir(self.path, self.cwd)
        self.generated_by = generated_by
        self.display = display or self.path.as_posix()
        self.keys: list[BaselineKey] = []
        self.written: Optional[int] = None

    def filter(self, findings: Iterable[Finding]) -> tuple[list[Finding], list[Suppressed]]:
        recorded = []
        for finding in findings:
            self.keys.append(baseline_key(finding, self.base_dir, self.cwd))
            recorded.append(Suppressed(finding, BASELINE, "", self.display))
        return [], recorded

    def finish(self, checked: Iterable[str]) -> list[Finding]:
        """Write the file (keeping entries of unchecked files that still exist); no findings."""
        checked_relative = {baseline_path(path, self.base_dir, self.cwd) for path in checked}
        keys = list(self.keys)
        if self.path.is_file():
            try:
                previous, _ = parse_baseline(_read(self.path), str(self.path))
            except BaselineError:
                previous = []  # the user asked for a new file; a broken old one is replaced
            keys.extend(
                entry for entry in previous
                if entry.path not in checked_relative and (self.base_dir / entry.path).exists()
            )
        text = render_baseline(keys, self.generated_by)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.path)
        self.written = len(keys)
        return []

