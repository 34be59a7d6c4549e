"""Hostile regexp:/pcre: tables: evaluation with a bounded, deterministic cost.

Catastrophic-backtracking patterns, huge repetition counts, very long patterns, deep nesting,
100,000-line tables and `$1` substitutions, each through the CLI in a subprocess (the timeout
is a hang guard, not a speed test): pfcheck answers in seconds with PF302 naming the table
line and the cause, never PF301 on a guess and never a silent pass. Then the static classifier
(pfcheck.postfix.regex_safety) on its own, and its exactness: every shortcut it takes agrees
with Python's re and with Postfix's own regexp: lookups (postmap -q).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfcheck.postfix import regex_safety
from pfcheck.postfix.regex_safety import MAX_MATCH_STEPS, RegexCost, Refused, assess, fold_ascii
from pfcheck.postfix.tables import TableResolver, translate_regex, parse_table_ref
from tests.support.postfix_oracle import cool_down, need_postconf

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD = 60  # seconds; each case takes a few
FLAGS = re.IGNORECASE | re.ASCII
LONG_A = "a" * 30 + "b"  # 2**30 backtracking steps for (a+)+$ in Python's re


def run_pfcheck(directory: Path) -> tuple[int, list[dict], str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8",
           "HOME": str(directory)}
    proc = subprocess.run([sys.executable, "-m", "pfcheck", "--format", "json", str(directory)],
                          cwd=directory, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert "Traceback" not in proc.stderr, proc.stderr
    findings = json.loads(proc.stdout)["findings"] if proc.stdout.strip() else []
    return proc.returncode, findings, proc.stderr


def relay_config(directory: Path, restriction: str, files: dict[str, str],
                 parameter: str = "smtpd_relay_restrictions") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    # With the relay restrictions emptied, the recipient restrictions decide relaying.
    empty_relay = "smtpd_relay_restrictions =\n" if parameter != "smtpd_relay_restrictions" else ""
    (directory / "main.cf").write_text(
        "compatibility_level = 3.6\ndisable_vrfy_command = yes\nmynetworks = 127.0.0.0/8\n" + empty_relay +
        f"{parameter} = permit_mynetworks, {restriction}, reject_unauth_destination\n")
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def relay_findings(directory: Path) -> tuple[list[dict], list[dict]]:
    code, findings, _ = run_pfcheck(directory)
    unproven = [f for f in findings if f["code"] == "PF302"]
    open_relay = [f for f in findings if f["code"] == "PF301"]
    assert code == (1 if unproven or open_relay else 0)
    return unproven, open_relay


# -- through the CLI -----------------------------------------------------------------------------

# (restriction, table type, file name, hostile pattern, cause the finding names). The second
# rule's literal example (a long run of a's) is a candidate HELO/sender/recipient the relay
# evaluator looks up, which reaches the hostile pattern: before, Python's re backtracked for
# hours on it.
HOSTILE = [
    ("check_client_access", "regexp", "client_re", r"/^(a+)+$/", "may backtrack exponentially"),
    ("check_client_access", "regexp", "client_re", r"/(a|aa)*c/", "has alternatives"),
    ("check_helo_access", "pcre", "helo.pcre", r"/^(\w+\s?)*$/", "more than one variable-length part"),
    ("check_helo_access", "regexp", "helo_re", r"/^(a+)+$/", "may backtrack exponentially"),
    ("check_sender_access", "pcre", "sender.pcre", r"/^(a|a)*$/", "has alternatives"),
    ("check_sender_access", "regexp", "sender_re", r"/^([a-z]+)*@example\.com$/", "may backtrack exponentially"),
    ("check_recipient_access", "regexp", "rcpt_re", r"/^(a|aa)*c/", "has alternatives"),
    ("check_recipient_access", "pcre", "rcpt.pcre", r"/^(.*a){12}$/", "may backtrack exponentially"),
]


@pytest.mark.parametrize("parameter", ["smtpd_relay_restrictions", "smtpd_recipient_restrictions"])
@pytest.mark.parametrize("command,table_type,name,pattern,cause", HOSTILE)
def test_hostile_pattern_is_unproven_not_a_hang(tmp_path: Path, parameter: str, command: str, table_type: str,
                                                name: str, pattern: str, cause: str) -> None:
    table = f"{pattern} OK\n/^{LONG_A}$/ REJECT\n/^{LONG_A}@example\\.com$/ REJECT\n"
    directory = relay_config(tmp_path / "cfg", f"{command} {table_type}:/etc/postfix/{name}", {name: table},
                             parameter)
    unproven, open_relay = relay_findings(directory)
    assert not open_relay, open_relay
    assert len(unproven) == 1, unproven
    message = unproven[0]["message"]
    assert f"{table_type}:/etc/postfix/{name}" in message
    assert "line 1:" in message and cause in message and "not evaluated" in message, message


def test_pcre_patterns_an_attacker_can_match_are_not_silently_closed(tmp_path: Path) -> None:
    """A pcre: HELO table was never checked for patterns pfcheck cannot write a HELO for (only
    regexp: was): `/^[a-z]+[0-9]{2}$/ OK` read as closed. An attacker says `HELO ab12`."""
    directory = relay_config(tmp_path / "cfg", "check_helo_access pcre:/etc/postfix/helo.pcre",
                             {"helo.pcre": "/^[a-z]+[0-9]{2}$/ OK\n"})
    unproven, open_relay = relay_findings(directory)
    assert not open_relay
    assert len(unproven) == 1 and "pfcheck cannot construct one" in unproven[0]["message"]


@pytest.mark.parametrize("pattern,cause", [
    ("/a{1000}{1000}/", "a quantifier after a quantifier"),
    ("/(a{1,1000}){1,1000}/", "may backtrack exponentially"),  # glibc: 42 s and 8 GB in postmap -q
    ("/a{40000}/", "repetition count above 32767"),  # glibc: "Regular expression too big"
    ("/(ab){30000}(cd){30000}/", "counted repetitions expand to more than"),
    ("/" + "(" * 5000 + "a" + ")" * 5000 + "/", "nested more than"),  # Python's re: RecursionError
    ("/" + "a" * 5_000_000 + "/", "longer than"),  # Python's re: 12.6 s to compile
    ("/(?:a)/", "not POSIX ERE"),  # glibc refuses it and Postfix skips the rule
    ("/^a*+b/", "a quantifier after a quantifier"),
])
def test_expensive_patterns_are_refused_with_their_cause(tmp_path: Path, pattern: str, cause: str) -> None:
    directory = relay_config(tmp_path / "cfg", "check_client_access regexp:/etc/postfix/client_re",
                             {"client_re": f"{pattern} OK\n"})
    unproven, open_relay = relay_findings(directory)
    assert not open_relay
    assert len(unproven) == 1 and cause in unproven[0]["message"], unproven


def test_table_of_100000_patterns_is_cut_at_the_compile_budget(tmp_path: Path) -> None:
    lines = "".join(f"/^user{i}@(mail|mx)[0-9]+\\.example{i}\\.com$/ REJECT\n" for i in range(100_000))
    directory = relay_config(tmp_path / "cfg", "check_sender_access regexp:/etc/postfix/senders",
                             {"senders": lines})
    unproven, open_relay = relay_findings(directory)
    assert not open_relay
    assert len(unproven) == 1
    assert "characters pfcheck compiles" in unproven[0]["message"]
    line = int(re.search(r"line (\d+):", unproven[0]["message"]).group(1))
    assert 1_000 < line < 100_000


def test_small_table_of_many_patterns_is_evaluated_exactly(tmp_path: Path) -> None:
    """Below the budget, the literal-start shortcut keeps a 20,000-line table cheap and known."""
    lines = "".join(f"/^user{i}@(mail|mx)[0-9]+\\.example{i}\\.com$/ REJECT\n" for i in range(20_000))
    directory = relay_config(tmp_path / "cfg", "check_sender_access regexp:/etc/postfix/senders",
                             {"senders": lines})
    assert relay_findings(directory) == ([], [])


def test_number_substitution_is_unknown_not_expanded(tmp_path: Path) -> None:
    directory = relay_config(tmp_path / "cfg", "check_recipient_access pcre:/etc/postfix/rcpt.pcre",
                             {"rcpt.pcre": "/^(.*)$/ " + "$1" * 5000 + "\n"})
    unproven, open_relay = relay_findings(directory)
    assert not open_relay
    assert len(unproven) == 1 and "$number substitution" in unproven[0]["message"]


def test_example_builder_is_linear_on_pipe_runs(tmp_path: Path) -> None:
    """`(a|||...|\\.)` made the example builder's own regex backtrack exponentially. The pattern
    matches the empty string, so it matches every sender: Postfix says OK (postmap below)."""
    table = "/(a" + "|" * 60 + "\\.)/ OK\n"
    directory = relay_config(tmp_path / "cfg", "check_sender_access regexp:/etc/postfix/senders",
                             {"senders": table})
    unproven, open_relay = relay_findings(directory)
    assert open_relay and not unproven
    answers = postmap(tmp_path / "pm", table, ["probe@attacker.example"])
    assert answers == {"probe@attacker.example": "OK"}


# -- the classifier ------------------------------------------------------------------------------

ACCEPTED = [
    r"^([a-z0-9\-]+\.)+example\.com$", r"(\.[a-z0-9]+)*$", r"^([^.]+\.)*example\.com$", r"^(.*\.)?example\.com$",
    r"^[a-z]+[0-9]{2}@partner\.example$", r"^([0-9]{1,3}\.){3}[0-9]{1,3}$", r"(ab)+", r"^(mail|mx)[0-9]+\.example\.com$",
    r"@partner\.example$", r"^$", r".*", r"a|b|c", r"^(a?b)+$",
]
REFUSED = [
    r"^(a+)+$", r"(a|aa)*c", r"^(\w+\s?)*$", r"(a|a)*", r"(a*)*", r"((ab)*)+", r"(.+\.)+", r"(a{1,1000}){1,1000}",
    r"a*+", r"a{2}{3}", r"(?=a)", r"(?P<n>a)(?P=n)", r"^*", r"[z-a]", r"a{5,2}", "(" * 101 + ")" * 101,
]


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_classifier_accepts(pattern: str) -> None:
    assert isinstance(assess(pattern, pcre=True, flags=FLAGS), RegexCost), pattern


@pytest.mark.parametrize("pattern", REFUSED)
def test_classifier_refuses(pattern: str) -> None:
    assert isinstance(assess(pattern, pcre=True, flags=FLAGS), Refused), pattern


def test_regexp_refuses_extensions_pcre_accepts_non_capturing_groups() -> None:
    assert isinstance(assess("(?:ab)+", pcre=True, flags=FLAGS), RegexCost)
    refused = assess("(?:ab)+", pcre=False, flags=FLAGS)
    assert isinstance(refused, Refused) and "regcomp" in refused.reason


def test_cost_estimate_grows_with_key_length_and_refuses_long_polynomial_runs() -> None:
    cost = assess(".*a.*a.*a.*b", pcre=True, flags=FLAGS)
    assert isinstance(cost, RegexCost)
    assert cost.steps(10) < cost.steps(20)
    assert cost.steps(60) > MAX_MATCH_STEPS  # Python's re: ~60 ms here, hours at a few thousand
    anchored = assess("^[a-z]+@example\\.com$", pcre=True, flags=FLAGS)
    assert isinstance(anchored, RegexCost) and anchored.steps(300) < MAX_MATCH_STEPS


SEPARATOR_PARTS = st.sampled_from(["a", "b", "\\.", "-", "[ab]", "[^a]", "\\d", "\\w", "\\s", ".", "[0-9]", "[a-z]"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SEPARATOR_PARTS, SEPARATOR_PARTS, st.booleans())
def test_disjoint_agrees_with_brute_force(first: str, second: str, fold: bool) -> None:
    flags = (re.IGNORECASE if fold else 0) | re.ASCII
    both = [chr(code) for code in range(0x250)
            if re.fullmatch(first, chr(code), flags) and re.fullmatch(second, chr(code), flags)]
    assert regex_safety._disjoint(first, second, flags) == (not both)


PIECES = st.sampled_from(["a", "b", "c", ".", "x", "@", "\\.", "[ab]", "[^a]", "(", ")", "|", "*", "+", "?",
                          "{2}", "{1,3}", "^", "$", "\\d", "\\w", "(?:", "[a-c]"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, max_size=12).map("".join), st.lists(st.sampled_from("abcxAB@.1"), max_size=10).map("".join),
       st.booleans(), st.booleans())
def test_shortcuts_agree_with_python_re(pattern: str, key: str, fold: bool, pcre: bool) -> None:
    """assess() never raises; when it accepts a pattern Python compiles, the literal-start and
    required-literal shortcuts only ever say "no match" when Python finds none."""
    flags = (re.IGNORECASE if fold else 0) | re.ASCII
    assessment = assess(pattern, pcre=pcre, flags=flags)
    if isinstance(assessment, Refused):
        return
    try:
        compiled = re.compile(pattern, flags)
    except re.error:
        return
    folded = fold_ascii(key) if fold else None
    for anchored in (False, True):
        if assessment.excludes(key, anchored=anchored, folded_key=folded):
            found = compiled.match(key) if anchored else compiled.search(key)
            assert found is None, (pattern, key, anchored)
        prefix, starts = regex_safety.leading_literal(pattern, fold=fold)
        if prefix:
            text = folded if fold else key
            lacks = not (text.startswith(prefix) if starts or anchored else prefix in text)
            if lacks:
                assert (compiled.match(key) if anchored else compiled.search(key)) is None, (pattern, key)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("()[]{}|*+?.^$\\a-1,:?!=<P>")), max_size=40), st.booleans())
def test_translator_and_classifier_never_raise(text: str, pcre: bool) -> None:
    translated = translate_regex(text, pcre=pcre)
    if translated is not None:
        assert isinstance(assess(translated, pcre=pcre, flags=FLAGS), (RegexCost, Refused))


# -- Postfix is the judge ------------------------------------------------------------------------


def postmap(directory: Path, table: str, keys: list[str]) -> dict[str, str]:
    postconf = need_postconf()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.cf").write_text("")
    (directory / "t.regexp").write_text(table)
    cool_down(directory)
    proc = subprocess.run([str(Path(postconf).with_name("postmap")), "-c", str(directory), "-q", "-",
                           f"regexp:{directory / 't.regexp'}"], input="\n".join(keys) + "\n",
                          capture_output=True, text=True, timeout=HANG_GUARD,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})
    return dict(line.partition("\t")[::2] for line in proc.stdout.splitlines())


@pytest.mark.live
def test_evaluated_lookups_agree_with_postmap_and_refused_ones_are_unknown(tmp_path: Path) -> None:
    rules = [
        r"/^(a+)+$/ NESTED", r"/^([a-z0-9-]+\.)+example\.com$/ HOST", r"/^([0-9]{1,3}\.){3}[0-9]{1,3}$/ ADDR",
        r"/(a|aa)*c/ ALT", r"/^[a-z]+[0-9]{2}@partner\.example$/ PARTNER", r"!/^user/ NOTUSER",
        r"/^user[0-9]+@(mail|mx)\.example$/ USER",
    ]
    keys = [LONG_A, "a" * 40, "mx.example.com", "a.b-c.example.com", "192.0.2.1", "ab12@partner.example",
            "user1@mx.example", "userx@mx.example", "cab", "zzz", ""]
    for index in range(len(rules)):
        ordered = rules[index:] + rules[:index]
        table = "\n".join(ordered) + "\n"
        answers = postmap(tmp_path / f"pm{index}", table, keys)
        (tmp_path / f"t{index}").write_text(table)
        resolver = TableResolver(tmp_path, tmp_path)
        loaded = resolver.load(parse_table_ref(f"regexp:/etc/postfix/t{index}"))
        for key in keys:
            result = loaded.lookup(key)
            if result.known:
                assert answers.get(key) == result.value, (ordered, key)
            else:
                assert "not evaluated" in result.note, (ordered, key, result.note)
