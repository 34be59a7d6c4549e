"""Path globs of waivers and `exclude:` (relative to the policy file's directory)."""
from __future__ import annotations

import re



# --------------------------------------------------------------------------------------------
# Globs for waiver paths


_GLOB_CACHE: dict[str, "re.Pattern[str]"] = {}


def glob_regex(pattern: str) -> "re.Pattern[str]":
    """`*` and `?` stay inside one path component, `**` spans components, `[...]` is a class."""
    cached = _GLOB_CACHE.get(pattern)
    if cached is not None:
        return cached
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out.append("(?:[^/]*/)*")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif char == "*":
            out.append("[^/]*")
            index += 1
        elif char == "?":
            out.append("[^/]")
            index += 1
        elif char == "[":
            close = pattern.find("]", index + 2 if pattern.startswith(("[!", "[^"), index) else index + 1)
            if close < 0:
                out.append(re.escape(char))
                index += 1
            else:
                body = pattern[index + 1 : close]
                if body.startswith(("!", "^")):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                index = close + 1
        else:
            out.append(re.escape(char))
            index += 1
    compiled = re.compile("".join(out))
    _GLOB_CACHE[pattern] = compiled
    return compiled
