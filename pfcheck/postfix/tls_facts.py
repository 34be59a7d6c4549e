"""What an smtpd listener does about TLS and SASL AUTH, computed from its effective scope as
smtpd does (Postfix 3.7 src/smtpd/smtpd.c pre_jail_init(), smtpd_proto(), ehlo_cmd(),
starttls_cmd(); src/smtpd/smtpd_sasl_glue.c; src/tls/tls_misc.c).

Every function takes a Listener (an smtpd service with its scope: main.cf, the service's
`-o`, and the target version's defaults) and only reads values; nothing here looks at the
mail host. The facts, in smtpd's order:

1. The TLS level. With `smtpd_tls_wrappermode = yes` the level is not read at all: TLS
   starts before the greeting and smtpd enforces it. Otherwise a non-empty
   `smtpd_tls_security_level` decides (`none`, `may`, `encrypt`; `fingerprint`, `verify`
   and `secure` are logged as unsupported and act as `encrypt`); an empty one leaves the
   legacy `smtpd_use_tls`/`smtpd_enforce_tls` booleans in charge. Then: enforce implies
   use, and enforce implies `smtpd_tls_auth_only`.
2. STARTTLS is advertised in EHLO whenever TLS is in use and the session is not already
   TLS (wrapper mode never shows it), even when no certificate is configured: then the
   STARTTLS command gets "454 4.7.0 TLS not available due to local problem" (smtpd logs
   "No server certs available. TLS won't be enabled" at start). `starttls_advertised()`
   is the EHLO keyword, `starttls_offered()` means a client can actually negotiate TLS.
3. A certificate is configured when `smtpd_tls_cert_file`, `smtpd_tls_eccert_file`,
   `smtpd_tls_dcert_file` or `smtpd_tls_chain_files` is non-empty, or `smtpd_tls_cert_file
   = none` (anonymous ciphers only) without asking for client certificates. Whether the
   files exist and hold a matching key on the mail host pfcheck cannot see: a missing or
   unreadable file makes smtpd log a TLS library problem and answer 454 to STARTTLS.
   An `smtpd_tls_protocols`/`smtpd_tls_mandatory_protocols` value Postfix cannot parse
   disables TLS the same way ("Invalid TLS protocol list").
4. SASL AUTH (`smtpd_sasl_auth_enable = yes`) is offered in a plaintext session unless
   `smtpd_tls_auth_only` (explicit, or implied by enforced TLS/wrapper mode) holds; after
   TLS it is offered with `smtpd_sasl_tls_security_options`. An EHLO keyword listed in
   `smtpd_discard_ehlo_keywords` (`starttls`, `auth`) is not shown to anyone.

Not modelled: `smtpd_discard_ehlo_keyword_address_maps` and `smtpd_sasl_exceptions_networks`
(they hide keywords from some clients only: the keyword is still offered to the others), and
the SASL backend's mechanism list (with `noplaintext` and a backend that offers only
PLAIN/LOGIN, a plaintext session finds no mechanism and smtpd exits with "no SASL
authentication mechanisms").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pfcheck.postfix import defaults
from pfcheck.postfix.config import Listener, Scope, Value
from pfcheck.postfix.lines import split_comma_space

NONE, MAY, ENCRYPT = "none", "may", "encrypt"
#: Levels smtpd accepts and treats as `encrypt` (with a warning): smtpd.c pre_jail_init().
ENCRYPT_ALIASES = frozenset({"fingerprint", "verify", "secure"})

#: Names of the protocols Postfix knows (tls_misc.c protocol_table), in version order, with
#: the version numbers OpenSSL uses for its floor/ceiling (SSLv2 is not in the >= table).
PROTOCOL_VERSIONS: dict[str, int] = {
    "SSLv2": 0x0002, "SSLv3": 0x0300, "TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303,
    "TLSv1.3": 0x0304,
}
#: tls_misc.c tls_version_table: the names `>=`/`<=` accept (else a hex number).
_FLOOR_NAMES: dict[str, int] = {"None": 0, **{name: number for name, number in PROTOCOL_VERSIONS.items()
                                              if name != "SSLv2"}}
#: Both tables are searched with name_code(..., NAME_CODE_FLAG_NONE, ...): strcasecmp
#: [observed, 3.7: `!sslv2, !sslv3` and `>=tlsv1.2` keep TLS on]. Lower-cased name -> name.
_PROTOCOL_NAMES: dict[str, str] = {name.lower(): name for name in PROTOCOL_VERSIONS}
_FLOOR_NAMES_FOLDED: dict[str, int] = {name.lower(): number for name, number in _FLOOR_NAMES.items()}
#: The first series whose protocol lists accept `>=VERSION`/`<=VERSION` (RELEASE_NOTES-3.6).
RANGE_SYNTAX_SINCE = (3, 6)
OBSOLETE_PROTOCOLS = ("SSLv2", "SSLv3")


def _yes(scope: Scope, name: str) -> bool:
    """A Postfix boolean (mail_conf_bool: strcasecmp "yes"); anything else is not yes (a
    value that is neither yes nor no makes the daemon exit: PF000's)."""
    return scope.get(name).expanded.strip().lower() == "yes"


def _words(scope: Scope, name: str) -> frozenset[str]:
    """A name-mask list, lower-cased (the masks compare with NAME_MASK_ANY_CASE)."""
    return frozenset(word.lower() for word in split_comma_space(scope.get(name).expanded))


@dataclass(frozen=True)
class SmtpdTls:
    """The TLS and AUTH behaviour of one smtpd listener (see the module docstring)."""

    #: What smtpd enforces: "none", "may" or "encrypt" (wrapper mode is "encrypt").
    level: str
    wrappermode: bool
    #: smtpd's var_smtpd_use_tls / var_smtpd_enforce_tls / var_smtpd_tls_auth_only after
    #: pre_jail_init() (levels and wrapper mode applied, implications added).
    use_tls: bool
    enforce_tls: bool
    auth_only: bool
    #: The values that decided the level, for messages (wrappermode, the level, or the
    #: legacy booleans).
    decided_by: tuple[Value, ...]
    certificate: bool
    #: Why TLS cannot start although it is in use ("" when nothing in the config stops it).
    tls_problem: str
    sasl_enabled: bool
    discarded: frozenset[str]


def smtpd_tls(listener: Listener) -> SmtpdTls:
    """All TLS/AUTH facts of a listener (kept on the listener: several rules ask)."""
    known = listener.__dict__.get("_smtpd_tls")
    if known is None:
        known = listener.__dict__["_smtpd_tls"] = _compute(listener.scope)
    return known


def _compute(scope: Scope) -> SmtpdTls:
    wrapper_value = scope.get("smtpd_tls_wrappermode")
    wrappermode = _yes(scope, "smtpd_tls_wrappermode")
    level_value = scope.get("smtpd_tls_security_level")
    level_text = level_value.expanded.strip()
    use_value, enforce_value = scope.get("smtpd_use_tls"), scope.get("smtpd_enforce_tls")
    use_tls, enforce_tls = _yes(scope, "smtpd_use_tls"), _yes(scope, "smtpd_enforce_tls")
    decided_by: tuple[Value, ...]
    if wrappermode:
        decided_by = (wrapper_value,)
    elif level_text:
        decided_by = (level_value,)
        if level_text == ENCRYPT or level_text in ENCRYPT_ALIASES:
            use_tls = enforce_tls = True
        elif level_text == MAY:
            use_tls, enforce_tls = True, False
        else:  # none (anything else makes smtpd exit: PF000)
            use_tls = enforce_tls = False
    else:
        decided_by = (level_value, enforce_value, use_value)
    enforce_tls = wrappermode or enforce_tls
    auth_only = _yes(scope, "smtpd_tls_auth_only") or enforce_tls
    use_tls = use_tls or enforce_tls
    level = ENCRYPT if enforce_tls else MAY if use_tls else NONE
    certificate = _certificate_configured(scope, enforce_tls)
    problem = ""
    if use_tls:
        if not certificate:
            problem = "no server certificate is configured (smtpd_tls_cert_file, smtpd_tls_chain_files)"
        else:
            protocols = scope.get(protocols_parameter_for(enforce_tls))
            if enabled_protocols(protocols.expanded, scope.config.version) is None:
                problem = f"{protocols.name} = {protocols.expanded} is not a valid protocol list"
    return SmtpdTls(
        level=level, wrappermode=wrappermode, use_tls=use_tls, enforce_tls=enforce_tls,
        auth_only=auth_only, decided_by=decided_by, certificate=certificate, tls_problem=problem,
        sasl_enabled=_yes(scope, "smtpd_sasl_auth_enable"),
        discarded=_words(scope, "smtpd_discard_ehlo_keywords"),
    )


def _certificate_configured(scope: Scope, enforce_tls: bool) -> bool:
    """smtpd.c: have_server_cert, or `smtpd_tls_cert_file = none` (anonymous TLS) when no
    client certificate is asked for."""
    cert_file = scope.get("smtpd_tls_cert_file").expanded.strip()
    no_server_cert_ok = cert_file.lower() == "none"
    have = bool(cert_file) and not no_server_cert_ok
    for name in ("smtpd_tls_eccert_file", "smtpd_tls_dcert_file", "smtpd_tls_chain_files"):
        have = have or bool(scope.get(name).expanded.strip())
    require_server_cert = _yes(scope, "smtpd_tls_ask_ccert") or (enforce_tls and _yes(scope, "smtpd_tls_req_ccert"))
    return have or (no_server_cert_ok and not require_server_cert)


def tls_level(listener: Listener) -> str:
    """The TLS level smtpd enforces on this listener: "none" (no STARTTLS), "may"
    (opportunistic STARTTLS) or "encrypt" (TLS required: `encrypt` and the levels smtpd
    treats as encrypt, `smtpd_enforce_tls = yes` under an empty level, or wrapper mode)."""
    return smtpd_tls(listener).level


def wrapper_mode(listener: Listener) -> bool:
    """Whether the listener starts TLS before the greeting (`smtpd_tls_wrappermode = yes`,
    the port-465 "submissions" style); its TLS level setting is then not read."""
    return smtpd_tls(listener).wrappermode


def starttls_advertised(listener: Listener) -> bool:
    """Whether EHLO lists STARTTLS in a plaintext session (also when no certificate is
    configured: STARTTLS is then answered with 454)."""
    facts = smtpd_tls(listener)
    return facts.use_tls and not facts.wrappermode and "starttls" not in facts.discarded


def server_certificate_configured(listener: Listener) -> bool:
    """Whether smtpd has a server certificate to load (the files themselves are on the mail
    host: pfcheck assumes they exist and match)."""
    return smtpd_tls(listener).certificate


def tls_available(listener: Listener) -> bool:
    """Whether a client can get a TLS session at all (STARTTLS or wrapper mode), as far as
    the config says: TLS in use, a certificate configured, a valid protocol list."""
    facts = smtpd_tls(listener)
    # A discarded STARTTLS keyword also disables the command (502): smtpd.c starttls_cmd().
    reachable = facts.wrappermode or "starttls" not in facts.discarded
    return facts.use_tls and not facts.tls_problem and reachable


def starttls_offered(listener: Listener) -> bool:
    """Whether a plaintext client is offered STARTTLS and can negotiate it: advertised in
    EHLO and not refused with 454 for want of a certificate."""
    return starttls_advertised(listener) and tls_available(listener)


def tls_required(listener: Listener) -> bool:
    """Whether smtpd refuses mail without TLS (530 "Must issue a STARTTLS command first"
    to MAIL in plaintext) or speaks only TLS (wrapper mode)."""
    return smtpd_tls(listener).enforce_tls


def auth_enabled(listener: Listener) -> bool:
    """`smtpd_sasl_auth_enable = yes`."""
    return smtpd_tls(listener).sasl_enabled


def auth_offered_before_tls(listener: Listener) -> bool:
    """Whether EHLO offers AUTH in a plaintext session: SASL enabled, not wrapper mode, and
    `smtpd_tls_auth_only` neither set nor implied by enforced TLS. (Which mechanisms the
    SASL backend then lists depends on `smtpd_sasl_security_options`: see
    sasl_security_options().)"""
    facts = smtpd_tls(listener)
    return (facts.sasl_enabled and not facts.wrappermode and not facts.auth_only
            and "auth" not in facts.discarded)


def auth_offered_after_tls(listener: Listener) -> bool:
    """Whether AUTH is offered once the session is encrypted (STARTTLS or wrapper mode)."""
    facts = smtpd_tls(listener)
    return facts.sasl_enabled and tls_available(listener) and "auth" not in facts.discarded


def sasl_security_options_parameter(after_tls: bool) -> str:
    """The parameter whose options filter the mechanisms of a session: plaintext sessions
    use smtpd_sasl_security_options, TLS sessions smtpd_sasl_tls_security_options (default
    `$smtpd_sasl_security_options`)."""
    return "smtpd_sasl_tls_security_options" if after_tls else "smtpd_sasl_security_options"


def sasl_security_options(listener: Listener, after_tls: bool) -> frozenset[str]:
    """The SASL security options of a session, lower-cased (`noanonymous`, `noplaintext`,
    ...): a name mask split on commas and white space, compared in any case."""
    return _words(listener.scope, sasl_security_options_parameter(after_tls))


def protocols_parameter_for(enforce_tls: bool) -> str:
    """The protocol list smtpd's TLS context uses: the mandatory one when TLS is enforced
    (encrypt, wrapper mode), else smtpd_tls_protocols (smtpd.c TLS_SERVER_INIT)."""
    return "smtpd_tls_mandatory_protocols" if enforce_tls else "smtpd_tls_protocols"


def protocols_parameter(listener: Listener) -> str:
    """The protocol list this listener's TLS sessions use (see protocols_parameter_for())."""
    return protocols_parameter_for(smtpd_tls(listener).enforce_tls)


def ciphers_parameter(listener: Listener) -> str:
    """The cipher grade this listener's TLS sessions use: smtpd_tls_mandatory_ciphers when TLS
    is enforced, else smtpd_tls_ciphers (smtpd.c smtpd_start_tls())."""
    return "smtpd_tls_mandatory_ciphers" if smtpd_tls(listener).enforce_tls else "smtpd_tls_ciphers"


def enabled_protocols(value: str, version: str = defaults.DEFAULT_VERSION) -> Optional[tuple[str, ...]]:
    """The protocols (PROTOCOL_VERSIONS names) a protocol list leaves enabled, as far as
    Postfix is concerned (the TLS library may lack some), or None when Postfix cannot parse
    the list and disables TLS (tls_misc.c tls_proto_mask_lims()).

    Words split on commas, white space and `:`; names compare in any case. `!NAME`
    excludes; a plain NAME includes (then everything not included is excluded); an empty
    list enables every version. `>=V`/`<=V` (3.6+) set a floor/ceiling: a name or a hex
    number; `None` and an empty version mean no limit.
    """
    floor = ceiling = 0
    include: set[str] = set()
    exclude: set[str] = set()
    range_syntax = defaults.parse_version(version) >= RANGE_SYNTAX_SINCE
    for word in (part for part in _split_protocols(value) if part):
        if word[:2] in (">=", "<="):
            if not range_syntax:
                return None
            number = _protocol_version(word[2:])
            if number is None:
                return None
            if word[:2] == ">=":
                floor = number
            else:
                ceiling = number
        elif word.startswith("!"):
            name = _PROTOCOL_NAMES.get(word[1:].lower())
            if name is None:
                return None
            exclude.add(name)
        else:
            name = _PROTOCOL_NAMES.get(word.lower())
            if name is None:
                return None
            include.add(name)
    if include:
        exclude |= set(PROTOCOL_VERSIONS) - include
    return tuple(
        name for name, number in PROTOCOL_VERSIONS.items()
        if name not in exclude and (not floor or number >= floor) and (not ceiling or number <= ceiling)
    )


def _split_protocols(value: str) -> list[str]:
    words = [value]
    for separator in ", \t\r\n:":
        words = [part for word in words for part in word.split(separator)]
    return words


def _protocol_version(text: str) -> Optional[int]:
    """parse_tls_version(): a table name, else strtoul(text, 16) of the whole text."""
    if text.lower() in _FLOOR_NAMES_FOLDED:
        return _FLOOR_NAMES_FOLDED[text.lower()]
    digits = text.strip(" \t\n\v\f\r")
    if digits.lower().startswith("0x"):
        digits = digits[2:]
    if digits == "":
        return 0 if text.strip(" \t\n\v\f\r") == "" else None
    try:
        return int(digits, 16)
    except ValueError:
        return None
