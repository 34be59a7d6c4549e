"""smtpd's restriction lists of one listener, token by token, as generic_checks() walks them.

Shared by the rules about what a list names (PF601-PF604, PF610): every list smtpd parses at
start-up (smtpd_check_init(): client, HELO, sender, relay, recipient, ETRN, DATA, end-of-data)
and every restriction class of smtpd_restriction_classes, split like smtpd_check_parse() (the
relay package's `split_restrictions`), with each restriction's argument taken as generic_checks()
takes it (the relay package's RESTRICTIONS table says which argument a restriction takes). A
token is known (a restriction smtpd knows), a class, a table (`type:name`, or a `{...}` map
search with one), or unknown; `physical_line()` says on which physical line of a continued
definition a token is written.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from pfcheck.postfix.config import Listener, Value
from pfcheck.rules.base import RuleContext

#: Every restriction list smtpd_check_init() parses, in the order of the SMTP stages.
SMTPD_RESTRICTION_LISTS = (
    "smtpd_client_restrictions",
    "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
    "smtpd_etrn_restrictions",
    "smtpd_data_restrictions",
    "smtpd_end_of_data_restrictions",
)
#: The lists that decide relaying at RCPT TO.
RELAY_DECIDING_LISTS = ("smtpd_relay_restrictions", "smtpd_recipient_restrictions")

KNOWN, CLASS, TABLE, UNKNOWN = "known", "class", "table", "unknown"


@dataclass(frozen=True)
class ListedToken:
    """One restriction (or class, table, unknown name) of a list, with its argument."""

    parameter: str  # the list parameter, or the restriction class, that holds it
    is_class: bool  # `parameter` is a restriction class
    index: int  # position of `token` in the split list
    token: str  # as written
    kind: str  # KNOWN, CLASS, TABLE or UNKNOWN
    argument: Optional[str]  # the token generic_checks() takes as its argument, if any
    value: Value  # the list's effective value (its origin is where it is set)

    @property
    def name(self) -> str:
        """Restriction names are matched case-insensitively (strcasecmp)."""
        return self.token.lower()


@dataclass(frozen=True)
class ListedRestrictions:
    """All lists and classes of one listener."""

    lists: dict[str, list[ListedToken]]  # parameter or class -> its tokens in order
    classes: frozenset[str]  # the class names smtpd knows here (case-sensitive)

    def tokens(self) -> Iterator[ListedToken]:
        for tokens in self.lists.values():
            yield from tokens


def _is_table(token: str) -> bool:
    # generic_checks(): a name with ':' is a table (the list's default check); a braced
    # token is a map search when it names a table.
    return ":" in token


def listed_restrictions(listener: Listener) -> ListedRestrictions:
    """The lists and classes of `listener` (computed once per listener)."""
    known = listener.__dict__.get("_listed_restrictions")
    if known is None:
        known = listener.__dict__["_listed_restrictions"] = _listed(listener)
    return known  # type: ignore[no-any-return]


def _listed(listener: Listener) -> ListedRestrictions:
    from pfcheck.postfix.lines import split_comma_space
    from pfcheck.postfix.relay.lists import BUILTIN_CLASSES, split_restrictions

    scope = listener.scope
    class_names = [name for name in split_comma_space(scope.value("smtpd_restriction_classes"))]
    classes = frozenset(class_names) | frozenset(BUILTIN_CLASSES)
    lists: dict[str, list[ListedToken]] = {}
    for parameter in (*SMTPD_RESTRICTION_LISTS, *class_names):
        if parameter in lists:
            continue
        value = scope.get(parameter)
        if value.error is not None:
            continue  # PF000: this smtpd does not start
        lists[parameter] = _walk(parameter, parameter not in SMTPD_RESTRICTION_LISTS,
                                 split_restrictions(value.expanded), value, classes)
    return ListedRestrictions(lists, classes)


def _walk(parameter: str, is_class: bool, tokens: list[str], value: Value,
          classes: frozenset[str]) -> list[ListedToken]:
    from pfcheck.postfix.relay.restrictions import RESTRICTIONS, Takes

    listed: list[ListedToken] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        argument: Optional[str] = None
        restriction = RESTRICTIONS.get(token.lower())
        if _is_table(token):
            kind = TABLE
        elif restriction is not None:
            kind = KNOWN
            takes = restriction.takes
            if following is not None and (
                    (takes in (Takes.TABLE, Takes.SERVER) and ":" in following)
                    or (takes is Takes.NUMBER and following.isdigit())
                    or takes is Takes.DOMAIN):
                argument = following
        elif token in classes:
            kind = CLASS
        else:
            kind = UNKNOWN
        listed.append(ListedToken(parameter, is_class, index, token, kind, argument, value))
        index += 2 if argument is not None else 1
    return listed


def physical_line(ctx: RuleContext, value: Value, listener: Listener, word: str) -> tuple[Path, int, int]:
    """Where `word` of `value` is written: the physical line (of a continued main.cf or
    master.cf definition) that holds it as a whole word, else the definition's own line,
    else the listener (a default)."""
    path, line, column = ctx.location_of(value, listener)
    origin = value.origin
    if origin.is_default or origin.path is None:
        return path, line, column
    source = ctx.config.main_source if origin.kind == "main.cf" else ctx.config.master_source
    if source is None:
        return path, line, column
    lines = source.text.split("\n")
    number = line
    while 0 < number <= len(lines):
        text = lines[number - 1]
        if number > line:
            if not text.strip() or text.lstrip().startswith("#"):
                number += 1
                continue  # blank and comment lines do not end a logical line
            if not text[:1].isspace():
                break  # the next logical line
        start = column - 1 if number == line else 0
        found = _word_at(text, word, start)
        if found is not None:
            return path, number, found + 1
        number += 1
    return path, line, column


def _word_at(text: str, word: str, start: int) -> Optional[int]:
    """The offset of `word` in `text` from `start` on, delimited by list separators."""
    separators = " \t,{}="
    position = text.find(word, start)
    while position >= 0:
        before = text[position - 1] if position > 0 else " "
        end = position + len(word)
        after = text[end] if end < len(text) else " "
        if before in separators and after in separators:
            return position
        position = text.find(word, position + 1)
    return None


def where_set(ctx: RuleContext, listed: ListedToken, listener: Listener) -> str:
    """How a finding names the list: `smtpd_recipient_restrictions (main.cf:4)`."""
    from pfcheck.rules.unknown_names import describe_origin

    what = f"restriction class {listed.parameter}" if listed.is_class else listed.parameter
    return f"{what} ({describe_origin(ctx, listed.value, listener)})"
