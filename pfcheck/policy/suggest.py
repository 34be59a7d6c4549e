"""Did-you-mean for policy keys, rule names and assumption results."""
from __future__ import annotations

from typing import Iterable


def suggest(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean "x"?)' for the closest candidate, '' when none is close.

    Ties go to the candidate listed first (registry order), not to difflib's reverse order.
    """
    import difflib  # only when there is something to suggest for

    best, best_score = "", 0.0
    for candidate in candidates:
        matcher = difflib.SequenceMatcher(None, word.lower(), candidate.lower())
        if matcher.real_quick_ratio() < 0.6 or matcher.quick_ratio() < 0.6:
            continue
        score = matcher.ratio()
        if score >= 0.6 and score > best_score:
            best, best_score = candidate, score
    return f' (did you mean "{best}"?)' if best else ""
