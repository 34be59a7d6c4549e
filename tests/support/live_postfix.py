"""A private, real Postfix for one test case, asked questions over SMTP on loopback.

    with LivePostfix(main_cf, master_cf, files={"/etc/postfix/client_access": "..."}) as pf:
        pf.ports                    # {"smtp/inet": 10025, "submission/inet": 10026, ...}
        pf.rcpt("smtp/inet", client="203.0.113.7", recipient="relaytest@example.org")
        pf.vrfy("smtp/inet", "root")
        pf.startup_fatal("smtp/inet")   # smtpd's fatal when it refuses to start, else None
        pf.log, pf.edits

Probes return a `Reply(code, text, outcome, stage, transcript)`; outcome is one of
accepted (2xx/3xx), rejected (5xx, and 4xx policy refusals such as 454 "Relay access
denied"), disabled (VRFY: 502 "VRFY command is disabled"), undetermined (4xx from a lookup,
DNS, milter, policy or TLS problem, 451/421, no greeting: "could not tell", never "closed")
and refused_startup (smtpd died at start-up, e.g. no compatibility_level and no
restrictions). Each probe uses a fresh connection and poses as `client` with XCLIENT (a
PROXY header on haproxy listeners), so one instance answers for many clients.

The config text is the user's config as a repo holds it. It is copied into a private temp
directory and only the edits needed to run privately are made; every edit is recorded in
`LivePostfix.edits`. Definitions the harness replaces are commented out in the copy, not
duplicated. `master -c DIR -d` runs as our child in its own session, by default inside
`unshare --net --pid` (only `lo` exists, DNS fails at once, nothing leaves the machine, and
every Postfix process dies with the namespace); PFCHECK_LIVE_ISOLATION=none|ns|auto chooses.
It is killed in `__exit__` in every case, and a watchdog kills it if the test process dies.

Nothing here touches /etc/postfix: the installed /etc/postfix/master.cf is read as a template
when a test gives no master.cf; /etc/aliases and /etc/mailname are read for private copies.

Known limits: the smtpd listeners move to 127.0.0.1:PORT (::1 under inet_protocols = ipv6),
so `$service_name` in -o values becomes that address; inet_interfaces is forced to
loopback-only, so a mynetworks computed by mynetworks_style is the loopback one; a config
that refuses 127.0.0.1 itself at connect time (smtpd_delay_reject = no) leaves XCLIENT no
chance (undetermined); TLS is plain STARTTLS/wrapper mode, without a client certificate unless
`tls_client_cert` names one.

See /work/shared/research/live-postfix-harness.md for the pitfalls the code below avoids
(referred to as "pitfall N").
"""
from __future__ import annotations

import ctypes
import functools
import grp
import os
import pwd
import re
import select
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Type, Union

import pytest

from .postfix_oracle import POSTCONF, parse_postconf_lines, postfix_required

# Reply outcomes.
ACCEPTED = "accepted"
REJECTED = "rejected"
DISABLED = "disabled"
UNDETERMINED = "undetermined"
REFUSED_STARTUP = "refused_startup"
OUTCOMES = (ACCEPTED, REJECTED, DISABLED, UNDETERMINED, REFUSED_STARTUP)

DEFAULT_OUTSIDE_CLIENT = "203.0.113.7"
HOST_CONFIG_DIRECTORY = "/etc/postfix"
HOST_MASTER_CF = "/etc/postfix/master.cf"
HOST_ALIASES = "/etc/aliases"
HOST_MAILNAME = "/etc/mailname"
# Where XCLIENT is honoured: the harness connects from loopback (::1 only when the config
# sets inet_protocols = ipv6).
XCLIENT_HOSTS = "127.0.0.0/8, [::1]/128"
SMTPD_COMMANDS = ("smtpd", "postscreen")
# Table types whose source file needs `postmap` (those this Postfix build supports are in
# `postconf -m`; lmdb/cdb need extra Debian packages and then simply fail as undetermined).
INDEXED_TABLE_TYPES = ("hash", "btree", "lmdb", "cdb", "dbm", "sdbm")
QUEUE_SUBDIRECTORIES = (
    "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming",
    "private", "saved", "trace",
)
_SAFE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
_NAME_CHARS = rb"A-Za-z0-9_.\-"
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1

# 4xx replies that mean "could not tell here" (no DNS, missing table, stubbed service)
# rather than a policy decision. Everything else in 4xx (notably 454 "Relay access denied"
# from defer_unauth_destination) is a refusal.
_UNDETERMINED_MARKERS = (
    "lookup failure",
    "try again",
    "host or domain name not found",
    "domain not found",
    "cannot find your",
    "unverified",
    "verification in progress",
    "configuration error",
    "configuration problem",
    "insufficient system storage",
    "service not available",
    "temporary failure",
    "temporarily unavailable",
    "no greeting",
    "connection closed",
    "timed out",
)

FileContent = Union[bytes, str]


class LivePostfixError(RuntimeError):
    """The private instance could not be set up or started (not a verdict about the config)."""


@dataclass(frozen=True)
class Reply:
    """The answer that decided a probe.

    `stage` names the command whose reply decided ("connect", "xclient", "ehlo",
    "starttls", "mail", "rcpt", "vrfy"); `transcript` is the whole dialogue, for assertion
    messages.
    """

    code: Optional[int]
    text: str
    outcome: str
    stage: str = ""
    transcript: Tuple[str, ...] = ()

    def __str__(self) -> str:
        shown = f"{self.code} {self.text}" if self.code is not None else self.text
        return f"{self.outcome} at {self.stage}: {shown}"


@dataclass(frozen=True)
class EhloProbe:
    """What one session on a listener showed about TLS and AUTH (`LivePostfix.ehlo()`).

    `plain_keywords`: the EHLO keywords (upper-cased, with their arguments: "AUTH PLAIN
    LOGIN") before TLS, None in wrapper mode or without a greeting. `mail_code`: the reply
    to MAIL FROM in plaintext (530 when TLS is required), None when not sent.
    `starttls_code`: the reply to STARTTLS (220, 454, 502), None when not sent. `tls`:
    whether a TLS session was established (STARTTLS or wrapper mode); `tls_keywords`: the
    EHLO keywords inside it. `failure`: why the session ended early ("" when it did not).
    """

    plain_keywords: Optional[Tuple[str, ...]]
    mail_code: Optional[int]
    starttls_code: Optional[int]
    tls: bool
    tls_keywords: Optional[Tuple[str, ...]]
    failure: str
    transcript: Tuple[str, ...] = ()

    @staticmethod
    def _has(keywords: Optional[Tuple[str, ...]], name: str) -> bool:
        return keywords is not None and any(line.split()[0] == name for line in keywords if line.split())

    @property
    def starttls_advertised(self) -> bool:
        return self._has(self.plain_keywords, "STARTTLS")

    @property
    def auth_before_tls(self) -> bool:
        return self._has(self.plain_keywords, "AUTH")

    @property
    def auth_after_tls(self) -> bool:
        return self._has(self.tls_keywords, "AUTH")


@dataclass(frozen=True)
class Listener:
    """One inet service of master.cf as rebound for the private instance."""

    key: str  # "service/inet" as `postconf -M` names it, with the service name as written
    service: str  # the service name as written in master.cf
    port: int  # the private loopback port
    command: str  # basename of the command (smtpd, postscreen, qmqpd, ...)
    host: str = "127.0.0.1"  # the loopback address: "::1" under inet_protocols = ipv6
    # From -o or main.cf, literal values only ($name expansions are not followed).
    wrappermode: bool = False  # smtpd_tls_wrappermode = yes: TLS before the greeting
    proxy_protocol: str = ""  # "haproxy": a PROXY header before the greeting


# --------------------------------------------------------------------------------------
# Availability


def _empty_config(directory: Path) -> None:
    """An empty main.cf/master.cf, back-dated so postconf does not wait for it (pitfall 4)."""
    past = time.time() - 120
    for name in ("main.cf", "master.cf"):
        (directory / name).write_text("")
        os.utime(directory / name, (past, past))


@functools.lru_cache(maxsize=1)
def installed_defaults() -> Dict[str, str]:
    """Built-in values of the installed Postfix that the harness needs (read-only query)."""
    if POSTCONF is None:
        return {}
    names = ["daemon_directory", "command_directory", "shlib_directory", "meta_directory",
             "mail_owner", "setgid_group", "default_privs"]
    with tempfile.TemporaryDirectory(prefix="pfcheck-postconf-") as empty:
        _empty_config(Path(empty))
        proc = subprocess.run([POSTCONF, "-c", empty, "-d", *names], capture_output=True,
                              text=True, env=_SAFE_ENV, timeout=60)
    values: Dict[str, str] = {}
    for line in proc.stdout.splitlines():
        name, sep, value = line.partition(" = ")
        if sep:
            values[name.strip()] = value.strip()
    return values


