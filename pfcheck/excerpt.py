"""What of a checked file may appear in a message: a bounded, printable excerpt.

Findings quote values, names and lines of the files they are about. Those files are input:
a value can be a megabyte long, hold terminal escape sequences, newlines (a continued line),
or bytes that are not UTF-8. Every finding passes its texts through `bounded()` (in
`Finding.__post_init__`), so no output format can carry more than a bounded, one-line,
printable excerpt of a file, whichever rule quoted it; renderers apply `printable()` again to
what they print (paths, services).
"""
from __future__ import annotations

import hashlib
import re

#: The longest quoted field (a value, a parameter name, a service) a finding carries.
MAX_FIELD_CHARS = 1000
#: The longest message: explanations are a few hundred characters; a message above this
#: quotes something huge, whose middle is left out.
MAX_MESSAGE_CHARS = 4000

_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _escape_unprintable(match: re.Match[str]) -> str:
    char = match.group()
    code_point = ord(char)
    if 0xDC80 <= code_point <= 0xDCFF:
        # A byte that was not valid UTF-8, carried as a surrogate by "surrogateescape".
        return f"\\x{code_point - 0xDC00:02x}"
    if code_point <= 0xFF:
        return f"\\x{code_point:02x}"
    return f"\\u{code_point:04x}"


def printable(text: str) -> str:
    """`text` on one line, safe for a terminal, a CI log and XML.

    Messages quote values from the checked files; a newline would split a finding over two
    lines, an escape sequence would reach the user's terminal, and an undecodable byte would
    make the output unencodable. All of these are shown as `\\xNN` instead. Tabs are kept.
    """
    return _UNPRINTABLE.sub(_escape_unprintable, text)


def shortened(text: str, limit: int) -> str:
    """The first `limit` characters of a quoted text, with "..." when there is more."""
    return text if len(text) <= limit else text[:limit] + "..."


_PARTIAL_ESCAPE_AT_END = re.compile(r"\\(?:x[0-9a-f]?|u[0-9a-f]{0,3})?$")


def bounded(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """printable(text) in at most `limit` characters (limit >= 200): an overlong text keeps
    its start and its end (where a message says what happens), and names its length and a
    hash in between, so that two long values still tell apart (fingerprints). Idempotent:
    what it returns, it returns unchanged."""
    if len(text) <= limit and _UNPRINTABLE.search(text) is None:
        return text  # the common case
    text = printable(text)
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    head = _PARTIAL_ESCAPE_AT_END.sub("", text[:(limit * 3) // 4 - 50])
    tail = text[len(text) - limit // 5:]
    return f"{head}...[{len(text)} characters, sha256 {digest}]...{tail}"
