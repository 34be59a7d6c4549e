"""master.cf: services and their `-o name=value` overrides, as postconf -M/-P and master read them.

Fields are split on blanks with `{ }` grouping (mystrtokq). Daemon options are normalised like
postconf's pcf_normalize_daemon_args(): `-oname=value` becomes `-o name=value`, and
`-o { name = value }` becomes `name=value` with the value's inner whitespace kept. Option
parsing stops at the first word that is not an option (the daemons use getopt with a leading
`+`), so `smtpd # note -o x=y` passes `#`, `note`, `-o`, `x=y` as arguments: the `-o` is lost
and smtpd exits with "unexpected command-line argument".
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from pfcheck.excerpt import shortened
from pfcheck.postfix.issues import ConfigIssue
from pfcheck.postfix.lines import LogicalLine, logical_lines, split_braced
from pfcheck.postfix.maincf import split_nameval
from pfcheck.postfix.source import SourceText

MASTER_BLANKS = " \t\r\n"
VALID_TYPES = ("inet", "unix", "fifo", "pass", "unix-dgram")
FIELD_NAMES = ("service name", "service type", "private", "unprivileged", "chroot", "wakeup time", "process limit", "command")

#: Daemons built on Postfix's *_server_main() skeletons that accept no non-option arguments:
#: a stray word makes them exit with "unexpected command-line argument".
NO_ARGUMENT_DAEMONS = frozenset({
    "smtpd", "postscreen", "qmgr", "oqmgr", "pickup", "cleanup", "tlsmgr", "trivial-rewrite",
    "bounce", "flush", "proxymap", "verify", "showq", "anvil", "scache", "postlogd",
    "tlsproxy", "dnsblog", "local", "virtual", "smtp", "lmtp", "error", "discard",
})


@dataclass(frozen=True)
class Token:
    text: str
    line: int
    column: int


@dataclass(frozen=True)
class Override:
    """One `-o name=value` (normalised), located at its value token."""

    name: str
    value: str
    path: Path
    line: int
    column: int


@dataclass
class Service:
    name: str
    type: str
    private: str
    unpriv: str
    chroot: str
    wakeup: str
    maxproc: str
    command: str
    args: list[str]
    path: Path
    line: int
    #: The `-o` settings the daemon applies, in order (the last one for a name wins).
    overrides: list[Override] = field(default_factory=list)
    #: The `-o` settings as `postconf -P` shows them; differs only for attached forms.
    postconf_overrides: list[Override] = field(default_factory=list)
    stray_args: list[Token] = field(default_factory=list)
    #: Why the daemon exits when it starts (stray argument, malformed -o): empty when it runs.
    startup_fatal: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.name}/{self.type}"

    @property
    def process_name(self) -> str:
        return os.path.basename(self.command)

    def override(self, name: str) -> Optional[Override]:
        """The last `-o` for a name wins, as in the daemon's option loop."""
        for item in reversed(self.overrides):
            if item.name == name:
                return item
        return None

    def override_map(self) -> dict[str, Override]:
        return {item.name: item for item in self.overrides}

    def fields(self) -> list[str]:
        return [self.name, self.type, self.private, self.unpriv, self.chroot, self.wakeup,
                self.maxproc, self.command, *self.args]


@dataclass
class MasterCf:
    path: Path
    entries: list[Service] = field(default_factory=list)
    issues: list[ConfigIssue] = field(default_factory=list)
    present: bool = True
    assumed_default: bool = False

    @property
    def services(self) -> list[Service]:
        """Effective services: for duplicate name/type, master uses the last entry."""
        # Computed once per list of entries: rules ask for it per listener, and a master.cf may
        # have 100,000 entries.
        cached = self.__dict__.get("_services")
        if cached is not None and cached[0] is self.entries and cached[1] == len(self.entries):
            return list(cached[2])
        by_key: dict[str, Service] = {}
        for entry in self.entries:
            by_key.pop(entry.key, None)
            by_key[entry.key] = entry
        services = list(by_key.values())
        self.__dict__["_services"] = (self.entries, len(self.entries), services)
        return list(services)


def split_fields(logical: LogicalLine) -> list[Token]:
    """mystrtokq(): split on blanks, keeping `{...}` groups (possibly unbalanced) together."""
    tokens = []
    for text, offset in split_braced(logical.text, MASTER_BLANKS):
        line, column = logical.position(offset)
        # Short words ("-o", "-", "n", "y") repeat in every entry and option: one copy each.
        tokens.append(Token(sys.intern(text) if len(text) <= 4 else text, line, column))
    return tokens


def extract_braced(text: str) -> tuple[str, Optional[str]]:
    """extpar(): strip one balanced `{ ... }` pair and surrounding whitespace; (text, error)."""
    depth = 0
    end = None
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                end = index
                break
    if end is None:
        return text[1:].strip(" \t\n\v\f\r"), f"missing '}}' in \"{text}\""
    inner = text[1:end].strip(" \t\n\v\f\r")
    if end + 1 != len(text):
        return inner, f"syntax error after '}}' in \"{text}\""
    return inner, None


