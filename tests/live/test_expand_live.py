"""Differential tests: pfcheck's `$` expansion against real `postconf -c DIR -xh NAME`.

How a verdict is read from postconf:

* exit 0: the printed value. postconf collapses whitespace runs when printing, so that
  comparison is whitespace-normalised; the exact value is checked through a probe.
* exit 1: postconf first scans every main.cf value for references (warnings only,
  also printed by a plain `-h`), then expands and dies. The first line that the `-xh`
  run prints beyond the `-h` run is the expansion's own first complaint; pfcheck must
  raise ExpansionError with that message.
* SIGSEGV: unbounded recursion through relational operands; pfcheck must say so.

The probe `q = ${{$p} <level {}}` makes postconf print the exact expansion of `p` inside
a "malformed compatibility level syntax" warning (spaces kept; tabs and non-ASCII bytes
become "?"). pfcheck expands the probe too, so the probe also exercises the operand's
fresh nesting context.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pfcheck.postfix.expand import ExpansionError, compat_level_value, expand, references
from tests.support.postfix_oracle import PostconfResult, cool_down, need_postconf

pytestmark = pytest.mark.live

HOSTNAME = "mx.example.com"
# A built-in parameter that postconf never needs to expand here; its value names every
# user-defined parameter (in an untaken branch) so that `postconf -xh user_name` accepts them.
ANCHOR = "alternate_config_directories"
UNBOUNDED_RECURSION = "unbounded macro recursion"

Verdict = Tuple[str, str]  # ("ok", normalised value) | ("error", message) | ("crash", "")


def postconf(directory: Path, *args: str) -> PostconfResult:
    """Like postfix_oracle.postconf(), minus the second Postfix sleeps after a fatal
    error (msg_fatal() sleeps 1 s before exiting): once the fatal line has been read
    the verdict is known and our own child process is killed."""
    assert not any("=" in a for a in args), "postconf name=value edits main.cf"
    cool_down(directory)
    process = subprocess.Popen(
        [need_postconf(), "-c", str(directory), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="surrogateescape",
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"},
    )
    assert process.stderr is not None and process.stdout is not None
    stderr_lines = []
    fatal = False
    for line in process.stderr:
        stderr_lines.append(line)
        if ": fatal: " in line:
            fatal = True
            process.kill()
            break
    stdout = process.stdout.read()
    returncode = process.wait(timeout=60)
    process.stdout.close()
    process.stderr.close()
    return PostconfResult(1 if fatal else returncode, stdout, "".join(stderr_lines))


def _normalise_whitespace(text: str) -> str:
    # PCF_SEPARATORS, what postconf collapses when printing a value.
    return " ".join(part for part in re.split(r"[ \t\r\n]+", text) if part)


def _printable(text: str) -> str:
    # msg_output() runs printable(): non-printable ASCII and non-ASCII bytes become "?".
    return "".join(chr(b) if 0x20 <= b < 0x7F else "?"
                   for b in text.encode("utf-8", "surrogateescape"))


def _probe_name(name: str) -> str:
    return "probe_" + name


def _probe_value(name: str) -> str:
    return "${{$%s} <level {}}" % name


def _write_config(directory: Path, params: Dict[str, str], names: List[str]) -> None:
    # Reference every parameter from the anchor: postconf -xh accepts only referenced
    # user-defined names, and "unused parameter" warnings would come after the output.
    anchor = " ".join("$" + n for n in sorted(set(names) | set(params)))
    lines = ["%s = %s" % (k, v) for k, v in params.items()]
    lines.append("%s = ${{a} == {b} ? {%s}}" % (ANCHOR, anchor))
    (directory / "main.cf").write_text("\n".join(lines) + "\n", encoding="utf-8",
                                       errors="surrogateescape")
    # postconf warns about a missing master.cf; an empty one is fine.
    (directory / "master.cf").write_text("", encoding="utf-8")


def _postfix_verdicts(directory: Path, names: List[str]) -> Dict[str, Verdict]:
    baseline = postconf(directory, "-h", ANCHOR)
    assert baseline.returncode == 0, baseline.stderr
    scan_lines = baseline.stderr.splitlines()
    verdicts: Dict[str, Verdict] = {}
    for name in names:
        result = postconf(directory, "-xh", name)
        if result.returncode == -signal.SIGSEGV:
            verdicts[name] = ("crash", "")
            continue
        lines = result.stderr.splitlines()
        # The scan visits main.cf in hash-table order, which varies between runs.
        assert sorted(lines[:len(scan_lines)]) == sorted(scan_lines), (name, baseline.stderr, result.stderr)
        own = [line.split(": ", 1)[1] for line in lines[len(scan_lines):]]
        if result.returncode == 0:
            assert not own, (name, result.stderr)
            verdicts[name] = ("ok", _normalise_whitespace(result.stdout))
            continue
        assert result.returncode == 1, (name, result.returncode, result.stderr)
        assert own and own[-1] == "fatal: macro processing error" or \
            own[0].startswith("fatal: mac_exp_eval: bad conversion"), (name, result.stderr)
        first = own[0].split(": ", 1)[1]
        verdicts[name] = ("error", first)
    return verdicts


def _pfcheck_verdict(params: Dict[str, str], name: str) -> Tuple[Verdict, Optional[str]]:
    """pfcheck's verdict (comparable form) and, when it succeeds, the exact value."""
    try:
        value = expand(params[name], params.get, name=name)
    except ExpansionError as problem:
        if UNBOUNDED_RECURSION in problem.message:
            return ("crash", ""), None
        return ("error", _printable(problem.message)), None
    return ("ok", _normalise_whitespace(value)), value


