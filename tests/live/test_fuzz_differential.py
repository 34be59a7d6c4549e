"""A short sample of the differential fuzz run (scripts/fuzz_differential.py) in CI.

Mutated corpus configs: `pfcheck show --format json` must agree with postconf -n, -nx, -M, -P
and its unused-parameter warnings, and neither `pfcheck` nor `pfcheck show` may crash or hang.
The seed is fixed so that a failure reproduces; PFCHECK_FUZZ_SEED / PFCHECK_FUZZ_COUNT widen
the sample by hand (the long runs and their figures are in the closing notes, not here).
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.support.differential import compare, corpus_seeds, generated_seed, host_facts, mutate
from tests.support.postfix_oracle import need_postconf

pytestmark = pytest.mark.live

SEED = int(os.environ.get("PFCHECK_FUZZ_SEED", "20261203"))
COUNT = int(os.environ.get("PFCHECK_FUZZ_COUNT", "20"))


def test_mutated_corpus_configs_agree_with_postconf(corpus_dir: Path, tmp_path: Path) -> None:
    need_postconf()
    (tmp_path / "empty").mkdir()
    facts = host_facts(tmp_path / "empty")
    seeds = corpus_seeds(corpus_dir)
    rng = random.Random(SEED)
    problems: list[str] = []
    compared = 0
    for index in range(COUNT):
        name, main_text, master_text = rng.choice(seeds) if index % 4 else generated_seed(rng)
        mutant = mutate(rng, main_text, master_text, rng.randint(1, 3))
        work = tmp_path / f"in{index}"
        work.mkdir()
        (work / "main.cf").write_text(mutant.main, encoding="utf-8", errors="surrogateescape")
        (work / "master.cf").write_text(mutant.master, encoding="utf-8", errors="surrogateescape")
        for outcome in compare(work, facts):
            compared += 1
            if not outcome.agrees:
                problems.append(f"{work.name} ({name} after {mutant.applied}): {outcome.mode}: {outcome.detail}")
    assert compared >= COUNT * 3  # lint, show and -n always; the rest when postconf -n reads the files
    assert not problems, "\n".join(problems[:20])


def test_a_mutation_changes_the_text() -> None:
    """The sample is not vacuous: mutants differ from their seeds."""
    rng = random.Random(1)
    text = "myhostname = mx.example.com\nmynetworks = 127.0.0.0/8\n"
    master = "smtp inet n - n - - smtpd\n"
    changed = sum(1 for _ in range(20) if (m := mutate(rng, text, master, 2)).main != text or m.master != master)
    assert changed >= 18