def _leading_digits(text: str) -> int:
    count = 0
    while count < len(text) and text[count] in "0123456789":
        count += 1
    return count


def _field_error(tokens: list[Token]) -> Optional[tuple[int, str]]:
    """pcf_check_master_entry(): index and message of the first invalid field."""
    values = [t.text for t in tokens]
    if values[1] not in VALID_TYPES:
        return 1, f'invalid service type field "{values[1]}"'
    for index in (2, 3, 4):
        if len(values[index]) != 1 or values[index] not in "yn-":
            return index, f'invalid {FIELD_NAMES[index]} field "{values[index]}"'
    wakeup = values[5]
    significant = len(wakeup) - 1 if wakeup.endswith("?") else len(wakeup)
    if not (wakeup[0] == "-" and significant == 1) and _leading_digits(wakeup) != significant:
        return 5, f'invalid {FIELD_NAMES[5]} field "{wakeup}"'
    maxproc = values[6]
    if maxproc != "-" and _leading_digits(maxproc) != len(maxproc):
        return 6, f'invalid {FIELD_NAMES[6]} field "{maxproc}"'
    return None


def _parse_entry(path: Path, logical: LogicalLine, issues: list[ConfigIssue]) -> Optional[Service]:
    tokens = split_fields(logical)
    if len(tokens) < 8:
        issues.append(ConfigIssue(
            path, logical.line, 1,
            f"bad field count ({len(tokens)} of at least 8 fields); every Postfix program exits with this fatal error",
            "bad-field-count", fatal=True,
        ))
        return None
    bad = _field_error(tokens)
    if bad is not None:
        index, message = bad
        issues.append(ConfigIssue(
            path, tokens[index].line, tokens[index].column,
            f"{message}; every Postfix program exits with this fatal error", "bad-field", fatal=True,
        ))
        return None
    # Interned: the same few words ("inet", "n", "smtpd", ...) in every one of many entries.
    name, kind, private, unpriv, chroot, wakeup, maxproc, command = (sys.intern(t.text) for t in tokens[:8])
    service = Service(name, kind, private, unpriv, chroot, wakeup, maxproc, command,
                      args=[], path=path, line=logical.line)
    arguments = _normalise_arguments(tokens[8:])
    service.args = [token.text for token in arguments]
    service.postconf_overrides = _postconf_overrides(path, arguments)
    _apply_daemon_options(service, tokens[8:], issues)
    if service.postconf_overrides == service.overrides:
        # The usual case: one list of (immutable) Overrides for both views, not two copies.
        service.postconf_overrides = service.overrides
    applied = [(o.name, o.value) for o in service.overrides]
    shown = [(o.name, o.value) for o in service.postconf_overrides]
    if applied != shown and not service.startup_fatal:
        issues.append(ConfigIssue(
            path, service.line, 1,
            f"postconf -P shows the -o options of {service.key} as {_pairs(shown)}, but the daemon applies "
            f"{_pairs(applied)}: write each as '-o name=value' or '-o {{ name = value }}'",
            "override-mismatch",
        ))
    return service


