"""`assume:` in the policy: what a table or policy service pfcheck cannot see may answer.

A relay verdict that depends on a `mysql:` table, a table file that is not in the repository
or a `check_policy_service` is unproven (PF302, an error). An assumption, reviewed in git with
the policy, lists every answer such a lookup can give; the relay evaluator then branches over
exactly those answers (each one possible for every key, plus "not found") instead of over
"anything", so the verdict becomes OPEN or CLOSED again and names the assumption it rests on.

    assume:
      tables:
        "mysql:/etc/postfix/sql/recipient_access.cf": {results: [REJECT, DUNNO]}
      policy_services:
        "inet:127.0.0.1:10023": {results: [DUNNO, DEFER_IF_PERMIT]}   # postgrey

Accepted results are what smtpd's check_table_result() (smtpd_check.c, Postfix 3.7) acts on,
which is also what it does with a policy server's `action=` reply: see `result_problem()`.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

#: Access(5) actions that take optional text (`REJECT text`, `DEFER_IF_PERMIT text`, ...).
TEXT_OPTIONAL = ("OK", "RELAY", "DUNNO", "REJECT", "DEFER", "DEFER_IF_PERMIT", "DEFER_IF_REJECT",
                 "DISCARD", "HOLD", "INFO", "WARN", "HANGUP")
#: Actions whose text is required, and what it must look like (else Postfix ignores the entry
#: with a warning, i.e. DUNNO: accepting them silently would hide a typo).
TEXT_REQUIRED = {
    "FILTER": ("transport:destination", lambda text: ":" in text),
    "REDIRECT": ("user@domain", lambda text: "@" in text),
    "BCC": ("user@domain", lambda text: "@" in text),
    "PREPEND": ("headername: headervalue", lambda text: re.match(r"[!-9;-~]+:", text) is not None),
}
ACTION_WORDS = TEXT_OPTIONAL + tuple(TEXT_REQUIRED)

#: Endpoint types of check_policy_service (SMTPD_POLICY_README: inet:host:port, unix:path).
POLICY_SERVICE_TYPES = ("inet", "unix", "local")

_CONFIG_DIRECTORY = re.compile(r"\$(?:\{config_directory\}|\(config_directory\)|config_directory\b)")


def _restriction_names() -> tuple[frozenset[str], frozenset[str]]:
    """(restriction names usable without an argument, names that take one non-table word)."""
    from pfcheck.postfix import relay

    with_word = frozenset(relay.DOMAIN_ARGUMENT | {"sleep"})
    # check_policy_service and the check_*_access commands need a "type:name" argument, and a
    # ':' in an access result is refused by Postfix (451), so they cannot be results.
    plain = frozenset(relay.SIMPLE_NAMES) - with_word - {"check_policy_service"}
    return plain, with_word


def result_problem(value: str) -> Optional[str]:
    """Why `value` is not an action smtpd accepts from an access table or a policy server
    (None when it is one). Mirrors check_table_result(): the command word is matched without
    regard to case and the text after it is optional unless noted."""
    text = value.strip()
    if not text:
        return "an empty result (Postfix reads it as OK, with a warning): write OK"
    command, _, rest = text.partition(" ")
    command, rest = command.strip(), rest.strip()
    upper = command.upper()
    if upper in TEXT_OPTIONAL:
        return None
    if upper in TEXT_REQUIRED:
        shape, valid = TEXT_REQUIRED[upper]
        if not valid(rest):
            return f'{upper} needs "{shape}" after it (without it Postfix ignores the entry)'
        return None
    if re.fullmatch(r"[45]\d\d", command):
        # Postfix tests "all digits" first, so a bare "554" is OK, not a rejection.
        return None if rest else (f'"{command}" without text is all-numeric, which Postfix treats as OK; '
                                  f'write "{command} 5.7.1 Access denied" for a rejection, or OK')
    if text.isdigit():
        return None  # all-numeric: treated as OK (pop-before-smtp time stamps)
    if ":" in text:
        return "a lookup table in an access result is refused by Postfix (451 Server configuration error)"
    plain, with_word = _restriction_names()
    words = [word for word in re.split(r"[,\s]+", text) if word]
    index = 0
    while index < len(words):
        word = words[index].lower()
        if word in with_word:
            if index + 1 >= len(words):
                return f'restriction "{words[index]}" needs an argument'
            index += 2
            continue
        if word not in plain:
            from pfcheck.policy.suggest import suggest

            candidates = list(ACTION_WORDS) + sorted(plain)
            return (f'"{words[index]}" is not an access(5) action or an smtpd restriction'
                    f'{suggest(words[index], candidates)}; restriction class names are not accepted '
                    "here: list the results the class can lead to")
        index += 1
    return None


@dataclass(frozen=True)
class Assumption:
    """One `assume:` entry: `kind` "table" or "policy_service", `key` as written in the policy,
    `results` as written; `line`/`column` locate the key in `policy_path`."""

    kind: str
    key: str
    results: tuple[str, ...]
    policy_path: Optional[Path] = None
    line: int = 1
    column: int = 1

    @property
    def label(self) -> str:
        noun = "table" if self.kind == "table" else "policy service"
        return f"{noun} {self.key} answers only {', '.join(self.results)}"

    def where(self, display: Any = str) -> str:
        """`policy-file:line` (the built-in policy has no file)."""
        path = display(self.policy_path) if self.policy_path is not None else "built-in policy"
        return f"{path}:{self.line}"

    def describe(self, display: Any = str) -> str:
        """What messages and witnesses name: the assumption and where it is stated."""
        return f"{self.label} (assumed in {self.where(display)})"

    def matches(self, reference: str, config_directory: str) -> bool:
        """Whether this entry names `reference` (a table reference or a policy endpoint, as
        the evaluator sees it: `$` already expanded)."""
        mine = _normalise(self.kind, self.key, config_directory)
        return mine is not None and mine == _normalise(self.kind, reference, config_directory)


def _normalise(kind: str, text: str, config_directory: str) -> Optional[str]:
    """The comparable form of a key or a reference.

    `$config_directory` (also `${...}`, `$(...)`) in a policy key stands for the listener's
    config_directory. A `proxy:` wrapper is ignored on either side: `proxy:mysql:/x.cf` in the
    config and `mysql:/x.cf` in the policy name the same table. Table types and paths are
    compared as written (Postfix's dictionary types are case-sensitive), paths after
    normalising `//` and `/./`. A braced policy endpoint `{ inet:host:port, timeout=10s }` is
    compared by its endpoint.
    """
    value = _CONFIG_DIRECTORY.sub(lambda _: config_directory.rstrip("/") or "/", text.strip())
    if kind == "policy_service":
        if value.startswith("{") and value.endswith("}"):
            value = re.split(r"[,\s]+", value[1:-1].strip(), maxsplit=1)[0]
        return value.strip() or None
    while value.lower().startswith("proxy:"):
        value = value[len("proxy:"):]
    table_type, colon, name = value.partition(":")
    if not colon:
        return None
    if name.startswith("/"):
        name = posixpath.normpath(name)
    return f"{table_type}:{name}"


@dataclass(frozen=True)
class Assumptions:
    """Every `assume:` entry of a policy, tables first, each in file order."""

    entries: tuple[Assumption, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.entries)

    def table(self, reference: str, config_directory: str = "/etc/postfix") -> Optional[Assumption]:
        return self._find("table", reference, config_directory)

    def policy_service(self, endpoint: str, config_directory: str = "/etc/postfix") -> Optional[Assumption]:
        return self._find("policy_service", endpoint, config_directory)

    def _find(self, kind: str, reference: str, config_directory: str) -> Optional[Assumption]:
        for entry in self.entries:
            if entry.kind == kind and entry.matches(reference, config_directory):
                return entry
        return None

    def layered_on(self, base: "Assumptions") -> "Assumptions":
        """This policy's entries over the base's: an entry for the same key replaces the base's
        (as a rule's settings do), the base's other entries are kept."""
        mine = {(entry.kind, entry.key) for entry in self.entries}
        kept = tuple(entry for entry in base.entries if (entry.kind, entry.key) not in mine)
        return Assumptions(kept + self.entries)

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for entry in self.entries:
            section = "tables" if entry.kind == "table" else "policy_services"
            data.setdefault(section, {})[entry.key] = {"results": list(entry.results)}
        return data


NO_ASSUMPTIONS = Assumptions()


def parse_assume(validator: Any, node: Any, path: Optional[Path], shape: Any) -> Assumptions:
    """Validate the `assume:` node with the policy loader's `PolicyValidator` (file:line:col errors,
    did-you-mean for unknown keys), walking `shape` (pfcheck/policy/shape.py `ASSUME`)."""
    sections = validator.record(node, shape)
    entries: list[Assumption] = []
    for section, kind in (("tables", "table"), ("policy_services", "policy_service")):
        if section not in sections:
            continue
        section_shape = shape.fields[section]
        for key, key_node, value_node in validator.mapping(sections[section][1], section_shape.what):
            problem = _key_problem(kind, key)
            if problem:
                raise validator.fail(key_node, f'{section_shape.what}: "{key}": {problem}')
            results = _results(validator, key, value_node, section, section_shape.value)
            line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            entry = Assumption(kind, key.strip(), results, path, line, column)
            # "proxy:mysql:/x" and "mysql:/x" are one table: two answers for it is ambiguous.
            same = next((other for other in entries if other.kind == kind
                         and _normalise(kind, other.key, "/etc/postfix") == _normalise(kind, key, "/etc/postfix")),
                        None)
            if same is not None:
                raise validator.fail(key_node, f'{section_shape.what}: "{key}" names the same {kind.replace("_", " ")} '
                                               f'as "{same.key}" (line {same.line})')
            entries.append(entry)
    return Assumptions(tuple(entries))


def _results(validator: Any, key: str, node: Any, section: str, shape: Any) -> tuple[str, ...]:
    labels = {"section": section, "key": key}
    fields = validator.record(node, shape, **labels)
    listed = shape.fields["results"]
    items = validator.items(fields["results"][1], listed, **labels)
    what = shape.what.format(**labels)
    results: list[str] = []
    for item in items:
        value = validator.postfix_value(item, listed.what.format(**labels)).strip()
        problem = result_problem(value)
        if problem:
            raise validator.fail(item, f'{what}: result "{value}": {problem}')
        if value not in results:
            results.append(value)
    return tuple(results)


def _key_problem(kind: str, key: str) -> Optional[str]:
    from pfcheck.policy.suggest import suggest

    text = key.strip()
    if kind == "policy_service":
        endpoint = text[1:-1].strip().split(",")[0].strip() if text.startswith("{") and text.endswith("}") else text
        service_type, colon, rest = endpoint.partition(":")
        if not colon or not rest:
            return 'a policy service is written as in check_policy_service: "inet:host:port" or "unix:path"'
        if service_type not in POLICY_SERVICE_TYPES:
            return (f'unknown endpoint type "{service_type}" (one of {", ".join(POLICY_SERVICE_TYPES)})'
                    f'{suggest(service_type, POLICY_SERVICE_TYPES)}')
        return None
    from pfcheck.postfix.tables import KNOWN_TYPES

    inner = text
    while inner.lower().startswith("proxy:"):
        inner = inner[len("proxy:"):]
    table_type, colon, name = inner.partition(":")
    if not colon or not name:
        return 'a table is written as in the config: "type:name" (e.g. "mysql:/etc/postfix/sql/access.cf")'
    if table_type not in KNOWN_TYPES:
        return f'unknown table type "{table_type}"{suggest(table_type, sorted(KNOWN_TYPES))}'
    return None


def describe_all(assumptions: Iterable[Assumption], display: Any = str) -> list[str]:
    """`describe()` of each, without repeats, in order."""
    seen: list[str] = []
    for assumption in assumptions:
        text = assumption.describe(display)
        if text not in seen:
            seen.append(text)
    return seen


__all__: Sequence[str] = [
    "ACTION_WORDS", "Assumption", "Assumptions", "NO_ASSUMPTIONS", "POLICY_SERVICE_TYPES",
    "describe_all", "parse_assume", "result_problem",
]
