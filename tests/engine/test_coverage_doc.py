"""docs/coverage.md: one row per check of the research notes' rule anchor table (rules.md §7),
each answered by registered rules or by a reason."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pfcheck.rules import RULES

ROOT = Path(__file__).resolve().parents[2]
RESEARCH = ROOT.parent / "shared" / "research" / "rules.md"
ROW = re.compile(r"^\| (\d+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$")


def _rows() -> dict[int, tuple[str, str, str]]:
    rows: dict[int, tuple[str, str, str]] = {}
    for line in (ROOT / "docs/coverage.md").read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            number = int(match.group(1))
            assert number not in rows, f"row {number} twice"
            rows[number] = (match.group(2).strip(), match.group(3).strip(), match.group(4).strip())
    return rows


def test_every_row_has_registered_rules_or_a_reason() -> None:
    rows = _rows()
    assert sorted(rows) == list(range(1, max(rows) + 1))
    for number, (_check, rules, how) in rows.items():
        codes = re.findall(r"PF\d{3}", rules)
        assert set(codes) <= set(RULES), f"row {number}: {codes}"
        assert codes or rules == "—", f"row {number}: {rules!r}"
        assert how, f"row {number} says nothing"
        assert not codes or "not built" not in how, f"row {number}"


def test_rows_are_the_research_table() -> None:
    if not RESEARCH.is_file():
        pytest.skip(f"{RESEARCH} is not there (the research notes live beside the project)")
    text = RESEARCH.read_text(encoding="utf-8")
    section = text[text.index("## 7. Rule anchor table"):]
    research = {int(m.group(1)) for m in re.finditer(r"^\| (\d+) \|", section, re.M)}
    assert set(_rows()) == research
