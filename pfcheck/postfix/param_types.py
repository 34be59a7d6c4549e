"""Which values Postfix refuses: its parameter type tables, and the checks every program runs.

Postfix programs read main.cf through typed tables (`CONFIG_INT_TABLE` ... in mail_params.c for
every program, in smtpd.c for smtpd, ...); scripts/gen_param_types.py copies them per series
into `_param_types_data.py` (docs/internals.md). `refusal()` applies to a `$`-expanded value
exactly the conversion and bound checks of postfix/src/global/mail_conf_{int,long,time,bool,
nint,nbool,str,raw}.c and conv_time.c, and returns Postfix's fatal text. `global_refusals()`
adds the checks mail_params_init() makes beyond the tables (myhostname, inet_protocols,
mynetworks_style, inet_interfaces, ...).

The data module is imported on first use only: most runs never need it.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Tuple

from pfcheck.postfix import defaults, numbers
from pfcheck.postfix.addresses import inet_protocols_refusal
from pfcheck.postfix.lines import CHARS_COMMA_SP, split_braced, split_comma_space

#: Reader of the global table (mail_params.c): every Postfix program, `postfix start` included.
GLOBAL = "global"
#: Reader of the TLS library table (tls/tls_misc.c): programs that use TLS.
TLS = "tls"


@dataclass(frozen=True)
class ParamType:
    """One CONFIG_*_TABLE entry: kind (int, long, time, bool, str, raw, nint, nbool, str_fn),
    bounds (0 = none; string lengths for str/raw/str_fn; seconds for time), and the source
    directories whose programs read it (`global`, `tls`, `smtpd`, `qmgr`, `smtp`, `lmtp`, ...)."""

    name: str
    kind: str
    min: int
    max: int
    readers: Tuple[str, ...]

    def read_by(self, program: Optional[str]) -> bool:
        """Whether `program` (a master.cf command; None = any program) reads this entry."""
        if program is None or GLOBAL in self.readers:
            return True
        return _reader_of(program) in self.readers


@dataclass(frozen=True)
class Refusal:
    """A value Postfix exits on: its fatal text (without `fatal: `), and who reads it."""

    name: str
    message: str
    readers: Tuple[str, ...]
    #: What the verdict rests on beyond the files (a host fact), or "" when certain.
    assumption: str = ""


def _reader_of(program: str) -> str:
    # The smtp binary reads lmtp_params.c when it runs as lmtp; both come from src/smtp/.
    return program


_types: Dict[str, Dict[str, Tuple[ParamType, ...]]] = {}


def _parse(text: str, into: Dict[str, Tuple[ParamType, ...]]) -> None:
    for line in text.splitlines():
        if not line:
            continue
        if line[0] == "!":
            into.pop(line[1:], None)
            continue
        name, kind, low, high, readers = line.split(" ")
        entry = ParamType(name, kind, int(low), int(high), tuple(readers.split(",")))
        into[name] = (*into.get(name, ()), entry)


def parameter_types(version: str = defaults.DEFAULT_VERSION) -> Mapping[str, Tuple[ParamType, ...]]:
    """name -> the table entries of that series (usually one; one per reader group otherwise)."""
    series = defaults.series_of(version)
    table = _types.get(series)
    if table is None:
        from pfcheck.postfix import _param_types_data as data

        base: Dict[str, Tuple[ParamType, ...]] = {}
        _parse(data.BASE_TYPES, base)
        if series != data.BASE_SERIES:
            changed: Dict[str, Tuple[ParamType, ...]] = {}
            _parse(data.SERIES_CHANGES[series], changed)
            for line in data.SERIES_CHANGES[series].splitlines():
                if line.startswith("!"):
                    base.pop(line[1:], None)
            base.update(changed)
        table = base
        _types[series] = table
    return table


def types_of(name: str, version: str = defaults.DEFAULT_VERSION) -> Tuple[ParamType, ...]:
    return parameter_types(version).get(name, ())


# ------------------------------------------------------------------------------------------
# Conversions (postfix/src/global/mail_conf_*.c, conv_time.c)

_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def _time(name: str, value: str, default_unit: str, strict_unit: bool) -> Tuple[Optional[int], str]:
    """conv_time(): a number with an optional one-letter unit (w, d, h, m, s), else the default
    unit. 2.10 - 3.0 refuse anything after the unit letter; 3.1+ ignore it (the check is
    commented out in conv_time.c @v3.1.0)."""
    bad = f"parameter {name}: bad time value or unit: {value}"
    number, end, erange = numbers.strtol(value)
    if not value or erange or not numbers.INT_MIN <= number <= numbers.INT_MAX or number < 0:
        return None, bad
    if strict_unit and end < len(value) and end + 1 < len(value):
        return None, bad
    unit = value[end] if end < len(value) else default_unit
    scale = _UNIT_SECONDS.get(unit)
    if scale is None:
        return None, bad
    if scale > 1 and not number < numbers.INT_MAX // scale:
        return None, bad
    return number * scale, ""


def default_time_unit(default: str) -> str:
    """get_def_time_unit(): the first letter of the expanded default ("300s" -> "s")."""
    for char in default:
        if char.isascii() and char.isalpha():
            return char
    return "s"


def check_typed(entry: ParamType, value: str, version: str, default_unit: Callable[[], str]) -> Optional[str]:
    """Postfix's fatal text for `value` (expanded; raw for kind raw) of one table entry, or None.

    `default_unit` gives the unit letter of the parameter's expanded default (time only)."""
    name, kind, low, high = entry.name, entry.kind, entry.min, entry.max
    if kind in ("bool", "nbool"):
        return defaults.bad_boolean(name, value) if defaults.parse_postfix_bool(value) is None else None
    if kind in ("str", "str_fn", "raw"):
        length = len(value.encode("utf-8", "surrogateescape"))
        fmt = "bad string length ({} {} {}): {} = {}" if kind == "raw" else "bad string length {} {} {}: {} = {}"
        if low and length < low:
            return fmt.format(length, "<", low, name, value)
        if high and length > high:
            return fmt.format(length, ">", high, name, value)
        return None
    if kind == "time":
        strict = defaults.parse_version(version) < (3, 1)
        number, error = _time(name, value, default_unit(), strict)
        if number is None:
            return error
        if low and number < low:
            return f"invalid {name}: {number} (min {low})"
        if high and number > high:
            return f"invalid {name}: {number} (max {high})"
        return None
    number, error = numbers.parse_conf_integer(name, value, int_range=kind != "long")
    if number is None:
        return error
    if low and number < low:
        return f"invalid {name} parameter value {number} < {low}"
    if high and number > high:
        return f"invalid {name} parameter value {number} > {high}"
    return None


