"""The lint API over every real config of the corpus (/work/shared/corpus/real, see INDEX.md).

No exception anywhere; a template main.cf (INDEX.md "template?" = yes) gives either PF900 and
nothing else for that file (control flow) or PF906 for its placeholder lines and no PF900
(judged as Postfix reads it); a literal main.cf never gives PF900 nor PF906; every finding
points at a line and column that exist in its file.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pfcheck.findings import Finding
from pfcheck.engine.run import LintOptions, lint
from pfcheck.policy import PolicyResolver
from pfcheck.rules import RULES

ROOT = Path(__file__).resolve().parents[2]
CORPUS_REAL = Path(os.environ.get("PFCHECK_CORPUS", ROOT.parent / "shared" / "corpus")) / "real"
ROW = re.compile(r"^\|\s*(?P<number>\d{3})\s*\|[^|]*\|[^|]*\|\s*(?P<template>yes|no)\b[^|]*\|")


def template_column(corpus: Path) -> dict[str, bool]:
    """INDEX.md's "template?" column: directory number -> whether main.cf is a template."""
    rows = {}
    for line in (corpus / "INDEX.md").read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            rows[match["number"]] = match["template"] == "yes"
    return rows


def corpus_directories() -> list[str]:
    if not CORPUS_REAL.is_dir():
        return []
    return sorted(p.name for p in CORPUS_REAL.iterdir() if p.is_dir() and (p / "main.cf").exists())


DIRECTORIES = corpus_directories()


def lint_directory(directory: Path) -> list[Finding]:
    builtin = PolicyResolver(RULES).load(None)
    return lint([str(directory)], LintOptions(), lambda _directory: builtin).findings


def test_index_covers_every_directory(corpus_dir: Path) -> None:
    rows = template_column(corpus_dir)
    numbers = {name[:3] for name in corpus_directories()}
    assert numbers and numbers <= set(rows), f"directories missing from INDEX.md: {sorted(numbers - set(rows))}"
    assert sum(rows.values()) >= 20, "INDEX.md should mark the templates"


@pytest.mark.parametrize("name", DIRECTORIES or ["(no corpus)"])
def test_corpus_directory(name: str, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = corpus_dir / name
    is_template = template_column(corpus_dir)[name[:3]]
    # Paths in findings are relative to the working directory: make them "NNN_x/main.cf".
    monkeypatch.chdir(corpus_dir)
    findings = lint_directory(Path(name))

    main = f"{name}/main.cf"
    main_findings = [f for f in findings if f.path == main]
    pf900_main = [f for f in main_findings if f.code == "PF900"]
    pf906_main = [f for f in main_findings if f.code == "PF906"]
    if is_template and pf906_main:
        assert not pf900_main, f"{main}: PF906 (judged) and PF900 (not checked) at once"
    elif is_template:
        assert len(pf900_main) == 1, f"{main} is a template (INDEX.md) but got {pf900_main}"
        others = [f"{f.code}:{f.line}" for f in main_findings if f.code != "PF900"]
        assert not others, f"template {main} must get PF900 only, got {others}"
    else:
        assert not pf900_main, f"{main} is literal (INDEX.md) but got {pf900_main[0].message}"
        assert not pf906_main, f"{main} is literal (INDEX.md) but got {pf906_main[0].message}"

    master = f"{name}/master.cf"
    master_findings = [f for f in findings if f.path == master]
    if any(f.code == "PF900" for f in master_findings):
        assert [f.code for f in master_findings] == ["PF900"], f"{master}: PF900 and other findings"

    lines_of: dict[str, list[str]] = {}
    for finding in findings:
        assert finding.line >= 1 and finding.column >= 1, finding
        if finding.path not in lines_of:
            data = (corpus_dir / finding.path).read_bytes()
            lines_of[finding.path] = data.decode("utf-8", "surrogateescape").split("\n")
        lines = lines_of[finding.path]
        if lines and lines[-1] == "":
            lines = lines[:-1]
        assert finding.line <= max(len(lines), 1), f"{finding.path}:{finding.line} beyond the last line ({len(lines)})"
        if lines:
            text = lines[finding.line - 1]
            assert finding.column <= len(text) + 1, (
                f"{finding.path}:{finding.line}:{finding.column} beyond the line's end ({len(text)} chars): {finding.code}"
            )
