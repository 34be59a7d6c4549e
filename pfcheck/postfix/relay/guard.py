"""smtpd's start-up guard (smtpd_check.c has_required()): the facts behind PF303.

Every smtpd checks at start-up that smtpd_recipient_restrictions or smtpd_relay_restrictions
holds a restriction that can refuse relaying (reject_unauth_destination and the others of
REQUIRED_RESTRICTIONS) before a literal `permit`; otherwise it dies with "specify at least one
working instance of ...", and the listener accepts no mail at all (REFUSED, not an open relay).
"""
from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

from pfcheck.postfix.relay.lists import (
    PERMIT,
    RCPT_LIST,
    RELAY_LIST,
    WARN_IF_REJECT,
    restriction_classes,
    split_restrictions,
)
from pfcheck.postfix.relay.model import EffectiveParams, GuardResult
from pfcheck.postfix.relay.settings import parse_version

#: has_required()'s list, in the order of Postfix's fatal message.
REQUIRED_RESTRICTIONS: Tuple[str, ...] = (
    "reject_unauth_destination",
    "defer_unauth_destination",
    "reject",
    "defer",
    "defer_if_permit",
    "check_relay_domains",
)


class _GuardCrash(Exception):
    """A restriction class that includes itself: has_required() recurses until smtpd crashes."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def has_required(
    tokens: Sequence[str],
    classes: Mapping[str, Sequence[str]],
    warnings: List[str],
    stack: Tuple[str, ...] = (),
) -> Optional[str]:
    """has_required(): the first required restriction found, None when the scan fails."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        lowered = token.lower()
        if lowered == WARN_IF_REJECT and index + 1 < len(tokens):
            index += 2
            continue
        if lowered == PERMIT:
            if index + 1 < len(tokens):
                warnings.append(f"restriction `{tokens[index + 1]}' after `{token}' is ignored")
            return None
        if lowered in REQUIRED_RESTRICTIONS:
            return token
        # Class names are looked up case-sensitively (htable_find).
        expansion = classes.get(token)
        if expansion is not None:
            if token in stack:
                raise _GuardCrash(token)
            found = has_required(expansion, classes, warnings, stack + (token,))
            if found is not None:
                return found
        index += 1
    return None


def _guard_message() -> str:
    names = list(REQUIRED_RESTRICTIONS)
    text = ", ".join(names[:-1]) + " or " + names[-1]
    return (f"in parameter {RELAY_LIST} or {RCPT_LIST}, "
            f"specify at least one working instance of: {text}")


def startup_guard(params: EffectiveParams, *, version: str = "3.7") -> GuardResult:
    """Exactly Postfix's start-up check (smtpd_check_init: classes, then has_required).

    smtpd checks smtpd_recipient_restrictions first and smtpd_relay_restrictions only when
    that fails; so the warnings are those Postfix logs.
    """
    classes, class_fatal, bad_class = restriction_classes(params)
    if class_fatal is not None:
        return GuardResult(False, class_fatal, parameter="smtpd_restriction_classes",
                           location=params.location(bad_class or "smtpd_restriction_classes")
                           or params.location("smtpd_restriction_classes"))
    warnings: List[str] = []
    lists = [(RCPT_LIST, split_restrictions(params.value(RCPT_LIST)))]
    if parse_version(version) >= (2, 10):
        lists.append((RELAY_LIST, split_restrictions(params.value(RELAY_LIST))))
    for name, tokens in lists:
        try:
            found = has_required(tokens, classes, warnings)
        except _GuardCrash as crash:
            return GuardResult(
                False,
                f"restriction class `{crash.name}' includes itself: smtpd recurses without "
                f"limit at start-up and crashes (master: bad command startup -- throttling)",
                tuple(warnings), parameter=name, location=params.location(name), crashes=True)
        if found is not None:
            return GuardResult(True, None, tuple(warnings), (name, found), name, params.location(name))
    location = params.location(RELAY_LIST) or params.location(RCPT_LIST)
    return GuardResult(False, _guard_message(), tuple(warnings), parameter=RELAY_LIST, location=location)
