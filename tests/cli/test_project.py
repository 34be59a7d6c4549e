"""The project's promises about itself: README commands, CI entry point, packaging."""
from __future__ import annotations

import re

from tests.conftest import ROOT


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", readme, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = next(c for c in _readme_commands() if "pytest" in c)
    assert test_command in ci.splitlines(), "the last command of .ci/run must be the README's test command"
    assert "PFCHECK_REQUIRE_POSTFIX=1" in ci
    assert "apt-get install" in ci and "No configuration" in ci


def test_readme_has_an_install_and_run_command_on_examples() -> None:
    assert any("pip install" in c and "pfcheck" in c and "examples/" in c for c in _readme_commands())


def test_hook_manifest_names_both_hooks() -> None:
    manifest = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "- id: pfcheck\n" in manifest and "- id: pfcheck-all\n" in manifest
    from ruamel.yaml import YAML

    hooks = {hook["id"]: hook for hook in YAML(typ="safe").load(manifest)}
    # The gate sees every change: no narrow `files:` regex (pfcheck maps files to configs),
    # symlinks included, and deletion-only commits run the hook too.
    assert "files" not in hooks["pfcheck"]
    assert hooks["pfcheck"]["types"] == [] and set(hooks["pfcheck"]["types_or"]) == {"file", "symlink"}
    assert hooks["pfcheck"]["always_run"] is True and hooks["pfcheck"]["args"] == ["--base", "HEAD"]


def test_live_modules_live_in_tests_live() -> None:
    """The layout of docs/internals.md: a `*_live.py` module belongs in tests/live/."""
    misplaced = [p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*_live.py")
                 if p.parent != ROOT / "tests" / "live"]
    assert not misplaced
    assert sorted(p.name for p in (ROOT / "tests").glob("test_*.py")) == [], "tests are grouped in directories"
