"""main.cf: `name = value` definitions as Postfix's dict_load_fp()/split_nameval() read them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from pfcheck.postfix.issues import ConfigIssue
from pfcheck.postfix.lines import LogicalLine, logical_lines
from pfcheck.postfix.source import POSTFIX_SPACE, SourceText


@dataclass(frozen=True)
class Definition:
    """One `name = value` logical line. `line`/`column` locate the name, `value_*` the value."""

    name: str
    value: str
    path: Path
    line: int
    column: int
    value_line: int
    value_column: int


@dataclass
class MainCf:
    path: Path
    definitions: list[Definition] = field(default_factory=list)
    issues: list[ConfigIssue] = field(default_factory=list)
    params: dict[str, Definition] = field(default_factory=dict)
    present: bool = True

    def get(self, name: str) -> Optional[Definition]:
        return self.params.get(name)

    def history(self, name: str) -> list[Definition]:
        return [d for d in self.definitions if d.name == name]


def split_nameval(text: str) -> tuple[Optional[str], int, str, str]:
    """Postfix's split_nameval(): (error, value offset, name, value). Error is None when valid."""
    start = len(text) - len(text.lstrip(POSTFIX_SPACE))
    if start == len(text) or text[start] == "=":
        return "missing attribute name", start, "", ""
    end = start
    while end < len(text) and text[end] not in POSTFIX_SPACE and text[end] != "=":
        end += 1
    equals = end
    while equals < len(text) and text[equals] in POSTFIX_SPACE:
        equals += 1
    if equals >= len(text) or text[equals] != "=":
        return "missing '=' after attribute name", start, "", ""
    value_start = equals + 1
    while value_start < len(text) and text[value_start] in POSTFIX_SPACE:
        value_start += 1
    return None, value_start, text[start:end], text[value_start:].rstrip(POSTFIX_SPACE)


def _orphan_issue(path: Path, logical: LogicalLine) -> ConfigIssue:
    shown = logical.text[:30] + ("..." if len(logical.text) > 30 else "")
    return ConfigIssue(
        path, logical.line, 1,
        f'logical line must not start with whitespace: "{shown}"; Postfix ignores it',
        "orphan-line",
    )


def parse_main_cf(source: SourceText) -> MainCf:
    """Parse main.cf text. Never raises: problems become ConfigIssues."""
    path = source.path
    result = MainCf(path)
    for logical in logical_lines(source.text):
        if logical.orphan:
            result.issues.append(_orphan_issue(path, logical))
            continue
        error, value_offset, name, value = split_nameval(logical.text)
        if error is not None:
            shown = logical.text if len(logical.text) <= 60 else logical.text[:60] + "..."
            result.issues.append(ConfigIssue(
                path, logical.line, 1,
                f'{error}: "{shown}"; every Postfix program exits with this fatal error',
                "missing-equals" if "'='" in error else "missing-name",
                fatal=True,
            ))
            continue
        value_line, value_column = logical.position(value_offset)
        definition = Definition(name, value, path, logical.line, 1, value_line, value_column)
        earlier = result.params.get(name)
        if earlier is not None and earlier.value != value:
            result.issues.append(ConfigIssue(
                path, logical.line, 1,
                f"overriding earlier entry at line {earlier.line}: {name}={earlier.value}",
                "duplicate", parameter=name,
            ))
        result.definitions.append(definition)
        result.params[name] = definition
    return result
