"""Differential fuzzing of pfcheck against real postconf, on mutated real configs.

A seed is a (main.cf, master.cf) pair from the shared corpus. `mutate()` applies a few random,
Postfix-relevant edits (typos, `# comment` after values, `$name` references, continuation lines,
overrides with and without braces, CRLF, empty values ...). `compare()` then checks one config
directory four ways and reports every disagreement as an `Outcome`:

- `-n`: `pfcheck show --format json` `main.*.value` against `postconf -n`;
- `-nx`: `main.*.expanded` against `postconf -nx` (host facts injected, as pfcheck never reads
  the machine it runs on);
- `-M` / `-P`: `services` (fields, `-o` overrides) against `postconf -M` / `-P`;
- `warnings`: the `unused parameter` warnings against postconf's;
- `lint` / `show`: the CLI itself must never answer with an internal error or hang.

When postconf fails with a fatal error, pfcheck must report an error (`errors` in the model);
when pfcheck reports a fatal reading error, postconf must fail.

Used by `scripts/fuzz_differential.py` (a long run, figures for a closing note) and by
`tests/live/test_fuzz_differential.py` (a short sample in CI).
"""
from __future__ import annotations

import contextlib
import io
import ipaddress
import random
import re
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from pfcheck import cli
from pfcheck.postfix import defaults
from pfcheck.postfix.config import load_config_dir
from pfcheck.postfix.lines import collapse_space
from pfcheck.postfix.param_types import valid_hostname
from pfcheck.postfix.source import read_source
from pfcheck.show import show_model
from tests.support.postfix_oracle import parse_postconf_lines, postconf

#: postconf fatals that depend on the machine it runs on (its interfaces, DNS, /etc/hosts).
HOST_FACT_FATAL = re.compile(r"inet_interfaces: (?:no local interface found for \S+|host not found: (\S+))")

MODES = ("-n", "-nx", "-M", "-P", "warnings", "lint", "show")

#: Names the mutators use: real parameters (some typed), a custom name, one per version era.
KNOWN_NAMES = (
    "myhostname", "mydomain", "myorigin", "mynetworks", "mynetworks_style", "relay_domains",
    "smtpd_banner", "disable_vrfy_command", "smtpd_relay_restrictions", "smtpd_recipient_restrictions",
    "smtpd_client_restrictions", "message_size_limit", "inet_interfaces", "inet_protocols",
    "compatibility_level", "smtpd_tls_security_level", "smtpd_sasl_auth_enable", "alias_maps",
    "transport_maps", "maximal_queue_lifetime", "smtpd_client_ipv6_prefix_length", "my_custom_list",
    "process_name", "smtpd_sasl_path", "smtpd_tls_cert_file", "mail_owner",
)
VALUES = (
    "yes", "no", "0", "10240000", "52428800 # 50MB", "1d", "5x", "-1", "", "all", "loopback-only",
    "127.0.0.1", "192.168.0.0/24", "[::1]/128", "permit_mynetworks, reject_unauth_destination",
    "$myhostname", "${mydomain}", "mx.$mydomain", "${undefined_thing}", "$my_custom_list",
    "${{$compatibility_level} <level {3.6} ? {a} : {b}}", "${relay_domains?{x}}", "${myorigin:y}",
    "hash:/etc/postfix/transport", "localhost # set at runtime", "{MTA_HOSTNAME}", "ipv4", "2",
    "3.6", "2", "may", "encrypt", "permit", "subnet", "host", "class", "bogus",
)


def _typo(name: str, rng: random.Random) -> str:
    if len(name) < 4:
        return name + "x"
    position = rng.randrange(1, len(name) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return name[:position] + name[position + 1:]
    if kind == 1:
        return name[:position] + name[position + 1] + name[position] + name[position + 2:]
    return name[:position] + rng.choice("aeiostn") + name[position:]


def _definition_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if "=" in line and line[:1] not in (" ", "\t", "#")]


Mutator = Callable[[random.Random, list[str]], None]


