"""Numbers as Postfix reads them: C `strtol()`, `main.cf` integers, compatibility levels and
Postfix version strings.

One implementation for what defaults.py, expand.py, param_types.py and the relay evaluator each
used to restate:

* `strtol()`: glibc `strtol(text, &end, 10)` on a 64-bit `long` (Debian amd64 build).
* `parse_conf_integer()`: `convert_mail_conf_int()` / `convert_mail_conf_long()`
  (global/mail_conf_int.c, mail_conf_long.c): the whole value must convert.
* `parse_compat_level()`: `compat_level_from_string()` (global/compat_level.c, 3.6+).
* `mac_exp_compare()`: mac_expand's plain relational operators (`<`, `==`, ... without the
  `level` suffix): numeric when both sides are all digits, else byte-wise.
* `parse_version()`: the `major.minor[.patch]` syntax of a Postfix release.
"""
from __future__ import annotations

import re
from typing import NamedTuple, Optional, Tuple

#: C isspace() in the "C" locale: what strtol() skips before the number.
C_SPACE = " \t\n\v\f\r"
LONG_MIN, LONG_MAX = -(2 ** 63), 2 ** 63 - 1
INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1
# compat_level.c packs a level into a long: 10 bits each for minor and patch.
COMPAT_MAJOR_MAX = LONG_MAX >> 20
COMPAT_PART_MAX = 0x3FF

_ALL_DIGITS = re.compile(r"[0-9]+\Z")
_VERSION_SYNTAX = re.compile(r"\s*(\d+)\.(\d+)(?:\.(\d+))?\s*\Z")


class StrtolResult(NamedTuple):
    """What `strtol(text + start, &end, 10)` leaves: the value, where it stopped and ERANGE.

    No digits: value 0 and `end == start` (strtol consumes nothing, not even the whitespace
    or the sign). Out of range: value clamped to LONG_MIN/LONG_MAX and `out_of_range`."""

    value: int
    end: int
    out_of_range: bool


def decimal_overflows_long(digits: str) -> bool:
    """Whether an unsigned run of decimal digits is above LONG_MAX, without `int()` on it: a
    value with thousands of digits would exceed Python's integer-string limit (and cost)."""
    significant = digits.lstrip("0")
    return len(significant) > 19 or (len(significant) == 19 and int(significant) > LONG_MAX)


def strtol(text: str, start: int = 0) -> StrtolResult:
    """C strtol(base 10) from `start`: leading isspace, an optional sign, decimal digits."""
    position = start
    while position < len(text) and text[position] in C_SPACE:
        position += 1
    negative = False
    if position < len(text) and text[position] in "+-":
        negative = text[position] == "-"
        position += 1
    digits_start = position
    while position < len(text) and "0" <= text[position] <= "9":
        position += 1
    if position == digits_start:
        return StrtolResult(0, start, False)
    digits = text[digits_start:position]
    if decimal_overflows_long(digits):
        # Every such value is out of range; LONG_MIN's digits themselves overflow LONG_MAX.
        if negative and digits.lstrip("0") == str(-LONG_MIN):
            return StrtolResult(LONG_MIN, position, False)
        return StrtolResult(LONG_MIN if negative else LONG_MAX, position, True)
    # Leading zeros do not count against Python's limit on integer-string digits.
    value = int(digits.lstrip("0") or "0")
    return StrtolResult(-value if negative else value, position, False)


def parse_conf_integer(name: str, value: str, *, int_range: bool = True) -> Tuple[Optional[int], str]:
    """convert_mail_conf_int() (`int_range`) / convert_mail_conf_long(): (number, "") or
    (None, Postfix's fatal text). The whole value must convert, within int or long."""
    number, end, out_of_range = strtol(value)
    if not value or end != len(value) or out_of_range or (int_range and not INT_MIN <= number <= INT_MAX):
        return None, f"bad numerical configuration: {name} = {value}"
    return number, ""


def parse_compat_level(text: str) -> Optional[Tuple[int, int, int]]:
    """compat_level_from_string(): `major[.minor[.patch]]` -> (major, minor, patch), None
    when Postfix calls it malformed.

    Each part goes through strtol (leading whitespace and a sign are accepted), major lies in
    0 .. LONG_MAX >> 20, minor and patch in 0 .. 1023; a part ends at the end of the text or at
    the `.` before the next part, and nothing may follow the patch. Tuples compare as Postfix
    compares the packed levels (3.10 > 3.9, 3.6 == 3.6.0)."""
    parts: list[int] = []
    position = 0
    while True:
        number, end, _ = strtol(text, position)
        limit = COMPAT_PART_MAX if parts else COMPAT_MAJOR_MAX
        # A clamped out-of-range value lies outside every limit, so ERANGE needs no test.
        if end == position or not 0 <= number <= limit:
            return None
        parts.append(number)
        if end == len(text):
            break
        if text[end] != "." or len(parts) == 3:
            return None
        position = end + 1
    parts += [0] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


def packed_compat_level(level: Tuple[int, int, int]) -> int:
    """The long compat_level_from_string() returns for (major, minor, patch)."""
    major, minor, patch = level
    return (major << 20) | (minor << 10) | patch


def mac_exp_compare(left: str, right: str) -> int:
    """-1, 0 or 1: mac_exp_eval()'s comparison of two operands without the `level` suffix.

    Numeric when both are all digits (the caller rules out values beyond LONG_MAX first:
    Postfix dies on them, see decimal_overflows_long()), else a byte-wise comparison of the
    texts (surrogate escapes stand for the file's original bytes)."""
    if _ALL_DIGITS.match(left) and _ALL_DIGITS.match(right):
        difference = int(left.lstrip("0") or "0") - int(right.lstrip("0") or "0")
        return (difference > 0) - (difference < 0)
    left_bytes = left.encode("utf-8", "surrogateescape")
    right_bytes = right.encode("utf-8", "surrogateescape")
    return (left_bytes > right_bytes) - (left_bytes < right_bytes)


def parse_version(text: object) -> Optional[Tuple[int, int]]:
    """`"3.7"` / `" 3.7.11 "` -> `(3, 7)`: a Postfix release's series; None for anything
    that is not `major.minor[.patch]` (whether pfcheck supports it is defaults' question)."""
    match = _VERSION_SYNTAX.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))