def _compare(params: Dict[str, str], names: List[str],
             outcomes: Optional[List[str]] = None) -> List[str]:
    """Run both sides on main.cf = params (+ probes); return a list of disagreements.
    `outcomes` collects postconf's verdict kind per asked name."""
    params = dict(params)
    for name in names:
        params[_probe_name(name)] = _probe_value(name)
    asked = [n for name in names for n in (name, _probe_name(name))]
    with tempfile.TemporaryDirectory(prefix="pfcheck-expand-") as tmp:
        directory = Path(tmp)
        _write_config(directory, params, asked)
        postfix = _postfix_verdicts(directory, asked)
    problems = []
    for name in asked:
        ours, _exact = _pfcheck_verdict(params, name)
        if outcomes is not None:
            outcomes.append("%s: postconf %s" % ("probe" if name.startswith("probe_") else "value",
                                                 postfix[name][0]))
        if ours != postfix[name]:
            problems.append("%s = %r: postfix %r, pfcheck %r" % (name, params[name], postfix[name], ours))
    return problems


# --- (a) fixed table of tricky expressions -----------------------------------------

TRICKY: List[Tuple[str, Dict[str, str]]] = [
    ("$myhostname ${myhostname} $(myhostname) $$myhostname $$$myhostname $$$$", {}),
    ("A${undefined_xyz}B $MYHOSTNAME $myhostname-x $myhostname.y $myhostnamez", {}),
    ("${myhostname?yes} [${myhostname:no}] [${undefined_xyz?yes}] ${undefined_xyz:fallback}", {}),
    ("${myhostname?{ braced value }}|${myhostname?{t}:{f}}|${undefined_xyz?{t}:{f}}", {}),
    ("${myhostname?{t}:f}|${myhostname?t:f}|${undefined_xyz?t:f}|${myhostname:{}}|${ myhostname }", {}),
    ("${myhostname? spaced}|${undefined_xyz:  spaced  }|${undefined_xyz? {x} :  tail  }", {}),
    ("${a?x}|${a:x}|${b?x}|${b:x}", {"a": "$b", "b": ""}),
    ("${a?x}|${a:y}", {"a": "$$"}),
    ("${{$myhostname} == {mx.example.com} ? {eq} : {ne}}", {}),
    ("${{$myhostname} != {mx.example.com} ? {ne} : {eq}}", {}),
    ("${{$compatibility_level} <level {3.6} ? {old} : {new}}", {"compatibility_level": "0"}),
    ("${{$compatibility_level} <level {3.6} ? {old} : {new}}", {"compatibility_level": "3.6"}),
    ("${{10} < {9} ? {lt} : {ge}}|${{3.10} < {3.9} ? {lt} : {ge}}|${{3.10} <level {3.9} ? {lt} : {ge}}", {}),
    ("${{a}=={a}}|${{a}=={b}}|${{a} != {b}}|${{x}<={x}}|${{y}>={x}}|${{y}>{x}}|${{y}<{x}}", {}),
    ("${{010} == {10}}|${{B} < {a}}|${{} == {}}|${{} < {0}}|${{9223372036854775807} > {1}}", {}),
    ("${{2} ==level {2.0.0}}|${{3.6.1} >level {3.6}}|${{ 3.6} ==level {+3.6}}|${{3.+6} ==level {3.6}}", {}),
    ("${{3.1023} >level {3.6}}|${{-0} ==level {0}}|${{3.6}<=level{3.6}}|${{3.6}>=level{3.7}}", {}),
    ("${{a} == {a} ? yes : no}|${{a} == {b} ? {yes} : no  }|${{a} == {b} : {yes} }|${ {a}=={a} ?x}", {}),
    ("${myhostname??foo:{b}ar}|${undef??foo:{b}ar}|${myhostname?x?y}|$(myhostname?(x))|${myhostname?(x}", {}),
    ("${myhostname?{x}}}|${myhostname?{a}:{b}}}}|${myhostname?{$$}}|${myhostname?$${x}}|${{$$} == {$$}}", {}),
    ("${undef?{$}}|${undef?{$}:{ok}}|${myhostname?{x}:{$}}|${undef?{${bad}:{ok}", {}),
    ('"quoted $myhostname" $myhostname ESMTP (x)', {}),
    ("$l1", {"l1": "$l2", "l2": "deep $l3", "l3": "$myhostname"}),
    ("${{$a} == {x}}", {"a": "${{$b} == {y} ? {x}}", "b": "y"}),
    # errors
    ("trailing $", {}),
    ("$ loop", {}),
    ("${myhostname", {}),
    ("${my-hostname}", {}),
    ("${my hostname}", {}),
    ("${myhost-name?x}", {}),
    ("${}|", {}),
    ("$()", {}),
    ("$(a{)", {}),
    ("${{a} =< {b}}", {}),
    ("${{a} <>{b}}", {}),
    ("${{a} == b}", {}),
    ("${{a} ==_{b}}", {}),
    ("${{a}=={b}x}", {}),
    ("${{a} <LEVEL {b}}", {}),
    ("${{a} ==1 {b}}", {}),
    ("${{3.6}=={3.6}level}", {}),
    ("${{3.6 } ==level {3.6}}", {}),
    ("${{3.} ==level {3.6}}", {}),
    ("${{3.1024} ==level {3.6}}", {}),
    ("${{3.6.1.1} ==level {3.6}}", {}),
    ("${{3.6} ==level {x}}", {}),
    ("${{99999999999999999999} == {88888888888888888888}}", {}),
    ("${{1} == {9223372036854775808}}", {}),
    ("${myhostname?{x}:{y}z}", {}),
    ("${myhostname?{x}z}", {}),
    ("${myhostname?{x}{y}}", {}),
    ("${undef?{x}:{y}:{z}}", {}),
    ("${undef:{a}?{b}}", {}),
    ("$(myhostname?{x)}:{y})", {}),
    ("${undef?{x}:{$}}", {}),
    ("${{$$} == {$}}", {}),
    ("$l1", {"l1": "$l2", "l2": "$l1"}),
    ("$l1", {"l1": "x $l2", "l2": "y $l1"}),
    ("${x?{$l1}}", {"x": "1", "l1": "${x?{$l1}}"}),
    ("$a", {"a": "${{$a}=={x}}"}),
    ("$a", {"a": "${{$b}=={x}}", "b": "$a"}),
    ("$a", {"a": "${{x}=={y}:{$a}}"}),
]


