"""Differential tests: pfcheck's reading of main.cf/master.cf against real `postconf`.

For every literal (non-template) config of the shared corpus and for generated texts, the raw
values must equal `postconf -c DIR -n`, the services `postconf -M`, the overrides `postconf -P`;
where postconf dies with a fatal error, pfcheck reports a fatal issue at the same line.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfcheck.postfix.lines import collapse_space
from pfcheck.postfix.maincf import parse_main_cf
from pfcheck.postfix.mastercf import MasterCf, parse_master_cf
from pfcheck.postfix.source import read_source
from tests.support.postfix_oracle import need_postconf, parse_postconf_lines, postconf

pytestmark = pytest.mark.live

FATAL_LINE = re.compile(r"fatal: .*?line (\d+)")


def _unused(stderr: str) -> set[str]:
    return set(re.findall(r"unused parameter: ([^=\s]+)=", stderr))


def compare_main(directory: Path) -> Optional[str]:
    """None when pfcheck agrees with postconf -n on DIR/main.cf, else a description."""
    main = parse_main_cf(read_source(directory / "main.cf"))
    result = postconf(directory, "-n")
    fatal = [i for i in main.issues if i.fatal]
    if result.returncode != 0:
        match = FATAL_LINE.search(result.stderr)
        if not match:
            return f"postconf failed without a line: {result.stderr.strip()[-300:]}"
        if not fatal or fatal[0].line != int(match.group(1)):
            return f"postconf fatal at line {match.group(1)}, pfcheck fatal issues: {[(i.line, i.message) for i in fatal]}"
        return None
    if fatal:
        return f"pfcheck reports fatal {fatal[0]} but postconf accepted the file"
    expected = parse_postconf_lines(result.stdout)
    if "config_directory" not in main.params:
        expected.pop("config_directory", None)
    unused = _unused(result.stderr)
    mine = {name: collapse_space(d.value) for name, d in main.params.items()}
    for name, value in expected.items():
        if mine.get(name) != value:
            return f"{name}: postconf {value!r}, pfcheck {mine.get(name)!r}"
    for name in mine:
        if name not in expected and name not in unused:
            return f"{name}: pfcheck has it, postconf neither prints it nor calls it unused"
    return None


def _postconf_services(directory: Path) -> list[list[str]]:
    result = postconf(directory, "-M")
    assert result.returncode == 0, result.stderr
    # postconf -M prints a value with whitespace as `{name=value}` (pcf_print_master_entry adds
    # the braces only then): one field, braces removed here. `{x}` without blanks is the value.
    return [
        [token[1:-1] if token.startswith("{") and token.endswith("}") and re.search(r"\s", token) else token
         for token in _balanced_fields(line)]
        for line in result.stdout.splitlines() if line.strip()
    ]


def _balanced_fields(line: str) -> list[str]:
    """Whitespace-separated fields, a `{...}` group (nested braces included) being one field."""
    fields: list[str] = []
    current = ""
    depth = 0
    for char in line:
        if char.isspace() and depth == 0:
            if current:
                fields.append(current)
            current = ""
            continue
        depth += (char == "{") - (char == "}" and depth > 0)
        current += char
    if current:
        fields.append(current)
    return fields


def _postconf_params(directory: Path) -> dict[str, str]:
    result = postconf(directory, "-P")
    assert result.returncode == 0, result.stderr
    return parse_postconf_lines(result.stdout)


def compare_master(directory: Path) -> Optional[str]:
    master: MasterCf = parse_master_cf(read_source(directory / "master.cf"))
    fatal = [i for i in master.issues if i.fatal and i.kind in ("bad-field-count", "bad-field")]
    probe = postconf(directory, "-M")
    if probe.returncode != 0:
        match = re.search(r"line (\d+)", probe.stderr)
        if fatal and match and fatal[0].line == int(match.group(1)):
            return None
        if fatal and "invalid" in probe.stderr and fatal[0].message.split(";")[0].split('"')[1] in probe.stderr:
            return None
        return f"postconf -M failed: {probe.stderr.strip()[-300:]}; pfcheck fatal: {fatal}"
    if fatal:
        return f"pfcheck fatal {fatal[0]} but postconf -M accepted master.cf"
    expected_services = _postconf_services(directory)
    mine_services = [s.fields() for s in master.entries]

    def normal(fields: list[str]) -> list[str]:
        return [collapse_space(field) for field in fields]
    if [normal(f) for f in expected_services] != [normal(f) for f in mine_services]:
        return f"services differ:\npostconf {expected_services}\npfcheck  {mine_services}"
    # -P shows, for each entry, the name space "name/type": duplicate entries share it.
    expected_params = _postconf_params(directory)
    namespaces: dict[str, dict[str, str]] = {}
    for service in master.entries:
        space = namespaces.setdefault(service.key, {})
        for override in service.postconf_overrides:
            space[override.name] = collapse_space(override.value)
    mine_params = {f"{key}/{name}": value for key, space in namespaces.items() for name, value in space.items()}
    if expected_params != mine_params:
        diff = set(expected_params.items()) ^ set(mine_params.items())
        return f"-P differs: {sorted(diff)[:6]}"
    return None


def _literal_corpus_dirs(corpus: Path) -> list[Path]:
    dirs = []
    for directory in sorted(p for p in corpus.iterdir() if p.is_dir()):
        main = read_source(directory / "main.cf")
        if main.checkable:
            dirs.append(directory)
    return dirs


def test_corpus_main_cf_agrees_with_postconf_n(corpus_dir: Path, tmp_path: Path) -> None:
    need_postconf()
    disagreements = []
    checked = 0
    for directory in _literal_corpus_dirs(corpus_dir):
        work = tmp_path / directory.name
        work.mkdir()
        shutil.copy(directory / "main.cf", work / "main.cf")
        (work / "master.cf").write_text("")
        problem = compare_main(work)
        checked += 1
        if problem:
            disagreements.append(f"{directory.name}: {problem}")
    assert checked >= 50, "expected the literal part of the corpus"
    assert not disagreements, "\n".join(disagreements)


def test_corpus_master_cf_agrees_with_postconf_m_and_p(corpus_dir: Path, tmp_path: Path) -> None:
    need_postconf()
    disagreements = []
    checked = 0
    for directory in _literal_corpus_dirs(corpus_dir):
        master = directory / "master.cf"
        if not master.exists() or not read_source(master).checkable:
            continue
        work = tmp_path / directory.name
        work.mkdir()
        (work / "main.cf").write_text("")
        shutil.copy(master, work / "master.cf")
        checked += 1
        problem = compare_master(work)
        if problem:
            disagreements.append(f"{directory.name}: {problem}")
    assert checked >= 30
    assert not disagreements, "\n".join(disagreements)


# --- generated texts -----------------------------------------------------------------------

PARAMS = ["smtpd_banner", "mynetworks", "relay_domains", "disable_vrfy_command", "smtpd_relay_restrictions", "myorigin"]
value_chars = st.sampled_from(list("abc ,=#\t/.:") + ["10.0.0.0/8", "yes", "permit", "{x}"])
values = st.lists(value_chars, max_size=8).map("".join)


@st.composite
def main_cf_texts(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(["def", "def", "def", "comment", "blank", "cont", "indented_comment", "noeq", "crlf",
                                     "nul"]))
        name = draw(st.sampled_from(PARAMS))
        if kind == "def":
            sep = draw(st.sampled_from([" = ", "=", "\t=  ", " ="]))
            lines.append(f"{name}{sep}{draw(values)}")
        elif kind == "crlf":
            lines.append(f"{name} = {draw(values)}\r")
        elif kind == "comment":
            lines.append("# " + draw(values))
        elif kind == "blank":
            lines.append(draw(st.sampled_from(["", "  ", "\t"])))
        elif kind == "cont":
            lines.append(draw(st.sampled_from(["  ", "\t"])) + draw(values))
        elif kind == "indented_comment":
            lines.append("   # " + draw(values))
        elif kind == "nul":
            # readllines(): ignored in a comment; elsewhere the logical line ends at the NUL.
            lines.append(draw(st.sampled_from(["# x\0 {{ y }}", f"{name} = a\0b", "\0", f"  c\0{name} = d",
                                               f"{name} =\0"])))
        else:
            lines.append(f"{name} {draw(values)}")
    return "\n".join(lines) + draw(st.sampled_from(["\n", ""]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=main_cf_texts())
def test_generated_main_cf_agrees_with_postconf(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    need_postconf()
    work = tmp_path_factory.mktemp("gen")
    (work / "main.cf").write_text(text)
    (work / "master.cf").write_text("")
    problem = compare_main(work)
    assert problem is None, f"{problem}\n--- main.cf ---\n{text}"


OVERRIDE_FORMS = [
    "-o {name}={value}",
    "-o {{ {name} = {value} }}",
    "-o {name}=",
    "-o{name}={value}",
    "-o {name} = {value}",
    "# note -o {name}={value}",
    "-o {{ {name} = {value}",  # missing '}': postconf warns and reads the rest of the line
    "-o {{ {name} = {value} }}x",  # syntax error after '}'
]


@st.composite
def master_cf_texts(draw: st.DrawFn) -> str:
    lines = []
    for index in range(draw(st.integers(1, 4))):
        service = draw(st.sampled_from(["smtp", "submission", "127.0.0.1:10025", "2525"]))
        lines.append(f"{service} inet n - {draw(st.sampled_from(['y', 'n', '-']))} - - smtpd")
        for _ in range(draw(st.integers(0, 3))):
            form = draw(st.sampled_from(OVERRIDE_FORMS))
            name = draw(st.sampled_from(["smtpd_relay_restrictions", "mynetworks", "syslog_name"]))
            value = draw(st.sampled_from(["permit", "10.0.0.0/8", "a,b", "x"]))
            if "{{" in form and draw(st.booleans()):
                value = "permit_mynetworks, reject"
            prefix = draw(st.sampled_from(["  ", "\t"]))
            lines.append(prefix + form.format(name=name, value=value))
            if draw(st.booleans()):
                lines.append(draw(st.sampled_from(["# comment", "", "  # indented"])))
    return "\n".join(lines) + "\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=master_cf_texts())
def test_generated_master_cf_agrees_with_postconf(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    need_postconf()
    work = tmp_path_factory.mktemp("genm")
    (work / "main.cf").write_text("")
    (work / "master.cf").write_text(text)
    problem = compare_master(work)
    assert problem is None, f"{problem}\n--- master.cf ---\n{text}"