@functools.lru_cache(maxsize=1)
def supported_map_types() -> Tuple[str, ...]:
    """`postconf -m`: the lookup table types this Postfix build (plus dynamicmaps) supports."""
    if POSTCONF is None:
        return ()
    with tempfile.TemporaryDirectory(prefix="pfcheck-postconf-") as empty:
        _empty_config(Path(empty))
        proc = subprocess.run([POSTCONF, "-c", empty, "-m"], capture_output=True, text=True,
                              env=_SAFE_ENV, timeout=60)
    return tuple(proc.stdout.split())


def _tool(name: str) -> Optional[str]:
    found = shutil.which(name, path=_SAFE_ENV["PATH"])
    return found


def master_binary() -> Optional[str]:
    daemon_directory = installed_defaults().get("daemon_directory")
    if not daemon_directory:
        return None
    path = os.path.join(daemon_directory, "master")
    return path if os.access(path, os.X_OK) else None


def live_postfix_available() -> Optional[str]:
    """None when a private Postfix can run here, else the reason why not."""
    if POSTCONF is None:
        return "real Postfix is not installed (postconf not found)"
    if os.geteuid() != 0:
        return "a private Postfix master needs root (master(8) refuses to run otherwise)"
    if master_binary() is None:
        return "the Postfix master binary was not found under `postconf -d daemon_directory`"
    for tool in ("postmap", "postalias"):
        if _tool(tool) is None:
            return f"{tool} not found"
    try:
        pwd.getpwnam(installed_defaults().get("mail_owner") or "postfix")
    except KeyError:
        return "the Postfix mail_owner account does not exist on this machine"
    return None


def need_live_postfix() -> None:
    """Skip the calling test when no private Postfix can run; fail under PFCHECK_REQUIRE_POSTFIX=1."""
    reason = live_postfix_available()
    if reason is None:
        return
    if postfix_required():
        pytest.fail(reason + " and PFCHECK_REQUIRE_POSTFIX=1")
    pytest.skip(reason)


