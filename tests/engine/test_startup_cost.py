"""Start-up cost of a plain run (issue 12, "Start faster"), and the rewrites that bought it.

* a plain run (no policy file, one directory, text output) imports none of the modules it
  does not use: ruamel.yaml (tests/engine/test_policy_tiny_yaml.py), and here datetime,
  difflib, shutil, zipfile/importlib.resources, threading, json, tempfile, subprocess;
* each of those modules is still imported where it is needed (a waiver with `expires:`, a
  misspelled parameter, `--help`), so the lazy imports did not break those paths;
* the cheaper replacements give what the old code gave: the summary without its trailing
  "(CODE, name)" against the old per-code regular expression, and tiny_yaml's printable test
  against the old all-of-Unicode pattern, for every code point.
"""
from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: Modules a plain run must not import (each cost 1-20 ms of a hook run).
NOT_IMPORTED = ("datetime", "difflib", "shutil", "zipfile", "importlib.resources", "threading", "json",
                "tempfile", "subprocess")


def _imported_after(tmp_path: Path, argv: list[str], main_cf: str, policy: str = "") -> set[str]:
    (tmp_path / ".git").mkdir(exist_ok=True)
    (tmp_path / "main.cf").write_text(main_cf, encoding="utf-8")
    if policy:
        (tmp_path / ".pfcheck.yaml").write_text(policy, encoding="utf-8")
    code = ("import sys, contextlib, io\nfrom pfcheck.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass\n"
            f"print(' '.join(m for m in {NOT_IMPORTED!r} if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_a_plain_run_imports_none_of_them(tmp_path: Path) -> None:
    assert _imported_after(tmp_path, ["."], "mynetworks = 127.0.0.0/8\n") == set()


def test_they_are_imported_where_they_are_needed(tmp_path: Path) -> None:
    # A misspelled parameter asks difflib for a did-you-mean.
    typo = tmp_path / "typo"
    typo.mkdir()
    assert "difflib" in _imported_after(typo, ["."], "disable_vrfy_comand = yes\n")
    # A waiver with an expiry date reads it with datetime.
    waived = tmp_path / "waived"
    waived.mkdir()
    policy = ("version: 1\nwaivers:\n  - rule: PF101\n    paths: ['*']\n    reason: test\n"
              "    expires: 2999-01-01\n")
    assert "datetime" in _imported_after(waived, ["."], "disable_vrfy_command = no\n", policy)


def test_help_wraps_at_the_width_argparse_would_use(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from pfcheck import cli

    texts = []
    for columns in ("50", "200"):
        monkeypatch.setenv("COLUMNS", columns)
        parser = cli._lint_parser()
        ours = parser.format_help()
        parser.formatter_class = argparse.HelpFormatter  # shutil.get_terminal_size()'s width
        assert ours == parser.format_help()
        texts.append(ours)
    assert texts[0] != texts[1]


def test_the_summary_loses_its_identity_as_the_old_pattern_dropped_it() -> None:
    from pfcheck.report import _without_identity, split_docstring
    from pfcheck.rules import RULES

    def old(summary: str, code: str) -> str:
        return re.sub(r"\s*\(\s*" + re.escape(code) + r"\b[^)]*\)(?=\.?$)", "", summary)

    for code, module in RULES.items():
        first = (module.__doc__ or "").strip().splitlines()[0]
        assert split_docstring(module.__doc__ or "", code)[0] == old(first.strip(), code)
    pieces = ["(", ")", " ", "\t", "PF101", "PF1010", "PF10", ".", ",", "x", "a(b", " vrfy-enabled"]
    generator = random.Random(12)
    for _ in range(20000):
        text = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 9)))
        assert _without_identity(text, "PF101") == old(text, "PF101"), repr(text)


@pytest.mark.slow
def test_the_printable_test_is_the_old_pattern_for_every_code_point() -> None:
    from pfcheck.policy.tiny_yaml import _NOT_PRINTABLE_ASCII, _printable_beyond_ascii

    old = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    for point in range(0x110000):
        character = chr(point)
        refused = bool(_NOT_PRINTABLE_ASCII.search(character)) or not (
            character.isascii() or _printable_beyond_ascii(character))
        assert refused == bool(old.search(character)), hex(point)