def _main_typo(rng: random.Random, lines: list[str]) -> None:
    spots = _definition_lines(lines)
    if spots:
        i = rng.choice(spots)
        name, _, rest = lines[i].partition("=")
        lines[i] = _typo(name.strip(), rng) + " =" + rest


def _main_trailing_comment(rng: random.Random, lines: list[str]) -> None:
    spots = _definition_lines(lines)
    if spots:
        i = rng.choice(spots)
        lines[i] = lines[i] + rng.choice(["  # note", " #", "\t# 50MB"])


def _main_set(rng: random.Random, lines: list[str]) -> None:
    separator = rng.choice([" = ", "=", " =", "\t= "])
    line = f"{rng.choice(KNOWN_NAMES)}{separator}{rng.choice(VALUES)}"
    lines.insert(rng.randrange(len(lines) + 1), line)


def _main_reference(rng: random.Random, lines: list[str]) -> None:
    spots = _definition_lines(lines)
    if spots:
        i = rng.choice(spots)
        lines[i] = lines[i] + rng.choice([" $", " ${", " $$", " "]) + rng.choice(KNOWN_NAMES) + rng.choice(["", "}", "x"])


def _main_continuation(rng: random.Random, lines: list[str]) -> None:
    i = rng.randrange(len(lines) + 1)
    lines.insert(i, rng.choice(["  ", "\t", " "]) + rng.choice(["permit", "# indented", "x = y", "", "reject,"]))


def _main_drop(rng: random.Random, lines: list[str]) -> None:
    if lines:
        del lines[rng.randrange(len(lines))]


def _main_duplicate(rng: random.Random, lines: list[str]) -> None:
    if lines:
        i = rng.randrange(len(lines))
        lines.insert(rng.randrange(len(lines) + 1), lines[i])


def _main_odd_line(rng: random.Random, lines: list[str]) -> None:
    lines.insert(rng.randrange(len(lines) + 1), rng.choice([
        "no_equals_here", "= value without name", "name with space = x", "MyHostName = upper",
        "smtpd_banner = a\r", "x = \xe9t\xe9", "# comment\r", "myhostname=", "\t", "{{ jinja }}",
    ]))


def _main_cycle(rng: random.Random, lines: list[str]) -> None:
    a, b = rng.sample(KNOWN_NAMES, 2)
    lines.extend([f"{a} = ${b}", f"{b} = x${a}"] if rng.random() < 0.5 else [f"{a} = ${a}"])


MAIN_MUTATORS: tuple[Mutator, ...] = (
    _main_typo, _main_trailing_comment, _main_set, _main_set, _main_reference, _main_continuation,
    _main_drop, _main_duplicate, _main_odd_line, _main_cycle,
)


def _service_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line[:1] not in ("", " ", "\t", "#")]


def _master_override(rng: random.Random, lines: list[str]) -> None:
    spots = _service_lines(lines)
    if not spots:
        return
    i = rng.choice(spots)
    name, value = rng.choice(KNOWN_NAMES), rng.choice(VALUES) or "x"
    form = rng.choice([
        "-o {n}={v}", "-o {{ {n} = {v} }}", "-o {{{n}={v}}}", "-o {n}=", "-o {{ {n} = {v}",
        "-o {n}=${n}", "-o {n} = {v}", "-o{n}={v}",
    ])
    lines.insert(i + 1, rng.choice(["  ", "\t"]) + form.format(n=name, v=value.replace(" ", "") if "{{" not in form else value))


def _master_field(rng: random.Random, lines: list[str]) -> None:
    spots = _service_lines(lines)
    if not spots:
        return
    i = rng.choice(spots)
    fields = lines[i].split()
    if len(fields) < 8:
        return
    position = rng.randrange(1, 7)
    fields[position] = rng.choice(["y", "n", "-", "?", "0", "100", "100?", "x", "60?", "unix-dgram", "pass"])
    lines[i] = " ".join(fields)


def _master_duplicate(rng: random.Random, lines: list[str]) -> None:
    spots = _service_lines(lines)
    if spots:
        lines.append(lines[rng.choice(spots)])