@functools.lru_cache(maxsize=1)
def namespace_isolation_available() -> bool:
    """True when `unshare --net --pid` works and the calling thread can join a net ns."""
    if os.geteuid() != 0 or _tool("unshare") is None or _tool("ip") is None:
        return False
    if _setns_function() is None:
        return False
    try:
        proc = subprocess.run(
            [_tool("unshare") or "unshare", "--net", "--pid", "--fork", "--kill-child",
             _tool("ip") or "ip", "link", "set", "lo", "up"],
            capture_output=True, env=_SAFE_ENV, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def _setns_function():  # type: ignore[no-untyped-def]
    if hasattr(os, "setns"):  # Python >= 3.12
        return os.setns
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc_setns = libc.setns
    except (OSError, AttributeError):
        return None

    def setns(fd: int, nstype: int) -> None:
        if libc_setns(fd, nstype) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    return setns


def _isolation_wanted() -> bool:
    """PFCHECK_LIVE_ISOLATION=ns|none|auto (default auto: ns when it works)."""
    choice = os.environ.get("PFCHECK_LIVE_ISOLATION", "auto").strip().lower()
    if choice in ("none", "off", "0", "host"):
        return False
    available = namespace_isolation_available()
    if choice in ("ns", "namespace", "1") and not available:
        raise LivePostfixError("PFCHECK_LIVE_ISOLATION=ns but unshare/setns do not work here")
    return available


@pytest.fixture
def live_postfix_factory() -> Iterator[type]:
    """Fixture: skips (or fails under PFCHECK_REQUIRE_POSTFIX=1) without live Postfix, then yields
    the LivePostfix class to use as a context manager."""
    need_live_postfix()
    yield LivePostfix


@pytest.fixture
def live_postfix() -> Iterator[Callable[..., "LivePostfix"]]:
    """Fixture: a function with LivePostfix's arguments that returns a started instance;
    every instance is stopped at teardown. Skips like `live_postfix_factory`."""
    need_live_postfix()
    started: List[LivePostfix] = []

    def start(main_cf: str, master_cf: Optional[str] = None,
              files: Optional[Mapping[str, FileContent]] = None, **options: object) -> LivePostfix:
        instance = LivePostfix(main_cf, master_cf, files, **options)  # type: ignore[arg-type]
        instance.__enter__()
        started.append(instance)
        return instance

    try:
        yield start
    finally:
        for instance in started:
            instance.stop()


# --------------------------------------------------------------------------------------
# Config text helpers


def _main_cf_names(text: str) -> Dict[str, str]:
    """Names defined in main.cf text -> last raw value (logical lines, as Postfix reads them)."""
    values: Dict[str, str] = {}
    current: Optional[str] = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[:1].isspace():
            if current is not None:
                values[current] += " " + stripped
            continue
        name, sep, value = line.partition("=")
        if not sep:
            current = None
            continue
        current = name.strip()
        values[current] = value.strip()
    return values


@dataclass
class _MasterEntry:
    """One logical master.cf line: physical line numbers and the field spans in them."""

    line_numbers: List[int]
    # (line number, start, end, text) of each whitespace-separated token
    tokens: List[Tuple[int, int, int, str]]

    def field(self, index: int) -> Optional[str]:
        return self.tokens[index][3] if index < len(self.tokens) else None


def _master_entries(lines: List[str]) -> List[_MasterEntry]:
    """Split master.cf into logical entries the way Postfix does: a line that starts with
    whitespace continues the entry; comment and blank lines are skipped without ending it."""
    entries: List[_MasterEntry] = []
    current: Optional[_MasterEntry] = None
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[:1].isspace():
            current = _MasterEntry([], [])
            entries.append(current)
        elif current is None:
            continue
        current.line_numbers.append(number)
        for match in re.finditer(r"\S+", line):
            current.tokens.append((number, match.start(), match.end(), match.group()))
    return entries


def _unix_service_names(master_cf_text: Optional[str]) -> List[str]:
    """The names of master.cf's unix services (the transports qmgr could deliver through);
    the installed master.cf's when the test gives none."""
    text = master_cf_text if master_cf_text is not None else Path(HOST_MASTER_CF).read_text(errors="surrogateescape")
    names: List[str] = []
    for entry in _master_entries(text.split("\n")):
        name, service_type = entry.field(0), entry.field(1)
        if name and service_type == "unix" and name not in names:
            names.append(name)
    return names or ["local", "smtp"]


def _service_overrides(tokens: List[Tuple[int, int, int, str]]) -> Dict[str, str]:
    """`-o name=value` and `-o { name = value }` (Postfix >= 3.0) options of a master.cf entry."""
    words = [token[3] for token in tokens]
    overrides: Dict[str, str] = {}
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word.startswith("-o") and word != "-o":
            setting = word[2:]
        elif word == "-o" and index < len(words):
            setting = words[index]
            index += 1
            if setting.startswith("{"):
                parts = [setting]
                while not parts[-1].endswith("}") and index < len(words):
                    parts.append(words[index])
                    index += 1
                setting = " ".join(parts)[1:-1]
        else:
            continue
        name, sep, value = setting.partition("=")
        if sep:
            overrides[name.strip()] = value.strip()
    return overrides


COMMENTED_OUT = b"#pfcheck-live# "


def _comment_out_definitions(content: bytes, names: "set[str]") -> Tuple[bytes, Dict[str, List[int]]]:
    """Turn every definition of `names` (with its continuation lines) into comment lines.
    Returns the new text and, per name, the 1-based line numbers of the definitions."""
    lines = content.split(b"\n")
    replaced: Dict[str, List[int]] = {}
    inside = False
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(b"#"):
            continue  # does not end a logical line
        if line[:1].isspace():
            if inside:
                lines[number] = COMMENTED_OUT + line
            continue
        name = line.partition(b"=")[0].strip().decode("utf-8", "replace")
        inside = b"=" in line and name in names
        if inside:
            replaced.setdefault(name, []).append(number + 1)
            lines[number] = COMMENTED_OUT + line
    return b"\n".join(lines), replaced


def _replace_token(lines: List[str], token: Tuple[int, int, int, str], new_text: str) -> None:
    number, start, end, _ = token
    lines[number] = lines[number][:start] + new_text + lines[number][end:]


def _rewrite_path_bytes(content: bytes, old: str, new: str) -> Tuple[bytes, int]:
    """Replace the path `old` where it is a whole path or a prefix of one (`old/...`), not
    where it ends another path (`/srv/etc/postfix/...` stays)."""
    pattern = re.compile(rb"(?<![" + _NAME_CHARS + rb"/])" + re.escape(old.encode())
                         + rb"(?![" + _NAME_CHARS + rb"])")
    replacement = new.encode()
    return pattern.subn(lambda _match: replacement, content)


def _as_bytes(content: FileContent) -> bytes:
    return content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content


def classify(code: Optional[int], text: str) -> str:
    """Outcome of an SMTP reply to MAIL/RCPT (VRFY adds `disabled`, see `classify_vrfy`)."""
    if code is None:
        return UNDETERMINED
    if 200 <= code < 400:
        return ACCEPTED
    lowered = text.lower()
    if code == 530 and "starttls" in lowered:
        return UNDETERMINED  # TLS required but the probe could not do it: no verdict
    if code >= 500:
        return REJECTED
    if any(marker in lowered for marker in _UNDETERMINED_MARKERS):
        return UNDETERMINED
    # 421 is smtpd going away (too many errors, shutdown) and 451 is "local error in
    # processing" (a table, milter or policy service that failed): nothing learned.
    if code in (421, 451):
        return UNDETERMINED
    return REJECTED


def classify_vrfy(code: Optional[int], text: str) -> str:
    if code == 502 and "disabled" in text.lower():
        return DISABLED
    return classify(code, text)


# --------------------------------------------------------------------------------------
# SMTP on a raw socket (smtplib rewrites addresses and cannot poll a log while waiting:
# pitfalls 12 and 13)


class _SmtpSession:
    def __init__(self, sock: socket.socket, transcript: List[str]) -> None:
        self.sock: socket.socket = sock
        self.buffer = b""
        self.transcript = transcript
        self.tls = False
        #: (certificate file, key file) the client presents in the TLS handshake, if any.
        self.client_cert: Optional[Tuple[str, str]] = None

    def _receive(self, timeout: float, poll=None) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while True:
            # TLS may hold a decrypted record that select() cannot see.
            if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out waiting for a reply")
            readable, _, _ = select.select([self.sock], [], [], min(remaining, 0.02))
            if readable:
                break
            if poll is not None:
                aborted = poll()
                if aborted is not None:
                    raise _StartupFatal(aborted)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buffer += chunk

    def read_reply(self, timeout: float, poll=None) -> Tuple[Optional[int], str]:  # type: ignore[no-untyped-def]
        """Read one (multi-line) reply; `poll()` is called between waits and may return a
        string to abort with (used to notice an smtpd that died at start-up)."""
        lines: List[str] = []
        while True:
            while b"\n" not in self.buffer:
                self._receive(timeout, poll)
            raw, _, self.buffer = self.buffer.partition(b"\n")
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            self.transcript.append("S: " + line)
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                break
        try:
            code = int(lines[-1][:3])
        except ValueError:
            return None, "\n".join(lines)
        return code, "\n".join(line[4:] for line in lines)

    def send(self, data: bytes, shown: str) -> None:
        self.transcript.append("C: " + shown)
        self.sock.sendall(data)

    def command(self, text: str, timeout: float) -> Tuple[Optional[int], str]:
        self.send(text.encode("utf-8", "surrogateescape") + b"\r\n", text)
        return self.read_reply(timeout)

    def start_tls(self, timeout: float, poll=None) -> None:  # type: ignore[no-untyped-def]
        """TLS handshake (after STARTTLS, or at once in wrapper mode). Any certificate is
        fine: the probe plays an unauthenticated outside client."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if self.client_cert is not None:
            context.load_cert_chain(*self.client_cert)
        self.sock.setblocking(False)
        wrapped = context.wrap_socket(self.sock, server_hostname="localhost",
                                      do_handshake_on_connect=False)
        deadline = time.monotonic() + timeout
        while True:
            try:
                wrapped.do_handshake()
                break
            except ssl.SSLWantReadError:
                wait_read, wait_write = [wrapped], []
            except ssl.SSLWantWriteError:
                wait_read, wait_write = [], [wrapped]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out in the TLS handshake")
            ready = select.select(wait_read, wait_write, [], min(remaining, 0.02))
            if not any(ready) and poll is not None:
                aborted = poll()
                if aborted is not None:
                    raise _StartupFatal(aborted)
        wrapped.setblocking(True)
        self.sock = wrapped
        self.tls = True
        self.transcript.append(f"TLS: {wrapped.version()} {wrapped.cipher()[0] if wrapped.cipher() else ''}")

    def quit(self) -> None:
        try:
            self.sock.sendall(b"QUIT\r\n")
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _StartupFatal(Exception):
    pass


# --------------------------------------------------------------------------------------
# The instance


class LivePostfix:
    """A private real Postfix (see module docstring).

    Attributes after `__enter__`:
      directory: the private temp dir; config_directory: its main.cf/master.cf directory.
      ports: {"smtp/inet": port, ...} for every inet service whose command is smtpd or
        postscreen; listeners: the same as `Listener`s; other_ports for other inet services.
      edits: every change made to the user's config, in words.
      isolated: True when running inside a private network/pid namespace.
      timings: seconds spent per phase ("setup", "start").
    """

    def __init__(
        self,
        main_cf: str,
        master_cf: Optional[str] = None,
        files: Optional[Mapping[str, FileContent]] = None,
        *,
        isolate: Optional[bool] = None,
        start_timeout: float = 10.0,
        greeting_timeout: float = 10.0,
        command_timeout: float = 30.0,
        keep_addresses: bool = False,
        namespace_commands: Sequence[Sequence[str]] = (),
        tls_client_cert: Optional[Tuple[str, str]] = None,
        keep_xclient_hosts: bool = False,
    ) -> None:
        """keep_addresses: leave inet_interfaces and the inet service names as the config
        writes them (master binds what the config says; needs the private network namespace,
        and no probes: `listening_sockets()` tells what master bound). namespace_commands:
        argv lists run inside that namespace before master starts (e.g. `ip addr add`).
        tls_client_cert: (certificate file, key file) every probe presents as its TLS client
        certificate (default: none); may also be set on the instance between probes.
        keep_xclient_hosts: leave the config's smtpd_authorized_xclient_hosts (main.cf and
        `-o`) as written, for tests of XCLIENT itself; the probes that pose as a client then
        work only where the config authorizes the connecting address (use `converse(client=
        None, source=...)` for raw dialogues)."""
        self.tls_client_cert = tls_client_cert
        self.keep_addresses = keep_addresses
        self.keep_xclient_hosts = keep_xclient_hosts
        self.namespace_commands = [list(command) for command in namespace_commands]
        self.main_cf_text = main_cf
        self.master_cf_text = master_cf
        self.files: Dict[str, FileContent] = dict(files or {})
        self._isolate_request = isolate
        self.start_timeout = start_timeout
        self.greeting_timeout = greeting_timeout
        self.command_timeout = command_timeout

        self.directory: Optional[Path] = None
        self.config_directory: Optional[Path] = None
        self.queue_directory: Optional[Path] = None
        self.maillog_path: Optional[Path] = None
        self.edits: List[str] = []
        self.listeners: Dict[str, Listener] = {}
        self.ports: Dict[str, int] = {}
        self.other_ports: Dict[str, int] = {}
        self.isolated = False
        self.timings: Dict[str, float] = {}
        self._process: Optional[subprocess.Popen] = None  # type: ignore[type-arg]
        self._netns_fd: Optional[int] = None
        self._startup_fatals: Dict[str, str] = {}
        self._used_ports: set = set()
        self._aliases_file: Optional[Path] = None
        self._loopback = "127.0.0.1"
        self._watchdog: Optional[subprocess.Popen] = None  # type: ignore[type-arg]
        self._early_socket: Optional[socket.socket] = None
        self._early_log: List[str] = []
        self._final_log: Optional[str] = None

    # ---- context manager -------------------------------------------------------------

    def __enter__(self) -> "LivePostfix":
        reason = live_postfix_available()
        if reason is not None:
            raise LivePostfixError(reason)
        try:
            self.isolated = _isolation_wanted() if self._isolate_request is None else self._isolate_request
            if (self.keep_addresses or self.namespace_commands) and not self.isolated:
                raise LivePostfixError("keep_addresses/namespace_commands need the private network "
                                       "namespace (unshare --net), which is not in use")
            began = time.monotonic()
            self._prepare()
            prepared = time.monotonic()
            self.timings["setup"] = prepared - began
            self._start()
            self.timings["start"] = time.monotonic() - prepared
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.stop()

    # ---- set-up ----------------------------------------------------------------------

    def _prepare(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="pfcheck-live-"))
        # Postfix-owned daemons must reach the queue below it (pitfall 9).
        self.directory.chmod(0o755)
        conf = self.directory / "conf"
        queue = self.directory / "queue"
        data = self.directory / "data"
        conf.mkdir(mode=0o755)
        self.config_directory = conf
        self.queue_directory = queue
        self.maillog_path = self.directory / "maillog"

        user_names = _main_cf_names(self.main_cf_text)
        defaults = installed_defaults()
        mail_owner = user_names.get("mail_owner", defaults.get("mail_owner", "postfix"))
        appended: List[Tuple[str, str, str]] = []  # (name, value, why)

        if not mail_owner or "$" in mail_owner or not _user_exists(mail_owner):
            mail_owner = defaults.get("mail_owner", "postfix")
            appended.append(("mail_owner", mail_owner,
                             f"the configured mail_owner {user_names.get('mail_owner')!r} "
                             "does not exist on this machine"))
        setgid_group = user_names.get("setgid_group", defaults.get("setgid_group", "postdrop"))
        if not setgid_group or "$" in setgid_group or not _group_exists(setgid_group):
            setgid_group = defaults.get("setgid_group", "postdrop")
            appended.append(("setgid_group", setgid_group,
                             f"the configured setgid_group {user_names.get('setgid_group')!r} "
                             "does not exist on this machine"))
        protocols = set(re.split(r"[\s,]+", user_names.get("inet_protocols", "all").strip().lower()))
        self._loopback = "::1" if protocols == {"ipv6"} else "127.0.0.1"
        owner = pwd.getpwnam(mail_owner)
        postdrop_gid = grp.getgrnam(setgid_group).gr_gid

        self._make_queue(queue, data, owner.pw_uid, owner.pw_gid, postdrop_gid)

        # Program and library locations: the installed ones, whatever a foreign
        # platform's config says (FreeBSD /usr/local/libexec/postfix, ...).
        for name in ("daemon_directory", "command_directory", "shlib_directory", "meta_directory"):
            if name in user_names and defaults.get(name) and user_names[name] != defaults[name]:
                appended.append((name, defaults[name],
                                 "use the installed Postfix programs, not the configured ones"))

        appended += [
            ("queue_directory", str(queue), "private queue"),
            ("data_directory", str(data), "private data directory"),
            ("maillog_file", str(self.maillog_path), "private log file read by the harness"),
            ("maillog_file_prefixes", str(self.directory),
             "maillog_file must match a prefix (pitfall 9)"),
        ]
        if not self.keep_xclient_hosts:
            appended.append(("smtpd_authorized_xclient_hosts", XCLIENT_HOSTS,
                             "XCLIENT from the harness on loopback lets probes pose as any client"))
        # Nothing an instance accepts leaves it: no local delivery into the host's mailboxes
        # (nor commands a config's mailbox_command names), no relaying to the network, no
        # postmaster notices (the probes provoke thousands). smtpd reads none of these.
        spool = self.directory / "spool"
        spool.mkdir(mode=0o1777)
        spool.chmod(0o1777)
        appended += [
            ("defer_transports", " ".join(_unix_service_names(self.master_cf_text)),
             "no delivery: every unix service of master.cf is deferred"),
            ("mail_spool_directory", str(spool), "private mail spool, never the host's /var/mail"),
            ("notify_classes", "", "no postmaster notices to the host's root mailbox"),
        ]
        if not self.keep_addresses:
            appended.append(("inet_interfaces", "loopback-only",
                             "listen on loopback only (mynetworks_style now computes from loopback)"))

        self._supply_mailname(user_names)
        files = self._place_files(conf)
        aliases_appended = self._private_aliases(conf, user_names, files)
        appended += aliases_appended

        main_text = self.main_cf_text
        if main_text and not main_text.endswith("\n"):
            main_text += "\n"  # pitfall 10
        main_bytes = _as_bytes(main_text)
        master_bytes, master_edits = self._prepare_master_cf(conf, user_names)

        rewrites = self._path_rewrites(conf, files)
        main_bytes = self._apply_rewrites("main.cf", main_bytes, rewrites)
        master_bytes = self._apply_rewrites("master.cf", master_bytes, rewrites)
        for path in files:
            path.write_bytes(self._apply_rewrites(path.name, path.read_bytes(), rewrites))

        # Comment out the config's own definitions of what we set: duplicates would make
        # every process warn "overriding earlier entry", and postlogd, which sends its own
        # start-up warnings to its own socket, deadlocks once that queue is full.
        main_bytes, replaced = _comment_out_definitions(main_bytes, {name for name, _, _ in appended})
        block = ["", "# ---- pfcheck live-Postfix harness: private-instance edits ----"]
        for name, value, why in appended:
            block.append(f"{name} = {value}")
            where = replaced.get(name)
            was = f"; replaces the config's line {', '.join(map(str, where))}" if where else ""
            self.edits.append(f"main.cf: {name} = {value} ({why}{was})")
        main_bytes += ("\n".join(block) + "\n").encode()
        (conf / "main.cf").write_bytes(main_bytes)
        (conf / "master.cf").write_bytes(master_bytes)
        self.edits += master_edits

        # postmap/postalias read main.cf too: cool it down first, and again after so the
        # new index files end up newer than their sources.
        self._cool_down(conf)
        if self._postmap_tables(conf, main_bytes + b"\n" + master_bytes, files):
            self._cool_down(conf)

    def _make_queue(self, queue: Path, data: Path, uid: int, gid: int, postdrop_gid: int) -> None:
        """Create what `postfix check` (post-install create-missing) would create."""
        queue.mkdir(mode=0o755)
        for name in QUEUE_SUBDIRECTORIES:
            path = queue / name
            path.mkdir(mode=0o700)
            os.chown(path, uid, gid)
        public = queue / "public"
        public.mkdir()
        os.chown(public, uid, postdrop_gid)
        public.chmod(0o710)
        maildrop = queue / "maildrop"
        maildrop.mkdir()
        os.chown(maildrop, uid, postdrop_gid)
        maildrop.chmod(0o1730)
        (queue / "pid").mkdir(mode=0o755)
        data.mkdir(mode=0o700)
        os.chown(data, uid, gid)

    def _supply_mailname(self, user_names: Dict[str, str]) -> None:
        """Debian configs say `myorigin = /etc/mailname`, a host file that master reads at
        start (fatal when missing). Give the instance one unless the test brought its own."""
        if HOST_MAILNAME in self.files:
            return
        active = "\n".join(line for line in self.main_cf_text.splitlines() if not line.lstrip().startswith("#"))
        if not re.search(re.escape(HOST_MAILNAME) + r"(?![A-Za-z0-9_.\-])", active):
            return
        try:
            content = Path(HOST_MAILNAME).read_bytes()
            origin = "copied from this machine"
        except OSError:
            hostname = user_names.get("myhostname", "")
            content = ((hostname if hostname and "$" not in hostname else "localhost.localdomain")
                       + "\n").encode()
            origin = "this machine has none: the config's myhostname"
        self.files[HOST_MAILNAME] = content
        self.edits.append(f"supplied {HOST_MAILNAME} as a private file ({origin}): "
                          f"{content.decode(errors='replace').strip()!r}")

    def _place_files(self, conf: Path) -> List[Path]:
        """Write the test's table files: /etc/postfix/X and relative X go to the private
        config dir, other absolute paths below DIR/root."""
        placed: List[Path] = []
        assert self.directory is not None
        for name, content in self.files.items():
            if name in ("main.cf", "master.cf", f"{HOST_CONFIG_DIRECTORY}/main.cf",
                        f"{HOST_CONFIG_DIRECTORY}/master.cf"):
                raise LivePostfixError(f"pass {name} as main_cf/master_cf, not in files")
            if name.startswith(HOST_CONFIG_DIRECTORY + "/"):
                target = conf / name[len(HOST_CONFIG_DIRECTORY) + 1:]
            elif name.startswith("/"):
                target = self.directory / "root" / name.lstrip("/")
            else:
                target = conf / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_as_bytes(content))
            target.chmod(0o644)
            placed.append(target)
        return placed

    def _private_aliases(self, conf: Path, user_names: Dict[str, str], files: List[Path]) -> List[Tuple[str, str, str]]:
        """The default alias_maps names /etc/aliases, which has no .db here (pitfall 16):
        give the instance its own copy so local recipients resolve as on a real server."""
        appended: List[Tuple[str, str, str]] = []
        if HOST_ALIASES in self.files:
            return appended  # the test brought its own, rewritten like any absolute path
        main_mentions = re.search(re.escape(HOST_ALIASES) + r"(?![A-Za-z0-9_.\-])", self.main_cf_text)
        if "alias_maps" in user_names and not main_mentions:
            return appended
        assert self.directory is not None
        target = self.directory / "root" / HOST_ALIASES.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            content = Path(HOST_ALIASES).read_bytes()
        except OSError:
            content = b"postmaster: root\n"
        target.write_bytes(content)
        target.chmod(0o644)
        files.append(target)
        self._aliases_file = target
        if "alias_maps" not in user_names:
            appended.append(("alias_maps", f"hash:{target}, nis:mail.aliases",
                             "the default names /etc/aliases; use a private copy of it"))
        if "alias_database" not in user_names:
            appended.append(("alias_database", f"hash:{target}",
                             "the default names /etc/aliases; use a private copy of it"))
        return appended

    def _path_rewrites(self, conf: Path, files: List[Path]) -> List[Tuple[str, str]]:
        assert self.directory is not None
        rewrites = [(HOST_CONFIG_DIRECTORY, str(conf))]
        for name in self.files:
            if name.startswith("/") and not name.startswith(HOST_CONFIG_DIRECTORY + "/"):
                rewrites.append((name, str(self.directory / "root" / name.lstrip("/"))))
        if self._aliases_file is not None:
            rewrites.append((HOST_ALIASES, str(self._aliases_file)))
        return rewrites

    def _apply_rewrites(self, label: str, content: bytes, rewrites: List[Tuple[str, str]]) -> bytes:
        for old, new in rewrites:
            content, count = _rewrite_path_bytes(content, old, new)
            if count:
                self.edits.append(f"{label}: path {old} -> {new} ({count}x)")
        return content

    def _prepare_master_cf(self, conf: Path, main_names: Dict[str, str]) -> Tuple[bytes, List[str]]:
        edits: List[str] = []
        if self.master_cf_text is None:
            text = Path(HOST_MASTER_CF).read_text(errors="surrogateescape")
            edits.append(f"master.cf: none given; copied the installed {HOST_MASTER_CF}")
        else:
            text = self.master_cf_text
        lines = text.split("\n")
        entries = _master_entries(lines)
        has_postlog = False
        for entry in entries:
            service, service_type = entry.field(0), entry.field(1)
            chroot, command = entry.field(4), entry.field(7)
            if service is None or service_type is None:
                continue
            command_name = os.path.basename(command) if command else ""
            if command_name == "postlogd":
                has_postlog = True
            key = f"{service}/{service_type}"
            if chroot == "y":
                _replace_token(lines, entry.tokens[4], "n")
                edits.append(f"master.cf: {key} chroot y -> n (no chroot to populate, pitfall 17)")
            if service_type == "inet" and self.keep_addresses:
                edits.append(f"master.cf: {key} keeps its address as written")
            elif service_type == "inet":
                port = self._free_port()
                endpoint = f"[{self._loopback}]:{port}" if ":" in self._loopback else f"{self._loopback}:{port}"
                _replace_token(lines, entry.tokens[0], endpoint)
                edits.append(f"master.cf: {key} listens on {endpoint}")
                overrides = _service_overrides(entry.tokens[8:])

                def effective(name: str) -> str:
                    return overrides.get(name, main_names.get(name, "")).strip().lower()

                proxy_parameter = ("postscreen_upstream_proxy_protocol" if command_name == "postscreen"
                                   else "smtpd_upstream_proxy_protocol")
                listener = Listener(
                    key, service, port, command_name, host=self._loopback,
                    wrappermode=command_name == "smtpd" and effective("smtpd_tls_wrappermode") == "yes",
                    proxy_protocol=effective(proxy_parameter),
                )
                if command_name in SMTPD_COMMANDS:
                    self.listeners[key] = listener
                    self.ports[key] = port
                else:
                    self.other_ports[key] = port
            arguments = " ".join(token[3] for token in entry.tokens[8:])
            extra: List[str] = []
            if (command_name == "smtpd" and "smtpd_authorized_xclient_hosts" in arguments
                    and not self.keep_xclient_hosts):
                extra.append(f"-o smtpd_authorized_xclient_hosts={XCLIENT_HOSTS}")
            if command_name == "postscreen" and service_type == "inet":
                # Without an allowlist entry postscreen holds every new client for its
                # pregreet test (postscreen_greet_wait, ~6 s) before smtpd sees it. Its own
                # tests (DNSBL, pregreet) are thereby skipped: the verdicts are smtpd's.
                extra.append("-o postscreen_access_list=static:permit")
            if extra and command is not None:
                last = entry.line_numbers[-1]
                lines[last] = lines[last].rstrip() + " " + " ".join(extra)
                for option in extra:
                    edits.append(f"master.cf: {key} adds {option}")
        if not has_postlog:
            lines.append("postlog   unix-dgram n  -       n       -       1       postlogd")
            edits.append("master.cf: added the postlog service (the harness reads maillog_file)")
        result = "\n".join(lines)
        if not result.endswith("\n"):
            result += "\n"
        return _as_bytes(result), edits

    def _free_port(self) -> int:
        if self.isolated:
            # A private network namespace has no other listeners.
            port = 10025 + len(self._used_ports)
        else:
            while True:
                with socket.socket(_family(self._loopback), socket.SOCK_STREAM) as probe:
                    probe.bind((self._loopback, 0))
                    port = probe.getsockname()[1]
                if port not in self._used_ports:
                    break
        self._used_ports.add(port)
        return port

    def _postmap_tables(self, conf: Path, config_text: bytes, files: List[Path]) -> bool:
        """Index the table sources the config names by an indexed type (hash:, btree:, ...)."""
        placed = {str(path) for path in files}
        # commented-out lines ("#alias_maps = dbm:/etc/aliases") name no table
        config_text = b"\n".join(line for line in config_text.split(b"\n")
                                 if not line.lstrip().startswith(b"#"))
        names = _main_cf_names(config_text.decode("utf-8", "surrogateescape"))
        supported = supported_map_types()
        alias_values = " ".join(names.get(n, "") for n in ("alias_maps", "alias_database"))
        done: set = set()
        table = re.compile(rb"\b(" + b"|".join(t.encode() for t in INDEXED_TABLE_TYPES)
                           + rb"):((?:/|\$\{?config_directory\}?/)[^\s,{}]+)")
        for match in table.finditer(config_text):
            table_type, path = match.group(1).decode(), match.group(2).decode("utf-8", "surrogateescape")
            path = path.replace("$config_directory", str(conf)).replace("${config_directory}", str(conf))
            if path not in placed or (table_type, path) in done:
                continue
            done.add((table_type, path))
            if table_type not in supported:
                self.edits.append(f"not indexed: {table_type}:{path} (this Postfix lacks {table_type})")
                continue
            tool = "postalias" if f"{table_type}:{path}" in alias_values else "postmap"
            proc = subprocess.run([_tool(tool) or tool, "-c", str(conf), f"{table_type}:{path}"],
                                  capture_output=True, text=True, env=_SAFE_ENV, timeout=60)
            self.edits.append(f"ran {tool} {table_type}:{path}"
                              + ("" if proc.returncode == 0 else f" (failed: {proc.stderr.strip()})"))
        return bool(done)

    def _cool_down(self, conf: Path) -> None:
        """Back-date the config so Postfix does not re-read 'hot' files (pitfall 4); index
        files stay newer than their sources."""
        now = time.time()
        assert self.directory is not None
        for path in [*conf.rglob("*"), *(self.directory / "root").rglob("*")]:
            if path.is_file():
                stamp = now - 60 if path.suffix in (".db", ".lmdb", ".cdb") else now - 120
                os.utime(path, (stamp, stamp))

    # ---- start / stop ----------------------------------------------------------------

    def _start(self) -> None:
        assert self.directory is not None and self.config_directory is not None
        master = master_binary()
        assert master is not None
        # master logs to syslog until it has read main.cf (there is no /dev/log here, pitfall
        # 8); POSTLOG_SERVICE makes those early messages (e.g. "fatal: /etc/mailname: cannot
        # open file") come to our own datagram socket instead, in postlog format.
        early_path = self.directory / "early-log.sock"
        self._early_socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._early_socket.bind(str(early_path))
        self._early_socket.setblocking(False)
        env = dict(_SAFE_ENV, MAIL_CONFIG=str(self.config_directory),
                   POSTLOG_SERVICE=str(early_path), POSTLOG_HOSTNAME="pfcheck-live")
        master_command = [master, "-c", str(self.config_directory), "-d"]
        if self.isolated:
            # sh stays as the namespace's pid 1 (no exec): when it dies, the kernel kills
            # every process in the namespace. master itself cannot carry --kill-child's
            # parent-death signal: its set_eugid() clears it.
            # A deeper datagram queue than the default 10 (a per-namespace sysctl) keeps a
            # config that makes every daemon warn a lot from wedging postlogd (see above).
            setup = "".join(" ".join(shlex.quote(word) for word in command) + " || exit 1; "
                            for command in self.namespace_commands)
            script = (f'"{_tool("ip")}" link set lo up || exit 1; {setup}'
                      'echo 512 > /proc/sys/net/unix/max_dgram_qlen; "$@"; exit $?')
            command = [_tool("unshare") or "unshare", "--net", "--pid", "--fork",
                       "--kill-child", "/bin/sh", "-c", script, "sh", *master_command]
        else:
            command = master_command
        output = open(self.directory / "master.output", "wb")
        try:
            # Own session: master -d does not setsid(), and it stops its children with
            # kill(-pid) (pitfall 7); we kill the whole group at the end.
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                             stderr=subprocess.STDOUT, env=env,
                                             start_new_session=True, cwd=str(self.directory),
                                             preexec_fn=_die_with_parent)
        finally:
            output.close()
        self._watchdog = _start_watchdog(self._process.pid, self.directory)
        if self.isolated:
            self._netns_fd = self._open_child_netns()
        self._wait_for_master()

    def _open_child_netns(self) -> int:
        assert self._process is not None
        own = os.stat("/proc/self/ns/net").st_ino
        deadline = time.monotonic() + self.start_timeout
        path = f"/proc/{self._process.pid}/ns/net"
        while time.monotonic() < deadline:
            try:
                if os.stat(path).st_ino != own:
                    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                pass
            if self._process.poll() is not None:
                break
            time.sleep(0.002)
        raise LivePostfixError("unshare did not create a network namespace:\n" + self._diagnostics())

    def _wait_for_master(self) -> None:
        """Wait for master's 'daemon started' line: its sockets are bound by then. Connecting
        to find out would start an smtpd, which may die and get the service throttled."""
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if "daemon started" in self.log:
                return
            if self._process.poll() is not None:
                raise LivePostfixError(
                    f"master exited with status {self._process.returncode}:\n" + self._diagnostics())
            time.sleep(0.005)
        raise LivePostfixError("master did not report 'daemon started' in time:\n" + self._diagnostics())

    def _diagnostics(self) -> str:
        """What went wrong at start: the fatal lines first, then the whole log. Without a
        logged fatal, ask postconf, which reports parse errors on stderr."""
        log = self.log
        fatals = [line for line in log.splitlines() if re.search(r": (?:fatal|panic): ", line)]
        parts = fatals + ["log:", log]
        if self.directory is not None:
            output = self.directory / "master.output"
            if output.exists() and output.stat().st_size:
                parts.append("master output:\n" + output.read_text(errors="replace"))
        if not fatals and POSTCONF is not None and self.config_directory is not None:
            proc = subprocess.run([POSTCONF, "-c", str(self.config_directory), "-n"],
                                  capture_output=True, text=True, env=_SAFE_ENV, timeout=60)
            # our own appended block makes postconf warn "overriding earlier entry": noise
            complaints = [line for line in proc.stderr.splitlines() if "overriding earlier entry" not in line]
            parts.append("postconf -n stderr:\n" + "\n".join(complaints))
        return "\n".join(parts)

    def stop(self) -> None:
        """Kill every process of the instance and remove the temp dir. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            _stop_watchdog(watchdog)
        if self._netns_fd is not None:
            os.close(self._netns_fd)
            self._netns_fd = None
        if self._early_socket is not None:
            self._drain_early_log()  # keep them readable in pf.log after stop
            self._early_socket.close()
            self._early_socket = None
        if self.config_directory is not None:
            _kill_stragglers(str(self.config_directory))
        if self.directory is not None:
            self._final_log = self.log  # still readable after the with block
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def postconf(self, *names: str) -> Dict[str, str]:
        """Values of the private instance as `postconf -c DIR` computes them (e.g. the
        mynetworks that mynetworks_style yields here). Names only: `=` would edit main.cf."""
        assert self.config_directory is not None and POSTCONF is not None
        if any("=" in name or name.startswith("-") for name in names):
            raise ValueError("parameter names only")
        proc = subprocess.run([POSTCONF, "-c", str(self.config_directory), *names],
                              capture_output=True, text=True, env=_SAFE_ENV, timeout=60)
        if proc.returncode != 0:
            raise LivePostfixError(proc.stderr.strip())
        return parse_postconf_lines(proc.stdout)

    # ---- logs ------------------------------------------------------------------------

    @property
    def log(self) -> str:
        """master's early messages (before it read main.cf), then the private maillog."""
        if self._final_log is not None:
            return self._final_log
        self._drain_early_log()
        early = "".join(line + "\n" for line in self._early_log)
        if self.maillog_path is None:
            return early
        try:
            return early + self.maillog_path.read_text(errors="replace")
        except FileNotFoundError:
            return early

    def wait_for_log(self, pattern: str, timeout: float = 5.0) -> Optional[str]:
        """The first log line matching the regex `pattern`, waiting for it up to `timeout`
        seconds (smtpd's lines reach the file through postlogd, a little after the reply)."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log.splitlines():
                if compiled.search(line):
                    return line
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)

    def _drain_early_log(self) -> None:
        if self._early_socket is None:
            return
        while True:
            try:
                datagram = self._early_socket.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._early_log.append(datagram.decode("utf-8", "replace").rstrip("\n"))

    def _log_size(self) -> int:
        try:
            return self.maillog_path.stat().st_size if self.maillog_path else 0
        except FileNotFoundError:
            return 0

    def _fatal_since(self, offset: int, settle: bool = False) -> Optional[str]:
        """A fatal/panic logged after `offset`, or master throttling a command that died."""
        if self.maillog_path is None:
            return None
        try:
            with open(self.maillog_path, "rb") as handle:
                handle.seek(offset)
                new = handle.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return None
        # Only the listener's own daemons: a concurrent fatal elsewhere is no start-up verdict.
        fatal = re.search(r"/(?:smtpd|postscreen)\[\d+\]: (?:fatal|panic): (.*)", new)
        if fatal:
            return fatal.group(1).strip()
        if re.search(r"/(?:smtpd|postscreen): bad command startup -- throttling", new):
            if not settle:
                # The daemon's own fatal line may still be on its way through postlogd.
                time.sleep(0.2)
                return self._fatal_since(offset, settle=True) or "bad command startup -- throttling"
            return None
        return None

    # ---- probes ----------------------------------------------------------------------

    def _new_socket(self, family: int) -> socket.socket:
        if self._netns_fd is None:
            return socket.socket(family, socket.SOCK_STREAM)
        setns = _setns_function()
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            # setns(CLONE_NEWNET) changes only the calling thread; the socket keeps the
            # namespace it was created in.
            setns(self._netns_fd, CLONE_NEWNET)
            try:
                return socket.socket(family, socket.SOCK_STREAM)
            finally:
                setns(own, CLONE_NEWNET)
        finally:
            os.close(own)

    def connect_listener(self, service: str = "smtp/inet", timeout: float = 10.0) -> socket.socket:
        """A plain socket connected to a listener (inside the private network namespace when
        there is one), for a test that drives the session itself (its own TLS settings, ...).
        The caller closes it."""
        listener = self._listener(service)
        sock = self._new_socket(_family(listener.host))
        try:
            sock.settimeout(timeout)
            sock.connect((listener.host, listener.port))
        except OSError:
            sock.close()
            raise
        return sock

    def _listener(self, service: str) -> Listener:
        """Look up by "smtp/inet" or just "smtp"."""
        for key in (service, f"{service}/inet"):
            if key in self.listeners:
                return self.listeners[key]
        raise KeyError(f"no smtpd/postscreen inet service {service!r}; have {sorted(self.ports)}")

    def connect(self, host: str, port: int, source: Optional[str] = None) -> socket.socket:
        """A TCP connection to host:port inside the instance's namespace (if any), from the
        local address `source` when given (an address the namespace has, e.g. one a
        namespace_commands `ip addr add ... dev lo` put there): the server sees that client."""
        sock = self._new_socket(_family(host))
        try:
            if source is not None:
                sock.bind((source, 0))
            sock.settimeout(self.greeting_timeout)
            sock.connect((host, port))
            sock.settimeout(None)
        except OSError:
            sock.close()
            raise
        return sock

    def _open_session(
        self, listener: Listener, transcript: List[str], proxy_client: Optional[str],
        source: Optional[str] = None,
    ) -> Tuple[Optional[_SmtpSession], Optional[Reply]]:
        """Connect (PROXY header and wrapper-mode TLS as the listener needs) and read the
        greeting, or say why there is none."""
        key = listener.key
        if key in self._startup_fatals:
            return None, Reply(None, self._startup_fatals[key], REFUSED_STARTUP, "connect", tuple(transcript))
        offset = self._log_size()
        sock = self._new_socket(_family(listener.host))
        try:
            if source is not None:
                sock.bind((source, 0))
            sock.settimeout(self.greeting_timeout)
            sock.connect((listener.host, listener.port))
            sock.settimeout(None)
        except OSError as error:
            sock.close()
            return None, Reply(None, f"connect {listener.host} port {listener.port}: {error}", UNDETERMINED,
                               "connect", tuple(transcript))
        session = _SmtpSession(sock, transcript)
        session.client_cert = self.tls_client_cert

        def poll() -> Optional[str]:
            return self._fatal_since(offset)

        try:
            if listener.proxy_protocol:
                session.send(_haproxy_header(proxy_client or listener.host, sock.getsockname()[1],
                                             listener.port), "PROXY header")
            if listener.wrappermode:
                session.start_tls(self.greeting_timeout, poll)
            code, text = session.read_reply(self.greeting_timeout, poll)
        except _StartupFatal as fatal:
            session.close()
            self._startup_fatals[key] = str(fatal)
            transcript.append(f"log: fatal: {fatal}")
            return None, Reply(None, str(fatal), REFUSED_STARTUP, "connect", tuple(transcript))
        except (TimeoutError, ConnectionError, OSError) as error:
            session.close()
            fatal_text = self._fatal_since(offset)
            if fatal_text is not None:
                self._startup_fatals[key] = fatal_text
                return None, Reply(None, fatal_text, REFUSED_STARTUP, "connect", tuple(transcript))
            return None, Reply(None, f"no greeting: {error}", UNDETERMINED, "connect", tuple(transcript))
        if code is None or code >= 400:
            session.close()
            return None, Reply(code, text, classify(code, text), "connect", tuple(transcript))
        return session, None

    def startup_fatal(self, service: str = "smtp/inet") -> Optional[str]:
        """The fatal message when the service's smtpd (or postscreen) dies at start-up, else None.

        Connects once and waits for the greeting while watching the log (pitfall 12)."""
        listener = self._listener(service)
        if listener.key in self._startup_fatals:
            return self._startup_fatals[listener.key]
        session, failure = self._open_session(listener, [], None)
        if session is not None:
            session.quit()
            session.close()
            return None
        assert failure is not None
        return failure.text if failure.outcome == REFUSED_STARTUP else None

    def greeting(self, service: str = "smtp/inet") -> Reply:
        """The listener's greeting on a fresh connection (then QUIT): `text` is what follows
        the reply code, lines joined with newlines; outcome accepted for a 2xx greeting."""
        listener = self._listener(service)
        transcript: List[str] = []
        session, failure = self._open_session(listener, transcript, None)
        if session is None:
            assert failure is not None
            return failure
        try:
            lines = [line[3:] for line in transcript if line.startswith("S: ")]
            code = int(lines[-1][:3])
            text = "\n".join(line[4:] for line in lines)
            return Reply(code, text, classify(code, text), "connect", tuple(transcript))
        finally:
            session.quit()
            session.close()

    def listening_sockets(self) -> List[Tuple[str, int]]:
        """The TCP sockets in LISTEN state of the instance's network namespace (the host's
        when not isolated), as (address, port): "0.0.0.0", "::", "192.0.2.10", ...; read from
        /proc/PID/net/tcp and tcp6 of a process in that namespace."""
        assert self._process is not None
        found: List[Tuple[str, int]] = []
        for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
            try:
                text = Path(f"/proc/{self._process.pid}/net/{name}").read_text()
            except FileNotFoundError:
                continue
            for row in text.splitlines()[1:]:
                fields = row.split()
                if len(fields) < 4 or fields[3] != "0A":  # TCP_LISTEN
                    continue
                address, _, port = fields[1].partition(":")
                raw = bytes.fromhex(address)
                # The kernel prints each 32-bit word in host (little-endian) order.
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.append((socket.inet_ntop(family, raw), int(port, 16)))
        return sorted(found)

    def _xclient(self, session: _SmtpSession, client: str, client_name: Optional[str]) -> Optional[Reply]:
        """Pose as `client`; XCLIENT's reply is the new greeting (pitfall 15)."""
        name = client_name if client_name is not None else "[UNAVAILABLE]"
        code, text = session.command(f"XCLIENT ADDR={_xclient_address(client)} NAME={name}",
                                     self.command_timeout)
        if code == 220:
            return None
        if code in (501, 502, 503) or (code == 550 and "insufficient authorization" in text):
            # Syntax (e.g. an IPv6 ADDR under inet_protocols = ipv4) or no XCLIENT: the
            # harness could not pose as the client, so nothing is known about it.
            return Reply(code, text, UNDETERMINED, "xclient", tuple(session.transcript))
        # XCLIENT re-runs the connect-time checks for the posed client
        # (smtpd_delay_reject = no): that answer is the verdict.
        return Reply(code, text, classify(code, text), "xclient", tuple(session.transcript))

    def _posing_failed(self, failure: Reply, client: Optional[str]) -> Reply:
        """A refusal of the harness's own 127.0.0.1 connection says nothing about `client`."""
        if client is None or client in ("127.0.0.1", "::1") or failure.stage != "connect" or failure.code is None:
            return failure
        text = (f"the harness's own loopback connection was refused before XCLIENT "
                f"could pose as {client} (connect-time smtpd_client_restrictions with "
                f"smtpd_delay_reject = no?): {failure.text}")
        return Reply(failure.code, text, UNDETERMINED, "connect", failure.transcript)

    def _probe(
        self,
        service: str,
        client: Optional[str],
        client_name: Optional[str],
        helo: str,
        tls: str,
        steps: List[Tuple[str, str]],
        last_outcome,  # type: ignore[no-untyped-def]
    ) -> Reply:
        if tls not in ("auto", "always", "never"):
            raise ValueError(f"tls must be auto, always or never, not {tls!r}")
        reply, starttls_offered = self._probe_once(service, client, client_name, helo,
                                                   tls == "always", steps, last_outcome)
        if (tls == "auto" and starttls_offered and reply.code == 530
                and "starttls" in reply.text.lower()):
            # The listener requires TLS (smtpd_tls_security_level = encrypt): any outside
            # client can do STARTTLS, so judge the session after it.
            first = reply
            reply, _ = self._probe_once(service, client, client_name, helo, True, steps, last_outcome)
            transcript = first.transcript + ("(again, with STARTTLS)",) + reply.transcript
            reply = Reply(reply.code, reply.text, reply.outcome, reply.stage, transcript)
        return reply

    def _probe_once(
        self,
        service: str,
        client: Optional[str],
        client_name: Optional[str],
        helo: str,
        use_starttls: bool,
        steps: List[Tuple[str, str]],
        last_outcome,  # type: ignore[no-untyped-def]
    ) -> Tuple[Reply, bool]:
        listener = self._listener(service)
        transcript: List[str] = []
        session, failure = self._open_session(listener, transcript, client)
        if session is None:
            assert failure is not None
            if listener.proxy_protocol:
                return failure, False  # the PROXY header already posed as the client
            return self._posing_failed(failure, client), False
        starttls_offered = False
        stage = "xclient"
        try:
            if client is not None and not listener.proxy_protocol:
                refused = self._xclient(session, client, client_name)
                if refused is not None:
                    return refused, False
            stage = "ehlo"
            code, text = session.command(f"EHLO {helo}", self.command_timeout)
            if classify(code, text) != ACCEPTED:
                return Reply(code, text, classify(code, text), "ehlo", tuple(transcript)), False
            starttls_offered = "STARTTLS" in _ehlo_keywords(text)
            if use_starttls and not session.tls:
                stage = "starttls"
                if not starttls_offered:
                    return Reply(None, "STARTTLS is not offered", UNDETERMINED, stage,
                                 tuple(transcript)), False
                code, text = session.command("STARTTLS", self.command_timeout)
                if code != 220:
                    return Reply(code, text, UNDETERMINED, stage, tuple(transcript)), True
                session.start_tls(self.command_timeout)
                stage = "ehlo"
                code, text = session.command(f"EHLO {helo}", self.command_timeout)
                if classify(code, text) != ACCEPTED:
                    return Reply(code, text, classify(code, text), stage, tuple(transcript)), True
            for number, (stage, command) in enumerate(steps):
                code, text = session.command(command, self.command_timeout)
                is_last = number == len(steps) - 1
                outcome = last_outcome(code, text) if is_last else classify(code, text)
                if is_last or outcome != ACCEPTED:
                    return Reply(code, text, outcome, stage, tuple(transcript)), starttls_offered
            raise AssertionError("no probe steps")
        except (TimeoutError, ConnectionError, OSError) as error:
            return Reply(None, f"{error}", UNDETERMINED, stage, tuple(transcript)), starttls_offered
        finally:
            session.quit()
            session.close()

    def rcpt(
        self,
        service: str = "smtp/inet",
        client: Optional[str] = DEFAULT_OUTSIDE_CLIENT,
        helo: str = "probe.example",
        sender: str = "probe@example.net",
        recipient: str = "relaytest@example.org",
        *,
        client_name: Optional[str] = None,
        tls: str = "auto",
    ) -> Reply:
        """One relay/recipient probe on a fresh connection: pose as `client` (XCLIENT ADDR=,
        NAME=[UNAVAILABLE] unless client_name; a PROXY header on haproxy listeners; None =
        stay 127.0.0.1), EHLO helo, MAIL FROM:<sender>, RCPT TO:<recipient>, sent raw.

        tls: "auto" = STARTTLS only when the listener demands it and offers it; "always";
        "never"."""
        steps = [("mail", f"MAIL FROM:<{sender}>"), ("rcpt", f"RCPT TO:<{recipient}>")]
        return self._probe(service, client, client_name, helo, tls, steps, classify)

    def ehlo(
        self,
        service: str = "smtp/inet",
        *,
        helo: str = "probe.example",
        mail: bool = True,
        starttls: bool = True,
    ) -> EhloProbe:
        """One session from the harness's own loopback address (no XCLIENT): EHLO, then
        (mail) MAIL FROM:<> and RSET in plaintext, then (starttls) STARTTLS when EHLO
        advertises it and EHLO again inside TLS. In wrapper mode the session is TLS from the
        start and only the TLS EHLO is seen."""
        listener = self._listener(service)
        transcript: List[str] = []
        session, failure = self._open_session(listener, transcript, None)
        if session is None:
            assert failure is not None
            return EhloProbe(None, None, None, False, None, str(failure), tuple(transcript))
        plain: Optional[Tuple[str, ...]] = None
        tls_keywords: Optional[Tuple[str, ...]] = None
        mail_code: Optional[int] = None
        starttls_code: Optional[int] = None
        problem = ""
        try:
            code, text = session.command(f"EHLO {helo}", self.command_timeout)
            if code != 250:
                problem = f"EHLO answered {code} {text}"
            else:
                keywords = tuple(line.upper() for line in text.splitlines()[1:] if line.strip())
                if session.tls:
                    tls_keywords = keywords
                else:
                    plain = keywords
                    if mail:
                        mail_code, _ = session.command("MAIL FROM:<>", self.command_timeout)
                        session.command("RSET", self.command_timeout)
                    if starttls and "STARTTLS" in _ehlo_keywords(text):
                        starttls_code, text = session.command("STARTTLS", self.command_timeout)
                        if starttls_code == 220:
                            session.start_tls(self.command_timeout)
                            code, text = session.command(f"EHLO {helo}", self.command_timeout)
                            if code == 250:
                                tls_keywords = tuple(line.upper() for line in text.splitlines()[1:] if line.strip())
                            else:
                                problem = f"EHLO in TLS answered {code} {text}"
        except (TimeoutError, ConnectionError, OSError, ssl.SSLError) as error:
            problem = f"{type(error).__name__}: {error}"
        finally:
            tls = session.tls
            session.quit()
            session.close()
        return EhloProbe(plain, mail_code, starttls_code, tls, tls_keywords, problem, tuple(transcript))

    def vrfy(
        self,
        service: str = "smtp/inet",
        address: str = "root",
        *,
        client: Optional[str] = DEFAULT_OUTSIDE_CLIENT,
        helo: str = "probe.example",
        tls: str = "auto",
    ) -> Reply:
        """VRFY address after EHLO, as `client`. 250/252 = accepted (VRFY is enabled),
        502 "VRFY command is disabled" = disabled."""
        return self._probe(service, client, None, helo, tls, [("vrfy", f"VRFY {address}")],
                           classify_vrfy)


    def converse(
        self,
        service: str = "smtp/inet",
        exchanges: Tuple[Tuple[bytes, int], ...] = (),
        *,
        client: Optional[str] = DEFAULT_OUTSIDE_CLIENT,
        settle: float = 2.0,
        source: Optional[str] = None,
    ) -> "Conversation":
        """A raw dialogue on a fresh connection, posing as `client` (XCLIENT; a PROXY header
        on haproxy listeners): for each (data, count), send `data` as it is (several commands
        at once, bare newlines, ...) and read `count` replies; a count of -1 reads until the
        server closes the connection or `settle` seconds pass without a reply. The replies are
        in order; `failure` is set when there was no session (no greeting, XCLIENT refused).
        `source`: connect from this local address (see `connect()`)."""
        listener = self._listener(service)
        transcript: List[str] = []
        replies: List[Tuple[Optional[int], str]] = []
        session, failure = self._open_session(listener, transcript, client, source)
        if session is None:
            return Conversation((), True, failure, tuple(transcript))
        closed = False
        try:
            if client is not None and not listener.proxy_protocol:
                refused = self._xclient(session, client, None)
                if refused is not None:
                    return Conversation((), False, refused, tuple(transcript))
            for data, count in exchanges:
                session.send(data, repr(data))
                wanted = count
                while wanted != 0:
                    try:
                        replies.append(session.read_reply(settle if count < 0 else self.command_timeout))
                    except TimeoutError:
                        break
                    except (ConnectionError, OSError):
                        closed = True
                        break
                    wanted -= 1
                if closed:
                    break
        finally:
            session.close()
        return Conversation(tuple(replies), closed, None, tuple(transcript))


