"""Unit tests for pfcheck.postfix.expand.

Every expected result below was observed with real `postconf -c DIR -xh NAME` on
Postfix 3.7.11 (Debian) unless the comment says otherwise; the live differential tests
(tests/live/test_expand_live.py) re-check the same expressions against the installed postconf.
Postfix prints values with whitespace runs collapsed; the exact spacing of the expected
values was observed through the "malformed compatibility level syntax" warning of a probe
parameter `${{$x} <level {}}`, which quotes the exact text. Error offsets are pfcheck's own (Postfix prints no position).
"""
from __future__ import annotations

import time
from typing import Dict, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pfcheck.postfix.expand import (
    MAX_NESTING,
    ExpansionError,
    compat_level_value,
    expand,
    references,
)

HOST = "mx.example.com"


def lookup_in(extra: Optional[Dict[str, str]] = None):
    params = {"myhostname": HOST, "mail_name": "Postfix", "mail_version": "3.7.11"}
    params.update(extra or {})
    return params.get


def run(expression: str, extra: Optional[Dict[str, str]] = None) -> str:
    return expand(expression, lookup_in(extra), name="expr")


def error_of(expression: str, extra: Optional[Dict[str, str]] = None) -> ExpansionError:
    with pytest.raises(ExpansionError) as caught:
        run(expression, extra)
    return caught.value


# --- values that expand ------------------------------------------------------------------