def _master_new_listener(rng: random.Random, lines: list[str]) -> None:
    name = rng.choice(["2525", "127.0.0.1:10025", "[::1]:587", "submission", "smtps", "0.0.0.0:25", "bad:name:1"])
    lines.append(f"{name} inet n - {rng.choice('yn-')} - - smtpd")


def _master_drop(rng: random.Random, lines: list[str]) -> None:
    if lines:
        del lines[rng.randrange(len(lines))]


MASTER_MUTATORS: tuple[Mutator, ...] = (
    _master_override, _master_override, _master_field, _master_duplicate, _master_new_listener, _master_drop,
)


@dataclass
class Mutant:
    main: str
    master: str
    applied: list[str] = field(default_factory=list)


def mutate(rng: random.Random, main: str, master: str, edits: int = 3) -> Mutant:
    main_lines, master_lines = main.split("\n"), master.split("\n")
    applied = []
    for _ in range(edits):
        if rng.random() < 0.6:
            mutator = rng.choice(MAIN_MUTATORS)
            mutator(rng, main_lines)
        else:
            mutator = rng.choice(MASTER_MUTATORS)
            mutator(rng, master_lines)
        applied.append(mutator.__name__.lstrip("_"))
    return Mutant("\n".join(main_lines), "\n".join(master_lines), applied)


def generated_seed(rng: random.Random) -> tuple[str, str, str]:
    """A small synthetic (name, main.cf, master.cf): known and custom names, typed values,
    references and odd lines, and a master.cf of listeners with overrides."""
    main_lines: list[str] = []
    for _ in range(rng.randint(1, 12)):
        rng.choice((_main_set, _main_set, _main_set, _main_reference, _main_continuation, _main_odd_line, _main_cycle))(rng, main_lines)
    master_lines = ["smtp inet n - n - - smtpd"]
    for _ in range(rng.randint(0, 5)):
        rng.choice((_master_new_listener, _master_override, _master_override, _master_field))(rng, master_lines)
    return "generated", "\n".join(main_lines) + "\n", "\n".join(master_lines) + "\n"


def corpus_seeds(corpus: Path) -> list[tuple[str, str, str]]:
    """(name, main.cf text, master.cf text) of every literal corpus config."""
    seeds = []
    for directory in sorted(p for p in corpus.iterdir() if p.is_dir()):
        main = read_source(directory / "main.cf")
        if not main.checkable:
            continue
        master_path = directory / "master.cf"
        master = read_source(master_path) if master_path.exists() else None
        master_text = master.text if master is not None and master.checkable else ""
        seeds.append((directory.name, main.text, master_text))
    return seeds


@dataclass(frozen=True)
class Outcome:
    mode: str
    agrees: bool
    detail: str = ""

    @property
    def kind(self) -> str:
        """The disagreement's class: its text without names, numbers and quoted values."""
        text = re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "_", self.detail.split("\n")[0])
        return f"{self.mode}: {text[:120]}"


def host_facts(empty: Path) -> dict[str, str]:
    """This machine's host-dependent defaults, as test_show_live injects them."""
    (empty / "main.cf").write_text("")
    (empty / "master.cf").write_text("")
    names = sorted(defaults.HOST_DEPENDENT - {"config_directory", "myhostname", "mydomain", "mynetworks"})
    facts = parse_postconf_lines(postconf(empty, "-d", *names).stdout)
    facts["hostname"] = socket.gethostname()
    facts["mynetworks"] = postconf(empty, "-dh", "mynetworks").stdout.strip() + " "
    return facts


class _Hang(BaseException):  # not caught by the CLI's catch-all
    pass


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    def expired(*_: Any) -> None:
        raise _Hang()
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _cli(argv: list[str], seconds: float) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        with _deadline(seconds), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
    except _Hang:
        return -1, out.getvalue(), f"no answer within {seconds} s"
    return code, out.getvalue(), err.getvalue()


def _crash(mode: str, argv: list[str], seconds: float) -> Outcome:
    code, _, stderr = _cli(argv, seconds)
    if code == -1:
        return Outcome(mode, False, f"hang: {stderr}")
    if "internal error" in stderr or "Traceback" in stderr:
        return Outcome(mode, False, f"internal error: {stderr.strip()[-300:]}")
    return Outcome(mode, True)


