"""Problems found while reading a config: what Postfix would die on (fatal) or warn about."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConfigIssue:
    """`fatal` issues make Postfix programs exit; others are warnings Postfix logs.

    `kind` is a stable short identifier (e.g. "missing-equals", "orphan-line", "duplicate").
    """

    path: Path
    line: int
    column: int
    message: str
    kind: str
    fatal: bool = False
    parameter: str = ""
