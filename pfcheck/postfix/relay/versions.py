"""Postfix versions and compatibility levels, as the relay evaluator compares them.

These are the evaluator's own lenient readings, kept apart so that they can be replaced by the
shared ones (pfcheck.postfix.defaults.parse_version, parse_compat_level, compat_level_below,
expand.compat_level_value) in one place: those refuse what Postfix refuses, these never raise
(the evaluator judges whatever version a caller names, and a compatibility_level Postfix would
refuse is PF000's business, not the verdict's).
"""
from __future__ import annotations

import re
from typing import Tuple

#: The version assumed for text that names none (the default target, defaults.DEFAULT_VERSION).
_FALLBACK_VERSION = (3, 7)


def parse_version(version: str) -> Tuple[int, int]:
    """(major, minor) of the leading `major[.minor]` of `version`; (3, 7) when it has none."""
    match = re.match(r"\s*(\d+)(?:\.(\d+))?", version or "")
    if not match:
        return _FALLBACK_VERSION
    return int(match.group(1)), int(match.group(2) or 0)


def compat_at_least(level: str, wanted: Tuple[int, ...]) -> bool:
    """`compatibility_level` compared like Postfix's `<level` (numeric per component)."""
    parts = re.findall(r"\d+", level or "0")[:3] or ["0"]
    numbers = tuple(int(part) for part in parts)
    numbers = numbers + (0,) * (3 - len(numbers))
    wanted = tuple(wanted) + (0,) * (3 - len(wanted))
    return numbers >= wanted
