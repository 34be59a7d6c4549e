"""Findings: what a rule reports, and the severities a policy can assign."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from pfcheck.engine import identity
from pfcheck.excerpt import MAX_MESSAGE_CHARS, bounded


class Severity(enum.IntEnum):
    """Ordered so that `severity >= fail_on` decides the exit code."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> "Severity":
        return cls[text.upper()]

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Finding:
    """One problem, located at a real line of a real file (line and column are 1-based).

    `path` is the path as the user named it, in POSIX form. `service` is `name/type` of the
    master.cf listener the finding is about, or None for directory-wide findings. `parameter`
    is the Postfix parameter concerned (None when not about one). `witness` is None or a
    rule-specific mapping (PF201: {"address"}; PF301: {"client", "helo", "sender", "recipient"}).
    `from_default` is True when the offending value is Postfix's built-in default, i.e. no line
    sets it (the finding then points at line 1, or at the listener line for a listener finding).
    `status` is "new" or "existing" against a git base revision, None without `--base`.
    `failing` says whether this finding fails the run. It is decided once, by
    `pfcheck.engine.decision.decide_failing`, and every output (exit code, text, JSON, JUnit, SARIF,
    GitLab, GitHub) reads it; it is not part of a finding's identity (equality, hash).
    `extra` is for callers of the library: no output shows it, and no rule fills it today.
    """

    code: str
    name: str
    severity: Severity
    path: str
    line: int
    column: int
    message: str
    service: Optional[str] = None
    parameter: Optional[str] = None
    witness: Optional[dict[str, Any]] = None
    expected: Optional[str] = None
    actual: Optional[str] = None
    from_default: bool = False
    status: Optional[str] = None
    failing: bool = field(default=False, compare=False)
    #: Compliance control ids this finding answers under the policy's profiles
    #: (pfcheck/compliance.py); not part of a finding's identity either.
    controls: tuple[str, ...] = field(default=(), compare=False)
    #: Whether the rule has a fix for this finding (`pfcheck --fix`, which applies it only once
    #: it is proven: pfcheck/engine/fixing.py); not part of a finding's identity either.
    fixable: bool = field(default=False, compare=False)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Every text that can quote a checked file leaves as a bounded, printable excerpt,
        # whichever rule built it (pfcheck.excerpt). Paths stay as they are: suppressions and
        # baselines match them, and renderers escape them.
        object.__setattr__(self, "message", bounded(self.message, MAX_MESSAGE_CHARS))
        for name in ("actual", "expected", "parameter", "service"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, bounded(value))

    def with_(self, **changes: Any) -> "Finding":
        return replace(self, **changes)

    def fingerprint(self) -> str:
        """A line-independent identity (pfcheck/engine/identity.py)."""
        return identity.fingerprint(self)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)