@pytest.mark.parametrize("expression,extra", TRICKY, ids=[t[0][:40] for t in TRICKY])
def test_tricky_expressions_agree_with_postconf(expression: str, extra: Dict[str, str]) -> None:
    need_postconf()
    # A user-defined name: postconf expands built-in parameters such as smtpd_banner
    # at start-up (legacy DBMS scan), so an error there kills even the `-h` baseline.
    params = {"myhostname": HOSTNAME, "expr": expression}
    params.update(extra)
    names = ["expr"] + sorted(extra)
    assert _compare(params, names) == []


def test_probe_sees_exact_whitespace() -> None:
    """The probe must distinguish space runs, or it would prove nothing."""
    need_postconf()
    params = {"myhostname": HOSTNAME, "p": "a  ${myhostname? x }  b", "q": "a ${myhostname?x} b"}
    with tempfile.TemporaryDirectory(prefix="pfcheck-expand-") as tmp:
        directory = Path(tmp)
        params_with_probes = dict(params, probe_p=_probe_value("p"), probe_q=_probe_value("q"))
        _write_config(directory, params_with_probes, ["p", "q", "probe_p", "probe_q"])
        verdicts = _postfix_verdicts(directory, ["p", "q", "probe_p", "probe_q"])
    assert verdicts["p"] == verdicts["q"] == ("ok", "a x b")
    assert verdicts["probe_p"] == ("error", 'malformed compatibility level syntax: "a   x   b"')
    assert verdicts["probe_q"] == ("error", 'malformed compatibility level syntax: "a x b"')
    assert _compare(params, ["p", "q"]) == []


