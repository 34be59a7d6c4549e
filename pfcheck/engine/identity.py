"""Finding identity: what makes two findings the same problem when lines move.

`identity(finding)` is the one place that says what a finding's identity is: its file, rule,
parameter, master.cf listener and offending value (`Finding.actual`), never its line or
message. Each consumer takes the part it needs:

* `fingerprint()`: the SARIF `partialFingerprints`, GitLab `fingerprint` and JSON
  `fingerprint` of a finding (made unique within a report by `report.unique_fingerprints`);
* `baseline_key()`: a baseline entry (pfcheck/engine/baseline.py), with the path relative to
  the baseline file and the value as its SHA-256;
* `across_revisions()`: whether a finding already existed at the `--base` revision, where the
  path is a temporary copy's and the value may have changed (a narrowing that is still too wide
  stays "existing"; the widening itself is PF203).

The encodings are part of the output: fingerprints and baseline files written by earlier
versions must still match.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # findings.py imports this module: no import back at run time
    from pfcheck.findings import Finding

#: Keys a baseline entry may have besides the required `path` and `rule`, in file order.
OPTIONAL_BASELINE_KEYS: tuple[str, ...] = ("parameter", "service", "value_sha256")


@dataclass(frozen=True)
class FindingIdentity:
    """The line-independent identity of a finding. `path` is the finding's display path."""

    path: str
    rule: str
    parameter: Optional[str]
    service: Optional[str]
    value: Optional[str]


def identity(finding: Finding) -> FindingIdentity:
    """The identity of a finding: file, rule, parameter, listener and offending value."""
    return FindingIdentity(finding.path, finding.code, finding.parameter, finding.service, finding.actual)


def _sha256(text: str) -> str:
    # surrogateescape: a value may hold bytes that are not UTF-8, exactly as the file has them.
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def value_digest(value: Optional[str]) -> Optional[str]:
    """SHA-256 (hex) of an offending value, None when the finding has no value."""
    return None if value is None else _sha256(value)


def fingerprint(finding: Finding) -> str:
    """SHA-256 of the identity's fields joined by US (0x1f); absent fields are empty."""
    found = identity(finding)
    return _sha256("\x1f".join([found.path, found.rule, found.parameter or "", found.service or "", found.value or ""]))


def across_revisions(finding: Finding) -> tuple[str, str, str, str]:
    """The identity compared with the `--base` revision: rule, listener and parameter; the
    value only for findings about no parameter, where it tells their kinds apart."""
    found = identity(finding)
    kind = found.value or "" if found.parameter is None else ""
    return (found.rule, found.service or "", found.parameter or "", kind)


@dataclass(frozen=True)
class BaselineKey:
    """A finding's identity as a baseline stores it: `path` relative to the baseline file's
    directory (POSIX), the value as `value_sha256`."""

    path: str
    rule: str
    parameter: Optional[str] = None
    service: Optional[str] = None
    value_sha256: Optional[str] = None

    def sort_key(self) -> tuple[str, ...]:
        return (self.path, self.rule, self.parameter or "", self.service or "", self.value_sha256 or "")

    def as_data(self) -> dict[str, str]:
        data = {"path": self.path, "rule": self.rule}
        for key in OPTIONAL_BASELINE_KEYS:
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data

    def describe(self) -> str:
        parts = [self.rule]
        if self.parameter:
            parts.append(self.parameter)
        if self.service:
            parts.append(f"in {self.service}")
        return " ".join(parts)


def baseline_path(display_path: str, base_dir: Path, cwd: Path) -> str:
    """A display path (relative to `cwd`, or absolute) relative to `base_dir`, with `/`: so a
    baseline works from any working directory and on any checkout."""
    absolute = os.path.normpath(cwd / display_path)
    return Path(os.path.relpath(absolute, base_dir)).as_posix()


def baseline_key(finding: Finding, base_dir: Path, cwd: Path) -> BaselineKey:
    """The baseline key of a finding; `base_dir` is the baseline file's (resolved) directory."""
    found = identity(finding)
    return BaselineKey(baseline_path(found.path, base_dir, cwd), found.rule, found.parameter, found.service,
                       value_digest(found.value))