EXPANDS = [
    # observed on 3.7.11 (rules.md §5.2 table and follow-up experiments)
    ("$myhostname", None, HOST),
    ("${myhostname}", None, HOST),
    ("$(myhostname)", None, HOST),
    ("$$myhostname", None, "$myhostname"),
    ("$$$myhostname", None, "$" + HOST),
    ("$$$$", None, "$$"),
    ("a$$", None, "a$"),
    ("A${undefined_xyz}B", None, "AB"),
    ("$MYHOSTNAME", None, ""),
    ("$myhostname-x $myhostname.y $myhostnamez", None, HOST + "-x " + HOST + ".y "),
    ("$myhostname_x", None, ""),
    ("${myhostname}x", None, HOST + "x"),
    ("${myhostname?yes}", None, "yes"),
    ("${myhostname:no}", None, ""),
    ("${undefined_xyz?yes}", None, ""),
    ("${undefined_xyz:fallback}", None, "fallback"),
    ("${myhostname?{ braced value }}", None, " braced value "),  # inside {} kept
    ("${myhostname?{t}:{f}}", None, "t"),
    ("${undefined_xyz?{t}:{f}}", None, "f"),
    ("${myhostname?{t}:f}", None, "t"),
    ("${myhostname?t:f}", None, "t:f"),          # no braces: 2.x literal text
    ("${undefined_xyz?t:f}", None, ""),
    ("${myhostname:{}}", None, ""),
    ("${ myhostname }", None, HOST),
    ("${myhostname }", None, HOST),
    ("${\tmyhostname\t?\t{x}\t}", None, "x"),
    ("${myhostname ? {x} : {y}}", None, "x"),
    ("${myhostname?{x} :{y}}", None, "x"),
    ("${myhostname?{x}: y}", None, "x"),
    ("${myhostname? {x}}", None, "x"),
    ("${undef : {a} }", None, "a"),
    ("${undef :{ a } }", None, " a "),
    ("${undef:a:{b}}", None, "a:{b}"),
    ("${undef:{a}}x", None, "ax"),
    ("${myhostname?x?y}", None, "x?y"),
    ("${myhostname??foo:{b}ar}", None, "?foo:{b}ar"),  # 2.11 compatibility
    ("${undef??foo:{b}ar}", None, ""),
    ("${myhostname?{x}}}", None, "x}"),
    ("${myhostname?{a}:{b}}}}", None, "a}}"),
    ("$(myhostname?x)", None, "x"),
    ("$(myhostname?(x))", None, "(x)"),
    ("${myhostname?(x}", None, "(x"),
    ("$(a) $(a?{x}:{y})", {"a": "1"}, "1 x"),
    ("${a?{x}:{y}} ${a:{x}} ${a?{x}}", {"a": "0"}, "x  x"),  # "0" is non-empty
    ("${myhostname?${undef}}", None, ""),
    ("${myhostname?{$$}}", None, "$"),
    ("${myhostname?$$x}", None, "$x"),
    ("${myhostname?$${x}}", None, "${x}"),
    ("${a:{$$}}", None, "$"),
    # the test looks at the RAW value: a = $b is non-empty even though b is empty
    ("${a?x}", {"a": "$b", "b": ""}, "x"),
    ("${a:x}", {"a": "$b", "b": ""}, ""),
    ("${a?x}", {"a": ""}, ""),
    ("${a?x}", {"a": "$$"}, "x"),
    ("${a?x}", {"a": "${"}, "x"),                  # the raw value is not parsed
    # errors in an untaken branch go unnoticed
    ("${undef?{$}}", None, ""),
    ("${undef?{$}:{ok}}", None, "ok"),
    ("${myhostname?{x}:{$}}", None, "x"),
    # relational expressions
    ("${{$myhostname} == {mx.example.com} ? {eq} : {ne}}", None, "eq"),
    ("${{$myhostname} != {mx.example.com} ? {ne} : {eq}}", None, "eq"),
    ("${{a}=={a}}", None, "true"),
    ("[${{a}=={b}}]", None, "[]"),
    ("${{a} != {b}}", None, "true"),
    ("${{a}!={b}?{ne}}", None, "ne"),
    ("${{a}!={b}:{eq}}", None, ""),
    ("${{x}<={x}}", None, "true"),
    ("${{y}>={x}}", None, "true"),
    ("${{y}>{x}}", None, "true"),
    ("${{y}<{x}}", None, ""),
    ("${{10} < {9} ? {lt} : {ge}}", None, "ge"),       # numeric
    ("${{3.10} < {3.9} ? {lt} : {ge}}", None, "lt"),   # lexicographic
    ("${{010} == {10}}", None, "true"),
    ("${{abc} < {abd}}", None, "true"),
    ("${{B} < {a}}", None, "true"),                    # byte order
    ("${{} == {}}", None, "true"),
    ("${{} < {0}}", None, "true"),
    ("${{9223372036854775807} > {1}}", None, "true"),
    ("${{a} =={b}}", None, ""),
    ("${{$$} == {$$}}", None, "true"),
    ("${{a} == {a} ? yes : no}", None, " yes : no"),   # unbraced: rest of the text
    ("${{a} == {a} ? {yes} : no}", None, "yes"),
    ("${{a} == {b} ? {yes} : no  }", None, " no  "),
    ("${{a} == {b} ? {yes} :  {no}  }", None, "no"),
    ("${{a} == {b} ? {yes} }", None, ""),
    ("${{a} == {b} : {yes} }", None, "yes"),
    ("${ {a}=={a} }", None, "true"),
    ("${ {a}=={a} ?x}", None, "x"),
    ("${{$a} == {1}?{one}:{other}}", {"a": "$b", "b": "1"}, "one"),
    # compatibility levels (3.6+ "level" operators)
    ("${{$compatibility_level} <level {3.6} ? {old} : {new}}", {"compatibility_level": "0"}, "old"),
    ("${{$compatibility_level} <level {3.6} ? {old} : {new}}", {"compatibility_level": "3.6"}, "new"),
    ("${{3.10} <level {3.9} ? {lt} : {ge}}", None, "ge"),
    ("${{3.10} >level {3.9}}", None, "true"),
    ("${{2} ==level {2.0}}", None, "true"),
    ("${{2} ==level {2.0.0}}", None, "true"),
    ("${{3.6.1} >level {3.6}}", None, "true"),
    ("${{ 3.6} ==level {3.6}}", None, "true"),         # strtol() skips leading space
    ("${{+3.6} ==level {3.6}}", None, "true"),
    ("${{3.+6} ==level {3.6}}", None, "true"),
    ("${{3.1023} >level {3.6}}", None, "true"),
    ("${{3.6}<=level{3.6}}", None, "true"),
    ("${{3.6}>=level{3.7}}", None, ""),
    ("${{3.6}!=level{3.6.0}}", None, ""),
    # chains and literals
    ('"quoted $myhostname"', None, '"quoted mx.example.com"'),
    ("$myhostname ESMTP $mail_name ($mail_version)", None, "mx.example.com ESMTP Postfix (3.7.11)"),
    ("$l1", {"l1": "$l2", "l2": "deep $l3", "l3": "$myhostname"}, "deep mx.example.com"),
    # exact spacing, observed through the compatibility-level warning
    ("a  ${myhostname? x }  b", None, "a   x   b"),
]


