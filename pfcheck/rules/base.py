"""What every rule module is and gets: its shape (`RuleModule`), the context of one config
directory (`RuleContext`), and the finding helper."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional, Protocol

from pfcheck.findings import Finding, Severity
from pfcheck.policy.assume import Assumptions
from pfcheck.postfix.config import ConfigDir, Listener, Origin, Value

if TYPE_CHECKING:  # imported where used: most runs resolve no table, and fix nothing
    from pfcheck.postfix.edits import Fix
    from pfcheck.postfix.tables import TableResolver


class RuleModule(Protocol):
    """The shape of a rule module (yamllint style): its identity (code, name, default severity),
    its options, `check()`, and the module docstring as its documentation. The registry
    (pfcheck/rules/__init__.py) says which of its kinds a rule is, and so whether the engine
    calls `check()`: a rule whose findings the engine makes itself has `check = no_findings`,
    so that every rule module has the same shape."""

    ID: str
    NAME: str
    SEVERITY: Severity
    OPTIONS: Mapping[str, tuple[type, Any]]
    __doc__: Optional[str]

    def check(self, ctx: "RuleContext", options: Mapping[str, Any]) -> Iterator[Finding]: ...


class BaseComparisonRule(RuleModule, Protocol):
    """A rule that compares a config directory with itself at the `--base` revision (PF203,
    PF304): what the change did, which no single revision shows."""

    def compare(self, new: "RuleContext", old: "RuleContext", revision: str) -> Iterator[Finding]: ...


class FixableRule(RuleModule, Protocol):
    """A rule that can fix some of its findings (`pfcheck --fix`): `fix()` says which edits
    would (pfcheck/postfix/edits.py), or None; the engine proves a fix before applying it
    (pfcheck/engine/fixing.py). The rule module stays the one place for the rule's facts."""

    def fix(self, ctx: "RuleContext", finding: Finding) -> Optional["Fix"]: ...


def no_findings(ctx: "RuleContext", options: Mapping[str, Any]) -> Iterator[Finding]:
    """The `check()` of a rule whose findings the engine makes itself (a base comparison, a
    suppression or run rule): on its own, the rule finds nothing in a directory."""
    return iter(())


@dataclass
class RuleContext:
    """One config directory under analysis."""

    config: ConfigDir
    repo_root: Path
    display: Callable[[Path], str] = str
    cache: dict[str, Any] = field(default_factory=dict)
    #: The governing policy's `assume:`, set by run_rules(): the one way assumptions reach the
    #: relay evaluator (see relay_common.relay_verdict). None outside a lint run.
    assumptions: Optional[Assumptions] = None
    #: What the policy's `roles:` say this host is for (pfcheck.policy.model.ROLES), set by
    #: run_rules(). Empty when the policy states no role: then no rule assumes one.
    roles: frozenset[str] = frozenset()
    #: The compliance profiles of the governing policy (pfcheck/compliance.py), set by run_rules().
    profiles: tuple[str, ...] = ()

    def resolver(self) -> TableResolver:
        """A TableResolver for table files inside the repo (created once per directory)."""
        if "resolver" not in self.cache:
            from pfcheck.postfix.tables import TableResolver

            self.cache["resolver"] = TableResolver(self.repo_root, self.config.directory)
        resolver: TableResolver = self.cache["resolver"]
        return resolver

    def remote_smtpd_listeners(self) -> list[Listener]:
        """smtpd services that clients on other hosts can reach (directly or via postscreen)."""
        return [
            listener for listener in self.config.listeners()
            if listener.service.process_name == "smtpd" and listener.remote
        ]

    def location_of(self, value: Value, listener: Optional[Listener] = None) -> tuple[Path, int, int]:
        """Where to point for a value: its defining line, else the listener, else main.cf:1."""
        origin: Origin = value.origin
        if not origin.is_default and origin.path is not None:
            return origin.path, origin.line, max(origin.column, 1)
        if listener is not None and not self.config.master.assumed_default:
            return listener.service.path, listener.service.line, 1
        return self.config.main.path, 1, 1


def _displayed(ctx: RuleContext, path: Path) -> str:
    """ctx.display(path), once per path: it resolves the path (system calls), and a main.cf
    with thousands of redefinitions gives thousands of findings in the same file."""
    shown: dict[Path, str] = ctx.cache.setdefault("displayed-paths", {})
    text = shown.get(path)
    if text is None:
        text = shown[path] = ctx.display(path)
    return text


def make_finding(
    ctx: RuleContext,
    code: str,
    name: str,
    path: Path,
    line: int,
    column: int,
    message: str,
    **details: Any,
) -> Finding:
    """A finding at the rule's default severity; the policy sets the final one."""
    return Finding(
        code=code, name=name, severity=Severity.ERROR,
        path=_displayed(ctx, path), line=max(line, 1), column=max(column, 1),
        message=message, **details,
    )
