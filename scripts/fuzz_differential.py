#!/usr/bin/env python3
"""A long differential fuzz run: mutated corpus configs, pfcheck against real postconf.

    python scripts/fuzz_differential.py --count 2000 --seed 1 [--corpus ../shared/corpus/real]
                                        [--keep DIR]

For each input it compares `pfcheck show --format json` with `postconf -n`, `-nx`, `-M`, `-P`
and the `unused parameter` warnings, and runs `pfcheck` and `pfcheck show` for internal errors
and hangs (tests/support/differential.py). It prints the figures per mode and every class of
disagreement with a count and one example; `--keep DIR` saves the first input of each class.
Needs postconf on PATH (or /usr/sbin); never touches /etc/postfix (every call passes -c DIR).
"""
from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.differential import (  # noqa: E402
    MODES, Outcome, compare, corpus_seeds, generated_seed, host_facts, mutate,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--edits", type=int, default=3, help="mutations per input (default 3)")
    parser.add_argument("--generated", type=float, default=0.25, help="share of synthetic seeds (default 0.25)")
    parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "real")
    parser.add_argument("--keep", type=Path, help="save the first input of each disagreement class here")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        parser.error(f"corpus not found: {args.corpus}")
    seeds = corpus_seeds(args.corpus)
    rng = random.Random(args.seed)
    agreed: Counter[str] = Counter()
    compared: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    host_facts_seen: Counter[str] = Counter()
    examples: dict[str, tuple[str, Outcome, list[str]]] = {}
    started = time.monotonic()
    generated = 0
    with tempfile.TemporaryDirectory(prefix="pfcheck-fuzz-") as scratch:
        root = Path(scratch)
        (root / "empty").mkdir()
        facts = host_facts(root / "empty")
        for index in range(args.count):
            name, main_text, master_text = rng.choice(seeds) if rng.random() >= args.generated else generated_seed(rng)
            mutant = mutate(rng, main_text, master_text, rng.randint(1, args.edits))
            generated += name == "generated"
            work = root / f"in{index}"
            work.mkdir()
            (work / "main.cf").write_text(mutant.main, encoding="utf-8", errors="surrogateescape")
            (work / "master.cf").write_text(mutant.master, encoding="utf-8", errors="surrogateescape")
            for outcome in compare(work, facts):
                compared[outcome.mode] += 1
                if outcome.agrees:
                    agreed[outcome.mode] += 1
                    if outcome.detail.startswith("host fact"):
                        host_facts_seen[outcome.mode] += 1
                    continue
                classes[outcome.kind] += 1
                if outcome.kind not in examples:
                    examples[outcome.kind] = (name, outcome, mutant.applied)
                    if args.keep is not None:
                        target = args.keep / f"class{len(examples):03d}"
                        shutil.copytree(work, target, dirs_exist_ok=True)
                        (target / "WHY").write_text(f"{name} {mutant.applied}\n{outcome.detail}\n")
            shutil.rmtree(work)
    elapsed = time.monotonic() - started
    print(f"{args.count} inputs ({generated} generated, the rest mutated from {len(seeds)} corpus configs), "
          f"seed {args.seed}, {elapsed:.0f} s")
    for mode in MODES:
        if compared[mode]:
            facts_note = f" ({host_facts_seen[mode]} of them postconf failing on this machine's interfaces or DNS)" if host_facts_seen[mode] else ""
            print(f"  {mode:9} {agreed[mode]:6} of {compared[mode]:6} agree{facts_note}")
    print(f"{len(classes)} disagreement classes")
    for kind, count in classes.most_common():
        name, outcome, applied = examples[kind]
        print(f"  {count:5}  {kind}\n         e.g. {name} after {applied}: {outcome.detail[:300]}")
    return 0 if not classes else 1


if __name__ == "__main__":
    sys.exit(main())
