"""PF002 (pfcheck.postfix.unused) against real postconf 3.7: the same `unused parameter`
warnings, name for name, for main.cf and master.cf `-o`, on every literal corpus config and on
generated configs (known names, typos, `$`-referenced custom names, restriction classes,
per-service names, DBMS table options, names of other versions).

postconf prints the warnings in hash-table order and without the master.cf service, so the
comparison is a multiset of (file, name). Configs that postconf refuses (a fatal error) are
PF000's business and are not compared. Figures: `-s` prints them.
"""
from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfcheck.postfix import defaults
from pfcheck.postfix.config import load_config_dir
from pfcheck.postfix.source import read_source
from pfcheck.postfix.unused import dbms_client_unused, dbms_suffixes, unused_parameters
from pfcheck.show import show_model
from tests.support.postfix_oracle import need_postconf, parse_postconf_lines, postconf

pytestmark = pytest.mark.live

PACKAGED_MASTER_CF = Path(__file__).resolve().parents[2] / "pfcheck" / "postfix" / "default_master.cf"
GENERATED_EXAMPLES = int(os.environ.get("PFCHECK_UNUSED_EXAMPLES", "120"))


def postconf_unused(directory: Path) -> tuple[int, Counter[tuple[str, str]], str]:
    result = postconf(directory, "-n")
    found: Counter[tuple[str, str]] = Counter()
    prefix = re.escape(str(directory))
    for match in re.finditer(rf"warning: {prefix}/(main\.cf|master\.cf): unused parameter: ([^=\n]*)=", result.stderr):
        found[(match.group(1), match.group(2))] += 1
    return result.returncode, found, result.stderr


def pfcheck_unused(directory: Path) -> Counter[tuple[str, str]]:
    config = load_config_dir(directory, version="3.7")
    return Counter((item.file, item.name) for item in unused_parameters(config))


def compare(directory: Path) -> tuple[Optional[str], int]:
    """(None or the disagreement, number of warnings compared); (None, -1) when postconf fails."""
    code, expected, stderr = postconf_unused(directory)
    if code != 0:
        return None, -1
    mine = pfcheck_unused(directory)
    if mine != expected:
        return f"postconf only: {sorted((expected - mine).elements())}; pfcheck only: {sorted((mine - expected).elements())}", 0
    return None, sum(expected.values())


def _literal_corpus_dirs(corpus: Path) -> list[Path]:
    return [d for d in sorted(p for p in corpus.iterdir() if p.is_dir()) if read_source(d / "main.cf").checkable]


def test_corpus_unused_parameters_agree_with_postconf(corpus_dir: Path, tmp_path: Path) -> None:
    need_postconf()
    problems = []
    configs = warnings = 0
    for source_dir in _literal_corpus_dirs(corpus_dir):
        work = tmp_path / source_dir.name
        work.mkdir()
        shutil.copy(source_dir / "main.cf", work / "main.cf")
        master = source_dir / "master.cf"
        if master.exists() and read_source(master).checkable:
            shutil.copy(master, work / "master.cf")
        else:
            # pfcheck assumes the package's master.cf when there is none; give postconf the same.
            shutil.copy(PACKAGED_MASTER_CF, work / "master.cf")
        problem, count = compare(work)
        if count < 0:
            continue
        configs += 1
        warnings += count
        if problem:
            problems.append(f"{source_dir.name}: {problem}")
        # `pfcheck show`: main lists what postconf -n prints (unused names left out), and
        # warnings are postconf's warnings.
        shown = parse_postconf_lines(postconf(work, "-n").stdout)
        shown.pop("config_directory", None)
        model = show_model(load_config_dir(work, version="3.7"))
        read_only = defaults.read_only_parameters("3.7")
        if set(model["main"]) - read_only != set(shown):
            problems.append(f"{source_dir.name}: show main {sorted(set(model['main']) ^ set(shown))[:5]} vs postconf -n")
        mine = Counter(w["message"].partition("=")[0] for w in model["warnings"])
        if mine != Counter(f"unused parameter: {name}" for _, name in postconf_unused(work)[1].elements()):
            problems.append(f"{source_dir.name}: show warnings {sorted(mine)}")
    print(f"\nPF002 vs postconf on the corpus: {configs} configs, {warnings} unused-parameter warnings, "
          f"{len(problems)} disagreements")
    assert configs >= 50
    assert not problems, "\n".join(problems)