class _Unstable(Exception):
    """postconf answers differently from run to run (the order in which it deletes read-only
    assignments from its hash table decides whether a cycle through them is found)."""


def _stable(directory: Path, *args: str) -> Any:
    """postconf's answer when three runs agree; _Unstable otherwise."""
    results = [postconf(directory, *args) for _ in range(3)]
    if len({(r.returncode, r.stdout) for r in results}) > 1:
        raise _Unstable(" ".join(args))
    return results[0]


def _compare_fatal(mode: str, result: Any, model: dict[str, Any]) -> Optional[Outcome]:
    """When postconf failed: pfcheck must report an error. None when postconf succeeded."""
    if result.returncode == 0:
        return None
    if model["errors"]:
        return Outcome(mode, True)
    nesting = re.search(r'unreasonable macro call nesting: "([^"]+)"', result.stderr)
    if mode == "-nx" and nesting and model["main"].get(nesting.group(1), {"expanded": ""})["expanded"] is None:
        # postconf -x expands every name, even ones no program reads: pfcheck fails there too.
        return Outcome(mode, True)
    host_fact = HOST_FACT_FATAL.search(result.stderr)
    if host_fact and (host_fact.group(1) is None or valid_hostname(host_fact.group(1)) is None):
        # Which addresses this machine has and which names it resolves: pfcheck judges the
        # files for the mail host, not for the machine the fuzz run happens to run on.
        return Outcome(mode, True, f"host fact: {host_fact.group(0)}")
    if host_fact and _daemon_interfaces_are_names(model):
        # pcf_mynetworks() expands inet_interfaces from the raw main.cf dictionary, where
        # $mydomain (derived from myhostname) is still empty: "mx.$mydomain" becomes "mx.".
        # The daemons derive mydomain first and look up the real name: a host fact again.
        return Outcome(mode, True, f"host fact (postconf's own expansion): {host_fact.group(0)}")
    return Outcome(mode, False, f"postconf fails, pfcheck reports no error: {result.stderr.strip()[-200:]}")


def _daemon_interfaces_are_names(model: dict[str, Any]) -> bool:
    entry = model["main"].get("inet_interfaces")
    if not entry or "$" not in (entry.get("value") or "") or not entry.get("expanded"):
        return False
    words = [word for word in re.split(r"[\s,]+", entry["expanded"]) if word]
    return bool(words) and all(valid_hostname(word) is None or _is_address(word) for word in words)


def _is_address(word: str) -> bool:
    try:
        ipaddress.ip_address(word.strip("[]"))
    except ValueError:
        return False
    return True


def _compare_values(mode: str, expected: dict[str, str], mine: dict[str, Any], key: str) -> Outcome:
    expected.pop("config_directory", None)
    for name, value in expected.items():
        if "process_id" in value or "postconf" in value:
            continue  # $process_id is the pid of each postconf run
        got = mine.get(name, {}).get(key)
        if got != value:
            return Outcome(mode, False, f"{name}: postconf {value!r}, pfcheck {got!r}")
    extra = sorted(set(mine) - set(expected) - {"config_directory"})
    if extra:
        return Outcome(mode, False, f"pfcheck shows {extra[0]!r}, postconf does not")
    return Outcome(mode, True)