# ------------------------------------------------------------------------------------------
# Words a program looks up in a fixed table when it starts (name_code()/name_mask(), maps)
# Sources @v3.7.11: smtpd/smtpd_check.c tempfail_actions[], global/hfrom_format.c, tls/tls_level.c,
# smtpd/smtpd.c bare_lf_mask_table[], global/mail_error.c, global/input_transp.c,
# global/maps.c maps_create() + util/dict_open.c dict_open().


@dataclass(frozen=True)
class NamedValues:
    words: Tuple[str, ...]
    #: name_mask() lists (case-sensitive, each word checked) vs name_code() (one word, any case).
    is_list: bool
    message: str


_TEMPFAIL = NamedValues(("defer", "defer_if_permit"), False, "bad configuration: {name} = {value}")
_NAME_MASK_MESSAGE = 'unknown {name} value "{word}" in "{value}"'
NAMED_VALUES: Mapping[str, NamedValues] = {
    "unknown_helo_hostname_tempfail_action": _TEMPFAIL,
    "unknown_address_tempfail_action": _TEMPFAIL,
    "unverified_recipient_tempfail_action": _TEMPFAIL,
    "unverified_sender_tempfail_action": _TEMPFAIL,
    "header_from_format": NamedValues(("standard", "obsolete"), False, 'invalid setting: "{name} = {value}"'),
    "smtpd_forbid_bare_newline": NamedValues(("normalize", "yes", "reject", "no"), False,
                                             "bad parameter value: '{name} = {value}'"),
    "notify_classes": NamedValues(("bounce", "2bounce", "data", "delay", "policy", "protocol", "resource",
                                   "software"), True, _NAME_MASK_MESSAGE),
    # tls/tls_level.c, smtpd.c: an empty value is no TLS; the DANE levels are client-only.
    # (smtpd skips the check under smtpd_tls_wrappermode = yes, which pfcheck does not model.)
    "smtpd_tls_security_level": NamedValues(("", "none", "may", "encrypt", "fingerprint", "verify", "secure"),
                                            False, 'Invalid TLS level "{value}"'),
    "receive_override_options": NamedValues(("no_unknown_recipient_checks", "no_address_mappings",
                                             "no_header_body_checks", "no_milters"), True, _NAME_MASK_MESSAGE),
}