# -- generated configs ----------------------------------------------------------------------

BUILTIN_37 = sorted(defaults.builtin_defaults("3.7"))
OTHER_VERSION_NAMES = sorted(
    (set(defaults.builtin_defaults("3.10")) | set(defaults.builtin_defaults("2.10"))) - set(BUILTIN_37)
)
SERVICE_SUFFIXES = ("_destination_recipient_limit", "_delivery_slot_cost", "_time_limit",
                    "_destination_concurrency_limit", "_transport_rate_delay", "_recipient_limit")
SERVICES = [("smtp", "inet", "smtpd"), ("relay", "unix", "smtp"), ("mytrans", "unix", "pipe"),
            ("local", "unix", "local"), ("sub", "inet", "smtpd"), ("spawner", "unix", "spawn"),
            ("lmtp", "unix", "lmtp"), ("relay", "unix", "smtp")]
CUSTOM = ["mua_client_restrictions", "my_class", "x_a", "x_b", "tab1", "tab2"]
SUFFIXES = sorted(set(dbms_suffixes("3.7")["ldap"]) | set(dbms_suffixes("3.7")["mysql"]))


def _typo(draw: st.DrawFn, name: str) -> str:
    index = draw(st.integers(0, len(name) - 1))
    kind = draw(st.sampled_from(["drop", "double", "swap"]))
    if kind == "drop":
        return name[:index] + name[index + 1:]
    if kind == "double":
        return name[:index] + name[index] + name[index:]
    if index + 1 < len(name):
        return name[:index] + name[index + 1] + name[index] + name[index + 2:]
    return name + "s"


@st.composite
def names(draw: st.DrawFn, services: list[str]) -> str:
    kind = draw(st.sampled_from(["builtin", "typo", "custom", "custom", "service", "dbms", "version", "legacy", "special"]))
    if kind == "builtin":
        return draw(st.sampled_from(BUILTIN_37))
    if kind == "typo":
        return _typo(draw, draw(st.sampled_from(["disable_vrfy_command", "mydestination", "mynetworks",
                                                 "smtpd_relay_restrictions", "relay_domains"])))
    if kind == "custom":
        return draw(st.sampled_from(CUSTOM))
    if kind == "service":
        return draw(st.sampled_from(services + ["nosuch"])) + draw(st.sampled_from(SERVICE_SUFFIXES))
    if kind == "dbms":
        return draw(st.sampled_from(["tab1", "tab2", "tab3"])) + "_" + draw(st.sampled_from(SUFFIXES + ["bogus"]))
    if kind == "special":
        # raw parameters are not scanned; read-only ones are dropped before the check
        return draw(st.sampled_from(["smtpd_reject_footer", "forward_path", "process_name", "service_name"]))
    if kind == "legacy":
        return draw(st.sampled_from(sorted(defaults.legacy_names("3.7"))))
    return draw(st.sampled_from(OTHER_VERSION_NAMES))


@st.composite
def values(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["word", "word", "ref", "cond", "dbms", "class", "odd"]))
    if kind == "odd":
        # other reference forms, and syntax errors (the scan keeps the names before them)
        return draw(st.sampled_from(["$(x_a)", "${x_b}", "$x_a ${x_b", "${x_a?${x_b}", "$$x_a",
                                     "${{$x_a} == {1} ? {$x_b} : {x}}", "{ $x_b }", "${x_a:{ldap:tab3}}"]))
    if kind == "word":
        return draw(st.sampled_from(["yes", "permit", "10.0.0.0/8", "x", ""]))
    if kind == "ref":
        return "$" + draw(st.sampled_from(CUSTOM + ["x_c"])) + draw(st.sampled_from(["", ", permit"]))
    if kind == "cond":
        return "${" + draw(st.sampled_from(CUSTOM)) + "?{$" + draw(st.sampled_from(CUSTOM)) + "}:x}"
    if kind == "dbms":
        table = draw(st.sampled_from(["ldap:tab1", "proxy:mysql:tab2", "pgsql:tab3", "{ldap:tab1}", "hash:tab2"]))
        return f"check_client_access {table}, permit"
    return draw(st.sampled_from(["my_class", "my_class, x_a", "$x_b"]))


