"""The live tests' own judgement of a 220 greeting, independent of pfcheck.postfix.listening:
whether it names software or an OS, names a version, and starts with the host name."""
from __future__ import annotations

import re
from typing import Tuple

OS_WORDS = re.compile(r"(?<![a-z])(debian|ubuntu|linux|gnu|red\s*hat|rhel|centos|fedora|suse|freebsd|openbsd|netbsd)(?![a-z])", re.I)
VERSION = re.compile(r"\d+\.\d+")


def banner_oracle(text: str, hostname: str, mail_version: str) -> Tuple[bool, bool, bool]:
    """(names software/OS, names a version, starts with the host name)."""
    rest = text.lower().replace(hostname.lower(), " ")
    software = "postfix" in rest or OS_WORDS.search(rest) is not None
    version = VERSION.search(rest) is not None or (bool(mail_version) and mail_version.lower() in rest.split())
    return software, version, re.split(r"\s", text)[0].lower() == hostname.lower()
