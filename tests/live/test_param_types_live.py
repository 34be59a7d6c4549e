"""Differential test: PF000 fires exactly when real Postfix refuses a value, with its text.

The inputs come from the generated type table (pfcheck/postfix/_param_types_data.py, series
3.7, the installed Postfix): for a seeded sample of parameters of every kind read by every
program (mail_params.c), by smtpd or by qmgr, a valid value, values just out of bounds, a
trailing `# comment`, an empty value and a wrong-type value; plus the cases of issue #13
(myhostname, inet_interfaces, inet_protocols, mynetworks_style, ...) and `-o` overrides.

The oracle is the real program that reads the parameter, on a private copy of the config
(never /etc/postfix):

* every-program parameters: `postmap -c DIR -q x static:y`, which runs mail_conf_read() ->
  mail_params_init() like every Postfix program (`postfix check` included);
* smtpd parameters (and `-o`): `MAIL_CONFIG=DIR smtpd -V -S -n smtp -t inet [-o n=v]`, i.e. a
  started smtpd in stand-alone mode talking SMTP on stdin: it answers `220` and `QUIT` when it
  accepts its configuration, and writes `fatal: ...` to stderr (-V) when it does not;
* qmgr parameters: `MAIL_CONFIG=DIR qmgr -V -n qmgr -t unix`: a fatal naming the parameter is
  a refusal; qmgr's later "requires a process limit of 1" means the tables were accepted.

A process is killed as soon as its fatal line is out (Postfix sleeps 1 s after a fatal).
The table test takes every parameter of those readers (~1600 inputs, ~20-35 s);
PFCHECK_PARAM_TYPES_SAMPLE=N narrows it to N per kind and reader. The optional slow test adds
random values (PFCHECK_PARAM_TYPES_RANDOM=N, PFCHECK_PARAM_TYPES_SEED=S).
"""
from __future__ import annotations

import functools
import os
import random
import re
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from pfcheck.postfix import defaults, param_types
from pfcheck.postfix.config import load_config_dir
from pfcheck.rules import pf000_config_error, pf303_relay_guard_fails
from pfcheck.rules.base import RuleContext
from tests.support.postfix_oracle import POSTCONF, cool_down, need_postconf

VERSION = "3.7"
DAEMON_DIRECTORY = Path("/usr/lib/postfix/sbin")
POSTMAP = Path(POSTCONF).with_name("postmap") if POSTCONF else None

#: The same for pfcheck and Postfix: a host name (so that no host fact is needed) and no
#: recipient maps (smtpd would otherwise wait for proxymap, which is not running).
BASE = {
    "compatibility_level": "3.6",
    "myhostname": "mail.example.com",
    "local_recipient_maps": "",
}

#: Values whose verdict depends on the machine, not the files (users, groups, directories,
#: files that must exist, syslog), or that would make the oracle itself misbehave.
HOST_FACT_PARAMETERS = frozenset({
    "mail_owner", "setgid_group", "default_privs", "queue_directory", "daemon_directory",
    "command_directory", "data_directory", "meta_directory", "config_directory",
    "shlib_directory", "mail_spool_directory", "maillog_file", "postlog_service",
    "import_environment", "export_environment", "inet_interfaces", "proxy_interfaces",
    "mynetworks", "local_recipient_maps", "myhostname", "mydomain", "compatibility_level",
    "multi_instance_directories", "process_id_directory", "syslog_name", "mail_version",
    "alternate_config_directories", "known_tcp_ports", "inet_protocols", "smtputf8_enable",
    "smtpd_tls_security_level", "smtpd_use_tls", "smtpd_enforce_tls", "smtpd_sasl_auth_enable",
    "smtpd_proxy_filter", "smtpd_milters", "milter_protocol", "smtpd_upstream_proxy_protocol",
    "ipc_timeout", "ipc_idle", "ipc_ttl", "daemon_timeout", "in_flow_delay",
    "mynetworks_style", "relayhost", "myorigin", "default_verp_delimiters", "verp_delimiter_filter",
    "syslog_facility", "smtpd_client_port_logging", "smtpd_service_name",
    "daemon_open_fatal",
})