def _pairs(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{name}={value}" for name, value in pairs) or "nothing"


def _postconf_overrides(path: Path, arguments: list[Token]) -> list[Override]:
    """The `-o` settings `postconf -P` shows (after pcf_normalize_daemon_args)."""
    overrides: list[Override] = []
    index = 0
    while index < len(arguments):
        text = arguments[index].text
        if not text.startswith("-") or text == "--":
            break
        if text[1:2] == "o" and index + 1 < len(arguments):
            value = arguments[index + 1]
            if text == "-o":
                error, _, name, param_value = split_nameval(value.text)
                if error is None:
                    overrides.append(Override(name, param_value, path, value.line, value.column))
            index += 2
            continue
        index += 1
    return overrides


#: Options of the daemons' getopt() ("+cdDi:lm:n:o:r:s:St:uvVz" in multi_server.c and friends).
DAEMON_OPTIONS_WITH_VALUE = "imnorst"
DAEMON_FLAGS = "cdDlSuvVz"


def _apply_daemon_options(service: Service, tokens: list[Token], issues: list[ConfigIssue]) -> None:
    """What master passes and the daemon's getopt() applies (master_ent.c, multi_server.c).

    master strips `{...}` from every argument (exiting on an unbalanced one, which postconf reads
    as the rest of the line; so is it read here, and reported as fatal); the daemon's
    getopt takes `-o value` or `-ovalue`, groups flags (`-vo x=y`), and stops at the first word
    that is not an option. postconf's display differs for the attached forms: `-o{x=y}` is no
    override at all for the daemon (name "{x"), and `-ox=y` is one.
    """
    path = service.path

    def fatal(token: Token, message: str, kind: str) -> None:
        service.startup_fatal.append(message)
        issues.append(ConfigIssue(path, token.line, token.column, message, kind, fatal=True))

    words: list[Token] = []
    for token in tokens:
        text = token.text
        if text.startswith("{"):
            inner, error = extract_braced(text)
            if error is not None:
                # master_ent.c: fatal_with_context(); postconf (pcf_extract_field) only warns
                # and goes on with the text after the `{` (the rest of the line: mystrtokq keeps
                # an unbalanced group to the end). The service is judged as postconf reads it,
                # with every -o before and in the group, not as if it had none.
                issues.append(ConfigIssue(
                    path, token.line, token.column,
                    f"{error}: master exits with this fatal error; postconf only warns and reads "
                    "the text after the '{' as one field (judged so here)",
                    "bad-brace", fatal=True,
                ))
            token = Token(inner, token.line, token.column)
        words.append(token)  # (Tokens are immutable: an unchanged one is shared)
    index = 0
    while index < len(words):
        word = words[index]
        if word.text == "--":
            index += 1
            break
        if not word.text.startswith("-") or word.text == "-":
            break
        consumed_next = False
        for position in range(1, len(word.text)):
            letter = word.text[position]
            if letter in DAEMON_OPTIONS_WITH_VALUE:
                if position + 1 < len(word.text):
                    argument = Token(word.text[position + 1:], word.line, word.column + position + 1)
                elif index + 1 < len(words):
                    argument, consumed_next = words[index + 1], True
                else:
                    fatal(word, f"{service.process_name} exits: option requires an argument -- {letter}", "bad-option")
                    return
                if letter == "o":
                    error, _, name, value = split_nameval(argument.text)
                    if error is None:
                        service.overrides.append(Override(name, value, path, argument.line, argument.column))
                    else:
                        fatal(argument, f'invalid "-o {argument.text}" option value: {error}; '
                                        "the daemon exits with this fatal error", "bad-override")
                break
            if letter not in DAEMON_FLAGS:
                fatal(word, f"{service.process_name} exits: invalid option -- {letter}", "bad-option")
                return
        index += 2 if consumed_next else 1
    service.stray_args = words[index:]
    if service.stray_args and service.process_name in NO_ARGUMENT_DAEMONS:
        first = service.stray_args[0]
        lost = [t.text for t in service.stray_args if t.text.startswith("-o")]
        note = "; the -o options after it are not applied" if lost else ""
        fatal(first, f'{service.process_name} exits with "fatal: unexpected command-line argument: {first.text}"'
                     f" (master.cf has no comments after text{note})", "stray-argument")


def _normalise_arguments(tokens: list[Token]) -> list[Token]:
    """pcf_normalize_daemon_args(): how postconf -M shows the arguments (`-oname=value` split
    after the first "o", `{...}` groups extracted). Problems are the daemon view's to report."""
    result = list(tokens)
    index = 0
    while index < len(result):
        token = result[index]
        text = token.text
        if not text.startswith("-") or text == "--":
            break
        split_at = text.find("o", 2)
        if split_at > 1:
            # "-vo..." is "-v" followed by "-o...".
            result[index] = Token(text[:split_at], token.line, token.column)
            result.insert(index + 1, Token("-" + text[split_at:], token.line, token.column + split_at - 1))
            text = result[index].text
        if text[1:2] != "o":
            index += 1
            continue
        if len(text) > 2:
            result[index] = Token("-o", token.line, token.column)
            result.insert(index + 1, Token(text[2:], token.line, token.column + 2))
        elif index + 1 >= len(result):
            index += 1
            continue
        index += 1
        value = result[index]
        if value.text.startswith("{"):
            inner, _ = extract_braced(value.text)
            split_error, _, name, param_value = split_nameval(inner)
            if split_error is None:
                inner = f"{name}={param_value}"
            result[index] = Token(inner, value.line, value.column)
        index += 1
    for position in range(index, len(result)):
        token = result[position]
        if token.text.startswith("{"):
            inner, _ = extract_braced(token.text)
            result[position] = Token(inner, token.line, token.column)
    return result


def parse_master_cf(source: SourceText) -> MasterCf:
    path = source.path
    result = MasterCf(path)
    seen: dict[str, Service] = {}
    for logical in logical_lines(source.text):
        if logical.orphan:
            shown = shortened(logical.text, 30)
            result.issues.append(ConfigIssue(
                path, logical.line, 1,
                f'logical line must not start with whitespace: "{shown}"; Postfix ignores it', "orphan-line",
            ))
            continue
        service = _parse_entry(path, logical, result.issues)
        if service is None:
            continue
        earlier = seen.get(service.key)
        if earlier is not None:
            result.issues.append(ConfigIssue(
                path, service.line, 1,
                f'duplicate master.cf entry for service "{service.name}" ({service.type}), first at line {earlier.line}: master uses this last entry',
                "duplicate-service",
            ))
        seen[service.key] = service
        result.entries.append(service)
    for empty in source.null_started_lines:
        # The logical line is the empty C string before the NUL (source._as_postfix_reads_nul).
        result.issues.append(ConfigIssue(
            path, empty, 1, "bad field count (0 of at least 8 fields); every Postfix program exits with this fatal error",
            "bad-field-count", fatal=True,
        ))
    if source.null_started_lines:
        result.issues.sort(key=lambda issue: issue.line)  # Postfix stops at the first one
    return result
