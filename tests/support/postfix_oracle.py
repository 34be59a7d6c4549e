"""Real Postfix as the oracle: run `postconf` on a private config directory.

Nothing here touches /etc/postfix: every call passes `-c DIR` for a temp directory.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTCONF = shutil.which("postconf") or ("/usr/sbin/postconf" if os.path.exists("/usr/sbin/postconf") else None)


def postfix_required() -> bool:
    return os.environ.get("PFCHECK_REQUIRE_POSTFIX") == "1"


def need_postconf() -> str:
    """Return the postconf path, or skip (fail under PFCHECK_REQUIRE_POSTFIX=1)."""
    if POSTCONF is None:
        reason = "real Postfix is not installed (postconf not found); .ci/run installs it"
        if postfix_required():
            pytest.fail(reason + " and PFCHECK_REQUIRE_POSTFIX=1")
        pytest.skip(reason)
    return POSTCONF


def cool_down(directory: Path) -> None:
    """Back-date files so Postfix does not wait for a 'fresh' main.cf to settle (~2 s per call)."""
    past = time.time() - 120
    for path in directory.iterdir():
        if path.is_file():
            os.utime(path, (past, past))


@dataclass
class PostconfResult:
    returncode: int
    stdout: str
    stderr: str


def postconf(directory: Path, *args: str) -> PostconfResult:
    """Run `postconf -c DIR ARGS...`. Never pass name=value arguments: that edits main.cf."""
    assert not any("=" in a for a in args), "postconf name=value edits main.cf"
    exe = need_postconf()
    cool_down(directory)
    proc = subprocess.run(
        [exe, "-c", str(directory), *args],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=60,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"},
    )
    return PostconfResult(proc.returncode, proc.stdout, proc.stderr)


def parse_postconf_lines(text: str) -> dict[str, str]:
    """Parse `name = value` output (folded long lines continue with whitespace)."""
    values: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        if line[:1].isspace() and current is not None:
            values[current] = (values[current] + " " + line.strip()).strip()
            continue
        name, sep, value = line.partition(" =")
        if not sep:
            continue
        current = name.strip()
        values[current] = value.strip()
    return {k: " ".join(v.split()) for k, v in values.items()}