@pytest.mark.parametrize("expression,extra,expected", EXPANDS,
                         ids=[e[0] for e in EXPANDS])
def test_expands_like_postconf(expression: str, extra: Optional[Dict[str, str]], expected: str) -> None:
    assert run(expression, extra) == expected


# --- errors --------------------------------------------------------------------------------

# (expression, extra parameters, Postfix's first complaint (observed), name, offset)
ERRORS = [
    ("trailing $", None, 'empty macro name: "trailing $"', "expr", 9),
    ("$ loop", None, 'empty macro name: "$ loop"', "expr", 0),
    ("${}|", None, 'empty macro name: "${}|"', "expr", 0),
    ("$()", None, 'empty macro name: "$()"', "expr", 0),
    ("${myhostname", None, 'truncated macro reference: "${myhostname"', "expr", 0),
    ("x ${{a} == {b}", None, 'truncated macro reference: "x ${{a} == {b}"', "expr", 2),
    ("${myhostname?{x}:{y}", None, 'truncated macro reference: "${myhostname?{x}:{y}"', "expr", 0),
    ("${my-hostname}", None, 'attribute name syntax error at: "...my>>>-hostname"', "expr", 4),
    ("${my hostname}", None, 'attribute name syntax error at: "...my>>> hostname"', "expr", 4),
    ("${ myhost name}", None, 'attribute name syntax error at: "... myhost>>> name"', "expr", 9),
    ("${myhost-name?x}", None, 'attribute name syntax error at: "...myhost>>>-name?x"', "expr", 8),
    ("$(a{)", None, 'attribute name syntax error at: "...a>>>{"', "expr", 3),
    ("${{a}} <level {1}}", None,
     '"==" or "!="" or "<"" or "<="" or ">="" or ">" expected at: "...a}>>>"', "expr", 5),
    ("${{a} =< {b}}", None,
     '"==" or "!="" or "<"" or "<="" or ">="" or ">" expected at: "...a}>>>=< {b}"', "expr", 6),
    ("${{a} <>{b}}", None,
     '"==" or "!="" or "<"" or "<="" or ">="" or ">" expected at: "...a}>>><>{b}"', "expr", 6),
    ("${{$a}}", {"a": "1"},
     '"==" or "!="" or "<"" or "<="" or ">="" or ">" expected at: "...$a}>>>"', "expr", 6),
    ("${{a} == b}", None, '"{expression}" expected at: "...{a} ==>>> b"', "expr", 8),
    ("${{a}==_{b}}", None, '"{expression}" expected at: "...{a} ==>>>_{b}"', "expr", 7),
    ("${{a}=={b}x}", None, '"?" or ":" expected at: "...}>>>x"', "expr", 10),
    ("${{3.6}=={3.6}level}", None, '"?" or ":" expected at: "...}>>>level"', "expr", 14),
    ("${{a} <LEVEL {b}}", None, 'bad operator suffix at: "...<>>>LEVEL"', "expr", 7),
    ("${{3.6}==Level{3.6}}", None, 'bad operator suffix at: "...==>>>Level"', "expr", 9),
    ("${{a} ==foo {b}}", None, 'bad operator suffix at: "...==>>>foo"', "expr", 8),
    ("${{a}==1{b}}", None, 'bad operator suffix at: "...==>>>1"', "expr", 7),
    ("${{3.6 } ==level {3.6}}", None, 'malformed compatibility level syntax: "3.6 "', "expr", 3),
    ("${{3.} ==level {3.6}}", None, 'malformed compatibility level syntax: "3."', "expr", 3),
    ("${{3..1} ==level {3.0.1}}", None, 'malformed compatibility level syntax: "3..1"', "expr", 3),
    ("${{-1} ==level {3.6}}", None, 'malformed compatibility level syntax: "-1"', "expr", 3),
    ("${{3.1024} ==level {3.6}}", None, 'malformed compatibility level syntax: "3.1024"', "expr", 3),
    ("${{3.6.1.1} ==level {3.6}}", None, 'malformed compatibility level syntax: "3.6.1.1"', "expr", 3),
    ("${{} ==level {3.6}}", None, 'malformed compatibility level syntax: ""', "expr", 3),
    ("${{x} ==level {3.6}}", None, 'malformed compatibility level syntax: "x"', "expr", 3),
    ("${{3.6} ==level {x}}", None, 'malformed compatibility level syntax: "x"', "expr", 17),
    ("${{ a\t b  }<level{1}}", None, 'malformed compatibility level syntax: " a\t b  "', "expr", 3),
    ("${{99999999999999999999} == {88888888888888888888}}", None,
     "mac_exp_eval: bad conversion: 99999999999999999999", "expr", 3),
    ("${{1} == {88888888888888888888}}", None,
     "mac_exp_eval: bad conversion: 88888888888888888888", "expr", 10),
    ("${{9223372036854775808} > {1}}", None,
     "mac_exp_eval: bad conversion: 9223372036854775808", "expr", 3),
    ("${myhostname?{x}:{y}z}", None, 'unexpected input at: "...y}>>>z"', "expr", 20),
    ("${myhostname?{x}z}", None, '":" expected at: "...x}>>>z"', "expr", 16),
    ("${myhostname?{x}{y}}", None, '":" expected at: "...x}>>>{y}"', "expr", 16),
    ("${myhostname?{x}y:{z}}", None, '":" expected at: "...x}>>>y:{z}"', "expr", 16),
    ("${undef?{x}:{y}:{z}}", None, 'unexpected input at: "...y}>>>:{z}"', "expr", 15),
    ("${myhostname?{x}:{y}{z}}", None, 'unexpected input at: "...y}>>>{z}"', "expr", 20),
    ("${undef:{a}:{b}}", None, 'unexpected input at: "...a}>>>:{b}"', "expr", 11),
    ("${undef:{a}?{b}}", None, 'unexpected input at: "...a}>>>?{b}"', "expr", 11),
    ("$(myhostname?{x)}:{y})", None, 'unbalanced {} in attribute expression: "{x"', "expr", 13),
    ("${undef?{x}:{$}}", None, 'empty macro name: "$"', "expr", 13),
    ("${myhostname?{$}}", None, 'empty macro name: "$"', "expr", 14),
    ("${{$$} == {$}}", None, 'empty macro name: "$"', "expr", 11),
    # errors inside a referenced parameter name that parameter
    ("$a", {"a": "ok ${b"}, 'truncated macro reference: "ok ${b"', "a", 3),
    ("x $a", {"a": "$b", "b": "${{1} ==level {x}}"}, 'malformed compatibility level syntax: "x"', "b", 15),
    # nesting: a $name cycle stops at the 101st level, naming the piece found there
    ("$l1", {"l1": "$l2", "l2": "$l1"}, 'unreasonable macro call nesting: "l2"', "l1", 0),
]