@dataclass(frozen=True)
class Conversation:
    """What `LivePostfix.converse()` saw: every reply (code, text) in order, whether the
    server closed the connection, and why there was no session (None when there was one)."""

    replies: Tuple[Tuple[Optional[int], str], ...]
    closed: bool
    failure: Optional[Reply]
    transcript: Tuple[str, ...]


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _xclient_address(client: str) -> str:
    if ":" in client and not client.upper().startswith("IPV6:"):
        return "IPV6:" + client
    return client


def _haproxy_header(client: str, source_port: int, port: int) -> bytes:
    """PROXY protocol v1: the way to pose as a client on an haproxy listener (XCLIENT is
    only for loopback, which the proxied client no longer is)."""
    address = client[5:] if client.upper().startswith("IPV6:") else client
    if ":" in address:
        return f"PROXY TCP6 {address} ::1 {source_port} {port}\r\n".encode()
    return f"PROXY TCP4 {address} 127.0.0.1 {source_port} {port}\r\n".encode()


def _ehlo_keywords(text: str) -> List[str]:
    return [line.split()[0].upper() for line in text.splitlines()[1:] if line.split()]


_WATCHDOG_SCRIPT = '''
read line
[ "$line" = done ] && exit 0
kill -9 "-$1" 2>/dev/null  # dash: "kill -KILL -- -PGID" is a syntax error
sleep 0.2
rm -rf -- "$2"
'''


