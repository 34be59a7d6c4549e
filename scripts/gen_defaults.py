#!/usr/bin/env python3
"""Generate `pfcheck/postfix/_defaults_data.py`: Postfix built-in defaults per release series.

The base table is what the installed Postfix (must be a 3.7 release) prints for
`postconf -c <empty dir> -d`: every parameter's raw default, `$`-expressions unexpanded.
/etc/postfix is never read: postconf runs against private, empty temp directories.

Values that describe the machine or the build rather than Postfix (hostname, computed
mynetworks, process id, distro paths, ...) are detected and stored as symbolic placeholders
(`<name>`), never baked in. Detection combines:
  * two runs of `postconf -d` (values that change between runs: process_id),
  * values that contain this machine's hostname, domain or a non-loopback interface address,
  * a diff against an upstream build of the same release, when one is given (distro paths,
    Debian's `alias_maps`),
  * the curated list HOST_DEPENDENT_CURATED below (paths that happen to be equal upstream and
    in the distro are still build choices).

Other series (2.10 ... 3.10) are described as differences from the base:
  * HISTORY below is the hand-maintained, sourced table for every parameter a pfcheck rule
    relies on. It is always written to the data module and always checked against the base.
  * With `--builds DIR` (upstream `postconf` binaries built from the Postfix source, one per
    series, see `--build-from-git`), the complete differences of every parameter are taken from
    those binaries, and HISTORY is verified against them (any disagreement is an error).
    Without builds only HISTORY describes the other series (SERIES_CHANGES_COMPLETE = False).
  * Per-service parameter suffixes (`<service>_destination_concurrency_limit` ...) and the
    legacy parameter names postconf accepts silently are probed with each binary.

Usage:
    python3 scripts/gen_defaults.py                       # base + HISTORY only
    python3 scripts/gen_defaults.py --builds /tmp/pfbuild # + complete per-series differences
    python3 scripts/gen_defaults.py --build-from-git /path/to/postfix.git --builds /tmp/pfbuild

The Postfix source is the public mirror https://github.com/vdukhovni/postfix (tags vX.Y.Z).
Building needs gcc, make, m4, libicu-dev (SMTPUTF8 support changes a default) and
libssl-dev; old releases are built with a few portability flags (see build_postconf()).
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "pfcheck" / "postfix" / "_defaults_data.py"

SERIES: Tuple[str, ...] = (
    "2.10", "2.11", "3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "3.8", "3.9", "3.10",
)
BASE_SERIES = "3.7"

#: The release whose `postconf -d` stands for each series: the newest patch release in the
#: Postfix mirror at generation time (3.7 is the installed Debian 12 release, the oracle).
SERIES_RELEASES: Dict[str, str] = {
    "2.10": "2.10.10", "2.11": "2.11.11", "3.0": "3.0.15", "3.1": "3.1.15", "3.2": "3.2.22",
    "3.3": "3.3.22", "3.4": "3.4.29", "3.5": "3.5.27", "3.6": "3.6.20", "3.7": "3.7.11",
    "3.8": "3.8.20", "3.9": "3.9.14", "3.10": "3.10.13",
}

#: Parameters whose default describes the machine, the running process or the build, not
#: Postfix's behaviour. Reason strings end up in the data module and docs/defaults.md.
HOST_DEPENDENT_CURATED: Dict[str, str] = {
    "myhostname": "host: gethostname()",
    "mydomain": "host: derived from myhostname",
    "mynetworks": "host: computed from the interface addresses by mynetworks_style",
    "process_id": "run time: pid of the process",
    "process_name": "run time: name of the running program",
    "service_name": "run time: master.cf service name of the running daemon",
    "mail_version": "release: the exact patch release installed",
    "mail_release_date": "release: the exact patch release installed",
    "config_directory": "build/installation path (and `-c DIR` at run time)",
    "command_directory": "build/installation path",
    "daemon_directory": "build/installation path",
    "data_directory": "build/installation path",
    "queue_directory": "build/installation path",
    "meta_directory": "build/installation path",
    "shlib_directory": "build/installation path",
    "html_directory": "build/installation path",
    "manpage_directory": "build/installation path",
    "readme_directory": "build/installation path",
    "sample_directory": "build/installation path",
    "mail_spool_directory": "build/installation path",
    "sendmail_path": "build/installation path",
    "newaliases_path": "build/installation path",
    "mailq_path": "build/installation path",
    "openssl_path": "build/installation path",
    "mail_owner": "build/installation account",
    "setgid_group": "build/installation group",
    "default_database_type": "build: map types compiled in",
    "alias_maps": "build: map types compiled in (Debian adds nis:mail.aliases)",
    "alias_database": "build: map types compiled in",
    "tls_random_source": "build: platform entropy source",
    "tls_eecdh_auto_curves": "build: empty without TLS support",
}


@dataclass(frozen=True)
class Change:
    """One row of the hand-maintained history: `parameter` has `value` from `first` to `last`
    (series, inclusive). `value` None = the parameter does not exist in those series."""

    parameter: str
    first: str
    last: str
    value: Optional[str]
    source: str
    note: str = ""


_ALL = ("2.10", "3.10")
_MP = "postfix/src/global/mail_params.h"
_COMPAT_3_6 = "postfix/RELEASE_NOTES-3.6 (Incompat 20210131); COMPATIBILITY_README"
_RELAY_LIST = "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"

# Values are the exact strings the series' own `postconf -d` prints (3.0 - 3.5 use the numeric
# `<` operator, 3.6+ `<level`). Sources: file at the tag named; `v3.5.27` means the newest
# patch release of the series was read (and, with --builds, run).
HISTORY: Tuple[Change, ...] = (
    # --- relay control ---------------------------------------------------------------------
    Change("smtpd_relay_restrictions", "2.10", "3.2", _RELAY_LIST,
           f"v2.10.10..v3.2.22 {_MP} DEF_RELAY_CHECKS; postfix/RELEASE_NOTES-2.10",
           "unconditional (no compatibility level); 2.10.0 shipped "
           "`permit_mynetworks, reject_unauth_destination` (v2.10.0 mail_params.h)"),
    Change("smtpd_relay_restrictions", "3.3", "3.5",
           "${{$compatibility_level} < {1} ? {} : {" + _RELAY_LIST + "}}",
           f"v3.3.0, v3.5.27 {_MP} DEF_RELAY_CHECKS; postfix/RELEASE_NOTES-3.3 [20180106]",
           "empty below compatibility level 1"),
    Change("smtpd_relay_restrictions", "3.6", "3.10",
           "${{$compatibility_level} <level {1} ? {} : {" + _RELAY_LIST + "}}",
           f"v3.6.20, v3.7.11, v3.10.13 {_MP} DEF_RELAY_CHECKS"),
    Change("smtpd_recipient_restrictions", *_ALL, "",
           f"v2.10.10, v3.10.13 {_MP} DEF_RCPT_CHECKS; postfix/RELEASE_NOTES-2.10",
           "was `permit_mynetworks, reject_unauth_destination` before 2.10"),
    Change("smtpd_relay_before_recipient_restrictions", "2.10", "3.5", None,
           f"v3.5.27 {_MP} (no VAR_RELAY_BEFORE_RCPT_CHECKS)",
           "order fixed by the code: relay first in 2.10-3.2, recipient first in 3.3-3.5 "
           "(postfix/src/smtpd/smtpd_check.c smtpd_check_rcpt())"),
    Change("smtpd_relay_before_recipient_restrictions", "3.6", "3.10",
           "${{$compatibility_level} <level {3.6} ? {no} : {yes}}",
           f"v3.6.0, v3.10.13 {_MP} DEF_RELAY_BEFORE_RCPT_CHECKS; {_COMPAT_3_6}"),
    Change("smtpd_restriction_classes", *_ALL, "", f"v2.10.10, v3.10.13 {_MP} DEF_REST_CLASSES"),
    Change("smtpd_client_restrictions", *_ALL, "", f"v2.10.10, v3.10.13 {_MP} DEF_CLIENT_CHECKS"),
    Change("smtpd_helo_restrictions", *_ALL, "", f"v2.10.10, v3.10.13 {_MP} DEF_HELO_CHECKS"),
    Change("smtpd_sender_restrictions", *_ALL, "", f"v2.10.10, v3.10.13 {_MP} DEF_MAIL_CHECKS"),
    Change("smtpd_delay_reject", *_ALL, "yes", f"v2.10.10, v3.10.13 {_MP} DEF_SMTPD_DELAY_REJECT"),
    Change("permit_mx_backup_networks", *_ALL, "", f"v2.10.10, v3.10.13 {_MP} DEF_PERM_MX_NETWORKS"),
    Change("smtpd_authorized_xclient_hosts", *_ALL, "", f"v2.10.10, v3.10.13 {_MP} DEF_XCLIENT_HOSTS"),
    Change("smtpd_sasl_auth_enable", *_ALL, "no", f"v2.10.10, v3.10.13 {_MP} DEF_SMTPD_SASL_ENABLE"),
    Change("postscreen_access_list", *_ALL, "permit_mynetworks",
           f"v2.10.10, v3.10.13 {_MP} DEF_PSC_ACL"),
    Change("smtpd_reject_unlisted_recipient", *_ALL, "yes",
           f"v2.10.10, v3.10.13 {_MP} DEF_SMTPD_REJ_UNL_RCPT"),
    # --- address classes -------------------------------------------------------------------
    Change("relay_domains", "2.10", "2.11", "$mydestination", f"v2.11.11 {_MP} DEF_RELAY_DOMAINS"),
    Change("relay_domains", "3.0", "3.5", "${{$compatibility_level} < {2} ? {$mydestination} : {}}",
           f"v3.0.0, v3.5.27 {_MP} DEF_RELAY_DOMAINS; postfix/RELEASE_NOTES-3.0; COMPATIBILITY_README"),
    Change("relay_domains", "3.6", "3.10",
           "${{$compatibility_level} <level {2} ? {$mydestination} : {}}",
           f"v3.6.20, v3.10.13 {_MP} DEF_RELAY_DOMAINS"),
    Change("mydestination", *_ALL, "$myhostname, localhost.$mydomain, localhost",
           f"v2.10.10, v3.10.13 {_MP} DEF_MYDEST"),
    Change("virtual_alias_domains", *_ALL, "$virtual_alias_maps",
           f"v2.10.10, v3.10.13 {_MP} DEF_VIRT_ALIAS_DOMS"),
    Change("virtual_mailbox_domains", *_ALL, "$virtual_mailbox_maps",
           f"v2.10.10, v3.10.13 {_MP} DEF_VIRT_MAILBOX_DOMS"),
    Change("inet_interfaces", *_ALL, "all", f"v2.10.10, v3.10.13 {_MP} DEF_INET_INTERFACES"),
    Change("inet_protocols", *_ALL, "all",
           "v2.10.10, v3.10.13 postfix/src/util/sys_defs.h DEF_INET_PROTOCOLS",
           "`all` when built with IPv6 support (every Linux build), `ipv4` otherwise"),
    Change("proxy_interfaces", *_ALL, "", f"v2.10.10, v3.10.13 {_MP} DEF_PROXY_INTERFACES"),
    Change("allow_untrusted_routing", *_ALL, "no", f"v2.10.10, v3.10.13 {_MP} DEF_ALLOW_UNTRUST_ROUTE"),
    Change("resolve_dequoted_address", *_ALL, "yes", f"v2.10.10, v3.10.13 {_MP} DEF_RESOLVE_DEQUOTED"),
    Change("parent_domain_matches_subdomains", *_ALL,
           "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,"
           "qmqpd_authorized_clients,relay_domains,smtpd_access_maps",
           f"v2.10.10, v3.10.13 {_MP} DEF_PAR_DOM_MATCH"),
    # --- mynetworks ------------------------------------------------------------------------
    Change("mynetworks_style", "2.10", "2.11", "subnet", f"v2.11.11 {_MP} DEF_MYNETWORKS_STYLE"),
    Change("mynetworks_style", "3.0", "3.5", "${{$compatibility_level} < {2} ? {subnet} : {host}}",
           f"v3.0.0, v3.5.27 {_MP} DEF_MYNETWORKS_STYLE; postfix/RELEASE_NOTES-3.0; COMPATIBILITY_README"),
    Change("mynetworks_style", "3.6", "3.10",
           "${{$compatibility_level} <level {2} ? {subnet} : {host}}",
           f"v3.6.20, v3.10.13 {_MP} DEF_MYNETWORKS_STYLE"),
    # --- compatibility level ---------------------------------------------------------------
    Change("compatibility_level", "2.10", "2.11", None, f"v2.11.11 {_MP} (no VAR_COMPAT_LEVEL)",
           "introduced in 3.0"),
    Change("compatibility_level", "3.0", "3.10", "0",
           f"v3.0.0, v3.10.13 {_MP} DEF_COMPAT_LEVEL; postfix/src/global/compat_level.c (3.6+)",
           "an integer parameter in 3.0-3.5; `major.minor.patch` with `<level` operators from 3.6"),
    Change("smtputf8_enable", "2.10", "2.11", None, f"v2.11.11 {_MP} (no VAR_SMTPUTF8_ENABLE)",
           "introduced in 3.0"),
    Change("smtputf8_enable", "3.0", "3.5", "${{$compatibility_level} < {1} ? {no} : {yes}}",
           f"v3.0.0, v3.5.27 {_MP} DEF_SMTPUTF8_ENABLE",
           "`no` when built without ICU (makedefs -DNO_EAI)"),
    Change("smtputf8_enable", "3.6", "3.10", "${{$compatibility_level} <level {1} ? {no} : {yes}}",
           f"v3.6.20, v3.10.13 {_MP} DEF_SMTPUTF8_ENABLE"),
    Change("append_dot_mydomain", "2.10", "2.11", "yes", f"v2.11.11 {_MP} DEF_APP_DOT_MYDOMAIN"),
    Change("append_dot_mydomain", "3.0", "3.5", "${{$compatibility_level} < {1} ? {yes} : {no}}",
           f"v3.0.0, v3.5.27 {_MP} DEF_APP_DOT_MYDOMAIN"),
    Change("append_dot_mydomain", "3.6", "3.10", "${{$compatibility_level} <level {1} ? {yes} : {no}}",
           f"v3.6.20, v3.10.13 {_MP} DEF_APP_DOT_MYDOMAIN"),
    Change("respectful_logging", "2.10", "3.5", None, f"v3.5.27 {_MP} (no VAR_RESPECTFUL_LOGGING)"),
    Change("respectful_logging", "3.6", "3.10", "${{$compatibility_level} <level {3.6} ? {no} : {yes}}",
           f"v3.6.0, v3.10.13 {_MP} DEF_RESPECTFUL_LOGGING; {_COMPAT_3_6}"),
    # --- SMTP server behaviour -------------------------------------------------------------
    Change("disable_vrfy_command", *_ALL, "no", f"v2.10.10, v3.10.13 {_MP} DEF_DISABLE_VRFY_CMD"),
    Change("smtpd_banner", *_ALL, "$myhostname ESMTP $mail_name", f"v2.10.10, v3.10.13 {_MP} DEF_SMTPD_BANNER"),
    Change("smtpd_forbid_unauth_pipelining", "2.10", "3.4", None,
           f"v3.4.29 {_MP} (no VAR_SMTPD_FORBID_UNAUTH_PIPE)"),
    Change("smtpd_forbid_unauth_pipelining", "3.5", "3.8", "no",
           f"v3.5.27, v3.8.20 {_MP} DEF_SMTPD_FORBID_UNAUTH_PIPE",
           "added in patch releases 3.5.20, 3.6.10, 3.7.6, 3.8.1 (absent in earlier patches)"),
    Change("smtpd_forbid_unauth_pipelining", "3.9", "3.10", "yes",
           f"v3.9.0, v3.10.13 {_MP} DEF_SMTPD_FORBID_UNAUTH_PIPE; postfix/RELEASE_NOTES-3.9"),
    Change("smtpd_forbid_bare_newline", "2.10", "3.4", None,
           f"v3.4.29 {_MP} (no VAR_SMTPD_FORBID_BARE_LF)"),
    Change("smtpd_forbid_bare_newline", "3.5", "3.8", "no",
           f"v3.5.27, v3.8.20 {_MP} DEF_SMTPD_FORBID_BARE_LF",
           "added in patch releases 3.5.23, 3.6.13, 3.7.9, 3.8.4 (yes/no); `normalize`/`reject` "
           "values from 3.5.24, 3.6.14, 3.7.10, 3.8.5"),
    Change("smtpd_forbid_bare_newline", "3.9", "3.10", "normalize",
           f"v3.9.0, v3.10.13 {_MP} DEF_SMTPD_FORBID_BARE_LF; postfix/RELEASE_NOTES-3.9"),
    Change("smtpd_forbid_bare_newline_exclusions", "2.10", "3.4", None,
           f"v3.4.29 {_MP} (no VAR_SMTPD_FORBID_BARE_LF_EXCL)"),
    Change("smtpd_forbid_bare_newline_exclusions", "3.5", "3.10", "$mynetworks",
           f"v3.5.27, v3.10.13 {_MP} DEF_SMTPD_FORBID_BARE_LF_EXCL",
           "added with smtpd_forbid_bare_newline (3.5.23, 3.6.13, 3.7.9, 3.8.4)"),
    # --- TLS -------------------------------------------------------------------------------
    Change("smtpd_tls_security_level", *_ALL, "", f"v2.10.10, v3.10.13 {_MP} DEF_SMTPD_TLS_LEVEL"),
    Change("smtp_tls_security_level", *_ALL, "", f"v2.10.10, v3.10.13 {_MP} DEF_SMTP_TLS_LEVEL",
           "becomes `may` at compatibility level >= 3.11 in Postfix 3.11 (outside this range)"),
    Change("smtpd_tls_protocols", "2.10", "3.5", "!SSLv2, !SSLv3",
           f"v2.10.10, v3.5.27 {_MP} DEF_SMTPD_TLS_PROTO",
           "`!SSLv3` added in patch releases 2.10.8, 2.11.6, 3.0.2; earlier patches had an empty value"),
    Change("smtpd_tls_protocols", "3.6", "3.10", ">=TLSv1", f"v3.6.0, v3.10.13 {_MP} DEF_SMTPD_TLS_PROTO"),
    Change("smtpd_tls_mandatory_protocols", "2.10", "3.5", "!SSLv2, !SSLv3",
           f"v2.10.10, v3.5.27 {_MP} DEF_SMTPD_TLS_MAND_PROTO",
           "`!SSLv2` before patch releases 2.10.8, 2.11.6, 3.0.2"),
    Change("smtpd_tls_mandatory_protocols", "3.6", "3.10", ">=TLSv1",
           f"v3.6.0, v3.10.13 {_MP} DEF_SMTPD_TLS_MAND_PROTO"),
    Change("smtpd_tls_fingerprint_digest", "2.10", "3.5", "md5", f"v2.10.10, v3.5.27 {_MP} DEF_SMTPD_TLS_FPT_DGST"),
    Change("smtpd_tls_fingerprint_digest", "3.6", "3.10",
           "${{$compatibility_level} <level {3.6} ? {md5} : {sha256}}",
           f"v3.6.0, v3.10.13 {_MP} DEF_SMTPD_TLS_FPT_DGST; {_COMPAT_3_6}"),
)

#: Every parameter the rules rely on must have a complete HISTORY (checked below).
RULE_PARAMETERS: Tuple[str, ...] = tuple(dict.fromkeys(change.parameter for change in HISTORY))


# ------------------------------------------------------------------------------------------
# Running postconf


def series_index(series: str) -> int:
    return SERIES.index(series)


def parse_postconf_output(text: str) -> Dict[str, str]:
    """`name = value` lines of `postconf -d` (unfolded: one line per parameter)."""
    values: Dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.endswith(" ="):
            values[line[:-2]] = ""
            continue
        name, separator, value = line.partition(" = ")
        if not separator or not re.fullmatch(r"[A-Za-z0-9_.:\[\]-]+", name):
            raise SystemExit(f"unexpected postconf output line: {line!r}")
        values[name] = value
    return values


def run_postconf(postconf: str, directory: Path, *args: str) -> subprocess.CompletedProcess:
    """`postconf -c DIR ...` with back-dated files (Postfix waits for 'fresh' files to settle)."""
    assert not any("=" in arg for arg in args), "postconf name=value would edit main.cf"
    past = time.time() - 120
    for path in directory.iterdir():
        os.utime(path, (past, past))
    return subprocess.run(
        [postconf, "-c", str(directory), *args], capture_output=True, text=True,
        errors="surrogateescape", timeout=120, check=False,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"},
    )


def private_dir(main_cf: str = "", master_cf: str = "") -> Path:
    directory = Path(tempfile.mkdtemp(prefix="pfcheck-gen-"))
    (directory / "main.cf").write_text(main_cf)
    (directory / "master.cf").write_text(master_cf)
    return directory


def postconf_defaults(postconf: str) -> Dict[str, str]:
    directory = private_dir()
    try:
        result = run_postconf(postconf, directory, "-d")
        if result.returncode != 0:
            raise SystemExit(f"{postconf} -d failed: {result.stderr}")
        return parse_postconf_output(result.stdout)
    finally:
        shutil.rmtree(directory)


#: Delivery programs for which postconf derives per-service parameter names
#: (postfix/src/postconf/postconf_service.c). Probing other commands finds nothing.
PROBED_PROGRAMS = ("local", "error", "virtual", "smtp", "lmtp", "pipe", "spawn", "smtpd")


def probe_service_suffixes(postconf: str) -> Dict[str, Tuple[str, str]]:
    """{suffix: (default, "program ...")} of the parameters postconf derives from master.cf names."""
    lines = [f"pfprobe{program} unix - n n - - {program}" for program in PROBED_PROGRAMS]
    directory = private_dir(master_cf="\n".join(lines) + "\n")
    try:
        result = run_postconf(postconf, directory, "-d")
        values = parse_postconf_output(result.stdout)
    finally:
        shutil.rmtree(directory)
    # suffix -> (default, programs that get it): compact, the suffix sets barely differ.
    found: Dict[str, Tuple[str, List[str]]] = {}
    for program in PROBED_PROGRAMS:
        prefix = f"pfprobe{program}_"
        for name, value in values.items():
            if name.startswith(prefix):
                default, programs = found.setdefault(name[len(prefix) - 1:], (value, []))
                if default != value:
                    raise SystemExit(f"{postconf}: {name} default {value!r} differs between programs")
                programs.append(program)
    return {suffix: (default, " ".join(programs)) for suffix, (default, programs) in sorted(found.items())}


def referenced_names(value: str) -> Set[str]:
    return set(re.findall(r"\$[{(]?([A-Za-z0-9_]+)", value))


def probe_legacy_names(postconf: str, defaults: Mapping[str, str]) -> Dict[str, Tuple[str, ...]]:
    """Names postconf accepts without "unused parameter" although `-d` does not list them.

    Candidates are the names the defaults reference but do not define (renamed parameters
    keep working through such references); the probe keeps those that postconf -n accepts.
    """
    candidates: Dict[str, List[str]] = {}
    for name, value in defaults.items():
        for reference in referenced_names(value):
            if reference not in defaults:
                candidates.setdefault(reference, []).append(name)
    main_cf = "".join(f"{name} = pfcheck-probe\n" for name in sorted(candidates))
    directory = private_dir(main_cf=main_cf)
    try:
        result = run_postconf(postconf, directory, "-n")
    finally:
        shutil.rmtree(directory)
    unused = set(re.findall(r"unused parameter: ([A-Za-z0-9_]+)=", result.stderr))
    return {name: tuple(sorted(set(users))) for name, users in sorted(candidates.items()) if name not in unused}


def probe_raw_and_read_only(postconf: str, defaults: Mapping[str, str]) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """(raw, read-only) parameter names: raw ones are not `$`-expanded when the configuration is
    read (their macros are filled in at use time, e.g. smtpd_reject_footer, mailbox_command);
    read-only ones cannot be set in main.cf (process_id, ...). Probe: set every parameter to
    `$probe` and see which ones `postconf -x` leaves alone or refuses."""
    main_cf = "".join(f"{name} = $pfcheckprobe\n" for name in sorted(defaults) if name != "config_directory")
    directory = private_dir(main_cf=main_cf + "pfcheckprobe = EXPANDED\n")
    try:
        result = run_postconf(postconf, directory, "-x")
    finally:
        shutil.rmtree(directory)
    read_only = set(re.findall(r"read-only parameter assignment: ([A-Za-z0-9_]+)=", result.stderr))
    raw = {name for name, value in parse_postconf_output(result.stdout).items()
           if value == "$pfcheckprobe" and name not in read_only}
    return tuple(sorted(raw)), tuple(sorted(read_only))


def postconf_version(postconf: str) -> str:
    directory = private_dir()
    try:
        result = run_postconf(postconf, directory, "-d", "-h", "mail_version")
    finally:
        shutil.rmtree(directory)
    return result.stdout.strip()


# ------------------------------------------------------------------------------------------
# Host-dependent values


def _addresses_in(value: str) -> Iterable[ipaddress._BaseNetwork]:
    for token in re.split(r"[\s,]+", value):
        token = token.strip("[]")
        token = re.sub(r"\]/", "/", token)
        try:
            yield ipaddress.ip_network(token, strict=False)
        except ValueError:
            continue


def detect_host_dependent(system: str, first: Mapping[str, str], same_release_build: Optional[str]) -> Dict[str, str]:
    """name -> reason for every value that is about this machine/build, not about Postfix."""
    reasons: Dict[str, str] = {}
    second = postconf_defaults(system)
    for name in first:
        if first[name] != second.get(name):
            reasons[name] = "changes between two runs"
    hostname, domain = first.get("myhostname", ""), first.get("mydomain", "")
    for name, value in first.items():
        tokens = set(re.split(r"[\s,]+", value))
        if hostname and hostname in tokens or domain and domain in tokens:
            reasons.setdefault(name, "contains this machine's host or domain name")
        if any(not network.is_loopback and not network.is_unspecified for network in _addresses_in(value)):
            reasons.setdefault(name, "contains a non-loopback address of this machine")
    if same_release_build:
        upstream = postconf_defaults(same_release_build)
        for name, value in first.items():
            if name in upstream and upstream[name] != value and name not in reasons:
                reasons[name] = "differs between the distro build and an upstream build of the same release"
    for name, reason in HOST_DEPENDENT_CURATED.items():
        if name in first:
            reasons[name] = reason
    return dict(sorted(reasons.items()))


# ------------------------------------------------------------------------------------------
# HISTORY checks


def history_value(parameter: str, series: str) -> Tuple[bool, Optional[str]]:
    """(found, value) of the HISTORY row covering `series`."""
    index = series_index(series)
    for change in HISTORY:
        if change.parameter == parameter and series_index(change.first) <= index <= series_index(change.last):
            return True, change.value
    return False, None


def check_history_complete() -> List[str]:
    problems = []
    for parameter in RULE_PARAMETERS:
        for series in SERIES:
            rows = [c for c in HISTORY if c.parameter == parameter
                    and series_index(c.first) <= series_index(series) <= series_index(c.last)]
            if len(rows) != 1:
                problems.append(f"HISTORY {parameter} covers series {series} {len(rows)} times")
    return problems


def check_history_against(series: str, defaults: Mapping[str, str]) -> List[str]:
    problems = []
    for parameter in RULE_PARAMETERS:
        _, expected = history_value(parameter, series)
        actual = defaults.get(parameter)
        if expected != actual:
            problems.append(f"HISTORY {parameter} @ {series}: table says {expected!r}, postconf {actual!r}")
    return problems


# ------------------------------------------------------------------------------------------
# Building upstream postconf binaries


def build_postconf(git_dir: Path, release: str, work: Path) -> Path:
    """Build postconf of `release` from a Postfix git mirror; return the binary's path.

    No map libraries (only postconf's output matters), ICU on (it changes smtputf8_enable),
    TLS on where the release compiles against OpenSSL 3 (3.2+; without TLS only
    tls_eecdh_auto_curves differs, which is host-dependent anyway). Old makedefs reject the
    running kernel's version, and pre-3.3 code needs -fcommon and HAS_CLOSEFROM with glibc
    2.34+; a fake `uname -r` and `icu-config` in a private PATH take care of the rest.
    """
    tag = f"v{release}"
    target = work / tag
    binary = target / "postfix" / "bin" / "postconf"
    if binary.exists():
        return binary
    fakebin = work / "fakebin"
    fakebin.mkdir(parents=True, exist_ok=True)
    old = tuple(int(x) for x in release.split(".")[:2]) < (3, 4)
    (fakebin / "uname").write_text(
        "#!/bin/sh\ncase \"$1\" in -r) echo %s;; *) exec /usr/bin/uname \"$@\";; esac\n"
        % ("2.6.32" if old else "5.10.0"))
    (fakebin / "icu-config").write_text(
        "#!/bin/sh\ncase \"$1\" in --cppflags) pkg-config --cflags icu-uc icu-i18n;; "
        "--ldflags) pkg-config --libs icu-uc icu-i18n;; *) exit 1;; esac\n")
    for script in fakebin.iterdir():
        script.chmod(0o755)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(git_dir), "archive", tag, "postfix"],
                             capture_output=True, check=True).stdout
    archive_path = target / "src.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(target)
    archive_path.unlink()
    tls = tuple(int(x) for x in release.split(".")[:2]) >= (3, 0)
    ccargs = "-DNO_DB -DNO_NIS -DNO_PCRE -DNO_LMDB -DNO_SQLITE -DNO_LDAP -DNO_MYSQL -DNO_PGSQL -DNO_CDB"
    if tls:
        ccargs += " -DUSE_TLS -I/usr/include/openssl"
    if old:
        ccargs += " -DHAS_CLOSEFROM -fcommon"
    env = dict(os.environ, PATH=f"{fakebin}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    source = target / "postfix"
    log = (target / "build.log").open("w")
    subprocess.run(["make", "makefiles", f"CCARGS={ccargs}", f"AUXLIBS={'-lssl -lcrypto' if tls else ''}"],
                   cwd=source, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    subprocess.run(["make", "-k", "-j2"], cwd=source, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if not binary.exists():
        raise SystemExit(f"build of {release} produced no postconf; see {target / 'build.log'}")
    return binary


def find_builds(directory: Path) -> Dict[str, str]:
    """{series: postconf path} for `DIR/vX.Y.Z/postfix/bin/postconf` of SERIES_RELEASES."""
    found = {}
    for series, release in SERIES_RELEASES.items():
        binary = directory / f"v{release}" / "postfix" / "bin" / "postconf"
        if binary.exists():
            found[series] = str(binary)
    return found


# ------------------------------------------------------------------------------------------
# Output


def _literal(value: object, indent: int = 0) -> str:
    """Deterministic Python literal (dicts one entry per line, strings JSON-quoted)."""
    pad = " " * indent
    if value is None:
        return "None"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, tuple):
        if not value:
            return "()"
        if any(isinstance(item, tuple) for item in value):
            lines = [f"{pad}    {_literal(item, indent + 4)}," for item in value]
            return "(\n" + "\n".join(lines) + f"\n{pad})"
        inner = ", ".join(_literal(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = [f"{pad}    {_literal(key)}: {_literal(item, indent + 4)}," for key, item in value.items()]
        return "{\n" + "\n".join(lines) + f"\n{pad}}}"
    raise TypeError(type(value))


def _text_block(lines: Iterable[str]) -> str:
    """A raw triple-quoted literal holding one `name = value` line per entry.

    Text is compiled much faster than an 800-entry dict literal, and this module is imported
    on the pre-commit hook's path (often without a bytecode cache).
    """
    text = "".join(line + "\n" for line in lines)
    if "'''" in text or "\r" in text or text.endswith("\\\n") or "\\\n" in text:
        return json.dumps(text)
    return "r'''\n" + text + "'''"  # the parser skips the leading empty line


def settings_lines(values: Mapping[str, Optional[str]]) -> List[str]:
    """`name = value` lines; `!name` for a parameter that does not exist."""
    return [f"!{name}" if value is None else f"{name} = {value}" if value else f"{name} ="
            for name, value in values.items()]


def group_by_series(per_series: Mapping[str, object]) -> Dict[str, object]:
    """Merge series with identical data under one key "3.1 3.2 ..." (the tables barely change)."""
    groups: Dict[str, Tuple[List[str], object]] = {}
    for series in SERIES:
        if series not in per_series:
            continue
        key = json.dumps(per_series[series], sort_keys=True)
        groups.setdefault(key, ([], per_series[series]))[0].append(series)
    return {" ".join(members): data for members, data in groups.values()}


def render_module(data: Mapping[str, object], header: str) -> str:
    out = [header]
    for name, value in data.items():
        if isinstance(value, TextBlock):
            out.append(f"{name} = {_text_block(value.lines)}\n")
        elif isinstance(value, dict) and value and all(isinstance(v, TextBlock) for v in value.values()):
            entries = "".join(f"    {json.dumps(key)}: {_text_block(block.lines)},\n" for key, block in value.items())
            out.append(f"{name} = {{\n{entries}}}\n")
        else:
            out.append(f"{name} = {_literal(value)}\n")
    return "\n".join(out)


@dataclass(frozen=True)
class TextBlock:
    lines: Tuple[str, ...]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postconf", default=shutil.which("postconf") or "/usr/sbin/postconf",
                        help="the installed 3.7 postconf (default: from PATH)")
    parser.add_argument("--builds", type=Path, help="directory with vX.Y.Z/postfix/bin/postconf per series")
    parser.add_argument("--build-from-git", type=Path, metavar="GIT_DIR",
                        help="build the missing series' postconf from this Postfix git mirror into --builds")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    problems = check_history_complete()
    version = postconf_version(args.postconf)
    if not version.startswith(BASE_SERIES + "."):
        raise SystemExit(f"{args.postconf} is Postfix {version}; the base table must come from {BASE_SERIES}.x")
    base_release = version
    builds: Dict[str, str] = {}
    if args.build_from_git:
        if not args.builds:
            raise SystemExit("--build-from-git needs --builds DIR (the work directory)")
        for series, release in SERIES_RELEASES.items():
            builds[series] = str(build_postconf(args.build_from_git, release, args.builds))
    elif args.builds:
        builds = find_builds(args.builds)

    raw_base = postconf_defaults(args.postconf)
    same_release_build = builds.get(BASE_SERIES)
    if same_release_build and postconf_version(same_release_build) != base_release:
        same_release_build = None
    host_dependent = detect_host_dependent(args.postconf, raw_base, same_release_build)
    base = {name: (f"<{name}>" if name in host_dependent else value) for name, value in sorted(raw_base.items())}
    problems += check_history_against(BASE_SERIES, raw_base)

    series_changes: Dict[str, Dict[str, Optional[str]]] = {}
    service_suffixes: Dict[str, Dict[str, Tuple[str, str]]] = {BASE_SERIES: probe_service_suffixes(args.postconf)}
    legacy: Dict[str, Dict[str, Tuple[str, ...]]] = {BASE_SERIES: probe_legacy_names(args.postconf, raw_base)}
    special: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
        BASE_SERIES: probe_raw_and_read_only(args.postconf, raw_base)}
    releases: Dict[str, str] = {BASE_SERIES: base_release}
    complete = True
    for series in SERIES:
        if series == BASE_SERIES:
            continue
        changes: Dict[str, Optional[str]] = {}
        binary = builds.get(series)
        if binary is not None:
            release = postconf_version(binary)
            if release != SERIES_RELEASES[series]:
                raise SystemExit(f"{binary} is {release}, expected {SERIES_RELEASES[series]}")
            releases[series] = release
            values = postconf_defaults(binary)
            problems += check_history_against(series, values)
            for name in sorted(set(values) | set(raw_base)):
                if name not in values:
                    changes[name] = None
                elif name in host_dependent:
                    if name not in raw_base:
                        changes[name] = f"<{name}>"
                elif values[name] != raw_base.get(name):
                    changes[name] = values[name]
            service_suffixes[series] = probe_service_suffixes(binary)
            legacy[series] = probe_legacy_names(binary, values)
            special[series] = probe_raw_and_read_only(binary, values)
        else:
            complete = False
            releases[series] = SERIES_RELEASES[series] + " (HISTORY only)"
            for parameter in RULE_PARAMETERS:
                _, value = history_value(parameter, series)
                if value != raw_base.get(parameter):
                    changes[parameter] = value
        series_changes[series] = changes

    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1

    history_rows = tuple(
        (c.parameter, c.first, c.last, c.value, c.source, c.note) for c in HISTORY
    )
    header = (
        '"""Postfix built-in defaults per release series. GENERATED by scripts/gen_defaults.py: do not edit.\n\n'
        "BASE_DEFAULTS: `postconf -d` of the installed Postfix (host-dependent values as `<name>`).\n"
        "SERIES_CHANGES: per series, the parameters whose default differs from the base (None = the\n"
        "parameter does not exist in that series). HISTORY: the hand-maintained, sourced rows for the\n"
        "parameters pfcheck's rules rely on (parameter, first series, last series, value, source, note).\n"
        '"""\n'
    )
    data: Dict[str, object] = {
        "BASE_SERIES": BASE_SERIES,
        "BASE_RELEASE": base_release,
        "SERIES_RELEASES": releases,
        "SERIES_CHANGES_COMPLETE": complete,
        "HOST_DEPENDENT_REASONS": host_dependent,
        "BASE_DEFAULTS": TextBlock(tuple(settings_lines(base))),
        "SERIES_CHANGES": {series: TextBlock(tuple(settings_lines(changes)))
                           for series, changes in series_changes.items()},
        "SERVICE_SUFFIXES": group_by_series(service_suffixes),
        "LEGACY_NAMES": group_by_series(legacy),
        "RAW_PARAMETERS": group_by_series({series: names[0] for series, names in special.items()}),
        "READ_ONLY_PARAMETERS": group_by_series({series: names[1] for series, names in special.items()}),
        "HISTORY": history_rows,
    }
    text = render_module(data, header)
    args.output.write_text(text)
    print(f"wrote {args.output}: base {base_release}, {len(base)} parameters, "
          f"{len(host_dependent)} host-dependent, series with builds: {sorted(builds, key=series_index)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