@pytest.mark.parametrize("expression,extra,message,name,offset", ERRORS,
                         ids=[e[0] for e in ERRORS])
def test_errors_like_postconf(expression: str, extra: Optional[Dict[str, str]], message: str,
                              name: str, offset: int) -> None:
    problem = error_of(expression, extra)
    assert (problem.message, problem.name, problem.offset) == (message, name, offset)
    assert str(problem) == message


def test_error_without_a_name_is_attributed_to_none() -> None:
    with pytest.raises(ExpansionError) as caught:
        expand("${x", lambda name: None)
    assert (caught.value.name, caught.value.offset) == (None, 0)


def test_quoted_value_in_messages_is_capped_but_whole_for_short_values() -> None:
    short = error_of("x" * 900 + "${a")
    assert short.message == 'truncated macro reference: "%s${a"' % ("x" * 900)
    long = error_of("x" * 5000 + "${a")
    assert long.message.startswith('truncated macro reference: "xxx')
    assert len(long.message) < 1100 and long.offset == 5000


def test_printf_20_bytes_never_cuts_a_character() -> None:
    # observed: postconf cut at 20 bytes ("x" + 9.5 e-acute) and printed bytes as "?"
    problem = error_of("${{a} == x" + "\u00e9" * 20 + "}")
    assert problem.message == '"{expression}" expected at: "...{a} ==>>> x' + "\u00e9" * 9 + '"'


