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