SMTPD = "smtpd"
QMGR = "qmgr"


@dataclass(frozen=True)
class Case:
    name: str
    value: str
    program: str  # "global", "smtpd" or "qmgr": who to ask
    via_override: bool = False
    extra: tuple[tuple[str, str], ...] = ()
    label: str = ""

    @property
    def id(self) -> str:
        where = "-o" if self.via_override else "main.cf"
        return f"{self.name}={self.value!r} [{where}, {self.program}] {self.label}".strip()


# ------------------------------------------------------------------------------------------
# Inputs from the type table


@functools.lru_cache(maxsize=1)
def _base_config() -> Any:
    directory = Path(tempfile.mkdtemp(prefix="pfcheck-types-base-"))
    (directory / "main.cf").write_text(_main_cf(None))
    return load_config_dir(directory, version=VERSION)


def _expanded_default(name: str) -> str:
    return str(_base_config().global_scope.value(name))


def _values(entry: param_types.ParamType, default: str) -> Iterator[tuple[str, str]]:
    """(label, value) per kind: valid, just out of bounds, trailing comment, empty, wrong type."""
    kind = entry.kind
    if kind in ("bool", "nbool"):
        yield from (("valid", default or "yes"), ("valid-case", (default or "yes").upper()),
                    ("comment", f"{default or 'yes'} # comment"), ("empty", ""), ("wrong", "true"))
        return
    if kind in ("str", "str_fn", "raw"):
        yield from (("valid", default), ("comment", f"{default} # comment"), ("empty", ""))
        if entry.max:
            yield "too-long", "x" * (entry.max + 1)
        return
    if kind == "time":
        unit = param_types.default_time_unit(defaults.default_value(entry.name, VERSION) or "s")
        yield from (("valid", default), ("comment", f"{default} # comment"), ("empty", ""),
                    ("wrong-unit", "5x"), ("trailing-after-unit", "5sx"), ("no-unit", "7"),
                    ("negative", "-1s"))
        if entry.min:
            yield "below-min", f"{entry.min - 1}s"
        if entry.max:
            yield "above-max", f"{entry.max + 1}s"
        del unit
        return
    yield from (("valid", default), ("comment", f"{default} # comment"), ("empty", ""), ("wrong", "12abc"))
    if entry.min:
        yield "below-min", str(entry.min - 1)
    if entry.max:
        yield "above-max", str(entry.max + 1)
    yield "overflow", str(2 ** 31) if kind != "long" else str(2 ** 63)


def _program_of(entry: param_types.ParamType) -> Optional[str]:
    if param_types.GLOBAL in entry.readers:
        return "global"
    if SMTPD in entry.readers:
        return SMTPD
    if QMGR in entry.readers:
        return QMGR
    return None


def table_cases(per_group: Optional[int]) -> list[Case]:
    groups: dict[tuple[str, str], list[param_types.ParamType]] = {}
    for name, entries in sorted(param_types.parameter_types(VERSION).items()):
        if name in HOST_FACT_PARAMETERS or name in defaults.read_only_parameters(VERSION):
            continue
        if defaults.is_host_dependent(name):
            continue
        for entry in entries:
            program = _program_of(entry)
            if program is not None:
                groups.setdefault((entry.kind, program), []).append(entry)
    rng = random.Random(13)
    cases: list[Case] = []
    for (kind, program), entries in sorted(groups.items()):
        chosen = entries if per_group is None or len(entries) <= per_group else rng.sample(entries, per_group)
        for entry in chosen:
            default = _expanded_default(entry.name)
            if "$" in (defaults.default_value(entry.name, VERSION) or "") and entry.kind in ("str", "raw"):
                default = default or "x"
            for label, value in _values(entry, default):
                if "\n" in value:
                    continue
                cases.append(Case(entry.name, value, program, label=f"{kind}:{label}"))
                if program == SMTPD and label in ("empty", "below-min", "wrong") and " " not in value:
                    cases.append(Case(entry.name, value, program, via_override=True, label=f"{kind}:{label}"))
    return cases