def _compare_services(directory: Path, model: dict[str, Any]) -> list[Outcome]:
    outcomes = []
    listed = _stable(directory, "-M")
    fatal = _compare_fatal("-M", listed, model)
    if fatal is not None:
        return [fatal]
    # postconf -M puts a field with blanks in braces ({ a b }) and prints a service name or
    # command word with blanks as it is: compared as text, blanks collapsed, braces ignored.
    def text(fields: list[str]) -> str:
        return " ".join(re.sub(r"[{}]", " ", " ".join(fields)).split())
    expected = [text([line]) for line in listed.stdout.splitlines() if line.strip()]
    mine = [text([s["name"], s["type"], s["private"], s["unpriv"], s["chroot"], s["wakeup"], s["maxproc"],
                  s["command"], *s["args"]]) for s in model["services"]]
    if mine != expected:
        first = next((i for i, (a, b) in enumerate(zip(expected, mine)) if a != b), min(len(expected), len(mine)))
        outcomes.append(Outcome("-M", False, f"service {first}: postconf {expected[first:first + 1]}, pfcheck {mine[first:first + 1]}"))
    else:
        outcomes.append(Outcome("-M", True))
    params = _stable(directory, "-P")
    expected_params = parse_postconf_lines(params.stdout) if params.returncode == 0 else {}
    mine_params: dict[str, str] = {}
    for service in model["services"]:
        for name, override in service["overrides"].items():
            mine_params[f"{service['name']}/{service['type']}/{name}"] = collapse_space(override["value"])
    if expected_params != mine_params:
        diff = sorted(set(expected_params.items()) ^ set(mine_params.items()))
        outcomes.append(Outcome("-P", False, f"-P differs: {diff[:3]}"))
    else:
        outcomes.append(Outcome("-P", True))
    return outcomes


def _facts_for(directory: Path, facts: dict[str, str]) -> dict[str, str]:
    """The host facts for one directory: the computed mynetworks follows its mynetworks_style
    and this machine's interfaces (postconf -dh only knows the default style)."""
    mine = dict(facts, config_directory=str(directory))
    style = postconf(directory, "-xh", "mynetworks_style")
    if style.returncode == 0 and style.stdout.strip() != "subnet":
        computed = postconf(directory, "-xh", "mynetworks")
        explicit = postconf(directory, "-n", "mynetworks").stdout.strip()
        if computed.returncode == 0 and not explicit:
            mine["mynetworks"] = computed.stdout.strip() + " "
    return mine


def compare(directory: Path, facts: dict[str, str], seconds: float = 20.0) -> list[Outcome]:
    """Every mode's outcome for one config directory."""
    outcomes = [_crash("lint", [str(directory)], seconds),
                _crash("show", ["show", "--format", "json", str(directory)], seconds)]
    try:
        with _deadline(seconds):
            config = load_config_dir(directory, version="3.7", host_facts=_facts_for(directory, facts))
            model = show_model(config)
    except _Hang:
        return outcomes + [Outcome("show", False, f"hang: model not built within {seconds} s")]
    except Exception as error:  # noqa: BLE001 - a crash is a finding of the fuzz run
        return outcomes + [Outcome("show", False, f"internal error: {type(error).__name__}: {error}"[:300])]

    try:
        return outcomes + _compare_with_postconf(directory, model)
    except _Unstable as unstable:
        return outcomes + [Outcome("-n", True, f"postconf unstable: postconf {unstable} differs between runs")]


def _compare_with_postconf(directory: Path, model: dict[str, Any]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    raw = _stable(directory, "-n")
    outcomes.append(_compare_fatal("-n", raw, model)
                    or _compare_values("-n", parse_postconf_lines(raw.stdout), model["main"], "value"))
    postconf_unused = set(re.findall(r"unused parameter: (\S+?)=", raw.stderr))
    mine_unused = {re.sub(r"^.*unused parameter: (\S+?)=.*$", r"\1", w["message"]) for w in model["warnings"]
                   if "unused parameter" in w["message"]}
    if raw.returncode == 0 and postconf_unused != mine_unused:
        outcomes.append(Outcome("warnings", False, f"unused: postconf only {sorted(postconf_unused - mine_unused)[:3]}, pfcheck only {sorted(mine_unused - postconf_unused)[:3]}"))
    elif raw.returncode == 0:
        outcomes.append(Outcome("warnings", True))

    expanded = _stable(directory, "-nx")
    if raw.returncode == 0:
        outcomes.append(_compare_fatal("-nx", expanded, model)
                        or _compare_values("-nx", parse_postconf_lines(expanded.stdout), model["main"], "expanded"))
    outcomes.extend(_compare_services(directory, model))
    return outcomes
