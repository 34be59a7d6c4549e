"""One regexp:/pcre: pattern as pfcheck runs it, and one lookup's run of patterns.

`RegexpPattern` holds the pattern as written and its Python translation (tables/regexp.py translates
and parses the table); it is assessed (regex_safety.assess) and compiled when a lookup first
reaches it. `PatternRun` runs patterns for one key within the budgets of regex_safety and says
why when it does not: the lookup is then "cannot tell", never a guessed match or miss.
"""
from __future__ import annotations

import re

from pfcheck.postfix.regex_safety import (
    MAX_LOOKUP_STEPS,
    MAX_MATCH_STEPS,
    RegexCost,
    Refused,
    assess,
    fold_ascii,
    leading_literal,
)

OUTSIDE_SUBSET = "pattern outside the subset pfcheck evaluates"


class RegexpPattern:
    """One `/regex/flags` of a regexp: or pcre: table. `translated`: its Python form (None:
    outside the subset pfcheck evaluates). Assessed (regex_safety) and compiled on first use:
    most patterns of a large table are never reached, and compiling costs ~100 us each."""

    __slots__ = ("text", "match", "anchored", "translated", "flags", "pcre", "_refusal", "_cost", "_compiled",
                 "_leading")

    def __init__(self, text: str, match: bool, translated: str | None, flags: int, *,
                 pcre: bool = False, anchored: bool = False) -> None:
        self.text = text
        self.match = match  # False for !/re/
        self.anchored = anchored  # pcre's A flag: matched at the start of the key only
        self.translated = translated
        self.flags = flags
        self.pcre = pcre
        self._refusal: str | None = None if translated is not None else OUTSIDE_SUBSET
        self._cost: RegexCost | None = None
        self._compiled: re.Pattern[str] | None = None
        self._leading: tuple[str, bool] | None = None

    def cannot_fire(self, key: str, folded_key: str) -> bool:
        """A `/re/` (not `!/re/`) rule whose literal start the key lacks: it does not match,
        whatever else the pattern holds, also for Postfix (a rule regcomp() refused or one
        that hit PCRE2's match limit does not match either). Known without assessing or
        compiling the pattern. Patterns the translator refused stay unknown."""
        if not self.match or (self.translated is None and self._leading is None):
            return False
        if self._leading is None:
            assert self.translated is not None
            self._leading = leading_literal(self.translated, fold=bool(self.flags & re.IGNORECASE))
        prefix, starts = self._leading
        if not prefix:
            return False
        text = folded_key if self.flags & re.IGNORECASE else key
        return not (text.startswith(prefix) if starts or self.anchored else prefix in text)

    def refuse(self, reason: str) -> None:
        if self.translated is not None and self._leading is None:
            # Kept: cannot_fire() answers the same before and after the refusal.
            self._leading = leading_literal(self.translated, fold=bool(self.flags & re.IGNORECASE))
        self._refusal = reason
        self.translated = None

    @property
    def refusal(self) -> str | None:
        """Why pfcheck does not run this pattern (None: it does, within `cost`)."""
        if self._refusal is None and self._cost is None:
            assert self.translated is not None
            assessment = assess(self.translated, pcre=self.pcre, flags=self.flags)
            if isinstance(assessment, Refused):
                self.refuse(assessment.reason)
            else:
                self._cost = assessment
        return self._refusal

    @property
    def cost(self) -> RegexCost | None:
        return None if self.refusal is not None else self._cost

    @property
    def compiled(self) -> re.Pattern[str] | None:
        """The Python pattern; None when pfcheck does not run this pattern."""
        if self.refusal is not None or self.translated is None:
            return None
        if self._compiled is None:
            try:
                self._compiled = re.compile(self.translated, self.flags)
            except (re.error, RecursionError, OverflowError):
                self.refuse(OUTSIDE_SUBSET)
                return None
        return self._compiled

    def describe_refusal(self) -> str:
        if self.refusal == OUTSIDE_SUBSET:
            return OUTSIDE_SUBSET
        return f"/{shortened(self.text)}/ not evaluated: {self.refusal}"


def shortened(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


class PatternRun:
    """The patterns one lookup runs against `key`, sharing MAX_LOOKUP_STEPS."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.folded_key = fold_ascii(key)
        self.budget = MAX_LOOKUP_STEPS

    def matches(self, pattern: RegexpPattern) -> bool | str:
        """Whether the rule's pattern fires (`/re/` matches, `!/re/` does not), or why pfcheck
        does not run it."""
        key = self.key
        if pattern.cannot_fire(key, self.folded_key):
            self.budget -= len(key) + 1
            return False
        cost = pattern.cost
        if cost is None:
            return pattern.describe_refusal()
        if cost.excludes(key, anchored=pattern.anchored,
                         folded_key=self.folded_key if pattern.flags & re.IGNORECASE else None):
            self.budget -= len(key) + 1
            return not pattern.match
        compiled = pattern.compiled
        if compiled is None:
            return pattern.describe_refusal()
        steps = cost.steps(len(key), anchored=pattern.anchored)
        if steps > MAX_MATCH_STEPS or steps > self.budget:
            limit = "the limit for one pattern" if steps > MAX_MATCH_STEPS else "what is left of the lookup's budget"
            return (f"/{shortened(pattern.text)}/ not evaluated for a {len(key)}-character key: "
                    f"backtracking could take more than {limit} ({MAX_MATCH_STEPS:,} steps per pattern, "
                    f"{MAX_LOOKUP_STEPS:,} per lookup)")
        self.budget -= steps
        found = (compiled.match(key) if pattern.anchored else compiled.search(key)) is not None
        return found == pattern.match