#: The cases of issue #13 and the special checks of mail_params_init().
NAMED_CASES = [
    Case("message_size_limit", "52428800  # 50MB", "global"),
    Case("myhostname", "localhost # Gets set at runtime", "global"),
    Case("myhostname", "{MTA_HOSTNAME}", "global"),
    Case("myhostname", "localhost", "global"),
    Case("myhostname", "mail-.example.com", "global"),
    Case("mydomain", "123", "global"),
    Case("mydomain", "example.com", "global"),
    Case("inet_interfaces", "192.168.0.0/24", "global"),
    Case("inet_interfaces", "permit_mynetworks", "global"),
    Case("inet_interfaces", "loopback-only", "global"),
    Case("inet_interfaces", "127.0.0.1, [::1]", "global"),
    Case("inet_interfaces", "all", "global"),
    # The keywords count only as the whole value (strcmp); in a list they are host names.
    Case("inet_interfaces", "loopback-only, 127.0.0.1", "global"),
    Case("inet_interfaces", "all,", "global"),
    Case("inet_interfaces", "all $empty_expansion", "global"),
    Case("smtpd_sasl_path", "", SMTPD),
    Case("smtpd_tls_security_level", "bogus", SMTPD),
    Case("smtpd_tls_security_level", "dane", SMTPD),
    Case("smtpd_tls_security_level", "NONE", SMTPD),
    Case("smtpd_sasl_path", "", SMTPD, via_override=True),
    Case("mynetworks_style", "", "global"),
    Case("mynetworks_style", "foo", "global"),
    Case("mynetworks_style", "host subnet", "global"),
    Case("mynetworks_style", "host", "global"),
    Case("mynetworks_style", "foo", "global", extra=(("mynetworks", "127.0.0.0/8"),), label="mynetworks set"),
    Case("inet_protocols", "2", "global"),
    Case("inet_protocols", "IPv4", "global"),
    Case("inet_protocols", "ipv4, ipv6", "global"),
    Case("inet_protocols", "", "global"),
    Case("maximal_queue_lifetime", "5x", QMGR),
    Case("maximal_queue_lifetime", "5d", QMGR),
    Case("smtpd_recipient_limit", "0", SMTPD),
    Case("smtpd_recipient_limit", "0", SMTPD, via_override=True),
    Case("syslog_facility", "foo", "global"),
    Case("syslog_facility", "local3", "global"),
    Case("relayhost", "$myhostname", "global"),
    Case("relayhost", "[mail.example.com]", "global"),
    Case("myorigin", "a b", "global"),
    Case("myorigin", "$mydomain", "global"),
    Case("default_verp_delimiters", "+", "global"),
    Case("default_verp_delimiters", "+@", "global"),
    Case("disable_vrfy_command", "yes # no VRFY", SMTPD),
    Case("smtpd_timeout", "0", SMTPD, via_override=True),
    Case("message_size_limit", "$mailbox_size_limit", "global", extra=(("mailbox_size_limit", "5 # x"),),
         label="checked after $ expansion"),
]


# ------------------------------------------------------------------------------------------
# pfcheck and Postfix on one case


def _main_cf(case: Optional[Case]) -> str:
    values = dict(BASE)
    if case is not None:
        values.update(dict(case.extra))
        if not case.via_override:
            values[case.name] = case.value
    return "".join(f"{name} = {value}\n" if value else f"{name} =\n" for name, value in values.items())


def _master_cf(case: Case) -> str:
    override = f" -o {case.name}={case.value}" if case.via_override else ""
    return f"smtp      inet  n       -       y       -       -       smtpd{override}\n"