# --- nesting limit -------------------------------------------------------------------------

def chain(length: int, form: str = "$p{next}", last: str = "end") -> Dict[str, str]:
    params = {"p%d" % i: form.format(next=i + 1) for i in range(length)}
    params["p%d" % length] = last
    return params


def test_nesting_limit_is_exactly_postfix_s() -> None:
    # observed: expr = $p0 and p0 -> p1 -> ... -> pN = "end"
    assert run("$p0", chain(99)) == "end"
    problem = error_of("$p0", chain(100))
    assert (problem.message, problem.name, problem.offset) == (
        'unreasonable macro call nesting: "end"', "p100", 0)
    assert MAX_NESTING == 100
    assert error_of("$p0", chain(101)).message == 'unreasonable macro call nesting: "p101"'
    assert error_of("$p0", chain(102)).message == 'unreasonable macro call nesting: "p101"'


def test_literal_pieces_count_as_a_level() -> None:
    # observed: the literal "x " at level 101 is reported before "$p101"
    assert run("$p0", chain(99, "x $p{next}")).endswith("x end")
    assert error_of("$p0", chain(101, "x $p{next}")).message == 'unreasonable macro call nesting: "x "'


def test_conditional_text_is_one_more_level() -> None:
    form = "${{x?{{$p{next}}}}}"
    assert run("$p0", dict(chain(49, form), x="1")) == "end"
    assert error_of("$p0", dict(chain(50, form), x="1")).message == 'unreasonable macro call nesting: "end"'
    assert error_of("$p0", dict(chain(51, form), x="1")).message == \
        'unreasonable macro call nesting: "x?{$p51}"'


def test_relational_operands_restart_the_level_count() -> None:
    # observed: 200 parameters deep through operands is no nesting error (each operand
    # is a fresh context); p199 is "true", every one below compares "" or "true" to "end"
    params = {"p%d" % i: "${{$p%d} == {end}}" % (i + 1) for i in range(200)}
    params["p200"] = "end"
    assert run("$p199", params) == "true"
    assert run("$p0", params) == ""


# --- unbounded recursion: Postfix crashes (observed SIGSEGV) ------------------------------

@pytest.mark.parametrize("params", [
    {"a": "${{$a}=={x}}"},
    {"a": "${{$b}=={x}}", "b": "$a"},
    {"a": "${{$a}=={y}:{x}}"},
    {"p3": "${{$}=={$p3}}"},          # left operand fails, right one is still expanded
    {"p0": "${{${p0?$}}=={$p0}}"},
])
def test_unbounded_recursion_through_operands_is_reported(params: Dict[str, str]) -> None:
    name = sorted(params)[0]
    problem = error_of("$" + name, params)
    assert "unbounded macro recursion" in problem.message
    assert problem.name in params


def test_cycle_without_operand_is_a_nesting_error_not_a_crash() -> None:
    # observed: `a = ${{x}=={y}:{$a}}` recurses through the ":" text, not an operand
    problem = error_of("$a", {"a": "${{x}=={y}:{$a}}"})
    assert problem.message.startswith("unreasonable macro call nesting")


def test_error_in_left_operand_without_recursion_stays_an_error() -> None:
    assert error_of("${{$}=={x}}").message == 'empty macro name: "$"'


