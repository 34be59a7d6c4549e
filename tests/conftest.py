from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("PFCHECK_CORPUS", ROOT.parent / "shared" / "corpus"))
sys.path.insert(0, str(ROOT))


@pytest.fixture
def corpus_dir() -> Path:
    real = CORPUS / "real"
    if not real.is_dir():
        pytest.skip(f"corpus not present at {real}")
    return real


def _system_postfix_snapshot() -> dict[str, tuple[int, float]]:
    system = Path("/etc/postfix")
    if not system.is_dir():
        return {}
    return {str(p): (p.lstat().st_size, p.lstat().st_mtime) for p in system.rglob("*")}


@pytest.fixture(scope="session", autouse=True)
def system_postfix_untouched() -> object:
    """No test may touch the system instance's /etc/postfix (every instance is private)."""
    before = _system_postfix_snapshot()
    yield
    after = _system_postfix_snapshot()
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert not changed, f"a test changed /etc/postfix: {changed[:5]}"
