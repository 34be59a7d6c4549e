"""One test per syntax trap of rules.md §0 and §5: what Postfix does, and that pfcheck agrees.

Each trap is checked on pfcheck's reader (unit level). Where `postconf -c DIR` can show what
Postfix makes of the text, a `live` twin asks it; where only a running daemon can show it
(stray master.cf arguments, `-o` forms), one private Postfix answers for several listeners.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import pytest

from pfcheck.postfix.config import ConfigDir, load_config_dir
from pfcheck.postfix.expand import ExpansionError, expand
from pfcheck.postfix.lines import collapse_space
from pfcheck.postfix.maincf import MainCf, parse_main_cf
from pfcheck.postfix.mastercf import MasterCf, parse_master_cf
from pfcheck.postfix.source import decode
from tests.support.postfix_oracle import parse_postconf_lines, postconf

MAIN = Path("main.cf")
MASTER = Path("master.cf")


def main_cf(text: str) -> MainCf:
    return parse_main_cf(decode(MAIN, text.encode("utf-8")))


def master_cf(text: str) -> MasterCf:
    return parse_master_cf(decode(MASTER, text.encode("utf-8")))


def write_config(directory: Path, main: str, master: Optional[str] = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.cf").write_bytes(main.encode("utf-8"))
    if master is not None:
        (directory / "master.cf").write_bytes(master.encode("utf-8"))
    return directory


def config(directory: Path, main: str, master: Optional[str] = None) -> ConfigDir:
    return load_config_dir(write_config(directory, main, master))


def kinds(issues: list) -> list[tuple[str, int, bool]]:
    return [(issue.kind, issue.line, issue.fatal) for issue in issues]


def postconf_value(directory: Path, name: str, *flags: str) -> str:
    result = postconf(directory, "-h", *flags, name)
    assert result.returncode == 0, result.stderr
    return result.stdout.rstrip("\n")


def postconf_overrides(directory: Path) -> dict[str, str]:
    result = postconf(directory, "-P")
    assert result.returncode == 0, result.stderr
    return parse_postconf_lines(result.stdout)


# --------------------------------------------------------------------------------------------
# main.cf: logical lines


COMMENT_TRAP = "compatibility_level = 3.6\ndisable_vrfy_command = yes # no VRFY\n"


def test_trailing_comment_is_part_of_the_value() -> None:
    parsed = main_cf(COMMENT_TRAP)
    assert parsed.params["disable_vrfy_command"].value == "yes # no VRFY"
    assert parsed.params["disable_vrfy_command"].line == 2
    assert parsed.issues == []


def test_trailing_comment_makes_a_bad_boolean(tmp_path: Path) -> None:
    from pfcheck.rules import pf000_config_error
    from pfcheck.rules.base import RuleContext

    ctx = RuleContext(config(tmp_path, COMMENT_TRAP), tmp_path)
    findings = list(pf000_config_error.check(ctx, {}))
    assert [(f.line, f.parameter, f.actual) for f in findings] == [(2, "disable_vrfy_command", "yes # no VRFY")]
    assert "bad boolean configuration" in findings[0].message


@pytest.mark.live
def test_trailing_comment_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, COMMENT_TRAP)
    assert postconf_value(directory, "disable_vrfy_command") == "yes # no VRFY"


COMMENT_IN_CONTINUATION = (
    "smtpd_relay_restrictions = permit_mynetworks,\n"
    "# a comment line\n"
    "    reject_unauth_destination\n"
    "  # indented comment\n"
    "\tpermit\n"
)


def test_comment_lines_do_not_end_a_continuation() -> None:
    parsed = main_cf(COMMENT_IN_CONTINUATION)
    definition = parsed.params["smtpd_relay_restrictions"]
    # Joined with no separator: each continuation's own leading whitespace separates.
    assert definition.value == "permit_mynetworks,    reject_unauth_destination\tpermit"
    assert (definition.line, definition.value_line, definition.value_column) == (1, 1, 28)
    assert len(parsed.definitions) == 1 and parsed.issues == []


@pytest.mark.live
def test_comment_in_continuation_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, COMMENT_IN_CONTINUATION)
    expected = collapse_space(main_cf(COMMENT_IN_CONTINUATION).params["smtpd_relay_restrictions"].value)
    assert postconf_value(directory, "smtpd_relay_restrictions", "-n") == expected


BLANK_IN_CONTINUATION = "mynetworks = 127.0.0.0/8,\n\n   \n    10.0.0.0/8\ncompatibility_level = 3.6\n"


def test_blank_lines_do_not_end_a_continuation() -> None:
    parsed = main_cf(BLANK_IN_CONTINUATION)
    assert parsed.params["mynetworks"].value == "127.0.0.0/8,    10.0.0.0/8"
    assert parsed.params["compatibility_level"].line == 5


@pytest.mark.live
def test_blank_in_continuation_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, BLANK_IN_CONTINUATION)
    assert postconf_value(directory, "mynetworks", "-n") == "127.0.0.0/8, 10.0.0.0/8"


INDENTED_FIRST = "   disable_vrfy_command = yes\ncompatibility_level = 3.6\n"


def test_indented_first_line_is_ignored() -> None:
    parsed = main_cf(INDENTED_FIRST)
    assert "disable_vrfy_command" not in parsed.params
    assert kinds(parsed.issues) == [("orphan-line", 1, False)]
    assert "must not start with whitespace" in parsed.issues[0].message


def test_indented_first_line_leaves_the_default(tmp_path: Path) -> None:
    value = config(tmp_path, INDENTED_FIRST).global_scope.get("disable_vrfy_command")
    assert value.origin.is_default and value.expanded == "no"


@pytest.mark.live
def test_indented_first_line_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, INDENTED_FIRST)
    result = postconf(directory, "-n")
    assert result.returncode == 0
    assert "disable_vrfy_command" not in result.stdout
    assert "logical line must not start with whitespace" in result.stderr


MISSING_EQUALS = "compatibility_level = 3.6\n# comment\ndisable_vrfy_command yes\nmynetworks = 127.0.0.0/8\n"


def test_missing_equals_is_fatal_at_its_line() -> None:
    parsed = main_cf(MISSING_EQUALS)
    assert kinds(parsed.issues) == [("missing-equals", 3, True)]
    assert "missing '=' after attribute name" in parsed.issues[0].message
    # The rest of the file is still read (so later problems are reported too).
    assert "mynetworks" in parsed.params


@pytest.mark.live
def test_missing_equals_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, MISSING_EQUALS)
    result = postconf(directory, "-n")
    assert result.returncode != 0
    assert re.search(r"line 3: missing '=' after attribute name", result.stderr), result.stderr


DUPLICATE = (
    "compatibility_level = 3.6\n"
    "disable_vrfy_command = yes\n"
    "mynetworks = 127.0.0.0/8\n"
    "disable_vrfy_command = no\n"
    "mynetworks = 127.0.0.0/8\n"
)


def test_duplicate_last_wins_and_both_lines_are_kept() -> None:
    parsed = main_cf(DUPLICATE)
    assert parsed.params["disable_vrfy_command"].value == "no"
    assert parsed.params["disable_vrfy_command"].line == 4
    assert [d.line for d in parsed.history("disable_vrfy_command")] == [2, 4]
    assert [d.value for d in parsed.history("disable_vrfy_command")] == ["yes", "no"]
    # Postfix warns only when the value changes.
    assert kinds(parsed.issues) == [("duplicate", 4, False)]
    assert "overriding earlier entry at line 2" in parsed.issues[0].message


@pytest.mark.live
def test_duplicate_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, DUPLICATE)
    assert postconf_value(directory, "disable_vrfy_command") == "no"
    result = postconf(directory, "-n")
    assert re.search(r"line 4: overriding earlier entry: disable_vrfy_command=yes", result.stderr), result.stderr
    assert "mynetworks" not in result.stderr


CRLF = "inet_interfaces = loopback-only\r\nmynetworks = 127.0.0.0/8,\r\n  10.0.0.0/8\r\n"


def test_crlf_trims_the_last_cr_and_keeps_inner_ones() -> None:
    source = decode(MAIN, CRLF.encode())
    assert source.crlf_line == 1
    parsed = parse_main_cf(source)
    assert parsed.params["inet_interfaces"].value == "loopback-only"
    # Only \n ends a physical line: the CR before it stays inside a continued value.
    assert parsed.params["mynetworks"].value == "127.0.0.0/8,\r  10.0.0.0/8"


@pytest.mark.live
def test_crlf_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, CRLF)
    assert postconf_value(directory, "inet_interfaces") == "loopback-only"
    assert postconf_value(directory, "mynetworks", "-n") == "127.0.0.0/8, 10.0.0.0/8"


# --------------------------------------------------------------------------------------------
# main.cf: $ expansion

HOST = {"myhostname": "mx.example.com"}


def test_name_stops_at_first_non_word_character() -> None:
    value = expand("$myhostname-x $myhostname.y $myhostnamez", HOST.get)
    assert value == "mx.example.com-x mx.example.com.y "


def test_names_are_case_sensitive_and_dollar_dollar_is_literal() -> None:
    assert expand("[$MYHOSTNAME] $$myhostname", HOST.get) == "[] $myhostname"


def test_conditional_without_braces_is_literal() -> None:
    assert expand("${myhostname?t:f}", HOST.get) == "t:f"
    assert expand("${undefined_xyz?t:f}", HOST.get) == ""
    assert expand("${myhostname?{t}:{f}}", HOST.get) == "t"
    assert expand("${undefined_xyz?{t}:{f}}", HOST.get) == "f"


EXPANSIONS = (
    "myhostname = mx.example.com\n"
    "smtpd_banner = $myhostname-x $myhostname.y $myhostnamez\n"
    "default_rbl_reply = x\n"
    "bounce_notice_recipient = ${myhostname?t:f}|${undefined_xyz?t:f}|[$MYHOSTNAME]|$$myhostname\n"
)


@pytest.mark.live
def test_expansions_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, EXPANSIONS)
    assert postconf_value(directory, "smtpd_banner", "-x") == "mx.example.com-x mx.example.com.y"
    assert postconf_value(directory, "bounce_notice_recipient", "-x") == "t:f||[]|$myhostname"


RECURSION = "compatibility_level = 3.6\nsmtpd_banner = $l1 ESMTP\nl1 = $l2\nl2 = $l1\n"


def test_recursion_is_an_error_located_at_the_line(tmp_path: Path) -> None:
    with pytest.raises(ExpansionError, match="unreasonable macro call nesting"):
        expand("$l1", {"l1": "$l2", "l2": "$l1"}.get)
    value = config(tmp_path, RECURSION).global_scope.get("smtpd_banner")
    assert value.error is not None and value.origin.line == 2


def test_recursion_is_reported_once_per_line(tmp_path: Path) -> None:
    from pfcheck.rules import pf000_config_error
    from pfcheck.rules.base import RuleContext

    ctx = RuleContext(config(tmp_path, RECURSION), tmp_path)
    lines = sorted(f.line for f in pf000_config_error.check(ctx, {}))
    # smtpd dies reading smtpd_banner; no program expands l1 or l2 on their own (postmap is fine
    # with the two alone, tests/postfix/test_hostile_expand.py).
    assert lines == [2]


@pytest.mark.live
def test_recursion_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, RECURSION)
    result = postconf(directory, "-xh", "smtpd_banner")
    assert result.returncode != 0
    assert "unreasonable macro call nesting" in result.stderr


UNTERMINATED = "compatibility_level = 3.6\nsmtpd_banner = ${myhostname ESMTP\n"


def test_unterminated_brace_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ExpansionError):
        expand("${myhostname", HOST.get)
    value = config(tmp_path, UNTERMINATED).global_scope.get("smtpd_banner")
    assert value.error is not None and value.origin.line == 2 and value.expanded == ""


@pytest.mark.live
def test_unterminated_brace_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, UNTERMINATED)
    result = postconf(directory, "-xh", "smtpd_banner")
    assert result.returncode != 0
    assert "truncated macro reference" in result.stderr


def test_no_compatibility_level_means_level_0(tmp_path: Path) -> None:
    legacy = config(tmp_path / "legacy", "smtpd_banner = $myhostname ESMTP\n").global_scope
    assert legacy.compatibility_level() == "0"
    assert legacy.value("mynetworks_style") == "subnet"
    assert legacy.value("smtpd_relay_restrictions") == ""
    current = config(tmp_path / "current", "compatibility_level = 3.6\n").global_scope
    assert current.value("mynetworks_style") == "host"
    assert current.value("smtpd_relay_restrictions").startswith("permit_mynetworks")


@pytest.mark.live
def test_no_compatibility_level_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, "smtpd_banner = $myhostname ESMTP\n")
    assert postconf_value(directory, "mynetworks_style", "-x") == "subnet"
    assert postconf_value(directory, "smtpd_relay_restrictions", "-x") == ""


def test_main_cf_macro_sees_the_services_override(tmp_path: Path) -> None:
    """The daemon overlays -o values before it expands, so main.cf `$x` sees `-o x=...`."""
    conf = config(
        tmp_path,
        "compatibility_level = 3.6\nvrfy = no\ndisable_vrfy_command = $vrfy\n",
        "smtp inet n - y - - smtpd -o vrfy=yes\nsubmission inet n - y - - smtpd\n",
    )
    values = {l.key: l.scope.value("disable_vrfy_command") for l in conf.listeners()}
    assert values == {"smtp/inet": "yes", "submission/inet": "no"}


# --------------------------------------------------------------------------------------------
# master.cf


def test_braced_override_keeps_inner_whitespace() -> None:
    parsed = master_cf(
        "submission inet n - y - - smtpd\n"
        "  -o { smtpd_client_restrictions = permit_sasl_authenticated,  reject }\n"
    )
    (service,) = parsed.entries
    assert [(o.name, o.value, o.line) for o in service.overrides] == [
        ("smtpd_client_restrictions", "permit_sasl_authenticated,  reject", 2)
    ]
    assert parsed.issues == []


HASH_IN_ARGS = (
    "smtp inet n - y - - smtpd # public listener\n"
    "  -o disable_vrfy_command=yes\n"
    "submission inet n - y - - smtpd\n"
    "# comment inside continuation\n"
    "  -o disable_vrfy_command=yes\n"
)


def test_hash_in_master_cf_is_an_argument_and_loses_later_options() -> None:
    parsed = master_cf(HASH_IN_ARGS)
    smtp, submission = parsed.entries
    assert smtp.overrides == []
    assert [t.text for t in smtp.stray_args] == ["#", "public", "listener", "-o", "disable_vrfy_command=yes"]
    assert kinds(parsed.issues) == [("stray-argument", 1, True)]
    assert "unexpected command-line argument: #" in parsed.issues[0].message
    # A whole-line comment inside a continuation is skipped; the service goes on.
    assert [(o.name, o.value) for o in submission.overrides] == [("disable_vrfy_command", "yes")]


@pytest.mark.live
def test_hash_in_master_cf_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, "compatibility_level = 3.6\n", HASH_IN_ARGS)
    assert postconf_overrides(directory) == {"submission/inet/disable_vrfy_command": "yes"}


SPACED_EQUALS = "2526 inet n - y - - smtpd -o smtpd_relay_restrictions = permit\n"


def test_spaced_equals_is_not_an_override() -> None:
    parsed = master_cf(SPACED_EQUALS)
    assert parsed.entries[0].overrides == []
    assert sorted(kinds(parsed.issues)) == [("bad-override", 1, True), ("stray-argument", 1, True)]


@pytest.mark.live
def test_spaced_equals_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, "compatibility_level = 3.6\n", SPACED_EQUALS)
    assert postconf_overrides(directory) == {}


def test_brace_without_space_after_o_is_no_override() -> None:
    """`-o{name=value}` reaches smtpd as `-o` `{name=value}` (master extracts only words that
    start with `{`): smtpd sets a parameter called `{name`, i.e. nothing, and starts normally."""
    parsed = master_cf("smtp inet n - y - - smtpd -o{disable_vrfy_command=yes}\n")
    assert "disable_vrfy_command" not in parsed.entries[0].override_map()
    assert [i for i in parsed.issues if i.fatal] == [], "smtpd does not exit on -o{name=value}"


def test_brace_without_space_and_inner_blanks_is_fatal() -> None:
    parsed = master_cf("smtp inet n - y - - smtpd -o{ disable_vrfy_command = yes }\n")
    assert "disable_vrfy_command" not in parsed.entries[0].override_map()
    assert any(i.fatal for i in parsed.issues)


def test_attached_override_value_applies() -> None:
    """getopt gives `-oname=value` the optarg `name=value`: the daemon applies it (postconf -P
    mis-splits it at the next letter o, but smtpd does not)."""
    parsed = master_cf("smtp inet n - y - - smtpd -odisable_vrfy_command=yes\n")
    assert [(o.name, o.value) for o in parsed.entries[0].overrides] == [("disable_vrfy_command", "yes")]
    # Not fatal, but postconf -P shows something else than smtpd applies: a PF001 warning.
    assert [(i.kind, i.fatal) for i in parsed.issues] == [("override-mismatch", False)]


BACKSLASH = "smtp inet n - y - - smtpd -o smtpd_banner=$myhostname\\ ESMTP\n"


def test_backslash_is_not_an_escape() -> None:
    parsed = master_cf(BACKSLASH)
    (service,) = parsed.entries
    assert [(o.name, o.value) for o in service.overrides] == [("smtpd_banner", "$myhostname\\")]
    assert [t.text for t in service.stray_args] == ["ESMTP"]
    assert kinds(parsed.issues) == [("stray-argument", 1, True)]


@pytest.mark.live
def test_backslash_live(tmp_path: Path) -> None:
    directory = write_config(tmp_path, "compatibility_level = 3.6\n", BACKSLASH)
    assert postconf_overrides(directory) == {"smtp/inet/smtpd_banner": "$myhostname\\"}


DUPLICATE_SERVICE = (
    "smtp inet n - y - - smtpd -o disable_vrfy_command=no\n"
    "smtp unix - - y - - smtp\n"
    "smtp inet n - y - - smtpd -o disable_vrfy_command=yes\n"
)


def test_duplicate_service_last_wins(tmp_path: Path) -> None:
    parsed = master_cf(DUPLICATE_SERVICE)
    assert [s.line for s in parsed.services] == [2, 3]
    assert kinds(parsed.issues) == [("duplicate-service", 3, False)]
    conf = config(tmp_path, "compatibility_level = 3.6\n", DUPLICATE_SERVICE)
    assert [(l.key, l.scope.value("disable_vrfy_command")) for l in conf.listeners()] == [("smtp/inet", "yes")]


def test_host_port_ignores_inet_interfaces(tmp_path: Path) -> None:
    conf = config(
        tmp_path,
        "compatibility_level = 3.6\ninet_interfaces = loopback-only\n",
        "smtp inet n - y - - smtpd\n"
        "0.0.0.0:2525 inet n - y - - smtpd\n"
        "[::]:2526 inet n - y - - smtpd\n"
        "127.0.0.1:10025 inet n - n - - smtpd\n"
        "[::1]:10026 inet n - n - - smtpd\n",
    )
    remote = {l.key: l.remote for l in conf.listeners()}
    assert remote == {
        "smtp/inet": False, "0.0.0.0:2525/inet": True, "[::]:2526/inet": True,
        "127.0.0.1:10025/inet": False, "[::1]:10026/inet": False,
    }


# --------------------------------------------------------------------------------------------
# What smtpd itself does with the master.cf argument traps (one private Postfix per trap: master
# throttles a crashing service, which blurs whose fatal is whose when several crash at once)

#: listener: (master.cf text, smtpd exits at start-up, VRFY disabled when it runs)
DAEMON_TRAPS = {
    "hash-comment": ("2601 inet n - n - - smtpd # note\n  -o disable_vrfy_command=yes\n", True, None),
    "spaced-equals": ("2601 inet n - n - - smtpd -o disable_vrfy_command = yes\n", True, None),
    "backslash": ("2601 inet n - n - - smtpd -o smtpd_banner=$myhostname\\ ESMTP\n", True, None),
    "brace-attached": ("2601 inet n - n - - smtpd -o{disable_vrfy_command=yes}\n", False, False),
    "brace-attached-blanks": ("2601 inet n - n - - smtpd -o{ disable_vrfy_command = yes }\n", True, None),
    "brace-spaced": ("2601 inet n - n - - smtpd -o { disable_vrfy_command = yes }\n", False, True),
    "attached-value": ("2601 inet n - n - - smtpd -odisable_vrfy_command=yes\n", False, True),
}
TRAP_MAIN = "compatibility_level = 3.6\nmynetworks = 127.0.0.0/8\n"


def pfcheck_verdict(directory: Path, master_text: str) -> tuple[bool, Optional[bool]]:
    """(smtpd exits at start-up, VRFY disabled) for listener 2601, as pfcheck reads it."""
    conf = config(directory, TRAP_MAIN, master_text)
    (listener,) = [l for l in conf.listeners() if l.service.name == "2601"]
    first, last = listener.service.line, listener.service.line + master_text.count("\n")
    dies = any(issue.fatal and first <= issue.line <= last for issue in conf.master.issues)
    return dies, None if dies else listener.scope.value("disable_vrfy_command") == "yes"


@pytest.mark.parametrize("trap", sorted(DAEMON_TRAPS))
def test_master_cf_argument_trap(trap: str, tmp_path: Path) -> None:
    text, dies, disabled = DAEMON_TRAPS[trap]
    master = Path(__file__).resolve().parents[2] / "pfcheck" / "postfix" / "default_master.cf"
    assert pfcheck_verdict(tmp_path, master.read_text() + text) == (dies, disabled)


@pytest.mark.live
@pytest.mark.parametrize("trap", sorted(DAEMON_TRAPS))
def test_master_cf_argument_trap_live(trap: str) -> None:
    """The table above is what smtpd does (the package default master.cf plus the listener)."""
    from tests.support.live_postfix import DISABLED, REFUSED_STARTUP, LivePostfix, need_live_postfix

    need_live_postfix()
    text, dies, disabled = DAEMON_TRAPS[trap]
    master = Path(__file__).resolve().parents[2] / "pfcheck" / "postfix" / "default_master.cf"
    with LivePostfix(TRAP_MAIN, master.read_text() + text) as live:
        reply = live.vrfy("2601/inet", "root")
    observed_dies = reply.outcome == REFUSED_STARTUP
    assert (observed_dies, None if observed_dies else reply.outcome == DISABLED) == (dies, disabled), reply.text