# --- (b) generated main.cf texts ------------------------------------------------------

DEFINED = ["p0", "p1", "p2", "p3"]
NAME_POOL = DEFINED + ["u0", "u_1", "myhostname", "", "P0", "p-1", " p1 ", "p0 ?"]

_space = st.sampled_from(["", "", " ", "\t", "  "])
_name = st.sampled_from(NAME_POOL)
_literal = st.text(alphabet="ab1 .-{}():?", min_size=1, max_size=4)
_numberish = st.sampled_from(["3.6", "3.10", "3.9", "2", "10", "9", "0", " 3.6", "3.6.1", "x", ""])
_operator = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "<level", "<=level", ">level",
                             ">=level", "==level", "!=level", "=<", "<LEVEL", "==x", ""])
_garbage = st.sampled_from(["$", "${", "$(", "}", "{", ")", "$$", "${}", "$x-"])


def _reference(name: str, form: int, before: str, after: str) -> str:
    if form == 0:
        return "$" + name
    if form == 1:
        return "${%s%s%s}" % (before, name, after)
    return "$(%s%s%s)" % (before, name, after)


def _conditional(name: str, operator: str, shape: int, a: str, b: str, s1: str, s2: str) -> str:
    shapes = [
        "%s%s" % (s1, a),                              # ${n?text}
        "%s{%s}%s" % (s1, a, s2),                      # ${n?{text}}
        "%s{%s}%s:%s{%s}%s" % (s1, a, s2, s1, b, s2),  # ${n?{a}:{b}}
        "{%s}:%s" % (a, b),                            # ${n?{a}:b}
        "{%s}%s" % (a, b),                             # garbage after }
    ]
    return "${%s%s%s%s}" % (name, s1, operator, shapes[shape])


def _relational(left: str, operator: str, right: str, tail: int, a: str, b: str, s: str) -> str:
    tails = ["", "?{%s}" % a, ":{%s}" % a, "?{%s}:{%s}" % (a, b), "?%s" % a, "x", "%s?{%s}%s:%s" % (s, a, s, b)]
    return "${{%s}%s%s%s{%s}%s}" % (left, s, operator, s, right, tails[tail])


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    fragment = st.one_of(inner, st.just(""), _numberish)
    return st.one_of(
        st.builds(_conditional, _name, st.sampled_from(["?", ":"]), st.integers(0, 4),
                  fragment, fragment, _space, _space),
        st.builds(_relational, fragment, _operator, fragment, st.integers(0, 6),
                  fragment, fragment, _space),
        st.lists(inner, min_size=2, max_size=3).map("".join),
    )


