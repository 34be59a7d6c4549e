"""A TLS cipher grade includes insecure ciphers (PF508, weak-tls-ciphers).

## What it does
Warns when a cipher grade in use is `export`, `low` or `null`:

- per smtpd listener reachable from other hosts with TLS on: the grade that listener's
  sessions use, `smtpd_tls_mandatory_ciphers` where TLS is enforced (encrypt, wrapper
  mode), else `smtpd_tls_ciphers` (smtpd.c);
- main.cf-wide, for the `smtp` and `lmtp` clients when they may use TLS: both
  `_tls_ciphers` and `_tls_mandatory_ciphers`.

Grades compare case-insensitively, as Postfix reads them (`tls_cipher_grade()`: `NULL` is
`null`).

For the grades `high`, `medium`, `low` and `export` it also reads the OpenSSL cipherlist that
defines the grade (`tls_high_cipherlist`, ...; main.cf or `-o`) and warns when it enables
ciphers without encryption: a word adding `eNULL` or its alias `NULL` (alone or in a `+`
combination such as `eNULL+SHA`), or `COMPLEMENTOFALL`, that no earlier `!` word removed for
good and no later `-`/`!` word takes out again, and that the `_tls_exclude_ciphers` of the
session (with `_tls_mandatory_exclude_ciphers` where TLS is enforced) do not exclude: Postfix
appends each exclusion as `:!word` (tls_misc.c `tls_set_ciphers()`). Postfix's own
cipherlists start with `aNULL:-aNULL`: anonymous ciphers are deliberately kept for
opportunistic TLS and filtered out automatically where certificates are asked for
(postconf(5) `smtpd_tls_mandatory_ciphers`: "You are very unlikely to need to take any steps
to exclude anonymous ciphers"), so aNULL and a missing `aNULL` exclusion are not findings.
The TLS library's security level may refuse NULL ciphers on its own; pfcheck does not see it.

## Why is this bad?
postconf(5) on `export` and `low`: these grades are insecure and SHOULD NOT be used; `null`
offers only ciphers without encryption. Opportunistic TLS on an MX gains nothing from them
(the default `medium` already accepts every reasonable peer).

## Example
    # main.cf
    smtpd_tls_ciphers = export

    # or: the grade's cipherlist overridden to add ciphers without encryption
    tls_high_cipherlist = eNULL:HIGH

## Use instead
    # main.cf
    smtpd_tls_ciphers = medium
    smtpd_tls_mandatory_ciphers = high
    # and no tls_*_cipherlist override (postconf(5): "You are strongly encouraged not to
    # change this setting")

## References
- postconf(5): smtpd_tls_ciphers, smtpd_tls_mandatory_ciphers, tls_export_cipherlist,
  tls_low_cipherlist, tls_null_cipherlist, tls_high_cipherlist, tls_medium_cipherlist,
  smtpd_tls_exclude_ciphers, smtpd_tls_mandatory_exclude_ciphers
- OpenSSL ciphers(1): eNULL, NULL, COMPLEMENTOFALL
- bettercrypto Applied Crypto Hardening; Mozilla ssl-config-generator
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Mapping, Optional

from pfcheck.findings import Finding, Severity
from pfcheck.postfix import tls_facts
from pfcheck.postfix.config import Listener, Scope, Value
from pfcheck.rules.base import RuleContext, make_finding
from pfcheck.rules.tls_common import shown, tls_session_values

ID = "PF508"
NAME = "weak-tls-ciphers"
SEVERITY = Severity.WARNING
OPTIONS: Mapping[str, tuple[type, Any]] = {}
WEAK_GRADES = {
    "export": "export-grade ciphers",
    "low": "low-grade ciphers",
    "null": "ciphers without encryption",
}


def _finding(ctx: RuleContext, value: Value, who: str, listener: Optional[Listener]) -> Finding:
    path, line, column = ctx.location_of(value, listener)
    grade = value.expanded.strip().lower()
    return make_finding(
        ctx, ID, NAME, path, line, column,
        f"{who} allows {WEAK_GRADES[grade]}: {shown(ctx, value, listener)}; postconf(5): "
        "insecure, SHOULD NOT be used",
        service=listener.key if listener is not None else None, parameter=value.name,
        expected="medium", actual=grade, from_default=value.origin.is_default,
    )


#: Grades whose cipherlist a main.cf/-o line may redefine (the null grade is flagged itself).
CIPHERLIST_GRADES = ("high", "medium", "low", "export")
#: OpenSSL cipher-string words that select ciphers without encryption (ciphers(1)).
NULL_WORDS = frozenset({"eNULL", "NULL"})
NULL_ALIASES = frozenset({"COMPLEMENTOFALL"})
_CIPHER_SEPARATORS = re.compile(r"[\s,:]+")


def cipher_words(text: str) -> list[str]:
    """The words of an OpenSSL cipher string or a Postfix exclusion list (`:`, `,`, space)."""
    return [word for word in _CIPHER_SEPARATORS.split(text) if word]


def enables_null_encryption(cipherlist: str, exclusions: str = "") -> Optional[str]:
    """The word of `cipherlist` that leaves ciphers without encryption enabled, or None.

    OpenSSL reads the words in order: a plain word adds ciphers, `-` removes them (a later
    word may add them again), `!` removes them for good, `+` only moves them. Postfix appends
    every exclusion as `:!word`. A `+` combination (`eNULL+SHA`) adds or removes part of the
    NULL ciphers: added, it counts; removed with `-`/`!`, it leaves the rest (not counted)."""
    killed = False
    enabling: Optional[str] = None
    words = cipher_words(cipherlist) + ["!" + word for word in cipher_words(exclusions)]
    for word in words:
        sign = word[0] if word[0] in "!-+" else ""
        body = word[len(sign):]
        parts = body.split("+")
        mentions = any(part in NULL_WORDS for part in parts) or body in NULL_ALIASES
        if not mentions or sign == "+":
            continue
        whole = len(parts) == 1
        if sign == "!" and whole:
            killed, enabling = True, None
        elif sign == "-" and whole:
            enabling = None
        elif not sign and not killed and enabling is None:
            enabling = word
    return enabling


def _exclusions(scope: Scope, ciphers_parameter: str) -> str:
    """The exclusions a session with this cipher grade parameter appends (smtpd.c, smtp.c:
    `_tls_exclude_ciphers`, plus `_tls_mandatory_exclude_ciphers` at mandatory levels)."""
    prefix = ciphers_parameter.split("_tls_")[0]
    names = [f"{prefix}_tls_exclude_ciphers"]
    if "_mandatory_" in ciphers_parameter:
        names.append(f"{prefix}_tls_mandatory_exclude_ciphers")
    values = [scope.get(name) for name in names]
    return " ".join(value.expanded for value in values if value.error is None)


def _null_cipherlist_finding(ctx: RuleContext, grade_value: Value, who: str,
                             listener: Optional[Listener]) -> Optional[Finding]:
    grade = grade_value.expanded.strip().lower()
    if grade not in CIPHERLIST_GRADES:
        return None
    scope = listener.scope if listener is not None else ctx.config.global_scope
    cipherlist = scope.get(f"tls_{grade}_cipherlist")
    if cipherlist.origin.is_default or cipherlist.error is not None:
        return None
    exclusions = _exclusions(scope, grade_value.name)
    word = enables_null_encryption(cipherlist.expanded, exclusions)
    if word is None:
        return None
    path, line, column = ctx.location_of(cipherlist, listener)
    return make_finding(
        ctx, ID, NAME, path, line, column,
        f"{who} uses grade {grade} ({shown(ctx, grade_value, listener)}), whose cipherlist enables "
        f"ciphers without encryption: {shown(ctx, cipherlist, listener)} adds {word!r} and no "
        f"exclusion removes it (eNULL: the session is authenticated but not encrypted)",
        service=listener.key if listener is not None else None, parameter=cipherlist.name,
        expected="no eNULL/NULL", actual=cipherlist.expanded.strip(), from_default=False,
    )


def check(ctx: RuleContext, options: Mapping[str, Any]) -> Iterator[Finding]:
    reported: set[tuple[str, int, Optional[str], str]] = set()
    for value, who, listener in tls_session_values(ctx, tls_facts.ciphers_parameter,
                                                   ("tls_ciphers", "tls_mandatory_ciphers")):
        if value.expanded.strip().lower() in WEAK_GRADES:
            yield _finding(ctx, value, who, listener)
            continue
        finding = _null_cipherlist_finding(ctx, value, who, listener)
        # A client's two grades may share one cipherlist line: one finding for it.
        key = (finding.path, finding.line, finding.service, who) if finding is not None else None
        if finding is not None and key not in reported:
            reported.add(key)  # type: ignore[arg-type]
            yield finding