#: Map-valued parameters that are not named `*_maps`: a list of maps, or one map (whole value).
MAP_LISTS = frozenset({"relay_clientcerts", "smtpd_dns_reply_filter"})
SINGLE_MAPS = frozenset({"smtpd_command_filter"})
#: `*_maps` parameters whose value is a list of map names, not maps to open (proxymap).
NOT_MAPS = frozenset({"proxy_read_maps", "proxy_write_maps"})
#: Programs verified to open every map parameter they read when they start (the differential
#: test); other readers open some maps only when they need them.
MAP_OPENERS = frozenset({"smtpd"})


def named_value_refusal(name: str, value: str) -> Optional[str]:
    spec = NAMED_VALUES.get(name)
    if spec is None:
        return None
    if spec.is_list:
        for word in split_comma_space(value):
            if word not in spec.words:
                return spec.message.format(name=name, value=value, word=word)
        return None
    if value.lower() not in spec.words:
        return spec.message.format(name=name, value=value)
    return None


def is_map_parameter(name: str) -> bool:
    return (name.endswith("_maps") and name not in NOT_MAPS) or name in MAP_LISTS or name in SINGLE_MAPS


def map_refusal(name: str, value: str) -> Optional[str]:
    """dict_open(): every map is `type:name` with both parts non-empty."""
    for token in ([value] if name in SINGLE_MAPS and value else [token for token, _ in split_braced(value, CHARS_COMMA_SP)]):
        kind, colon, rest = token.partition(":")
        if not colon:
            return f'open dictionary: expecting "type:name" form instead of "{token}"'
        if not kind or not rest:
            return f'open dictionary: expecting "type:name" form instead of "{kind}:{rest}"'
    return None


# ------------------------------------------------------------------------------------------
# mail_params_init() checks beyond the tables (postfix/src/global/mail_params.c @v3.7.11)

#: msg_syslog_set_facility() names (util/msg_syslog.c facility_names, Linux).
SYSLOG_FACILITIES = frozenset({
    "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "security",
    "syslog", "user", "uucp", "local0", "local1", "local2", "local3", "local4", "local5",
    "local6", "local7",
})
_VALID_LABEL_LEN = 63
_VALID_HOSTNAME_LEN = 255


def valid_hostname(name: str) -> Optional[str]:
    """util/valid_hostname.c without DO_WILDCARD: None when valid, else the warning it logs."""
    if not name:
        return "empty hostname"
    label_length = label_count = 0
    non_numeric = False
    for index, char in enumerate(name):
        following = name[index + 1] if index + 1 < len(name) else ""
        if (char.isascii() and char.isalnum()) or char == "_":
            if label_length == 0:
                label_count += 1
            label_length += 1
            if label_length > _VALID_LABEL_LEN:
                return f"hostname label too long: {name[:100]}"
            if not char.isdigit():
                non_numeric = True
        elif char == ".":
            if label_length == 0 or not following:
                return f"misplaced delimiter: {name[:100]}"
            label_length = 0
        elif char == "-":
            non_numeric = True
            label_length += 1
            if label_length == 1 or not following or following == ".":
                return f"misplaced hyphen: {name[:100]}"
        else:
            code = name[index].encode("utf-8", "surrogateescape")[0]
            return f"invalid character {code}(decimal): {name[:100]}"
    if not non_numeric:
        return f"numeric hostname: {name[:100]}"
    if len(name.encode("utf-8", "surrogateescape")) > _VALID_HOSTNAME_LEN:
        return f"bad length {len(name)} for {name[:100]}..."
    return None