def pfcheck_fatal(case: Case, directory: Path) -> Optional[str]:
    """The Postfix fatal text PF000 quotes for the case's parameter, or None."""
    config = load_config_dir(directory, version=VERSION)
    ctx = RuleContext(config, directory)
    for finding in pf000_config_error.check(ctx, {}):
        if finding.parameter == case.name and ' with "fatal: ' in finding.message:
            return finding.message.split(' with "fatal: ', 1)[1].rpartition('"')[0]
    # smtpd's relay guard ("specify at least one working instance of ...") and restriction
    # classes are PF303's: the relay evaluator reads them.
    if case.name not in ("smtpd_relay_restrictions", "smtpd_recipient_restrictions", "smtpd_restriction_classes"):
        return None
    for finding in pf303_relay_guard_fails.check(ctx, {}):
        return finding.message.split(' with "fatal: ', 1)[1].rpartition('"')[0]
    return None


def _run_until_fatal(argv: list[str], env: dict[str, str], stdin: bytes, timeout: float) -> tuple[str, str]:
    """(stdout, fatal text or ""): the process is killed once it has printed its fatal line."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stderr is not None and proc.stdout is not None
    try:
        proc.stdin.write(stdin)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    deadline = time.monotonic() + timeout
    fatal = ""
    os.set_blocking(proc.stderr.fileno(), False)
    buffer = b""
    while time.monotonic() < deadline:
        chunk = proc.stderr.read() or b""
        buffer += chunk
        match = re.search(rb"fatal: (.*)\n", buffer)
        if match:
            fatal = match.group(1).decode("utf-8", "surrogateescape")
            break
        if proc.poll() is not None and not chunk:
            break
        time.sleep(0.005)
    proc.kill()
    stdout = proc.stdout.read().decode("utf-8", "replace")
    proc.wait()
    return stdout, fatal


def postfix_fatal(case: Case, directory: Path) -> Optional[str]:
    """The fatal text of the program that reads the parameter, or None when it accepts it."""
    cool_down(directory)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "MAIL_CONFIG": str(directory)}
    overrides = ["-o", f"{case.name}={case.value}"] if case.via_override else []
    if case.program == "global":
        assert POSTMAP is not None
        _, fatal = _run_until_fatal([str(POSTMAP), "-c", str(directory), "-q", "x", "static:y"], env, b"", 10)
    elif case.program == SMTPD:
        stdout, fatal = _run_until_fatal([str(DAEMON_DIRECTORY / "smtpd"), "-V", "-S", "-n", "smtp", "-t", "inet",
                                          *overrides], env, b"QUIT\r\n", 10)
        if not fatal:
            assert stdout.startswith("220 "), f"smtpd neither refused nor greeted: {stdout!r}"
    else:
        _, fatal = _run_until_fatal([str(DAEMON_DIRECTORY / case.program), "-V", "-n", case.program, "-t", "unix",
                                     *overrides], env, b"", 3)
        if fatal == _baseline_fatal(case.program):
            fatal = ""  # the later start-up check it also fails on (process limit): tables accepted
    if not fatal:
        return None
    return fatal.replace(f"{directory}/main.cf", f"{INSTALLED}/main.cf")


INSTALLED = "/etc/postfix"


@functools.lru_cache(maxsize=None)
def _baseline_fatal(program: str) -> str:
    """What a daemon run by hand exits on with the base config, after reading its tables."""
    with tempfile.TemporaryDirectory(prefix="pfcheck-types-") as name:
        directory = Path(name)
        (directory / "main.cf").write_text(_main_cf(None))
        cool_down(directory)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "MAIL_CONFIG": str(directory)}
        return _run_until_fatal([str(DAEMON_DIRECTORY / program), "-V", "-n", program, "-t", "unix"], env, b"", 3)[1]


def run_case(case: Case) -> tuple[Case, Optional[str], Optional[str]]:
    with tempfile.TemporaryDirectory(prefix="pfcheck-types-") as name:
        directory = Path(name)
        (directory / "main.cf").write_text(_main_cf(case))
        (directory / "master.cf").write_text(_master_cf(case))
        ours, theirs = pfcheck_fatal(case, directory), postfix_fatal(case, directory)
        other = _other_program(directory, case)
        if ours is not None and theirs is None and other is not None:
            # A value every program accepts can still break the string default of a parameter
            # only one daemon reads (default_process_limit -> postscreen_pre_queue_limit): ask it.
            theirs = postfix_fatal(Case(case.name, case.value, other, case.via_override, case.extra), directory)
        return case, ours, theirs


def _other_program(directory: Path, case: Case) -> Optional[str]:
    """The one daemon PF000 says exits, when that is not every program."""
    config = load_config_dir(directory, version=VERSION)
    for finding in pf000_config_error.check(RuleContext(config, directory), {}):
        match = re.search(r"is refused: every ([a-z-]+) exits at start-up", finding.message)
        if finding.parameter == case.name and match and (DAEMON_DIRECTORY / match.group(1)).exists():
            return match.group(1)
    return None


def run_all(cases: list[Case]) -> tuple[list[str], int]:
    # Postfix sleeps after a fatal and the probes mostly wait: a few threads, little CPU.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run_case, cases))
    problems = []
    fatal_count = 0
    for case, ours, theirs in results:
        fatal_count += theirs is not None
        if ours != theirs:
            problems.append(f"{case.id}: pfcheck {ours!r}, Postfix {theirs!r}")
    return problems, fatal_count


def _need_daemons() -> None:
    need_postconf()
    if POSTMAP is None or not POSTMAP.exists() or not (DAEMON_DIRECTORY / "smtpd").exists():
        pytest.skip("postmap or the smtpd daemon is not installed")
    if os.geteuid() != 0:
        pytest.skip("running Postfix daemons by hand needs root")


def test_named_cases_agree_with_postfix() -> None:
    _need_daemons()
    problems, fatal_count = run_all(NAMED_CASES)
    assert not problems, "\n".join(problems)
    assert fatal_count >= 20


def test_type_table_agrees_with_postfix() -> None:
    """Every parameter of the 3.7 table that mail_params.c, smtpd or qmgr reads (~1600 inputs,
    ~20 s): PFCHECK_PARAM_TYPES_SAMPLE=N takes N per kind and reader instead."""
    _need_daemons()
    sample = os.environ.get("PFCHECK_PARAM_TYPES_SAMPLE")
    cases = table_cases(int(sample) if sample else None)
    started = time.monotonic()
    problems, fatal_count = run_all(cases)
    print(f"{len(cases)} inputs, {fatal_count} refused by Postfix, {len(problems)} disagreements, "
          f"{time.monotonic() - started:.0f} s")
    assert not problems, "\n".join(problems)
    assert len({case.label.split(":")[0] for case in cases}) >= 8  # every kind is sampled


#: Characters random values are made of: digits, signs, units, spaces, comment marks.
_ALPHABET = "0123456789+- smhdwx#yesnoYESNO$"


def random_cases(count: int, seed: int = 13) -> list[Case]:
    """Random values for random parameters of every kind (same readers as the table test)."""
    rng = random.Random(seed)
    entries = [(case.name, case.program) for case in table_cases(None) if case.label.endswith(":valid")]
    cases = []
    for index in range(count):
        name, program = rng.choice(entries)
        value = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 6))).strip()
        value = re.sub(r"\$", "", value) if index % 2 else value
        cases.append(Case(name, value, program, label=f"random:{index}"))
    return cases


@pytest.mark.slow
def test_random_values_agree_with_postfix() -> None:
    """Optional (~30 s per 2000): PFCHECK_PARAM_TYPES_RANDOM=N random values, seed
    PFCHECK_PARAM_TYPES_SEED (default 13). CI runs the table test only."""
    count = os.environ.get("PFCHECK_PARAM_TYPES_RANDOM")
    if not count:
        pytest.skip("set PFCHECK_PARAM_TYPES_RANDOM=N for N random values (2000 take ~30 s)")
    _need_daemons()
    cases = random_cases(int(count), int(os.environ.get("PFCHECK_PARAM_TYPES_SEED", "13")))
    started = time.monotonic()
    problems, fatal_count = run_all(cases)
    print(f"{len(cases)} random inputs, {fatal_count} refused by Postfix, {len(problems)} disagreements, "
          f"{time.monotonic() - started:.0f} s")
    assert not problems, "\n".join(problems)