def _start_watchdog(process_group: int, directory: Path) -> "subprocess.Popen[bytes]":
    """A helper that outlives a killed test process: when its stdin (whose only writer is
    us) reaches EOF without "done", it kills the instance's process group and removes the
    temp dir. Parent-death signals alone do not work: master's set_eugid() clears them."""
    return subprocess.Popen(["/bin/sh", "-c", _WATCHDOG_SCRIPT, "pfcheck-live-watchdog",
                             str(process_group), str(directory)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_SAFE_ENV, start_new_session=True)


def _stop_watchdog(watchdog: "subprocess.Popen[bytes]") -> None:
    try:
        assert watchdog.stdin is not None
        watchdog.stdin.write(b"done\n")
        watchdog.stdin.close()
    except (OSError, ValueError):
        pass
    try:
        watchdog.wait(timeout=10)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the test process dies without __exit__
    (killed pytest). For unshare that ends the whole namespace via --kill-child."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def _kill_stragglers(config_directory: str) -> None:
    """SIGKILL any process still carrying our MAIL_CONFIG (master exports it to every child),
    until none is left: a failing test must never leave Postfix processes behind."""
    marker = f"MAIL_CONFIG={config_directory}".encode()
    deadline = time.monotonic() + 5
    while True:
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    environ = handle.read().split(b"\0")
            except OSError:
                continue
            if marker in environ:
                found = True
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if not found or time.monotonic() > deadline:
            return
        time.sleep(0.01)


def processes_of(config_directory: str) -> List[int]:
    """PIDs whose environment carries MAIL_CONFIG=config_directory (for leak tests)."""
    marker = f"MAIL_CONFIG={config_directory}".encode()
    found: List[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if marker in handle.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


# The unix services an smtpd needs to answer RCPT and VRFY (address rewriting, local recipient
# lookups through proxymap, the cleanup a trusted RCPT opens a queue file with).
HELPER_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