@st.composite
def configs(draw: st.DrawFn) -> tuple[str, str]:
    entries = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=4))
    service_names = [name for name, _, _ in entries]
    main_lines = []
    for _ in range(draw(st.integers(1, 8))):
        name = draw(names(service_names))
        value = draw(values())
        if draw(st.integers(0, 9)) == 0:
            name = "smtpd_restriction_classes"
        main_lines.append(f"{name} = {value}")
    master_lines = []
    for service, kind, command in entries:
        options = []
        for _ in range(draw(st.integers(0, 3))):
            name = "smtpd_restriction_classes" if draw(st.integers(0, 9)) == 0 else draw(names(service_names))
            options.append(f"-o {name}={draw(values()).replace(', ', ',').replace(' ', ',')}")
        args = " user=nobody argv=/bin/true" if command == "pipe" else ""
        master_lines.append(f"{service} {kind} n - n - - {command} {' '.join(options)}{args}".rstrip())
    return "\n".join(main_lines) + "\n", "\n".join(master_lines) + "\n"


#: Figures of the generated comparison: configs compared, postconf refusals, warnings matched.
FIGURES = {"compared": 0, "refused": 0, "warnings": 0}


@pytest.fixture(scope="module", autouse=True)
def _print_figures() -> object:
    yield
    if FIGURES["compared"] or FIGURES["refused"]:
        print(f"\nPF002 vs postconf on generated configs: {FIGURES['compared']} compared "
              f"({FIGURES['refused']} refused by postconf, not compared), {FIGURES['warnings']} warnings matched")


@settings(max_examples=GENERATED_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=configs())
def test_generated_unused_parameters_agree_with_postconf(config: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> None:
    need_postconf()
    main, master = config
    work = tmp_path_factory.mktemp("unused")
    (work / "main.cf").write_text(main)
    (work / "master.cf").write_text(master)
    problem, count = compare(work)
    if count < 0:
        FIGURES["refused"] += 1
    elif problem is None:
        FIGURES["compared"] += 1
        FIGURES["warnings"] += count
    assert problem is None, f"{problem}\n--- main.cf ---\n{main}--- master.cf ---\n{master}"


@pytest.mark.parametrize("db_type", sorted(dbms_suffixes("3.7")))
def test_database_client_configurations_agree_with_postconf(db_type: str, tmp_path: Path) -> None:
    """pcf_check_dbms_client(): every option of the client, a near miss and an unknown name;
    `$config_directory` names the file next to main.cf for both (-c DIR / /etc/postfix)."""
    need_postconf()
    options = dbms_suffixes("3.7")[db_type]
    (tmp_path / "main.cf").write_text(
        f"virtual_alias_maps = proxy:{db_type}:$config_directory/client.cf, {db_type}:/nonexistent/x.cf\n"
        f"smtpd_client_restrictions = check_client_access {{{db_type}:$config_directory/client.cf}}\n")
    (tmp_path / "master.cf").write_text("")
    (tmp_path / "client.cf").write_text(
        "".join(f"{name} = 1\n" for name in options) + f"{options[0]}x = 2\nbogus_{db_type} = 3\n")
    result = postconf(tmp_path, "-n")
    expected = sorted(re.findall(rf"warning: {db_type}:{re.escape(str(tmp_path))}/client.cf: unused parameter: ([^=]*)=",
                                 result.stderr))
    config = load_config_dir(tmp_path, version="3.7")
    mine = sorted(item.name for item in dbms_client_unused(
        config, lambda name: tmp_path / name[len("/etc/postfix/"):] if name.startswith("/etc/postfix/") else None))
    assert expected == [f"{options[0]}x", f"bogus_{db_type}"] or not expected
    assert mine == expected, result.stderr
