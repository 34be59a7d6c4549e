"""The generated type tables (scripts/gen_param_types.py) and the conversions of param_types."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pfcheck.postfix import _param_types_data as data
from pfcheck.postfix import defaults, param_types
from pfcheck.postfix.param_types import ParamType, check_typed, types_of

ROOT = Path(__file__).resolve().parents[2]
MIRROR = Path("/work/.mirror/vdukhovni+postfix/repo")


@pytest.mark.parametrize("series", defaults.SUPPORTED_VERSIONS)
def test_every_series_parses_to_its_count(series: str) -> None:
    table = param_types.parameter_types(series)
    assert len(table) == data.PARAMETER_COUNTS[series]
    kinds = {entry.kind for entries in table.values() for entry in entries}
    assert kinds <= {"int", "long", "time", "bool", "str", "raw", "nint", "nbool", "str_fn"}


@pytest.mark.parametrize("series", defaults.SUPPORTED_VERSIONS)
def test_tables_cover_postconf_d(series: str) -> None:
    """Every typed parameter is a built-in of that series' `postconf -d`, and the built-ins
    without a table entry are only the ones postconf itself adds (read-only, config_directory,
    debugger_command)."""
    typed = set(param_types.parameter_types(series))
    builtin = set(defaults.builtin_defaults(series))
    assert typed <= builtin, sorted(typed - builtin)
    if "HISTORY only" in defaults.SERIES_RELEASES[series]:
        pytest.skip("defaults of this series come from HISTORY only")
    left = builtin - typed - defaults.read_only_parameters(series)
    assert left <= {"config_directory", "debugger_command", "process_id", "process_name", "service_name"}, sorted(left)


def test_readers_and_bounds_of_the_issue_parameters() -> None:
    def one(name: str, version: str = "3.7") -> ParamType:
        (entry,) = types_of(name, version)
        return entry

    assert one("message_size_limit") == ParamType("message_size_limit", "long", 0, 0, ("global",))
    assert one("smtpd_recipient_limit") == ParamType("smtpd_recipient_limit", "int", 1, 0, ("smtpd",))
    assert one("smtpd_sasl_path").min == 1 and one("smtpd_sasl_path").readers == ("smtpd",)
    assert one("maximal_queue_lifetime").kind == "time" and "qmgr" in one("maximal_queue_lifetime").readers
    assert one("myhostname").kind == "str_fn"
    assert types_of("smtpd_relay_before_recipient_restrictions", "3.5") == ()
    assert one("smtpd_relay_before_recipient_restrictions", "3.6").kind == "nbool"
    # smtpd's entry sits under `#ifdef USE_TLSPROXY`, which nothing defines.
    assert "smtpd" not in one("tlsproxy_service_name").readers


def _check(name: str, value: str, version: str = "3.7") -> object:
    (entry,) = types_of(name, version)
    return check_typed(entry, value, version, lambda: "d")


def test_conversions_follow_strtol_and_conv_time() -> None:
    assert _check("message_size_limit", "+5") is None
    assert _check("message_size_limit", "5 ") == "bad numerical configuration: message_size_limit = 5 "
    assert _check("message_size_limit", "0x10") is not None
    assert _check("message_size_limit", str(2 ** 63)) is not None
    assert _check("smtpd_recipient_limit", str(2 ** 31)) is not None  # long, but not int
    assert _check("smtpd_recipient_limit", "-0") == "invalid smtpd_recipient_limit parameter value 0 < 1"
    assert _check("maximal_queue_lifetime", "d") is None  # strtol reads no digits: 0 days
    assert _check("maximal_queue_lifetime", "5dx") is None
    assert _check("maximal_queue_lifetime", "5dx", "3.0") is not None  # one-letter units before 3.1
    assert _check("maximal_queue_lifetime", "5D") == "parameter maximal_queue_lifetime: bad time value or unit: 5D"
    assert _check("maximal_queue_lifetime", "-1d") is not None
    assert _check("maximal_queue_lifetime", "355503w") is not None  # overflows int seconds
    assert _check("disable_vrfy_command", "YES") is None
    assert _check("disable_vrfy_command", "yes ") == "bad boolean configuration: disable_vrfy_command = yes "
    assert _check("smtpd_sasl_path", "") == "bad string length 0 < 1: smtpd_sasl_path = "


def test_valid_hostname() -> None:
    assert param_types.valid_hostname("mail.example.com") is None
    assert param_types.valid_hostname("under_score") is None
    assert param_types.valid_hostname("123") == "numeric hostname: 123"
    assert param_types.valid_hostname("a..b") == "misplaced delimiter: a..b"
    assert param_types.valid_hostname("-a") == "misplaced hyphen: -a"
    assert param_types.valid_hostname("a b").startswith("invalid character 32(decimal)")
    assert param_types.valid_hostname("x" * 64).startswith("hostname label too long")


def test_the_data_is_loaded_only_when_needed() -> None:
    code = ("import sys, pfcheck.rules, pfcheck.rules.pf000_config_error, pfcheck.postfix.config; "
            "print('pfcheck.postfix._param_types_data' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_generator_reproduces_the_data_module(tmp_path: Path) -> None:
    if not (MIRROR / "HEAD").exists():
        pytest.skip(f"no Postfix git mirror at {MIRROR}")
    output = tmp_path / "data.py"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_param_types.py"), "--git-dir", str(MIRROR),
                    "--output", str(output)], check=True, capture_output=True)
    assert output.read_text() == (ROOT / "pfcheck" / "postfix" / "_param_types_data.py").read_text()
