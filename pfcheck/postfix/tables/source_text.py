"""The text formats of table sources and table values, as Postfix's parsers split them:
readllines() logical lines, postmap's `key value`, `name = value` (split_qnameval()) and
extpar()'s `{ ... }`."""
from __future__ import annotations

from pfcheck.postfix.lines import POSTFIX_SPACE
from pfcheck.postfix.tables.results import TableIssue

SPACE = POSTFIX_SPACE  # C isspace()


def extpar_strip(text: str) -> tuple[str, str | None]:
    """extpar(..., "{}", EXTPAR_FLAG_STRIP): (inner text, error)."""
    length = balpar(text)
    if length == 0:
        return text[1:].strip(SPACE), f"missing '}}' in \"{text}\""
    inner = text[1:length - 1].strip(SPACE)
    if length != len(text):
        return inner, f"syntax error after '}}' in \"{text}\""
    return inner, None


def balpar(text: str) -> int:
    if not text.startswith("{"):
        return 0
    level = 0
    for position, char in enumerate(text):
        if char == "{":
            level += 1
        elif char == "}":
            level -= 1
            if level == 0:
                return position + 1
    return 0


def split_qnameval(text: str) -> tuple[str, str] | str:
    """split_qnameval(): `name = value` with optional quotes around the name; error text."""
    key_start = 0
    while key_start < len(text) and text[key_start] in SPACE:
        key_start += 1
    if key_start >= len(text):
        return "no key found; expected format: key = value"
    position = _quoted_word_end(text, key_start, SPACE + "=")
    if position is None:
        return "unbalanced '\"'"
    key = text[key_start:position]
    rest = text[position:].lstrip(SPACE)
    if not rest.startswith("="):
        return "missing '=' after attribute name"
    return key, rest[1:].strip(SPACE)


def logical_lines(text: str) -> tuple[list[tuple[int, str]], list[TableIssue]]:
    """readllines(): (first line number, logical line); comments and blank lines are skipped
    without ending a logical line, lines starting with whitespace continue it (joined with no
    separator). A logical line that starts with whitespace is dropped with a warning."""
    result: list[tuple[int, str]] = []
    issues: list[TableIssue] = []
    current: str | None = None
    first = 0

    def flush() -> None:
        if current is None:
            return
        if current[0] in SPACE:
            issues.append(TableIssue(first, f'logical line must not start with whitespace: "{current[:30]}"'))
        else:
            result.append((first, current))

    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    for number, line in enumerate(physical, start=1):
        stripped = line.lstrip(SPACE)
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in SPACE and current is not None:
            current += line
            continue
        flush()
        current, first = line, number
    flush()
    return result, issues


def split_key_value(line: str) -> tuple[str, str] | None:
    """postmap: the key ends at the first unquoted whitespace (backslash escapes); None when
    the quotes are unbalanced."""
    position = _quoted_word_end(line, 0, SPACE)
    if position is None:
        return None
    key = line[:position]
    value = line[position + 1:].strip(SPACE) if position < len(line) else ""
    return key, value


def _quoted_word_end(text: str, start: int, stops: str) -> int | None:
    """Where a word from `start` ends: at its first character in `stops` outside double
    quotes, or at the end of the text (a backslash escapes the next character). None when a
    quote is left open."""
    in_quotes = False
    position = start
    while position < len(text):
        char = text[position]
        if char == "\\":
            position += 1
            if position >= len(text):
                break
        elif char in stops:
            if not in_quotes:
                break
        elif char == '"':
            in_quotes = not in_quotes
        position += 1
    return None if in_quotes else position


def negation_prefix(text: str, start: int = 0) -> tuple[bool, int]:
    """The `!`s (each one toggles) and whitespace before a cidr or regexp pattern:
    (whether the pattern must match, where it starts)."""
    match = True
    position = start
    while position < len(text) and (text[position] == "!" or text[position] in SPACE):
        if text[position] == "!":
            match = not match
        position += 1
    return match, position