_reference_token = st.builds(_reference, _name, st.integers(0, 2), _space, _space)
# Syntax garbage is rarer than the rest so that most values still expand.
_token = st.one_of(_literal, _reference_token, _numberish, _literal, _reference_token,
                   _numberish, _reference_token, _garbage)
_value = st.recursive(_token, _extend, max_leaves=8)


@st.composite
def _configs(draw: st.DrawFn) -> Dict[str, str]:
    params = {"myhostname": HOSTNAME}
    for name in DEFINED[: draw(st.integers(1, len(DEFINED)))]:
        params[name] = draw(st.lists(_value, max_size=3).map("".join)).strip(" \t")
    return params


GENERATED_EXAMPLES = int(os.environ.get("PFCHECK_EXPAND_EXAMPLES", "150"))


@settings(max_examples=GENERATED_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(params=_configs())
def test_generated_configs_agree_with_postconf(params: Dict[str, str]) -> None:
    need_postconf()
    names = [n for n in DEFINED if n in params]
    outcomes: List[str] = []
    assert _compare(params, names, outcomes) == []
    for outcome in sorted(set(outcomes)):
        event(outcome)


# --- references(): postconf's reference scan -------------------------------------------

def _postfix_references(value: str) -> Tuple[set, set]:
    """(defined p* names the value refers to, undefined names it refers to), read from
    postconf's "unused parameter" / "undefined parameter" warnings."""
    params = {name: "x" for name in DEFINED}
    params["holder"] = value
    with tempfile.TemporaryDirectory(prefix="pfcheck-expand-") as tmp:
        directory = Path(tmp)
        (directory / "main.cf").write_text(
            "".join("%s = %s\n" % item for item in params.items()), encoding="utf-8")
        (directory / "master.cf").write_text("", encoding="utf-8")
        result = postconf(directory, "-n")
    assert result.returncode == 0, result.stderr
    unused = set(re.findall(r"unused parameter: (\w+)=", result.stderr))
    undefined = set(re.findall(r"undefined parameter: (\w+)$", result.stderr, re.MULTILINE))
    return set(DEFINED) - unused, undefined


@settings(max_examples=max(GENERATED_EXAMPLES // 3, 10), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(value=st.lists(_value, min_size=1, max_size=3).map("".join).map(lambda v: v.strip(" \t")))
def test_references_agree_with_postconf(value: str) -> None:
    need_postconf()
    found = references(value)
    referenced, undefined = _postfix_references(value)
    assert found & set(DEFINED) == referenced
    assert found - set(DEFINED) - {"myhostname"} == undefined


@pytest.mark.parametrize("value", [
    "$p0 ${p1?{$p2}:{$p3}}",                 # both branches are scanned
    "${{$p0} == {$p1} ? {x}}",               # relational operands are scanned
    "$p0 ${p1 $p2",                          # stops at the first error
    "${{$} == {$p1}} $p2",                   # the right operand is still scanned after the left fails
    "${{$p0} == {$p1}x} $p2",
    "$$p0 $u0 ${?x} ${ p3 }",
])
def test_references_fixed_cases_agree_with_postconf(value: str) -> None:
    need_postconf()
    found = references(value)
    referenced, undefined = _postfix_references(value)
    assert found & set(DEFINED) == referenced
    assert found - set(DEFINED) - {"myhostname"} == undefined


# --- the unit tests' expectations, checked against postconf itself ----------------------

from tests.postfix.test_expand import ERRORS, EXPANDS, REFERENCES, chain  # noqa: E402


def _observe(params: Dict[str, str], name: str) -> Tuple[Verdict, Verdict]:
    """postconf's verdicts for `name` and for its exact-text probe."""
    params = dict(params)
    params[_probe_name(name)] = _probe_value(name)
    asked = [name, _probe_name(name)]
    with tempfile.TemporaryDirectory(prefix="pfcheck-expand-") as tmp:
        directory = Path(tmp)
        _write_config(directory, params, asked)
        verdicts = _postfix_verdicts(directory, asked)
    return verdicts[name], verdicts[_probe_name(name)]


def _probe_message(value: str) -> str:
    # the probe complains about its left operand, or about the empty right one
    # when the value happens to be a valid compatibility level
    return 'malformed compatibility level syntax: "%s"' % (
        _printable(value) if compat_level_value(value) is None else "")


@pytest.mark.parametrize("expression,extra,expected", EXPANDS, ids=[e[0] for e in EXPANDS])
def test_unit_expectation_observed_value(expression: str, extra: Optional[Dict[str, str]],
                                         expected: str) -> None:
    need_postconf()
    params = {"myhostname": HOSTNAME, "expr": expression}
    params.update(extra or {})
    direct, probe = _observe(params, "expr")
    assert direct == ("ok", _normalise_whitespace(expected))
    assert probe == ("error", _probe_message(expected))


@pytest.mark.parametrize("expression,extra,message,name,offset", ERRORS, ids=[e[0] for e in ERRORS])
def test_unit_expectation_observed_error(expression: str, extra: Optional[Dict[str, str]],
                                         message: str, name: str, offset: int) -> None:
    need_postconf()
    params = {"myhostname": HOSTNAME, "expr": expression}
    params.update(extra or {})
    direct, _probe = _observe(params, "expr")
    assert direct == ("error", _printable(message))


@pytest.mark.parametrize("length,form,outcome", [
    (99, "$p{next}", ("ok", "end")),
    (100, "$p{next}", ("error", 'unreasonable macro call nesting: "end"')),
    (101, "$p{next}", ("error", 'unreasonable macro call nesting: "p101"')),
    (101, "x $p{next}", ("error", 'unreasonable macro call nesting: "x "')),
    (49, "${{x?{{$p{next}}}}}", ("ok", "end")),
    (50, "${{x?{{$p{next}}}}}", ("error", 'unreasonable macro call nesting: "end"')),
    (51, "${{x?{{$p{next}}}}}", ("error", 'unreasonable macro call nesting: "x?{$p51}"')),
])
def test_unit_expectation_observed_nesting(length: int, form: str, outcome: Verdict) -> None:
    need_postconf()
    # expr = $p0 as in the unit test: the chain starts one level below the value
    params = dict(chain(length, form), x="1", myhostname=HOSTNAME, expr="$p0")
    direct, _probe = _observe(params, "expr")
    assert direct == outcome
    assert _pfcheck_verdict(params, "expr")[0] == outcome


@pytest.mark.parametrize("params", [
    {"a": "${{$a}=={x}}"},
    {"a": "${{$b}=={x}}", "b": "$a"},
    {"a": "${{$a}=={y}:{x}}"},
    {"p3": "${{$}=={$p3}}"},
    {"p0": "${{${p0?$}}=={$p0}}"},
])
def test_unit_expectation_observed_crash(params: Dict[str, str]) -> None:
    need_postconf()
    name = sorted(params)[0]
    direct, _probe = _observe(dict(params, myhostname=HOSTNAME), name)
    assert direct == ("crash", "")


@pytest.mark.parametrize("value,names", REFERENCES)
def test_unit_expectation_observed_references(value: str, names: set) -> None:
    need_postconf()
    candidates = set(re.findall(r"[A-Za-z0-9_]+", value))
    params = {name: "x" for name in candidates}
    params["holder"] = value
    with tempfile.TemporaryDirectory(prefix="pfcheck-expand-") as tmp:
        directory = Path(tmp)
        (directory / "main.cf").write_text(
            "".join("%s = %s\n" % item for item in params.items()), encoding="utf-8")
        (directory / "master.cf").write_text("", encoding="utf-8")
        result = postconf(directory, "-n")
    unused = set(re.findall(r"unused parameter: (\w+)=", result.stderr))
    assert candidates - unused == names