def _address_literal(token: str) -> Optional[ipaddress._BaseAddress]:
    text = token[1:-1] if token.startswith("[") and token.endswith("]") else token
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def inet_interfaces_refusal(value: str) -> Optional[Refusal]:
    """own_inet_addr.c: the whole value is `all` or `loopback-only`, or every word is an address
    or a host name that getaddrinfo() finds (in a list, `all` is a host name too). A word that cannot be a host name is certainly not found; an address
    that is not on the host, or a host name, is a fact about the mail host, not the files."""
    if value in ("all", "loopback-only"):
        return None  # strcmp() on the whole expanded value: "all," or "all $empty" is a list
    for token in split_comma_space(value):
        if _address_literal(token) is not None:
            continue
        if valid_hostname(token) is not None:
            return Refusal("inet_interfaces", f"config variable inet_interfaces: host not found: {token}", (GLOBAL,))
        if token in ("all", "loopback-only") or ("." not in token and "_" in token):
            # A keyword inside a list, or a restriction or parameter name pasted here (one label
            # with "_"): no host anyone names in DNS or /etc/hosts, but only the mail host can
            # prove it.
            return Refusal("inet_interfaces", f"config variable inet_interfaces: host not found: {token}", (GLOBAL,),
                           assumption=f"no DNS or /etc/hosts entry for {token!r} on the mail host")
    return None


#: The parameters global_refusals() reads: a service scope that changes none of them has the
#: main.cf scope's answer.
GLOBAL_REFUSAL_INPUTS = frozenset({
    "syslog_facility", "inet_protocols", "myhostname", "mydomain", "mynetworks_style", "mynetworks",
    "inet_interfaces", "relayhost", "myorigin", "default_verp_delimiters", "verp_delimiter_filter",
})


def global_refusals(lookup: Callable[[str], str], is_set: Callable[[str], bool], version: str,
                    config_directory: str) -> Dict[str, Refusal]:
    """The fatal errors of mail_params_init() beyond the type tables, by parameter.

    `lookup(name)` is the expanded value, `is_set(name)` whether main.cf (or `-o`) sets it.
    Only values the files set are judged: host-dependent defaults stay unknown."""
    found: Dict[str, Refusal] = {}
    main_cf = f"{config_directory}/main.cf"

    def add(name: str, message: str, assumption: str = "") -> None:
        found.setdefault(name, Refusal(name, message, (GLOBAL,), assumption))

    if is_set("syslog_facility") and lookup("syslog_facility") not in SYSLOG_FACILITIES:
        add("syslog_facility", f"file {main_cf}: parameter syslog_facility: unrecognized value: "
                               f"{lookup('syslog_facility')}")
    protocols = lookup("inet_protocols")
    protocols_refusal = inet_protocols_refusal(protocols) if is_set("inet_protocols") else None
    if protocols_refusal is not None:
        add("inet_protocols", protocols_refusal)
    # myhostname and mydomain: refusals._hostname_refusal() (the daemon's own values).
    # mynetworks_style is read only to compute a mynetworks that main.cf does not set, and not
    # at all when inet_protocols enables no family (mynetworks.c mynetworks_core()).
    style = lookup("mynetworks_style")
    if is_set("mynetworks_style") and not is_set("mynetworks") and style and split_comma_space(protocols):
        words = split_comma_space(style)
        unknown = [w for w in words if w not in ("class", "subnet", "host")]
        if unknown:
            add("mynetworks_style", f'unknown mynetworks mask style value "{unknown[0]}" in "{style}"')
        elif len(set(words)) != 1:
            add("mynetworks_style", f"bad mynetworks_style value: {style}; specify exactly one value")
    if is_set("inet_interfaces"):
        refusal = inet_interfaces_refusal(lookup("inet_interfaces"))
        if refusal is not None:
            found.setdefault("inet_interfaces", refusal)
    relayhost = lookup("relayhost")
    if (is_set("relayhost") or is_set("myhostname")) and relayhost and not defaults.is_host_placeholder(
            lookup("myhostname")) and relayhost.lower() == lookup("myhostname").lower():
        add("relayhost", f"myhostname and relayhost parameter settings must not be identical: {lookup('myhostname')}")
    myorigin = lookup("myorigin")
    if is_set("myorigin") and any(char in CHARS_COMMA_SP for char in myorigin):
        add("myorigin", f"myorigin parameter setting must not contain multiple values: {myorigin}")
    if is_set("verp_delimiter_filter") or is_set("default_verp_delimiters"):
        delims, allowed = lookup("default_verp_delimiters"), lookup("verp_delimiter_filter")
        problem = ("bad VERP delimiter character count" if len(delims) != 2
                   else "bad first VERP delimiter character" if delims[0] not in allowed
                   else "bad second VERP delimiter character" if delims[1] not in allowed else "")
        if problem:
            add("default_verp_delimiters", f"file {main_cf}: parameters default_verp_delimiters and "
                                           f"verp_delimiter_filter: {problem}")
    return found
