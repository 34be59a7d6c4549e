"""What every rule module gets: the context of one config directory, and finding helpers."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Protocol

from pfcheck.findings import Finding, Severity
from pfcheck.postfix.config import ConfigDir, Listener, Origin, Value


class RuleModule(Protocol):
    """The shape of a rule module (yamllint style); the module docstring is its documentation."""

    ID: str
    NAME: str
    SEVERITY: Severity
    OPTIONS: Mapping[str, tuple[type, Any]]
    __doc__: Optional[str]

    def check(self, ctx: "RuleContext", options: Mapping[str, Any]) -> Iterator[Finding]: ...


@dataclass
class RuleContext:
    """One config directory under analysis."""

    config: ConfigDir
    repo_root: Path
    display: Callable[[Path], str] = str
    cache: dict[str, Any] = field(default_factory=dict)
    #: The governing policy's `assume:` (pfcheck.policy.assume.Assumptions), set by run_rules():
    #: the one way assumptions reach the relay evaluator (see relay_common.relay_verdict).
    assumptions: Any = None

    def resolver(self) -> Any:
        """A TableResolver for table files inside the repo (created once per directory)."""
        if "resolver" not in self.cache:
            from pfcheck.postfix.tables import TableResolver

            self.cache["resolver"] = TableResolver(self.repo_root, self.config.directory)
        return self.cache["resolver"]

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