# --- compatibility levels --------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [
    ("0", 0), ("2", 2 << 20), ("2.0", 2 << 20), ("3.6", (3 << 20) | (6 << 10)),
    ("3.6.1", (3 << 20) | (6 << 10) | 1), ("3.10", (3 << 20) | (10 << 10)),
    (" 3.6", (3 << 20) | (6 << 10)), ("+3", 3 << 20), ("-0", 0), ("3.1023", (3 << 20) | (1023 << 10)),
    ("3.6 ", None), ("3.", None), ("3..1", None), ("-1", None), ("3.1024", None),
    ("3.6.1.1", None), ("", None), ("x", None), ("3.x", None), ("1" * 5000, None),
])
def test_compat_level_value(text: str, value: Optional[int]) -> None:
    assert compat_level_value(text) == value


def test_compat_levels_order() -> None:
    assert compat_level_value("3.10") > compat_level_value("3.9")  # type: ignore[operator]
    assert compat_level_value("2") < compat_level_value("3.6")  # type: ignore[operator]
    assert compat_level_value("3.6.1") > compat_level_value("3.6")  # type: ignore[operator]


# --- references() ------------------------------------------------------------------------------

REFERENCES = [
    ("$a ${b} $(c) $$d ${e?x} ${f:y}", {"a", "b", "c", "e", "f"}),
    ("${a?{$b}:{$c}} ${d?$e}", {"a", "b", "c", "d", "e"}),     # both branches
    ("${{$a} == {$b} ? {$c} : {$d}}", {"a", "b", "c", "d"}),   # operands and branches
    ("$a ${b $c", {"a"}),                                      # stops at the first error
    ("${{$} == {$b}} $c", {"b"}),                              # right operand still scanned
    ("${ x } ${?y} $x.y", {"x"}),
    ("$a-b $a_b", {"a", "a_b"}),
    ("no references", set()),
]


@pytest.mark.parametrize("value,names", REFERENCES)
def test_references(value: str, names: set) -> None:
    # the same cases run against postconf's unused/undefined warnings in the live tests
    assert references(value) == names


def test_references_do_not_follow_values() -> None:
    assert references("$a") == {"a"}


# --- properties and size -------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.text())
def test_text_with_escaped_dollars_expands_to_itself(text: str) -> None:
    assert expand(text.replace("$", "$$"), lambda name: None) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab{}()$?: \t=<>", max_size=40))
def test_never_crashes_with_anything_but_expansion_error(value: str) -> None:
    try:
        result = expand(value, {"a": "$b", "b": "x"}.get)
    except ExpansionError as problem:
        assert problem.message
        assert 0 <= problem.offset <= len(value) or problem.name in ("a", "b")
    else:
        assert isinstance(result, str)
    assert isinstance(references(value), set)


def test_ten_megabyte_values_are_linear() -> None:
    params = {"a": "alpha", "b": "$a beta"}
    started = time.monotonic()
    assert len(expand("x" * 10_000_000, params.get)) == 10_000_000
    assert len(expand("$$" * 2_000_000, params.get)) == 2_000_000
    assert len(expand("0123 ${b} " * 200_000, params.get)) == 200_000 * 16
    assert expand("{" * 5_000_000 + "}" * 5_000_000, params.get).startswith("{{")
    with pytest.raises(ExpansionError):
        expand("${" + "{" * 5_000_000, params.get)
    assert time.monotonic() - started < 30


def test_deep_relational_nesting_does_not_use_the_python_stack() -> None:
    # observed: Postfix handles 20000 nested relational operands (result ""), and
    # crashes on its C stack at 40000, which pfcheck does not predict.
    depth = 20000
    assert expand("${{" * depth + "x" + "}=={x}}" * depth, lambda name: None) == ""
    assert expand("${{" * 1 + "x" + "}=={x}}" * 1, lambda name: None) == "true"


def test_exponential_expansions_are_cut_short() -> None:
    # Postfix would grind through 2**40 characters; pfcheck gives up quickly.
    laughs = {"l0": "ha"}
    laughs.update({"l%d" % i: "$l%d$l%d" % (i - 1, i - 1) for i in range(1, 41)})
    started = time.monotonic()
    with pytest.raises(ExpansionError, match="exceeds"):
        expand("$l40", laughs.get)
    empty = {"l0": ""}
    empty.update({"l%d" % i: "$l%d${l%d}" % (i - 1, i - 1) for i in range(1, 41)})
    assert expand("$l40", empty.get) == ""
    assert time.monotonic() - started < 10
